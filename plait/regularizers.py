"""Weight and activity regularizers (Keras 3's): penalties added to the training loss.

Example:
    >>> import torch, plait
    >>> plait.regularizers.L2(0.5)(torch.tensor([1.0, 2.0]))
    tensor(2.5000)
"""

import torch

from plait.utils.registry import by_name, with_class_names


class Regularizer:
    def __call__(self, x):
        raise NotImplementedError

    def get_config(self):
        return dict(vars(self))

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in self.get_config().items())})"


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x**2)`` (by name, ``"l1_l2"`` means 0.01 for both)."""

    def __init__(self, l1=0.0, l2=0.0):
        for name, value in (("l1", l1), ("l2", l2)):
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(
                    f"Invalid value for argument {name}: expected a non-negative float. Received: {name}={value}"
                )
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, x):
        penalty = x.new_zeros(())
        if self.l1:
            penalty = penalty + self.l1 * x.abs().sum()
        if self.l2:
            penalty = penalty + self.l2 * x.square().sum()
        return penalty


class L1(L1L2):
    """``l1 * sum(|x|)`` (default 0.01)."""

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(x**2)`` (default 0.01)."""

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


_BY_NAME = with_class_names({"l1": L1, "l2": L2, "l1_l2": lambda: L1L2(0.01, 0.01)})
_BY_NAME["L1L2"] = L1L2


def get(identifier):
    """A regularizer from a name (``"l2"``), a config dict, an instance/callable, or None."""
    if (
        identifier is None
        or isinstance(identifier, Regularizer)
        or (callable(identifier) and not isinstance(identifier, str))
    ):
        return identifier
    if isinstance(identifier, str):
        return by_name(_BY_NAME, identifier, "regularizer")()
    if isinstance(identifier, dict):
        return by_name(_BY_NAME, identifier["class_name"], "regularizer").from_config(identifier.get("config", {}))
    raise TypeError(f"Could not interpret regularizer identifier: {identifier!r}")


def serialize(regularizer):
    if regularizer is None:
        return None
    if isinstance(regularizer, Regularizer):
        return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}
    raise ValueError(f"Cannot save the regularizer {regularizer!r}; use plait.regularizers.L1/L2/L1L2.")


def penalty_sum(values):
    return torch.stack(values).sum() if values else None
