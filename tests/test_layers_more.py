"""The layers of Keras 3.15 added for issue 22 (3D family, depthwise 1D, adaptive pools, einsum
dense, RMS and spectral normalization, alpha dropout, reversible embedding, group query
attention, the generic RNN and its cells, ConvLSTM, Pipeline, Wrapper, aliases) against Keras 3
itself: same weights (Keras's ``get_weights`` into plait's ``set_weights``), same inputs, outputs
compared; output shapes with unknown dims through a functional model; configs from Keras into
plait and back; ``.keras`` files written by Keras loading in plait."""

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import plait  # noqa: E402
from plait import layers  # noqa: E402

# Keras's own Variable.__array__ predates numpy 2's `copy` keyword; that warning is Keras's.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

if keras.backend.backend() != "torch":
    pytest.skip("Keras was imported with another backend", allow_module_level=True)

# float32 through different kernel orders: outputs agree to this (absolute and relative).
TOL = {"rtol": 1e-5, "atol": 1e-5}


def to_numpy(out):
    if isinstance(out, (list, tuple)):
        return [to_numpy(o) for o in out]
    return out.detach().cpu().numpy() if hasattr(out, "detach") else np.asarray(out)


def assert_close(got, want, **tol):
    got, want = to_numpy(got), to_numpy(want)
    if isinstance(want, list):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, **(tol or TOL))
    else:
        np.testing.assert_allclose(got, want, **(tol or TOL))


def plain(value):
    """A config value with tuples as lists, for comparing Keras's and plait's configs."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def from_keras_config(k_layer):
    """plait's layer rebuilt from Keras's serialized config (dtype policy, nested layers...)."""
    return layers.deserialize(keras.layers.serialize(k_layer))


def rng_input(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def paired(name, kwargs, x, call_kwargs=None):
    """The Keras layer and plait's, built on ``x``, with Keras's weights copied into plait's."""
    call_kwargs = call_kwargs or {}
    k_layer, p_layer = getattr(keras.layers, name)(**kwargs), getattr(layers, name)(**kwargs)
    k_out = k_layer(x, **call_kwargs)
    p_layer(x, **call_kwargs)
    weights = k_layer.get_weights()
    assert [w.shape for w in weights] == [w.shape for w in p_layer.get_weights()]
    p_layer.set_weights(weights)
    return k_layer, p_layer, k_out


def check_layer(name, kwargs, shape, none_axes=(), call_kwargs=None, seed=0):
    """Outputs, symbolic output shape with None dims, config both ways, against Keras."""
    x = rng_input(shape, seed)
    k_layer, p_layer, k_out = paired(name, kwargs, x, call_kwargs)
    assert_close(p_layer(x, **(call_kwargs or {})), k_out)
    # Unknown dims through a functional model: the shape Keras infers for the same Input.
    dims = [None if i + 1 in none_axes else d for i, d in enumerate(shape[1:])]
    k_sym = getattr(keras.layers, name)(**kwargs)(keras.Input(shape=dims), **(call_kwargs or {}))
    p_in = plait.Input(shape=dims)
    model = plait.Model(p_in, getattr(layers, name)(**kwargs)(p_in, **(call_kwargs or {})))
    assert tuple(model.outputs[0].shape) == tuple(k_sym.shape)
    model.set_weights(k_layer.get_weights())
    assert_close(model(torch.as_tensor(x)), k_out)
    # Keras's config into plait: same config keys and values, same outputs.
    rebuilt = from_keras_config(k_layer)
    k_config, p_config = plain(k_layer.get_config()), plain(rebuilt.get_config())
    for key in k_config.keys() - {"dtype", "name", "trainable"}:
        if "initializer" in key or "layer" in key or key == "cell":
            continue
        assert p_config.get(key) == k_config[key], key
    rebuilt(x, **(call_kwargs or {}))
    rebuilt.set_weights(k_layer.get_weights())
    assert_close(rebuilt(x, **(call_kwargs or {})), k_out)
    direct = type(p_layer).from_config(k_layer.get_config())  # Keras's get_config into from_config
    assert plain(direct.get_config()) == {**p_config, "name": direct.name}
    # ...and plait's config into Keras.
    back = type(k_layer).from_config(p_layer.get_config())
    back(x, **(call_kwargs or {}))
    back.set_weights(p_layer.get_weights())
    assert_close(back(x, **(call_kwargs or {})), k_out)
    return k_layer, p_layer


