"""Reductions (sum, mean, var, quantiles, their NaN-skipping forms) and cumulative ops.

torch's reductions take ``dim=None`` (all axes), an int or a tuple, as Keras's ``axis``. What is
written here is Keras's dtype for each result and the cases where NumPy and torch disagree:
an empty ``axis`` (``()``: NumPy reduces nothing, torch everything), the median of an even count
(NumPy averages the middle two), and the variance's Bessel correction (NumPy has none).

Example:
    >>> from plait.ops import _reductions as r
    >>> r.sum([[1, 2], [3, 4]], axis=0), r.var([1.0, 2.0, 3.0, 4.0]), r.median([1.0, 4.0, 2.0, 3.0])
    (tensor([4, 6], dtype=torch.int32), tensor(1.2500), tensor(2.5000))
"""

import builtins
import math

import torch

from plait.ops._backend import (
    cast,
    convert_to_tensor,
    float_type,
    get_device,
    result_type,
    standardize_dtype,
    to_torch_dtype,
)
from plait.ops._examples import add_examples

# Integers narrower than int32 (and bool) are summed in int32, as JAX (and so Keras) does.
_SMALL_INTS = ("bool", "uint8", "int8", "int16")


def _dims(axis):
    """Keras's ``axis`` as torch's ``dim``: None, an int or a tuple."""
    return tuple(axis) if isinstance(axis, list) else axis


def _no_axes(axis):
    return isinstance(axis, (tuple, list)) and len(axis) == 0


def _tensor(x):
    # Reductions accept a list of tensors as one stacked tensor, as Keras's do.
    if isinstance(x, (list, tuple)) and builtins.any(isinstance(v, torch.Tensor) for v in x):
        return torch.stack([convert_to_tensor(v) for v in x])
    return convert_to_tensor(x)


def _wide_int(dtype):
    name = standardize_dtype(dtype)
    return "int32" if name in _SMALL_INTS else name


def _cpu_half(dtype):
    """The dtype to compute ``dtype`` in: float32 for float16 on CPU (torch's CPU reductions
    lack float16 kernels or lose precision in them)."""
    return "float32" if dtype == "float16" and get_device().type == "cpu" else dtype


def sum(x, axis=None, keepdims=False):  # noqa: A001 - NumPy's name
    """The sum of ``x``'s elements over ``axis`` (all by default).

    Bool and integers narrower than int32 sum in int32. With ``axis=None`` the result is a
    scalar even when ``keepdims`` is set (as Keras on torch).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.sum(torch.tensor([[1, 2], [3, 4]]), axis=1)
        tensor([3, 7])
    """
    x = _tensor(x)
    if _no_axes(axis):
        return x
    total = torch.sum(x) if axis is None else torch.sum(x, dim=_dims(axis), keepdim=keepdims)
    return cast(total, _wide_int(x.dtype))


def prod(x, axis=None, keepdims=False, dtype=None):
    """The product of ``x``'s elements over ``axis``; integers (and bool) multiply in int32,
    unless ``dtype`` says otherwise.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.prod(torch.tensor([[1, 2], [3, 4]]), axis=1)
        tensor([ 2, 12], dtype=torch.int32)
    """
    x = convert_to_tensor(x)
    dtype = dtype or _wide_int(result_type(x.dtype))
    compute = to_torch_dtype(_cpu_half(standardize_dtype(dtype)))
    if axis is None:
        return cast(torch.prod(x, dtype=compute), dtype)
    axes = (axis,) if isinstance(axis, int) else axis
    for a in sorted((a % x.ndim for a in axes), reverse=True):  # torch.prod takes one dim
        x = cast(torch.prod(x, dim=a, keepdim=keepdims, dtype=compute), dtype)
    return x


def mean(x, axis=None, keepdims=False):
    """The arithmetic mean over ``axis``. Integers give float32; floats keep their dtype (computed
    in at least float32).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.mean(torch.tensor([[1.0, 2.0], [3.0, 5.0]]), axis=0)
        tensor([2.0000, 3.5000])
    """
    x = _tensor(x)
    if _no_axes(axis):
        return x
    compute = result_type(x.dtype, "float32")
    out_dtype = compute if x.dtype == torch.bool or not x.is_floating_point() else x.dtype
    # Positional arguments: Dynamo resolves torch.mean's overloads by position.
    return cast(torch.mean(cast(x, compute), _dims(axis), keepdims), out_dtype)


