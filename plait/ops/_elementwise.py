"""Element-wise NumPy ops as data: each is a torch function and the dtype rule Keras applies.

An op here converts its inputs (:func:`convert_to_tensor`), casts them by its *rule* and calls
its torch function. The rules are the ways Keras's numbers differ from "just call torch":

``None``
    torch's own promotion (Python scalars are 0-d tensors: ``int8 + 2`` stays int8).
``"float"``
    integers and bool are computed in the default float (float32); floats stay as they are.
``"float32"``
    as ``float``, and float64 narrows to float32 too (Keras's ``result_type(x, float)``).
``"wide"``
    as ``float``, but int64 becomes float64, keeping its precision.
``"common"``, ``"common_weak"``
    both operands cast to Keras's :func:`result_type` (Python scalars weak in the second).
``"float_of_common"``
    the common dtype, made float (float32) when it is an integer; bool stays bool.

Example:
    >>> from plait.ops import _elementwise as ew
    >>> ew.sqrt([4, 9]), ew.maximum([1, 5], 3.0)
    (tensor([2., 3.]), tensor([3., 5.]))
"""

import torch

from plait.ops._backend import FLOATX, cast, convert_to_tensor, float_type, get_device, result_type
from plait.ops._dtypes import float_or_wide

_FLOAT_KINDS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _is_float(x):
    return x.dtype in _FLOAT_KINDS or x.is_complex()


def _float(x):
    return x if _is_float(x) else cast(x, FLOATX)


_UNARY_RULES = {
    None: lambda x: x,
    "float": _float,
    "float32": lambda x: cast(x, float_type(x.dtype)),
    "wide": lambda x: cast(x, float_or_wide(x.dtype)),
    "int_for_bool": lambda x: cast(x, "int32") if x.dtype == torch.bool else x,
}


def _cbrt(x):
    return x.sign() * x.abs().pow(1.0 / 3.0)


def _unchanged_bool(fn):
    # Keras returns bool inputs of abs and trunc as they are (torch has no bool kernel).
    return lambda x: x if x.dtype == torch.bool else fn(x)