CASES = [
    ("Conv3DTranspose", {"filters": 3, "kernel_size": 2, "strides": 2}, (2, 3, 4, 3, 2), (1, 2)),
    ("Conv3DTranspose", {"filters": 2, "kernel_size": (3, 2, 2), "padding": "same"}, (1, 4, 3, 3, 2), (3,)),
    ("Conv3DTranspose", {"filters": 2, "kernel_size": 3, "data_format": "channels_first"}, (1, 2, 3, 4, 3), ()),
    ("DepthwiseConv1D", {"kernel_size": 3, "depth_multiplier": 2}, (2, 7, 3), (1,)),
    ("DepthwiseConv1D", {"kernel_size": 3, "strides": 2, "padding": "same", "use_bias": False}, (2, 8, 3), (1,)),
    ("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 2, "padding": "same"}, (2, 5, 5, 3), (1, 2)),
    ("UpSampling3D", {"size": (1, 2, 3)}, (2, 2, 3, 2, 4), (1, 2, 3)),
    ("UpSampling3D", {"data_format": "channels_first"}, (1, 2, 3, 2, 2), ()),
    ("UpSampling2D", {"size": 2, "interpolation": "bilinear"}, (1, 3, 4, 2), ()),
    ("ZeroPadding3D", {"padding": ((1, 0), 2, (0, 3))}, (2, 2, 3, 2, 4), (1, 2)),
    ("ZeroPadding3D", {"padding": 1, "data_format": "channels_first"}, (1, 2, 3, 2, 2), ()),
    ("ZeroPadding2D", {"padding": ((1, 2), (0, 1))}, (1, 3, 4, 2), (1,)),
    ("Cropping3D", {"cropping": ((1, 0), 1, (0, 2))}, (2, 4, 5, 6, 2), (1, 3)),
    ("Cropping3D", {"data_format": "channels_first"}, (1, 2, 4, 4, 4), ()),
    ("Cropping2D", {"cropping": ((1, 0), (2, 1))}, (1, 4, 5, 2), ()),
    ("GlobalAveragePooling3D", {}, (2, 3, 4, 2, 5), (1, 2, 3)),
    ("GlobalMaxPooling3D", {"keepdims": True}, (2, 3, 4, 2, 5), (1,)),
    ("GlobalMaxPooling3D", {"data_format": "channels_first"}, (2, 3, 4, 2, 5), ()),
    ("AdaptiveAveragePooling1D", {"output_size": 3}, (2, 10, 4), (1,)),
    ("AdaptiveMaxPooling1D", {"output_size": 4, "data_format": "channels_first"}, (2, 3, 11), (2,)),
    ("AdaptiveAveragePooling2D", {"output_size": (2, 3)}, (2, 7, 8, 3), (1, 2)),
    ("AdaptiveMaxPooling2D", {"output_size": 3}, (2, 7, 5, 3), ()),
    ("AdaptiveAveragePooling3D", {"output_size": (2, 1, 3)}, (1, 5, 4, 7, 2), (1,)),
    ("AdaptiveMaxPooling3D", {"output_size": 2, "data_format": "channels_first"}, (1, 2, 5, 4, 7), ()),
    ("RMSNormalization", {}, (2, 3, 6), (1,)),
    ("RMSNormalization", {"axis": [-2, -1], "epsilon": 1e-3}, (2, 3, 6), ()),
    ("EinsumDense", {"equation": "ab,bc->ac", "output_shape": 4, "bias_axes": "c"}, (3, 5), ()),
    ("EinsumDense", {"equation": "abc,cde->abde", "output_shape": (None, 2, 3), "bias_axes": "de"}, (2, 4, 5), (1,)),
    ("EinsumDense", {"equation": "...b,bc->...c", "output_shape": 3, "activation": "relu"}, (2, 3, 4, 5), (1, 2)),
    ("EinsumDense", {"equation": "abc,cd->abd", "output_shape": (4, 3), "bias_axes": "b"}, (2, 4, 5), ()),
    ("EinsumDense", {"equation": "ab...,bc->ac...", "output_shape": 3, "bias_axes": "c"}, (2, 5, 4), (2,)),
    ("ReversibleEmbedding", {"input_dim": 20, "output_dim": 6, "tie_weights": False}, None, ()),
]


@pytest.mark.parametrize("name,kwargs,shape,none_axes", CASES)
def test_layer_matches_keras(name, kwargs, shape, none_axes):
    if shape is None:  # integer inputs
        x = np.random.default_rng(0).integers(0, 20, (2, 5)).astype("int32")
        k_layer, p_layer, k_out = paired(name, kwargs, x)
        assert_close(p_layer(torch.as_tensor(x)), k_out)
        return
    check_layer(name, kwargs, shape, none_axes)


def test_reversible_embedding_both_directions_match_keras():
    ids = np.random.default_rng(1).integers(0, 30, (2, 6)).astype("int32")
    for kwargs in ({"tie_weights": True}, {"tie_weights": False, "logit_soft_cap": 2.0}):
        k_layer, p_layer, k_out = paired("ReversibleEmbedding", {"input_dim": 30, "output_dim": 4, **kwargs}, ids)
        assert_close(p_layer(torch.as_tensor(ids)), k_out)
        h = rng_input((2, 6, 4))
        assert_close(p_layer(torch.as_tensor(h), reverse=True), k_layer(h, reverse=True))
        inputs = plait.Input(shape=(None, 4))
        assert tuple(p_layer(inputs, reverse=True).shape) == (None, None, 30)
        rebuilt = from_keras_config(k_layer)
        assert rebuilt.tie_weights == kwargs["tie_weights"] and rebuilt.logit_soft_cap == kwargs.get("logit_soft_cap")


def test_einsum_dense_initializer_fans_and_errors():
    # Keras counts the fans over the kernel's input axes (5) and output axes (2*3): the glorot
    # limit is sqrt(6 / (5 + 6)), not the conv-style fans of a (5, 2, 3) kernel.
    layer = layers.EinsumDense("abc,cde->abde", (None, 2, 3), kernel_initializer=plait.initializers.GlorotUniform(0))
    layer(torch.zeros(1, 2, 5))
    limit = (6 / 11) ** 0.5
    largest = float(layer.kernel.detach().abs().max())
    assert 0.5 * limit < largest <= limit
    with pytest.raises(ValueError, match="invalid einsum equation"):
        layers.EinsumDense("ab->b", 3)(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="bias axes"):
        layers.EinsumDense("ab,bc->ac", 3, bias_axes="x")(torch.zeros(2, 3))
    lora = layers.EinsumDense("ab,bc->ac", 3, lora_rank=2)  # LoRA: see tests/test_lora.py
    lora(torch.zeros(2, 3))
    assert lora.lora_enabled and [w.name for w in lora.trainable_weights] == ["lora_kernel_a", "lora_kernel_b"]


def test_aliases_are_keras_names_for_the_same_classes():
    pairs = {
        "MaxPool3D": "MaxPooling3D",
        "AvgPool3D": "AveragePooling3D",
        "GlobalAvgPool3D": "GlobalAveragePooling3D",
        "GlobalMaxPool2D": "GlobalMaxPooling2D",
        "GlobalMaxPool3D": "GlobalMaxPooling3D",
        "Convolution3D": "Conv3D",
        "Convolution1DTranspose": "Conv1DTranspose",
        "Convolution2DTranspose": "Conv2DTranspose",
        "Convolution3DTranspose": "Conv3DTranspose",
        "SeparableConvolution1D": "SeparableConv1D",
        "SeparableConvolution2D": "SeparableConv2D",
    }
    for alias, name in pairs.items():
        assert getattr(keras.layers, alias) is getattr(keras.layers, name)
        assert getattr(layers, alias) is getattr(layers, name)


def test_spatial_dropout_3d_and_alpha_dropout_training():
    torch.manual_seed(0)
    x = torch.ones(4, 3, 3, 3, 8)
    y = layers.SpatialDropout3D(0.5)(x, training=True)
    # Whole channels of each sample dropped or kept (scaled by 1/(1-rate)), as Keras's.
    per_channel = y.reshape(4, 27, 8)
    assert torch.equal(per_channel.amin(1), per_channel.amax(1))
    assert set(per_channel.unique().tolist()) == {0.0, 2.0}
    y = layers.SpatialDropout3D(0.5, data_format="channels_first")(x, training=True)
    assert torch.equal(y.reshape(4, 3, -1).amin(-1), y.reshape(4, 3, -1).amax(-1))
    assert torch.equal(layers.SpatialDropout3D(0.5)(x), x)  # inference: identity
    # AlphaDropout: the two values Keras's formula gives (kept: a*x + b; dropped: a*alpha_p + b).
    xs = np.full((64, 32), 1.5, "float32")
    k_values = np.unique(to_numpy(keras.layers.AlphaDropout(0.3, seed=1)(xs, training=True)))
    for kwargs in ({}, {"noise_shape": (None, 1)}):
        got = to_numpy(layers.AlphaDropout(0.3, **kwargs)(torch.as_tensor(xs), training=True))
        np.testing.assert_allclose(np.unique(got), k_values, rtol=1e-6)
    column = to_numpy(layers.AlphaDropout(0.3, noise_shape=(None, 1))(torch.as_tensor(xs), training=True))
    assert (column == column[:, :1]).all()  # one draw per row
    # SELU-distributed inputs keep mean 0 and variance 1 in training (what the layer is for).
    selu = torch.nn.functional.selu(torch.randn(200_000))
    out = layers.AlphaDropout(0.2)(selu, training=True)
    assert abs(float(out.mean()) - float(selu.mean())) < 0.02 and abs(float(out.std()) - float(selu.std())) < 0.02
    assert torch.equal(layers.AlphaDropout(0.2)(selu[:10]), selu[:10])
    rebuilt = from_keras_config(keras.layers.AlphaDropout(0.3, noise_shape=(None, 1)))
    assert rebuilt.rate == 0.3 and rebuilt.noise_shape == (None, 1)


@pytest.mark.parametrize(
    "wrapped",
    [
        lambda lib: lib.layers.Dense(4),
        lambda lib: lib.layers.Conv2D(3, 2),
        lambda lib: lib.layers.Embedding(10, 3),
    ],
)
def test_spectral_normalization_matches_keras_in_training_and_inference(wrapped):
    embedding = isinstance(wrapped(keras), keras.layers.Embedding)
    x = np.random.default_rng(0).integers(0, 10, (2, 3)) if embedding else rng_input((2, 5))
    if isinstance(wrapped(keras), keras.layers.Conv2D):
        x = rng_input((2, 4, 4, 3))
    k_layer = keras.layers.SpectralNormalization(wrapped(keras), power_iterations=2)
    p_layer = layers.SpectralNormalization(wrapped(plait), power_iterations=2)
    k_layer(x)
    p_layer(torch.as_tensor(x))
    weights = k_layer.get_weights()
    assert [w.shape for w in weights] == [w.shape for w in p_layer.get_weights()]
    p_layer.set_weights(weights)
    # Keras casts the output to the inputs' dtype (integer ids give integer zeros); the wrapped
    # layer's own output is the reference for an Embedding.
    reference = k_layer.layer if embedding else k_layer
    assert_close(p_layer(torch.as_tensor(x)), reference(x))
    for _ in range(3):  # training calls update u and the kernel in place, as Keras's do
        k_out = k_layer(x, training=True)
        assert_close(p_layer(torch.as_tensor(x), training=True), reference(x) if embedding else k_out)
    assert_close(p_layer.get_weights(), k_layer.get_weights())
    kernel = p_layer.layer.get_weights()[0]
    assert abs(np.linalg.norm(kernel.reshape(-1, kernel.shape[-1]), 2) - 1.0) < 0.05  # power iteration converging
    if isinstance(k_layer.layer, keras.layers.Conv2D):  # Keras's Dense/Embedding configs add quantization keys
        rebuilt = from_keras_config(k_layer)
        assert rebuilt.power_iterations == 2 and isinstance(rebuilt.layer, layers.Conv2D)


def test_spectral_normalization_needs_a_kernel():
    with pytest.raises(ValueError, match="no 'kernel' nor 'embeddings'"):
        layers.SpectralNormalization(layers.Dropout(0.1))(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="power_iterations"):
        layers.SpectralNormalization(layers.Dense(2), power_iterations=0)
    with pytest.raises(ValueError, match="expects a plait layer"):
        layers.SpectralNormalization(torch.nn.Linear(2, 2))


def test_wrapper_is_the_base_of_wrappers():
    assert issubclass(layers.TimeDistributed, layers.Wrapper)
    assert issubclass(layers.SpectralNormalization, layers.Wrapper)

    class Twice(layers.Wrapper):
        def call(self, x):
            return self.layer(self.layer(x))

    layer = Twice(layers.Dense(3, use_bias=False))
    x = torch.randn(2, 3)
    layer(x)
    assert torch.allclose(layer(x), x @ layer.layer.kernel.T @ layer.layer.kernel.T, atol=1e-6)
    assert layer.get_config()["layer"]["class_name"] == "Dense"


def test_new_layers_bad_input_errors():
    with pytest.raises(ValueError, match="output_size"):
        layers.AdaptiveAveragePooling2D((2, 3, 4))
    with pytest.raises(ValueError, match="padding"):
        layers.ZeroPadding3D(((1, 1), (1, 1)))
    with pytest.raises(ValueError, match="cropping"):
        layers.Cropping3D((1, -1, 0))
    with pytest.raises(ValueError, match="padding"):
        layers.DepthwiseConv1D(3, padding="causal")
    with pytest.raises(ValueError, match="axis 2 is out of bounds"):
        layers.RMSNormalization(axis=2)(torch.zeros(2, 3))


def keras_file_models(lib):
    """A functional model using several of the new layers (lib: keras or plait)."""
    L = lib.layers
    volume = lib.Input(shape=(4, 4, 4, 2))
    v = L.ZeroPadding3D(1)(volume)
    v = L.Conv3DTranspose(3, 2, strides=2)(v)
    v = L.Cropping3D(((1, 1), (2, 2), (1, 1)))(v)
    v = L.UpSampling3D((1, 1, 2))(v)
    # (No SpatialDropout3D: Keras 3.15 cannot rebuild it from its own config, `trainable` refused.)
    v = L.GlobalMaxPooling3D()(L.AdaptiveAveragePooling3D(3)(v))
    seq = lib.Input(shape=(7, 5))
    s = L.DepthwiseConv1D(3, depth_multiplier=2)(seq)
    s = L.AdaptiveMaxPooling1D(2)(s)
    s = L.EinsumDense("abc,cd->abd", (2, 4), bias_axes="d", activation="tanh")(s)
    s = L.RMSNormalization()(L.AlphaDropout(0.1)(s))
    s = L.GlobalAveragePooling1D()(s)
    # (SpectralNormalization is left out: Keras's file lists its kernel twice, under the wrapper
    # and under the wrapped layer, which plait's .keras reader does not read yet.)
    out = L.Conv1D(3, 1)(L.Reshape((1, 7))(L.Concatenate()([v, s])))
    return lib.Model([volume, seq], out)


def test_keras_files_with_new_layers_load_both_ways(tmp_path):
    x = [rng_input((2, 4, 4, 4, 2)), rng_input((2, 7, 5), seed=1)]
    k_model = keras_file_models(keras)
    k_model.save(tmp_path / "k.keras")
    expected = to_numpy(k_model.predict(x, verbose=0))
    loaded = plait.models.load_model(tmp_path / "k.keras")
    assert_close(loaded.predict(x), expected)
    # plait writes Keras's format: Keras loads it and predicts the same.
    p_model = keras_file_models(plait)
    p_model.set_weights(k_model.get_weights())
    p_model.save(tmp_path / "p.keras")
    assert_close(keras.models.load_model(tmp_path / "p.keras").predict(x, verbose=0), expected)


# ---------------------------------------------------------------- the generic RNN and its cells
def rnn_pair(make, x, **kwargs):
    """``RNN(make(lib))`` in Keras and plait, built on ``x``, Keras's weights in plait's."""
    k_layer, p_layer = keras.layers.RNN(make(keras), **kwargs), layers.RNN(make(plait), **kwargs)
    k_layer(x)
    p_layer(torch.as_tensor(x))
    weights = k_layer.get_weights()
    assert [w.shape for w in weights] == [w.shape for w in p_layer.get_weights()]
    p_layer.set_weights(weights)
    return k_layer, p_layer


CELLS = {
    "lstm": lambda lib: lib.layers.LSTMCell(5),
    "lstm_hard_sigmoid": lambda lib: lib.layers.LSTMCell(4, recurrent_activation="hard_sigmoid", use_bias=False),
    "gru": lambda lib: lib.layers.GRUCell(5),
    "gru_reset_before": lambda lib: lib.layers.GRUCell(3, reset_after=False, activation="relu"),
    "simple": lambda lib: lib.layers.SimpleRNNCell(4, activation="relu"),
    "simple_sigmoid": lambda lib: lib.layers.SimpleRNNCell(4, activation="sigmoid"),
    "stacked": lambda lib: [lib.layers.GRUCell(3), lib.layers.LSTMCell(4), lib.layers.SimpleRNNCell(2)],
}


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"return_sequences": True, "return_state": True}, {"go_backwards": True, "return_sequences": True}],
)
def test_rnn_cells_match_keras(cell, kwargs):
    x = rng_input((3, 6, 4))
    k_layer, p_layer = rnn_pair(CELLS[cell], x, **kwargs)
    k_out, p_out = k_layer(x), p_layer(torch.as_tensor(x))
    if kwargs.get("return_state"):  # Keras nests a stacked cell's states; plait flattens them
        k_out = [k_out[0], *[t for s in k_out[1:] for t in (s if isinstance(s, list) else [s])]]
    assert_close(p_out, k_out)
    # A masked batch: masked steps keep the states, as Keras's.
    mask = np.ones((3, 6), bool)
    mask[0, 4:], mask[1, :2] = False, False
    assert_close(_flat(p_layer(torch.as_tensor(x), mask=torch.as_tensor(mask))), _flat(k_layer(x, mask=mask)))
    # Symbolic: unknown steps, the shapes Keras gives.
    k_sym = keras.layers.RNN(CELLS[cell](keras), **kwargs)(keras.Input((None, 4)))
    p_sym = layers.RNN(CELLS[cell](plait), **kwargs)(plait.Input((None, 4)))
    assert [tuple(t.shape) for t in _flat(p_sym)] == [tuple(t.shape) for t in _flat(k_sym)]