def average(x, axis=None, weights=None):
    """The mean over ``axis``, weighted by the 1-D ``weights`` along that axis when given.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.average(torch.tensor([1.0, 2.0, 4.0]), weights=torch.tensor([1.0, 1.0, 2.0]))
        tensor(2.7500)
    """
    x = convert_to_tensor(x)
    if weights is not None:
        weights = convert_to_tensor(weights)
        dtype = result_type(x.dtype, float, weights.dtype)
        weights = cast(weights, dtype)
    else:
        dtype = float_type(x.dtype)
    x = cast(x, dtype)
    if _no_axes(axis):
        return x
    if weights is None:
        return torch.mean(x, _dims(axis))
    return torch.sum(x * weights, dim=axis) / torch.sum(weights, dim=-1)


def var(x, axis=None, keepdims=False):
    """The variance over ``axis``: the mean squared deviation, no Bessel correction (NumPy's).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.var(torch.tensor([1.0, 3.0]))
        tensor(1.)
    """
    x = convert_to_tensor(x)
    out_dtype = float_type(x.dtype)
    if _no_axes(axis):
        return torch.zeros_like(x, dtype=to_torch_dtype(out_dtype))
    x = cast(x, result_type(x.dtype, "float32"))
    return cast(torch.var(x, dim=_dims(axis), keepdim=keepdims, correction=0), out_dtype)


def std(x, axis=None, keepdims=False):
    """The standard deviation over ``axis`` (no Bessel correction, as NumPy).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.std(torch.tensor([1.0, 3.0]))
        tensor(1.)
    """
    x = convert_to_tensor(x)
    if not x.is_floating_point() and not x.is_complex():
        x = cast(x, "float32")
    return torch.std(x, dim=_dims(axis), keepdim=keepdims, correction=0)


def _extreme(reduce, x, axis, keepdims):
    if axis is None:
        return reduce(x)  # one scalar, whatever keepdims says (as Keras on torch)
    if _no_axes(axis):
        return x
    return reduce(x, dim=_dims(axis), keepdim=keepdims)


def _extreme_with_initial(reduce, combine, name, x, axis, keepdims, initial):
    x = convert_to_tensor(x)
    if x.numel() == 0:
        if initial is None:
            raise ValueError(f"Cannot compute the {name} of an empty tensor.")
        return torch.full((1,) * x.ndim if keepdims else (), initial)
    out = _extreme(reduce, x, axis, keepdims)
    if initial is None:
        return out
    return combine(out, convert_to_tensor(initial, dtype=out.dtype))


def max(x, axis=None, keepdims=False, initial=None):  # noqa: A001 - NumPy's name
    """The largest element over ``axis``, at least ``initial`` when given (which an empty ``x``
    needs).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.max(torch.tensor([[1, 5], [7, 2]]), axis=1)
        tensor([5, 7])
    """
    return _extreme_with_initial(torch.amax, torch.maximum, "max", x, axis, keepdims, initial)


def min(x, axis=None, keepdims=False, initial=None):  # noqa: A001 - NumPy's name
    """The smallest element over ``axis``, at most ``initial`` when given (which an empty ``x``
    needs).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.min(torch.tensor([[1, 5], [7, 2]]), axis=1)
        tensor([1, 2])
    """
    return _extreme_with_initial(torch.amin, torch.minimum, "min", x, axis, keepdims, initial)


def ptp(x, axis=None, keepdims=False):
    """Peak to peak: ``max - min`` over ``axis``.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.ptp(torch.tensor([[1, 5], [7, 2]]), axis=1)
        tensor([4, 5])
    """
    x = convert_to_tensor(x)
    if axis is None:
        return x.max() - x.min()
    if _no_axes(axis):
        return torch.zeros_like(x)
    return torch.amax(x, dim=axis, keepdim=keepdims) - torch.amin(x, dim=axis, keepdim=keepdims)


def _index_of(pick, x, axis, keepdims):
    x = convert_to_tensor(x)
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)  # torch has no bool argmax
    return pick(x, dim=axis, keepdim=keepdims).int()


def count_nonzero(x, axis=None):
    """How many elements over ``axis`` are non-zero (int32).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.count_nonzero(torch.tensor([[0, 1, 2], [3, 0, 0]]), axis=1)
        tensor([2, 1], dtype=torch.int32)
    """
    x = convert_to_tensor(x)
    if _no_axes(axis):
        return (x != 0).int()
    counts = torch.count_nonzero(x, dim=axis)
    # Keras's torch backend returns the counts transposed (its `.T`): kept for equal numbers.
    return counts.permute(tuple(reversed(range(counts.ndim)))).int()