# name: (torch function, rule, what the op computes)
UNARY = {
    "abs": (_unchanged_bool(torch.abs), None, "The absolute value of ``x``, element-wise."),
    "absolute": (_unchanged_bool(torch.abs), None, "The absolute value of ``x`` (same as ``abs``)."),
    "angle": (torch.angle, "float", "The angle of complex ``x`` in radians (0 or pi for real ``x``)."),
    "arccos": (torch.arccos, "float", "Inverse cosine, element-wise."),
    "arccosh": (torch.arccosh, "float", "Inverse hyperbolic cosine, element-wise."),
    "arcsin": (torch.arcsin, "float", "Inverse sine, element-wise."),
    "arcsinh": (torch.arcsinh, "float", "Inverse hyperbolic sine, element-wise."),
    "arctan": (torch.arctan, "float", "Inverse tangent, element-wise."),
    "arctanh": (torch.arctanh, "float", "Inverse hyperbolic tangent, element-wise."),
    "bitwise_invert": (torch.bitwise_not, None, "Bit-wise NOT of integer or bool ``x``."),
    "bitwise_not": (torch.bitwise_not, None, "Bit-wise NOT of integer or bool ``x`` (same as ``bitwise_invert``)."),
    "cbrt": (_cbrt, "wide", "The real cube root of ``x``, element-wise."),
    "ceil": (torch.ceil, "float32", "The smallest integer-valued float at or above ``x``, element-wise."),
    "conj": (lambda x: torch.conj(x).resolve_conj(), None, "The complex conjugate of ``x``, element-wise."),
    "conjugate": (lambda x: torch.conj(x).resolve_conj(), None, "The complex conjugate (same as ``conj``)."),
    "copy": (torch.clone, None, "A copy of ``x``."),
    "cos": (torch.cos, "float", "Cosine, element-wise."),
    "cosh": (torch.cosh, "float", "Hyperbolic cosine, element-wise."),
    "deg2rad": (torch.deg2rad, "wide", "Degrees converted to radians."),
    "exp": (torch.exp, "float", "``e ** x``, element-wise."),
    "exp2": (torch.exp2, "float", "``2 ** x``, element-wise."),
    "expm1": (torch.expm1, "float", "``exp(x) - 1``, accurate for small ``x``."),
    "floor": (torch.floor, "float32", "The largest integer-valued float at or below ``x``, element-wise."),
    "fliplr": (torch.fliplr, None, "``x`` with its axis 1 reversed (left-right)."),
    "flipud": (torch.flipud, None, "``x`` with its axis 0 reversed (up-down)."),
    "i0": (torch.i0, "wide", "The modified Bessel function of the first kind, order 0."),
    "imag": (torch.imag, None, "The imaginary part of complex ``x``."),
    "isfinite": (torch.isfinite, None, "Whether each element is finite (neither inf nor NaN)."),
    "isinf": (torch.isinf, None, "Whether each element is positive or negative infinity."),
    "isnan": (torch.isnan, None, "Whether each element is NaN."),
    "isneginf": (torch.isneginf, None, "Whether each element is negative infinity."),
    "isposinf": (torch.isposinf, None, "Whether each element is positive infinity."),
    "isreal": (torch.isreal, None, "Whether each element has no imaginary part."),
    "log": (torch.log, "float", "Natural logarithm, element-wise."),
    "log10": (torch.log10, "float", "Base-10 logarithm, element-wise."),
    "log1p": (torch.log1p, "float", "``log(1 + x)``, accurate for small ``x``."),
    "log2": (torch.log2, "float", "Base-2 logarithm, element-wise."),
    "logical_not": (torch.logical_not, None, "Logical NOT: True where ``x`` is zero or False."),
    "negative": (torch.negative, None, "``-x``, element-wise."),
    "rad2deg": (torch.rad2deg, "wide", "Radians converted to degrees."),
    "ravel": (torch.ravel, None, "``x`` flattened to one dimension."),
    "real": (torch.real, None, "The real part of ``x``."),
    "reciprocal": (torch.reciprocal, "float", "``1 / x``, element-wise."),
    "sign": (torch.sign, None, "-1, 0 or 1: the sign of each element."),
    "signbit": (torch.signbit, None, "Whether each element's sign bit is set (negative, or -0.0)."),
    "sin": (torch.sin, "float", "Sine, element-wise."),
    "sinc": (torch.sinc, "float", "The normalized sinc function ``sin(pi x) / (pi x)``."),
    "sinh": (torch.sinh, "float", "Hyperbolic sine, element-wise."),
    "sqrt": (torch.sqrt, "float", "Non-negative square root, element-wise."),
    "square": (torch.square, "int_for_bool", "``x * x``, element-wise (bool counts as int32)."),
    "tan": (torch.tan, "float", "Tangent, element-wise."),
    "tanh": (torch.tanh, "float", "Hyperbolic tangent, element-wise."),
    "trunc": (_unchanged_bool(torch.trunc), None, "``x`` rounded toward zero, element-wise."),
}


def weak_dtype(value, tensor):
    """The dtype a promotion sees for ``value``: Python scalars stay weak (``int``, ``float``)."""
    return type(value) if isinstance(value, (int, float)) else tensor.dtype


def _float_unless_bool(dtype):
    return dtype if dtype == "bool" or "float" in dtype or "complex" in dtype else FLOATX


_BINARY_RULES = {
    "common": lambda x1, x2, a, b: result_type(x1.dtype, x2.dtype),
    "common_weak": lambda x1, x2, a, b: result_type(weak_dtype(a, x1), weak_dtype(b, x2)),
    "float": lambda x1, x2, a, b: float_type(x1.dtype, x2.dtype),
    "float_of_common": lambda x1, x2, a, b: _float_unless_bool(result_type(x1.dtype, x2.dtype)),
}


def _remainder(fn):
    # Keras computes the remainder of two bools in int32 (torch has no bool kernel).
    def compute(x1, x2):
        if x1.dtype == x2.dtype == torch.bool:
            x1, x2 = x1.int(), x2.int()
        return fn(x1, x2)

    return compute


