"""Ops that make tensors: filled, ranges, identity-like matrices, windows.

New tensors go to :func:`get_device` (the inputs' device, or meta during shape inference); the
default dtype is float32, or what Keras's promotion gives the arguments (``arange(5)`` is int32).

Example:
    >>> from plait.ops import _creation as c
    >>> c.arange(3), c.eye(2, 3, k=1), c.linspace(0, 1, 3)
    (tensor([0, 1, 2], dtype=torch.int32), tensor([[0., 1., 0.],
            [0., 0., 1.]]), tensor([0.0000, 0.5000, 1.0000]))
"""

import torch

from plait.ops._backend import FLOATX, cast, convert_to_tensor, get_device, result_type, to_torch_dtype
from plait.ops._examples import add_examples


def _shape(shape):
    return (shape,) if isinstance(shape, int) else tuple(shape)


def _dtype(dtype):
    return to_torch_dtype(dtype or FLOATX)


def full(shape, fill_value, dtype=None):
    """A tensor of ``shape`` filled with ``fill_value`` (a scalar, or a tensor repeated over the
    leading dims), of ``dtype`` (float32 by default, whatever the fill value's type).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.full((2, 2), 7)
        tensor([[7., 7.],
                [7., 7.]])
    """
    fill = convert_to_tensor(fill_value, dtype=dtype or FLOATX)
    shape = _shape(shape)
    if fill.ndim:
        return torch.tile(fill, shape[: len(shape) - fill.ndim] + (1,) * fill.ndim)
    # expand, not torch.full: full reads the fill's value, which a meta tensor has not
    return fill.expand(shape).contiguous()


def full_like(x, fill_value, dtype=None):
    """``fill_value`` in ``x``'s shape, and its dtype unless ``dtype``.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.full_like(torch.tensor([1, 2, 3]), 9)
        tensor([9, 9, 9])
    """
    x = convert_to_tensor(x)
    return full(x.shape, fill_value, dtype=dtype or x.dtype)


def array(x, dtype=None):
    """``x`` as a tensor (as :func:`plait.ops.convert_to_tensor`).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.array([[1, 2], [3, 4]]).shape
        torch.Size([2, 2])
    """
    return convert_to_tensor(x, dtype=dtype)


def _promoted(*values):
    # Python numbers count as weak; `float` itself (a type) stands for one
    return result_type(*(v if isinstance(v, type) else getattr(v, "dtype", type(v)) for v in values if v is not None))


def arange(start, stop=None, step=None, dtype=None):
    """Evenly spaced values in ``[start, stop)`` (``[0, start)`` when ``stop`` is None), ``step``
    apart; ints give int32, floats float32, unless ``dtype``.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.arange(1, 7, 2)
        tensor([1, 3, 5], dtype=torch.int32)
    """
    dtype = to_torch_dtype(dtype or _promoted(start, stop, step))
    if stop is None:
        start, stop = 0, start
    return torch.arange(start, stop, 1 if step is None else step, dtype=dtype, device=get_device())


def eye(N, M=None, k=0, dtype=None):  # noqa: N803 - NumPy's names
    """An ``N`` x ``M`` matrix with ones on diagonal ``k`` (above the main one when positive)."""
    rows = torch.arange(N, device=get_device())[:, None]
    cols = torch.arange(N if M is None else M, device=get_device())
    return (cols - rows == (k or 0)).to(_dtype(dtype))


def identity(n, dtype=None):
    """The ``n`` x ``n`` identity matrix.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.identity(2)
        tensor([[1., 0.],
                [0., 1.]])
    """
    return eye(n, dtype=dtype)


def tri(N, M=None, k=0, dtype=None):  # noqa: N803 - NumPy's names
    """An ``N`` x ``M`` matrix with ones at and below diagonal ``k``, zeros above.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.tri(3)
        tensor([[1., 0., 0.],
                [1., 1., 0.],
                [1., 1., 1.]])
    """
    return torch.tril(torch.ones((N, M or N), dtype=_dtype(dtype), device=get_device()), diagonal=k)


