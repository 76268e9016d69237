"""Sequential models on plait and on Keras 3 with the same weights and inputs: the ways to build
a stack (a list, ``add``, ``pop``, calling the layers one after another), weights made at the
first call, the shapes and parameter counts that ``summary`` shows as layers are added, feature
extraction from intermediate outputs, and freezing layers before ``fit``."""

import numpy as np
import pytest
from twins import assert_close, copy_weights, keras_or_skip, layer_table, to_numpy

import plait

keras = keras_or_skip()
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
LIBS = (plait, keras)
RNG = np.random.default_rng(7)


def mlp_layers(lib):
    L = lib.layers
    return [L.Dense(5, activation="tanh", name="hidden_a"), L.Dense(4, activation="relu"), L.Dense(2, name="out")]


def test_a_stack_built_from_a_list_by_add_or_by_hand_computes_the_same():
    x = RNG.normal(size=(6, 3)).astype("float32")
    listed = {lib: lib.Sequential(mlp_layers(lib), name="stack") for lib in LIBS}
    for model in listed.values():
        model(x)  # builds the weights
    copy_weights(listed[plait], listed[keras])
    expected = to_numpy(listed[keras](x))
    assert_close(listed[plait](x), expected)

    for lib in LIBS:
        added = lib.Sequential()
        for layer in mlp_layers(lib):
            added.add(layer)
        added(x)
        copy_weights(listed[plait], added)
        assert_close(added(x), expected)
        # by hand: the same three layers called in turn
        h = x
        for layer in added.layers:
            h = layer(h)
        assert_close(h, expected)
        added.pop()
        assert [layer.name for layer in added.layers][0] == "hidden_a" and len(added.layers) == 2
        assert listed[lib].name == "stack"


def test_weights_appear_at_the_first_call_in_keras_order():
    seen = {}
    for lib in LIBS:
        layer = lib.layers.Dense(3)
        before = len(layer.weights)
        layer(np.ones((2, 7), "float32"))
        model = lib.Sequential(mlp_layers(lib))
        unbuilt = len(model.weights)
        model(np.ones((1, 6), "float32"))
        shapes = [to_numpy(w).shape for w in layer.weights]
        seen[lib] = (before, shapes, unbuilt, [to_numpy(w).shape for w in model.weights])
    assert seen[plait] == seen[keras]
    assert seen[plait][:2] == (0, [(7, 3), (3,)])


def conv_stack(lib, stop):
    L = lib.layers
    blocks = [
        [L.Conv2D(8, 3, strides=2, activation="relu"), L.MaxPooling2D(2)],
        [L.Conv2D(16, 3, padding="same"), L.Conv2D(12, 1), L.AveragePooling2D(2)],
        [L.GlobalMaxPooling2D(), L.Dense(5)],
    ]
    model = lib.Sequential([lib.Input(shape=(48, 40, 3))])
    tables = []
    for block in blocks[:stop]:
        for layer in block:
            model.add(layer)
        tables.append(layer_table(model))  # what summary() shows after each block
    return model, tables


def test_shapes_and_parameter_counts_as_layers_are_added():
    (ours, our_tables), (theirs, their_tables) = conv_stack(plait, 3), conv_stack(keras, 3)
    assert our_tables == their_tables
    assert our_tables[0][-1][1] == (None, 11, 9, 8)
    assert ours.count_params() == theirs.count_params() == 224 + 1168 + 204 + 65
    copy_weights(ours, theirs)
    images = RNG.random((2, 48, 40, 3)).astype("float32")
    assert_close(ours(images), theirs(images), rtol=1e-4)
    lines = []
    ours.summary(print_fn=lines.append)
    assert any("(None, 23, 19, 8)" in line and "224" in line for line in lines)


def test_intermediate_outputs_as_a_feature_extractor():
    images = RNG.random((3, 48, 40, 3)).astype("float32")
    models = {lib: conv_stack(lib, 2)[0] for lib in LIBS}
    copy_weights(models[plait], models[keras])
    features = {}
    for lib, model in models.items():
        every = lib.Model(inputs=model.inputs[0], outputs=[layer.output for layer in model.layers])
        named = model.layers[2].name
        one = lib.Model(inputs=model.inputs[0], outputs=model.get_layer(name=named).output)
        features[lib] = (every(images), one(images))
    assert_close(features[plait], features[keras], rtol=1e-4)
    assert tuple(features[plait][1].shape) == (3, 11, 9, 16)


def frozen_fit(lib, weights, x, y, nested):
    L = lib.layers
    if nested:
        base = lib.Sequential([lib.Input(shape=(6,)), L.Dense(4, activation="relu")])
        base.trainable = False
        model = lib.Sequential([lib.Input(shape=(6,)), base, L.Dense(2)])
    else:
        model = lib.Sequential([lib.Input(shape=(6,)), L.Dense(4, activation="relu"), L.Dense(4), L.Dense(2)])
        for layer in model.layers[:-1]:
            layer.trainable = False
    if weights is not None:
        model.set_weights(weights)
    model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
    start = [to_numpy(w).copy() for w in model.get_weights()]
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    counts = (len(model.trainable_weights), len(model.non_trainable_weights))
    return start, [to_numpy(w) for w in model.get_weights()], counts


@pytest.mark.parametrize("nested", [False, True], ids=["layers_frozen", "base_model_frozen"])
def test_frozen_layers_keep_their_weights_while_the_rest_trains_as_in_keras(nested):
    x, y = RNG.normal(size=(8, 6)).astype("float32"), RNG.normal(size=(8, 2)).astype("float32")
    start, ours, our_counts = frozen_fit(plait, None, x, y, nested)
    _, theirs, their_counts = frozen_fit(keras, start, x, y, nested)
    assert our_counts == their_counts == ((2, 2) if nested else (2, 4))
    assert_close(ours, theirs, rtol=1e-5)
    for before, after in zip(start[:-2], ours[:-2]):
        np.testing.assert_array_equal(before, after)  # frozen
    assert not np.array_equal(start[-2], ours[-2])  # the head trained
