"""Weight and activity regularizers (Keras 3's): penalties added to the training loss.

Example:
    >>> import torch, plait
    >>> plait.regularizers.L2(0.5)(torch.tensor([1.0, 2.0]))
    tensor(2.5000)
"""

from plait.utils.registry import ConfigObject, get_object, serialize_object, with_class_names


class Regularizer(ConfigObject):
    def __call__(self, x):
        raise NotImplementedError


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


# Keras's lowercase aliases (``keras.regularizers.l2(1e-3)``).
l1, l2, l1_l2 = L1, L2, L1L2

_BY_NAME = with_class_names({"l1": L1, "l2": L2, "l1_l2": lambda: L1L2(0.01, 0.01)})
_BY_NAME["L1L2"] = L1L2


def get(identifier):
    """A regularizer from a name (``"l2"``), a config dict, an instance/callable, or None."""
    return get_object(identifier, _BY_NAME, "regularizer", Regularizer)


def serialize(regularizer):
    return serialize_object(regularizer, "regularizer", Regularizer)