def _flat(out):
    if not isinstance(out, (list, tuple)):
        return [out]
    return [t for o in out for t in (_flat(o) if isinstance(o, (list, tuple)) else [o])]


@pytest.mark.parametrize("name", ["LSTM", "GRU", "SimpleRNN"])
def test_rnn_over_a_builtin_cell_is_the_layer(name):
    """``RNN(LSTMCell(n))`` holds ``LSTM(n)``'s weights and gives its numbers, fused or looped."""
    x = torch.randn(2, 7, 3)
    layer = getattr(layers, name)(4, return_sequences=True)
    rnn = layers.RNN(getattr(layers, f"{name}Cell")(4), return_sequences=True)
    layer(x), rnn(x)
    rnn.set_weights(layer.get_weights())
    torch.testing.assert_close(rnn(x), layer(x), rtol=1e-5, atol=1e-6)
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[1, 5:] = False
    torch.testing.assert_close(rnn(x, mask=mask), layer(x, mask=mask), rtol=1e-5, atol=1e-6)


def user_cell_class(lib):
    """A user's cell as Keras's guide writes one: two states of different sizes, its own
    output size and initial state."""

    class PeepCell(lib.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = [units, 2 * units]
            self.output_size = 3 * units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], 2 * self.units), name="kernel")
            self.recurrent = self.add_weight(shape=(2 * self.units, 2 * self.units), name="recurrent")

        def get_initial_state(self, batch_size=None):
            return [lib.ops.ones((batch_size, self.units)), lib.ops.zeros((batch_size, 2 * self.units))]

        def call(self, inputs, states):
            h, memory = states
            memory = lib.ops.tanh(lib.ops.matmul(inputs, self.kernel) + lib.ops.matmul(memory, self.recurrent))
            h = h * 0.5 + memory[:, : self.units]
            return lib.ops.concatenate([h, memory], axis=-1), [h, memory]

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    return PeepCell


