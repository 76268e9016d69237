"""Dtype names and promotion: the one place ``plait.ops`` decides what dtype a result has.

Keras names dtypes by strings (``"float32"``) and promotes them as JAX does, then narrows 64-bit
results to 32 bits on its torch backend. Here that rule is written as a join of two dtypes:
every dtype has a *kind* (bool < integer < float < complex) and a width; Python ``int`` and
``float`` are *weak*: they take the other operand's dtype when its kind is at least theirs.

Example:
    >>> from plait.ops._dtypes import result_type
    >>> result_type("uint8", "int8"), result_type("int32", float), result_type("float16", "bfloat16")
    ('int16', 'float32', 'float32')
    >>> result_type("int64", "float64")  # narrowed to 32 bits, as Keras's torch backend does
    'float32'
"""

import functools

import torch

FLOATX = "float32"
EPSILON = 1e-7

# Keras's name -> the torch dtype that holds it. torch computes with no unsigned type wider than
# 8 bits, so uint16 and uint32 live in the next signed type (as on Keras's torch backend).
_SAME_NAME = (
    "bool", "uint8", "int8", "int16", "int32", "int64", "bfloat16", "float16", "float32", "float64",
    "complex32", "complex64", "complex128", "float8_e4m3fn", "float8_e5m2",
)  # fmt: skip
TORCH_DTYPES = {name: getattr(torch, name) for name in _SAME_NAME}
TORCH_DTYPES.update(uint16=torch.int32, uint32=torch.int64)
# Names Keras accepts but cannot promote (float8) or compute with (string).
_UNPROMOTED = ("float8_e4m3fn", "float8_e5m2")
KNOWN = frozenset(TORCH_DTYPES) - {"complex32"} | {"uint64", "string"}
_PYTHON = {bool: "bool", int: "int32", float: "float32", complex: "complex64", str: "string", "int": "int32"}

# name -> (kind, bits, signed). Kinds: 0 bool, 1 integer, 2 float, 3 complex.
_SPEC = {
    "bool": (0, 1, False),
    **{f"uint{b}": (1, b, False) for b in (8, 16, 32, 64)},
    **{f"int{b}": (1, b, True) for b in (8, 16, 32, 64)},
    "bfloat16": (2, 16, True),
    "float16": (2, 16, True),
    "float32": (2, 32, True),
    "float64": (2, 64, True),
    "complex64": (3, 64, True),
    "complex128": (3, 128, True),
}
WEAK_INT, WEAK_FLOAT = "int", "float"  # Python scalars' dtypes in a promotion
_NARROW = {"int64": "int32", "uint64": "uint32", "float64": "float32", "complex128": "complex64"}


def floatx():
    """Keras's default float dtype: ``"float32"``."""
    return FLOATX


def epsilon():
    """Keras's fuzz factor: ``1e-7``."""
    return EPSILON


# Plain dicts, not functools.lru_cache: torch.compile traces through them without a warning.
_NAMES, _RESULTS = {}, {}


def standardize_dtype(dtype):
    """A dtype's Keras name: ``"float32"`` for ``torch.float32``, ``np.float32``, ``float``, None."""
    try:
        return _NAMES[dtype]
    except KeyError:
        _NAMES[dtype] = name = _name_of(dtype)
        return name
    except TypeError:  # unhashable: named (or refused) without the cache
        return _name_of(dtype)


def _name_of(dtype):
    if dtype is None:
        return FLOATX
    name = _PYTHON.get(dtype, dtype)
    if isinstance(name, torch.dtype):
        name = str(name)[len("torch.") :]
    elif not isinstance(name, str):
        # numpy dtypes and scalar types, and anything else that carries its name
        name = getattr(name, "name", None) or getattr(name, "__name__", None) or str(name)
    if name not in KNOWN:
        raise ValueError(f"Invalid dtype: {name}")
    return name


def to_torch_dtype(dtype):
    """The torch dtype that holds Keras dtype ``dtype`` (any spelling :func:`standardize_dtype` reads)."""
    name = standardize_dtype(dtype)
    if name not in TORCH_DTYPES:
        raise ValueError(f"Unsupported dtype for PyTorch: {dtype}")
    return TORCH_DTYPES[name]


