"""Schedule-free AdamW (Defazio et al., 2024): no learning-rate schedule, an average instead."""

import torch

from plait.optimizers.base import Optimizer, scale_add_


class ScheduleFreeAdamW(Optimizer):
    """Schedule-free AdamW, Keras 3's rule. Three sequences: ``z`` (the ``momentum`` slot,
    starting at the weights) takes plain RMS-normalised steps
    ``z -= lr_t * g / (sqrt(v / (1 - beta_2**t)) + epsilon)``; ``x`` is the running uniform
    average of ``z`` (weight ``1/t``); the model's weights hold ``y = (1-beta_1)*z + beta_1*x``,
    where the gradients are taken. ``x`` is not stored: it is recovered from ``y`` and ``z``.

    Composed into one update of ``y`` (with ``z`` before its step and ``d`` the step):
    ``y = (1 - 1/t)*y + z/t - (1 - beta_1 + beta_1/t)*d``, so nothing is copied.

    Args:
        learning_rate: default 0.0025.
        beta_1: interpolation between ``z`` and ``x``; default 0.9.
        beta_2: decay of the squared-gradient average; default 0.999.
        epsilon: default 1e-8.
        warmup_steps: the rate rises linearly over this many steps; default 0.
        **kwargs: the base arguments.

    Example:
        >>> import torch
        >>> from plait.optimizers import ScheduleFreeAdamW
        >>> w = torch.nn.Parameter(torch.zeros(2))
        >>> ScheduleFreeAdamW(learning_rate=0.1).apply([torch.tensor([1.0, -1.0])], [w])
        >>> [round(x, 4) for x in w.tolist()]
        [-0.1, 0.1]
    """

    def __init__(self, learning_rate=0.0025, beta_1=0.9, beta_2=0.999, epsilon=1e-8, warmup_steps=0, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.warmup_steps = beta_1, beta_2, epsilon, warmup_steps
        self._slots = ("momentum", "velocity")

    def _init_slot(self, slot, param):
        if slot == "momentum":  # z starts where the weights are
            return param.detach().clone(memory_format=torch.preserve_format)
        return super()._init_slot(slot, param)

    def _step_scalars(self, lr, t):
        if self.warmup_steps > 0:
            lr = lr * min(t / self.warmup_steps, 1.0)
        return {
            "lr": lr,
            "v_scale": 1 / (1 - self.beta_2**t),
            "keep": 1 - 1 / t,
            "to_z": 1 / t,
            "d_scale": -(1 - self.beta_1 + self.beta_1 / t),
        }

    def _update(self, params, grads, state, s):
        z, v = state["momentum"], state["velocity"]
        torch._foreach_mul_(v, self.beta_2)
        torch._foreach_addcmul_(v, grads, grads, value=1 - self.beta_2)
        denom = torch._foreach_mul(v, s["v_scale"])
        torch._foreach_sqrt_(denom)
        torch._foreach_add_(denom, self.epsilon)
        d = torch._foreach_div(grads, denom)
        torch._foreach_mul_(d, s["lr"])
        torch._foreach_mul_(params, s["keep"])
        scale_add_(params, z, s["to_z"])
        scale_add_(params, d, s["d_scale"])
        torch._foreach_sub_(z, d)

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "warmup_steps": self.warmup_steps,
        }
