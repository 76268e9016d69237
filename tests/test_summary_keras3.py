"""summary(): Keras 3's closing lines (parameter counts with their memory, the optimizer's state
after the first step), ``layer_range`` and ``show_trainable``, compared with Keras 3 itself."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest

import plait
from plait.models.summary import layer_index_range, readable_size

keras = pytest.importorskip("keras")
summary_utils = pytest.importorskip("keras.src.utils.summary_utils")


def build(lib):
    inputs = lib.Input((64,), name="features")
    x = lib.layers.Dense(32, activation="relu", name="hidden")(inputs)
    x = lib.layers.BatchNormalization(name="norm")(x)
    x = lib.layers.Dropout(0.1, name="drop")(x)
    return lib.Model(inputs, lib.layers.Dense(10, name="logits")(x))


def totals(model):
    lines = []
    model.summary(print_fn=lambda line, line_break=None: lines.extend(line.splitlines()))
    # Keras's rich table indents its totals by one space; plait's classic table does not.
    return [line.strip() for line in lines if "params:" in line]


def fit_once(model, optimizer):
    model.compile(optimizer, "mse")
    model.fit(np.ones((8, 64), "float32"), np.zeros((8, 10), "float32"), batch_size=4, verbose=0)


def test_totals_before_compile_match_keras():
    assert (
        totals(build(plait))
        == totals(build(keras))
        == [
            "Total params: 2,538 (9.91 KB)",
            "Trainable params: 2,474 (9.66 KB)",
            "Non-trainable params: 64 (256.00 B)",
        ]
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda lib: "adam",
        lambda lib: "rmsprop",
        lambda lib: lib.optimizers.SGD(0.01),  # no momentum: no slots, only the counter and the rate
        lambda lib: lib.optimizers.SGD(0.01, momentum=0.9),
        lambda lib: lib.optimizers.Adam(lib.optimizers.schedules.ExponentialDecay(0.01, 10, 0.9)),
    ],
    ids=["adam", "rmsprop", "sgd", "sgd-momentum", "adam-schedule"],
)
def test_optimizer_line_after_the_first_step_matches_keras(make):
    ours, theirs = build(plait), build(keras)
    ours.compile(make(plait), "mse")
    theirs.compile(make(keras), "mse")
    assert totals(ours) == totals(theirs)  # compiled, not yet stepped: no optimizer state to count
    fit_once(ours, make(plait))
    fit_once(theirs, make(keras))
    ours_lines, theirs_lines = totals(ours), totals(theirs)
    assert any(line.startswith("Optimizer params:") for line in ours_lines)
    assert ours_lines == theirs_lines


@pytest.mark.parametrize(
    "layer_range",
    [None, ["hidden", "norm"], ["norm", "hidden"], ["features", "features"], ["h.*", "log.*"], ["drop", "logits"]],
)
def test_layer_range_selects_the_layers_keras_selects(layer_range):
    ours, theirs = build(plait), build(keras)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    expected = summary_utils.get_layer_index_bound_by_layer_name(theirs.layers, layer_range)
    assert list(layer_index_range(ours.layers, layer_range)) == list(expected)
    lines = []
    ours.summary(print_fn=lines.append, layer_range=layer_range)
    listed = [
        line.split(" (")[0]
        for line in lines
        if " (" in line and not line.startswith(("Model:", "Layer (type)", "Total", "Tra", "Non"))
    ]
    assert listed == [layer.name for layer in theirs.layers[expected[0] : expected[1]]]
    assert "Total params: 2,538 (9.91 KB)" in lines  # the totals stay the whole model's


@pytest.mark.parametrize(
    ("layer_range", "message"),
    [(["hidden"], "two layer names"), ([1, 2], "two strings"), (["hidden", "nowhere"], "no layer matches 'nowhere'")],
)
def test_bad_layer_range_is_a_value_error(layer_range, message):
    with pytest.raises(ValueError, match=message):
        build(plait).summary(print_fn=lambda line: None, layer_range=layer_range)


def test_show_trainable_column_as_keras_marks_it():
    model = build(plait)
    model.get_layer("norm").trainable = False
    lines = []
    model.summary(print_fn=lines.append, show_trainable=True)
    marks = {
        line.split(" (")[0]: line.split()[-1]
        for line in lines
        if " (" in line and not line.startswith(("Model", "Layer (type)"))
    }
    # Y/N for layers with weights, "-" for those without (Keras 3's marks).
    assert {k: marks[k] for k in ("features", "hidden", "norm", "drop", "logits")} == {
        "features": "-",
        "hidden": "Y",
        "norm": "N",
        "drop": "-",
        "logits": "Y",
    }
    assert "Trainable params: 2,410 (9.41 KB)" in lines and "Non-trainable params: 128 (512.00 B)" in lines


def test_sequential_summary_takes_the_same_arguments():
    model = plait.Sequential([plait.Input((4,)), plait.layers.Dense(3, name="a"), plait.layers.Dense(2, name="b")])
    lines = []
    model.summary(print_fn=lines.append, layer_range=["b", "b"], show_trainable=True)
    rows = [line for line in lines if line.startswith(("a (", "b ("))]
    assert len(rows) == 1 and rows[0].startswith("b (Dense)") and rows[0].rstrip().endswith("Y")


@pytest.mark.parametrize("size", [0, 1023, 1024, 13864, 3 * 1024**3])
def test_readable_size_is_keras_spelling(size):
    assert readable_size(size) == summary_utils.readable_memory_size(size)
