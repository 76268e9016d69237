"""NumPy-style ops (Keras 3's ``keras.ops.numpy``) on torch: the public table.

Each name below is an implementation (see :mod:`plait.ops._numpy` for where they live) wrapped
by :func:`plait.ops._op.op`, which runs it on tensors and records it as a graph node on symbolic
tensors. A few ops check their arguments here first, as Keras's front ends do, so that bad input
fails with Keras's message before any torch call.

Example:
    >>> import plait
    >>> plait.ops.numpy.mean(plait.ops.numpy.arange(4))
    tensor(1.5000)
"""

from plait.ops import _backend, _vectorize
from plait.ops import _numpy as _impl
from plait.ops._op import op as _op


def _numpy(fn):
    return _op(fn, "numpy")


abs = _numpy(_impl.abs)
absolute = _numpy(_impl.absolute)
add = _numpy(_impl.add)
all = _numpy(_impl.all)
allclose = _numpy(_impl.allclose)
amax = _numpy(_impl.amax)
amin = _numpy(_impl.amin)
angle = _numpy(_impl.angle)
any = _numpy(_impl.any)
append = _numpy(_impl.append)
arange = _numpy(_impl.arange)
arccos = _numpy(_impl.arccos)
arccosh = _numpy(_impl.arccosh)
arcsin = _numpy(_impl.arcsin)
arcsinh = _numpy(_impl.arcsinh)
arctan = _numpy(_impl.arctan)
arctan2 = _numpy(_impl.arctan2)
arctanh = _numpy(_impl.arctanh)
argmax = _numpy(_impl.argmax)
argmin = _numpy(_impl.argmin)
argpartition = _numpy(_impl.argpartition)
argsort = _numpy(_impl.argsort)
array = _numpy(_impl.array)
average = _numpy(_impl.average)
bartlett = _numpy(_impl.bartlett)
bincount = _numpy(_impl.bincount)
bitwise_and = _numpy(_impl.bitwise_and)
bitwise_invert = _numpy(_impl.bitwise_invert)
bitwise_left_shift = _numpy(_impl.bitwise_left_shift)
bitwise_not = _numpy(_impl.bitwise_not)
bitwise_or = _numpy(_impl.bitwise_or)
bitwise_right_shift = _numpy(_impl.bitwise_right_shift)
bitwise_xor = _numpy(_impl.bitwise_xor)
blackman = _numpy(_impl.blackman)
broadcast_to = _numpy(_impl.broadcast_to)
cbrt = _numpy(_impl.cbrt)
ceil = _numpy(_impl.ceil)
clip = _numpy(_impl.clip)
concatenate = _numpy(_impl.concatenate)
conj = _numpy(_impl.conj)
conjugate = _numpy(_impl.conjugate)
copy = _numpy(_impl.copy)
corrcoef = _numpy(_impl.corrcoef)
correlate = _numpy(_impl.correlate)
cos = _numpy(_impl.cos)
cosh = _numpy(_impl.cosh)
count_nonzero = _numpy(_impl.count_nonzero)
cross = _numpy(_impl.cross)
cumprod = _numpy(_impl.cumprod)
cumsum = _numpy(_impl.cumsum)
deg2rad = _numpy(_impl.deg2rad)
diag = _numpy(_impl.diag)
diagflat = _numpy(_impl.diagflat)
diff = _numpy(_impl.diff)
digitize = _numpy(_impl.digitize)
divide = _numpy(_impl.divide)
divide_no_nan = _numpy(_impl.divide_no_nan)
dot = _numpy(_impl.dot)
dsplit = _numpy(_impl.dsplit)
dstack = _numpy(_impl.dstack)
einsum = _numpy(_impl.einsum)
empty = _numpy(_impl.empty)
empty_like = _numpy(_impl.empty_like)
equal = _numpy(_impl.equal)
exp = _numpy(_impl.exp)
exp2 = _numpy(_impl.exp2)
expand_dims = _numpy(_impl.expand_dims)
expm1 = _numpy(_impl.expm1)
flip = _numpy(_impl.flip)
fliplr = _numpy(_impl.fliplr)
flipud = _numpy(_impl.flipud)
floor = _numpy(_impl.floor)
floor_divide = _numpy(_impl.floor_divide)
fmax = _numpy(_impl.fmax)
fmin = _numpy(_impl.fmin)
fmod = _numpy(_impl.fmod)
full = _numpy(_impl.full)
full_like = _numpy(_impl.full_like)
gcd = _numpy(_impl.gcd)
geomspace = _numpy(_impl.geomspace)
greater = _numpy(_impl.greater)
greater_equal = _numpy(_impl.greater_equal)
hamming = _numpy(_impl.hamming)
hanning = _numpy(_impl.hanning)
heaviside = _numpy(_impl.heaviside)
hsplit = _numpy(_impl.hsplit)
hstack = _numpy(_impl.hstack)
hypot = _numpy(_impl.hypot)
i0 = _numpy(_impl.i0)
identity = _numpy(_impl.identity)
imag = _numpy(_impl.imag)
inner = _numpy(_impl.inner)
isclose = _numpy(_impl.isclose)
isfinite = _numpy(_impl.isfinite)
isin = _numpy(_impl.isin)
isinf = _numpy(_impl.isinf)
isnan = _numpy(_impl.isnan)
isneginf = _numpy(_impl.isneginf)
isposinf = _numpy(_impl.isposinf)
isreal = _numpy(_impl.isreal)
kaiser = _numpy(_impl.kaiser)
kron = _numpy(_impl.kron)
lcm = _numpy(_impl.lcm)
ldexp = _numpy(_impl.ldexp)
left_shift = _numpy(_impl.left_shift)
less = _numpy(_impl.less)
less_equal = _numpy(_impl.less_equal)
linspace = _numpy(_impl.linspace)
log = _numpy(_impl.log)
log10 = _numpy(_impl.log10)
log1p = _numpy(_impl.log1p)
log2 = _numpy(_impl.log2)
logaddexp = _numpy(_impl.logaddexp)
logaddexp2 = _numpy(_impl.logaddexp2)
logical_and = _numpy(_impl.logical_and)
logical_not = _numpy(_impl.logical_not)
logical_or = _numpy(_impl.logical_or)
logical_xor = _numpy(_impl.logical_xor)
logspace = _numpy(_impl.logspace)
matmul = _numpy(_impl.matmul)
max = _numpy(_impl.max)
maximum = _numpy(_impl.maximum)
mean = _numpy(_impl.mean)
median = _numpy(_impl.median)
meshgrid = _numpy(_impl.meshgrid)
min = _numpy(_impl.min)
minimum = _numpy(_impl.minimum)
mod = _numpy(_impl.mod)
moveaxis = _numpy(_impl.moveaxis)
multiply = _numpy(_impl.multiply)
nan_to_num = _numpy(_impl.nan_to_num)
nanargmax = _numpy(_impl.nanargmax)
nanargmin = _numpy(_impl.nanargmin)
nancumprod = _numpy(_impl.nancumprod)
nancumsum = _numpy(_impl.nancumsum)
nanmax = _numpy(_impl.nanmax)
nanmean = _numpy(_impl.nanmean)
nanmedian = _numpy(_impl.nanmedian)
nanmin = _numpy(_impl.nanmin)
nanpercentile = _numpy(_impl.nanpercentile)
nanprod = _numpy(_impl.nanprod)
nanquantile = _numpy(_impl.nanquantile)
nanstd = _numpy(_impl.nanstd)
nansum = _numpy(_impl.nansum)
nanvar = _numpy(_impl.nanvar)
negative = _numpy(_impl.negative)
nextafter = _numpy(_impl.nextafter)
nonzero = _numpy(_impl.nonzero)
not_equal = _numpy(_impl.not_equal)
ones = _numpy(_impl.ones)
ones_like = _numpy(_impl.ones_like)
outer = _numpy(_impl.outer)
percentile = _numpy(_impl.percentile)
power = _numpy(_impl.power)
prod = _numpy(_impl.prod)
ptp = _numpy(_impl.ptp)
quantile = _numpy(_impl.quantile)
rad2deg = _numpy(_impl.rad2deg)
ravel = _numpy(_impl.ravel)
real = _numpy(_impl.real)
reciprocal = _numpy(_impl.reciprocal)
repeat = _numpy(_impl.repeat)
right_shift = _numpy(_impl.right_shift)
roll = _numpy(_impl.roll)
rot90 = _numpy(_impl.rot90)
round = _numpy(_impl.round)
sign = _numpy(_impl.sign)
signbit = _numpy(_impl.signbit)
sin = _numpy(_impl.sin)
sinc = _numpy(_impl.sinc)
sinh = _numpy(_impl.sinh)
slogdet = _numpy(_impl.slogdet)
sort = _numpy(_impl.sort)
split = _numpy(_impl.split)
sqrt = _numpy(_impl.sqrt)
square = _numpy(_impl.square)
squeeze = _numpy(_impl.squeeze)
stack = _numpy(_impl.stack)
std = _numpy(_impl.std)
subtract = _numpy(_impl.subtract)
sum = _numpy(_impl.sum)
swapaxes = _numpy(_impl.swapaxes)
take = _numpy(_impl.take)
take_along_axis = _numpy(_impl.take_along_axis)
tan = _numpy(_impl.tan)
tanh = _numpy(_impl.tanh)
tensordot = _numpy(_impl.tensordot)
tile = _numpy(_impl.tile)
trace = _numpy(_impl.trace)
transpose = _numpy(_impl.transpose)
trapezoid = _numpy(_impl.trapezoid)
tri = _numpy(_impl.tri)
tril = _numpy(_impl.tril)
triu = _numpy(_impl.triu)
true_divide = _numpy(_impl.true_divide)
trunc = _numpy(_impl.trunc)
unique = _numpy(_impl.unique)
unravel_index = _numpy(_impl.unravel_index)
vander = _numpy(_impl.vander)
var = _numpy(_impl.var)
vdot = _numpy(_impl.vdot)
view = _numpy(_impl.view)
vsplit = _numpy(_impl.vsplit)
vstack = _numpy(_impl.vstack)
zeros = _numpy(_impl.zeros)
zeros_like = _numpy(_impl.zeros_like)