def test_user_cell_in_rnn_matches_keras():
    x = rng_input((2, 5, 3))
    k_cls, p_cls = user_cell_class(keras), user_cell_class(plait)
    for kwargs in ({}, {"return_sequences": True, "return_state": True, "go_backwards": True}):
        k_layer, p_layer = keras.layers.RNN(k_cls(4), **kwargs), layers.RNN(p_cls(4), **kwargs)
        k_out = k_layer(x)
        p_layer(torch.as_tensor(x))
        p_layer.set_weights(k_layer.get_weights())
        assert_close(p_layer(torch.as_tensor(x)), k_out)
        k_sym = keras.layers.RNN(k_cls(4), **kwargs)(keras.Input((None, 3)))
        p_in = plait.Input((None, 3))
        model = plait.Model(p_in, layers.RNN(p_cls(4), **kwargs)(p_in))
        assert [tuple(t.shape) for t in _flat(model.outputs)] == [tuple(t.shape) for t in _flat(k_sym)]
        model.set_weights(k_layer.get_weights())
        assert_close(_flat(model(torch.as_tensor(x))), _flat(k_out))
    # A given initial state replaces the cell's.
    init = [rng_input((2, 4), 5), rng_input((2, 8), 6)]
    assert_close(
        p_layer(torch.as_tensor(x), initial_state=[torch.as_tensor(s) for s in init]), k_layer(x, initial_state=init)
    )


