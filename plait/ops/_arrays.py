"""Ops that rearrange, index, sort, split and pad tensors, and the remaining NumPy ops.

Most are one torch call with Keras's argument names; the code here is where NumPy's conventions
and torch's differ: ``axis=None`` meaning "flattened", negative indices, splitting at indices
rather than into sizes, padding given per axis from the first.

Example:
    >>> from plait.ops import _arrays as a
    >>> a.take([[1, 2], [3, 4]], [-1]), a.split([0.0, 1.0, 2.0, 3.0], [1])
    (tensor([4], dtype=torch.int32), [tensor([0.]), tensor([1., 2., 3.])])
"""

import builtins

import numpy as np
import torch

from plait.ops._backend import (
    FLOATX,
    canonicalize_axis,
    cast,
    convert_to_tensor,
    get_device,
    is_tensor,
    result_type,
    to_torch_dtype,
)
from plait.ops._dtypes import float_or_wide
from plait.ops._examples import add_examples


def _tensors(xs):
    return [convert_to_tensor(x) for x in xs]


# ----------------------------------------------------------------------------- shapes
def reshape(x, newshape):
    """``x``'s elements in shape ``newshape`` (one dim may be -1: inferred)."""
    return torch.reshape(convert_to_tensor(x), newshape if isinstance(newshape, (list, tuple)) else (newshape,))


def expand_dims(x, axis):
    """``x`` with new size-1 axes at ``axis`` (an int or several, as positions in the result).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.expand_dims(torch.tensor([1, 2]), 0).shape
        torch.Size([1, 2])
    """
    x = convert_to_tensor(x)
    axes = (axis,) if isinstance(axis, int) else axis
    rank = x.ndim + len(axes)
    for a in sorted(canonicalize_axis(a, rank) for a in axes):
        x = x.unsqueeze(a)
    return x


def squeeze(x, axis=None):
    """``x`` without its size-1 axes (only those in ``axis`` when given).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.squeeze(torch.zeros(1, 3, 1)).shape
        torch.Size([3])
    """
    x = convert_to_tensor(x)
    return torch.squeeze(x) if axis is None else torch.squeeze(x, dim=axis)


def transpose(x, axes=None):
    """``x`` with its axes permuted to ``axes`` (reversed by default).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.transpose(torch.tensor([[1, 2], [3, 4]]))
        tensor([[1, 3],
                [2, 4]])
    """
    x = convert_to_tensor(x)
    return x.permute(tuple(reversed(range(x.ndim))) if axes is None else tuple(axes))


def swapaxes(x, axis1, axis2):
    """``x`` with ``axis1`` and ``axis2`` exchanged.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.swapaxes(torch.zeros(2, 3, 4), 0, 2).shape
        torch.Size([4, 3, 2])
    """
    return torch.swapaxes(convert_to_tensor(x), axis1, axis2)


def moveaxis(x, source, destination):
    """``x`` with the axes ``source`` moved to positions ``destination``.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.moveaxis(torch.zeros(2, 3, 4), 0, -1).shape
        torch.Size([3, 4, 2])
    """
    return torch.moveaxis(convert_to_tensor(x), source, destination)


def broadcast_to(x, shape):
    """``x`` broadcast to ``shape`` (a view, no copy).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.broadcast_to(torch.tensor([1, 2]), (2, 2))
        tensor([[1, 2],
                [1, 2]])
    """
    return torch.broadcast_to(convert_to_tensor(x), shape)


def flip(x, axis=None):
    """``x`` with the order of elements reversed along ``axis`` (all axes by default).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.flip(torch.tensor([1, 2, 3]))
        tensor([3, 2, 1])
    """
    x = convert_to_tensor(x)
    dims = tuple(range(x.ndim)) if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
    return torch.flip(x, dims)


