"""Keras files both ways: what plait saves as ``.keras`` / ``.weights.h5`` opens in Keras 3 (torch
backend) with plait's predictions and comes back into plait; Keras's files load into plait; damaged
or mismatched files are clear errors naming the file, the layer and the mismatch."""

import os
import zipfile

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from test_keras_parity import build, data  # noqa: E402

import plait  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

if keras.backend.backend() != "torch":
    pytest.skip("Keras was imported with another backend", allow_module_level=True)


def outputs(model, x):
    """Predictions as a list of numpy arrays, for a plait or a Keras model."""
    if isinstance(model, keras.Model):
        out = model(x, training=False)
        return [keras.ops.convert_to_numpy(o) for o in (out if isinstance(out, (list, tuple)) else [out])]
    x = {k: torch.as_tensor(v) for k, v in x.items()} if isinstance(x, dict) else x
    x = [torch.as_tensor(v) for v in x] if isinstance(x, list) else torch.as_tensor(x) if not isinstance(x, dict) else x
    with torch.no_grad():
        out = model(x)
    return [o.numpy() for o in (out if isinstance(out, (list, tuple)) else [out])]


def assert_same(a, b, atol=1e-5):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, atol=atol, rtol=0)


@pytest.mark.parametrize("which", ["mlp", "qa", "multi"])
def test_seed_models_open_in_keras_and_come_back(tmp_path, which):
    model, x = build(plait, which), data(which)[0]
    path = tmp_path / "m.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
    expected = outputs(model, x)
    assert_same(outputs(keras.models.load_model(path), x), expected)
    assert_same(outputs(plait.models.load_model(path), x), expected, atol=0)
    # Weights alone, both ways, in Keras's HDF5 layout.
    from plait.saving.weights_file import load_weights, save_weights

    save_weights(model, tmp_path / "w.weights.h5")
    k_model = build(keras, which)
    k_model.load_weights(tmp_path / "w.weights.h5")
    assert_same(outputs(k_model, x), expected)
    k_model = build(keras, which)
    k_model.save_weights(tmp_path / "k.weights.h5")
    again = build(plait, which)
    load_weights(again, tmp_path / "k.weights.h5")
    assert_same(outputs(again, x), outputs(k_model, x))


def _zoo(lib):
    """Layers whose weights Keras nests (RNN cells, wrappers, attention, nested models)."""
    L = lib.layers
    tokens = lib.Input(shape=(6,), dtype="int32", name="tokens")
    frames = lib.Input(shape=(5, 8), name="frames")
    x = L.Embedding(40, 8)(tokens)
    x = L.LSTM(4, return_sequences=True)(x)
    x = L.Bidirectional(L.GRU(3))(x)
    y = L.TimeDistributed(L.Dense(2))(frames)
    y = L.BatchNormalization()(y)
    y = L.LayerNormalization()(y)
    z = L.MultiHeadAttention(2, 4)(frames, frames)
    z = L.GlobalAveragePooling1D()(z)
    inner = lib.Sequential([lib.Input(shape=(6,)), L.Dense(3, activation="relu"), L.Dense(2)])
    out = L.concatenate([inner(x), z, L.Flatten()(y)])
    return lib.Model({"tokens": tokens, "frames": frames}, [out, L.Dense(1, name="head")(out)])


def _zoo_data():
    rng = np.random.default_rng(1)
    return {
        "tokens": rng.integers(1, 40, (3, 6)).astype("int32"),
        "frames": rng.normal(size=(3, 5, 8)).astype("float32"),
    }


def test_nested_weights_layout(tmp_path):
    model, x = _zoo(plait), _zoo_data()
    # Non-default moving statistics, so they are checked too.
    bn = [layer for layer in model.layers if type(layer).__name__ == "BatchNormalization"][0]
    bn.set_weights([w + np.arange(w.size, dtype="float32").reshape(w.shape) * 0.1 + 0.5 for w in bn.get_weights()])
    model.save(tmp_path / "zoo.keras")
    expected = outputs(model, x)
    assert_same(outputs(keras.models.load_model(tmp_path / "zoo.keras"), x), expected)
    assert_same(outputs(plait.models.load_model(tmp_path / "zoo.keras"), x), expected, atol=0)
    k_model = _zoo(keras)
    k_model.save(tmp_path / "k.keras")
    from plait.saving.weights_file import load_weights

    rebuilt = _zoo(plait)
    load_weights(rebuilt, tmp_path / "k.keras")
    assert_same(outputs(rebuilt, x), outputs(k_model, x))


def _nested_cells(lib):
    """RNN cells and a spectrally normalized layer inside Bidirectional and TimeDistributed."""
    L = lib.layers
    inputs = lib.Input(shape=(5, 4))
    x = L.Bidirectional(L.RNN([L.LSTMCell(3), L.GRUCell(2)], return_sequences=True))(inputs)
    x = L.TimeDistributed(L.SpectralNormalization(L.Dense(3)))(x)
    backward = L.RNN(L.GRUCell(2), go_backwards=True)
    return lib.Model(inputs, L.Bidirectional(L.RNN(L.SimpleRNNCell(2)), backward_layer=backward)(x))