def test_rnn_stateful_states_and_reset_match_keras():
    x = rng_input((2, 8, 3))
    k_layer, p_layer = rnn_pair(lambda lib: lib.layers.LSTMCell(4), x[:, :1], stateful=True, return_sequences=True)
    k_layer.reset_states()
    p_layer.reset_states()
    for part in (x[:, :3], x[:, 3:]):  # each call starts where the last one ended
        assert_close(p_layer(torch.as_tensor(part)), k_layer(part))
    assert_close(p_layer.states, [s.value for s in k_layer.states])
    p_layer.reset_states()
    k_layer.reset_states()
    assert_close(p_layer.states, [np.zeros((2, 4), "float32")] * 2)
    assert_close(p_layer(torch.as_tensor(x[:, :3])), k_layer(x[:, :3]))
    with pytest.raises(ValueError, match="carries states for batch size 2"):
        p_layer(torch.as_tensor(x[:1]))
    # The layers share the same machinery: LSTM's states too.
    lstm = layers.LSTM(4, stateful=True)
    lstm(torch.as_tensor(x))
    assert [tuple(s.shape) for s in lstm.states] == [(2, 4), (2, 4)]
    lstm.reset_states()
    assert all(float(s.abs().sum()) == 0 for s in lstm.states)


def test_rnn_config_and_keras_file(tmp_path):
    k_layer = keras.layers.RNN(
        [keras.layers.LSTMCell(3, dropout=0.1), keras.layers.GRUCell(2, reset_after=False)],
        return_sequences=True,
        go_backwards=True,
    )
    x = rng_input((2, 5, 4))
    k_out = k_layer(x)
    rebuilt = from_keras_config(k_layer)
    assert isinstance(rebuilt.cell, layers.StackedRNNCells) and rebuilt.go_backwards and rebuilt.return_sequences
    assert [type(c).__name__ for c in rebuilt.cell.cells] == ["LSTMCell", "GRUCell"]
    assert rebuilt.cell.cells[0].dropout == 0.1 and rebuilt.cell.cells[1].reset_after is False
    rebuilt(x)
    rebuilt.set_weights(k_layer.get_weights())
    assert_close(rebuilt(x), k_out)
    cell_config = plain(keras.layers.LSTMCell(3).get_config())
    p_cell_config = plain(layers.LSTMCell(3).get_config())
    skip = {"name", "dtype", "kernel_initializer", "recurrent_initializer", "bias_initializer"}
    assert {k: v for k, v in p_cell_config.items() if k not in skip} == {
        k: v for k, v in cell_config.items() if k not in skip
    }
    # A Keras model holding RNN(cell) and a Bidirectional RNN loads in plait. (plait's .keras
    # writer does not write a nested `cell` in Keras's form yet, so Keras cannot read it back.)
    inputs = keras.Input((None, 4))
    seq = keras.layers.RNN(keras.layers.GRUCell(3), return_sequences=True)(inputs)
    seq = keras.layers.Bidirectional(keras.layers.RNN(keras.layers.LSTMCell(2), return_sequences=True))(seq)
    # (Not a stacked cell: Keras names its cells' weight groups by class, which HDF5 lists
    # alphabetically; plait's .keras reader does not map them back to the cells' order yet.)
    out = keras.layers.RNN(keras.layers.LSTMCell(3))(seq)
    k_model = keras.Model(inputs, out)
    k_model.save(tmp_path / "rnn.keras")
    loaded = plait.models.load_model(tmp_path / "rnn.keras")
    expected = to_numpy(k_model.predict(x, verbose=0))
    assert_close(loaded.predict(x), expected)