def trace(x, offset=0, axis1=0, axis2=1):
    """The sum of ``x``'s diagonal (offset ``offset``) in the plane of ``axis1`` and ``axis2``.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.trace(torch.tensor([[1, 2], [3, 4]]))
        tensor(5)
    """
    x = convert_to_tensor(x)
    dtype = to_torch_dtype(_wide_int(x.dtype))
    return torch.sum(torch.diagonal(x, offset, axis1, axis2), dim=-1, dtype=dtype)


# ----------------------------------------------------------------------------- cumulative
def _cumulative(fn, x, axis, dtype):
    x = convert_to_tensor(x)
    if axis is None:
        x, axis = x.flatten(), 0
    dtype = result_type(dtype or x.dtype)
    dtype = "int32" if dtype == "bool" else dtype
    return cast(fn(x, dim=axis, dtype=to_torch_dtype(_cpu_half(dtype))), dtype)


# ----------------------------------------------------------------------------- quantiles
def _quantile(fn, x, q, axis, method, keepdims):
    x = convert_to_tensor(x)
    out_dtype = float_type(x.dtype)
    x = cast(x, result_type(x.dtype, "float32"))
    q = cast(convert_to_tensor(q), x.dtype)
    rank = x.ndim
    if axis is None:
        axes, flat = list(range(rank)), x.reshape(-1)
    else:
        axes = sorted(a % rank for a in ((axis,) if isinstance(axis, int) else axis))
        # torch reduces one dim: the reduced axes move to the end and merge into one
        kept = [d for d in range(rank) if d not in axes]
        flat = x.permute(kept + axes).reshape([x.shape[d] for d in kept] + [math.prod(x.shape[a] for a in axes)])
    out = fn(flat, q, dim=-1, interpolation=method)
    if keepdims:
        # q's own dimension (when q is a vector) comes first; reduced axes come back as size 1
        shift = 1 if q.ndim else 0
        for a in axes:
            out = out.unsqueeze(a + shift) if axis is not None else out.unsqueeze(-1)
    return cast(out, out_dtype)


def median(x, axis=None, keepdims=False):
    """The median over ``axis``; of an even count, the mean of the middle two (as NumPy).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.median(torch.tensor([3.0, 1.0, 4.0, 2.0]))
        tensor(2.5000)
    """
    return _quantile(torch.quantile, x, 0.5, axis, "linear", keepdims)


# ----------------------------------------------------------------------------- NaN-skipping
def nansum(x, axis=None, keepdims=False):
    """:func:`sum` counting NaNs as zero.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.nansum(torch.tensor([1.0, float("nan"), 3.0]))
        tensor(4.)
    """
    x = _tensor(x)
    dtype = _wide_int(x.dtype)
    if _no_axes(axis):
        return cast(torch.nan_to_num(x, nan=0), dtype)
    return cast(torch.nansum(x, dim=_dims(axis), keepdim=keepdims), dtype)


def nanprod(x, axis=None, keepdims=False):
    """:func:`prod` counting NaNs as one.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.nanprod(torch.tensor([2.0, float("nan"), 3.0]))
        tensor(6.)
    """
    x = convert_to_tensor(x)
    if _no_axes(axis):
        return torch.nan_to_num(x, nan=1)
    if x.is_floating_point():
        x = torch.where(torch.isnan(x), torch.ones((), dtype=x.dtype, device=x.device), x)
    return prod(x, axis=axis, keepdims=keepdims)


def nanmean(x, axis=None, keepdims=False):
    """:func:`mean` of the elements that are not NaN.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.nanmean(torch.tensor([1.0, float("nan"), 3.0]))
        tensor(2.)
    """
    x = convert_to_tensor(x)
    if _no_axes(axis):
        return x
    return torch.nanmean(cast(x, float_type(x.dtype)), dim=_dims(axis), keepdim=keepdims)


def nanvar(x, axis=None, keepdims=False):
    """:func:`var` of the elements that are not NaN.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.nanvar(torch.tensor([1.0, float("nan"), 3.0]))
        tensor(1.)
    """
    x = cast(convert_to_tensor(x), float_type(convert_to_tensor(x).dtype))
    if _no_axes(axis):
        return torch.where(torch.isnan(x), x, torch.zeros((), dtype=x.dtype, device=x.device))
    valid = ~torch.isnan(x)
    deviation = torch.where(valid, x - nanmean(x, axis=axis, keepdims=True), torch.zeros_like(x))
    squared = deviation.real**2 + deviation.imag**2 if deviation.is_complex() else deviation.square()
    dims = _dims(axis)
    return squared.sum(dim=dims, keepdim=keepdims) / valid.sum(dim=dims, keepdim=keepdims)


