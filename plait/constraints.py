"""Weight constraints (Keras 3's), applied to a weight after each optimizer step.

Each works on the weight in Keras's layout (a Dense kernel ``(in, out)``, so ``axis=0`` constrains
each unit's incoming weights), whatever layout plait stores it in.

Example:
    >>> import torch, plait
    >>> plait.constraints.NonNeg()(torch.tensor([-1.0, 2.0]))
    tensor([0., 2.])
"""

import torch

from plait.utils.registry import ConfigObject, get_object, serialize_object, with_class_names

EPSILON = 1e-7


class Constraint(ConfigObject):
    def __call__(self, w):
        raise NotImplementedError


def _norms(w, axis):
    return torch.sqrt(torch.sum(w.square(), dim=axis, keepdim=True))


class MaxNorm(Constraint):
    """Rescale so the norm along ``axis`` is at most ``max_value`` (default 2, axis 0)."""

    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        return w * (norms.clamp(0, self.max_value) / (EPSILON + norms))


class MinMaxNorm(Constraint):
    """Move the norm along ``axis`` towards ``[min_value, max_value]`` at ``rate``."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        desired = self.rate * norms.clamp(self.min_value, self.max_value) + (1 - self.rate) * norms
        return w * (desired / (EPSILON + norms))


class UnitNorm(Constraint):
    """Rescale to unit norm along ``axis`` (default 0)."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        return w / (EPSILON + _norms(w, self.axis))


class NonNeg(Constraint):
    """Set negative values to zero."""

    def __call__(self, w):
        return w.clamp(min=0)


# Keras's lowercase aliases (``keras.constraints.max_norm(3)``).
max_norm, min_max_norm, unit_norm, non_neg = MaxNorm, MinMaxNorm, UnitNorm, NonNeg

_BY_NAME = with_class_names({"max_norm": MaxNorm, "min_max_norm": MinMaxNorm, "unit_norm": UnitNorm, "non_neg": NonNeg})


def get(identifier):
    """A constraint from a name (``"max_norm"``), a config dict, an instance/callable, or None."""
    return get_object(identifier, _BY_NAME, "constraint", Constraint)


def deserialize(config, custom_objects=None):
    """A constraint from Keras's ``{"class_name", "config"}`` dict or a name; ``custom_objects``
    maps extra class names to classes."""
    return get_object(config, {**_BY_NAME, **(custom_objects or {})}, "constraint", Constraint)


def serialize(constraint):
    return serialize_object(constraint, "constraint", Constraint)
