"""Keras 3's top-level names on plait: ``keras.Layer``, ``keras.KerasTensor``, ``keras.Variable``,
``keras.config`` & co., as Keras programs write them, compared with Keras itself."""

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import plait  # noqa: E402

# Keras's own numpy conversions on torch 2.13 + numpy 2 warn so; not plait's.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

NAMES = [
    "DTypePolicy",
    "Initializer",
    "Input",
    "InputSpec",
    "KerasTensor",
    "Layer",
    "Loss",
    "Metric",
    "Model",
    "Operation",
    "Optimizer",
    "Regularizer",
    "Sequential",
    "Variable",
    "activations",
    "applications",
    "backend",
    "callbacks",
    "config",
    "constraints",
    "datasets",
    "distribution",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "mixed_precision",
    "models",
    "ops",
    "optimizers",
    "random",
    "regularizers",
    "saving",
    "utils",
]


def test_keras_top_level_names_exist():
    missing = [name for name in NAMES if hasattr(keras, name) and not hasattr(plait, name)]
    assert missing == []
    assert plait.Layer is plait.layers.Layer and plait.Loss is plait.losses.Loss
    assert plait.Metric is plait.metrics.Metric


def test_layer_subclass_and_keras_tensor_as_keras_programs_write_them():
    outs = {}
    for lib in (plait, keras):

        class Double(lib.Layer):
            def call(self, x):
                return x * 2

        inputs = lib.Input(shape=(3,), dtype="float32")
        outputs = Double()(inputs)
        model = lib.Model(inputs, outputs)
        outs[lib] = (
            isinstance(inputs, lib.KerasTensor),
            inputs.dtype,
            outputs.dtype,
            tuple(outputs.shape),
            np.asarray(model.predict(np.ones((2, 3), "float32"), verbose=0)).tolist(),
        )
    assert outs[plait] == outs[keras]


def test_variable_made_by_hand_as_keras_variable():
    for lib in (plait, keras):
        v = lib.Variable(np.zeros(3))
        w = lib.Variable(initializer="ones", shape=(2, 2), name="w", trainable=False)
        assert (v.name, tuple(v.shape), w.name, w.trainable) == ("variable", (3,), "w", False), lib
        assert np.asarray(w.numpy()).tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert plait.Variable(np.zeros(3)).dtype == torch.float32  # torch's dtype: a Variable is a Parameter
    with pytest.raises(ValueError, match="needs `shape`"):
        plait.Variable("ones")


def test_config_reads_and_sets_what_plait_honours():
    for name in ("backend", "floatx", "epsilon", "image_data_format"):
        assert getattr(plait.config, name)() == getattr(keras.config, name)() or name == "backend"
    plait.config.set_floatx("float32")
    plait.config.set_image_data_format("channels_last")
    with pytest.raises(ValueError, match="floatx.*float64"):
        plait.config.set_floatx("float64")
    plait.config.set_dtype_policy("mixed_bfloat16")
    try:
        assert plait.layers.Dense(2).compute_dtype == "bfloat16"
    finally:
        plait.config.set_dtype_policy("float32")


def test_layer_dtype_names_equal_keras():
    for dtype in (None, "float64", "mixed_bfloat16"):
        ours, theirs = plait.layers.Dense(2, dtype=dtype), keras.layers.Dense(2, dtype=dtype)
        names = ("dtype", "compute_dtype", "variable_dtype")
        assert [getattr(ours, n) for n in names] == [getattr(theirs, n) for n in names], dtype


def test_keras_tensor_made_by_hand_starts_a_graph_as_in_keras():
    x = np.arange(6, dtype="float32").reshape(2, 3)
    results = {}
    for lib in (plait, keras):
        a, b = lib.KerasTensor(shape=(None, 3)), lib.KerasTensor(shape=(None, 3), dtype="float32")
        fn = lib.Function([a, b], lib.ops.multiply(a, b))
        results[lib] = (isinstance(a, lib.KerasTensor), tuple(a.shape), a.dtype, np.asarray(fn([x, x])).tolist())
    assert results[plait] == results[keras]
    with pytest.raises(ValueError, match="ragged=True"):
        plait.KerasTensor(shape=(None, 3), ragged=True)