def _subtract(x1, x2):
    # A bool operand takes the other's dtype (torch refuses bool subtraction); two bools fail.
    if x1.dtype == torch.bool:
        x1 = x1.to(x2.dtype)
    if x2.dtype == torch.bool:
        x2 = x2.to(x1.dtype)
    return torch.subtract(x1, x2)


# name: (torch function, rule, what the op computes)
BINARY = {
    "add": (torch.add, None, "``x1 + x2``, element-wise, with broadcasting."),
    "arctan2": (
        torch.arctan2,
        "float",
        "``arctan(x1 / x2)`` in the quadrant of the point ``(x2, x1)``.",
    ),
    "equal": (torch.eq, None, "``x1 == x2``, element-wise."),
    "fmax": (torch.fmax, "common_weak", "The larger of ``x1`` and ``x2``, ignoring NaNs."),
    "fmin": (torch.fmin, "common_weak", "The smaller of ``x1`` and ``x2``, ignoring NaNs."),
    "fmod": (_remainder(torch.fmod), None, "The remainder of ``x1 / x2`` with the sign of ``x1`` (C's fmod)."),
    "gcd": (torch.gcd, None, "The greatest common divisor of integers ``x1`` and ``x2``."),
    "greater": (torch.gt, None, "``x1 > x2``, element-wise."),
    "greater_equal": (torch.ge, None, "``x1 >= x2``, element-wise."),
    "heaviside": (
        torch.heaviside,
        "float_of_common",
        "Step function: 0 below zero, ``x2`` at zero, 1 above.",
    ),
    "hypot": (torch.hypot, "float_of_common", "``sqrt(x1**2 + x2**2)``, element-wise."),
    "kron": (torch.kron, None, "The Kronecker product of ``x1`` and ``x2``."),
    "lcm": (torch.lcm, None, "The least common multiple of integers ``x1`` and ``x2``."),
    "less": (torch.lt, None, "``x1 < x2``, element-wise."),
    "less_equal": (torch.le, None, "``x1 <= x2``, element-wise."),
    "logaddexp": (torch.logaddexp, "float", "``log(exp(x1) + exp(x2))``, computed stably."),
    "logaddexp2": (torch.logaddexp2, "float", "``log2(2**x1 + 2**x2)``, computed stably."),
    "logical_and": (torch.logical_and, None, "Logical AND of the truth values of ``x1`` and ``x2``."),
    "logical_or": (torch.logical_or, None, "Logical OR of the truth values of ``x1`` and ``x2``."),
    "logical_xor": (torch.logical_xor, None, "Logical XOR of the truth values of ``x1`` and ``x2``."),
    "maximum": (torch.maximum, "common_weak", "The larger of ``x1`` and ``x2``, element-wise (NaN wins)."),
    "minimum": (torch.minimum, "common_weak", "The smaller of ``x1`` and ``x2``, element-wise (NaN wins)."),
    "mod": (_remainder(torch.remainder), None, "The remainder of ``x1 / x2`` with the sign of ``x2`` (Python's %)."),
    "multiply": (torch.multiply, None, "``x1 * x2``, element-wise, with broadcasting."),
    "not_equal": (torch.ne, None, "``x1 != x2``, element-wise."),
    "outer": (lambda a, b: torch.outer(a.flatten(), b.flatten()), None, "The outer product of flattened inputs."),
    "power": (torch.pow, None, "``x1 ** x2``, element-wise."),
    "subtract": (_subtract, None, "``x1 - x2``, element-wise, with broadcasting."),
}
# Keras names these operands (x, y).
BITWISE = {
    "bitwise_and": (torch.bitwise_and, "Bit-wise AND of integer or bool ``x`` and ``y``."),
    "bitwise_or": (torch.bitwise_or, "Bit-wise OR of integer or bool ``x`` and ``y``."),
    "bitwise_xor": (torch.bitwise_xor, "Bit-wise XOR of integer or bool ``x`` and ``y``."),
    "bitwise_left_shift": (torch.bitwise_left_shift, "``x`` shifted left by ``y`` bits."),
    "left_shift": (torch.bitwise_left_shift, "``x`` shifted left by ``y`` bits (same as ``bitwise_left_shift``)."),
    "bitwise_right_shift": (torch.bitwise_right_shift, "``x`` shifted right by ``y`` bits."),
    "right_shift": (torch.bitwise_right_shift, "``x`` shifted right by ``y`` bits (same as ``bitwise_right_shift``)."),
}
_SHIFTS = ("bitwise_left_shift", "left_shift", "bitwise_right_shift", "right_shift")

