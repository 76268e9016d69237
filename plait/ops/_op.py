"""How an op runs: on tensors it computes; on symbolic tensors it becomes a graph node.

Every public op is its implementation wrapped by :func:`op`. Called on real values, the wrapper
runs the implementation with new tensors going to the inputs' device, and turns torch's
``RuntimeError`` into a ``ValueError``/``TypeError`` that names the op and the input shapes.
Called with a symbolic tensor anywhere in its arguments (``plait.ops.add(inputs, 1.0)`` in a
functional model), it records an :class:`Operation` node instead: a layer that holds the op's
name and its other arguments, so the generated ``forward`` calls the op, and the model saves
and loads (the arguments are stored as JSON; constant tensors as nested lists).
"""

import functools
import re

import numpy as np
import torch

from plait.graph.node import SymbolicTensor
from plait.graph.ops import is_symbolic, resolve
from plait.layers.base import Layer
from plait.layers.serialization import function_reference, resolve_function
from plait.ops._backend import (
    current_device,
    in_shape_inference,
    reset_device,
    set_device,
    standardize_dtype,
    to_torch_dtype,
)
from plait.utils import nest
from plait.utils.naming import unique_name

_META = torch.device("meta")
# Ops that make a tensor from sizes alone. Called inside a layer whose output shape is being
# inferred, they create it on meta: the sizes hold placeholders, and a (batch, seq, seq) mask
# of them would take gigabytes. Ops on Python values (ops.convert_to_tensor([1, 1])) stay real,
# so values computed from them (tile's multiples) remain readable.
_CREATION_OPS = {
    f"numpy.{name}"
    for name in (
        "arange", "bartlett", "blackman", "empty", "eye", "full", "geomspace", "hamming", "hanning",
        "identity", "kaiser", "linspace", "logspace", "ones", "tri", "zeros",
    )
}  # fmt: skip
# "numpy.add" -> the public op, for Operation nodes and loading.
REGISTRY = {}


def op(fn, family, symbolic=True):
    """The public op of implementation ``fn`` (registered as ``f"{family}.{fn.__name__}"``)."""
    name = fn.__name__
    key = f"{family}.{name}"
    creates = key in _CREATION_OPS

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        found = [False, None]  # [a symbolic tensor is among the arguments, the tensors' device]
        _inspect(args, found)
        if kwargs:
            _inspect(kwargs.values(), found)
        if found[0] and symbolic:
            return symbolic_call(key, args, kwargs)
        device = found[1]
        if device is None and creates and in_shape_inference():
            device = _META
        token = set_device(device) if device is not None and device != current_device() else None
        try:
            return fn(*args, **kwargs)
        except RuntimeError as error:
            raise _op_error(name, nest.flatten((args, kwargs)), error) from error
        finally:
            if token is not None:
                reset_device(token)

    # An op's own docstring says what it does; the generic sentence is for those without one.
    wrapper.__doc__ = fn.__doc__ or (
        f"Keras's ``keras.ops.{name}`` on torch tensors (same arguments, defaults and numbers).\n\n"
        "Inputs may be tensors, numpy arrays or Python values; called on symbolic tensors it becomes a\n"
        "node of the functional model being built."
    )
    wrapper.__module__ = f"plait.ops.{family}"
    REGISTRY[key] = wrapper
    return wrapper


# Keras operation classes whose names do not spell their function's.
_KERAS_CLASS_NAMES = {
    "AllClose": "allclose",
    "IsIn": "isin",
    "SearchSorted": "searchsorted",
    "BatchNorm": "batch_normalization",
    "RMSNorm": "rms_normalization",
    "LayerNorm": "layer_normalization",
    "CDist": "cdist",
}


def from_keras(module, class_name, config):
    """The op a Keras functional config's operation node names, its settings bound.

    Keras stores ``keras.ops.sum(x, axis=-1)`` in a model as ``{"module": "keras.src.ops.numpy",
    "class_name": "Sum", "config": {"name": "sum", "axis": -1, ...}}`` with ``x`` among the node's
    arguments. This returns ``functools.partial(plait.ops.numpy.sum, axis=-1)``: call it with the
    node's arguments. For loaders of Keras ``.keras`` files.
    """
    family = module.rsplit(".", 1)[-1]
    # "GetItem" -> "get_item", "IFFT2" -> "ifft2", "RGBToGrayscale" -> "rgb_to_grayscale".
    name = (
        _KERAS_CLASS_NAMES.get(class_name)
        or re.sub(r"(?<!^)(?=[A-Z][a-z])|(?<=[a-z0-9])(?=[A-Z])", "_", class_name).lower()
    )
    fn = REGISTRY.get(f"{family}.{name}")
    if fn is None:
        raise ValueError(f"Unknown Keras operation '{module}.{class_name}': plait.ops has no {family}.{name}.")
    settings = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items() if k != "name"}
    return functools.partial(fn, **settings)