def test_nested_cells_both_ways(tmp_path):
    x = np.random.default_rng(8).normal(size=(2, 5, 4)).astype("float32")
    k_model = _nested_cells(keras)
    k_model.set_weights([w + 0.1 for w in k_model.get_weights()])
    k_model.save(tmp_path / "k.keras")
    loaded = plait.models.load_model(tmp_path / "k.keras")
    assert_same(outputs(loaded, x), outputs(k_model, x))
    loaded.save(tmp_path / "p.keras")  # each cell's weights under forward_layer/cell/cells/<cell>, as Keras's
    assert_same(outputs(keras.models.load_model(tmp_path / "p.keras"), x), outputs(k_model, x))
    from plait.saving.weights_file import save_weights

    save_weights(loaded, tmp_path / "p.weights.h5")
    again = _nested_cells(keras)
    again.load_weights(tmp_path / "p.weights.h5")
    assert_same(outputs(again, x), outputs(k_model, x))


def test_sequential_and_preprocessing(tmp_path):
    model = plait.Sequential(
        [
            plait.Input(shape=(12, 12, 3)),
            plait.layers.Rescaling(1 / 255),
            plait.layers.Resizing(8, 8),
            plait.layers.Normalization(),
            plait.layers.Conv2D(4, 3, activation="relu"),
            plait.layers.RandomFlip(),
            plait.layers.GlobalMaxPooling2D(),
            plait.layers.Dense(2, activation="softmax"),
        ]
    )
    x = np.random.default_rng(2).uniform(0, 255, (4, 12, 12, 3)).astype("float32")
    model.layers[2].adapt(x[..., :3] / 255)
    model.save(tmp_path / "s.keras")
    expected = outputs(model, x)
    assert_same(outputs(keras.models.load_model(tmp_path / "s.keras"), x), expected)
    assert_same(outputs(plait.models.load_model(tmp_path / "s.keras"), x), expected, atol=0)


def test_plait_only_content_is_refused(tmp_path):
    inputs = plait.Input(shape=(4,))
    wrapped = plait.Model(inputs, torch.nn.Linear(4, 2)(inputs))
    lam = plait.Model(inputs, plait.layers.Lambda(torch.tanh)(inputs))

    class Holder(plait.layers.Layer):  # a custom layer holding a plain torch module with weights
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 2)

        def call(self, x):
            return self.linear(x)

    held = plait.Model(inputs, Holder()(inputs))
    for model in (wrapped, lam, held):
        with pytest.raises(ValueError, match=r"Keras \.keras file.*'\.plait'"):
            model.save(tmp_path / "x.keras")
        assert not (tmp_path / "x.keras").exists()
        model.save(tmp_path / "x.plait")


# ---------------------------------------------------------------- bad input
def _saved(tmp_path):
    model = build(plait, "mlp")
    model.save(tmp_path / "m.keras")
    from plait.saving.weights_file import save_weights

    save_weights(model, tmp_path / "m.weights.h5")
    return model


def test_truncated_files(tmp_path):
    _saved(tmp_path)
    from plait.saving.weights_file import load_weights

    for name in ("m.keras", "m.weights.h5"):
        raw = (tmp_path / name).read_bytes()
        (tmp_path / ("cut_" + name)).write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="cut_m.keras"):
        plait.models.load_model(tmp_path / "cut_m.keras")
    with pytest.raises(ValueError, match="cut_m.weights.h5.*(truncated|corrupted)"):
        load_weights(build(plait, "mlp"), tmp_path / "cut_m.weights.h5")


def test_tampered_weights(tmp_path):
    import h5py

    _saved(tmp_path)
    from plait.saving.weights_file import load_weights

    with h5py.File(tmp_path / "m.weights.h5", "a") as h5:
        del h5["layers/dense_1/vars/0"]
        h5["layers/dense_1/vars"].create_dataset("0", data=np.array([b"import os"] * 3))
    with pytest.raises(ValueError, match=r"m.weights.h5.*layer 'dense_\d+'.*not numbers"):
        load_weights(build(plait, "mlp"), tmp_path / "m.weights.h5")


def test_weights_for_another_architecture(tmp_path):
    from plait.saving.weights_file import load_weights, save_weights

    save_weights(build(plait, "mlp"), tmp_path / "mlp.weights.h5")
    inputs = plait.Input(shape=(64,))
    wider = plait.Model(inputs, plait.layers.Dense(10)(plait.layers.Dense(48)(plait.layers.Dense(32)(inputs))))
    before = [w.copy() for w in wider.get_weights()]
    with pytest.raises(ValueError, match=r"mlp.weights.h5.*'dense_\d+/kernel' has shape \(32, 48\).*\(32, 32\)"):
        load_weights(wider, tmp_path / "mlp.weights.h5")
    assert all(np.array_equal(a, b) for a, b in zip(before, wider.get_weights()))  # nothing half-loaded
    shorter = plait.Model(inputs, plait.layers.Dense(32, activation="relu")(inputs))
    with pytest.raises(
        ValueError, match=r"mlp.weights.h5' has weights for layers \[.dense_1., .dense_2.\] that model .* does not have"
    ):
        load_weights(shorter, tmp_path / "mlp.weights.h5")
    # skip_mismatch: the layers that fit load, the others are skipped with a warning (Keras's rule).
    first = [w.copy() for w in wider.layers[1].get_weights()]  # (get_weights returns views of the weights)
    with pytest.warns(UserWarning, match="Skipping: .*mlp.weights.h5") as caught:
        load_weights(wider, tmp_path / "mlp.weights.h5", skip_mismatch=True)
    assert any("has shape (32, 48)" in str(w.message) for w in caught)
    assert not np.array_equal(wider.layers[1].get_weights()[0], first[0])  # dense (64, 32) loaded
    lstm = build(plait, "qa")
    with pytest.raises(ValueError, match=r"mlp.weights.h5' has no weights for layer 'embedding"):
        load_weights(lstm, tmp_path / "mlp.weights.h5")