def roll(x, shift, axis=None):
    """``x``'s elements shifted by ``shift`` along ``axis``, wrapping around (flattened when None).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.roll(torch.tensor([1, 2, 3]), 1)
        tensor([3, 1, 2])
    """
    return torch.roll(convert_to_tensor(x), shift, dims=axis)


def rot90(array, k=1, axes=(0, 1)):
    """``array`` rotated by 90 degrees ``k`` times, from the first of ``axes`` toward the second.

    Args:
        array: a tensor of at least 2 dimensions.
        k: how many quarter turns (negative: the other way).
        axes: the two axes of the plane of rotation.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.rot90(torch.tensor([[1, 2], [3, 4]]))
        tensor([[2, 4],
                [1, 3]])
    """
    x = convert_to_tensor(array)
    if x.ndim < 2:
        raise ValueError(f"rot90: `array` must have at least 2 dimensions. Received: array.ndim={x.ndim}")
    if len(axes) != 2 or not builtins.all(-x.ndim <= a < x.ndim for a in axes):
        raise ValueError(f"rot90: `axes` must be two axes of the {x.ndim}-D array. Received: axes={axes}")
    plane = tuple(a % x.ndim for a in axes)
    if plane[0] == plane[1]:
        raise ValueError(f"rot90: `axes` must be two different axes. Received: axes={axes}")
    return torch.rot90(x, k=k, dims=plane)


def tile(x, repeats):
    """``x`` repeated ``repeats`` times along each axis (an int: along the last).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.tile(torch.tensor([1, 2]), 2)
        tensor([1, 2, 1, 2])
    """
    if is_tensor(repeats):
        repeats = tuple(int(r) for r in repeats.tolist())
    return torch.tile(convert_to_tensor(x), (repeats,) if isinstance(repeats, int) else tuple(repeats))


def repeat(x, repeats, axis=None):
    """Each element of ``x`` repeated ``repeats`` times along ``axis`` (of the flattened ``x``
    when None); ``repeats`` is an int or one count per element.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.repeat(torch.tensor([1, 2]), 2)
        tensor([1, 1, 2, 2])
    """
    x = convert_to_tensor(x)
    if type(repeats) is int:
        # unsqueeze, expand, reshape: static shapes for torch.export and meta tensors, which
        # repeat_interleave's data-dependent output size would lose
        if axis is None:
            x, axis = x.reshape(-1), 0
        axis %= x.ndim
        shape = list(x.shape)
        expanded = [-1] * (x.ndim + 1)
        expanded[axis + 1] = repeats
        shape[axis] *= repeats
        return x.unsqueeze(axis + 1).expand(expanded).reshape(shape)
    if not (isinstance(repeats, (list, tuple)) and builtins.all(isinstance(r, int) for r in repeats)):
        repeats = convert_to_tensor(repeats, dtype="int64")
    return x.repeat_interleave(repeats, dim=axis)


def concatenate(xs, axis=0):
    """The tensors ``xs`` joined along existing ``axis``.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.concatenate([torch.tensor([1, 2]), torch.tensor([3])])
        tensor([1, 2, 3])
    """
    return torch.cat(_tensors(xs), dim=axis)


def stack(x, axis=0):
    """The tensors ``x`` joined along a new ``axis``.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.stack([torch.tensor([1, 2]), torch.tensor([3, 4])], axis=1)
        tensor([[1, 3],
                [2, 4]])
    """
    return torch.stack(_tensors(x), dim=axis)


def append(x1, x2, axis=None):
    """``x2`` joined after ``x1`` along ``axis`` (both flattened when None).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.append(torch.tensor([1, 2]), torch.tensor([3]))
        tensor([1, 2, 3])
    """
    pair = _tensors((x1, x2))
    return torch.cat([t.flatten() for t in pair]) if axis is None else torch.cat(pair, dim=axis)


def _sections(indices_or_sections):
    # torch's splits take a Python int or a list of ints
    is_count = isinstance(indices_or_sections, int)
    return indices_or_sections if is_count else convert_to_tensor(indices_or_sections).tolist()


