"""Merge layers: combine a list of tensors (``Concatenate``, ``Add``, ``Dot``, ...) and their functions."""

import functools

import torch
import torch.nn.functional as F

from plait.layers.base import Layer, shape_str


class _Merge(Layer):
    """Base of element-wise merges: inputs of one shape (broadcast on size-1 dims)."""

    min_inputs = 2

    def _check_list(self, shapes):
        if not isinstance(shapes, (list, tuple)) or not shapes or not isinstance(shapes[0], (list, tuple)):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects a list of tensors. Received: {shapes!r}"
            )
        if len(shapes) < self.min_inputs:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects at least {self.min_inputs} inputs. "
                f"Received: {len(shapes)} input(s)."
            )

    def build(self, input_shape):
        self._check_list(input_shape)

    def compute_output_shape(self, input_shape):
        self._check_list(input_shape)
        rank = max(len(s) for s in input_shape)
        out = []
        for dims in zip(*[(1,) * (rank - len(s)) + tuple(s) for s in input_shape]):
            known = {d for d in dims if d is not None and d != 1}
            if len(known) > 1:
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}) got inputs of incompatible shapes: "
                    f"{[shape_str(s) for s in input_shape]}"
                )
            out.append(known.pop() if known else (None if None in dims else 1))
        return tuple(out)

    def call(self, inputs):
        return functools.reduce(self._op, inputs)

    # Keras 3: a step is valid if it is valid in any input; no mask if an input has none.
    def produces_mask(self, input_masks):
        return bool(input_masks) and all(input_masks)

    def compute_mask(self, inputs, mask=None):
        if mask is None or any(m is None for m in mask):
            return None
        return functools.reduce(torch.logical_or, mask)


class Add(_Merge):
    """Element-wise sum of a list of tensors. Example: ``plait.layers.add([x, y])``."""

    _op = staticmethod(torch.add)


class Subtract(_Merge):
    """``inputs[0] - inputs[1]`` (exactly two inputs)."""

    _op = staticmethod(torch.sub)

    def _check_list(self, shapes):
        super()._check_list(shapes)
        if len(shapes) != 2:
            raise ValueError(
                f"Layer '{self.name}' (Subtract) expects exactly 2 inputs. Received: {len(shapes)} inputs."
            )


class Multiply(_Merge):
    """Element-wise product of a list of tensors."""

    _op = staticmethod(torch.mul)


class Maximum(_Merge):
    """Element-wise maximum of a list of tensors."""

    _op = staticmethod(torch.maximum)


class Minimum(_Merge):
    """Element-wise minimum of a list of tensors."""

    _op = staticmethod(torch.minimum)


class Average(_Merge):
    """Element-wise mean of a list of tensors."""

    def call(self, inputs):
        return functools.reduce(torch.add, inputs) / len(inputs)


