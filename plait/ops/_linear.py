"""Products (matmul, dot, tensordot, einsum...) and the divisions whose dtypes Keras fixes.

torch multiplies matrices of floats; Keras multiplies any dtype and gives the promoted one. So
a product computes in a float (float32 for integers, float32 for float16 on CPU, which has no
half matmul) and casts back to Keras's result dtype.

Example:
    >>> from plait.ops import _linear as lin
    >>> lin.matmul([[1, 2]], [[3], [4]]), lin.divide(7, 2.0), lin.floor_divide([7, -7], 2)
    (tensor([[11]], dtype=torch.int32), tensor(3.5000), tensor([ 3, -4], dtype=torch.int32))
"""

import torch

from plait.ops._backend import FLOATX, cast, convert_to_tensor, float_type, get_device, result_type
from plait.ops._elementwise import weak_dtype
from plait.ops._examples import add_examples


def _compute_dtype(result, on_gpu_ints=False):
    """The dtype a product of ``result`` dtype is computed in."""
    device = get_device().type
    if result == "float16" and device == "cpu":
        return "float32"
    if result == "bool" or (on_gpu_ints and device == "cuda" and "int" in result):
        return FLOATX
    return result


def _pair(x1, x2):
    return convert_to_tensor(x1), convert_to_tensor(x2)


def _product(fn, x1, x2, through_float=True):
    x1, x2 = _pair(x1, x2)
    result = result_type(x1.dtype, x2.dtype)
    compute = _compute_dtype(float_type(result) if through_float else result)
    return cast(fn(cast(x1, compute), cast(x2, compute)), result)


def matmul(x1, x2):
    """The matrix product of ``x1`` and ``x2`` (batched over leading dims, as NumPy's ``@``).
    Two int8 operands give int32.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.matmul(torch.tensor([[1, 2], [3, 4]]), torch.tensor([[1], [1]]))
        tensor([[3],
                [7]], dtype=torch.int32)
    """
    x1, x2 = _pair(x1, x2)
    int8 = x1.dtype == x2.dtype == torch.int8
    result = "int32" if int8 else result_type(x1.dtype, x2.dtype)
    compute = _compute_dtype(result, on_gpu_ints=True)
    return cast(torch.matmul(cast(x1, compute), cast(x2, compute)), result)


def _dot(a, b):
    return a * b if a.ndim == 0 or b.ndim == 0 else torch.matmul(a, b)


# The products that differ only in their torch function: name -> (function, what it computes).
PRODUCTS = {
    "dot": (_dot, "The dot product: a product with a scalar, vectors' inner product, or a matrix product."),
    "inner": (torch.inner, "The inner product over the last axes of ``x1`` and ``x2``."),
    "vdot": (torch.vdot, "The dot product of two 1-D vectors, conjugating the first."),
}


def _product_op(name, fn, summary):
    def op(x1, x2):
        return _product(fn, x1, x2)

    op.__doc__ = f"{summary}\n\nIntegers and bool give Keras's promoted dtype (computed in float32)."
    op.__name__ = op.__qualname__ = name
    return op


dot, inner, vdot = (_product_op(name, *spec) for name, spec in PRODUCTS.items())

# name: (an example call, what it prints), added to each table op's docstring for the doctest run.
EXAMPLES = {
    "dot": ("ops.dot(torch.tensor([1, 2, 3]), torch.tensor([4, 5, 6]))", "tensor(32, dtype=torch.int32)"),
    "inner": ("ops.inner(torch.tensor([1, 2]), torch.tensor([3, 4]))", "tensor(11, dtype=torch.int32)"),
    "vdot": ("ops.vdot(torch.tensor([1, 2]), torch.tensor([3, 4]))", "tensor(11, dtype=torch.int32)"),
}
add_examples({op.__name__: op for op in (dot, inner, vdot)}, EXAMPLES)


def tensordot(x1, x2, axes=2):
    """The sum of products over ``axes``: an int (the last ``axes`` of ``x1`` with the first of
    ``x2``) or two lists of axes, one per operand.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.tensordot(torch.ones(2, 3), torch.ones(3, 4), axes=1).shape
        torch.Size([2, 4])
    """
    # torch wants each side's axes as a sequence; NumPy also takes a bare int per side
    dims = axes if isinstance(axes, int) else tuple((a,) if isinstance(a, int) else tuple(a) for a in axes)
    return _product(lambda a, b: torch.tensordot(a, b, dims=dims), x1, x2)


def einsum(subscripts, *operands, **kwargs):
    """Einstein summation of ``operands`` as ``subscripts`` spells it (``"ij,jk->ik"``). int8
    operands give int32 (computed wider, so sums do not overflow).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.einsum("ij,j->i", torch.tensor([[1, 2], [3, 4]]), torch.tensor([1, 1]))
        tensor([3, 7])
    """
    tensors = [convert_to_tensor(x) for x in operands]
    if tensors and all(x.dtype == torch.int8 for x in tensors):
        compute = FLOATX if get_device().type == "cuda" else "int32"  # no integer einsum on CUDA
        return cast(torch.einsum(subscripts, *(cast(x, compute) for x in tensors)), "int32")
    return torch.einsum(subscripts, *tensors)


