"""Weight and activity regularizers (Keras 3's): penalties added to the training loss.

Example:
    >>> import torch, plait
    >>> plait.regularizers.L2(0.5)(torch.tensor([1.0, 2.0]))
    tensor(2.5000)
"""

import torch
import torch.nn.functional as F

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


class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (or columns) of a 2D weight towards mutual orthogonality.

    The penalty is ``factor`` times the mean absolute cosine similarity over all pairs of
    distinct rows (``mode="rows"``) or columns (``mode="columns"``).

    Args:
        factor: the penalty's scale (default 0.01).
        mode: ``"rows"`` (default) or ``"columns"``.

    Example:
        >>> import torch
        >>> float(OrthogonalRegularizer(1.0)(torch.tensor([[1.0, 0.0], [1.0, 0.0]])))
        1.0
    """

    def __init__(self, factor=0.01, mode="rows"):
        if not isinstance(factor, (int, float)) or not 0 <= factor < float("inf"):
            raise ValueError(f"Invalid value for argument factor: expected a non-negative float. Received: {factor}")
        if mode not in ("rows", "columns"):
            raise ValueError(f"Invalid value for argument mode: expected 'rows' or 'columns'. Received: mode={mode!r}")
        self.factor, self.mode = float(factor), mode

    def __call__(self, x):
        if x.dim() != 2:
            raise ValueError(f"OrthogonalRegularizer takes a rank-2 weight. Received: shape={tuple(x.shape)}")
        vectors = F.normalize(x if self.mode == "rows" else x.T, dim=1, eps=1e-7)
        n = vectors.shape[0]
        cosines = vectors @ vectors.T
        off_diagonal = cosines.abs().sum() - torch.diagonal(cosines).abs().sum()
        # Each unordered pair appears twice off the Gram matrix's diagonal.
        return self.factor * off_diagonal / (n * (n - 1))


# Keras's lowercase aliases (``keras.regularizers.l2(1e-3)``).
l1, l2, l1_l2, orthogonal_regularizer = L1, L2, L1L2, OrthogonalRegularizer

_BY_NAME = with_class_names(
    {"l1": L1, "l2": L2, "l1_l2": lambda: L1L2(0.01, 0.01), "orthogonal_regularizer": OrthogonalRegularizer}
)
_BY_NAME["L1L2"] = L1L2


def get(identifier):
    """A regularizer from a name (``"l2"``), a config dict, an instance/callable, or None."""
    return get_object(identifier, _BY_NAME, "regularizer", Regularizer)


def deserialize(config, custom_objects=None):
    """A regularizer from Keras's ``{"class_name", "config"}`` dict or a name; ``custom_objects``
    maps extra class names to classes."""
    return get_object(config, {**_BY_NAME, **(custom_objects or {})}, "regularizer", Regularizer)


def serialize(regularizer):
    return serialize_object(regularizer, "regularizer", Regularizer)
