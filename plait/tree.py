"""``plait.tree``: Keras 3's ``keras.tree``, utilities for nested structures.

A structure is a leaf or a container of structures. Containers are lists, tuples, namedtuples,
dicts (and ``defaultdict``), whose children are taken in **sorted key order**, and
``OrderedDict``, whose children keep their insertion order; everything else (None, numbers,
strings, tensors, arrays) is a leaf. This is the public, Keras-compatible face of plait's
nested-structure handling; the model stack uses the smaller ``plait.utils.nest``, which keeps a
dict's insertion order as the functional API needs.

Example:
    >>> from plait import tree
    >>> tree.flatten({"b": [1, 2], "a": 3})
    [3, 1, 2]
    >>> tree.map_structure(lambda x: x * 10, {"b": [1, 2], "a": 3})
    {'b': [10, 20], 'a': 30}
    >>> tree.pack_sequence_as(((0, 0), 0), ["x", "y", "z"])
    (('x', 'y'), 'z')
"""

from collections import OrderedDict, defaultdict

from plait.utils import nest


class MAP_TO_NONE:  # noqa: N801 (Keras's name)
    """Returned by a :func:`traverse` function to put ``None`` in place of a node."""


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def is_nested(structure):
    """Whether ``structure`` is a container (list, tuple, namedtuple, dict) rather than a leaf.

    Example:
        >>> from plait import tree
        >>> tree.is_nested([1]), tree.is_nested("ab"), tree.is_nested(None)
        (True, False, False)
    """
    return isinstance(structure, (list, tuple, dict))


def _keys(node):
    """The keys of a container's children, in the order they are flattened."""
    if isinstance(node, dict):
        if isinstance(node, OrderedDict):
            return list(node)
        try:
            return sorted(node)
        except TypeError as error:
            raise TypeError(f"plait.tree sorts a dict's keys; these cannot be sorted: {list(node)}") from error
    return range(len(node))


def _children(node):
    return [node[key] for key in _keys(node)]


def _rebuild(node, children, key_order=None):
    """A container like ``node`` holding ``children`` (in :func:`_keys` order); a dict's keys
    come in ``key_order`` (default: the order ``node`` has them)."""
    if isinstance(node, dict):
        values = dict(zip(_keys(node), children))
        keys = node if key_order is None else key_order
        if isinstance(node, defaultdict):
            return defaultdict(node.default_factory, {key: values[key] for key in keys})
        return type(node)((key, values[key]) for key in keys)
    if _is_namedtuple(node):
        return type(node)(*children)
    if isinstance(node, list):
        return list(children)
    return tuple(children) if type(node) is tuple else type(node)(children)


def _container_kind(node):
    if _is_namedtuple(node):
        return type(node)
    if isinstance(node, OrderedDict):
        return OrderedDict
    if isinstance(node, dict):
        return dict
    return list if isinstance(node, list) else tuple


def flatten_with_path(structure):
    """The leaves of ``structure`` with their paths (tuples of keys and indices).

    Example:
        >>> from plait import tree
        >>> tree.flatten_with_path({"b": [1, 2], "a": 3})
        [(('a',), 3), (('b', 0), 1), (('b', 1), 2)]
    """
    if not is_nested(structure):
        return [((), structure)]
    return [((key,) + path, leaf) for key in _keys(structure) for path, leaf in flatten_with_path(structure[key])]


def flatten(structure):
    """The leaves of ``structure`` in order (dicts by sorted key); a leaf gives ``[leaf]``.

    Example:
        >>> from plait import tree
        >>> tree.flatten([1, {"y": 2, "x": (3, None)}])
        [1, 3, None, 2]
    """
    return [leaf for _, leaf in flatten_with_path(structure)]


