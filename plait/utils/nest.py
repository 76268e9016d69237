"""Tiny helpers for nested structures (lists, tuples, dicts) of tensors.

Keras calls this ``tree``; plait only needs flatten and map, so it keeps its own
twenty lines rather than depend on ``optree`` or torch's private ``_pytree``.
"""

_SEQUENCES = (list, tuple)
_SCALARS = (type(None), bool, int, float, str)


def _children(node):
    """A container's items (a dict's values, in key order), or None for a leaf."""
    if isinstance(node, dict):
        return node.values()
    return node if isinstance(node, _SEQUENCES) else None


def flatten(obj):
    """Return the leaves of ``obj`` (nested list / tuple / dict) in order.

    Example:
        >>> flatten({"a": [1, (2, 3)], "b": 4})
        [1, 2, 3, 4]
    """
    children = _children(obj)
    return [obj] if children is None else [leaf for child in children for leaf in flatten(child)]


def map_structure(fn, obj):
    """Apply ``fn`` to every leaf of ``obj``, keeping the structure (a tuple subclass comes back
    as a plain tuple).

    Example:
        >>> map_structure(len, {"a": ["xy", ("z",)]})
        {'a': [2, (1,)]}
    """
    if isinstance(obj, dict):
        return {key: map_structure(fn, value) for key, value in obj.items()}
    if not isinstance(obj, _SEQUENCES):
        return fn(obj)
    mapped = [map_structure(fn, item) for item in obj]
    return mapped if isinstance(obj, list) else tuple(mapped)


def is_plain(obj):
    """Whether ``obj`` is plain data, what JSON holds as is: None, bools, numbers, strings, and
    lists, tuples and string-keyed dicts of them (a config, compile arguments given by name).

    Example:
        >>> is_plain({"units": 3, "axes": [1, 2]}), is_plain({"fn": len})
        (True, False)
    """
    if isinstance(obj, dict) and not all(isinstance(key, str) for key in obj):
        return False
    children = _children(obj)
    return isinstance(obj, _SCALARS) if children is None else all(is_plain(child) for child in children)
