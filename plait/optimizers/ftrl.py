"""FTRL-Proximal (McMahan et al., 2013), as Keras 3 writes it: element-wise, on _foreach kernels."""

import torch

from plait.optimizers.base import Optimizer


class Ftrl(Optimizer):
    """Follow The Regularized Leader (McMahan et al., 2013), Keras 3's rule: per element,
    with ``n`` the accumulated squared gradients and ``z`` the linear term,
    ``z += g' - (n_new**-p - n**-p) / lr * w`` and
    ``w = (clip(z, -l1, l1) - z) / (n_new**-p / lr + 2 * l2)``, where ``p`` is
    ``learning_rate_power``, ``g' = g + 2 * l2_shrinkage * w`` and ``l2`` includes
    ``beta / (2 * lr)``.

    Args:
        learning_rate: default 0.001.
        learning_rate_power: ``<= 0``; default -0.5.
        initial_accumulator_value: starting ``n``, ``>= 0``; default 0.1.
        l1_regularization_strength: ``>= 0``; default 0.
        l2_regularization_strength: ``>= 0``; default 0.
        l2_shrinkage_regularization_strength: ``>= 0``; default 0 (a magnitude penalty
            added to the gradient, not to the loss).
        beta: default 0.
        **kwargs: the base arguments.

    Example:
        >>> import torch
        >>> from plait.optimizers import Ftrl
        >>> w = torch.nn.Parameter(torch.zeros(2))
        >>> Ftrl(learning_rate=0.1).apply([torch.tensor([1.0, -1.0])], [w])
        >>> [round(x, 4) for x in w.tolist()]
        [-0.0953, 0.0953]
    """

    def __init__(
        self,
        learning_rate=0.001,
        learning_rate_power=-0.5,
        initial_accumulator_value=0.1,
        l1_regularization_strength=0.0,
        l2_regularization_strength=0.0,
        l2_shrinkage_regularization_strength=0.0,
        beta=0.0,
        **kwargs,
    ):
        super().__init__(learning_rate, **kwargs)
        checks = {
            "initial_accumulator_value": initial_accumulator_value,
            "l1_regularization_strength": l1_regularization_strength,
            "l2_regularization_strength": l2_regularization_strength,
            "l2_shrinkage_regularization_strength": l2_shrinkage_regularization_strength,
        }
        for key, value in checks.items():
            if value < 0:
                raise ValueError(f"`{key}` needs to be positive or zero. Received: {key}={value}.")
        if learning_rate_power > 0:
            raise ValueError(
                "`learning_rate_power` needs to be negative or zero. "
                f"Received: learning_rate_power={learning_rate_power}."
            )
        self.learning_rate_power, self.initial_accumulator_value = learning_rate_power, initial_accumulator_value
        self.l1_regularization_strength = l1_regularization_strength
        self.l2_regularization_strength = l2_regularization_strength
        self.l2_shrinkage_regularization_strength = l2_shrinkage_regularization_strength
        self.beta = beta
        self._slots = ("accumulator", "linear")

    def _init_slot(self, slot, param):
        if slot == "accumulator":
            return torch.full_like(param, self.initial_accumulator_value)
        return super()._init_slot(slot, param)

    def _step_scalars(self, lr, t):
        l2 = self.l2_regularization_strength + self.beta / (2.0 * lr)
        return {"lr": lr, "inv_lr": 1.0 / lr, "two_l2": 2.0 * l2}

    def _update(self, params, grads, state, s):
        n, z = state["accumulator"], state["linear"]
        power = -self.learning_rate_power
        shrink = self.l2_shrinkage_regularization_strength
        g = torch._foreach_add(grads, params, alpha=2 * shrink) if shrink else grads
        new_n = torch._foreach_addcmul(n, grads, grads)
        new_root, old_root = torch._foreach_pow(new_n, power), torch._foreach_pow(n, power)
        # z += g' - (n_new**p - n**p) / lr * w
        torch._foreach_sub_(old_root, new_root)
        torch._foreach_mul_(old_root, s["inv_lr"])
        torch._foreach_addcmul_(z, old_root, params)
        torch._foreach_add_(z, g)
        # w = (clip(z, -l1, l1) - z) / (n_new**p / lr + 2 * l2)
        l1 = self.l1_regularization_strength
        top = torch._foreach_clamp_max(torch._foreach_clamp_min(z, -l1), l1)
        torch._foreach_sub_(top, z)
        torch._foreach_mul_(new_root, s["inv_lr"])
        torch._foreach_add_(new_root, s["two_l2"])
        torch._foreach_div_(top, new_root)
        torch._foreach_copy_(params, top)
        torch._foreach_copy_(n, new_n)

    def get_config(self):
        return {
            **super().get_config(),
            "learning_rate_power": self.learning_rate_power,
            "initial_accumulator_value": self.initial_accumulator_value,
            "l1_regularization_strength": self.l1_regularization_strength,
            "l2_regularization_strength": self.l2_regularization_strength,
            "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
            "beta": self.beta,
        }