def _mismatch(a, b, path):
    """Why ``a`` and ``b`` differ at their top, or None when they match there."""
    where = f" at path {path}" if path else ""
    if is_nested(a) != is_nested(b):
        return f"one is a leaf and the other a container{where}: {a!r} and {b!r}"
    if not is_nested(a):
        return None
    if _container_kind(a) is not _container_kind(b):
        return f"the container types differ{where}: {type(a).__name__} and {type(b).__name__}"
    if isinstance(a, dict) and set(a) != set(b):
        return f"the dict keys differ{where}: {sorted(map(str, a))} and {sorted(map(str, b))}"
    if len(a) != len(b):
        return f"the lengths differ{where}: {len(a)} and {len(b)}"
    return None


def _check_same(a, b, path=()):
    reason = _mismatch(a, b, path)
    if reason is not None:
        raise ValueError(f"The structures don't have the same nested structure: {reason}.")
    if is_nested(a):
        for key in _keys(a):
            _check_same(a[key], b[key], path + (key,))


def assert_same_structure(a, b, check_types=None):
    """Raise a ValueError unless ``a`` and ``b`` have the same nesting, container types and
    keys (leaves may differ). ``check_types`` is accepted for Keras 2 code; types are always
    checked, as in Keras 3.

    Example:
        >>> from plait import tree
        >>> tree.assert_same_structure([1, (2, 3)], ["a", ("b", "c")])
    """
    del check_types
    _check_same(a, b)


def assert_same_paths(a, b):
    """Raise a ValueError unless ``a`` and ``b`` have the same leaf paths (container types may
    differ: ``[1, 2]`` and ``(3, 4)`` match).

    Example:
        >>> from plait import tree
        >>> tree.assert_same_paths({"a": [1]}, {"a": (2,)})
    """
    paths_a = {path for path, _ in flatten_with_path(a)}
    paths_b = {path for path, _ in flatten_with_path(b)}
    if paths_a != paths_b:
        raise ValueError(
            "`a` and `b` don't have the same paths. Only in `a`: "
            f"{sorted(paths_a - paths_b, key=str)}; only in `b`: {sorted(paths_b - paths_a, key=str)}."
        )


def map_structure(func, *structures, none_is_leaf=True):
    """Apply ``func`` to the leaves of ``structures`` (all of the same structure) in parallel.

    Args:
        func: called with one leaf of each structure.
        *structures: one or more structures with the same nesting and container types.
        none_is_leaf: when False, a ``None`` stays ``None`` and ``func`` does not see it.

    Returns:
        a structure like the first one, holding ``func``'s results.

    Example:
        >>> from plait import tree
        >>> tree.map_structure(lambda x, y: x + y, [1, (2, 3)], [10, (20, 30)])
        [11, (22, 33)]
    """
    if not structures:
        raise ValueError("map_structure needs at least one structure.")
    first = structures[0]
    for other in structures[1:]:
        _check_same(first, other)

    def walk(*nodes):
        if not none_is_leaf and nodes[0] is None:
            return None
        if not is_nested(nodes[0]):
            return func(*nodes)
        keys = _keys(nodes[0])
        return _rebuild(nodes[0], [walk(*(node[key] for node in nodes)) for key in keys])

    return walk(*structures)


def map_structure_up_to(shallow_structure, func, *structures):
    """Apply ``func`` to the sub-structures of ``structures`` found where
    ``shallow_structure`` has its leaves.

    Example:
        >>> from plait import tree
        >>> tree.map_structure_up_to([None, None], len, [[1, 2], (3,)])
        [2, 1]
    """
    if not structures:
        raise ValueError("map_structure_up_to needs at least one structure.")

    def walk(shallow, nodes, path):
        if not is_nested(shallow):
            return func(*nodes)
        for node in nodes:
            reason = _mismatch(shallow, node, path)
            if reason is not None and is_nested(node):
                raise ValueError(f"The structure does not match `shallow_structure`: {reason}.")
            if reason is not None:
                raise ValueError(f"`shallow_structure` is deeper than the structure: {reason}.")
        keys = _keys(shallow)
        return _rebuild(shallow, [walk(shallow[key], [node[key] for node in nodes], path + (key,)) for key in keys])

    return walk(shallow_structure, structures, ())