def test_content_must_match_extension(tmp_path):
    from plait.saving.weights_file import load_weights, save_weights

    model = build(plait, "mlp")
    save_weights(model, tmp_path / "w.safetensors")
    os.replace(tmp_path / "w.safetensors", tmp_path / "w.weights.h5")
    with pytest.raises(ValueError, match=r"'.*w.weights.h5' should hold an HDF5 file.*holds safetensors"):
        load_weights(model, tmp_path / "w.weights.h5")
    save_weights(model, tmp_path / "k.weights.h5")
    os.replace(tmp_path / "k.weights.h5", tmp_path / "k.safetensors")
    with pytest.raises(ValueError, match=r"k.safetensors' should hold safetensors.*holds an HDF5 file"):
        load_weights(model, tmp_path / "k.safetensors")
    (tmp_path / "empty.weights.h5").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.weights.h5.*neither"):
        load_weights(model, tmp_path / "empty.weights.h5")


# ---------------------------------------------------------------- every layer, every config key
class Sub:
    """A sublayer argument (an RNN's cell, a wrapped layer), built from Keras's class of that name."""

    def __init__(self, name, **kwargs):
        self.name, self.kwargs = name, kwargs

    def build(self):
        return getattr(keras.layers, self.name)(**_keras_arguments(self.kwargs))

    def __repr__(self):
        return f"{self.name}({self.kwargs})"


def _keras_arguments(value):
    if isinstance(value, Sub):
        return value.build()
    if isinstance(value, list):
        return [_keras_arguments(v) for v in value]
    if isinstance(value, dict):
        return {k: _keras_arguments(v) for k, v in value.items()}
    return value


# Stacked cells whose Keras groups (lstm_cell, gru_cell, simple_rnn_cell .. simple_rnn_cell_10,
# lstm_cell_1) HDF5 lists in another order than the stack's: each has its own shapes.
_STACK = [Sub("LSTMCell", units=3), Sub("GRUCell", units=2)]
_STACK += [Sub("SimpleRNNCell", units=2 + i % 3) for i in range(11)] + [Sub("LSTMCell", units=2)]

