"""Keras's guide "The Sequential model", run on plait.

Ported from keras-team/keras-io, guides/keras_core/sequential_model.py (Apache License 2.0,
author fchollet): each section's code is the guide's with ``keras`` renamed to ``plait``. Each
section runs on Keras 3 itself (torch backend) too, and what the guide prints (layer counts,
weights, summaries' shapes and parameter counts) must agree.
"""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import plait  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

if keras.backend.backend() != "torch":
    pytest.skip("Keras was imported with another backend", allow_module_level=True)


@pytest.fixture(autouse=True)
def _fresh_keras_names():
    """Keras's automatic names (input_layer, dense, ...) start afresh for the tests after these."""
    keras.utils.clear_session()
    yield
    keras.utils.clear_session()


LIBS = (plait, keras)


def collect(lines):
    """A summary() print_fn that keeps the lines (Keras passes a keyword argument too)."""
    return lambda line, *args, **kwargs: lines.append(line)


def shapes_and_params(model):
    """What summary() prints per layer: output shape and parameter count."""
    return [(tuple(layer.output.shape), layer.count_params()) for layer in model.layers]


def test_when_to_use():
    outs = {}
    for lib in LIBS:
        layers, ops = lib.layers, lib.ops
        model = lib.Sequential(
            [
                layers.Dense(2, activation="relu", name="layer1"),
                layers.Dense(3, activation="relu", name="layer2"),
                layers.Dense(4, name="layer3"),
            ]
        )
        x = ops.ones((3, 3))
        y = model(x)
        layer1 = layers.Dense(2, activation="relu", name="layer1")
        layer2 = layers.Dense(3, activation="relu", name="layer2")
        layer3 = layers.Dense(4, name="layer3")
        y2 = layer3(layer2(layer1(x)))
        outs[lib] = (tuple(y.shape), tuple(y2.shape))
    assert outs[plait] == outs[keras] == ((3, 4), (3, 4))


def test_creating_a_sequential_model():
    outs = {}
    for lib in LIBS:
        layers = lib.layers
        model = lib.Sequential(
            [layers.Dense(2, activation="relu"), layers.Dense(3, activation="relu"), layers.Dense(4)]
        )
        n_layers = len(model.layers)
        model = lib.Sequential()
        model.add(layers.Dense(2, activation="relu"))
        model.add(layers.Dense(3, activation="relu"))
        model.add(layers.Dense(4))
        model.pop()
        after_pop = len(model.layers)  # 2
        model = lib.Sequential(name="my_sequential")
        model.add(layers.Dense(2, activation="relu", name="layer1"))
        model.add(layers.Dense(3, activation="relu", name="layer2"))
        model.add(layers.Dense(4, name="layer3"))
        outs[lib] = (n_layers, after_pop, model.name, [layer.name for layer in model.layers])
    assert outs[plait] == outs[keras]


def test_specifying_the_input_shape():
    outs = {}
    for lib in LIBS:
        layers, ops = lib.layers, lib.ops
        layer = layers.Dense(3)
        empty = len(layer.weights)
        y = layer(ops.ones((1, 4)))
        shapes = [tuple(np.asarray(w).shape) for w in layer.weights]  # (4, 3) and (3,)
        model = lib.Sequential(
            [layers.Dense(2, activation="relu"), layers.Dense(3, activation="relu"), layers.Dense(4)]
        )
        y = model(ops.ones((1, 4)))
        n_weights = len(model.weights)  # 6
        lines = []
        model.summary(print_fn=collect(lines))
        model = lib.Sequential()
        model.add(lib.Input(shape=(4,)))
        model.add(layers.Dense(2, activation="relu"))
        model.summary(print_fn=collect(lines))
        outs[lib] = (empty, shapes, tuple(y.shape), n_weights, len(model.layers), shapes_and_params(model))
    assert outs[plait] == outs[keras]
    assert outs[plait][:4] == (0, [(4, 3), (3,)], (1, 4), 6)


