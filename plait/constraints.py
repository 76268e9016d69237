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
    """Base class: a callable ``w -> constrained w``, saved and loaded through its config."""

    def __call__(self, w):
        raise NotImplementedError(f"{type(self).__name__} must define __call__(w), returning the constrained weight")


class _NormConstraint(Constraint):
    """Rescales ``w`` so that its L2 norms along ``self.axis`` become ``self.norm_after(norms)``
    (``EPSILON`` keeps an all-zero slice at zero)."""

    def norms(self, w):
        return torch.sqrt(torch.sum(w.square(), dim=self.axis, keepdim=True))

    def __call__(self, w):
        norms = self.norms(w)
        return w * (self.norm_after(norms) / (EPSILON + norms))


class MaxNorm(_NormConstraint):
    """Rescale so the norm along ``axis`` is at most ``max_value`` (default 2, axis 0)."""

    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def norm_after(self, norms):
        return norms.clamp(0, self.max_value)


class MinMaxNorm(_NormConstraint):
    """Move the norm along ``axis`` towards ``[min_value, max_value]`` at ``rate`` (1: all the way)."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def norm_after(self, norms):
        return self.rate * norms.clamp(self.min_value, self.max_value) + (1 - self.rate) * norms


class UnitNorm(_NormConstraint):
    """Rescale to unit norm along ``axis`` (default 0)."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        return w / (EPSILON + self.norms(w))  # a division, not w * (1 / norms): Keras's rounding


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