# (layer, constructor arguments, input shapes without the batch, input dtype). Arguments include
# non-default regularizers, constraints, data formats and the like, so they are checked honoured.
LAYERS = [
    ("Dense", dict(units=3, kernel_regularizer="l2", bias_constraint="non_neg", activity_regularizer="l1"), [(4,)]),
    ("Activation", dict(activation="tanh"), [(4,)]),
    ("Embedding", dict(input_dim=10, output_dim=3, embeddings_regularizer="l1"), [(5,)], "int32"),
    ("Identity", {}, [(4,)]),
    ("Masking", dict(mask_value=0.5), [(3, 4)]),
    ("Conv1D", dict(filters=2, kernel_size=3, padding="causal", dilation_rate=2), [(6, 4)]),
    ("Conv2D", dict(filters=2, kernel_size=3, kernel_constraint="max_norm", data_format="channels_first"), [(3, 6, 6)]),
    ("Conv3D", dict(filters=2, kernel_size=2, strides=2), [(4, 4, 4, 2)]),
    ("Conv1DTranspose", dict(filters=2, kernel_size=3, strides=2), [(5, 4)]),
    ("Conv2DTranspose", dict(filters=2, kernel_size=3, padding="same", bias_regularizer="l2"), [(5, 5, 3)]),
    ("DepthwiseConv2D", dict(kernel_size=3, depth_multiplier=2, depthwise_regularizer="l2"), [(6, 6, 3)]),
    ("SeparableConv1D", dict(filters=2, kernel_size=3, pointwise_regularizer="l2"), [(6, 4)]),
    (
        "SeparableConv2D",
        dict(filters=2, kernel_size=3, depthwise_constraint="non_neg", pointwise_regularizer="l1"),
        [(6, 6, 3)],
    ),
    ("AveragePooling1D", dict(pool_size=2, padding="same"), [(5, 3)]),
    ("AveragePooling2D", dict(pool_size=2), [(6, 6, 3)]),
    ("AveragePooling3D", dict(pool_size=2), [(4, 4, 4, 2)]),
    ("MaxPooling1D", dict(pool_size=2), [(6, 3)]),
    ("MaxPooling2D", dict(pool_size=2, data_format="channels_first"), [(3, 6, 6)]),
    ("MaxPooling3D", dict(pool_size=2), [(4, 4, 4, 2)]),
    ("GlobalAveragePooling1D", {}, [(5, 3)]),
    ("GlobalAveragePooling2D", dict(keepdims=True), [(4, 4, 3)]),
    ("GlobalMaxPooling1D", {}, [(5, 3)]),
    ("GlobalMaxPooling2D", {}, [(4, 4, 3)]),
    ("LSTM", dict(units=3, recurrent_regularizer="l2", return_sequences=True), [(5, 4)]),
    ("GRU", dict(units=3, kernel_constraint="max_norm"), [(5, 4)]),
    ("SimpleRNN", dict(units=3, go_backwards=True), [(5, 4)]),
    ("BatchNormalization", dict(beta_regularizer="l2", gamma_constraint="non_neg", momentum=0.9), [(4, 3)]),
    ("LayerNormalization", dict(gamma_regularizer="l1", beta_constraint="max_norm"), [(4, 3)]),
    ("LayerNormalization", dict(rms_scaling=True), [(4, 3)]),
    ("GroupNormalization", dict(groups=2, gamma_regularizer="l2"), [(4, 6)]),
    ("UnitNormalization", {}, [(4, 3)]),
    ("MultiHeadAttention", dict(num_heads=2, key_dim=3, kernel_regularizer="l2"), [(4, 5), (6, 5)]),
    ("Attention", dict(use_scale=True), [(4, 5), (6, 5)]),
    ("AdditiveAttention", {}, [(4, 5), (6, 5)]),
    ("Add", {}, [(3,), (3,)]),
    ("Average", {}, [(3,), (3,)]),
    ("Concatenate", dict(axis=-1), [(3,), (2,)]),
    ("Maximum", {}, [(3,), (3,)]),
    ("Minimum", {}, [(3,), (3,)]),
    ("Multiply", {}, [(3,), (3,)]),
    ("Subtract", {}, [(3,), (3,)]),
    ("Dot", dict(axes=1, normalize=True), [(3,), (3,)]),
    ("Flatten", {}, [(3, 4)]),
    ("Reshape", dict(target_shape=(6,)), [(2, 3)]),
    ("Permute", dict(dims=(2, 1)), [(2, 3)]),
    ("RepeatVector", dict(n=2), [(3,)]),
    ("ZeroPadding1D", dict(padding=2), [(4, 3)]),
    ("Cropping1D", dict(cropping=(1, 2)), [(6, 3)]),
    ("UpSampling1D", dict(size=3), [(4, 3)]),
    ("ZeroPadding2D", dict(padding=(1, 2), data_format="channels_first"), [(3, 4, 4)]),
    ("Cropping2D", dict(cropping=((1, 0), (0, 2)), data_format="channels_first"), [(3, 5, 5)]),
    ("UpSampling2D", dict(size=(2, 3), data_format="channels_first", interpolation="bilinear"), [(3, 4, 4)]),
    ("Dropout", dict(rate=0.5, noise_shape=(None, 1)), [(4,)]),
    ("SpatialDropout1D", dict(rate=0.5), [(4, 3)]),
    ("SpatialDropout2D", dict(rate=0.5, data_format="channels_first"), [(3, 4, 4)]),
    ("GaussianNoise", dict(stddev=0.1), [(4,)]),
    ("GaussianDropout", dict(rate=0.1), [(4,)]),
    ("ActivityRegularization", dict(l1=0.01, l2=0.02), [(4,)]),
    ("ELU", dict(alpha=0.5), [(4,)]),
    ("LeakyReLU", dict(negative_slope=0.1), [(4,)]),
    ("ReLU", dict(max_value=0.5, negative_slope=0.1, threshold=0.1), [(4,)]),
    ("Softmax", dict(axis=-1), [(4,)]),
    (
        "PReLU",
        dict(alpha_initializer="ones", alpha_regularizer="l2", alpha_constraint="non_neg", shared_axes=[1]),
        [(3, 4)],
    ),
    ("Rescaling", dict(scale=1 / 255, offset=-0.5), [(4, 4, 3)]),
    ("Normalization", dict(mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 9.0]), [(4, 4, 3)]),
    ("Normalization", dict(axis=-1), [(4, 4, 3)]),
    ("Resizing", dict(height=3, width=5, interpolation="bicubic", crop_to_aspect_ratio=True), [(6, 4, 3)]),
    ("CenterCrop", dict(height=3, width=2), [(6, 4, 3)]),
    ("RandomFlip", dict(mode="horizontal", seed=1), [(6, 4, 3)]),
    ("RandomRotation", dict(factor=0.2, fill_mode="constant"), [(6, 4, 3)]),
    ("RandomZoom", dict(height_factor=0.2, width_factor=(-0.1, 0.3)), [(6, 4, 3)]),
    ("RandomTranslation", dict(height_factor=0.2, width_factor=0.1, interpolation="nearest"), [(6, 4, 3)]),
    ("RandomContrast", dict(factor=0.3, value_range=(0, 1)), [(6, 4, 3)]),
    ("RandomCrop", dict(height=3, width=2), [(6, 4, 3)]),
    ("CategoryEncoding", dict(num_tokens=6, output_mode="count"), [(3,)], "int32"),
    ("Discretization", dict(bin_boundaries=[0.0, 0.5]), [(4,)]),
    ("Conv3DTranspose", dict(filters=2, kernel_size=2, strides=2, kernel_regularizer="l2"), [(3, 3, 3, 2)]),
    ("DepthwiseConv1D", dict(kernel_size=3, depth_multiplier=2, depthwise_regularizer="l1"), [(6, 3)]),
    ("ZeroPadding3D", dict(padding=((1, 0), 2, 0)), [(3, 3, 3, 2)]),
    ("Cropping3D", dict(cropping=((1, 0), 1, 0), data_format="channels_first"), [(2, 4, 4, 3)]),
    ("UpSampling3D", dict(size=(1, 2, 2)), [(2, 3, 3, 2)]),
    ("GlobalAveragePooling3D", dict(keepdims=True), [(3, 3, 3, 2)]),
    ("GlobalMaxPooling3D", {}, [(3, 3, 3, 2)]),
    ("AdaptiveAveragePooling1D", dict(output_size=2), [(5, 3)]),
    ("AdaptiveAveragePooling2D", dict(output_size=(2, 3)), [(5, 7, 3)]),
    ("AdaptiveAveragePooling3D", dict(output_size=2), [(5, 4, 3, 2)]),
    ("AdaptiveMaxPooling1D", dict(output_size=3), [(7, 3)]),
    ("AdaptiveMaxPooling2D", dict(output_size=2, data_format="channels_first"), [(3, 5, 5)]),
    ("AdaptiveMaxPooling3D", dict(output_size=(1, 2, 2)), [(3, 4, 5, 2)]),
    ("AlphaDropout", dict(rate=0.3, noise_shape=(None, 1)), [(4,)]),
    ("RMSNormalization", dict(epsilon=1e-3), [(4, 3)]),
    ("EinsumDense", dict(equation="abc,cde->abde", output_shape=(None, 2, 3), bias_axes="de"), [(4, 5)]),
    ("ReversibleEmbedding", dict(input_dim=10, output_dim=3, tie_weights=False), [(5,)], "int32"),
    ("RNN", dict(cell=Sub("LSTMCell", units=3, kernel_regularizer="l2"), return_sequences=True), [(5, 4)]),
    ("RNN", dict(cell=Sub("StackedRNNCells", cells=_STACK), go_backwards=True), [(5, 4)]),
    ("RNN", dict(cell=[Sub("GRUCell", units=3, reset_after=False), Sub("SimpleRNNCell", units=2)]), [(5, 4)]),
    ("ConvLSTM1D", dict(filters=2, kernel_size=3, padding="same", return_sequences=True), [(3, 6, 2)]),
    (
        "ConvLSTM2D",
        dict(filters=2, kernel_size=3, kernel_regularizer="l2", data_format="channels_first"),
        [(3, 2, 5, 5)],
    ),
    ("ConvLSTM3D", dict(filters=2, kernel_size=2, strides=2), [(2, 4, 4, 4, 2)]),
    ("SpectralNormalization", dict(layer=Sub("Dense", units=3, kernel_regularizer="l1"), power_iterations=2), [(4,)]),
    ("SpectralNormalization", dict(layer=Sub("Conv2D", filters=2, kernel_size=3)), [(5, 5, 3)]),
    ("GroupQueryAttention", dict(head_dim=2, num_query_heads=4, num_key_value_heads=2), [(4, 6), (5, 6)]),
    (
        "GroupQueryAttention",
        dict(head_dim=3, num_query_heads=2, num_key_value_heads=1, use_bias=False),
        [(4, 6), (5, 6)],
    ),
    ("AutoContrast", dict(value_range=(0, 1)), [(6, 4, 3)]),
    ("RandomBrightness", dict(factor=0.2, value_range=(0, 1), seed=1), [(6, 4, 3)]),
    ("RandomColorDegeneration", dict(factor=0.3, seed=1), [(6, 4, 3)]),
    ("RandomGrayscale", dict(factor=0.5, data_format="channels_first"), [(3, 6, 4)]),
    ("RandomHue", dict(factor=0.3, value_range=(0, 1)), [(6, 4, 3)]),
    ("RandomInvert", dict(factor=0.5, value_range=(0, 1)), [(6, 4, 3)]),
    ("RandomPosterization", dict(factor=(1, 4), value_range=(0, 1)), [(6, 4, 3)]),
    ("RandomSaturation", dict(factor=0.4, value_range=(0, 1)), [(6, 4, 3)]),
    ("RandomSharpness", dict(factor=0.3, value_range=(0, 1)), [(6, 4, 3)]),
    ("Solarization", dict(addition_factor=0.2, threshold_factor=0.3, value_range=(0, 1)), [(6, 4, 3)]),
    (
        "RandomColorJitter",
        dict(value_range=(0, 1), brightness_factor=0.2, contrast_factor=0.3, saturation_factor=0.4, hue_factor=0.1),
        [(6, 4, 3)],
    ),
    ("MixUp", dict(alpha=0.3), [(6, 4, 3)]),
    ("MaxNumBoundingBoxes", dict(max_number=3, fill_value=-2), [(6, 4, 3)]),
    ("CutMix", dict(factor=0.5), [(6, 4, 3)]),
    ("RandomErasing", dict(factor=0.5, scale=(0.1, 0.3), value_range=(0, 1)), [(6, 4, 3)]),
    ("RandomPerspective", dict(factor=0.5, scale=0.4, interpolation="nearest"), [(6, 4, 3)]),
    ("RandomElasticTransform", dict(factor=0.5, scale=0.3, value_range=(0, 1)), [(6, 4, 3)]),
    ("RandAugment", dict(value_range=(0, 1), num_ops=3, factor=0.4), [(6, 4, 3)]),
    ("AugMix", dict(value_range=(0, 1), num_chains=2, chain_depth=2, factor=0.4), [(6, 4, 3)]),
    ("RandomGaussianBlur", dict(factor=0.5, kernel_size=3, sigma=1.0, value_range=(0, 1)), [(6, 4, 3)]),
    ("MelSpectrogram", dict(fft_length=32, sequence_stride=8, sequence_length=16, num_mel_bins=8), [(128,)]),
    ("STFTSpectrogram", dict(frame_length=16, frame_step=8, fft_length=16), [(64, 1)]),
]
# Layers with no counterpart in a Keras file: they hold code or torch modules (plait's .plait keeps them).
# Hashing, HashedCrossing, IntegerLookup, StringLookup and TextVectorization: Keras's need TensorFlow
# (test_preprocessing checks them).
NOT_IN_KERAS_FILES = {
    "Hashing",
    "HashedCrossing",
    "IntegerLookup",
    "StringLookup",
    "TextVectorization",
    "Lambda",
    "TorchModuleWrapper",
    "TorchOp",
    "InputLayer",
    "Layer",
    "Bidirectional",
    "TimeDistributed",
    # The next ones are checked against Keras in test_layers_more: Wrapper is a base class;
    # Pipeline holds layers; Keras 3.15 cannot rebuild SpatialDropout3D from its own config.
    "Wrapper",
    "Pipeline",
    "SpatialDropout3D",
    # Keras 3.15 cannot rebuild RandomShear from its own config (it writes x_factor=[-0.2, 0.2]
    # and refuses the negative bound), nor call Equalization on a Keras symbolic input (its
    # functional model reports a cycle): their own tests compare them with Keras eagerly.
    "RandomShear",
    "Equalization",
    # Being written: from the same Keras file its outputs differ from Keras's (which come out on
    # the 256 levels of value_range, e.g. 21/255) by up to 0.03; a case goes in when they match.
    "ContrastLimitedAdaptiveHistogramEqualization",
    # Cells take states, so they are not a model's layer by themselves: the RNN cases above
    # write and read each of them (and StackedRNNCells) inside Keras's `cell` group.
    "SimpleRNNCell",
    "GRUCell",
    "LSTMCell",
    "StackedRNNCells",
}  # the wrappers are tested with their layers in test_nested_weights_layout