def test_rnn_cell_dropout_masks_are_per_sequence():
    torch.manual_seed(0)
    cell = layers.SimpleRNNCell(6, dropout=0.5, recurrent_dropout=0.5)
    rnn = layers.RNN(cell, return_sequences=True)
    x = torch.ones(2, 4, 3)
    rnn(x)
    assert torch.equal(rnn(x), rnn(x))  # inference: no dropout
    seen = []
    original = cell.get_dropout_mask

    def spy(step_input):
        mask = original(step_input)
        seen.append(mask)
        return mask

    cell.get_dropout_mask = spy
    rnn(x, training=True)
    assert len(seen) == 4 and all(m is seen[0] for m in seen)  # one mask for all the steps
    assert cell._dropout_mask is None  # and a new one for the next sequence


def test_rnn_bad_cells():
    with pytest.raises(ValueError, match="state_size"):
        layers.RNN(layers.Dense(3))
    with pytest.raises(ValueError, match="call"):
        layers.RNN(object())


# ---------------------------------------------------------------- ConvLSTM
CONV_LSTM_CASES = [
    ("ConvLSTM1D", {"filters": 3, "kernel_size": 3, "padding": "same", "return_sequences": True}, (2, 4, 6, 2), (1,)),
    (
        "ConvLSTM1D",
        {"filters": 2, "kernel_size": 2, "strides": 2, "recurrent_activation": "hard_sigmoid"},
        (2, 3, 7, 3),
        (),
    ),
    (
        "ConvLSTM2D",
        {"filters": 3, "kernel_size": 3, "padding": "same", "return_sequences": True},
        (2, 4, 5, 5, 2),
        (1,),
    ),
    ("ConvLSTM2D", {"filters": 2, "kernel_size": (3, 2), "dilation_rate": 2, "use_bias": False}, (2, 3, 7, 6, 2), ()),
    (
        "ConvLSTM2D",
        {"filters": 2, "kernel_size": 2, "data_format": "channels_first", "go_backwards": True},
        (1, 3, 2, 4, 4),
        (1,),
    ),
    (
        "ConvLSTM3D",
        {"filters": 2, "kernel_size": 2, "padding": "same", "unit_forget_bias": False},
        (1, 3, 3, 4, 4, 2),
        (1,),
    ),
]