__all__ = [
    "abs",
    "absolute",
    "add",
    "all",
    "allclose",
    "amax",
    "amin",
    "angle",
    "any",
    "append",
    "arange",
    "arccos",
    "arccosh",
    "arcsin",
    "arcsinh",
    "arctan",
    "arctan2",
    "arctanh",
    "argmax",
    "argmin",
    "argpartition",
    "argsort",
    "array",
    "array_split",
    "average",
    "bartlett",
    "bincount",
    "bitwise_and",
    "bitwise_invert",
    "bitwise_left_shift",
    "bitwise_not",
    "bitwise_or",
    "bitwise_right_shift",
    "bitwise_xor",
    "blackman",
    "broadcast_to",
    "cbrt",
    "ceil",
    "clip",
    "concatenate",
    "conj",
    "conjugate",
    "copy",
    "corrcoef",
    "correlate",
    "cos",
    "cosh",
    "count_nonzero",
    "cross",
    "cumprod",
    "cumsum",
    "deg2rad",
    "diag",
    "diagflat",
    "diagonal",
    "diff",
    "digitize",
    "divide",
    "divide_no_nan",
    "dot",
    "dsplit",
    "dstack",
    "einsum",
    "empty",
    "empty_like",
    "equal",
    "exp",
    "exp2",
    "expand_dims",
    "expm1",
    "eye",
    "fabs",
    "flip",
    "fliplr",
    "flipud",
    "floor",
    "floor_divide",
    "fmax",
    "fmin",
    "fmod",
    "full",
    "full_like",
    "gcd",
    "geomspace",
    "get_item",
    "greater",
    "greater_equal",
    "hamming",
    "hanning",
    "heaviside",
    "histogram",
    "hsplit",
    "hstack",
    "hypot",
    "i0",
    "identity",
    "imag",
    "inner",
    "isclose",
    "isfinite",
    "isin",
    "isinf",
    "isnan",
    "isneginf",
    "isposinf",
    "isreal",
    "kaiser",
    "kron",
    "lcm",
    "ldexp",
    "left_shift",
    "less",
    "less_equal",
    "linspace",
    "log",
    "log10",
    "log1p",
    "log2",
    "logaddexp",
    "logaddexp2",
    "logical_and",
    "logical_not",
    "logical_or",
    "logical_xor",
    "logspace",
    "matmul",
    "max",
    "maximum",
    "mean",
    "median",
    "meshgrid",
    "min",
    "minimum",
    "mod",
    "moveaxis",
    "multiply",
    "nan_to_num",
    "nanargmax",
    "nanargmin",
    "nancumprod",
    "nancumsum",
    "nanmax",
    "nanmean",
    "nanmedian",
    "nanmin",
    "nanpercentile",
    "nanprod",
    "nanquantile",
    "nanstd",
    "nansum",
    "nanvar",
    "ndim",
    "negative",
    "nextafter",
    "nonzero",
    "not_equal",
    "ones",
    "ones_like",
    "outer",
    "pad",
    "percentile",
    "power",
    "prod",
    "ptp",
    "quantile",
    "rad2deg",
    "ravel",
    "real",
    "reciprocal",
    "repeat",
    "reshape",
    "right_shift",
    "roll",
    "rot90",
    "round",
    "searchsorted",
    "select",
    "sign",
    "signbit",
    "sin",
    "sinc",
    "sinh",
    "size",
    "slogdet",
    "sort",
    "split",
    "sqrt",
    "square",
    "squeeze",
    "stack",
    "std",
    "subtract",
    "sum",
    "swapaxes",
    "take",
    "take_along_axis",
    "tan",
    "tanh",
    "tensordot",
    "tile",
    "trace",
    "transpose",
    "trapezoid",
    "tri",
    "tril",
    "triu",
    "true_divide",
    "trunc",
    "unique",
    "unravel_index",
    "vander",
    "var",
    "vdot",
    "vectorize",
    "view",
    "vsplit",
    "vstack",
    "where",
    "zeros",
    "zeros_like",
]


