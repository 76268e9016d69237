"""Lion (Chen et al., 2023): the sign of an interpolated momentum, Keras 3's rule."""

import torch

from plait.optimizers.base import Optimizer, scale_add_


class Lion(Optimizer):
    """Lion: ``w -= lr * sign(beta_1*m + (1-beta_1)*g)``, then ``m = beta_2*m + (1-beta_2)*g``.

    Only one slot (the momentum), and every step has the same size per element, so the
    learning rate is usually 3-10x smaller than AdamW's and the weight decay that much larger.

    Args:
        learning_rate: default 0.001.
        beta_1: weight of the momentum in the step's direction, in ``(0, 1]``; default 0.9.
        beta_2: decay of the momentum; default 0.99.
        **kwargs: the base arguments (``weight_decay``, ``clipnorm``, ``clipvalue``,
            ``global_clipnorm``, ``name``).

    Example:
        >>> import torch
        >>> from plait.optimizers import Lion
        >>> w = torch.nn.Parameter(torch.zeros(2))
        >>> opt = Lion(learning_rate=0.1)
        >>> opt.apply([torch.tensor([0.5, -2.0])], [w])
        >>> w.tolist()
        [-0.10000000149011612, 0.10000000149011612]
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if not 0 < beta_1 <= 1:
            raise ValueError(
                "Argument `beta_1` must be in (0, 1]; with 0 Lion is sign SGD without momentum. "
                f"Received: beta_1={beta_1}."
            )
        self.beta_1, self.beta_2 = beta_1, beta_2
        self._slots = ("momentum",)

    def _update(self, params, grads, state, s):
        m = state["momentum"]
        direction = torch._foreach_lerp(m, grads, 1 - self.beta_1)
        torch._foreach_sign_(direction)
        scale_add_(params, direction, -s["lr"])
        torch._foreach_lerp_(m, grads, 1 - self.beta_2)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}
