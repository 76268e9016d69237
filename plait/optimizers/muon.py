"""Muon (Jordan et al., 2024; Liu et al., 2025): orthogonalised momentum for matrices, AdamW
for the rest."""

import math
import re

import torch

from plait.optimizers.base import Optimizer, scale_add_, scale_addcdiv_


class Muon(Optimizer):
    """Muon, Keras 3's rule. A 2-D weight takes the Muon step: momentum ``m = momentum*m + g``,
    its Nesterov look-ahead ``g + momentum*m`` (or ``m``) orthogonalised by ``ns_steps``
    quintic Newton-Schulz iterations (coefficients ``muon_a, muon_b, muon_c``), scaled by
    ``sqrt(max(rows, cols)) * rms_rate`` and by the learning rate. Every other weight, an
    embedding's (``exclude_embeddings``: "embedding" in its path) and those whose path matches
    a pattern of ``exclude_layers`` take Keras's AdamW step with rate
    ``learning_rate * adam_lr_ratio``. Weight decay is ``weight_decay`` for the Muon weights
    and ``adam_weight_decay`` for the others.

    Matrices of the same shape are orthogonalised together in one batched matmul per iteration.
    A weight's path is its ``path`` attribute (``"dense/kernel"`` for plait's layers); a plain
    tensor without one is chosen by its rank alone.

    Args:
        learning_rate: default 0.001.
        adam_beta_1: default 0.9. adam_beta_2: default 0.999.
        adam_weight_decay: default 0.004.
        epsilon: Adam's epsilon hat; default 1e-7.
        weight_decay: for the Muon weights; default 0.004.
        exclude_layers: regular expressions of paths that take AdamW; default none.
        exclude_embeddings: default True.
        muon_a, muon_b, muon_c: default 3.4445, -4.7750, 2.0315.
        adam_lr_ratio: default 1.
        momentum: default 0.95.
        ns_steps: default 5.
        nesterov: default True.
        rms_rate: default 0.2; None leaves the step unscaled.
        **kwargs: the other base arguments (``clipnorm``, ``clipvalue``, ``global_clipnorm``,
            ``name``).

    Example:
        >>> import torch
        >>> from plait.optimizers import Muon
        >>> w = torch.nn.Parameter(torch.zeros(2, 2))
        >>> w.path = "dense/kernel"
        >>> Muon(learning_rate=0.1, rms_rate=None).apply([torch.eye(2)], [w])
        >>> [round(x, 4) for x in w.diagonal().tolist()]  # about lr * the gradient's orthogonal factor
        [-0.1108, -0.1108]
    """

    def __init__(
        self,
        learning_rate=0.001,
        adam_beta_1=0.9,
        adam_beta_2=0.999,
        adam_weight_decay=0.004,
        epsilon=1e-7,
        weight_decay=0.004,
        exclude_layers=None,
        exclude_embeddings=True,
        muon_a=3.4445,
        muon_b=-4.7750,
        muon_c=2.0315,
        adam_lr_ratio=1,
        momentum=0.95,
        ns_steps=5,
        nesterov=True,
        rms_rate=0.2,
        **kwargs,
    ):
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)
        self.adam_beta_1, self.adam_beta_2, self.adam_weight_decay = adam_beta_1, adam_beta_2, adam_weight_decay
        self.epsilon, self.exclude_layers, self.exclude_embeddings = (
            epsilon,
            list(exclude_layers or []),
            exclude_embeddings,
        )
        self.muon_a, self.muon_b, self.muon_c = muon_a, muon_b, muon_c
        self.adam_lr_ratio, self.momentum, self.ns_steps = adam_lr_ratio, momentum, ns_steps
        self.nesterov, self.rms_rate = nesterov, rms_rate
        self._slots = ("momentum", "velocity")

    def uses_adam(self, param):
        """Whether ``param`` takes the AdamW step (not 2-D, an embedding, or excluded by path)."""
        if param.dim() != 2:
            return True
        path = getattr(param, "path", None) or ""
        if self.exclude_embeddings and "embedding" in path.lower():
            return True
        return any(re.search(pattern, path) for pattern in self.exclude_layers)

    def _init_slot(self, slot, param):
        if slot == "velocity" and not self.uses_adam(param):
            return param.new_zeros(0)  # a Muon weight keeps no second moment
        return super()._init_slot(slot, param)

    def _step_scalars(self, lr, t):
        adam_lr = lr * self.adam_lr_ratio
        alpha = adam_lr * math.sqrt(1 - self.adam_beta_2**t) / (1 - self.adam_beta_1**t)
        return {"lr": lr, "alpha": alpha}

    def _apply_rule(self, params, grads, state, scalars):
        grads = self._clip(grads)
        adam = [self.uses_adam(p) for p in params]
        for use_adam, decay in ((True, self.adam_weight_decay), (False, self.weight_decay)):
            chosen = [p for p, a in zip(params, adam) if a is use_adam]
            if decay and chosen:
                torch._foreach_mul_(chosen, 1 - decay * scalars["lr"])
        pick = lambda items, use_adam: [x for x, a in zip(items, adam) if a is use_adam]  # noqa: E731
        if any(adam):
            self._adam_step(
                pick(params, True),
                pick(grads, True),
                pick(state["momentum"], True),
                pick(state["velocity"], True),
                scalars,
            )
        if not all(adam):
            self._muon_step(pick(params, False), pick(grads, False), pick(state["momentum"], False), scalars)

    def _adam_step(self, params, grads, m, v, s):
        torch._foreach_lerp_(m, grads, 1 - self.adam_beta_1)
        torch._foreach_mul_(v, self.adam_beta_2)
        torch._foreach_addcmul_(v, grads, grads, value=1 - self.adam_beta_2)
        denom = torch._foreach_sqrt(v)
        torch._foreach_add_(denom, self.epsilon)
        scale_addcdiv_(params, m, denom, -s["alpha"])

    def _muon_step(self, params, grads, m, s):
        torch._foreach_mul_(m, self.momentum)
        torch._foreach_add_(m, grads)
        look = torch._foreach_add(grads, m, alpha=self.momentum) if self.nesterov else m
        groups = {}
        for i, g in enumerate(look):
            groups.setdefault(tuple(g.shape), []).append(i)
        for shape, index in groups.items():
            update = self.orthogonalize(torch.stack([look[i] for i in index]))
            if self.rms_rate is not None:
                update = update * (math.sqrt(max(shape)) * self.rms_rate)
            scale_add_([params[i] for i in index], list(update.unbind()), -s["lr"])

    def orthogonalize(self, x):
        """The quintic Newton-Schulz iteration on a batch of matrices ``(..., rows, cols)``:
        close to ``U V^T`` of their SVD (singular values pushed near 1, not exactly to 1)."""
        if x.dim() < 2:
            raise ValueError(
                f"Muon orthogonalizes matrices: expected at least 2 dimensions. Received: shape={tuple(x.shape)}"
            )
        tall = x.shape[-2] > x.shape[-1]
        if tall:  # iterate on the smaller Gram matrix
            x = x.mT
        x = x / (torch.linalg.matrix_norm(x, keepdim=True) + 1e-7)  # spectral norm <= 1
        a, b, c = self.muon_a, self.muon_b, self.muon_c
        for _ in range(self.ns_steps):
            gram = x @ x.mT
            x = a * x + (b * gram + c * gram @ gram) @ x
        return x.mT if tall else x

    def get_config(self):
        return {
            **super().get_config(),
            "adam_beta_1": self.adam_beta_1,
            "adam_beta_2": self.adam_beta_2,
            "epsilon": self.epsilon,
            "exclude_layers": self.exclude_layers,
            "muon_a": self.muon_a,
            "muon_b": self.muon_b,
            "muon_c": self.muon_c,
            "adam_lr_ratio": self.adam_lr_ratio,
            "momentum": self.momentum,
            "ns_steps": self.ns_steps,
            "nesterov": self.nesterov,
            "exclude_embeddings": self.exclude_embeddings,
            "adam_weight_decay": self.adam_weight_decay,
            "rms_rate": self.rms_rate,
        }
