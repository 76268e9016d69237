"""The pieces of Keras 3's backend that every op needs: dtype names and promotion, conversion to
tensors, the device new tensors go to, axis helpers.

Ported from Keras 3.15 (``keras/src/backend/common/dtypes.py``, ``variables.py``,
``backend_utils.py`` and ``backend/torch/core.py``; Apache-2.0, the Keras authors), so that
``plait.ops`` promotes dtypes exactly as ``keras.ops`` does on the torch backend.

Devices: Keras puts every new tensor on one global device. plait keeps tensors where they are:
an op's constants go to the device of its first tensor argument (``current_device``), so an op
on CUDA tensors, or on the meta tensors of shape inference, creates its constants there too.
"""

import contextlib
import contextvars
import operator
import sys

import numpy as np
import torch

from plait.graph.infer import infer_outputs
from plait.utils.image_utils import standardize_data_format as standardize_data_format

FLOATX = "float32"
EPSILON = 1e-7

BOOL_TYPES = ("bool",)
INT_TYPES = ("uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64")
FLOAT_TYPES = ("bfloat16", "float16", "float32", "float64")
WEAK_TYPES = ("int", "float")
COMPLEX_TYPES = ("complex64", "complex128")
FLOAT8_TYPES = ("float8_e4m3fn", "float8_e5m2")
ALLOWED_DTYPES = (
    *FLOAT_TYPES[1:],
    *INT_TYPES,
    "bfloat16",
    "bool",
    "string",
    *FLOAT8_TYPES,
    *COMPLEX_TYPES,
)
PYTHON_DTYPES_MAP = {bool: "bool", int: "int32", float: "float32", str: "string", "int": "int32", complex: "complex64"}

TORCH_DTYPES = {
    "float16": torch.float16,
    "float32": torch.float32,
    "float64": torch.float64,
    "uint8": torch.uint8,
    "uint16": torch.int32,  # torch has no uint16 arithmetic (as in Keras's torch backend)
    "uint32": torch.int64,
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "bfloat16": torch.bfloat16,
    "bool": torch.bool,
    "float8_e4m3fn": torch.float8_e4m3fn,
    "float8_e5m2": torch.float8_e5m2,
    "complex32": torch.complex32,
    "complex64": torch.complex64,
    "complex128": torch.complex128,
}


def floatx():
    return FLOATX


def epsilon():
    return EPSILON


# ----------------------------------------------------------------------------- devices
_DEVICE = contextvars.ContextVar("plait_ops_device", default=None)
# The same while torch.compile traces: Dynamo cannot trace a ContextVar, but follows a list.
_COMPILED_DEVICE = [None]
_CPU = torch.device("cpu")


def current_device():
    """The device an enclosing op set, or None."""
    return _COMPILED_DEVICE[0] if torch.compiler.is_compiling() else _DEVICE.get()


def set_device(device):
    """Make ``device`` current; returns the token :func:`reset_device` takes."""
    if torch.compiler.is_compiling():
        previous, _COMPILED_DEVICE[0] = _COMPILED_DEVICE[0], device
        return (previous,)
    return _DEVICE.set(device)


def reset_device(token):
    if isinstance(token, tuple):
        _COMPILED_DEVICE[0] = token[0]
    else:
        _DEVICE.reset(token)


def get_device():
    """Where an op puts the tensors it creates: its inputs' device, else torch's default."""
    device = current_device()
    if device is not None:
        return device
    if torch.compiler.is_compiling():
        return _CPU
    # torch.get_default_device() allocates a tensor to answer: skip it when no default is set.
    if getattr(torch._GLOBAL_DEVICE_CONTEXT, "device_context", None) is None and not (
        torch._C._is_torch_function_mode_enabled()
    ):
        return _CPU
    return torch.get_default_device()


def in_shape_inference():
    """Whether a layer is being called on the meta device to infer its output shape (see
    :mod:`plait.graph.infer`): ops that create tensors from sizes alone then create them on meta,
    since those sizes hold placeholders (a ``(batch, seq, seq)`` mask would be gigabytes)."""
    if torch.compiler.is_compiling():
        return False  # a compiled forward is never a shape inference
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code is _INFER_CODE:
            return True
        frame = frame.f_back
    return False


