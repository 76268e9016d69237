"""``plait.tree`` against ``keras.tree`` (Keras 3 on torch): same leaves, paths, rebuilt structures
and errors on the same inputs."""

import collections
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from plait import tree  # noqa: E402

Point = collections.namedtuple("Point", "x y")

STRUCTURES = [
    1,
    None,
    "text",
    [],
    {},
    [1, (2, None), [3]],
    {"b": [1, (2, 3)], "a": Point(4, {"c": 5, "d": 6}), "e": collections.OrderedDict([("z", 7), ("y", 8)])},
    (np.zeros(2), {"k": [np.ones(1)]}),
]


@pytest.mark.parametrize("structure", STRUCTURES)
def test_flatten_paths_and_pack_match_keras(structure):
    ours, theirs = tree.flatten(structure), keras.tree.flatten(structure)
    assert len(ours) == len(theirs) and all(a is b for a, b in zip(ours, theirs))
    assert [p for p, _ in tree.flatten_with_path(structure)] == [p for p, _ in keras.tree.flatten_with_path(structure)]
    flat = list(range(len(ours)))
    assert repr(tree.pack_sequence_as(structure, flat)) == repr(keras.tree.pack_sequence_as(structure, flat))
    assert tree.is_nested(structure) == keras.tree.is_nested(structure)


def test_map_structure_and_lists_to_tuples_match_keras():
    s = STRUCTURES[6]
    double = lambda x: x * 2  # noqa: E731
    assert repr(tree.map_structure(double, s)) == repr(keras.tree.map_structure(double, s))
    pair = lambda x, y: (x, y)  # noqa: E731
    assert tree.map_structure(pair, [1, None], [2, 3]) == keras.tree.map_structure(pair, [1, None], [2, 3])
    assert tree.map_structure(lambda x: 0, [1, None], none_is_leaf=False) == [0, None]
    nested = [1, [2, {"a": [3]}]]
    assert tree.lists_to_tuples(nested) == keras.tree.lists_to_tuples(nested)
    shapes = {"a": (1, 2), "b": [(None, 3), [4]]}
    drop = lambda s: tuple(s)[1:]  # noqa: E731
    assert tree.map_shape_structure(drop, shapes) == keras.tree.map_shape_structure(drop, shapes)
    up_to = ([1, [2, 3]], lambda a, b: (a, b), [1, [[2], [3]]], [1, [[2], [3]]])
    assert tree.map_structure_up_to(*up_to) == keras.tree.map_structure_up_to(*up_to)


@pytest.mark.parametrize("top_down", [True, False])
def test_traverse_matches_keras(top_down):
    funcs = [
        lambda x: None,
        lambda x: "X" if x == [2] else None,
        lambda x: x * 2 if isinstance(x, int) else None,
    ]
    for func in funcs:
        assert tree.traverse(func, [1, [2]], top_down) == keras.tree.traverse(func, [1, [2]], top_down)
    assert tree.traverse(lambda x: tree.MAP_TO_NONE if x == 2 else None, [1, [2]]) == [1, [None]]


@pytest.mark.parametrize(
    "a, b",
    [([1, 2], (1, 2)), ([1, 2], [1, [2]]), ({"a": 1}, {"b": 1}), (Point(1, 2), (1, 2)), ([1], [1, 2])],
)
def test_structure_mismatches_raise_as_keras(a, b):
    with pytest.raises(ValueError):
        keras.tree.assert_same_structure(a, b)
    with pytest.raises(ValueError, match="same nested structure"):
        tree.assert_same_structure(a, b)
    with pytest.raises(ValueError):
        tree.map_structure(lambda x, y: x, a, b)


def test_paths_and_bad_inputs():
    tree.assert_same_structure([1, (2,)], ["a", ("b",)])
    tree.assert_same_paths([1, 2], (3, 4))
    with pytest.raises(ValueError, match="Only in `a`"):
        tree.assert_same_paths({"a": 1}, {"b": 1})
    with pytest.raises(ValueError, match="2 leaves but `flat_sequence` has 1"):
        tree.pack_sequence_as([1, [2]], [1])
    with pytest.raises(TypeError, match="flat_sequence"):
        tree.pack_sequence_as([1], 1)


def test_every_keras_tree_name_exists():
    names = [n for n in dir(keras.tree) if not n.startswith("_")]
    assert [n for n in names if not hasattr(tree, n)] == []