def pack_sequence_as(structure, flat_sequence):
    """Nest the items of ``flat_sequence`` as ``structure`` is nested (the inverse of
    :func:`flatten`).

    Example:
        >>> from plait import tree
        >>> tree.pack_sequence_as({"b": 0, "a": [0, 0]}, [1, 2, 3])
        {'a': [1, 2], 'b': 3}
    """
    if not isinstance(flat_sequence, (list, tuple)):
        raise TypeError(f"`flat_sequence` must be a list or tuple. Received: {type(flat_sequence).__name__}")
    count = len(flatten(structure))
    if count != len(flat_sequence):
        raise ValueError(f"`structure` has {count} leaves but `flat_sequence` has {len(flat_sequence)} items.")
    items = iter(flat_sequence)

    def walk(node):
        if not is_nested(node):
            return next(items)
        keys = _keys(node)
        # A packed dict comes back in flattening (sorted) order, as Keras's does.
        return _rebuild(node, [walk(node[key]) for key in keys], keys)

    return walk(structure)


def lists_to_tuples(structure):
    """``structure`` with every list turned into a tuple (at any depth).

    Example:
        >>> from plait import tree
        >>> tree.lists_to_tuples([1, {"a": [2]}])
        (1, {'a': (2,)})
    """
    if not is_nested(structure):
        return structure
    children = [lists_to_tuples(child) for child in _children(structure)]
    return tuple(children) if isinstance(structure, list) else _rebuild(structure, children)


def _is_shape(x):
    return (
        isinstance(x, (list, tuple))
        and not _is_namedtuple(x)
        and all(d is None or (isinstance(d, int) and not isinstance(d, bool)) for d in x)
    )


def map_shape_structure(func, structure):
    """Apply ``func`` to every shape (a list or tuple of ints and Nones) in ``structure``.

    Example:
        >>> from plait import tree
        >>> tree.map_shape_structure(lambda s: s[1:], {"x": (None, 3), "y": [(None, 4, 5)]})
        {'x': (3,), 'y': [(4, 5)]}
    """
    if _is_shape(structure) or not is_nested(structure):
        return func(structure)
    return _rebuild(structure, [map_shape_structure(func, child) for child in _children(structure)])


def traverse(func, structure, top_down=True):
    """Call ``func`` on every node of ``structure``, containers included, and build a new one.

    ``func`` returns None to keep a node (and, top-down, to go on into its children),
    :class:`MAP_TO_NONE` to put ``None`` there, or anything else to replace the node.

    Args:
        func: called with each node.
        structure: the structure.
        top_down: visit parents before children (a replaced parent's children are not
            visited); False visits children first and gives ``func`` the rebuilt parent.

    Example:
        >>> from plait import tree
        >>> tree.traverse(lambda x: "short" if x == [2] else None, [1, [2]])
        [1, 'short']
    """

    def resolve(result, node):
        if result is None:
            return node
        return None if result is MAP_TO_NONE else result

    if top_down:
        result = func(structure)
        if result is not None:
            return resolve(result, structure)
        if not is_nested(structure):
            return structure
        return _rebuild(structure, [traverse(func, child, True) for child in _children(structure)])
    if is_nested(structure):
        structure = _rebuild(structure, [traverse(func, child, False) for child in _children(structure)])
    return resolve(func(structure), structure)


# Plain data checks (JSON-like configs) come from the model stack's own helper.
is_plain = nest.is_plain

__all__ = [
    "MAP_TO_NONE",
    "assert_same_paths",
    "assert_same_structure",
    "flatten",
    "flatten_with_path",
    "is_nested",
    "lists_to_tuples",
    "map_shape_structure",
    "map_structure",
    "map_structure_up_to",
    "pack_sequence_as",
    "traverse",
]