def _plait_class(name):
    """plait's class for Keras's public name (GroupQueryAttention is GroupedQueryAttention)."""
    return getattr(plait.layers, name).__name__


def test_every_plait_layer_is_covered():
    ours = {n for n, c in vars(plait.layers).items() if isinstance(c, type) and issubclass(c, plait.layers.Layer)}
    ours = {n for n in ours if getattr(plait.layers, n).__name__ == n} - NOT_IN_KERAS_FILES
    assert ours - {_plait_class(case[0]) for case in LAYERS} == set()


def _keras_single_layer_model(name, kwargs, shapes, dtype):
    inputs = [keras.Input(shape=s, dtype=dtype) for s in shapes]
    layer = getattr(keras.layers, name)(**_keras_arguments(kwargs))
    if name in ("MultiHeadAttention", "GroupQueryAttention"):
        out = layer(inputs[0], inputs[1])
    elif len(inputs) > 1:
        out = layer(inputs)
    else:
        out = layer(inputs[0])
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], out)


@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`, which is deprecated")
@pytest.mark.parametrize("case", LAYERS, ids=[f"{c[0]}-{i}" for i, c in enumerate(LAYERS)])
def test_keras_layer_config_loads_in_plait(tmp_path, case):
    name, kwargs, shapes = case[:3]
    dtype = case[3] if len(case) > 3 else "float32"
    k_model = _keras_single_layer_model(name, kwargs, shapes, dtype)
    k_layer = k_model.layers[-1]
    if name == "Normalization" and "mean" not in kwargs:
        k_layer.adapt(np.random.default_rng(0).normal(2, 3, (8, *shapes[0])).astype("float32"))
    # Non-trivial weights, so that loading them is checked (variances and counts stay positive).
    rng = np.random.default_rng(3)
    k_layer.set_weights([np.abs(w) + rng.uniform(0.1, 0.5, w.shape).astype(w.dtype) for w in k_layer.get_weights()])
    k_model.save(tmp_path / "layer.keras")
    p_model = plait.models.load_model(tmp_path / "layer.keras")
    p_layer = p_model.layers[-1]
    assert type(p_layer).__name__ == _plait_class(name)
    # Every key Keras wrote is honoured: plait's config gives back Keras's values.
    k_config = k_layer.get_config()
    p_config = p_layer.get_config()
    for key in (
        "kernel_regularizer",
        "depthwise_regularizer",
        "pointwise_regularizer",
        "gamma_regularizer",
        "beta_constraint",
        "gamma_constraint",
        "data_format",
        "rms_scaling",
        "alpha_regularizer",
    ):
        if key in k_config:
            assert (p_config[key] is None) == (k_config[key] is None), key
    if dtype == "int32":
        x = [rng.integers(0, 6, (2, *s)).astype("int32") for s in shapes]
    else:
        x = [rng.uniform(0, 1, (2, *s)).astype("float32") for s in shapes]
    x = x if len(x) > 1 else x[0]
    # (One call each: plait's layer.losses keeps every direct call's activity penalties until fit
    # clears them, where Keras's keeps the last call's.)
    assert_same(outputs(p_model, x), [keras.ops.convert_to_numpy(k_model(x, training=False))], atol=2e-5)
    # Regularization penalties: the same values as Keras's, weight and activity ones.
    k_losses = float(sum(keras.ops.convert_to_numpy(v) for v in k_model.losses)) if k_model.losses else 0.0
    p_losses = float(sum(v.detach() for v in p_model.losses)) if p_model.losses else 0.0
    assert abs(p_losses - k_losses) <= 1e-5 * max(1.0, abs(k_losses)), (p_losses, k_losses)
    # And back: plait writes the layer for Keras.
    p_model.save(tmp_path / "again.keras")
    again = keras.models.load_model(tmp_path / "again.keras")
    assert_same(outputs(again, x), outputs(p_model, x), atol=2e-5)


def test_unsupported_values_are_named(tmp_path):
    k_model = _keras_single_layer_model("BatchNormalization", dict(renorm=True), [(4, 3)], "float32")
    k_model.save(tmp_path / "renorm.keras")
    with pytest.raises(ValueError, match=r"renorm.keras.*BatchNormalization layer '.*'.*renorm=True"):
        plait.models.load_model(tmp_path / "renorm.keras")


def test_keras_ops_both_ways(tmp_path):
    # Keras's applications write `x + 3.0` and the like as op nodes (MobileNetV3's hard sigmoid).
    inputs = keras.Input(shape=(4, 3))
    x = keras.layers.Dense(3)(inputs)
    x = keras.layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)
    k_model = keras.Model(inputs, keras.ops.mean(x, axis=1))
    k_model.save(tmp_path / "ops.keras")
    x = np.random.default_rng(4).normal(size=(2, 4, 3)).astype("float32")
    p_model = plait.models.load_model(tmp_path / "ops.keras")
    assert_same(outputs(p_model, x), outputs(k_model, x))
    p_model.save(tmp_path / "back.keras")
    assert_same(outputs(keras.models.load_model(tmp_path / "back.keras"), x), outputs(k_model, x))


def test_registered_custom_layer_and_refused_code(tmp_path):
    @keras.saving.register_keras_serializable(package="h4test")
    class Doubler(keras.layers.Layer):
        def call(self, x):
            return 2 * x

    @plait.saving.register_serializable(package="h4test")
    class Doubler_(plait.layers.Layer):  # noqa: N801 (the plait twin of Keras's class)
        def call(self, x):
            return 2 * x

    inputs = keras.Input(shape=(3,))
    keras.Model(inputs, Doubler(name="twice")(inputs)).save(tmp_path / "custom.keras")
    with pytest.raises(ValueError, match=r"custom.keras.*class 'Doubler' \('twice'\).*custom_objects"):
        plait.models.load_model(tmp_path / "custom.keras")
    loaded = plait.models.load_model(tmp_path / "custom.keras", custom_objects={"Doubler": Doubler_})
    assert_same(outputs(loaded, np.ones((1, 3), "float32")), [np.full((1, 3), 2.0, "float32")])
    keras.Model(inputs, keras.layers.Lambda(lambda t: t * 3)(inputs)).save(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match=r"lambda.keras.*Lambda layer.*does not run code from files"):
        plait.models.load_model(tmp_path / "lambda.keras")


def test_model_names_with_dots(tmp_path):
    # Keras's MobileNets are named mobilenet_1.00_224; plait's names are module paths.
    inputs = keras.Input(shape=(3,))
    keras.Model(inputs, keras.layers.Dense(2)(inputs), name="net_1.00_3").save(tmp_path / "dots.keras")
    assert plait.models.load_model(tmp_path / "dots.keras").name == "net_1_00_3"


def test_tampered_config_runs_nothing(tmp_path):
    _saved(tmp_path)
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = members["config.json"].decode()
    # A class from another module: looked up among plait's layers only, never imported.
    evil = config.replace(
        '"module": "keras.layers", "class_name": "Dense"', '"module": "os", "class_name": "system"', 1
    )
    broken = config[: len(config) // 2]
    for name, text in (("evil.keras", evil), ("broken.keras", broken)):
        with zipfile.ZipFile(tmp_path / name, "w") as archive:
            for member, data in members.items():
                archive.writestr(member, text if member == "config.json" else data)
    with pytest.raises(ValueError, match=r"evil.keras.*class 'system'"):
        plait.models.load_model(tmp_path / "evil.keras")
    with pytest.raises(ValueError, match=r"broken.keras.*(JSON|json)"):
        plait.models.load_model(tmp_path / "broken.keras")


def test_fine_tuned_model_with_frozen_base(tmp_path):
    base_in = plait.Input(shape=(8, 8, 3))
    b = plait.layers.Conv2D(4, 3, activation="relu")(plait.layers.Rescaling(1 / 255)(base_in))
    base = plait.Model(base_in, plait.layers.BatchNormalization()(b), name="base")
    base.trainable = False
    inputs = plait.Input(shape=(8, 8, 3))
    x = plait.layers.GlobalAveragePooling2D()(base(inputs))
    model = plait.Model(inputs, plait.layers.Dense(3, activation="softmax")(x))
    model.compile("adam", "sparse_categorical_crossentropy")
    xs = np.random.default_rng(5).uniform(0, 255, (8, 8, 8, 3)).astype("float32")
    model.fit(xs, np.arange(8) % 3, epochs=1, verbose=0)
    model.save(tmp_path / "ft.keras")
    expected = outputs(model, xs)
    k_model = keras.models.load_model(tmp_path / "ft.keras")
    assert_same(outputs(k_model, xs), expected)
    assert not k_model.get_layer("base").trainable and len(k_model.trainable_weights) == 2
    loaded = plait.models.load_model(tmp_path / "ft.keras")
    assert_same(outputs(loaded, xs), expected, atol=0)
    assert not loaded.get_layer("base").trainable and len(loaded.trainable_weights) == 2
    loaded.compile("adam", "sparse_categorical_crossentropy")
    frozen = [w.detach().clone() for w in loaded.get_layer("base").weights]
    loaded.fit(xs, np.arange(8) % 3, epochs=1, verbose=0)
    assert all(torch.equal(a, b) for a, b in zip(frozen, loaded.get_layer("base").weights))


def test_sequential_built_by_a_call(tmp_path):
    from plait.saving.weights_file import load_weights, save_weights

    model = plait.Sequential([plait.layers.Dense(3, activation="relu"), plait.layers.Dense(2)])
    x = np.random.default_rng(6).normal(size=(3, 4)).astype("float32")
    model(torch.as_tensor(x))  # built by its first call, with no Input
    model.save(tmp_path / "called.keras")
    expected = outputs(model, x)
    assert_same(outputs(keras.models.load_model(tmp_path / "called.keras"), x), expected)
    assert_same(outputs(plait.models.load_model(tmp_path / "called.keras"), x), expected, atol=0)
    save_weights(model, tmp_path / "called.weights.h5")
    unbuilt = plait.Sequential([plait.layers.Dense(3, activation="relu"), plait.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"called.weights.h5' has weights for layer 'dense_\d+', which is not built"):
        load_weights(unbuilt, tmp_path / "called.weights.h5")


@pytest.mark.parametrize("which, optimizer", [("mlp", "adam"), ("multi", "rmsprop")])
def test_compiled_model_continues_training_in_keras(tmp_path, which, optimizer):
    model, (x, y) = build(plait, which), data(which, n=16)
    losses = (
        ["mse", "binary_crossentropy", "categorical_crossentropy"] if which == "multi" else "categorical_crossentropy"
    )
    model.compile(optimizer, losses, metrics=["accuracy"] if which == "mlp" else None)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    model.save(tmp_path / "compiled.keras")
    k_model = keras.models.load_model(tmp_path / "compiled.keras")
    assert type(k_model.optimizer).__name__.lower() == optimizer
    assert int(keras.ops.convert_to_numpy(k_model.optimizer.iterations)) == 2
    # One more step on each side from the saved state: the same weights (Keras's update rules).
    first = lambda v: [a[:8] for a in v] if isinstance(v, list) else v[:8]
    model.train_on_batch(first(x), first(y))
    k_model.train_on_batch(first(x), first(y))
    for ours, theirs in zip(model.get_weights(), k_model.get_weights()):
        np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(theirs), atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("which, optimizer", [("mlp", "adam"), ("qa", "rmsprop")])
def test_keras_compiled_model_continues_training_in_plait(tmp_path, which, optimizer):
    k_model, (x, y) = build(keras, which), data(which, n=16)
    k_model.compile(optimizer, "categorical_crossentropy", metrics=["accuracy"])
    k_model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    k_model.save(tmp_path / "k.keras")
    model = plait.models.load_model(tmp_path / "k.keras")
    assert model.compiled and model.optimizer.iterations == 2
    first = lambda v: [a[:8] for a in v] if isinstance(v, list) else v[:8]  # noqa: E731
    model.train_on_batch(first(x), first(y))
    k_model.train_on_batch(first(x), first(y))
    for ours, theirs in zip(model.get_weights(), k_model.get_weights()):
        np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(theirs), atol=2e-5, rtol=1e-4)


def test_twin_of_a_keras_class_outside_keras_layers(tmp_path):
    @plait.saving.register_serializable(package="h4twin")
    class LayerScale(plait.layers.Layer):  # ConvNeXt's, as Keras defines it
        keras_module = "keras.src.applications.convnext"

        def __init__(self, init_values, projection_dim, **kwargs):
            super().__init__(**kwargs)
            self.init_values, self.projection_dim = init_values, projection_dim

        def build(self, input_shape):
            self.add_weight("gamma", (self.projection_dim,), plait.initializers.Constant(self.init_values))

        def call(self, x):
            return x * self.gamma

        def get_config(self):
            return {**super().get_config(), "init_values": self.init_values, "projection_dim": self.projection_dim}

    inputs = plait.Input(shape=(4, 3))
    model = plait.Model(inputs, LayerScale(0.5, 3, name="scale")(inputs))
    model.layers[-1].set_weights([np.array([1.0, 2.0, 3.0], "float32")])
    model.save(tmp_path / "twin.keras")
    x = np.ones((2, 4, 3), "float32")
    assert_same(outputs(keras.models.load_model(tmp_path / "twin.keras"), x), outputs(model, x))
    assert_same(outputs(plait.models.load_model(tmp_path / "twin.keras"), x), outputs(model, x))


def test_python_arithmetic_on_symbolic_tensors(tmp_path):
    inputs = plait.Input(shape=(3,))
    x = plait.layers.Dense(3)(inputs)
    y = (x + 3.0) * (1.0 / 6.0) - x / 2
    y = 2.0 - y + (-x) * x
    model = plait.Model(inputs, y)
    model.save(tmp_path / "arith.keras")
    data_in = np.random.default_rng(7).normal(size=(4, 3)).astype("float32")
    assert_same(outputs(keras.models.load_model(tmp_path / "arith.keras"), data_in), outputs(model, data_in))
    assert_same(outputs(plait.models.load_model(tmp_path / "arith.keras"), data_in), outputs(model, data_in))
    other = plait.Model(inputs, torch.tanh(inputs))
    with pytest.raises(ValueError, match=r"torch function .*tanh.*'\.plait'"):
        other.save(tmp_path / "tanh.keras")


def test_compile_with_loss_and_metric_objects_crosses_both_ways(tmp_path):
    """Loss and metric objects in the compile config, as Keras writes them: each library
    reloads the other's file compiled, with the same evaluate results."""
    rng = np.random.default_rng(3)
    x, y = rng.random((16, 3)).astype("float32"), rng.integers(0, 2, (16, 1)).astype("float32")
    results = {}
    for lib in (plait, keras):
        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(1, activation="sigmoid")])
        model.compile(
            optimizer="adam",
            loss=lib.losses.BinaryCrossentropy(label_smoothing=0.1),
            metrics=[lib.metrics.FalseNegatives(name="fn", thresholds=0.3), lib.metrics.AUC(name="auc"), "accuracy"],
        )
        model.fit(x, y, verbose=0)
        model.save(tmp_path / f"{lib.__name__}.keras")
        results[lib] = model.evaluate(x, y, verbose=0, return_dict=True)
    from_keras = plait.models.load_model(tmp_path / "keras.keras")
    from_plait = keras.models.load_model(tmp_path / "plait.keras")
    loss = from_keras.get_compile_config()["loss"]
    assert isinstance(loss, plait.losses.BinaryCrossentropy) and loss.get_config()["label_smoothing"] == 0.1
    for got, expected in ((from_keras, results[keras]), (from_plait, results[plait])):
        values = got.evaluate(x, y, verbose=0, return_dict=True)
        assert sorted(values) == sorted(expected)
        for key in expected:
            assert values[key] == pytest.approx(expected[key], rel=1e-5, abs=1e-6), key
