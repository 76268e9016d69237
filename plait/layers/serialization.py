"""Layers <-> JSON: the primitives that layers themselves need to save and load.

A layer is stored as ``{"class_name": ..., "config": layer.get_config()}``; a function that a
layer holds (``Lambda``'s) as a reference ``{"module": ..., "name": ...}``; a plain ``torch.nn``
module (``TorchModuleWrapper``) as its class name and constructor arguments. Wrappers
(``Bidirectional``, ``TimeDistributed``) and ``Lambda`` use these in their ``get_config`` and
``from_config``; :mod:`plait.saving` builds model files on top of them.

Nothing here imports or evaluates code named by a file: a class name is looked up in plait's
own layers, the classes registered with :func:`register_serializable` or as built-ins by the
packages above layers (:func:`register_builtin_classes`), ``custom_objects``, or (for plain
torch modules) the ``torch.nn`` namespace; anything else is refused.

Models are layers whose config is a graph. They sit above layers, so :mod:`plait.saving`
installs how they are written and rebuilt (:func:`register_graph_serialization`); a model
nested in a model or a wrapper then round-trips through :func:`layer_to_config` and
:func:`layer_from_config` like any layer.
"""

import contextlib
import importlib
import inspect
import sys

import numpy as np
import torch

from plait.graph.node import keras_dtype
from plait.layers.base import Layer
from plait.layers.torch_module import TorchModuleWrapper, TorchOp
from plait.utils import custom_objects as _custom
from plait.utils import settings

# The global registry (Keras's get_custom_objects()): "package>name" and bare names.
_REGISTERED = _custom.get_custom_objects()
# Set while a file is being loaded: what the user allowed (custom_objects, safe_mode).
_LOADING = {"custom_objects": None, "safe_mode": True}
# Modules whose functions a file may name without safe_mode=False: they hold no user code.
_SAFE_MODULES = (
    "torch",
    "torch.nn.functional",
    "torch.special",
    "torch.linalg",
    "math",
    "plait.activations",
    # plait.ops: Lambda(plait.ops.nn.relu) and the like (each op's __module__ is its family).
    *(f"plait.ops.{family}" for family in ("core", "einops", "image", "linalg", "math", "nn", "numpy")),
)


@contextlib.contextmanager
def loading(custom_objects, safe_mode):
    previous = dict(_LOADING)
    _LOADING.update(custom_objects=custom_objects, safe_mode=safe_mode)
    try:
        yield
    finally:
        _LOADING.update(previous)


def function_reference(fn, owner):
    """``{"module": ..., "name": ...}`` for a named function; anonymous ones are refused."""
    for key, value in _REGISTERED.items():
        if value is fn and ">" not in key:
            return {"registered": key}
    module, name = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    # Builtins such as torch.square report a private qualname; the public name is what works.
    if getattr(sys.modules.get(module), getattr(fn, "__name__", ""), None) is fn:
        name = fn.__name__
    if module is None or "<lambda>" in name or "<locals>" in name or not name:
        raise ValueError(
            f"{owner} holds an anonymous function ({getattr(fn, '__name__', fn)!r}); saving it would mean "
            "storing code, which plait never does. Use a named module-level function, or register it with "
            "@plait.saving.register_serializable() and pass it back at load time."
        )
    return {"module": module, "name": name}


def resolve_function(ref):
    """The function a file names: registered, in custom_objects, in a safe module, or (only with
    safe_mode=False) imported from its module."""
    custom = {**_custom.in_scope(), **(_LOADING["custom_objects"] or {})}
    if "registered" in ref:
        key = ref["registered"]
        if key in custom:
            return custom[key]
        if key in _REGISTERED:
            return _REGISTERED[key]
        raise ValueError(f"The file names the registered function '{key}', which is not registered here.")
    module, name = ref.get("module"), ref.get("name")
    if not isinstance(module, str) or not isinstance(name, str):
        raise ValueError(f"A function reference needs a module and a name. Received: {ref!r}")
    if name in custom:
        return custom[name]
    if module not in _SAFE_MODULES and _LOADING["safe_mode"] and not settings.get("unsafe_deserialization"):
        raise ValueError(
            f"The file's Lambda calls '{module}.{name}'; loading it would import and run code from module "
            f"'{module}'. Pass it in custom_objects={{'{name}': ...}}, register it, or load with "
            "safe_mode=False if you trust the file."
        )
    target = importlib.import_module(module)
    for part in name.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"'{module}.{name}' is not a function.")
    return target


def register_serializable(package="Custom", name=None):
    """Decorator: make a custom layer, model, function, loss, metric, initializer... loadable by
    name (Keras's ``register_keras_serializable``, of which this is an alias).

    Example:
        >>> import plait
        >>> @plait.saving.register_serializable()
        ... class Scale(plait.layers.Layer):
        ...     def call(self, x):
        ...         return 2 * x
    """
    return _custom.register_keras_serializable(package, name)