@pytest.mark.parametrize("name,kwargs,shape,none_axes", CONV_LSTM_CASES)
def test_conv_lstm_matches_keras(name, kwargs, shape, none_axes):
    check_layer(name, kwargs, shape, none_axes)


def test_conv_lstm_states_masks_and_keras_file(tmp_path):
    x = rng_input((2, 5, 6, 6, 2))
    kwargs = {"filters": 3, "kernel_size": 3, "return_sequences": True, "return_state": True}
    k_layer, p_layer, k_out = paired("ConvLSTM2D", kwargs, x)
    assert_close(p_layer(torch.as_tensor(x)), k_out)
    mask = np.ones((2, 5), bool)
    mask[0, 3:] = False
    assert_close(p_layer(torch.as_tensor(x), mask=torch.as_tensor(mask)), k_layer(x, mask=mask))
    init = [rng_input((2, 4, 4, 3), 7), rng_input((2, 4, 4, 3), 8)]
    assert_close(
        p_layer(torch.as_tensor(x), initial_state=[torch.as_tensor(s) for s in init]), k_layer(x, initial_state=init)
    )
    inputs = keras.Input((None, 6, 6, 2))
    k_model = keras.Model(inputs, keras.layers.ConvLSTM2D(2, 3, padding="same")(inputs))
    k_model.save(tmp_path / "conv_lstm.keras")
    expected = to_numpy(k_model.predict(x, verbose=0))
    loaded = plait.models.load_model(tmp_path / "conv_lstm.keras")
    # (Written back by plait, Keras would look for the weights under the layer's `cell` group,
    # which plait's .keras writer makes for LSTM/GRU/SimpleRNN only so far.)
    assert_close(loaded.predict(x), expected)
    with pytest.raises(ValueError, match="known spatial dims"):
        layers.ConvLSTM2D(2, 3)(plait.Input((None, None, 6, 2)))


# ---------------------------------------------------------------- grouped-query attention
GQA_CASES = [
    ({"head_dim": 4, "num_query_heads": 4, "num_key_value_heads": 2}, {}),
    (
        {"head_dim": 3, "num_query_heads": 6, "num_key_value_heads": 3, "use_gate": True, "use_bias": False},
        {
            "use_causal_mask": True,
            "return_attention_scores": True,
        },
    ),
    ({"head_dim": 2, "num_query_heads": 2, "num_key_value_heads": 1, "sliding_window": 2}, {"use_causal_mask": True}),
    ({"head_dim": 4, "num_query_heads": 4, "num_key_value_heads": 4}, {"return_attention_scores": True}),
]


@pytest.mark.parametrize("kwargs,call", GQA_CASES)
def test_group_query_attention_matches_keras(kwargs, call):
    q, v = rng_input((2, 5, 8)), rng_input((2, 6, 8), 1)
    k_layer, p_layer = keras.layers.GroupQueryAttention(**kwargs), layers.GroupQueryAttention(**kwargs)
    k_out = k_layer(q, v, **call)
    p_layer(q, v, **call)
    assert [w.shape for w in k_layer.get_weights()] == [w.shape for w in p_layer.get_weights()]
    p_layer.set_weights(k_layer.get_weights())
    assert_close(p_layer(torch.as_tensor(q), torch.as_tensor(v), **call), k_out)
    # Masks given by keyword (query steps, value steps), and the key distinct from the value.
    attention_mask = np.ones((2, 5, 6), bool)
    attention_mask[1, :, 4:], attention_mask[0, 2, 0], attention_mask[0, 4, 3] = False, False, False
    masks = {"attention_mask": attention_mask, "key": rng_input((2, 6, 8), 2)}
    # (No fully masked query row: that is MultiHeadAttention's rule in plait, and Keras's
    # GroupQueryAttention zeroes such a row on one code path and averages it on the other.)
    assert_close(
        p_layer(torch.as_tensor(q), torch.as_tensor(v), **{k: torch.as_tensor(m) for k, m in masks.items()}, **call),
        k_layer(q, v, **masks, **call),
    )
    # Unknown steps through a functional model.
    p_q, p_v = plait.Input((None, 8)), plait.Input((None, 8))
    k_sym = keras.layers.GroupQueryAttention(**kwargs)(keras.Input((None, 8)), keras.Input((None, 8)), **call)
    model = plait.Model([p_q, p_v], layers.GroupQueryAttention(**kwargs)(p_q, p_v, **call))
    assert [tuple(t.shape) for t in _flat(model.outputs)] == [tuple(t.shape) for t in _flat(k_sym)]
    model.set_weights(k_layer.get_weights())
    assert_close(_flat(model([torch.as_tensor(q), torch.as_tensor(v)])), _flat(k_out))
    # Keras's config into plait; plait's config into Keras.
    rebuilt = from_keras_config(k_layer)
    assert plain({k: v for k, v in rebuilt.get_config().items() if "initializer" not in k and k != "dtype"}) == plain(
        {
            k: v
            for k, v in k_layer.get_config().items()
            if "initializer" not in k and k not in ("dtype", "activity_regularizer")
        }
    )
    back = keras.layers.GroupQueryAttention.from_config(p_layer.get_config())
    back(q, v)
    back.set_weights(p_layer.get_weights())
    assert_close(back(q, v, **call), k_out)


