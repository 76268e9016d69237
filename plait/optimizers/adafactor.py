"""Adafactor (Shazeer & Stern, 2018): second moments of a matrix kept as row and column means."""

import math

import torch

from plait.optimizers.base import Optimizer


def _rms(tensors):
    """Root mean square of each tensor, as a list of 0-dim tensors (one norm kernel)."""
    return [n / math.sqrt(max(t.numel(), 1)) for n, t in zip(torch._foreach_norm(tensors), tensors)]


class Adafactor(Optimizer):
    """Adafactor, Keras 3's rule. For a weight of rank >= 2 the squared gradients (plus
    ``epsilon_1``) are averaged into a row statistic ``r`` (the last axis averaged out) and a
    column statistic ``c`` (the second-to-last averaged out), and ``v = r / mean(r) x c``; a
    weight of rank < 2 keeps a full ``v``. Both decay with ``beta_2_t = 1 - t**beta_2_decay``.
    The step ``u = g / sqrt(v)`` is scaled down to an RMS of at most ``clip_threshold`` and
    applied with the relative rate ``max(epsilon_2, rms(w)) * min(lr, 1/sqrt(t))``.

    Args:
        learning_rate: default 0.001; with ``relative_step`` and a float rate, capped by
            ``1/sqrt(t)`` at step ``t``.
        beta_2_decay: default -0.8.
        epsilon_1: added to the squared gradients; default 1e-30.
        epsilon_2: the smallest weight RMS the step is relative to; default 1e-3.
        clip_threshold: largest RMS of the step; default 1.0.
        relative_step: default True.
        **kwargs: the base arguments.

    Example:
        >>> import torch
        >>> from plait.optimizers import Adafactor
        >>> w = torch.nn.Parameter(torch.ones(2, 2))
        >>> Adafactor(learning_rate=0.5).apply([torch.ones(2, 2)], [w])
        >>> w.tolist()
        [[0.5, 0.5], [0.5, 0.5]]
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_2_decay=-0.8,
        epsilon_1=1e-30,
        epsilon_2=1e-3,
        clip_threshold=1.0,
        relative_step=True,
        **kwargs,
    ):
        super().__init__(learning_rate, **kwargs)
        self.beta_2_decay, self.epsilon_1, self.epsilon_2 = beta_2_decay, epsilon_1, epsilon_2
        self.clip_threshold, self.relative_step = clip_threshold, relative_step
        self._slots = ("r", "c", "velocity")

    def _init_slot(self, slot, param):
        if slot == "velocity":
            return super()._init_slot(slot, param)
        if param.dim() < 2:  # unfactored: a 0-dim placeholder, as Keras keeps one
            return param.new_zeros(())
        shape = param.shape[:-1] if slot == "r" else param.shape[:-2] + param.shape[-1:]
        return param.new_zeros(shape)

    def _step_scalars(self, lr, t):
        cap = 1 / math.sqrt(t)
        if self.relative_step and not callable(self._learning_rate):
            lr = min(lr, cap)
        return {"lr": lr, "rho": min(lr, cap), "beta": 1 - t**self.beta_2_decay}

    def _update(self, params, grads, state, s):
        beta = s["beta"]
        squares = torch._foreach_mul(grads, grads)
        torch._foreach_add_(squares, self.epsilon_1)
        factored = [i for i, p in enumerate(params) if p.dim() >= 2]
        full = [i for i, p in enumerate(params) if p.dim() < 2]
        for i in factored:  # shapes differ per weight: one small set of kernels each
            r, c, q = state["r"][i], state["c"][i], squares[i]
            r.mul_(beta).add_(q.mean(-1) * (1 - beta))
            c.mul_(beta).add_(q.mean(-2) * (1 - beta))
            state["velocity"][i].copy_((r / r.mean(-1, keepdim=True)).unsqueeze(-1) * c.unsqueeze(-2))
        if full:
            v = [state["velocity"][i] for i in full]
            torch._foreach_mul_(v, beta)
            torch._foreach_add_(v, torch._foreach_mul([squares[i] for i in full], 1 - beta))
        step = torch._foreach_div(grads, torch._foreach_sqrt(state["velocity"]))
        # The step's RMS clipped to clip_threshold, and the rate relative to the weight's RMS.
        scale = [
            -s["rho"] * torch.clamp(w_rms, min=self.epsilon_2) / torch.clamp(u_rms / self.clip_threshold, min=1.0)
            for w_rms, u_rms in zip(_rms(params), _rms(step))
        ]
        torch._foreach_mul_(step, scale)
        torch._foreach_add_(params, step)

    def get_config(self):
        return {
            **super().get_config(),
            "beta_2_decay": self.beta_2_decay,
            "epsilon_1": self.epsilon_1,
            "epsilon_2": self.epsilon_2,
            "clip_threshold": self.clip_threshold,
            "relative_step": self.relative_step,
        }
