"""What every op needs besides its math: dtypes (from :mod:`plait.ops._dtypes`), turning inputs
into tensors, the device new tensors go to, seeds, and axis arguments.

Devices: Keras puts every new tensor on one global device. plait keeps tensors where they are:
an op's constants go to the device of its first tensor argument (``current_device``), so an op
on CUDA tensors, or on the meta tensors of shape inference, creates its constants there too.

Example:
    >>> from plait.ops._backend import convert_to_tensor
    >>> convert_to_tensor(3).dtype, convert_to_tensor([1, 2.5]).dtype, convert_to_tensor(2**40).dtype
    (torch.int32, torch.float32, torch.int64)
"""

import contextlib
import contextvars
import functools
import operator
import sys

import numpy as np
import torch

from plait.graph.infer import infer_outputs
from plait.ops import _dtypes
from plait.utils.image_utils import standardize_data_format as standardize_data_format

# The dtype rules live in _dtypes; ops import them from here with the rest.
EPSILON = _dtypes.EPSILON
FLOATX = _dtypes.FLOATX
TORCH_DTYPES = _dtypes.TORCH_DTYPES
epsilon = _dtypes.epsilon
float_type = _dtypes.float_type
floatx = _dtypes.floatx
is_float_dtype = _dtypes.is_float_dtype
is_int_dtype = _dtypes.is_int_dtype
result_type = _dtypes.result_type
standardize_dtype = _dtypes.standardize_dtype
to_torch_dtype = _dtypes.to_torch_dtype

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
    """Undo the :func:`set_device` that returned ``token``."""
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


# ----------------------------------------------------------------------------- tensors
is_tensor = torch.is_tensor  # whether a value is a torch tensor
_SEQUENCES = (list, tuple)


_INT32_RANGE = range(-(2**31), 2**31)


def _scalar_dtype(x):
    # Keras's torch backend: bool stays bool, int is int32 (int64 past int32's range), float is
    # the default float, complex complex64.
    if isinstance(x, bool):
        return torch.bool
    if isinstance(x, int):
        return torch.int32 if x in _INT32_RANGE else torch.int64
    if isinstance(x, float):
        return to_torch_dtype(FLOATX)
    return torch.complex64


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    """``x`` as a torch tensor, typed as Keras's torch backend types it.

    Python ints become int32 and floats float32; numpy arrays keep their dtype; a (nested) list
    takes the promotion of its elements (Python scalars weak); a list holding tensors is stacked.
    Tensors stay on their device (Keras would move them); new ones go to :func:`get_device`.

    Args:
        x: a tensor, array, Python scalar or (nested) list of them.
        dtype: the dtype to convert to; default: ``x``'s own.
        sparse, ragged: must be falsy (torch tensors are dense).
    """
    for flag, name in ((sparse, "sparse"), (ragged, "ragged")):
        if flag:
            raise ValueError(f"`{name}=True` is not supported with torch backend")
    target = None if dtype is None else to_torch_dtype(dtype)
    if isinstance(x, torch.Tensor):
        return x if target is None else x.to(target)
    if isinstance(x, (bool, int, float, complex)):
        return torch.as_tensor(x, dtype=target or _scalar_dtype(x), device=get_device())
    if isinstance(x, _SEQUENCES):
        leaves = _flatten(x)
        if any(isinstance(v, torch.Tensor) for v in leaves):
            return torch.stack([convert_to_tensor(v) for v in x])
        if target is None:
            target = to_torch_dtype(result_type(*[getattr(v, "dtype", type(v)) for v in leaves]))
        if any(isinstance(v, np.ndarray) for v in leaves):
            # One numpy block: torch copies a list of arrays element by element (and warns).
            x = np.asarray(x)
        return torch.as_tensor(x, dtype=target, device=get_device())
    array = np.asarray(x)
    if array.dtype == np.uint32:  # torch has no uint32 arithmetic: int64 holds it
        array = array.astype(np.int64)
    return torch.as_tensor(array, dtype=target or to_torch_dtype(array.dtype), device=get_device())


def _flatten(x):
    return [leaf for item in x for leaf in _flatten(item)] if isinstance(x, _SEQUENCES) else [x]


def convert_to_numpy(x):
    """``x`` as a numpy array (bfloat16 tensors as float32, which numpy has)."""
    if isinstance(x, _SEQUENCES):
        return np.array([convert_to_numpy(v) for v in x])
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        x = x.float() if x.dtype is torch.bfloat16 else x
    return np.array(x)


def cast(x, dtype):
    """``x`` as a tensor of ``dtype`` (unchanged when it already has it)."""
    target = to_torch_dtype(dtype)
    if isinstance(x, torch.Tensor):
        return x if x.dtype == target else x.to(target)
    return convert_to_tensor(x, target)


# ----------------------------------------------------------------------------- seeds
def outside_graph(fn):
    """``torch.compiler.disable(fn)``, applied at the first call rather than at import: the
    decorator imports ``torch._dynamo``, seconds that ``import plait`` should not spend."""
    disabled = []

    @functools.wraps(fn)
    def run_outside_graph(*args, **kwargs):
        if not disabled:
            disabled.append(torch.compiler.disable(fn))
        return disabled[0](*args, **kwargs)

    return run_outside_graph


def _as_int32(seed):
    # Keras keeps seeds in int32 and reads them back as uint32: wrap into int32's range.
    return (seed + 2**31) % 2**32 - 2**31


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
        "Argument `seed` must be either an integer or an instance of `SeedGenerator`. "
        f"Received: seed={seed!r} of type {type(seed).__name__}"
    )


@outside_graph  # a torch.Generator cannot be traced
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
    """``axis`` (in ``[-num_dims, num_dims)``) counted from the front: in ``[0, num_dims)``."""
    index = operator.index(axis)
    if not -num_dims <= index < num_dims:
        raise ValueError(f"axis {index} is out of bounds for an array with dimension {num_dims}.")
    return index % num_dims


def to_tuple_or_list(value):
    """An int as a 1-tuple; None, tuples and lists as they are."""
    if value is None or isinstance(value, _SEQUENCES):
        return value
    if isinstance(value, int):
        return (value,)
    raise ValueError(f"`value` must be an integer, tuple or list. Received: value={value}")


def standardize_tuple(value, n, name, allow_zero=False):
    """``value`` (an int, or ``n`` ints) as a tuple of ``n`` positive ints (or non-negative, with
    ``allow_zero``); a ValueError naming argument ``name`` otherwise."""
    expected = f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value}"
    if not isinstance(value, int):
        try:
            values = tuple(int(v) for v in value)
        except (TypeError, ValueError):
            raise ValueError(expected) from None
        if len(values) != n:
            raise ValueError(expected)
    else:
        values = (value,) * n
    low = 0 if allow_zero else 1
    bad = {v for v in values if v < low}
    if bad:
        raise ValueError(f"{expected} including values {bad} that do not satisfy `value >= {low}`")
    return values


def slice_along_axis(x, start=0, stop=None, step=1, axis=0):
    """``x[start:stop:step]`` along ``axis``."""
    index = [slice(None)] * x.ndim
    index[axis] = slice(start, stop, step)
    return x[tuple(index)]