_INFER_CODE = infer_outputs.__code__


@contextlib.contextmanager
def device_of(values):
    """Run an op with ``get_device()`` = the device of the first tensor in ``values``."""
    device = next((v.device for v in values if isinstance(v, torch.Tensor)), None)
    if device is None:
        yield
        return
    token = set_device(device)
    try:
        yield
    finally:
        reset_device(token)


# ----------------------------------------------------------------------------- dtypes
def standardize_dtype(dtype):
    """A dtype's Keras name: ``"float32"`` for ``torch.float32``, ``np.float32``, ``float``..."""
    return _cached(_DTYPE_NAMES, _standardize_dtype, dtype)


# Plain dicts, not functools.lru_cache: torch.compile traces through them without a warning.
_DTYPE_NAMES, _RESULT_TYPES = {}, {}


def _cached(cache, fn, *args):
    key = args[0] if len(args) == 1 else args
    try:
        return cache[key]
    except KeyError:
        cache[key] = value = fn(*args)
        return value
    except TypeError:  # unhashable: computed (and its error raised) without the cache
        return fn(*args)


def _standardize_dtype(dtype):
    if dtype is None:
        return FLOATX
    dtype = PYTHON_DTYPES_MAP.get(dtype, dtype)
    if hasattr(dtype, "name"):
        dtype = dtype.name
    elif hasattr(dtype, "__name__"):
        dtype = dtype.__name__
    elif "torch" in str(dtype):
        dtype = str(dtype).split(".")[-1]
    if dtype not in ALLOWED_DTYPES:
        raise ValueError(f"Invalid dtype: {dtype}")
    return dtype


def to_torch_dtype(dtype):
    resolved = TORCH_DTYPES.get(standardize_dtype(dtype))
    if resolved is None:
        raise ValueError(f"Unsupported dtype for PyTorch: {dtype}")
    return resolved


def is_float_dtype(dtype):
    return standardize_dtype(dtype).startswith(("float", "bfloat"))


def is_int_dtype(dtype):
    return standardize_dtype(dtype).startswith(("int", "uint"))


def _type_promotion_lattice():
    (b1,) = BOOL_TYPES
    (u1, u2, u4, u8, i1, i2, i4, i8) = INT_TYPES
    bf, f2, f4, f8 = FLOAT_TYPES
    i_, f_ = WEAK_TYPES
    c64, c128 = COMPLEX_TYPES
    return {
        b1: [i_],
        u1: [i2, u2],
        u2: [i4, u4],
        u4: [i8, u8],
        u8: [f_],
        i_: [u1, i1, c64],
        i1: [i2],
        i2: [i4],
        i4: [i8],
        i8: [f_],
        f_: [bf, f2],
        bf: [f4],
        f2: [f4],
        f4: [f8, c64],
        f8: [c128],
        c64: [c128],
        c128: [],
    }


def _upper_bounds():
    lattice = _type_promotion_lattice()
    bounds = {node: {node} for node in lattice}
    for n in lattice:
        while True:
            new = set().union(*(lattice[b] for b in bounds[n]))
            if new.issubset(bounds[n]):
                break
            bounds[n] |= new
    return bounds


_UPPER_BOUNDS = _upper_bounds()


def _least_upper_bound(*nodes):
    try:
        bounds = [_UPPER_BOUNDS[n] for n in set(nodes)]
    except KeyError:
        dtype = next(n for n in nodes if n not in _UPPER_BOUNDS)
        raise ValueError(f"dtype={dtype!r} is not a valid dtype for Keras type promotion.") from None
    common = set.intersection(*bounds)
    least = (common & set(nodes)) or {c for c in common if common.issubset(_UPPER_BOUNDS[c])}
    if len(least) != 1:
        raise ValueError(
            f"Input dtypes {tuple(str(n) for n in nodes)} have no available implicit dtype promotion path. "
            "Try explicitly casting inputs to the desired output type."
        )
    return least.pop()