class Concatenate(Layer):
    """Concatenates a list of tensors along ``axis``.

    Args:
        axis: the axis to join (default -1); all other dims must match.

    Example:
        >>> import plait
        >>> a, b = plait.Input(shape=(32,)), plait.Input(shape=(16,))
        >>> plait.layers.concatenate([a, b]).shape
        (None, 48)
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def call(self, inputs):
        return torch.cat(inputs, dim=self.axis)

    def produces_mask(self, input_masks):
        return any(input_masks)

    def compute_mask(self, inputs, mask=None):
        # Keras 3: masks broadcast to their inputs (all-true where missing), joined, any over -1.
        if mask is None or all(m is None for m in mask):
            return None
        full = [
            torch.ones_like(x, dtype=torch.bool)
            if m is None
            else m.unsqueeze(-1).expand_as(x)
            if m.dim() < x.dim()
            else m
            for x, m in zip(inputs, mask)
        ]
        return torch.cat(full, dim=self.axis).any(dim=-1)

    def compute_output_shape(self, input_shape):
        if (
            not isinstance(input_shape, (list, tuple))
            or len(input_shape) < 1
            or not isinstance(input_shape[0], (list, tuple))
        ):
            raise ValueError(f"Layer '{self.name}' (Concatenate) expects a list of tensors. Received: {input_shape!r}")
        ranks = {len(s) for s in input_shape}
        shapes = [shape_str(s) for s in input_shape]
        if len(ranks) != 1:
            raise ValueError(f"Layer '{self.name}' (Concatenate) needs inputs of one rank. Received shapes: {shapes}")
        rank = ranks.pop()
        if not -rank <= self.axis < rank:
            raise ValueError(
                f"Layer '{self.name}' (Concatenate): axis {self.axis} is out of range for inputs of rank {rank} "
                f"(valid axes: {-rank} to {rank - 1}). Received: axis={self.axis}, input shapes {shapes}"
            )
        axis = self.axis % rank
        out = []
        for i, dims in enumerate(zip(*input_shape)):
            if i == axis:
                out.append(None if None in dims else sum(dims))
                continue
            known = {d for d in dims if d is not None}
            if len(known) > 1:
                raise ValueError(
                    f"Layer '{self.name}' (Concatenate) requires inputs with matching shapes except for "
                    f"the concatenation axis {self.axis}. Received shapes: {shapes}"
                )
            out.append(known.pop() if known else None)
        return tuple(out)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def _functional(cls, doc):
    def merge(inputs, **kwargs):
        return cls(**kwargs)(inputs)

    merge.__name__ = cls.__name__.lower()
    merge.__qualname__ = merge.__name__  # a module-level name, for pickle and the API reference
    merge.__doc__ = doc
    return merge


add = _functional(Add, "Functional form of ``Add``: ``add([x, y])``.")
subtract = _functional(Subtract, "Functional form of ``Subtract``.")
multiply = _functional(Multiply, "Functional form of ``Multiply``.")
maximum = _functional(Maximum, "Functional form of ``Maximum``.")
minimum = _functional(Minimum, "Functional form of ``Minimum``.")
average = _functional(Average, "Functional form of ``Average``.")
concatenate = _functional(Concatenate, "Functional form of ``Concatenate``: ``concatenate([x, y], axis=-1)``.")


class Dot(Layer):
    """Dot product of two tensors along ``axes`` (Keras's ``batch_dot``), optionally of their
    L2-normalised forms (``normalize=True``: cosine similarity).

    Example:
        >>> import torch, plait
        >>> plait.layers.Dot(axes=1)([torch.ones(2, 3), torch.ones(2, 3)])
        tensor([[3.],
                [3.]])
    """

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        self.axes = [axes, axes] if isinstance(axes, int) else list(axes)
        if len(self.axes) != 2:
            raise ValueError(f"Invalid format for argument `axes`: an int or a pair. Received: axes={axes}")
        self.normalize = bool(normalize)

    def _axes(self, shapes):
        return [a % len(s) for a, s in zip(self.axes, shapes)]

    def call(self, inputs):
        x, y = inputs
        ax, ay = self._axes([x.shape, y.shape])
        if self.normalize:
            x, y = F.normalize(x, dim=ax, eps=1e-12), F.normalize(y, dim=ay, eps=1e-12)
        if x.dim() == 2 and y.dim() == 2:
            return (x * y).sum(dim=1, keepdim=True)
        out = torch.matmul(x.movedim(ax, -1), y.movedim(ay, 1))
        return out

    def compute_output_shape(self, input_shape):
        sx, sy = input_shape
        ax, ay = self._axes([sx, sy])
        if len(sx) == 2 and len(sy) == 2:
            return (sx[0], 1)
        rest_x = [d for i, d in enumerate(sx) if i not in (0, ax)]
        rest_y = [d for i, d in enumerate(sy) if i not in (0, ay)]
        return (sx[0], *rest_x, *rest_y)

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def dot(inputs, axes=-1, **kwargs):
    """Functional form of ``Dot``."""
    return Dot(axes=axes, **kwargs)(inputs)