def nanstd(x, axis=None, keepdims=False):
    """:func:`std` of the elements that are not NaN.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.nanstd(torch.tensor([1.0, float("nan"), 3.0]))
        tensor(1.)
    """
    return torch.sqrt(nanvar(x, axis=axis, keepdims=keepdims))


def nanmedian(x, axis=None, keepdims=False):
    """:func:`median` of the elements that are not NaN.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.nanmedian(torch.tensor([1.0, float("nan"), 3.0, 7.0]))
        tensor(3.)
    """
    x = convert_to_tensor(x)
    return x if _no_axes(axis) else _quantile(torch.nanquantile, x, 0.5, axis, "linear", keepdims)


def _nan_extreme(reduce, fill, x, axis, keepdims):
    x = convert_to_tensor(x)
    if not x.is_floating_point():
        return reduce(x, dim=_dims(axis), keepdim=keepdims)
    if _no_axes(axis):
        return x
    nan = torch.isnan(x)
    out = reduce(torch.where(nan, fill, x), dim=_dims(axis), keepdim=keepdims)
    # a slice of NaNs only has no extreme: NaN
    return torch.where(nan.all(dim=_dims(axis), keepdim=keepdims), torch.nan, out)


def _nan_index(pick, fill, x, axis, keepdims):
    x = convert_to_tensor(x)
    if not x.is_floating_point():
        return _index_of(pick, x, axis, keepdims)
    nan = torch.isnan(x)
    index = _index_of(pick, torch.where(nan, fill, x), axis, keepdims)
    return torch.where(nan.all(dim=axis, keepdim=keepdims), -1, index)  # -1: only NaNs


# ----------------------------------------------------------------------------- tables
# The reductions that differ only in their torch function (and, for the NaN-skipping ones, the
# value NaNs stand in as): name -> (torch function, NaN stand-in or None, summary).
EXTREMES = {
    "amax": (torch.amax, None, "The largest element over ``axis``."),
    "amin": (torch.amin, None, "The smallest element over ``axis``."),
    "nanmax": (torch.amax, -torch.inf, "The largest element over ``axis`` ignoring NaNs (NaN if all are)."),
    "nanmin": (torch.amin, torch.inf, "The smallest element over ``axis`` ignoring NaNs (NaN if all are)."),
}
INDICES = {
    "argmax": (torch.argmax, None, "The index (int32) of the largest element along ``axis`` (flattened if None)."),
    "argmin": (torch.argmin, None, "The index (int32) of the smallest element along ``axis`` (flattened if None)."),
    "nanargmax": (torch.argmax, -torch.inf, "``argmax`` ignoring NaNs; -1 where a slice holds only NaNs."),
    "nanargmin": (torch.argmin, torch.inf, "``argmin`` ignoring NaNs; -1 where a slice holds only NaNs."),
}
TRUTHS = {
    "all": (torch.all, "Whether every element over ``axis`` is true (non-zero)."),
    "any": (torch.any, "Whether any element over ``axis`` is true (non-zero)."),
}
CUMULATIVE = {
    "cumsum": (
        torch.cumsum,
        None,
        "Running sums along ``axis`` (flattened ``x`` if None); bool counts as int32.",
    ),
    "cumprod": (torch.cumprod, None, "Running products along ``axis`` (of the flattened ``x`` if None)."),
    "nancumsum": (torch.cumsum, 0.0, "Running sums along ``axis``, NaNs counted as zero."),
    "nancumprod": (torch.cumprod, 1.0, "Running products along ``axis``, NaNs counted as one."),
}
# name -> (torch function, what q is divided by, summary)
QUANTILES = {
    "quantile": (torch.quantile, 1, "The ``q``-th quantiles (``q`` in [0, 1], a scalar or a vector) over ``axis``."),
    "nanquantile": (torch.nanquantile, 1, "``quantile`` of the elements that are not NaN."),
    "percentile": (torch.quantile, 100, "The ``q``-th percentiles (``q`` in [0, 100]) over ``axis``."),
    "nanpercentile": (torch.nanquantile, 100, "``percentile`` of the elements that are not NaN."),
}
_REDUCE_ARGS = """

Args:
    x: a tensor, array or Python value.
    axis: an axis or a tuple of axes; None: all of them.
    keepdims: keep the reduced axes, with size 1."""


def _extreme_op(reduce, nan, summary):
    def op(x, axis=None, keepdims=False):
        if nan is None:
            return _extreme(reduce, convert_to_tensor(x), axis, keepdims)
        return _nan_extreme(reduce, nan, x, axis, keepdims)

    op.__doc__ = summary + _REDUCE_ARGS
    return op