# Classes above layers that files name as built-ins ("Functional", "Sequential", ...).
_BUILTINS = {}
# How layers whose config is a graph (models) are written and rebuilt; set by plait.saving.
_graphs = {"base": None, "to_config": None, "from_config": None}


def register_builtin_classes(table):
    """Make classes from packages above layers (models, ops) loadable by their bare names."""
    _BUILTINS.update(table)


def register_graph_serialization(base, to_config, from_config):
    """Install how instances of ``base`` (models) are serialized: ``to_config(model) -> dict`` and
    ``from_config(config, custom_objects, cls) -> model``."""
    _graphs.update(base=base, to_config=to_config, from_config=from_config)


def builtin_classes():
    """Every class a file may name without registering it: plait's layers and the built-ins."""
    from plait import layers as layers_module  # the package's public namespace, complete once imported

    table = {name: obj for name, obj in vars(layers_module).items() if isinstance(obj, type) and issubclass(obj, Layer)}
    table.update(_BUILTINS)
    return table


def class_name(layer):
    return _custom.registered_name(type(layer)) or type(layer).__name__


def resolve_class(name, custom_objects=None, registered_name=None):
    """The class a file names: in ``custom_objects`` (or the loader's), a custom object scope, the
    registry (by ``registered_name`` first), else plait's own layers and models."""
    custom_objects = custom_objects or _LOADING["custom_objects"]
    for key in (registered_name, name):
        found = _custom.lookup(key, custom_objects) if key else None
        if found is not None:
            return found
    builtins = builtin_classes()
    if name in builtins:
        return builtins[name]
    raise ValueError(
        f"Unknown layer class '{registered_name or name}': it is not one of plait's layers, and no custom object of "
        f"that name is registered or given. Pass it in `custom_objects={{'{name}': ...}}`, load inside "
        f"`plait.saving.custom_object_scope(...)`, or register it with @plait.saving.register_keras_serializable()."
    )


# ---------------------------------------------------------------- torch modules
def _activation_name(fn):
    name = getattr(fn, "__name__", None)
    if name in ("relu", "gelu") and getattr(torch.nn.functional, name) is fn:
        return name
    raise ValueError(f"activation {fn!r} is not a name torch.nn accepts")


# torch.nn classes whose constructor arguments live in their submodules, not in attributes.
_RECOVER_ARGS = {
    "TransformerEncoderLayer": lambda m: {
        "d_model": m.self_attn.embed_dim,
        "nhead": m.self_attn.num_heads,
        "dim_feedforward": m.linear1.out_features,
        "dropout": m.dropout.p,
        "activation": _activation_name(m.activation),
        "layer_norm_eps": m.norm1.eps,
        "batch_first": m.self_attn.batch_first,
        "norm_first": m.norm_first,
        "bias": m.linear1.bias is not None,
    },
}


def torch_module_config(module):
    """``{"module": "torch.nn.Linear", "args": {...}}`` for a ``torch.nn`` module, found by matching
    the constructor's parameters to the module's attributes and checked by rebuilding it."""
    cls = type(module)
    path = f"{cls.__module__}.{cls.__qualname__}"
    for key, registered in _REGISTERED.items():
        if registered is cls and ">" in key:
            if not hasattr(module, "get_config"):
                raise ValueError(f"Registered torch module {path} needs a get_config() method to be saved.")
            return {"registered": key, "args": module.get_config()}
    if not cls.__module__.startswith("torch.nn") or getattr(torch.nn, cls.__name__, None) is not cls:
        raise ValueError(
            f"Cannot save the plain torch module {path}: only torch.nn modules are saved by reference. "
            "Make it a plait Layer with get_config() and @plait.saving.register_serializable()."
        )
    args = _RECOVER_ARGS[cls.__name__](module) if cls.__name__ in _RECOVER_ARGS else {}
    for pname, param in inspect.signature(cls.__init__).parameters.items():
        if pname in args:
            continue
        if pname in ("self", "device", "dtype") or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if hasattr(module, pname):
            value = getattr(module, pname)
            if isinstance(value, torch.Tensor) or value is None and pname == "bias":
                value = value is not None
            if isinstance(value, (bool, int, float, str)) or value is None:
                args[pname] = value
            elif isinstance(value, tuple) and all(isinstance(v, (int, float)) for v in value):
                args[pname] = list(value)
    rebuilt = build_torch_module({"module": cls.__name__, "args": args})
    own = [(k, tuple(v.shape)) for k, v in module.state_dict().items()]
    if [(k, tuple(v.shape)) for k, v in rebuilt.state_dict().items()] != own:
        raise ValueError(
            f"Cannot save the torch module {path}: its constructor arguments cannot be recovered from its "
            "attributes. Wrap the code in a plait Layer with get_config() and register it."
        )
    return {"module": cls.__name__, "args": args}