def _inspect(values, found):
    # One pass over the (nested) arguments: an op call's only overhead on real tensors.
    for v in values:
        if isinstance(v, torch.Tensor):
            # The first tensor's device; an accelerator's over the CPU's (a CPU scalar may mix in).
            if found[1] is None or (found[1].type == "cpu" and v.device.type != "cpu"):
                found[1] = v.device
            if type(v) is not torch.Tensor and is_symbolic(v):
                found[0] = True
        elif isinstance(v, SymbolicTensor):
            found[0] = True
        elif isinstance(v, (list, tuple)):
            _inspect(v, found)
        elif isinstance(v, dict):
            _inspect(v.values(), found)


def _op_error(name, leaves, error):
    shapes = [tuple(v.shape) for v in leaves if isinstance(v, (torch.Tensor, np.ndarray))]
    dtypes = [str(v.dtype).replace("torch.", "") for v in leaves if isinstance(v, (torch.Tensor, np.ndarray))]
    message = str(error).split("\n")[0]
    kind = TypeError if "not implemented for" in message or "dtype" in message.lower() else ValueError
    return kind(f"ops.{name}: {message}. Received inputs of shapes {shapes} and dtypes {dtypes}.")


def symbolic_call(key, args, kwargs):
    """Record ``REGISTRY[key](*args, **kwargs)`` as an :class:`Operation` node."""
    inputs = []

    def take(value):
        if isinstance(value, SymbolicTensor):
            inputs.append(value)
            return _Input(len(inputs) - 1)
        return value

    template = nest.map_structure(take, resolve((list(args), dict(kwargs))))
    return Operation(key, template)(*inputs)


class _Input:
    """Where the i-th symbolic input goes in an Operation's arguments."""

    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index


class _Const:
    """A constant tensor argument, kept as a buffer so it moves with ``model.to(device)``."""

    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index


class Operation(Layer):
    """One ``plait.ops`` call in a functional model (Keras's ``Operation``).

    Args:
        op: the op's registered name, e.g. ``"numpy.add"`` or ``"nn.relu"``.
        arguments: ``[args, kwargs]`` of the call; symbolic inputs are placeholders (live
            objects when built from a call, ``{"__input__": i}`` when read from a config).

    Example:
        >>> import plait
        >>> x = plait.Input(shape=(3,))
        >>> y = plait.ops.add(plait.ops.square(x), 1.0)
        >>> y.shape, type(y.node.layer).__name__
        ((None, 3), 'Operation')
    """

    is_operation = True  # listed in `model.operations`, not `model.layers` (as Keras)

    def __init__(self, op, arguments, name=None, **kwargs):
        if op not in REGISTRY:
            raise ValueError(f"Unknown op '{op}'. Expected the name of a plait.ops function, e.g. 'numpy.add'.")
        self.op = op
        super().__init__(name=name or unique_name(op.split(".")[-1]), **kwargs)
        self._fn = REGISTRY[op]
        self._constants = 0
        args, kwargs_ = _decode(arguments)
        self._template = nest.map_structure(self._keep_constant, (list(args), dict(kwargs_)))
        self.built = True

    @property
    def template(self):
        """The call's arguments, ``(args, kwargs)``, with placeholders: where a symbolic input
        goes, an object whose ``index`` is its position among the node's inputs; where a constant
        tensor goes, one whose ``index`` names its buffer (``constant_<index>``). Other values
        stand as given.

        Example:
            >>> import plait
            >>> y = plait.ops.add(plait.Input(shape=(3,)), 1.0)
            >>> args, kwargs = y.node.layer.template
            >>> [type(a).__name__ for a in args], kwargs
            (['_Input', 'float'], {})
        """
        return self._template

    def _keep_constant(self, value):
        if isinstance(value, np.ndarray):
            value = torch.as_tensor(value)
        if isinstance(value, torch.Tensor):
            self.register_buffer(f"constant_{self._constants}", value, persistent=False)
            self._constants += 1
            return _Const(self._constants - 1)
        return value

    def call(self, *inputs):
        def fill(value):
            if isinstance(value, _Input):
                return inputs[value.index]
            if isinstance(value, _Const):
                return getattr(self, f"constant_{value.index}")
            return value

        args, kwargs = nest.map_structure(fill, self._template)
        out = self._fn(*args, **kwargs)
        # torch's named tuples (topk's values/indices) become plain tuples in a graph.
        return tuple(out) if isinstance(out, tuple) and type(out) is not tuple else out

    def compute_output_spec(self, *args, **kwargs):
        try:
            return super().compute_output_spec(*args, **kwargs)  # a meta run: no memory, no compute
        except ValueError as error:
            meta_error = error
        # Ops without a meta kernel (lstsq, ctc_loss) or with data-dependent sizes (nonzero,
        # unique): run on small real placeholders, as Keras's torch backend falls back to. Three
        # runs: sizes 83 and 89 reveal the dims that follow unknown input dims, zeros against
        # random values the dims that follow the data. Either kind is unknown (None).
        runs = []
        for size, random in ((83, False), (83, True), (89, True)):
            real = nest.map_structure(lambda v, s=size, r=random: _placeholder(v, s, r), (list(args), kwargs))
            try:
                with torch.no_grad():
                    runs.append(self.call(*real[0], **real[1]))
            except Exception:
                raise meta_error from None
        return _merge_specs(runs)

    def get_config(self):
        config = super().get_config()
        config.update(op=self.op, arguments=_encode(self._template, self))
        return config

    def _get_name(self):
        return "".join(part.capitalize() for part in self.op.split(".")[-1].split("_"))


