"""Lamb (You et al., 2019): Adam's bias-corrected step scaled per tensor by a trust ratio."""

import torch

from plait.optimizers.base import Optimizer


class Lamb(Optimizer):
    """Lamb, Keras 3's rule: ``u = m_hat / (sqrt(v_hat) + epsilon)``, then
    ``w -= lr * (||w|| / ||u||) * u`` per tensor (ratio 1 when either norm is 0).

    Args:
        learning_rate: default 0.001. beta_1: default 0.9. beta_2: default 0.999.
        epsilon: default 1e-7.
        **kwargs: the base arguments (``weight_decay``, ``clipnorm``, ``clipvalue``,
            ``global_clipnorm``, ``name``).

    Example:
        >>> import torch
        >>> from plait.optimizers import Lamb
        >>> w = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
        >>> Lamb(learning_rate=0.1).apply([torch.tensor([1.0, 0.0])], [w])
        >>> [round(x, 4) for x in w.tolist()]
        [2.5, 4.0]
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self._slots = ("momentum", "velocity")

    def _step_scalars(self, lr, t):
        return {"lr": lr, "m_scale": 1 / (1 - self.beta_1**t), "v_scale": 1 / (1 - self.beta_2**t)}

    def _update(self, params, grads, state, s):
        m, v = state["momentum"], state["velocity"]
        torch._foreach_lerp_(m, grads, 1 - self.beta_1)
        torch._foreach_mul_(v, self.beta_2)
        torch._foreach_addcmul_(v, grads, grads, value=1 - self.beta_2)
        denom = torch._foreach_mul(v, s["v_scale"])
        torch._foreach_sqrt_(denom)
        torch._foreach_add_(denom, self.epsilon)
        step = torch._foreach_mul(m, s["m_scale"])
        torch._foreach_div_(step, denom)
        # Trust ratios of all tensors at once: one norm kernel per list, no host sync.
        w_norm = torch.stack(torch._foreach_norm(params))
        u_norm = torch.stack(torch._foreach_norm(step))
        ratio = torch.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, torch.ones_like(w_norm))
        torch._foreach_mul_(step, list((ratio * -s["lr"]).unbind()))
        torch._foreach_add_(params, step)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