def _check_axis(name, axis):
    if axis != 0:
        raise ValueError(f"torch does not support an `axis` argument for {name}. Received axis={axis}")


def _per_element(start, stop):
    return hasattr(start, "__len__") and hasattr(stop, "__len__")


def _interpolated(start, stop, num, dtype):
    # Array endpoints: each element has its own line from start to stop (stacked on axis 0).
    start, stop = convert_to_tensor(start, dtype=dtype), convert_to_tensor(stop, dtype=dtype)
    fractions = torch.arange(num, dtype=dtype, device=get_device()) / (num - 1)
    return start[None] + fractions.reshape((num,) + (1,) * start.ndim) * (stop - start)[None]


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """``num`` evenly spaced values from ``start`` to ``stop`` (included unless ``endpoint`` is
    False).

    Args:
        retstep: also return the spacing between values.
        axis: must be 0 (torch places the values on the first axis).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.linspace(0.0, 1.0, 5)
        tensor([0.0000, 0.2500, 0.5000, 0.7500, 1.0000])
    """
    _check_axis("linspace", axis)
    dtype = to_torch_dtype(dtype or _promoted(start, stop, float))
    # NumPy's spacing: the span over the gaps between values (one more without the endpoint)
    gaps = num - 1 if endpoint else num
    step = (stop - start) / gaps if gaps > 0 else convert_to_tensor(float("nan"))
    if not endpoint and num > 1:
        stop = stop - step
    if _per_element(start, stop):
        values = _interpolated(start, stop, num, dtype)
    else:
        values = torch.linspace(start, stop, num, dtype=dtype, device=get_device())
    return (values, step) if retstep is True else values


def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    """``num`` values from ``base ** start`` to ``base ** stop``, evenly spaced in log scale.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.logspace(0.0, 2.0, 3)
        tensor([  1.,  10., 100.])
    """
    _check_axis("logspace", axis)
    dtype = to_torch_dtype(dtype or _promoted(start, stop, float))
    if not endpoint:
        stop = stop - (stop - start) / num
    if _per_element(start, stop):
        return base ** _interpolated(start, stop, num, dtype)
    # torch has no float16 logspace on CPU: float32, then rounded
    compute = torch.float32 if dtype == torch.float16 and get_device().type == "cpu" else dtype
    return torch.logspace(start, stop, num, base=base, dtype=compute, device=get_device()).to(dtype)


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """``num`` values from ``start`` to ``stop``, evenly spaced in log scale (a geometric
    progression; the sign follows ``start``).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.geomspace(1.0, 1000.0, 4)
        tensor([   1.,   10.,  100., 1000.])
    """
    _check_axis("geomspace", axis)
    dtype = to_torch_dtype(dtype or _promoted(start, stop, float))
    start, stop = convert_to_tensor(start, dtype=dtype), convert_to_tensor(stop, dtype=dtype)
    exponents = torch.log10(start.abs()), torch.log10(stop.abs())
    return logspace(*exponents, num=num, endpoint=endpoint, base=10, dtype=dtype) * torch.sign(start)


def meshgrid(*x, indexing="xy"):
    """Coordinate grids from 1-D coordinate vectors (``indexing``: ``"xy"`` Cartesian or ``"ij"``
    matrix).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> [g.shape for g in ops.meshgrid(torch.tensor([1, 2, 3]), torch.tensor([4, 5]))]
        [torch.Size([2, 3]), torch.Size([2, 3])]
    """
    return torch.meshgrid([convert_to_tensor(v) for v in x], indexing=indexing)


def vander(x, N=None, increasing=False):  # noqa: N803 - NumPy's name
    """The Vandermonde matrix of 1-D ``x``: columns are powers of ``x``, highest first unless
    ``increasing``; ``N`` columns (``len(x)`` by default).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.vander(torch.tensor([1, 2, 3]))
        tensor([[1, 1, 1],
                [4, 2, 1],
                [9, 3, 1]], dtype=torch.int32)
    """
    x = convert_to_tensor(x)
    return cast(torch.vander(x, N=N, increasing=increasing), result_type(x.dtype))