def test_group_query_attention_errors_and_class_name():
    # Keras's class is GroupedQueryAttention (what files name), exported as GroupQueryAttention.
    assert keras.layers.GroupQueryAttention.__name__ == layers.GroupQueryAttention.__name__
    assert layers.GroupedQueryAttention is layers.GroupQueryAttention
    with pytest.raises(ValueError, match="divisible by `num_key_value_heads`"):
        layers.GroupQueryAttention(4, 6, 4)


# ---------------------------------------------------------------- Pipeline and the refused layers
def test_pipeline_matches_keras_and_follows_the_model_mode():
    x = np.random.default_rng(0).uniform(0, 255, (2, 6, 6, 3)).astype("float32")

    def make(lib):
        return lib.layers.Pipeline(
            [lib.layers.Rescaling(1 / 255.0, offset=-0.5), lib.layers.CenterCrop(4, 4), lib.layers.ZeroPadding2D(1)]
        )

    k_pipe, p_pipe = make(keras), make(plait)
    assert_close(p_pipe(torch.as_tensor(x)), k_pipe(x))
    assert [type(layer).__name__ for layer in p_pipe.layers] == ["Rescaling", "CenterCrop", "ZeroPadding2D"]
    rebuilt = from_keras_config(k_pipe)
    assert_close(rebuilt(torch.as_tensor(x)), k_pipe(x))
    assert plain(p_pipe.get_config())["layers"][1]["config"]["height"] == 4
    # Called alone it augments (Keras's training=True default); in predict it does not.
    flip = layers.Pipeline([layers.RandomFlip("horizontal")])
    torch.manual_seed(0)
    images = torch.arange(2 * 3 * 4 * 1, dtype=torch.float32).reshape(2, 3, 4, 1).repeat(8, 1, 1, 1)
    assert not torch.equal(flip(images), images)
    assert torch.equal(flip(images, training=False), images)
    inputs = plait.Input((3, 4, 1))
    model = plait.Model(inputs, flip(inputs))
    np.testing.assert_array_equal(model.predict(images.numpy()), images.numpy())
    with pytest.raises(TypeError, match="list of layers"):
        layers.Pipeline(layers.Rescaling(2.0))


@pytest.mark.parametrize(
    "name,instead", [("JaxLayer", "TorchModuleWrapper"), ("FlaxLayer", "torch.nn.Module"), ("TFSMLayer", "load_model")]
)
def test_foreign_framework_layers_refuse_with_what_to_use(name, instead):
    with pytest.raises(NotImplementedError, match=instead):
        getattr(layers, name)("model_path_or_fn")


def test_every_keras_layer_name_but_the_ones_left_to_others_exists():
    """Keras 3's ``keras.layers`` names in ``plait.layers``: all of them except the image
    augmentation, spectrogram and string families (another task's)."""
    others = {
        "AugMix", "AutoContrast", "ContrastLimitedAdaptiveHistogramEqualization", "CutMix", "Equalization",
        "HashedCrossing", "MaxNumBoundingBoxes", "MelSpectrogram", "MixUp", "RandAugment", "RandomBrightness",
        "RandomColorDegeneration", "RandomColorJitter", "RandomElasticTransform", "RandomErasing",
        "RandomGaussianBlur", "RandomGrayscale", "RandomHue", "RandomInvert", "RandomPerspective",
        "RandomPosterization", "RandomSaturation", "RandomSharpness", "RandomShear", "STFTSpectrogram",
        "Solarization",
    }  # fmt: skip
    names = [n for n in dir(keras.layers) if not n.startswith("_")]
    missing = sorted(n for n in names if not hasattr(layers, n) and n not in others)
    assert missing == []


def test_new_layers_trace_with_torch_export():
    """A model of the new layers exports with torch.export and gives the eager numbers."""
    inputs = plait.Input((6, 8))
    x = layers.EinsumDense("abc,cd->abd", (6, 8), bias_axes="d")(inputs)
    x = layers.RMSNormalization()(x)
    x = layers.GroupQueryAttention(4, 4, 2)(x, x, use_causal_mask=True)
    x = layers.RNN(layers.GRUCell(5), return_sequences=True)(x)
    x = layers.AdaptiveAveragePooling1D(3)(x)
    x = layers.SpectralNormalization(layers.Dense(2))(layers.Flatten()(x))
    model = plait.Model(inputs, x)
    data = torch.randn(2, 6, 8)
    exported = torch.export.export(model, (data,))
    torch.testing.assert_close(exported.module()(data), model(data), rtol=1e-5, atol=1e-6)
