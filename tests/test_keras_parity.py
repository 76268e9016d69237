"""plait against Keras 3 itself (its torch backend, on the installed torch): the seed's models
with the same weights give the same predictions, and the same training steps give the same
weights. Skipped when Keras is not installed (it comes with the test extras)."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import plait  # noqa: E402
from plait import layers  # noqa: E402

# Keras's own Variable.__array__ predates numpy 2's `copy` keyword; that warning is Keras's.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

if keras.backend.backend() != "torch":
    pytest.skip("Keras was imported with another backend", allow_module_level=True)


def build(lib, which):
    L = lib.layers
    if which == "mlp":
        inputs = lib.Input(shape=(64,))
        x = L.Dense(32, activation="relu")(inputs)
        x = L.Dense(32, activation="relu")(x)
        return lib.Model(inputs, L.Dense(10, activation="softmax")(x))
    if which == "qa":
        text = lib.Input(shape=(None,), dtype="int32", name="text")
        question = lib.Input(shape=(None,), dtype="int32", name="question")
        a = L.LSTM(32)(L.Embedding(1000, 64)(text))
        b = L.LSTM(16)(L.Embedding(1000, 32)(question))
        return lib.Model([text, question], L.Dense(50, activation="softmax")(L.concatenate([a, b], axis=-1)))
    posts = lib.Input(shape=(None,), dtype="int32", name="posts")
    x = L.Embedding(500, 16)(posts)
    x = L.Conv1D(8, 5, activation="relu")(x)
    x = L.MaxPooling1D(5)(x)
    x = L.Conv1D(8, 5, activation="relu", padding="same", strides=2)(x)
    x = L.Conv1D(8, 3, activation="relu", padding="causal", dilation_rate=2)(x)
    x = L.GlobalMaxPooling1D()(x)
    x = L.Dropout(0.0)(L.Dense(16, activation="relu")(x))
    return lib.Model(
        posts,
        [
            L.Dense(1, name="age")(x),
            L.Dense(1, activation="sigmoid", name="sex")(x),
            L.Dense(4, activation="softmax", name="income")(x),
        ],
    )


def data(which, n=32, seed=0):
    rng = np.random.default_rng(seed)
    if which == "mlp":
        return rng.normal(size=(n, 64)).astype("float32"), np.eye(10, dtype="float32")[rng.integers(0, 10, n)]
    if which == "qa":
        x = [rng.integers(1, 1000, (n, 12)).astype("int32"), rng.integers(1, 1000, (n, 7)).astype("int32")]
        return x, np.eye(50, dtype="float32")[rng.integers(0, 50, n)]
    x = rng.integers(1, 500, (n, 60)).astype("int32")
    return x, [
        rng.normal(size=(n, 1)).astype("float32"),
        rng.integers(0, 2, (n, 1)).astype("float32"),
        np.eye(4, dtype="float32")[rng.integers(0, 4, n)],
    ]


def to_numpy(out):
    if isinstance(out, (list, tuple)):
        return [to_numpy(o) for o in out]
    return out.detach().cpu().numpy() if hasattr(out, "detach") else np.asarray(out)


def paired(which):
    k_model, p_model = build(keras, which), build(plait, which)
    assert [w.shape for w in k_model.get_weights()] == [w.shape for w in p_model.get_weights()]
    p_model.set_weights(k_model.get_weights())
    return k_model, p_model


@pytest.mark.parametrize("which", ["mlp", "qa", "multi"])
def test_same_weights_same_predictions(which):
    k_model, p_model = paired(which)
    x, _ = data(which)
    k_out, p_out = to_numpy(k_model.predict(x, verbose=0)), p_model.predict(x)
    for k, p in zip(k_out if isinstance(k_out, list) else [k_out], p_out if isinstance(p_out, list) else [p_out]):
        np.testing.assert_allclose(p, k, rtol=1e-5, atol=1e-6)
    assert k_model.count_params() == p_model.count_params()


@pytest.mark.parametrize(
    "which,optimizer,loss,weights",
    [
        ("mlp", "rmsprop", "categorical_crossentropy", None),
        ("mlp", "adam", "categorical_crossentropy", None),
        ("qa", "rmsprop", "categorical_crossentropy", None),
        (
            "multi",
            "rmsprop",
            {"age": "mse", "sex": "binary_crossentropy", "income": "categorical_crossentropy"},
            {"age": 0.25, "sex": 10.0, "income": 1.0},
        ),
        ("multi", "sgd", {"age": "huber", "sex": "binary_crossentropy", "income": "categorical_crossentropy"}, None),
    ],
)
def test_same_training_steps_same_weights_and_losses(which, optimizer, loss, weights):
    k_model, p_model = paired(which)
    x, y = data(which, n=48)
    k_model.compile(optimizer=optimizer, loss=loss, loss_weights=weights)
    p_model.compile(optimizer=optimizer, loss=loss, loss_weights=weights)
    k_hist = k_model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history
    p_hist = p_model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history
    for key in k_hist:
        np.testing.assert_allclose(p_hist[key], k_hist[key], rtol=2e-4, err_msg=key)
    for k, p in zip(k_model.get_weights(), p_model.get_weights()):
        np.testing.assert_allclose(p, k, rtol=1e-3, atol=2e-6)


def test_lstm_variants_match_keras():
    x = np.random.default_rng(1).normal(size=(3, 6, 4)).astype("float32")
    for kwargs in [
        {"return_sequences": True},
        {"go_backwards": True, "return_sequences": True},
        {"use_bias": False},
        {"unit_forget_bias": False},
        {"activation": "relu"},
    ]:
        k_layer, p_layer = keras.layers.LSTM(5, **kwargs), layers.LSTM(5, **kwargs)
        k_out = to_numpy(k_layer(x))
        p_layer(x)
        p_layer.set_weights(k_layer.get_weights())
        np.testing.assert_allclose(to_numpy(p_layer(x)), k_out, rtol=1e-5, atol=1e-6, err_msg=str(kwargs))


def every_layer(lib):
    L = lib.layers
    a, b = lib.Input(shape=(6, 4), name="a"), lib.Input(shape=(6, 4), name="b")
    merged = [
        L.add([a, b]),
        L.subtract([a, b]),
        L.multiply([a, b]),
        L.average([a, b]),
        L.maximum([a, b]),
        L.minimum([a, b]),
    ]
    x = L.Concatenate(axis=-1)(merged)
    x = L.Activation("gelu")(L.Conv1D(4, 3, padding="same", strides=2, activation="relu")(x))
    x = L.LSTM(5, return_sequences=True, go_backwards=True)(x)
    x = L.Dropout(0.1)(L.Flatten()(L.MaxPooling1D(1)(x)))
    y = L.GlobalMaxPooling1D()(L.Conv1D(3, 2, padding="causal", dilation_rate=2)(a))
    t = lib.Input(shape=(None,), dtype="int32", name="t")
    z = L.LSTM(3)(L.Embedding(30, 4)(t))
    return lib.Model([a, b, t], [L.Dense(2, activation="softmax")(L.Identity()(x)), L.concatenate([y, z])])


@pytest.mark.parametrize("which", ["mlp", "qa", "multi", "every_layer"])
def test_keras_files_load_with_keras_predictions(which, tmp_path):
    k_model = every_layer(keras) if which == "every_layer" else build(keras, which)
    if which == "every_layer":
        rng = np.random.default_rng(0)
        x = [
            rng.normal(size=(3, 6, 4)).astype("float32"),
            rng.normal(size=(3, 6, 4)).astype("float32"),
            rng.integers(1, 30, (3, 5)).astype("int32"),
        ]
    else:
        x, _ = data(which)
    k_model.save(tmp_path / "m.keras")
    k_model.save_weights(tmp_path / "m.weights.h5")
    loaded = plait.models.load_model(tmp_path / "m.keras")
    rebuilt = every_layer(plait) if which == "every_layer" else build(plait, which)
    rebuilt.load_weights(tmp_path / "m.weights.h5")
    expected = to_numpy(k_model.predict(x, verbose=0))
    expected = expected if isinstance(expected, list) else [expected]
    for model in (loaded, rebuilt):
        out = model.predict(x)
        for got, want in zip(out if isinstance(out, list) else [out], expected):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_keras_sequential_file_and_unsupported_layers(tmp_path):
    seq = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(2)])
    seq.save(tmp_path / "s.keras")
    x = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")
    np.testing.assert_allclose(
        plait.models.load_model(tmp_path / "s.keras").predict(x),
        to_numpy(seq.predict(x, verbose=0)),
        rtol=1e-5,
        atol=1e-6,
    )
    inputs = keras.Input(shape=(4,))

    @keras.saving.register_keras_serializable(package="parity")
    class NotInPlait(keras.layers.Layer):  # a layer plait lacks
        def call(self, x):
            return x

    odd = keras.Model(inputs, NotInPlait()(inputs))
    odd.save(tmp_path / "odd.keras")
    with pytest.raises(ValueError, match="layer class 'NotInPlait'.*odd.keras|odd.keras.*NotInPlait"):
        plait.models.load_model(tmp_path / "odd.keras")
    regularized = keras.Model(inputs, keras.layers.Dense(2, kernel_regularizer="l2")(inputs))
    regularized.save(tmp_path / "reg.keras")
    loaded = plait.models.load_model(tmp_path / "reg.keras")
    assert isinstance(loaded.layers[1].weight_options.options["kernel_regularizer"], plait.regularizers.L2)


LAYER_CASES = [
    ("GRU", {"units": 5}, (3, 6, 4)),
    ("GRU", {"units": 5, "reset_after": False}, (3, 6, 4)),
    ("GRU", {"units": 5, "return_sequences": True, "go_backwards": True}, (3, 6, 4)),
    ("GRU", {"units": 5, "activation": "relu"}, (3, 6, 4)),
    ("GRU", {"units": 5, "use_bias": False}, (3, 6, 4)),
    ("SimpleRNN", {"units": 5}, (3, 6, 4)),
    ("SimpleRNN", {"units": 5, "activation": "relu", "return_sequences": True}, (3, 6, 4)),
    ("SimpleRNN", {"units": 5, "activation": "sigmoid"}, (3, 6, 4)),
    ("BatchNormalization", {}, (4, 5)),
    ("BatchNormalization", {"axis": 1, "center": False}, (4, 3, 5)),
    ("LayerNormalization", {}, (4, 5)),
    ("LayerNormalization", {"axis": [1, 2]}, (4, 3, 5)),
    ("ReLU", {"max_value": 1.0, "negative_slope": 0.1, "threshold": 0.2}, (4, 5)),
    ("LeakyReLU", {}, (4, 5)),
    ("ELU", {"alpha": 0.5}, (4, 5)),
    ("Conv1D", {"filters": 3, "kernel_size": 4, "padding": "same", "strides": 3}, (2, 11, 4)),
    ("Conv1D", {"filters": 4, "kernel_size": 2, "groups": 2, "data_format": "channels_first"}, (2, 4, 9)),
    ("Conv2D", {"filters": 3, "kernel_size": 3}, (2, 7, 6, 4)),
    ("Conv2D", {"filters": 3, "kernel_size": (2, 3), "padding": "same", "strides": 2}, (2, 7, 6, 4)),
    ("Conv2D", {"filters": 2, "kernel_size": 3, "dilation_rate": 2, "padding": "same"}, (2, 8, 8, 3)),
    ("Conv3D", {"filters": 2, "kernel_size": 2, "padding": "same"}, (2, 5, 4, 3, 2)),
    ("MaxPooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}, (2, 7, 6, 4)),
    ("MaxPooling3D", {}, (2, 4, 4, 4, 2)),
    # Symmetric 'same' padding only: with asymmetric padding Keras's torch backend counts the
    # padded zeros, unlike its TF/JAX backends (tests/test_layers.py checks that case with numpy).
    ("AveragePooling1D", {"pool_size": 3, "padding": "same", "strides": 1}, (2, 10, 4)),
    ("AveragePooling2D", {"pool_size": 2}, (2, 6, 6, 3)),
    ("AveragePooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}, (2, 7, 7, 3)),
    ("GlobalAveragePooling1D", {}, (2, 6, 3)),
    ("GlobalAveragePooling2D", {"keepdims": True}, (2, 5, 6, 3)),
    ("GlobalMaxPooling2D", {}, (2, 5, 6, 3)),
    ("Reshape", {"target_shape": (3, -1)}, (2, 12)),
    ("Permute", {"dims": (2, 1)}, (2, 5, 3)),
    ("RepeatVector", {"n": 3}, (2, 4)),
    ("ZeroPadding1D", {"padding": (1, 2)}, (2, 5, 3)),
    ("Cropping1D", {"cropping": (1, 2)}, (2, 6, 3)),
    ("UpSampling1D", {"size": 3}, (2, 4, 3)),
    ("Conv1DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2}, (2, 5, 4)),
    ("Conv1DTranspose", {"filters": 3, "kernel_size": 4, "strides": 2, "padding": "same"}, (2, 5, 4)),
    ("Conv2DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}, (2, 4, 5, 3)),
    ("Conv2DTranspose", {"filters": 2, "kernel_size": (2, 3)}, (2, 4, 5, 3)),
    ("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 2, "padding": "same"}, (2, 6, 5, 3)),
    ("SeparableConv1D", {"filters": 4, "kernel_size": 3, "depth_multiplier": 2}, (2, 8, 3)),
    ("SeparableConv2D", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"}, (2, 7, 6, 3)),
    ("PReLU", {}, (2, 4, 3)),
    ("PReLU", {"shared_axes": [1]}, (2, 4, 3)),
    ("UnitNormalization", {}, (2, 4, 3)),
    ("GroupNormalization", {"groups": 2}, (2, 5, 4)),
    ("ZeroPadding2D", {"padding": ((1, 0), (2, 1))}, (2, 3, 4, 2)),
    ("Cropping2D", {"cropping": ((1, 0), (1, 1))}, (2, 4, 5, 2)),
    ("UpSampling2D", {"size": (2, 3)}, (2, 3, 2, 2)),
    ("UpSampling2D", {"interpolation": "bilinear"}, (2, 3, 4, 2)),
    ("SpatialDropout1D", {"rate": 0.5}, (2, 4, 3)),
    ("GaussianNoise", {"stddev": 0.5}, (2, 4, 3)),
    ("GaussianDropout", {"rate": 0.3}, (2, 4, 3)),
    ("Softmax", {"axis": 1}, (4, 3, 5)),
    ("AveragePooling3D", {"pool_size": 2}, (2, 4, 4, 4, 2)),
    ("GlobalMaxPooling1D", {}, (2, 6, 3)),
    ("SpatialDropout2D", {"rate": 0.5}, (2, 4, 4, 3)),
    ("Dropout", {"rate": 0.5}, (2, 4, 3)),
    ("ActivityRegularization", {"l1": 0.1, "l2": 0.2}, (2, 4)),
    ("Identity", {}, (2, 4)),
    ("Flatten", {}, (2, 4, 3)),
    ("Masking", {"mask_value": 0.0}, (2, 4, 3)),
    ("Dense", {"units": 3, "activation": "tanh"}, (2, 4, 5)),
]

MERGE_LAYERS = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"]


@pytest.mark.parametrize("name", MERGE_LAYERS)
def test_merge_layers_outputs_and_gradients_match_keras(name):
    import torch

    rng = np.random.default_rng(1)
    xs = [rng.normal(size=(3, 4, 5)).astype("float32") for _ in range(2)]
    k_out = getattr(keras.layers, name)()(xs)
    p_layer = getattr(layers, name)()
    np.testing.assert_allclose(to_numpy(p_layer(xs)), to_numpy(k_out), rtol=1e-6, atol=1e-7)
    k_in = [torch.tensor(x, requires_grad=True) for x in xs]
    (getattr(keras.layers, name)()(k_in) ** 2).sum().backward()
    p_in = [torch.tensor(x, requires_grad=True) for x in xs]
    (p_layer(p_in) ** 2).sum().backward()
    for p, k in zip(p_in, k_in):
        np.testing.assert_allclose(p.grad.numpy(), k.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_lambda_layer_matches_keras():
    x = np.random.default_rng(2).normal(size=(2, 4)).astype("float32")
    k_out = keras.layers.Lambda(lambda t: t * 2.0 + 1.0)(x)
    np.testing.assert_allclose(to_numpy(layers.Lambda(lambda t: t * 2.0 + 1.0)(x)), to_numpy(k_out), rtol=1e-6)


@pytest.mark.parametrize("name,kwargs,shape", LAYER_CASES)
def test_layer_outputs_and_gradients_match_keras(name, kwargs, shape):
    import torch

    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype("float32")
    k_layer, p_layer = getattr(keras.layers, name)(**kwargs), getattr(layers, name)(**kwargs)
    k_out = k_layer(x)
    p_layer(x)
    weights = k_layer.get_weights()
    if name == "BatchNormalization":  # non-trivial moving statistics
        weights = [w + rng.uniform(0.1, 0.5, size=w.shape).astype("float32") for w in weights]
        k_layer.set_weights(weights)
        k_out = k_layer(x)
    assert [w.shape for w in weights] == [w.shape for w in p_layer.get_weights()]
    p_layer.set_weights(weights)
    np.testing.assert_allclose(to_numpy(p_layer(x)), to_numpy(k_out), rtol=1e-5, atol=1e-6)
    assert tuple(p_layer.compute_output_shape((None, *shape[1:]))[1:]) == tuple(k_out.shape[1:])
    # The config round trip rebuilds an equal layer (same config, same outputs).
    clone = type(p_layer).from_config(p_layer.get_config())
    assert clone.get_config() == p_layer.get_config()
    clone(x)
    clone.set_weights(weights)
    np.testing.assert_allclose(to_numpy(clone(x)), to_numpy(p_layer(x)), rtol=1e-6, atol=1e-7)
    # Gradients with respect to the input, through Keras's torch backend and through plait.
    kx = torch.tensor(x, requires_grad=True)
    (k_layer(kx) ** 2).sum().backward()
    px = torch.tensor(x, requires_grad=True)
    (p_layer(px) ** 2).sum().backward()
    np.testing.assert_allclose(px.grad.numpy(), kx.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_batch_normalization_training_matches_keras():
    def model(lib):
        inputs = lib.Input(shape=(4,))
        # No bias before BatchNormalization: its gradient is rounding noise, which Adam amplifies.
        h = lib.layers.BatchNormalization(momentum=0.9)(lib.layers.Dense(6, use_bias=False)(inputs))
        return lib.Model(inputs, lib.layers.Dense(1)(h))

    k_model, p_model = model(keras), model(plait)
    p_model.set_weights(k_model.get_weights())
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(64, 4)).astype("float32"), rng.normal(size=(64, 1)).astype("float32")
    for m in (k_model, p_model):
        m.compile("adam", "mse")
    k_hist = k_model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history
    p_hist = p_model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history
    np.testing.assert_allclose(p_hist["loss"], k_hist["loss"], rtol=1e-4)
    for k, p in zip(k_model.get_weights(), p_model.get_weights()):  # moving mean / variance included
        np.testing.assert_allclose(p, k, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(p_model.predict(x), to_numpy(k_model.predict(x, verbose=0)), rtol=1e-4, atol=1e-5)


def padded_tokens(rng, batch=5, steps=7, vocab=20, pre=True):
    lengths = rng.integers(2, steps + 1, batch)
    x = np.zeros((batch, steps), dtype="int32")
    for i, n in enumerate(lengths):
        tokens = rng.integers(1, vocab, n)
        if pre:
            x[i, steps - n :] = tokens
        else:
            x[i, :n] = tokens
    return x, lengths


def masked_model(lib, rnn="LSTM"):
    L = lib.layers
    t = lib.Input(shape=(None,), dtype="int32")
    h = L.Embedding(20, 4, mask_zero=True)(t)
    h = getattr(L, rnn)(5, return_sequences=True)(h)
    a = L.GRU(3)(h)
    b = L.GlobalAveragePooling1D()(h)
    return lib.Model(t, L.Dense(2)(L.concatenate([a, b])))


@pytest.mark.parametrize("rnn", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("pre", [True, False])
def test_masked_sequences_match_keras_and_each_sample_alone(rnn, pre):
    rng = np.random.default_rng(0)
    x, lengths = padded_tokens(rng, pre=pre)
    k_model, p_model = masked_model(keras, rnn), masked_model(plait, rnn)
    p_model.set_weights(k_model.get_weights())
    expected = to_numpy(k_model.predict(x, verbose=0))
    got = p_model.predict(x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    for i, n in enumerate(lengths):  # each sample alone, unpadded, gives what it gives in the batch
        alone = x[i : i + 1, x.shape[1] - n :] if pre else x[i : i + 1, :n]
        np.testing.assert_allclose(p_model.predict(alone), got[i : i + 1], rtol=1e-5, atol=1e-6)


def test_masking_layer_and_masked_sequence_loss_train_like_keras():
    def model(lib):
        L = lib.layers
        x = lib.Input(shape=(6, 3))
        h = L.LSTM(4, return_sequences=True)(L.Masking(mask_value=0.0)(x))
        return lib.Model(x, L.Dense(3, activation="softmax")(h))

    rng = np.random.default_rng(2)
    x = rng.normal(size=(16, 6, 3)).astype("float32")
    x[:8, :2] = 0.0  # padded steps
    y = rng.integers(0, 3, (16, 6))
    k_model, p_model = model(keras), model(plait)
    p_model.set_weights(k_model.get_weights())
    for m in (k_model, p_model):
        m.compile("rmsprop", "sparse_categorical_crossentropy", metrics=["acc"])
    np.testing.assert_allclose(
        p_model.evaluate(x, y, verbose=0), k_model.evaluate(x, y, verbose=0), rtol=1e-5, err_msg="masked loss"
    )
    k_hist = k_model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    p_hist = p_model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    np.testing.assert_allclose(p_hist["loss"], k_hist["loss"], rtol=2e-4)
    np.testing.assert_allclose(p_hist["acc"], k_hist["acc"], rtol=1e-5)
    for k, p in zip(k_model.get_weights(), p_model.get_weights()):
        np.testing.assert_allclose(p, k, rtol=1e-3, atol=2e-6)


def test_masked_keras_file_loads(tmp_path):
    # Keras saves the mask computation as an op (NotEqual) feeding `mask=`; plait recomputes it.
    k_model = masked_model(keras, "GRU")
    k_model.save(tmp_path / "masked.keras")
    x, _ = padded_tokens(np.random.default_rng(3))
    loaded = plait.models.load_model(tmp_path / "masked.keras")
    np.testing.assert_allclose(loaded.predict(x), to_numpy(k_model.predict(x, verbose=0)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs,merge_mode",
    [
        ({"return_sequences": True}, "concat"),
        ({}, "sum"),
        ({"return_sequences": True}, "ave"),
        ({}, "mul"),
        ({"return_state": True}, "concat"),
    ],
)
def test_bidirectional_matches_keras(kwargs, merge_mode, tmp_path):
    def model(lib):
        t = lib.Input(shape=(None,), dtype="int32")
        h = lib.layers.Embedding(20, 4, mask_zero=True)(t)
        out = lib.layers.Bidirectional(lib.layers.LSTM(3, **kwargs), merge_mode=merge_mode)(h)
        return lib.Model(t, out)

    rng = np.random.default_rng(4)
    x, _ = padded_tokens(rng)
    k_model, p_model = model(keras), model(plait)
    p_model.set_weights(k_model.get_weights())
    expected, got = to_numpy(k_model.predict(x, verbose=0)), p_model.predict(x)
    for e, g in zip(expected if isinstance(expected, list) else [expected], got if isinstance(got, list) else [got]):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
    k_model.save(tmp_path / "bi.keras")
    loaded = plait.models.load_model(tmp_path / "bi.keras").predict(x)
    for e, g in zip(
        expected if isinstance(expected, list) else [expected], loaded if isinstance(loaded, list) else [loaded]
    ):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)


def test_time_distributed_matches_keras(tmp_path):
    def model(lib):
        x = lib.Input(shape=(5, 6, 3))
        h = lib.layers.TimeDistributed(lib.layers.Conv1D(4, 2, activation="relu"))(x)
        return lib.Model(x, lib.layers.TimeDistributed(lib.layers.Flatten())(h))

    x = np.random.default_rng(5).normal(size=(2, 5, 6, 3)).astype("float32")
    k_model, p_model = model(keras), model(plait)
    p_model.set_weights(k_model.get_weights())
    np.testing.assert_allclose(p_model.predict(x), to_numpy(k_model.predict(x, verbose=0)), rtol=1e-5, atol=1e-6)
    k_model.save(tmp_path / "td.keras")
    np.testing.assert_allclose(
        plait.models.load_model(tmp_path / "td.keras").predict(x),
        to_numpy(k_model.predict(x, verbose=0)),
        rtol=1e-5,
        atol=1e-6,
    )


def test_regularizers_and_constraints_train_like_keras():
    def model(lib):
        L = lib.layers
        t = lib.Input(shape=(None,), dtype="int32")
        h = L.Embedding(20, 4, embeddings_regularizer="l2")(t)
        h = L.LSTM(5, kernel_regularizer=lib.regularizers.L1L2(l1=0.001, l2=0.01), recurrent_constraint="unit_norm")(h)
        h = L.Dense(
            6,
            activation="relu",
            kernel_regularizer="l1",
            kernel_constraint=lib.constraints.MaxNorm(0.5),
            bias_constraint="non_neg",
            activity_regularizer="l2",
        )(h)
        return lib.Model(t, L.Dense(3, activation="softmax", bias_regularizer="l2")(h))

    rng = np.random.default_rng(6)
    x, y = rng.integers(1, 20, (32, 6)).astype("int32"), rng.integers(0, 3, 32)
    k_model, p_model = model(keras), model(plait)
    p_model.set_weights(k_model.get_weights())
    for m in (k_model, p_model):
        m.compile("rmsprop", "sparse_categorical_crossentropy")
    np.testing.assert_allclose(p_model.evaluate(x, y, verbose=0), k_model.evaluate(x, y, verbose=0), rtol=1e-5)
    k_hist = k_model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    p_hist = p_model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    np.testing.assert_allclose(p_hist["loss"], k_hist["loss"], rtol=2e-4)
    for k, p in zip(k_model.get_weights(), p_model.get_weights()):
        np.testing.assert_allclose(p, k, rtol=1e-3, atol=2e-6)


@pytest.mark.parametrize(
    "kwargs,call",
    [
        ({"num_heads": 2, "key_dim": 4}, {}),
        ({"num_heads": 3, "key_dim": 2, "value_dim": 5, "output_shape": 7}, {}),
        ({"num_heads": 2, "key_dim": 4}, {"use_causal_mask": True}),
        ({"num_heads": 2, "key_dim": 4, "use_bias": False}, {"return_attention_scores": True}),
    ],
)
def test_multi_head_attention_matches_keras(kwargs, call, tmp_path):
    def model(lib, cross=False):
        # One attention layer per model: with a masked tensor feeding two attention layers,
        # Keras's functional model disagrees with Keras's own eager call (plait matches the latter).
        t = lib.Input(shape=(None,), dtype="int32")
        c = lib.Input(shape=(5, 6))
        h = lib.layers.Embedding(20, 6, mask_zero=True)(t)
        if cross:
            return lib.Model([t, c], lib.layers.MultiHeadAttention(num_heads=2, key_dim=3)(h, c, **call))
        out = lib.layers.MultiHeadAttention(**kwargs)(h, h, **call)
        return lib.Model(t, list(out) if isinstance(out, (list, tuple)) else out)

    rng = np.random.default_rng(7)
    x, lengths = padded_tokens(rng, pre=False)
    ctx = rng.normal(size=(len(x), 5, 6)).astype("float32")
    valid = x > 0  # padded query rows attend to nothing; Keras and plait may differ there
    for cross in (False, True):
        if cross and call.get("return_attention_scores"):
            continue
        k_model, p_model = model(keras, cross), model(plait, cross)
        p_model.set_weights(k_model.get_weights())
        k_model.save(tmp_path / "mha.keras")
        data = [x, ctx] if cross else x
        expected = to_numpy(k_model.predict(data, verbose=0))
        expected = expected if isinstance(expected, list) else [expected]
        for model_ in (p_model, plait.models.load_model(tmp_path / "mha.keras")):
            got = model_.predict(data)
            got = got if isinstance(got, list) else [got]
            _compare_attention(expected, got, valid)


def _compare_attention(expected, got, valid):
    for e, g in zip(expected, got):
        if g.ndim == 3:
            np.testing.assert_allclose(g[valid], e[valid], rtol=1e-5, atol=1e-6)
        else:  # attention scores (B, heads, T, S): valid query rows
            np.testing.assert_allclose(
                g.transpose(0, 2, 1, 3)[valid], e.transpose(0, 2, 1, 3)[valid], rtol=1e-5, atol=1e-6
            )


@pytest.mark.parametrize(
    "axes,normalize,shapes",
    [
        (1, False, [(3, 4), (3, 4)]),
        (1, True, [(3, 4), (3, 4)]),
        ((2, 2), False, [(2, 3, 4), (2, 5, 4)]),
        ((1, 1), True, [(2, 3, 4), (2, 3, 5)]),
    ],
)
def test_dot_matches_keras(axes, normalize, shapes):
    rng = np.random.default_rng(8)
    x, y = (rng.normal(size=s).astype("float32") for s in shapes)
    expected = to_numpy(keras.layers.Dot(axes=axes, normalize=normalize)([x, y]))
    np.testing.assert_allclose(
        to_numpy(layers.Dot(axes=axes, normalize=normalize)([x, y])), expected, rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    "name,kwargs,call",
    [
        ("Attention", {}, {}),
        ("Attention", {"use_scale": True, "score_mode": "concat"}, {"use_causal_mask": True}),
        ("Attention", {"use_scale": True}, {"return_attention_scores": True}),
        ("AdditiveAttention", {}, {}),
    ],
)
def test_attention_layers_match_keras(name, kwargs, call, tmp_path):
    def model(lib):
        t, s = lib.Input(shape=(None,), dtype="int32"), lib.Input(shape=(None,), dtype="int32")
        embed = lib.layers.Embedding(20, 4, mask_zero=True)
        out = getattr(lib.layers, name)(**kwargs)([embed(t), embed(s)], **call)
        return lib.Model([t, s], list(out) if isinstance(out, (list, tuple)) else out)

    rng = np.random.default_rng(9)
    (q, _), (v, _) = padded_tokens(rng, pre=False), padded_tokens(rng, pre=False)
    k_model, p_model = model(keras), model(plait)
    p_model.set_weights(k_model.get_weights())
    k_model.save(tmp_path / "att.keras")
    expected = to_numpy(k_model.predict([q, v], verbose=0))
    for m in (p_model, plait.models.load_model(tmp_path / "att.keras")):
        got = m.predict([q, v])
        for e, g in zip(
            expected if isinstance(expected, list) else [expected], got if isinstance(got, list) else [got]
        ):
            np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