# ---- ops that check their arguments first (as Keras's front ends in keras.ops.numpy)
@_numpy
def get_item(x, key):
    """``x[key]``: NumPy-style indexing with ints, slices, ``None``, ``...`` and index tensors.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.get_item(torch.tensor([[1, 2], [3, 4]]), (1, 0))
        tensor(3)
    """
    return _backend.convert_to_tensor(x)[key]


@_numpy
def where(condition, x1=None, x2=None):
    """``x1`` where ``condition`` holds, ``x2`` elsewhere; with neither, the indices (one row per
    axis) of the elements where it holds.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.where(torch.tensor([True, False]), torch.tensor([1, 2]), torch.tensor([9, 9]))
        tensor([1, 9])
    """
    if (x1 is None) != (x2 is None):
        raise ValueError("`x1` and `x2` either both should be `None` or both should have non-None value.")
    return _impl.where(condition, x1, x2)


@_numpy
def array_split(x, indices_or_sections, axis=0):
    """``x`` split along ``axis`` into ``indices_or_sections`` (a positive int) parts whose sizes
    differ by at most one, the first ones larger.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.array_split(torch.tensor([1, 2, 3, 4, 5]), 2)
        [tensor([1, 2, 3]), tensor([4, 5])]
    """
    for name, value in (("indices_or_sections", indices_or_sections), ("axis", axis)):
        if not isinstance(value, int):
            raise TypeError(f"Argument `{name}` must be of type `int`. Received: {name}={value}")
    if indices_or_sections < 1:
        raise ValueError(
            f"Argument `indices_or_sections` must be a positive integer. Received: indices_or_sections="
            f"{indices_or_sections}"
        )
    return _impl.array_split(x, indices_or_sections, axis=axis)


