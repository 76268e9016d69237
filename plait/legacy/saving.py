"""Keras 2's serialization format (Keras 3's ``keras.legacy.saving`` and ``keras.utils.legacy``).

Keras 2 wrote an object as ``{"class_name": ..., "config": {...}}``, without the ``module`` and
``registered_name`` of Keras 3's format (:func:`plait.saving.serialize_keras_object`), and a
function as its bare name. Objects nested in a config are written the same way and marked
``"__passive_serialization__": True``, so loading knows to rebuild them; a value that cannot
be written so (a number, a dict, a list) stays as it is. Reading looks names up only where it
is told to (``module_objects``, ``custom_objects``), then in the custom object scopes and the
registry, as Keras 2's mid-level loaders did.

Example:
    >>> import plait
    >>> from plait.legacy.saving import deserialize_keras_object, serialize_keras_object
    >>> config = serialize_keras_object(plait.initializers.Constant(2.0))
    >>> config
    {'class_name': 'Constant', 'config': {'value': 2.0}}
    >>> deserialize_keras_object(config, module_objects={"Constant": plait.initializers.Constant})
    Constant(value=2.0)
"""

import inspect

from plait.saving import CustomObjectScope, get_registered_name, get_registered_object

_PASSIVE = "__passive_serialization__"


def serialize_keras_object(instance):
    """``instance`` in Keras 2's format: ``{"class_name", "config"}`` for an object with a
    ``get_config``, the registered name for a function or class, None for None.

    Args:
        instance: a layer, initializer, regularizer, ... or a function.

    Raises:
        ValueError: when ``instance`` has neither a ``get_config`` nor a name.
    """
    instance = inspect.unwrap(instance)
    if instance is None:
        return None
    if hasattr(instance, "get_config"):
        config = {}
        for key, item in instance.get_config().items():
            if isinstance(item, str):
                config[key] = item
                continue
            try:
                written = serialize_keras_object(item)
            except ValueError:  # a plain value (a number, a list, a dict): kept as it is
                config[key] = item
                continue
            if isinstance(written, dict) and not isinstance(item, dict):
                written[_PASSIVE] = True
            config[key] = written
        return {"class_name": get_registered_name(type(instance)), "config": config}
    if hasattr(instance, "__name__"):
        return get_registered_name(instance)
    raise ValueError(f"Cannot serialize {instance!r} in Keras 2's format: it has no `get_config()` and no name.")


def _find(name, module_objects, custom_objects):
    found = get_registered_object(name, custom_objects)
    return found if found is not None else (module_objects or {}).get(name)


def deserialize_keras_object(identifier, module_objects=None, custom_objects=None, printable_module_name="object"):
    """The object a Keras 2 config (or name) describes.

    Args:
        identifier: a ``{"class_name", "config"}`` dict, a name, a function, or None.
        module_objects: name -> class or function: where the library's own objects are found.
        custom_objects: name -> class or function given by the user (searched first).
        printable_module_name: what the object is, for error messages (``"layer"``).

    Returns:
        the object: a class named by a string is instantiated without arguments, a function
        is returned as it is.
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        if "class_name" not in identifier or "config" not in identifier:
            raise ValueError(
                f"Improper config format for {printable_module_name}: expected a dict with 'class_name' and "
                f"'config'. Received: {identifier!r}"
            )
        cls = _find(identifier["class_name"], module_objects, custom_objects)
        if cls is None:
            raise ValueError(
                f"Unknown {printable_module_name}: '{identifier['class_name']}'. Pass it in `custom_objects`, "
                "register it with plait.saving.register_keras_serializable, or open a custom_object_scope."
            )
        config = identifier["config"]
        if isinstance(config, dict):
            config = dict(config)
            for key, item in config.items():
                if key == "name":  # a name is a name, even when a function is called so
                    continue
                if isinstance(item, dict) and _PASSIVE in item:
                    item = {k: v for k, v in item.items() if k != _PASSIVE}
                    config[key] = deserialize_keras_object(item, module_objects, custom_objects, "config_item")
                elif isinstance(item, str) and inspect.isfunction(_find(item, module_objects, custom_objects)):
                    config[key] = _find(item, module_objects, custom_objects)
        with CustomObjectScope(custom_objects or {}):
            if hasattr(cls, "from_config"):
                if "custom_objects" in inspect.signature(cls.from_config).parameters:
                    return cls.from_config(config, custom_objects=custom_objects or {})
                return cls.from_config(config)
            return cls(**config)
    if isinstance(identifier, str):
        found = _find(identifier, module_objects, custom_objects)
        if found is None:
            raise ValueError(
                f"Unknown {printable_module_name}: '{identifier}'. Pass it in `custom_objects` or `module_objects`, "
                "or register it with plait.saving.register_keras_serializable."
            )
        return found() if inspect.isclass(found) else found
    if inspect.isfunction(identifier):
        return identifier
    raise ValueError(f"Could not interpret serialized {printable_module_name}: {identifier!r}")


__all__ = ["deserialize_keras_object", "serialize_keras_object"]