def test_add_and_summary_debugging_workflow():
    outs = {}
    for lib in LIBS:
        layers = lib.layers
        model = lib.Sequential()
        model.add(lib.Input(shape=(250, 250, 3)))  # 250x250 RGB images
        model.add(layers.Conv2D(32, 5, strides=2, activation="relu"))
        model.add(layers.Conv2D(32, 3, activation="relu"))
        model.add(layers.MaxPooling2D(3))
        first = shapes_and_params(model)
        model.add(layers.Conv2D(32, 3, activation="relu"))
        model.add(layers.Conv2D(32, 3, activation="relu"))
        model.add(layers.MaxPooling2D(3))
        model.add(layers.Conv2D(32, 3, activation="relu"))
        model.add(layers.Conv2D(32, 3, activation="relu"))
        model.add(layers.MaxPooling2D(2))
        second = shapes_and_params(model)
        model.add(layers.GlobalMaxPooling2D())
        model.add(layers.Dense(10))
        outs[lib] = (first, second, shapes_and_params(model), model.count_params())
    assert outs[plait] == outs[keras]
    assert outs[plait][0][-1][0] == (None, 40, 40, 32)  # "The answer was: (40, 40, 32)"
    lines = []
    model = plait.Sequential([plait.Input(shape=(250, 250, 3)), plait.layers.Conv2D(32, 5, strides=2)])
    model.summary(print_fn=lines.append)
    assert any("(None, 123, 123, 32)" in line and "2432" in line for line in lines)  # Keras 2-style table


def test_feature_extraction():
    outs = {}
    for lib in LIBS:
        layers, ops = lib.layers, lib.ops
        initial_model = lib.Sequential(
            [
                lib.Input(shape=(250, 250, 3)),
                layers.Conv2D(32, 5, strides=2, activation="relu"),
                layers.Conv2D(32, 3, activation="relu"),
                layers.Conv2D(32, 3, activation="relu"),
            ]
        )
        feature_extractor = lib.Model(
            inputs=initial_model.inputs,
            outputs=[layer.output for layer in initial_model.layers],
        )
        x = ops.ones((1, 250, 250, 3))
        features = feature_extractor(x)
        all_shapes = [tuple(f.shape) for f in features]
        initial_model = lib.Sequential(
            [
                lib.Input(shape=(250, 250, 3)),
                layers.Conv2D(32, 5, strides=2, activation="relu"),
                layers.Conv2D(32, 3, activation="relu", name="my_intermediate_layer"),
                layers.Conv2D(32, 3, activation="relu"),
            ]
        )
        feature_extractor = lib.Model(
            inputs=initial_model.inputs,
            outputs=initial_model.get_layer(name="my_intermediate_layer").output,
        )
        features = feature_extractor(x)
        outs[lib] = (all_shapes, tuple(features.shape), len(feature_extractor.layers))
    assert outs[plait] == outs[keras]
    # The extractor shares the trained layers (and so their weights) with the model.
    assert outs[plait][1] == (1, 121, 121, 32)


def test_transfer_learning_blueprints():
    layers = plait.layers
    model = plait.Sequential(
        [
            plait.Input(shape=(784,)),
            layers.Dense(32, activation="relu"),
            layers.Dense(32, activation="relu"),
            layers.Dense(32, activation="relu"),
            layers.Dense(10),
        ]
    )
    for layer in model.layers[:-1]:
        layer.trainable = False
    model.compile(optimizer="adam", loss="mse")
    frozen = [w.numpy().copy() for w in model.layers[0].weights]
    last = model.layers[-1].kernel.numpy().copy()
    model.fit(np.random.random((8, 784)), np.random.random((8, 10)), verbose=0)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(frozen, model.layers[0].weights))
    assert not np.array_equal(last, model.layers[-1].kernel.numpy())
    assert len(model.trainable_weights) == 2

    base_model = plait.Sequential([plait.Input(shape=(8,)), layers.Dense(4)])
    base_model.trainable = False
    model = plait.Sequential([base_model, layers.Dense(3)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.random.random((4, 8)), np.random.random((4, 3)), verbose=0)
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2
