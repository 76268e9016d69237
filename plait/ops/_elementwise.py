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


def _half_on_cpu(fn, dtype):
    # torch lacks some float16 kernels on CPU: compute in float32, round back.
    if dtype == "float16" and get_device().type == "cpu":
        return lambda *xs: fn(*(x.float() for x in xs)).half()
    return fn


def _make_unary(name, fn, rule, summary):
    prepare = _UNARY_RULES[rule]

    def op(x):
        return fn(prepare(convert_to_tensor(x)))

    op.__doc__ = f"{summary}\n\nArgs:\n    x: a tensor, array or Python value."
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

    op.__doc__ = f"{summary}\n\nArgs:\n    x1, x2: tensors, arrays or Python values (broadcast together)."
    return _named(op, name)


def _make_bitwise(name, fn, summary):
    shift = name in _SHIFTS

    def op(x, y):
        # A shift by a Python int stays a Python int: torch then keeps x's dtype.
        y = y if shift and isinstance(y, int) else convert_to_tensor(y)
        return fn(convert_to_tensor(x), y)

    op.__doc__ = f"{summary}\n\nArgs:\n    x, y: integer or bool tensors, arrays or Python values."
    return _named(op, name)


def _named(fn, name):
    fn.__name__ = fn.__qualname__ = name
    return fn


OPS = {name: _make_unary(name, *spec) for name, spec in UNARY.items()}
OPS.update({name: _make_binary(name, *spec) for name, spec in BINARY.items()})
OPS.update({name: _make_bitwise(name, *spec) for name, spec in BITWISE.items()})
globals().update(OPS)