# name: (the arguments of its example call, what the call prints). Rendered into each op's
# docstring, so the doctest run checks every op of the tables above on a real input.
EXAMPLES = {
    "abs": ("torch.tensor([-2, 0, 3])", "tensor([2, 0, 3])"),
    "absolute": ("torch.tensor([-1.5, 2.0])", "tensor([1.5000, 2.0000])"),
    "angle": ("torch.tensor([1.0, -1.0])", "tensor([0.0000, 3.1416])"),
    "arccos": ("torch.tensor([1.0, 0.0])", "tensor([0.0000, 1.5708])"),
    "arccosh": ("torch.tensor([1.0])", "tensor([0.])"),
    "arcsin": ("torch.tensor([0.0, 1.0])", "tensor([0.0000, 1.5708])"),
    "arcsinh": ("torch.tensor([0.0])", "tensor([0.])"),
    "arctan": ("torch.tensor([0.0, 1.0])", "tensor([0.0000, 0.7854])"),
    "arctanh": ("torch.tensor([0.0, 0.5])", "tensor([0.0000, 0.5493])"),
    "bitwise_invert": ("torch.tensor([0, 5])", "tensor([-1, -6])"),
    "bitwise_not": ("torch.tensor([True, False])", "tensor([False,  True])"),
    "cbrt": ("torch.tensor([-8.0, 27.0])", "tensor([-2.,  3.])"),
    "ceil": ("torch.tensor([-1.5, 0.2, 2.0])", "tensor([-1.,  1.,  2.])"),
    "conj": ("torch.tensor([1 + 2j])", "tensor([1.-2.j])"),
    "conjugate": ("torch.tensor([3 - 1j])", "tensor([3.+1.j])"),
    "copy": ("torch.tensor([1, 2])", "tensor([1, 2])"),
    "cos": ("torch.tensor([0.0])", "tensor([1.])"),
    "cosh": ("torch.tensor([0.0])", "tensor([1.])"),
    "deg2rad": ("torch.tensor([180.0])", "tensor([3.1416])"),
    "exp": ("torch.tensor([0.0, 1.0])", "tensor([1.0000, 2.7183])"),
    "exp2": ("torch.tensor([0, 3])", "tensor([1., 8.])"),
    "expm1": ("torch.tensor([0.0])", "tensor([0.])"),
    "floor": ("torch.tensor([-1.5, 0.2, 2.0])", "tensor([-2.,  0.,  2.])"),
    "fliplr": ("torch.tensor([[1, 2], [3, 4]])", "tensor([[2, 1],\n        [4, 3]])"),
    "flipud": ("torch.tensor([[1, 2], [3, 4]])", "tensor([[3, 4],\n        [1, 2]])"),
    "i0": ("torch.tensor([0.0])", "tensor([1.0000])"),
    "imag": ("torch.tensor([1 + 2j])", "tensor([2.])"),
    "isfinite": ('torch.tensor([1.0, float("inf"), float("nan")])', "tensor([ True, False, False])"),
    "isinf": ('torch.tensor([1.0, float("inf"), -float("inf")])', "tensor([False,  True,  True])"),
    "isnan": ('torch.tensor([1.0, float("nan")])', "tensor([False,  True])"),
    "isneginf": ('torch.tensor([float("inf"), -float("inf")])', "tensor([False,  True])"),
    "isposinf": ('torch.tensor([float("inf"), -float("inf")])', "tensor([ True, False])"),
    "isreal": ("torch.tensor([1 + 0j, 1 + 1j])", "tensor([ True, False])"),
    "log": ("torch.tensor([1.0])", "tensor([0.])"),
    "log10": ("torch.tensor([1, 100])", "tensor([0., 2.])"),
    "log1p": ("torch.tensor([0.0])", "tensor([0.])"),
    "log2": ("torch.tensor([1, 8])", "tensor([0., 3.])"),
    "logical_not": ("torch.tensor([0, 3])", "tensor([ True, False])"),
    "negative": ("torch.tensor([1, -2])", "tensor([-1,  2])"),
    "rad2deg": ("torch.tensor([0.0])", "tensor([0.])"),
    "ravel": ("torch.tensor([[1, 2], [3, 4]])", "tensor([1, 2, 3, 4])"),
    "real": ("torch.tensor([1 + 2j])", "tensor([1.])"),
    "reciprocal": ("torch.tensor([2, 4])", "tensor([0.5000, 0.2500])"),
    "sign": ("torch.tensor([-3, 0, 2])", "tensor([-1,  0,  1])"),
    "signbit": ("torch.tensor([-1.0, -0.0, 2.0])", "tensor([ True,  True, False])"),
    "sin": ("torch.tensor([0.0])", "tensor([0.])"),
    "sinc": ("torch.tensor([0.0, 0.5])", "tensor([1.0000, 0.6366])"),
    "sinh": ("torch.tensor([0.0])", "tensor([0.])"),
    "sqrt": ("torch.tensor([4, 9])", "tensor([2., 3.])"),
    "square": ("torch.tensor([-3, 2])", "tensor([9, 4])"),
    "tan": ("torch.tensor([0.0])", "tensor([0.])"),
    "tanh": ("torch.tensor([0.0])", "tensor([0.])"),
    "trunc": ("torch.tensor([-1.7, 1.7])", "tensor([-1.,  1.])"),
    "add": ("torch.tensor([1, 2]), torch.tensor([10, 20])", "tensor([11, 22])"),
    "arctan2": ("torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.0])", "tensor([0.0000, 1.5708])"),
    "equal": ("torch.tensor([1, 2]), torch.tensor([1, 3])", "tensor([ True, False])"),
    "fmax": ('torch.tensor([1.0, float("nan")]), torch.tensor([2.0, 0.0])', "tensor([2., 0.])"),
    "fmin": ('torch.tensor([1.0, float("nan")]), torch.tensor([2.0, 0.0])', "tensor([1., 0.])"),
    "fmod": ("torch.tensor([-7, 7]), torch.tensor([3, 3])", "tensor([-1,  1])"),
    "gcd": ("torch.tensor([12, 9]), torch.tensor([18, 6])", "tensor([6, 3])"),
    "greater": ("torch.tensor([1, 3]), torch.tensor([2, 2])", "tensor([False,  True])"),
    "greater_equal": ("torch.tensor([1, 2]), torch.tensor([2, 2])", "tensor([False,  True])"),
    "heaviside": ("torch.tensor([-1.0, 0.0, 2.0]), torch.tensor([0.5])", "tensor([0.0000, 0.5000, 1.0000])"),
    "hypot": ("torch.tensor([3.0]), torch.tensor([4.0])", "tensor([5.])"),
    "kron": ("torch.tensor([1, 2]), torch.tensor([1, 10])", "tensor([ 1, 10,  2, 20])"),
    "lcm": ("torch.tensor([4, 6]), torch.tensor([6, 4])", "tensor([12, 12])"),
    "less": ("torch.tensor([1, 3]), torch.tensor([2, 2])", "tensor([ True, False])"),
    "less_equal": ("torch.tensor([1, 2]), torch.tensor([2, 1])", "tensor([ True, False])"),
    "logaddexp": ("torch.tensor([0.0]), torch.tensor([0.0])", "tensor([0.6931])"),
    "logaddexp2": ("torch.tensor([1.0]), torch.tensor([1.0])", "tensor([2.])"),
    "logical_and": ("torch.tensor([True, True]), torch.tensor([True, False])", "tensor([ True, False])"),
    "logical_or": ("torch.tensor([True, False]), torch.tensor([False, False])", "tensor([ True, False])"),
    "logical_xor": ("torch.tensor([True, True]), torch.tensor([True, False])", "tensor([False,  True])"),
    "maximum": ("torch.tensor([1, 5]), torch.tensor([3, 2])", "tensor([3, 5], dtype=torch.int32)"),
    "minimum": ("torch.tensor([1, 5]), torch.tensor([3, 2])", "tensor([1, 2], dtype=torch.int32)"),
    "mod": ("torch.tensor([-7, 7]), torch.tensor([3, 3])", "tensor([2, 1])"),
    "multiply": ("torch.tensor([1, 2]), torch.tensor([3, 4])", "tensor([3, 8])"),
    "not_equal": ("torch.tensor([1, 2]), torch.tensor([1, 3])", "tensor([False,  True])"),
    "outer": ("torch.tensor([1, 2]), torch.tensor([1, 10])", "tensor([[ 1, 10],\n        [ 2, 20]])"),
    "power": ("torch.tensor([2, 3]), torch.tensor([3, 2])", "tensor([8, 9])"),
    "subtract": ("torch.tensor([5, 7]), torch.tensor([1, 2])", "tensor([4, 5])"),
    "bitwise_and": ("torch.tensor([12]), torch.tensor([10])", "tensor([8])"),
    "bitwise_or": ("torch.tensor([12]), torch.tensor([10])", "tensor([14])"),
    "bitwise_xor": ("torch.tensor([12]), torch.tensor([10])", "tensor([6])"),
    "bitwise_left_shift": ("torch.tensor([1, 3]), 2", "tensor([ 4, 12])"),
    "left_shift": ("torch.tensor([1, 3]), 2", "tensor([ 4, 12])"),
    "bitwise_right_shift": ("torch.tensor([8, 12]), 2", "tensor([2, 3])"),
    "right_shift": ("torch.tensor([8, 12]), 2", "tensor([2, 3])"),
}


