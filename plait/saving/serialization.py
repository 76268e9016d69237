"""Architecture <-> JSON: layers by class name and config, graphs by their nodes.

The layer-level primitives (class lookup, function references, torch modules, ``layer_to_config``
/ ``layer_from_config``) live in :mod:`plait.layers.serialization`, below the layers that use
them; models install how their graphs are written (:mod:`plait.models.serialization`), so saving
never imports them.

Nothing here imports or evaluates code named by a file: a class name is looked up in plait's
own layers, the classes registered with :func:`register_serializable`, ``custom_objects``, or
(for plain torch modules) the ``torch.nn`` namespace; anything else is refused.

A functional model is stored as its layers plus its nodes in run order. Each node names its
layer and its arguments, where a tensor is ``{"node": i, "index": k}`` (output ``k`` of the
``i``-th node) so rebuilding is one pass over the list, calling each layer on symbolic tensors.
"""

import importlib

from plait.layers.base import Layer
from plait.layers.serialization import (
    build_torch_module,
    class_name,
    function_reference,
    layer_from_config,
    layer_to_config,
    loading,
    register_serializable,
    resolve_class,
    resolve_function,
    serialize_layer,
    serialize_value,
    torch_module_config,
)
from plait.utils.custom_objects import (
    CustomObjectScope,
    custom_object_scope,
    get_custom_objects,
    lookup,
    register_keras_serializable,
    registered_name,
)

__all__ = [
    "CustomObjectScope",
    "custom_object_scope",
    "deserialize_keras_object",
    "get_custom_objects",
    "get_registered_name",
    "get_registered_object",
    "register_keras_serializable",
    "serialize_keras_object",
    "build_torch_module",
    "class_name",
    "function_reference",
    "layer_from_config",
    "layer_to_config",
    "loading",
    "register_serializable",
    "resolve_class",
    "resolve_function",
    "torch_module_config",
]


# Where plait's own non-layer objects live, searched by class name at load time.
_OBJECT_MODULES = (
    "plait.regularizers",
    "plait.initializers",
    "plait.constraints",
    "plait.losses",
    "plait.metrics",
    "plait.optimizers",
    "plait.optimizers.schedules",
    "plait.activations",
)


def get_registered_name(obj):
    """``"package>name"`` if ``obj`` is registered, else its ``__name__`` (Keras's)."""
    return registered_name(obj) or getattr(obj, "__name__", type(obj).__name__)


def get_registered_object(name, custom_objects=None, module_objects=None):
    """The object registered (or in scope, or in ``custom_objects``/``module_objects``) as ``name``."""
    found = lookup(name, custom_objects)
    if found is None and module_objects:
        found = module_objects.get(name)
    return found


def serialize_keras_object(obj):
    """Keras's ``serialize_keras_object``: any plait object as a JSON-able dict
    ``{"module", "class_name", "config", "registered_name"}`` (plain values pass through; a
    registered function becomes its registered name).

    Example:
        >>> import plait
        >>> config = plait.saving.serialize_keras_object(plait.regularizers.L1(0.005))
        >>> config["class_name"], config["config"]
        ('L1', {'l1': 0.005})
        >>> plait.saving.deserialize_keras_object(config)
        L1(l1=0.005)
    """
    if isinstance(obj, Layer):
        return serialize_layer(obj)
    return serialize_value(obj, type(obj).__name__)


def deserialize_keras_object(config, custom_objects=None, safe_mode=True, **kwargs):
    """Keras's ``deserialize_keras_object``: the object :func:`serialize_keras_object` described.

    A name is looked up in ``custom_objects``, the custom object scopes, the registry, then
    plait's own layers, losses, metrics, optimizers, initializers, regularizers, constraints
    and activations; an unknown one is a ValueError naming it. Nothing is imported from the
    config's ``module``.
    """
    if config is None or isinstance(config, (bool, int, float)):
        return config
    if isinstance(config, (list, tuple)):
        return [deserialize_keras_object(c, custom_objects, safe_mode) for c in config]
    if isinstance(config, str):
        # As Keras: a name is an object only when it is a custom object (registered, in scope or
        # given); any other string is the plain value it is ("SGD" stays "SGD").
        found = lookup(config, custom_objects)
        return config if found is None else found
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Cannot deserialize {config!r:.120}: expected a dict with 'class_name' and 'config'.")
    class_name, inner = config["class_name"], config.get("config", {})
    registered = config.get("registered_name")
    if class_name == "function" or (class_name == "__lambda__"):
        name = registered or inner
        found = lookup(name, custom_objects) if isinstance(name, str) else None
        found = found if found is not None else (_builtin_object(name) if isinstance(name, str) else None)
        if found is None:
            raise ValueError(_unknown(name))
        return found
    cls = None
    for key in (registered, class_name):
        if cls is None and key:
            cls = lookup(key, custom_objects)
    if cls is None:
        try:
            resolve_class(class_name, custom_objects, registered)
            return layer_from_config(config, custom_objects)
        except ValueError:
            cls = _builtin_object(class_name)
    if cls is None:
        raise ValueError(_unknown(registered or class_name))
    if isinstance(cls, type) and issubclass(cls, Layer):
        return layer_from_config(config, custom_objects)
    with CustomObjectScope(custom_objects or {}):
        if hasattr(cls, "from_config"):
            return cls.from_config(dict(inner))
        return cls(**inner) if isinstance(cls, type) else cls


def _builtin_object(name):
    for module_name in _OBJECT_MODULES:
        module = importlib.import_module(module_name)
        found = getattr(module, name, None)
        if found is not None and (isinstance(found, type) or callable(found)):
            return found
    return None


def _unknown(name):
    return (
        f"Could not deserialize '{name}': it is not one of plait's objects, and no custom object of that name is "
        f"registered or given. Pass it in `custom_objects={{'{name}': ...}}`, use "
        "`plait.saving.custom_object_scope(...)`, or decorate it with @plait.saving.register_keras_serializable()."
    )