def _respect_weak_type(dtype, weak):
    if not weak or dtype == "bool":
        return dtype
    for kind in ("float", "int", "complex"):
        if kind in dtype:
            return kind
    raise ValueError(f"Invalid value for argument `dtype`. Received: dtype={dtype}")


def _resolve_weak_type(dtype, precision="32"):
    indicator = "f" if dtype == "bfloat16" else dtype[:1]
    if indicator == "b":
        return "bool"
    if indicator == "i":
        return f"int{precision}"
    if indicator == "u":
        return f"uint{precision}"
    return f"float{precision}"


_BIT64_TO_BIT32 = {"int64": "int32", "uint64": "uint32", "float64": "float32", "complex128": "complex64"}


def result_type(*dtypes):
    """Keras's ``backend.result_type``: the JAX-like promotion lattice, 64-bit results narrowed
    to 32 bits (the torch backend's rule), Python ``int``/``float`` as weak types."""
    return _cached(_RESULT_TYPES, _result_type, *dtypes)


def _result_type(*dtypes):
    if not dtypes:
        return FLOATX
    if any(d in FLOAT8_TYPES for d in dtypes):
        raise ValueError(f"There is no implicit conversions from float8 dtypes to others. Received: {dtypes}")
    args = [FLOATX if d is None else d for d in dtypes]
    names = [standardize_dtype(a) for a in args]
    weak = [a is int or a is float for a in args]
    if len(names) == 1:
        out, out_weak = names[0], weak[0]
    elif len(set(names)) == 1 and not all(weak):
        out, out_weak = names[0], False
    elif all(weak):
        out, out_weak = _least_upper_bound(*set(names)), True
    else:
        out = _least_upper_bound(*{_respect_weak_type(d, w) for d, w in zip(names, weak)})
        out_weak = out in WEAK_TYPES
    if out != "bool" and out_weak:
        out = _resolve_weak_type(out, FLOATX[-2:])
    return _BIT64_TO_BIT32.get(out, out)


# ----------------------------------------------------------------------------- tensors
def is_tensor(x):
    return isinstance(x, torch.Tensor)


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    """Keras's torch ``convert_to_tensor``: Python ints become int32, floats float32; numpy
    arrays keep their dtype; tensors stay on their device (Keras would move them)."""
    if sparse:
        raise ValueError("`sparse=True` is not supported with torch backend")
    if ragged:
        raise ValueError("`ragged=True` is not supported with torch backend")
    if isinstance(x, torch.Tensor):
        return x if dtype is None else x.to(to_torch_dtype(dtype))
    if isinstance(x, (bool, int, float, complex)):
        if dtype is not None:
            dt = to_torch_dtype(dtype)
        elif isinstance(x, bool):
            dt = torch.bool
        elif isinstance(x, int):
            dt = torch.int64 if x < -(2**31) or x >= 2**31 else torch.int32
        elif isinstance(x, float):
            dt = to_torch_dtype(FLOATX)
        else:
            dt = torch.complex64
        return torch.as_tensor(x, dtype=dt, device=get_device())
    if isinstance(x, (list, tuple)) and any(isinstance(v, torch.Tensor) for v in x):
        return torch.stack([convert_to_tensor(v) for v in x])
    if not isinstance(x, (list, tuple)):
        x = np.array(x)
    if isinstance(x, np.ndarray):
        if x.dtype == np.uint32:
            x = x.astype(np.int64)
        dtype = dtype or x.dtype
    if dtype is None:
        dtype = result_type(*[getattr(v, "dtype", type(v)) for v in _flatten(x)])
    if isinstance(x, (list, tuple)) and any(isinstance(v, np.ndarray) for v in _flatten(x)):
        # A list of arrays (``convert_to_tensor([image])``) in one numpy block: torch would
        # copy it element by element, and warns that this is slow.
        x = np.asarray(x)
    return torch.as_tensor(x, dtype=to_torch_dtype(dtype), device=get_device())


def _flatten(x):
    if isinstance(x, (list, tuple)):
        return [leaf for item in x for leaf in _flatten(item)]
    return [x]