# Stacking and splitting along a fixed axis: name -> (torch function, the axis, in words).
STACKS = {
    "hstack": (torch.hstack, "column-wise (axis 1; axis 0 for 1-D tensors)"),
    "vstack": (torch.vstack, "row-wise (axis 0; 1-D tensors as rows)"),
    "dstack": (torch.dstack, "depth-wise (axis 2)"),
}
SPLITS = {
    "hsplit": (torch.hsplit, "column-wise (axis 1; axis 0 for 1-D)"),
    "vsplit": (torch.vsplit, "row-wise (axis 0)"),
    "dsplit": (torch.dsplit, "depth-wise (axis 2)"),
}


def _stack_op(name, fn, where):
    def op(xs):
        return fn(_tensors(xs))

    op.__doc__ = f"The tensors ``xs`` joined {where}."
    op.__name__ = op.__qualname__ = name
    return op


def _split_op(name, fn, where):
    def op(x, indices_or_sections):
        return list(fn(convert_to_tensor(x), _sections(indices_or_sections)))

    op.__doc__ = f"``x`` split {where}: into ``indices_or_sections`` equal parts (an int), or at those indices."
    op.__name__ = op.__qualname__ = name
    return op


hstack, vstack, dstack = (_stack_op(name, *spec) for name, spec in STACKS.items())
hsplit, vsplit, dsplit = (_split_op(name, *spec) for name, spec in SPLITS.items())

# name: (an example call, what it prints), added to each table op's docstring for the doctest run.
EXAMPLES = {
    "dsplit": (
        "[p.shape for p in ops.dsplit(torch.zeros(1, 2, 4), 2)]",
        "[torch.Size([1, 2, 2]), torch.Size([1, 2, 2])]",
    ),
    "dstack": ("ops.dstack([torch.tensor([1, 2]), torch.tensor([3, 4])]).shape", "torch.Size([1, 2, 2])"),
    "hsplit": ("ops.hsplit(torch.tensor([1, 2, 3, 4]), 2)", "[tensor([1, 2]), tensor([3, 4])]"),
    "hstack": ("ops.hstack([torch.tensor([1, 2]), torch.tensor([3])])", "tensor([1, 2, 3])"),
    "vsplit": ("[p.shape for p in ops.vsplit(torch.zeros(4, 2), 2)]", "[torch.Size([2, 2]), torch.Size([2, 2])]"),
    "vstack": ("ops.vstack([torch.tensor([1, 2]), torch.tensor([3, 4])])", "tensor([[1, 2],\n        [3, 4]])"),
}
add_examples({op.__name__: op for op in (hstack, vstack, dstack, hsplit, vsplit, dsplit)}, EXAMPLES)


