"""The custom-object registry: Keras's ``register_keras_serializable``, ``get_custom_objects`` and
``custom_object_scope``, below every package that looks names up (activations, initializers,
regularizers, constraints, losses, metrics, layers), so each of them finds a user's objects.

A registered object is known as ``"<package>><name>"`` (Keras's ``registered_name``) and by its
bare name. At load time a name is looked up in, first, the ``custom_objects`` passed to the
loader, then the innermost :class:`CustomObjectScope`, then the global registry. Nothing here
imports code: only objects the running program defined and registered can be found.

Example:
    >>> from plait.utils import custom_objects
    >>> @custom_objects.register_keras_serializable(package="my_package", name="squared")
    ... def custom_fn(x):
    ...     return x**2
    >>> custom_objects.registered_name(custom_fn)
    'my_package>squared'
    >>> custom_objects.lookup("my_package>squared") is custom_fn
    True
"""

import threading

# Keras's GLOBAL_CUSTOM_OBJECTS: "package>name" and bare names -> object.
_GLOBAL = {}
_SCOPES = threading.local()


def register_keras_serializable(package="Custom", name=None):
    """Decorator: make a class or function loadable by name (Keras's signature).

    Args:
        package: the package part of the registered name (default ``"Custom"``).
        name: the name part (default: the object's ``__name__``).
    """
    if not isinstance(package, str) or ">" in package:
        raise ValueError(f"`package` must be a string without '>'. Received: package={package!r}")

    def decorator(obj):
        key = name or getattr(obj, "__name__", None)
        if not key:
            raise ValueError(f"Cannot register {obj!r}: it has no __name__; pass `name=`.")
        registered = f"{package}>{key}"
        if isinstance(obj, type) and not hasattr(obj, "get_config"):
            raise ValueError(f"Cannot register class {obj.__name__}: it needs a get_config() method.")
        _GLOBAL[registered] = obj
        _GLOBAL[key] = obj
        if isinstance(obj, type) and key != obj.__name__:
            _GLOBAL.setdefault(obj.__name__, obj)
        return obj

    return decorator


def get_custom_objects():
    """The global registry, a dict (Keras's ``get_custom_objects()``; ``.clear()`` empties it)."""
    return _GLOBAL


def _scopes():
    if not hasattr(_SCOPES, "stack"):
        _SCOPES.stack = []
    return _SCOPES.stack


class CustomObjectScope:
    """``with CustomObjectScope({"MyLayer": MyLayer}):`` — names known while loading inside it.

    Args:
        *custom_objects: dicts of ``name -> object`` (merged).
    """

    def __init__(self, *custom_objects):
        self.custom_objects = {}
        for objects in custom_objects:
            if objects is not None and not isinstance(objects, dict):
                raise TypeError(f"custom_object_scope takes dicts of name -> object. Received: {objects!r}")
            self.custom_objects.update(objects or {})

    def __enter__(self):
        _scopes().append(self.custom_objects)
        return self

    def __exit__(self, *exc):
        _scopes().pop()


custom_object_scope = CustomObjectScope


def lookup(name, custom_objects=None):
    """The object registered or in scope under ``name`` (or ``"package>name"``), else None."""
    if not isinstance(name, str):
        return None
    bare = name.split(">")[-1]
    for table in [custom_objects or {}, *reversed(_scopes())]:
        if name in table:
            return table[name]
        if bare in table:
            return table[bare]
    return _GLOBAL.get(name, _GLOBAL.get(bare) if ">" in name else None)


def registered_name(obj):
    """``"package>name"`` under which ``obj`` (or its class, for an instance) was registered, else None."""
    for key, value in _GLOBAL.items():
        if ">" in key and value is obj:
            return key
    return None


def in_scope():
    """Every name known now beyond the global registry (the scopes', innermost last)."""
    merged = {}
    for table in _scopes():
        merged.update(table)
    return merged
