"""Functional models on plait and on Keras 3 with the same weights and inputs: a branching graph
and its summary table, training with validation_split and evaluation, a .keras round trip, one
graph shared by an encoder and a full model, models called as layers and averaged, several named
inputs and outputs with per-output losses and weights, residual connections, a layer shared by two
inputs, features taken from an application's layers, a custom layer rebuilt from its config, and a
subclassed layer that runs a functional model inside a Python loop."""

import numpy as np
import pytest
import torch
from twins import assert_close, copy_weights, copy_weights_by_layer, keras_or_skip, to_numpy

import plait

keras = keras_or_skip()
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
LIBS = (plait, keras)
RNG = np.random.default_rng(5)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def rows(model):
    """summary()'s table: each layer's class, output shapes and parameter count."""
    table = []
    for layer in model.layers:
        outs = layer.output if isinstance(layer.output, (list, tuple)) else [layer.output]
        table.append((type(layer).__name__, [tuple(t.shape) for t in outs], layer.count_params()))
    return table


def twins(build):
    """``build(lib)`` on both libraries, with plait's weights copied into Keras's model."""
    models = {lib: build(lib) for lib in LIBS}
    copy_weights(models[plait], models[keras])
    return models


def branching(lib):
    L = lib.layers
    features = lib.Input(shape=(20,), name="features")
    shared = L.Dense(16, activation="relu")(features)
    wide = L.Dense(8, activation="sigmoid")(shared)
    deep = L.Dense(8, activation="relu")(L.Dense(12, activation="relu")(shared))
    logits = L.Dense(3)(L.concatenate([wide, deep]))
    return lib.Model(inputs=features, outputs=logits, name="branching")


def test_a_branching_graph_matches_keras_table_and_numbers():
    models = twins(branching)
    assert rows(models[plait]) == rows(models[keras])
    assert models[plait].inputs[0].shape == (None, 20) and models[plait].name == "branching"
    x = RNG.normal(size=(7, 20)).astype("float32")
    assert_close(models[plait](x), models[keras](x))


def test_training_with_validation_split_then_evaluation_match_keras(tmp_path):
    x, y = RNG.normal(size=(100, 20)).astype("float32"), RNG.integers(0, 3, 100)
    models = twins(branching)
    results = {}
    for lib, model in models.items():
        loss = lib.losses.SparseCategoricalCrossentropy(from_logits=True)
        model.compile(optimizer=lib.optimizers.RMSprop(1e-3), loss=loss, metrics=["accuracy"])
        history = model.fit(x, y, batch_size=32, epochs=2, validation_split=0.3, shuffle=False, verbose=0)
        results[lib] = (history.history, model.evaluate(x[:40], y[:40], verbose=0))
    assert sorted(results[plait][0]) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert_close(results[plait], results[keras], rtol=1e-5)
    # and the trained model survives a .keras round trip
    models[plait].save(tmp_path / "branching.keras")
    restored = plait.models.load_model(tmp_path / "branching.keras")
    assert_close(restored.predict(x, verbose=0), models[plait].predict(x, verbose=0), rtol=1e-6)


def autoencoder(lib):
    L = lib.layers
    signal = lib.Input(shape=(24, 2), name="signal")
    h = L.Conv1D(6, 3, activation="relu")(signal)
    h = L.MaxPooling1D(2)(h)
    code = L.GlobalMaxPooling1D()(L.Conv1D(4, 3, activation="relu")(h))
    encoder = lib.Model(signal, code, name="encoder")
    code_in = lib.Input(shape=(4,), name="code")
    g = L.Reshape((2, 2))(L.Dense(4)(code_in))
    g = L.UpSampling1D(12)(g)
    decoder = lib.Model(code_in, L.Conv1D(2, 3, padding="same")(g), name="decoder")
    whole_in = lib.Input(shape=(24, 2))
    # the same graph serves the encoder and the autoencoder; the decoder is called as a layer
    return lib.Model(whole_in, decoder(encoder(whole_in)), name="autoencoder"), encoder, decoder


def test_models_called_as_layers_share_their_weights_as_in_keras():
    built = {lib: autoencoder(lib) for lib in LIBS}
    copy_weights(built[plait][0], built[keras][0])
    x = RNG.normal(size=(3, 24, 2)).astype("float32")
    for part in range(3):
        assert rows(built[plait][part]) == rows(built[keras][part])
    assert_close(built[plait][0](x), built[keras][0](x), rtol=1e-5)
    assert_close(built[plait][1](x), built[keras][1](x), rtol=1e-5)  # the encoder: the same weights


def ensemble(lib):
    inputs = lib.Input(shape=(9,))
    members = []
    for width in (4, 6, 8):
        m_in = lib.Input(shape=(9,))
        members.append(lib.Model(m_in, lib.layers.Dense(1)(lib.layers.Dense(width, activation="elu")(m_in))))
    return lib.Model(inputs, lib.layers.average([member(inputs) for member in members]))