def _doc(name, summary, args):
    """The docstring of table op ``name``: its summary, its ``Args:`` line and its example."""
    call, printed = EXAMPLES[name]  # a KeyError here: a table row without an example
    printed = printed.replace("\n", "\n    ")
    return (
        f"{summary}\n\nArgs:\n    {args}\n\nExample:\n    >>> import torch\n    >>> from plait import ops\n"
        f"    >>> ops.{name}({call})\n    {printed}"
    )


def _half_on_cpu(fn, dtype):
    # torch lacks some float16 kernels on CPU: compute in float32, round back.
    if dtype == "float16" and get_device().type == "cpu":
        return lambda *xs: fn(*(x.float() for x in xs)).half()
    return fn


def _make_unary(name, fn, rule, summary):
    prepare = _UNARY_RULES[rule]

    def op(x):
        return fn(prepare(convert_to_tensor(x)))

    op.__doc__ = _doc(name, summary, "x: a tensor, array or Python value.")
    return _named(op, name)


def _make_binary(name, fn, rule, summary):
    dtype_of = _BINARY_RULES.get(rule)

    def op(x1, x2):
        t1, t2 = convert_to_tensor(x1), convert_to_tensor(x2)
        if dtype_of is None:
            return fn(t1, t2)
        dtype = dtype_of(t1, t2, x1, x2)
        if rule == "common_weak":
            # a Python number converts straight to the dtype: one it does not fit is an error
            t1, t2 = (x if isinstance(x, (int, float)) else t for x, t in ((x1, t1), (x2, t2)))
        return _half_on_cpu(fn, dtype)(cast(t1, dtype), cast(t2, dtype))

    op.__doc__ = _doc(name, summary, "x1, x2: tensors, arrays or Python values (broadcast together).")
    return _named(op, name)


def _make_bitwise(name, fn, summary):
    shift = name in _SHIFTS

    def op(x, y):
        # A shift by a Python int stays a Python int: torch then keeps x's dtype.
        y = y if shift and isinstance(y, int) else convert_to_tensor(y)
        return fn(convert_to_tensor(x), y)

    op.__doc__ = _doc(name, summary, "x, y: integer or bool tensors, arrays or Python values.")
    return _named(op, name)


def _named(fn, name):
    fn.__name__ = fn.__qualname__ = name
    return fn


OPS = {name: _make_unary(name, *spec) for name, spec in UNARY.items()}
OPS.update({name: _make_binary(name, *spec) for name, spec in BINARY.items()})
OPS.update({name: _make_bitwise(name, *spec) for name, spec in BITWISE.items()})
globals().update(OPS)