def build_torch_module(config):
    if "registered" in config:
        cls = (_LOADING["custom_objects"] or {}).get(config["registered"].split(">")[-1]) or _REGISTERED.get(
            config["registered"]
        )
        if cls is None:
            raise ValueError(
                f"The file names the registered torch module '{config['registered']}', not registered here."
            )
        return cls(**config.get("args", {}))
    cls = getattr(torch.nn, config["module"], None)
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise ValueError(f"'{config['module']}' is not a torch.nn module; refusing to load it.")
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in config.get("args", {}).items()}
    return cls(**args)


# ---------------------------------------------------------------- layers
def layer_to_config(layer):
    if isinstance(layer, TorchModuleWrapper):
        return {"class_name": "TorchModuleWrapper", "config": {"name": layer.name, **torch_module_config(layer.module)}}
    if isinstance(layer, TorchOp):
        raise ValueError(
            f"Layer '{layer.name}' applies the torch function {layer.get_config()['function']} to symbolic "
            "tensors; saving such operations is not supported yet. Use a layer (e.g. plait.layers.Add)."
        )
    if _graphs["base"] is not None and isinstance(layer, _graphs["base"]):
        return {"class_name": class_name(layer), "config": _graphs["to_config"](layer)}
    return {"class_name": class_name(layer), "config": serialize_value(layer.get_config(), layer.name)}


def serialize_layer(layer):
    """Keras's ``layers.serialize``: ``{"module", "class_name", "config", "registered_name"}``."""
    spec = layer_to_config(layer)
    registered = _custom.registered_name(type(layer))
    module = type(layer).__module__
    public = module.startswith("plait.") and getattr(sys.modules.get("plait.layers"), type(layer).__name__, None)
    return {
        "module": "plait.layers" if public is type(layer) else module,
        "class_name": type(layer).__name__,
        "config": spec["config"],
        "registered_name": registered,
    }


def serialize_value(value, owner="layer"):
    """A config value as JSON (what a custom layer's ``get_config`` may return, as Keras accepts):
    layers and objects with ``get_config`` (regularizers, initializers, constraints, losses,
    metrics) become ``{"module", "class_name", "config", "registered_name"}`` dicts, functions
    their registered or plain name, arrays lists."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [serialize_value(v, owner) for v in value]
    if isinstance(value, dict):
        return {k: serialize_value(v, owner) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value).tolist()
    if isinstance(value, torch.dtype):
        return keras_dtype(value)
    if isinstance(value, Layer):
        return serialize_layer(value)
    if not isinstance(value, type) and hasattr(value, "get_config"):
        return {
            "module": type(value).__module__,
            "class_name": type(value).__name__,
            "config": serialize_value(value.get_config(), owner),
            "registered_name": _custom.registered_name(type(value)),
        }
    if callable(value):
        registered = _custom.registered_name(value)
        if registered is not None:
            return registered
        name = getattr(value, "__name__", "")
        if name.isidentifier() and "<locals>" not in getattr(value, "__qualname__", "<locals>"):
            return name  # found again in custom_objects, a scope or plait's own names at load
    raise TypeError(
        f"The config of {owner!r} holds {value!r:.80} (of type {type(value).__name__}), which cannot be saved: "
        "return plain values, or objects with get_config(), from get_config()."
    )


def layer_from_config(spec, custom_objects=None):
    if not isinstance(spec, dict) or "class_name" not in spec or not isinstance(spec.get("config"), dict):
        raise ValueError(f"A layer entry must be {{'class_name': ..., 'config': {{...}}}}. Received: {spec!r:.200}")
    name, config = spec["class_name"], spec["config"]
    if name == "TorchModuleWrapper":
        return TorchModuleWrapper(build_torch_module(config), name=config.get("name"))
    cls = resolve_class(name, custom_objects, spec.get("registered_name"))
    # The user's from_config may deserialize nested objects: it sees custom_objects too.
    with _custom.CustomObjectScope(custom_objects or _LOADING["custom_objects"] or {}):
        if _graphs["from_config"] is not None and (
            name in ("Functional", "Sequential") or (isinstance(cls, type) and "graph" in config)
        ):
            return _graphs["from_config"](config, custom_objects, cls)
        try:
            return cls.from_config(dict(config))
        except TypeError as error:
            raise ValueError(f"Could not build layer '{name}' from its config: {error}") from None


def serialize(layer):
    """Keras's ``layers.serialize(layer)``: a JSON-able dict (see :func:`serialize_layer`).

    Example:
        >>> import plait
        >>> config = plait.layers.serialize(plait.layers.Dense(3, name="d"))
        >>> config["class_name"], plait.layers.deserialize(config).units
        ('Dense', 3)
    """
    if not isinstance(layer, Layer):
        raise TypeError(f"layers.serialize expects a plait layer. Received: {layer!r:.80}")
    return serialize_layer(layer)


def deserialize(config, custom_objects=None):
    """Keras's ``layers.deserialize(config, custom_objects=None)``: the layer a config describes."""
    return layer_from_config(config, custom_objects)
