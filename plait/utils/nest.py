"""Tiny helpers for nested structures (lists, tuples, dicts) of tensors.

Keras calls this ``tree``; plait only needs flatten and map, so it keeps its own
twenty lines rather than depend on ``optree`` or torch's private ``_pytree``.
"""


def flatten(obj):
    """Return the leaves of ``obj`` (nested list / tuple / dict) in order."""
    if isinstance(obj, (list, tuple)):
        return [leaf for item in obj for leaf in flatten(item)]
    if isinstance(obj, dict):
        return [leaf for key in obj for leaf in flatten(obj[key])]
    return [obj]


def map_structure(fn, obj):
    """Apply ``fn`` to every leaf of ``obj``, keeping the structure."""
    if isinstance(obj, list):
        return [map_structure(fn, item) for item in obj]
    if isinstance(obj, tuple):
        return tuple(map_structure(fn, item) for item in obj)
    if isinstance(obj, dict):
        return {key: map_structure(fn, value) for key, value in obj.items()}
    return fn(obj)


def is_plain(obj):
    """Whether ``obj`` is plain data, what JSON holds as is: None, bools, numbers, strings, and
    lists, tuples and string-keyed dicts of them (a config, compile arguments given by name).

    Example:
        >>> is_plain({"units": 3, "axes": [1, 2]}), is_plain({"fn": len})
        (True, False)
    """
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return True
    if isinstance(obj, (list, tuple)):
        return all(is_plain(item) for item in obj)
    if isinstance(obj, dict):
        return all(isinstance(key, str) and is_plain(value) for key, value in obj.items())
    return False