def _placeholder(value, size, random):
    if not isinstance(value, SymbolicTensor):
        return value
    shape = [size if d is None else d for d in value.shape]
    generator = torch.Generator().manual_seed(size)
    dtype = value.torch_dtype
    if dtype == torch.bool:
        return torch.rand(shape, generator=generator) > 0.5 if random else torch.zeros(shape, dtype=torch.bool)
    if not random:
        return torch.zeros(shape, dtype=dtype)
    if dtype.is_floating_point or dtype.is_complex:
        return torch.rand(shape, generator=generator).to(dtype)
    return torch.randint(0, 3, shape, generator=generator).to(dtype)  # small: valid as indices, counts


def _merge_specs(runs):
    first = runs[0]
    if isinstance(first, torch.Tensor):
        shapes = [tuple(r.shape) for r in runs]
        if len({len(s) for s in shapes}) > 1:
            raise ValueError("The op's output rank depends on its input's values; it cannot be a graph node.")
        return (tuple(dims[0] if len(set(dims)) == 1 else None for dims in zip(*shapes)), first.dtype)
    if isinstance(first, (list, tuple)):
        return type(first)(_merge_specs([r[i] for r in runs]) for i in range(len(first)))
    raise TypeError(f"An op in a graph must return tensors. Received: {type(first).__name__}")


# ----------------------------------------------------------------------------- JSON form
def _encode(value, layer):
    if isinstance(value, _Input):
        return {"__input__": value.index}
    if isinstance(value, _Const):
        value = getattr(layer, f"constant_{value.index}")
    if isinstance(value, torch.Tensor):
        return {"__tensor__": value.detach().cpu().tolist(), "dtype": standardize_dtype(value.dtype)}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, layer) for v in value]}
    if isinstance(value, list):
        return [_encode(v, layer) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v, layer) for k, v in value.items()}
    if isinstance(value, slice):
        return {"__slice__": [_encode(v, layer) for v in (value.start, value.stop, value.step)]}
    if value is Ellipsis:
        return {"__ellipsis__": True}
    if isinstance(value, (torch.dtype, np.dtype)) or (isinstance(value, type) and issubclass(value, np.generic)):
        return {"__dtype__": standardize_dtype(value)}
    if isinstance(value, np.generic):
        return value.item()
    if callable(value):
        return {"__function__": function_reference(value, f"Operation '{layer.name}'")}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(
        f"Operation '{layer.name}' ({layer.op}): cannot save the argument {value!r} of type {type(value)}."
    )


def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__input__" in value:
        return _Input(value["__input__"])
    if "__tensor__" in value:
        return torch.tensor(value["__tensor__"], dtype=to_torch_dtype(value["dtype"]))
    if "__tuple__" in value:
        return tuple(_decode(v) for v in value["__tuple__"])
    if "__slice__" in value:
        return slice(*(_decode(v) for v in value["__slice__"]))
    if "__ellipsis__" in value:
        return Ellipsis
    if "__dtype__" in value:
        return value["__dtype__"]
    if "__function__" in value:
        return resolve_function(value["__function__"])
    return {k: _decode(v) for k, v in value.items()}