def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """The cross product of 3-vectors along ``axis`` (default: the last).

    Args:
        axisa, axisb, axisc: must stay -1 on torch; ``axis`` picks the axis of all three.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.cross(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]))
        tensor([0., 0., 1.])
    """
    if (axisa, axisb, axisc) != (-1, -1, -1):
        raise ValueError(
            f"cross: on torch, `axisa`, `axisb` and `axisc` must be -1 (use `axis` for all three). "
            f"Received: axisa={axisa}, axisb={axisb}, axisc={axisc}."
        )
    x1, x2 = _pair(x1, x2)
    result = result_type(x1.dtype, x2.dtype)
    compute = _compute_dtype(result)
    if compute == "bfloat16" and get_device().type == "cuda":
        compute = "float32"
    dim = -1 if axis is None else axis
    return cast(torch.linalg.cross(cast(x1, compute), cast(x2, compute), dim=dim), result)


# ----------------------------------------------------------------------------- divisions
def _scalar_or_tensor(x):
    # Python numbers stay numbers: torch then treats them as weak scalars.
    return x if isinstance(x, (int, float)) else convert_to_tensor(x)


def divide(x1, x2):
    """True division ``x1 / x2``: integers divide to float32.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.divide(torch.tensor([1, 3]), torch.tensor([2, 4]))
        tensor([0.5000, 0.7500])
    """
    return torch.divide(_scalar_or_tensor(x1), _scalar_or_tensor(x2))


def true_divide(x1, x2):
    """True division ``x1 / x2`` (same as ``divide``).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.true_divide(torch.tensor([1, 3]), torch.tensor([2, 4]))
        tensor([0.5000, 0.7500])
    """
    return divide(x1, x2)


def floor_divide(x1, x2):
    """``x1 // x2``: the largest integer at or below the quotient, in the operands' promoted
    dtype (Python numbers weak).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.floor_divide(torch.tensor([7, -7]), torch.tensor([2, 2]))
        tensor([ 3, -4], dtype=torch.int32)
    """
    a, b = _scalar_or_tensor(x1), _scalar_or_tensor(x2)
    dtype = result_type(*(type(v) if isinstance(v, (int, float)) else v.dtype for v in (a, b)))
    return cast(torch.floor_divide(a, b), dtype)


def divide_no_nan(x1, x2):
    """``x1 / x2``, with 0 where ``x2`` is 0 (instead of inf or NaN).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.divide_no_nan(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 2.0]))
        tensor([0.0000, 1.5000])
    """
    t1, t2 = convert_to_tensor(x1), convert_to_tensor(x2)
    dtype = result_type(weak_dtype(x1, t1), weak_dtype(x2, t2), float)
    t1, t2 = cast(t1, dtype), cast(t2, dtype)
    zero = t2 == 0
    return torch.where(zero, 0, t1 / torch.where(zero, torch.ones_like(t2), t2))


def ldexp(x1, x2):
    """``x1 * 2 ** x2``, with integer exponents ``x2``.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.ldexp(torch.tensor([1.0, 3.0]), torch.tensor([2, 1]))
        tensor([4., 6.])
    """
    x1, x2 = _pair(x1, x2)
    if x2.is_floating_point() or x2.is_complex() or x2.dtype == torch.bool:
        raise TypeError(f"ldexp exponent must be an integer type. Received: x2 dtype={x2.dtype}")
    return cast(torch.ldexp(x1, x2), float_type(x1.dtype, x2.dtype))


def nextafter(x1, x2):
    """The next float after ``x1`` in the direction of ``x2`` (in float64, then Keras's dtype).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.nextafter(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 2.0]))
        tensor([1., 2.])
    """
    x1, x2 = _pair(x1, x2)
    return cast(torch.nextafter(x1.double(), x2.double()), float_type(x1.dtype, x2.dtype))


def _close(x1, x2, rtol, atol, equal_nan):
    x1, x2 = _pair(x1, x2)
    dtype = result_type(x1.dtype, x2.dtype)
    x1, x2 = cast(x1, dtype), cast(x2, dtype)
    # integers are close when equal; floats within the tolerances
    return torch.isclose(x1, x2, rtol, atol, equal_nan) if "float" in dtype else x1 == x2


def isclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    """Whether ``|x1 - x2| <= atol + rtol * |x2|``, element-wise (equality for integers).

    Args:
        equal_nan: count two NaNs as close.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.isclose(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.1]))
        tensor([ True, False])
    """
    return _close(x1, x2, rtol, atol, equal_nan)


def allclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    """Whether every element of ``x1`` and ``x2`` is close (see :func:`isclose`).

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.allclose(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0 + 1e-9]))
        tensor(True)
    """
    return torch.all(_close(x1, x2, rtol, atol, equal_nan))