@_numpy
def diagonal(x, offset=0, axis1=0, axis2=1):
    """The diagonal (offset ``offset``) of ``x`` in the plane of ``axis1`` and ``axis2`` (which
    must differ), as a last axis.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.diagonal(torch.tensor([[1, 2], [3, 4]]))
        tensor([1, 4])
    """
    x = _backend.convert_to_tensor(x)
    if _backend.canonicalize_axis(axis1, x.ndim) == _backend.canonicalize_axis(axis2, x.ndim):
        raise ValueError(f"`axis1` and `axis2` cannot be the same. Received: axis1={axis1}, axis2={axis2}")
    return _impl.diagonal(x, offset=offset, axis1=axis1, axis2=axis2)


@_numpy
def reshape(x, newshape):
    """``x``'s elements in shape ``newshape`` (an int or a tuple; at most one -1, inferred).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.reshape(torch.arange(6), (2, -1))
        tensor([[0, 1, 2],
                [3, 4, 5]])
    """
    if not _backend.is_tensor(newshape):
        newshape = tuple(newshape) if isinstance(newshape, (list, tuple)) else (newshape,)
        if newshape.count(-1) > 1:
            raise ValueError(f"There must be at most one unknown dimension (-1) in newshape. Received: {newshape}")
    return _impl.reshape(x, newshape)