def convert_to_numpy(x):
    def transform(v):
        if isinstance(v, torch.Tensor):
            v = v.detach().cpu()
            if v.dtype == torch.bfloat16:
                return np.array(v.to(torch.float32))
        return np.array(v)

    if isinstance(x, (list, tuple)):
        return np.array([transform(e) for e in x])
    return transform(x)


def cast(x, dtype):
    dtype = to_torch_dtype(dtype)
    if isinstance(x, torch.Tensor):
        return x if x.dtype == dtype else x.to(dtype)
    return convert_to_tensor(x, dtype)


# ----------------------------------------------------------------------------- seeds
def _as_int32(seed):
    # Keras keeps seeds in int32, reading them back as uint32 (`& 0xFFFFFFFF` when seeding).
    return (seed & 0xFFFFFFFF ^ 0x80000000) - 0x80000000


def draw_seed(seed):
    """``(first, second)`` ints for ``seed``: None, an int, or a ``plait.random.SeedGenerator``
    (anything with Keras's ``next()`` returning ``[seed, counter]``, which then advances)."""
    if hasattr(seed, "next") and hasattr(seed, "state"):
        first, second = seed.next().tolist()
        return first, second
    if isinstance(seed, int) and not isinstance(seed, bool):
        return _as_int32(seed), 0
    if seed is None:
        # torch's global generator: set_random_seed (torch.manual_seed) makes it repeat.
        return int(torch.randint(1, 2**31 - 1, (), device="cpu")), 0
    raise ValueError(
        f"Argument `seed` must be either an integer or an instance of `SeedGenerator`. "
        f"Received: seed={seed} (of type {type(seed)})"
    )


@torch.compiler.disable  # torch.Generator cannot be traced (as Keras's torch backend does it)
def torch_generator(seed, device):
    """A ``torch.Generator`` on ``device`` seeded as Keras's torch backend seeds one; None on meta
    (shape inference draws nothing, so a SeedGenerator's state stays put)."""
    if torch.device(device).type == "meta":
        return None
    first, second = draw_seed(seed)
    generator = torch.Generator(device=device)
    generator.manual_seed(int(first + second) & 0xFFFFFFFF)
    return generator


# ----------------------------------------------------------------------------- arguments
def canonicalize_axis(axis, num_dims):
    """An axis in ``[-num_dims, num_dims)`` as one in ``[0, num_dims)``."""
    axis = operator.index(axis)
    if not -num_dims <= axis < num_dims:
        raise ValueError(f"axis {axis} is out of bounds for an array with dimension {num_dims}.")
    return axis + num_dims if axis < 0 else axis


def to_tuple_or_list(value):
    if value is None:
        return value
    if not isinstance(value, (int, tuple, list)):
        raise ValueError(f"`value` must be an integer, tuple or list. Received: value={value}")
    return (value,) if isinstance(value, int) else value


def standardize_tuple(value, n, name, allow_zero=False):
    """``value`` (an int or n ints) as a tuple of n ints (Keras's argument validation)."""
    if isinstance(value, int):
        value_tuple = (value,) * n
    else:
        try:
            value_tuple = tuple(value)
        except TypeError:
            raise ValueError(
                f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value}"
            ) from None
        if len(value_tuple) != n:
            raise ValueError(f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value}")
        for v in value_tuple:
            try:
                int(v)
            except (ValueError, TypeError):
                raise ValueError(
                    f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value}"
                ) from None
    unqualified = {v for v in value_tuple if v < 0} if allow_zero else {v for v in value_tuple if v <= 0}
    if unqualified:
        req = ">= 0" if allow_zero else "> 0"
        raise ValueError(
            f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value} "
            f"including values {unqualified} that do not satisfy `value {req}`"
        )
    return value_tuple


def slice_along_axis(x, start=0, stop=None, step=1, axis=0):
    if axis >= 0:
        slices = [slice(None)] * axis + [slice(start, stop, step)]
    else:
        slices = [Ellipsis, slice(start, stop, step)] + [slice(None)] * (-1 - axis)
    return x[tuple(slices)]