def test_an_averaged_ensemble_matches_keras():
    models = twins(ensemble)
    x = RNG.normal(size=(5, 9)).astype("float32")
    assert_close(models[plait](x), models[keras](x))
    members = [layer for layer in models[plait].layers if isinstance(layer, plait.Model)]
    mean = np.mean([to_numpy(member(x)) for member in members], axis=0)
    assert_close(models[plait](x), mean)


def triage(lib):
    L = lib.layers
    subject = lib.Input(shape=(None,), name="subject", dtype="int32")
    text = lib.Input(shape=(None,), name="text", dtype="int32")
    flags = lib.Input(shape=(5,), name="flags")
    words = L.Embedding(50, 6)
    h = L.concatenate([L.LSTM(7)(words(subject)), L.GRU(5)(words(text)), flags])
    return lib.Model(
        inputs=[subject, text, flags],
        # (keys in sorted order: Keras matches a list of losses to a dict's outputs sorted by key)
        outputs={"team": L.Dense(3, name="team")(h), "urgency": L.Dense(1, name="urgency")(h)},
    )


@pytest.mark.parametrize("spelling", ["list", "dict"])
def test_named_inputs_and_outputs_with_weighted_losses_match_keras(spelling):
    n = 24
    data = {
        "subject": RNG.integers(0, 50, (n, 6)),
        "text": RNG.integers(0, 50, (n, 9)),
        "flags": RNG.integers(0, 2, (n, 5)).astype("float32"),
    }
    targets = {"urgency": RNG.integers(0, 2, (n, 1)).astype("float32"), "team": np.eye(3)[RNG.integers(0, 3, n)]}
    models = {lib: triage(lib) for lib in LIBS}
    copy_weights_by_layer(models[plait], models[keras])  # Keras orders a dict's outputs by key
    histories = {}
    for lib, model in models.items():
        losses = {
            "urgency": lib.losses.BinaryCrossentropy(from_logits=True),
            "team": lib.losses.CategoricalCrossentropy(from_logits=True),
        }
        weights = {"urgency": 1.0, "team": 0.3}
        if spelling == "list":
            losses, weights = [losses["team"], losses["urgency"]], [weights["team"], weights["urgency"]]
        model.compile(optimizer=lib.optimizers.RMSprop(1e-2), loss=losses, loss_weights=weights)
        histories[lib] = model.fit(data, targets, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    assert sorted(histories[plait]) == sorted(histories[keras])
    assert_close(histories[plait], histories[keras], rtol=1e-4)


def residual(lib):
    L = lib.layers
    image = lib.Input(shape=(16, 16, 3))
    stem = L.MaxPooling2D(2)(L.Conv2D(8, 3, activation="relu")(image))
    skip = stem
    for _ in range(2):  # two residual blocks
        h = L.Conv2D(8, 3, padding="same", activation="relu")(skip)
        skip = L.add([L.Conv2D(8, 3, padding="same")(h), skip])
    h = L.Dropout(0.4)(L.GlobalAveragePooling2D()(skip))
    return lib.Model(image, L.Dense(4)(h))


def test_residual_connections_match_keras():
    models = twins(residual)
    assert rows(models[plait]) == rows(models[keras])
    images = RNG.random((2, 16, 16, 3)).astype("float32")
    assert_close(models[plait].predict(images, verbose=0), models[keras].predict(images, verbose=0), rtol=1e-5)


def test_one_embedding_shared_by_two_inputs_matches_keras():
    def build(lib):
        table = lib.layers.Embedding(30, 4)
        left, right = lib.Input(shape=(None,), dtype="int32"), lib.Input(shape=(None,), dtype="int32")
        return lib.Model([left, right], lib.layers.subtract([table(left), table(right)]))

    models = twins(build)
    assert len(models[plait].weights) == len(models[keras].weights) == 1
    a, b = RNG.integers(0, 30, (2, 5)), RNG.integers(0, 30, (2, 5))
    assert_close(models[plait]([a, b]), models[keras]([a, b]))


def test_features_of_an_applications_layers_match_keras():
    def build(lib):
        base = lib.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
        return lib.Model(inputs=base.input, outputs=[layer.output for layer in base.layers[1:8]])

    models = twins(build)
    image = RNG.random((1, 32, 32, 3)).astype("float32")
    features = {lib: model(image) for lib, model in models.items()}
    assert [tuple(f.shape) for f in features[plait]] == [tuple(f.shape) for f in features[keras]]
    assert_close(features[plait], features[keras], rtol=1e-4, atol=1e-5)


def scaled_dense(lib):
    class ScaledDense(lib.layers.Layer):
        def __init__(self, units, scale=1.0, **kwargs):
            super().__init__(**kwargs)
            self.units, self.scale = units, scale

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_normal")
            self.b = self.add_weight(shape=(self.units,), initializer="zeros")

        def call(self, inputs):
            return self.scale * lib.ops.matmul(inputs, self.w) + self.b

        def get_config(self):
            return {**super().get_config(), "units": self.units, "scale": self.scale}

    return ScaledDense


def test_a_custom_layer_rebuilt_from_the_config_matches_keras():
    def build(lib):
        inputs = lib.Input(shape=(6,))
        return lib.Model(inputs, scaled_dense(lib)(3, scale=0.5, name="scaled")(inputs))

    models = twins(build)
    ScaledDense = scaled_dense(plait)
    rebuilt = plait.Model.from_config(models[plait].get_config(), custom_objects={"ScaledDense": ScaledDense})
    rebuilt.set_weights(models[plait].get_weights())
    assert type(rebuilt.get_layer("scaled")) is ScaledDense and rebuilt.get_layer("scaled").scale == 0.5
    x = RNG.normal(size=(4, 6)).astype("float32")
    assert_close(rebuilt(x), models[keras](x))


def looping_layer(lib, head=None):
    L = lib.layers

    class Recurrence(L.Layer):
        """A hand-written recurrence: a Python loop over the steps, then ``head`` on every step."""

        def __init__(self, head=None):
            super().__init__()
            self.inp, self.rec = L.Dense(5, activation="tanh"), L.Dense(5, use_bias=False)
            self.head = head if head is not None else L.Dense(2)

        def call(self, sequence):
            state, states = lib.ops.zeros((sequence.shape[0], 5)), []
            for t in range(sequence.shape[1]):
                state = self.inp(sequence[:, t, :]) + self.rec(state)
                states.append(state)
            return self.head(lib.ops.stack(states, axis=1))

    return Recurrence(head)


def test_a_subclassed_layer_looping_over_a_functional_head_matches_keras():
    def build(lib):
        head_in = lib.Input(shape=(None, 5))
        head = lib.Model(head_in, lib.layers.Dense(1)(lib.layers.GlobalAveragePooling1D()(head_in)))
        steps = lib.Input(batch_shape=(3, 8, 4))  # a fixed batch: the loop reads the shape
        return lib.Model(steps, looping_layer(lib, head)(lib.layers.Conv1D(4, 3)(steps)))

    models = twins(build)
    x = RNG.normal(size=(3, 8, 4)).astype("float32")
    assert tuple(models[plait].output.shape) == tuple(models[keras].output.shape) == (3, 1)
    assert_close(models[plait](x), models[keras](x), rtol=1e-5)
    eager = {lib: looping_layer(lib) for lib in LIBS}  # the layer alone, on tensors
    eager[plait](x)
    eager[keras](x)
    copy_weights(eager[plait], eager[keras])
    assert_close(eager[plait](x), eager[keras](x), rtol=1e-5)


def decoder_of(lib):
    """A model from the middle of another graph (Keras clones the graph after the given tensors):
    the decoder half of an autoencoder, built from the code tensor, keyed by a dict."""
    x = lib.Input((6,), name="x")
    code = lib.layers.Dense(3, name="code")(x)
    h = lib.layers.Dense(4, activation="relu", name="h")(code)
    y = lib.layers.Dense(6, name="y")(lib.layers.Concatenate(name="cat")([code, h]))
    return lib.Model(x, y), lib.Model(code, y), lib.Model({"z": code}, {"out": y})


@pytest.mark.filterwarnings("ignore:When providing `inputs` as a dict")  # Keras's warning, which plait gives too
def test_a_model_from_intermediate_tensors_matches_keras(tmp_path):
    (full, decoder, keyed), (k_full, k_decoder, k_keyed) = decoder_of(plait), decoder_of(keras)
    copy_weights(full, k_full)
    code = RNG.standard_normal((4, 3)).astype("float32")
    assert [layer.name for layer in decoder.layers] == ["codeCLONE", "h", "cat", "y"]
    assert rows(decoder) == rows(k_decoder)
    assert_close(decoder(code), k_decoder(code))
    assert_close(keyed({"z": code})["out"], k_keyed({"z": code})["out"])
    # The same layers: training the full model changes what the decoder computes.
    assert decoder.get_layer("y") is full.get_layer("y")
    full.compile(optimizer="sgd", loss="mse")
    before = to_numpy(decoder(code))
    full.fit(RNG.standard_normal((8, 6)), RNG.standard_normal((8, 6)), verbose=0)
    assert not np.allclose(to_numpy(decoder(code)), before)
    ones = np.ones((2, 6), "float32")
    np.testing.assert_array_equal(to_numpy(full(ones)), to_numpy(plait.Model(full.input, full.output)(ones)))
    # Files go both ways, and the dict's key is what data is matched by.
    path = str(tmp_path / "keyed.keras")
    keyed.save(path)
    for lib in LIBS:
        loaded = lib.models.load_model(path)
        np.testing.assert_allclose(to_numpy(loaded({"z": code})["out"]), to_numpy(keyed({"z": code})["out"]), atol=1e-6)
    with pytest.warns(UserWarning, match="Received key 'z' mapping to value"):
        plait.Model({"z": full.get_layer("code").output}, full.output)