def is_float_dtype(dtype):
    """Whether ``dtype`` is a floating-point dtype (bfloat16 and float8 included)."""
    return standardize_dtype(dtype).startswith(("float", "bfloat"))


def is_int_dtype(dtype):
    """Whether ``dtype`` is a signed or unsigned integer dtype."""
    return standardize_dtype(dtype).startswith(("int", "uint"))


def _join(a, b):
    """The least dtype both ``a`` and ``b`` promote to (either may be weak)."""
    if a == b:
        return a
    weak_a, weak_b = a in (WEAK_INT, WEAK_FLOAT), b in (WEAK_INT, WEAK_FLOAT)
    if weak_a and weak_b:
        return WEAK_FLOAT
    if weak_b or (not weak_a and _SPEC[a][0] > _SPEC[b][0]):
        a, b = b, a  # from here `a` is the weak one, or the one of lower kind
    kind_b, bits_b, signed_b = _SPEC[b]
    if a in (WEAK_INT, WEAK_FLOAT):
        # A weak scalar takes a strong dtype of its kind or above; below it, it stays weak.
        weak_kind = 1 if a == WEAK_INT else 2
        return b if kind_b >= weak_kind else a
    kind_a, bits_a, signed_a = _SPEC[a]
    if kind_a < kind_b:
        if kind_a == 2 and kind_b == 3 and bits_a == 64:
            return "complex128"  # float64 needs complex128's halves
        return b
    if kind_a == 0:
        return a
    if kind_a == 2:
        # float16 and bfloat16 meet at float32; otherwise the wider float holds both
        return "float32" if bits_a == bits_b == 16 else (a if bits_a > bits_b else b)
    if kind_a == 3:
        return a if bits_a > bits_b else b
    # Two integers: same signedness -> the wider; mixed -> a signed type wider than the
    # unsigned one. uint64 has none, so it meets a signed type at a (weak) float.
    if signed_a == signed_b:
        return a if bits_a > bits_b else b
    unsigned_bits, signed_bits = (bits_a, bits_b) if signed_b else (bits_b, bits_a)
    if signed_bits > unsigned_bits:
        return f"int{signed_bits}"
    return f"int{2 * unsigned_bits}" if unsigned_bits < 64 else WEAK_FLOAT


def result_type(*dtypes):
    """The dtype Keras gives an op on values of ``dtypes``, narrowed to 32 bits.

    Args:
        *dtypes: dtypes in any spelling; Python ``int`` and ``float`` (the types) stand for
            Python scalars, which are weak; None means the default float.
    """
    try:
        return _RESULTS[dtypes]
    except KeyError:
        _RESULTS[dtypes] = out = _result_type(dtypes)
        return out
    except TypeError:
        return _result_type(dtypes)


def _result_type(dtypes):
    if not dtypes:
        return FLOATX
    names = []
    for d in dtypes:
        if d is int or d is float:
            names.append(WEAK_INT if d is int else WEAK_FLOAT)
            continue
        name = standardize_dtype(d)
        if name in _UNPROMOTED:
            raise ValueError(f"There is no implicit conversions from float8 dtypes to others. Received: {dtypes}")
        names.append(name)
    if len(set(names)) > 1:  # one dtype stays itself, even one promotion does not know ("string")
        for name in names:
            if name not in _SPEC and name not in (WEAK_INT, WEAK_FLOAT):
                raise ValueError(f"dtype={name!r} is not a valid dtype for Keras type promotion.")
    out = functools.reduce(_join, names)
    out = {WEAK_INT: "int32", WEAK_FLOAT: FLOATX}.get(out, out)
    return _NARROW.get(out, out)


def float_type(*dtypes):
    """``result_type(*dtypes, float)``: the float dtype an op that needs floats computes in."""
    return result_type(*dtypes, float)


def float_or_wide(dtype):
    """The float a value of ``dtype`` becomes where Keras keeps int64's precision: float64 for
    int64 and float64, float32 for bool and the other integers; float16/bfloat16 stay."""
    name = standardize_dtype(dtype)
    if name in ("int64", "float64"):
        return "float64"
    return name if name in ("float16", "bfloat16", "float32") or name.startswith("complex") else FLOATX