@_numpy
def select(condlist, choicelist, default=0):
    """Elements from the first of ``choicelist`` whose condition in ``condlist`` holds (two
    non-empty lists of the same length); ``default`` where none does.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> x = torch.tensor([-1, 0, 2])
        >>> ops.select([x < 0, x > 0], [torch.tensor([-10, -10, -10]), x * 10])
        tensor([-10,   0,  20])
    """
    if not (isinstance(condlist, (list, tuple)) and isinstance(choicelist, (list, tuple))):
        raise ValueError(
            f"condlist and choicelist must be lists. Received: type(condlist) = {type(condlist)}, "
            f"type(choicelist) = {type(choicelist)}"
        )
    if len(condlist) == 0 or len(choicelist) == 0:
        raise ValueError(
            f"condlist and choicelist must not be empty. Received: condlist = {condlist}, choicelist = {choicelist}"
        )
    return _impl.select(list(condlist), list(choicelist), default)


@_numpy
def histogram(x, bins=10, range=None):  # noqa: A002 - NumPy's name
    """The counts of 1-D ``x`` in ``bins`` equal bins over ``range`` (a ``(low, high)`` tuple;
    default: x's min to max), and the ``bins + 1`` bin edges.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.histogram(torch.tensor([0.0, 1.0, 1.0, 3.0]), bins=3)
        (tensor([1., 2., 1.]), tensor([0., 1., 2., 3.]))
    """
    if not isinstance(bins, int):
        raise TypeError(f"Argument `bins` must be of type `int`. Received: bins={bins}")
    if bins < 0:
        raise ValueError(f"Argument `bins` should be a non-negative integer. Received: bins={bins}")
    if range:
        if not isinstance(range, tuple) or len(range) < 2:
            raise ValueError(f"Argument `range` must be a tuple of two elements. Received: range={range}")
        if range[1] < range[0]:
            raise ValueError(f"The second element of `range` must be greater than the first. Received: range={range}")
    x = _backend.convert_to_tensor(x)
    if x.ndim > 1:
        raise ValueError(f"Input tensor must be 1-dimensional. Received: input.shape={tuple(x.shape)}")
    return _impl.histogram(x, bins=bins, range=range)