def _index_op(pick, nan, summary):
    def op(x, axis=None, keepdims=False):
        return _index_of(pick, x, axis, keepdims) if nan is None else _nan_index(pick, nan, x, axis, keepdims)

    op.__doc__ = summary + _REDUCE_ARGS
    return op


def _truth_op(reduce, summary):
    def op(x, axis=None, keepdims=False):
        x = convert_to_tensor(x)
        return x.bool() if _no_axes(axis) else reduce(x, dim=_dims(axis), keepdim=keepdims).bool()

    op.__doc__ = summary + _REDUCE_ARGS
    return op


def _cumulative_op(fn, nan, summary):
    def op(x, axis=None, dtype=None):
        if nan is not None:
            x = torch.nan_to_num(convert_to_tensor(x), nan=nan)
        return _cumulative(fn, x, axis, dtype)

    op.__doc__ = f"{summary}\n\nArgs:\n    dtype: the dtype to accumulate in; default: ``x``'s (bool as int32)."
    return op


def _quantile_op(fn, scale, summary):
    def op(x, q, axis=None, method="linear", keepdims=False):
        if scale != 1:
            q = convert_to_tensor(q, dtype="float32") / scale
        return _quantile(fn, x, q, axis, method, keepdims)

    op.__doc__ = f"""{summary}

Args:
    method: how to interpolate between data points: ``"linear"``, ``"lower"``, ``"higher"``,
        ``"midpoint"`` or ``"nearest"``."""
    return op


def _build(table, make):
    built = {}
    for name, spec in table.items():
        built[name] = fn = make(*spec)
        fn.__name__ = fn.__qualname__ = name
    return built


OPS = {
    **_build(EXTREMES, _extreme_op),
    **_build(INDICES, _index_op),
    **_build(TRUTHS, _truth_op),
    **_build(CUMULATIVE, _cumulative_op),
    **_build(QUANTILES, _quantile_op),
}
globals().update(OPS)

# name: (an example call, what it prints), added to each table op's docstring for the doctest run.
EXAMPLES = {
    "all": ("ops.all(torch.tensor([[True, False], [True, True]]), axis=1)", "tensor([False,  True])"),
    "amax": ("ops.amax(torch.tensor([[1, 5], [7, 2]]), axis=0)", "tensor([7, 5])"),
    "amin": ("ops.amin(torch.tensor([[1, 5], [7, 2]]), axis=1)", "tensor([1, 2])"),
    "any": ("ops.any(torch.tensor([[True, False], [False, False]]), axis=1)", "tensor([ True, False])"),
    "argmax": ("ops.argmax(torch.tensor([[1, 5, 2], [7, 0, 3]]), axis=1)", "tensor([1, 0], dtype=torch.int32)"),
    "argmin": ("ops.argmin(torch.tensor([[1, 5, 2], [7, 0, 3]]), axis=1)", "tensor([0, 1], dtype=torch.int32)"),
    "cumprod": ("ops.cumprod(torch.tensor([1, 2, 3, 4]))", "tensor([ 1,  2,  6, 24], dtype=torch.int32)"),
    "cumsum": ("ops.cumsum(torch.tensor([1, 2, 3, 4]))", "tensor([ 1,  3,  6, 10], dtype=torch.int32)"),
    "nanargmax": ('ops.nanargmax(torch.tensor([1.0, float("nan"), 3.0]))', "tensor(2, dtype=torch.int32)"),
    "nanargmin": ('ops.nanargmin(torch.tensor([float("nan"), 2.0, 1.0]))', "tensor(2, dtype=torch.int32)"),
    "nancumprod": ('ops.nancumprod(torch.tensor([2.0, float("nan"), 3.0]))', "tensor([2., 2., 6.])"),
    "nancumsum": ('ops.nancumsum(torch.tensor([1.0, float("nan"), 3.0]))', "tensor([1., 1., 4.])"),
    "nanmax": ('ops.nanmax(torch.tensor([1.0, float("nan"), 3.0]))', "tensor(3.)"),
    "nanmin": ('ops.nanmin(torch.tensor([1.0, float("nan"), 3.0]))', "tensor(1.)"),
    "nanpercentile": ('ops.nanpercentile(torch.tensor([1.0, float("nan"), 3.0]), 50)', "tensor(2.)"),
    "nanquantile": ('ops.nanquantile(torch.tensor([1.0, float("nan"), 3.0]), 0.5)', "tensor(2.)"),
    "percentile": ("ops.percentile(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]), 25)", "tensor(2.)"),
    "quantile": ("ops.quantile(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]), 0.75)", "tensor(4.)"),
}
add_examples(OPS, EXAMPLES)