# The window functions: name -> (torch window, what it is).
WINDOWS = {
    "bartlett": (torch.signal.windows.bartlett, "The Bartlett (triangular) window of ``x`` points."),
    "blackman": (torch.signal.windows.blackman, "The Blackman window of ``x`` points."),
    "hamming": (torch.signal.windows.hamming, "The Hamming window of ``x`` points."),
    "hanning": (torch.signal.windows.hann, "The Hann (Hanning) window of ``x`` points."),
}


def _window(name, fn, summary):
    def window(x):
        return fn(int(x), device=get_device())

    window.__name__ = window.__qualname__ = name
    window.__doc__ = f"{summary}\n\nArgs:\n    x: the number of points (an int)."
    return window


bartlett, blackman, hamming, hanning = (_window(name, *spec) for name, spec in WINDOWS.items())


def kaiser(x, beta):
    """The Kaiser window of ``x`` points, shaped by ``beta`` (0: rectangular; larger: narrower).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.kaiser(3, 0.0)
        tensor([1., 1., 1.])
    """
    return torch.signal.windows.kaiser(int(x), beta=beta, device=get_device())


# The ops that make a tensor from a shape, or from another tensor's shape: name -> (torch
# function, what is in it).
FILLED = {
    "zeros": (torch.zeros, "zeros"),
    "ones": (torch.ones, "ones"),
    "empty": (torch.empty, "unspecified values"),
}
LIKE = {
    "zeros_like": (torch.zeros_like, "zeros"),
    "ones_like": (torch.ones_like, "ones"),
    "empty_like": (torch.empty_like, "unspecified values"),
}


def _filled(name, make, content):
    def op(shape, dtype=None):
        return make(_shape(shape), dtype=_dtype(dtype), device=get_device())

    op.__doc__ = f"A tensor of ``shape`` (an int or a tuple) holding {content}; float32 unless ``dtype``."
    op.__name__ = op.__qualname__ = name
    return op


def _like(name, make, content):
    def op(x, dtype=None):
        x = convert_to_tensor(x)
        return make(x, dtype=to_torch_dtype(dtype or x.dtype))

    op.__doc__ = f"A tensor of ``x``'s shape holding {content}, of ``x``'s dtype unless ``dtype``."
    op.__name__ = op.__qualname__ = name
    return op


zeros, ones, empty = (_filled(name, *spec) for name, spec in FILLED.items())
zeros_like, ones_like, empty_like = (_like(name, *spec) for name, spec in LIKE.items())

# name: (an example call, what it prints), added to each table op's docstring for the doctest run.
EXAMPLES = {
    "bartlett": ("ops.bartlett(5)", "tensor([0.0000, 0.5000, 1.0000, 0.5000, 0.0000])"),
    "blackman": ("ops.blackman(5)[1:4]", "tensor([0.3400, 1.0000, 0.3400])"),
    "empty": ("ops.empty((2, 3)).shape", "torch.Size([2, 3])"),
    "empty_like": ("ops.empty_like(torch.zeros(2, 3)).shape", "torch.Size([2, 3])"),
    "hamming": ("ops.hamming(3)", "tensor([0.0800, 1.0000, 0.0800])"),
    "hanning": ("ops.hanning(3)", "tensor([0., 1., 0.])"),
    "ones": ("ops.ones((2,))", "tensor([1., 1.])"),
    "ones_like": ("ops.ones_like(torch.tensor([[1, 2]]))", "tensor([[1, 1]])"),
    "zeros": ("ops.zeros((2,))", "tensor([0., 0.])"),
    "zeros_like": ("ops.zeros_like(torch.tensor([1.5, 2.5]))", "tensor([0., 0.])"),
}
add_examples(
    {
        op.__name__: op
        for op in (bartlett, blackman, hamming, hanning, zeros, ones, empty, zeros_like, ones_like, empty_like)
    },
    EXAMPLES,
)