@_numpy
def fabs(x):
    """The absolute value of real ``x``, as a float (integers become float32).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.fabs(torch.tensor([-1, 2]))
        tensor([1., 2.])
    """
    x = _backend.convert_to_tensor(x)
    if x.is_complex():
        raise TypeError(f"fabs does not support complex inputs. Received: x.dtype={x.dtype}")
    return _impl.fabs(x)


@_numpy
def eye(N, M=None, k=0, dtype=None):  # noqa: N803 - NumPy's names
    """An ``N`` x ``M`` matrix (``M`` defaults to ``N``; both ints) with ones on diagonal ``k``.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.eye(2, 3)
        tensor([[1., 0., 0.],
                [0., 1., 0.]])
    """
    for name, value in (("N", N), ("M", M)):
        if isinstance(value, float) or (_backend.is_tensor(value) and value.is_floating_point()):
            expected = "an integer or an integer tensor" + (", or `None`" if name == "M" else "")
            raise TypeError(f"Argument `{name}` must be {expected}.")
    return _impl.eye(N, M=M, k=k, dtype=dtype)


@_numpy
def pad(x, pad_width, mode="constant", constant_values=None):
    """``x`` padded by ``pad_width``: one ``(before, after)`` pair per axis, or one pair (or an
    int, for both sides) which, as on Keras's torch backend, pads the last axis.

    Args:
        mode: ``"constant"`` (``constant_values``, default 0), ``"reflect"`` or ``"symmetric"``.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.pad(torch.tensor([1, 2]), (1, 2))
        tensor([0, 1, 2, 0, 0])
    """
    x = _backend.convert_to_tensor(x)
    if isinstance(pad_width, int):
        pad_width = [(pad_width, pad_width)]
    elif isinstance(pad_width[0], int):
        pad_width = [pad_width]
    pairs = [tuple(p) * (2 // len(p)) if len(p) in (1, 2) else tuple(p) for p in pad_width]
    if len({len(p) for p in pad_width}) > 1 or {len(p) for p in pairs} != {2}:
        raise ValueError(f"`pad_width` should be a list of tuples of length 1 or 2. Received: pad_width={pad_width}")
    if len(pairs) > 1 and len(pairs) != x.ndim:
        raise ValueError(
            f"`pad_width` must have the same length as `x.shape`. Received: pad_width={pad_width} "
            f"(of length {len(pairs)}) and x.shape={tuple(x.shape)} (of length {x.ndim})"
        )
    return _impl.pad(x, pairs, mode=mode, constant_values=constant_values)


@_numpy
def searchsorted(sorted_sequence, values, side="left"):
    """Where ``values`` would be inserted into 1-D ``sorted_sequence`` to keep it sorted (``side``:
    ``"left"`` the first such index, ``"right"`` the last).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.searchsorted(torch.tensor([1, 3, 5]), torch.tensor([0, 3, 6]))
        tensor([0, 1, 3], dtype=torch.int32)
    """
    sequence, values = _backend.convert_to_tensor(sorted_sequence), _backend.convert_to_tensor(values)
    return _impl.searchsorted(sequence, values, side=side)


# Returns a function, not a tensor: never a graph node.
vectorize = _op(_vectorize.vectorize, "numpy", symbolic=False)


def ndim(x):
    """The rank of ``x``, a Python int (for a symbolic tensor too: its rank is known).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.ndim(torch.zeros(2, 3))
        2
    """
    return len(x.shape) if hasattr(x, "shape") else _ndim(x)


_ndim = _numpy(_impl.ndim)
size = _numpy(_impl.size)