def split(x, indices_or_sections, axis=0):
    """``x`` split along ``axis`` into ``indices_or_sections`` equal parts (an int, which must
    divide the axis), or at the given indices.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.split(torch.tensor([1, 2, 3, 4]), 2)
        [tensor([1, 2]), tensor([3, 4])]
    """
    x = convert_to_tensor(x)
    size, sections = x.shape[axis], indices_or_sections
    if type(sections) is int:
        if size % sections:
            raise ValueError(
                f"Received indices_or_sections={indices_or_sections} (interpreted as a number of sections) and "
                f"axis={axis}, but input dimension x.shape[{axis}]={size} is not divisible by "
                f"{indices_or_sections}. Full input shape: x.shape={tuple(x.shape)}"
            )
        if size == 0:
            return [x.clone() for _ in range(sections)]
        return list(torch.split(x, size // sections, dim=axis))
    # indices -> chunk sizes, from Python values: no tensor is read (a meta one has no values)
    bounds = [0, *_sections(indices_or_sections), size]
    sizes = [builtins.max(0, builtins.min(b, size) - builtins.min(a, size)) for a, b in zip(bounds, bounds[1:])]
    return list(torch.split(x, sizes, dim=axis))


def array_split(x, indices_or_sections, axis=0):
    """``x`` split along ``axis`` into ``indices_or_sections`` parts of sizes differing by at most
    one (the first ones larger)."""
    return list(torch.tensor_split(convert_to_tensor(x), indices_or_sections, dim=axis))


def pad(x, pad_width, mode="constant", constant_values=None):
    """``x`` padded by ``pad_width`` (one ``(before, after)`` pair per axis).

    Args:
        mode: ``"constant"`` (``constant_values``, default 0), ``"reflect"`` or ``"symmetric"``
            (which, as on Keras's torch backend, repeats the edge value).
    """
    if constant_values is not None and mode != "constant":
        raise ValueError(
            f"Argument `constant_values` can only be provided when `mode == 'constant'`. Received: mode={mode}"
        )
    x = convert_to_tensor(x)
    pairs = [tuple(p) for p in pad_width]
    # torch pads from the last axis; leading axes without padding are left out, since torch's
    # reflect and replicate modes pad at most the last three axes
    while len(pairs) > 1 and pairs[0] == (0, 0):
        pairs.pop(0)
    flat = [n for pair in reversed(pairs) for n in pair]
    if mode == "constant":
        value = 0 if constant_values is None else constant_values
        return torch.nn.functional.pad(x, flat, mode="constant", value=value)
    mode = "replicate" if mode == "symmetric" else mode
    # torch's other modes want a batch dim or two and float32/64 values
    rank, dtype = x.ndim, x.dtype
    y = x.reshape((1,) * builtins.max(0, 3 - rank) + tuple(x.shape))
    if dtype not in (torch.float32, torch.float64):
        y = y.float()
    y = torch.nn.functional.pad(y, flat, mode=mode)
    return y.reshape(y.shape[builtins.max(0, 3 - rank) :]).to(dtype)


def diag(x, k=0):
    """The ``k``-th diagonal of 2-D ``x``, or a 2-D matrix with 1-D ``x`` on that diagonal.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.diag(torch.tensor([1, 2]))
        tensor([[1, 0],
                [0, 2]])
    """
    return torch.diag(convert_to_tensor(x), diagonal=k)


def diagflat(x, k=0):
    """A 2-D matrix with the flattened ``x`` on its ``k``-th diagonal.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.diagflat(torch.tensor([[1, 2]]))
        tensor([[1, 0],
                [0, 2]])
    """
    return torch.diagflat(convert_to_tensor(x), offset=k)


def diagonal(x, offset=0, axis1=0, axis2=1):
    """The diagonal (offset ``offset``) of ``x`` in the plane of ``axis1`` and ``axis2``, as a last
    axis."""
    return torch.diagonal(convert_to_tensor(x), offset=offset, dim1=axis1, dim2=axis2)


def tril(x, k=0):
    """``x`` with the elements above diagonal ``k`` zeroed (over the last two axes).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.tril(torch.tensor([[1, 2], [3, 4]]))
        tensor([[1, 0],
                [3, 4]])
    """
    return torch.tril(convert_to_tensor(x), diagonal=k)


def triu(x, k=0):
    """``x`` with the elements below diagonal ``k`` zeroed (over the last two axes).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.triu(torch.tensor([[1, 2], [3, 4]]))
        tensor([[1, 2],
                [0, 4]])
    """
    return torch.triu(convert_to_tensor(x), diagonal=k)


def diff(a, n=1, axis=-1):
    """The ``n``-th discrete difference along ``axis`` (``a[i+1] - a[i]``, applied ``n`` times).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.diff(torch.tensor([1, 4, 9, 16]))
        tensor([3, 5, 7])
    """
    return torch.diff(convert_to_tensor(a), n=n, dim=axis)


# ----------------------------------------------------------------------------- indexing
def _wrapped(indices, size):
    # NumPy's negative indices count from the end; torch's gathers want them non-negative
    index = convert_to_tensor(indices).long()
    return torch.where(index < 0, index + size, index)


def take(x, indices, axis=None):
    """The elements of ``x`` at ``indices`` along ``axis`` (of the flattened ``x`` when None).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.take(torch.tensor([10, 20, 30]), torch.tensor([2, 0]))
        tensor([30, 10])
    """
    x = convert_to_tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    dim = canonicalize_axis(axis, x.ndim)
    index = _wrapped(indices, x.shape[dim])
    if dim == 0 and x.ndim == 2:
        return torch.nn.functional.embedding(index, x)  # a row lookup: torch's fastest kernel
    picked = torch.index_select(x, dim, index.reshape(-1))
    return picked.reshape(x.shape[:dim] + index.shape + x.shape[dim + 1 :])


def take_along_axis(x, indices, axis=None):
    """The elements of ``x`` at ``indices``, matched position by position along ``axis``.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.take_along_axis(torch.tensor([[10, 20], [30, 40]]), torch.tensor([[1], [0]]), axis=1)
        tensor([[20],
                [30]])
    """
    x = convert_to_tensor(x)
    size = x.numel() if axis is None else x.shape[axis]  # None: indices into the flattened x
    return torch.take_along_dim(x, _wrapped(indices, size), dim=axis)


def where(condition, x1=None, x2=None):
    """``x1`` where ``condition`` holds, ``x2`` elsewhere; with neither, the indices (one row per
    axis) of the elements where it holds."""
    condition = convert_to_tensor(condition, dtype="bool")
    if x1 is None or x2 is None:
        return torch.stack(torch.where(condition))
    return torch.where(condition, convert_to_tensor(x1), convert_to_tensor(x2))


def select(condlist, choicelist, default=0):
    """Elements from the first of ``choicelist`` whose condition in ``condlist`` holds; ``default``
    where none does."""
    chosen = convert_to_tensor(default)
    # from the last pair to the first, so the first condition that holds has the last word
    for condition, choice in reversed(list(zip(condlist, choicelist))):
        chosen = torch.where(convert_to_tensor(condition), convert_to_tensor(choice), chosen)
    return chosen


def nonzero(x):
    """The indices of ``x``'s non-zero elements: an int32 tensor with one row per axis.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.nonzero(torch.tensor([0, 3, 0, 5]))
        tensor([[1, 3]], dtype=torch.int32)
    """
    return torch.nonzero(convert_to_tensor(x)).T.int()


def unravel_index(indices, shape):
    """The coordinates in ``shape`` of flat ``indices``: a tuple of one tensor per axis.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.unravel_index(torch.tensor([5]), (2, 3))
        (tensor([1], dtype=torch.int32), tensor([2], dtype=torch.int32))
    """
    flat = convert_to_tensor(indices)
    dtype = to_torch_dtype(result_type(flat.dtype))
    return tuple(i.to(dtype) for i in torch.unravel_index(flat, shape))


def searchsorted(sorted_sequence, values, side="left"):
    """Where ``values`` would be inserted into 1-D ``sorted_sequence`` to keep it sorted.

    Args:
        side: ``"left"``: the first such index; ``"right"``: the last.
    """
    if sorted_sequence.ndim != 1:
        raise ValueError(
            "`searchsorted` only supports 1-D sorted sequences. You can use `keras.ops.vectorized_map` to extend "
            f"it to N-D sequences. Received: sorted_sequence.shape={tuple(sorted_sequence.shape)}"
        )
    small = sorted_sequence.shape[0] <= np.iinfo(np.int32).max
    return torch.searchsorted(sorted_sequence, values, side=side, out_int32=small)


def digitize(x, bins):
    """The index (int32) of the bin of ``bins`` (increasing edges) each element falls in.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.digitize(torch.tensor([0.5, 1.5, 2.5]), [1.0, 2.0])
        tensor([0, 1, 2], dtype=torch.int32)
    """
    x, bins = convert_to_tensor(x), convert_to_tensor(bins)
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    return torch.bucketize(x, bins, right=True).int()


def bincount(x, weights=None, minlength=0, sparse=False):
    """How often each value ``0..max(x)`` occurs in non-negative ints ``x`` (per row for 2-D
    ``x``), summing ``weights`` instead of ones when given; at least ``minlength`` bins.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.bincount(torch.tensor([0, 1, 1, 3]))
        tensor([1, 2, 0, 1], dtype=torch.int32)
    """
    if sparse:
        raise ValueError("bincount: `sparse=True` is not supported (torch tensors are dense).")
    x = convert_to_tensor(x)
    w = None if weights is None else convert_to_tensor(weights)
    dtype = "int32" if w is None else result_type(x.dtype, w.dtype)
    if x.ndim == 2:  # one count per row
        counts = [torch.bincount(row, None if w is None else w[i], minlength) for i, row in enumerate(x)]
        return cast(torch.stack(counts), dtype)
    return cast(torch.bincount(x, w, minlength), dtype)


def histogram(x, bins=10, range=None):  # noqa: A002 - NumPy's name
    """The counts of 1-D ``x`` in ``bins`` equal bins over ``range`` (default: x's min to max),
    and the ``bins + 1`` bin edges."""
    result = torch.histogram(x, bins=bins, range=range)
    return result.hist, result.bin_edges


# ----------------------------------------------------------------------------- sorting
def sort(x, axis=-1):
    """``x`` sorted along ``axis`` (flattened when None).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.sort(torch.tensor([3, 1, 2]))
        tensor([1, 2, 3])
    """
    x = convert_to_tensor(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    if x.dtype == torch.bool and get_device().type == "cuda":  # no bool sort on CUDA
        return torch.sort(x.to(torch.uint8), dim=axis)[0].bool()
    # [0], not .values: on the meta ghosts of shape inference torch's named tuple is a plain one
    return torch.sort(x, dim=axis)[0]


def argsort(x, axis=-1):
    """The indices (int32) that sort ``x`` along ``axis`` (ties keep their order).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.argsort(torch.tensor([3, 1, 2]))
        tensor([1, 2, 0], dtype=torch.int32)
    """
    x = convert_to_tensor(x)
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    if axis is None:
        x, axis = x.reshape(-1), -1
    return torch.argsort(x, dim=axis, stable=True).int()


def argpartition(x, kth, axis=-1):
    """Indices (int32) that partition ``x`` along ``axis``: the ``kth + 1`` smallest first (in
    order), then the others.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.argpartition(torch.tensor([3, 1, 2]), 1)[1]
        tensor(2, dtype=torch.int32)
    """
    # Keras's torch backend compares the values as int32 (floats truncated): kept, so the
    # indices are Keras's.
    values = convert_to_tensor(x, "int32")
    if axis is None:
        values, axis = values.flatten(), -1
    values = values.movedim(axis, -1)
    smallest = torch.topk(-values, kth + 1).indices
    # the rest: the top of a mask that is 0 at the smallest (torch.topk's order among ties, as
    # Keras's torch backend returns them)
    rest_mask = torch.ones_like(values).scatter(-1, smallest, 0)
    rest = torch.topk(rest_mask, values.shape[-1] - kth - 1).indices
    return torch.cat([smallest, rest], dim=-1).movedim(-1, axis).int()


def unique(
    x,
    sorted=True,  # noqa: A002 - NumPy's name
    return_index=False,
    return_inverse=False,
    return_counts=False,
    axis=None,
    size=None,
    fill_value=None,
):
    """The distinct values of ``x`` (along ``axis``: distinct slices).

    Args:
        sorted: return them sorted.
        return_index: also return where each first occurs in ``x``.
        return_inverse: also return, for each element of ``x``, the index of its value.
        return_counts: also return how often each occurs.
        axis: compare slices along this axis; None: the flattened elements.
        size: pad (with ``fill_value``, default 0) or truncate the result to this many values.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.unique(torch.tensor([3, 1, 3, 2]))
        tensor([1, 2, 3])
    """
    x = x if isinstance(x, torch.Tensor) else torch.as_tensor(x)
    found = torch.unique(
        x, sorted=sorted, return_inverse=return_inverse or return_index, return_counts=return_counts, dim=axis
    )
    found = list(found) if isinstance(found, tuple) else [found]
    values, dim = found[0], 0 if axis is None else canonicalize_axis(axis, x.ndim)
    inverse = found[1] if (return_inverse or return_index) else None
    counts = found[-1] if return_counts else None
    first = None
    if return_index:
        # the smallest position holding each value
        positions = torch.arange(inverse.numel(), dtype=inverse.dtype, device=inverse.device)
        first = inverse.new_empty(values.shape[dim]).scatter_reduce_(
            0, inverse.reshape(-1), positions, reduce="min", include_self=False
        )
    if size is not None:
        count = values.shape[dim]
        if count > size:
            values = values.narrow(dim, 0, size)
            counts = None if counts is None else counts[:size]
            first = None if first is None else first[:size]
        elif count < size:
            missing = size - count
            widths = [0, 0] * (values.ndim - 1 - dim) + [0, missing]
            values = torch.nn.functional.pad(values, widths, value=0 if fill_value is None else fill_value)
            counts = None if counts is None else torch.nn.functional.pad(counts, (0, missing), value=0)
            first = None if first is None else torch.nn.functional.pad(first, (0, missing), value=1)
    out = [values]
    if return_index:
        out.append(first)
    if return_inverse:
        out.append(inverse)
    if return_counts:
        out.append(counts)
    return out[0] if len(out) == 1 else tuple(out)


# ----------------------------------------------------------------------------- the rest
def clip(x, x_min, x_max):
    """``x`` limited to ``[x_min, x_max]``; bool counts as int32.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.clip(torch.tensor([-2, 0, 5]), 0, 3)
        tensor([0, 0, 3])
    """
    x, low, high = convert_to_tensor(x), convert_to_tensor(x_min), convert_to_tensor(x_max)
    if x.dtype == torch.float16 and get_device().type == "cpu":
        return torch.clip(x.float(), min=low, max=high).half()
    if x.dtype == torch.bool:
        x = x.int()
    return torch.clip(x, min=low, max=high)


def round(x, decimals=0):  # noqa: A001 - NumPy's name
    """``x`` rounded to ``decimals`` decimals (halves to even); integers keep their dtype.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.round(torch.tensor([1.26, -0.5]), decimals=1)
        tensor([ 1.3000, -0.5000])
    """
    x = convert_to_tensor(x)
    if x.dtype in (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64):
        return x.to(to_torch_dtype(FLOATX)).round(decimals=decimals).to(x.dtype)
    return x.round(decimals=decimals)


def fabs(x):
    """The absolute value of real ``x``, as a float (integers become float32)."""
    x = convert_to_tensor(x)
    if not x.is_floating_point():
        x = x.to(to_torch_dtype(FLOATX))
    return torch.abs(x)


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """``x`` with NaN replaced by ``nan``, and infinities by ``posinf``/``neginf`` (default: the
    largest finite values of the dtype).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.nan_to_num(torch.tensor([1.0, float("nan")]))
        tensor([1., 0.])
    """
    return torch.nan_to_num(convert_to_tensor(x), nan=nan, posinf=posinf, neginf=neginf)


def corrcoef(x):
    """The Pearson correlation coefficients of ``x``'s rows (variables) over its columns.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.corrcoef(torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]]))
        tensor([[1., 1.],
                [1., 1.]])
    """
    x = convert_to_tensor(x)
    return torch.corrcoef(cast(x, float_or_wide(x.dtype)))


def correlate(x1, x2, mode="valid"):
    """The cross-correlation of 1-D sequences ``x1`` and ``x2`` (batched over leading dims).

    Args:
        mode: ``"valid"`` (only where they fully overlap), ``"same"`` (``len(x1)`` values) or
            ``"full"`` (every overlap).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.correlate(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.0, 1.0]))
        tensor([2., 3.])
    """
    x1, x2 = _tensors((x1, x2))
    dtype = result_type(x1.dtype, x2.dtype)
    dtype = dtype if dtype in ("bfloat16", "float16", "float64") else "float32"
    x1, x2 = cast(x1, dtype), cast(x2, dtype)
    n, m = x1.shape[-1], x2.shape[-1]
    batch = torch.broadcast_shapes(x1.shape[:-1], x2.shape[:-1])
    a = x1.expand(*batch, n).reshape(-1, n)
    v = x2.expand(*batch, m).reshape(-1, m)
    # conv1d is a cross-correlation; one group per signal, padded to every overlap ("full")
    full = torch.nn.functional.conv1d(a, v[:, None], groups=a.shape[0], padding=m - 1).reshape(*batch, -1)
    length = {"full": full.shape[-1], "same": n, "valid": builtins.max(n, m) - builtins.min(n, m) + 1}[mode]
    start = (full.shape[-1] - length) // 2
    return torch.squeeze(full[..., start : start + length])


def trapezoid(y, x=None, dx=1.0, axis=-1):
    """The integral of ``y`` along ``axis`` by the trapezoidal rule, at points ``x`` (or ``dx``
    apart).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.trapezoid(torch.tensor([1.0, 2.0, 3.0]))
        tensor(4.)
    """
    y = convert_to_tensor(y)
    if y.dtype == torch.bool:
        y = y.to(to_torch_dtype(FLOATX))
    if x is not None:
        return torch.trapezoid(y, convert_to_tensor(x), dim=axis)
    dx = dx if isinstance(dx, (int, float)) else convert_to_tensor(dx).item()
    return torch.trapezoid(y, dx=dx, dim=axis)


def isin(x1, x2, assume_unique=False, invert=False):
    """Whether each element of ``x1`` is among the elements of ``x2`` (the opposite with
    ``invert``).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.isin(torch.tensor([1, 2, 3]), torch.tensor([2, 5]))
        tensor([False,  True, False])
    """
    x1, x2 = _tensors((x1, x2))
    if x1.dtype == torch.bool and x2.dtype == torch.bool:
        x1, x2 = x1.int(), x2.int()
    elif x1.dtype == torch.bool:
        x1 = x1.to(x2.dtype)
    elif x2.dtype == torch.bool:
        x2 = x2.to(x1.dtype)
    return torch.isin(x1, x2, invert=invert, assume_unique=assume_unique)


def view(x, dtype=None):
    """``x``'s bytes read as ``dtype`` (same memory; the last axis scales with the item size).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.view(torch.tensor([-1, 1], dtype=torch.int8), "uint8")
        tensor([255,   1], dtype=torch.uint8)
    """
    return convert_to_tensor(x).view(to_torch_dtype(dtype))


def slogdet(x):
    """The sign and the log of the absolute value of the determinant of square ``x``.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.slogdet(torch.tensor([[2.0, 0.0], [0.0, -3.0]]))[0]
        tensor(-1.)
    """
    return tuple(torch.linalg.slogdet(convert_to_tensor(x)))


def ndim(x):
    """The number of dimensions of ``x``."""
    return convert_to_tensor(x).ndim


def size(x):
    """The number of elements of ``x``, as an int32 tensor.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.size(torch.zeros(2, 3))
        tensor(6)
    """
    return torch.prod(convert_to_tensor(tuple(x.shape)))
