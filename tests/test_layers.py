"""Each layer of the core issue against an independent torch/numpy computation."""

import numpy as np
import pytest
import torch

import plait
from plait import layers


def keras_weights(layer):
    return [torch.from_numpy(w) for w in layer.get_weights()]


@pytest.mark.parametrize(
    "activation",
    [
        "relu",
        "sigmoid",
        "softmax",
        "tanh",
        "linear",
        "elu",
        "selu",
        "softplus",
        "softsign",
        "gelu",
        "silu",
        "swish",
        "leaky_relu",
    ],
)
def test_dense_matches_matmul(activation):
    layer = layers.Dense(7, activation=activation)
    x = torch.randn(4, 5)
    y = layer(x)
    kernel, bias = keras_weights(layer)
    assert kernel.shape == (5, 7) and bias.shape == (7,)
    reference = {
        "relu": torch.relu,
        "sigmoid": torch.sigmoid,
        "softmax": lambda z: torch.exp(z) / torch.exp(z).sum(-1, keepdim=True),
        "tanh": torch.tanh,
        "linear": lambda z: z,
        "elu": lambda z: torch.where(z > 0, z, torch.exp(z) - 1),
        "selu": lambda z: 1.0507009873554805 * torch.where(z > 0, z, 1.6732632423543772 * (torch.exp(z) - 1)),
        "softplus": lambda z: torch.log1p(torch.exp(z)),
        "softsign": lambda z: z / (1 + z.abs()),
        "gelu": lambda z: 0.5 * z * (1 + torch.erf(z / 2**0.5)),
        "silu": lambda z: z * torch.sigmoid(z),
        "swish": lambda z: z * torch.sigmoid(z),
        "leaky_relu": lambda z: torch.where(z > 0, z, 0.2 * z),
    }[activation]
    torch.testing.assert_close(y, reference(x @ kernel + bias), rtol=1e-5, atol=1e-6)


def test_dense_on_3d_input_and_config_round_trip():
    layer = layers.Dense(3, use_bias=False, name="proj")
    x = torch.randn(2, 4, 6)
    (kernel,) = keras_weights(layer) if layer.built else (None,)
    y = layer(x)
    (kernel,) = keras_weights(layer)
    torch.testing.assert_close(y, x @ kernel)
    clone = layers.Dense.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_glorot_uniform_bounds_use_keras_fans():
    layer = layers.Dense(300)
    layer(torch.zeros(1, 100))
    kernel = layer.get_weights()[0]
    limit = np.sqrt(6 / (100 + 300))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit


def test_embedding_lookup_and_init():
    layer = layers.Embedding(50, 4)
    idx = torch.tensor([[1, 2, 49], [0, 0, 3]])
    (table,) = keras_weights(layer) if layer.built else (None,)
    y = layer(idx)
    (table,) = keras_weights(layer)
    torch.testing.assert_close(y, table[idx])
    assert table.abs().max() <= 0.05
    # Float indices are cast, as Keras casts them (an Input is float32 unless declared otherwise).
    torch.testing.assert_close(layer(idx.float()), y)
    with pytest.raises(TypeError, match="expects integer indices"):
        layer(torch.randn(2, 3, dtype=torch.complex64))


def lstm_reference(x, kernel, recurrent, bias, units, go_backwards=False):
    """Keras's LSTM cell, step by step (gates i, f, c, o)."""
    if go_backwards:
        x = x.flip(1)
    h = torch.zeros(x.shape[0], units)
    c = torch.zeros(x.shape[0], units)
    outs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent + bias
        i, f, g, o = (z[:, k * units : (k + 1) * units] for k in range(4))
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        outs.append(h)
    return torch.stack(outs, 1), h, c


@pytest.mark.parametrize("go_backwards", [False, True])
def test_lstm_matches_keras_cell_loop(go_backwards):
    layer = layers.LSTM(6, return_sequences=True, return_state=True, go_backwards=go_backwards)
    x = torch.randn(3, 7, 5)
    seq, h, c = layer(x)
    kernel, recurrent, bias = keras_weights(layer)
    assert kernel.shape == (5, 24) and recurrent.shape == (6, 24) and bias.shape == (24,)
    # unit_forget_bias: the forget block starts at one, the others at zero.
    np.testing.assert_array_equal(bias.numpy(), np.r_[np.zeros(6), np.ones(6), np.zeros(12)])
    ref_seq, ref_h, ref_c = lstm_reference(x, kernel, recurrent, bias, 6, go_backwards)
    torch.testing.assert_close(seq, ref_seq, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(h, ref_h, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(c, ref_c, rtol=1e-5, atol=1e-6)


def test_lstm_step_loop_equals_fused_kernel_and_gradients_match():
    fused = layers.LSTM(4)
    looped = layers.LSTM(4, recurrent_activation=lambda z: torch.sigmoid(z))  # forces the loop
    x = torch.randn(2, 5, 3, requires_grad=True)
    fused(x)
    looped(x)
    looped.set_weights(fused.get_weights())
    a, b = fused(x), looped(x)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    ga = torch.autograd.grad(a.sum(), x)[0]
    gb = torch.autograd.grad(b.sum(), x)[0]
    torch.testing.assert_close(ga, gb, rtol=1e-5, atol=1e-6)


def conv1d_reference(x, kernel, bias, stride, padding, dilation):
    """Direct numpy convolution over (batch, steps, channels) with TF padding rules."""
    x, kernel = x.numpy(), kernel.numpy()
    k = kernel.shape[0]
    span = (k - 1) * dilation + 1
    steps = x.shape[1]
    if padding == "same":
        out_len = -(-steps // stride)
        total = max((out_len - 1) * stride + span - steps, 0)
        x = np.pad(x, ((0, 0), (total // 2, total - total // 2), (0, 0)))
    elif padding == "causal":
        x = np.pad(x, ((0, 0), (span - 1, 0), (0, 0)))
    out_len = (x.shape[1] - span) // stride + 1
    out = np.zeros((x.shape[0], out_len, kernel.shape[2]), dtype=np.float64)
    for t in range(out_len):
        for j in range(k):
            out[:, t] += x[:, t * stride + j * dilation] @ kernel[j]
    return torch.from_numpy((out + bias.numpy()).astype(np.float32))


@pytest.mark.parametrize(
    "padding,stride,dilation,steps",
    [
        ("valid", 1, 1, 11),
        ("valid", 2, 1, 11),
        ("same", 1, 1, 11),
        ("same", 2, 1, 10),
        ("same", 3, 1, 11),
        ("causal", 1, 1, 9),
        ("causal", 1, 2, 9),
        ("valid", 1, 3, 12),
        ("same", 1, 2, 8),
    ],
)
def test_conv1d_matches_direct_convolution(padding, stride, dilation, steps):
    layer = layers.Conv1D(5, 4, strides=stride, padding=padding, dilation_rate=dilation)
    x = torch.randn(2, steps, 3)
    y = layer(x)
    kernel, bias = keras_weights(layer)
    assert kernel.shape == (4, 3, 5)
    expected = conv1d_reference(x, kernel, bias, stride, padding, dilation)
    assert y.shape == expected.shape
    assert tuple(layer.compute_output_shape((2, steps, 3))) == tuple(y.shape)
    torch.testing.assert_close(y, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "padding,pool,stride,steps", [("valid", 2, None, 9), ("valid", 3, 2, 10), ("same", 3, 2, 10), ("same", 5, 5, 12)]
)
def test_max_pooling1d(padding, pool, stride, steps):
    layer = layers.MaxPooling1D(pool, strides=stride, padding=padding)
    x = torch.randn(2, steps, 3)
    y = layer(x)
    s = stride or pool
    if padding == "valid":
        starts = range(0, steps - pool + 1, s)
        expected = torch.stack([x[:, i : i + pool].amax(1) for i in starts], 1)
    else:
        out_len = -(-steps // s)
        total = max((out_len - 1) * s + pool - steps, 0)
        left = total // 2
        expected = torch.stack([x[:, max(0, i * s - left) : i * s - left + pool].amax(1) for i in range(out_len)], 1)
    torch.testing.assert_close(y, expected)
    assert tuple(layer.compute_output_shape(x.shape)) == tuple(y.shape)


def test_global_max_pooling_flatten_dropout_concatenate_activation():
    x = torch.randn(2, 4, 3)
    torch.testing.assert_close(layers.GlobalMaxPooling1D()(x), x.amax(1))
    assert layers.GlobalMaxPooling1D(keepdims=True)(x).shape == (2, 1, 3)
    torch.testing.assert_close(layers.Flatten()(x), x.reshape(2, 12))
    drop = layers.Dropout(0.5)
    torch.testing.assert_close(drop(x), x)  # inference by default
    trained = drop(torch.ones(1000, 10), training=True)
    assert set(np.unique(trained.numpy())) <= {0.0, 2.0} and 0.4 < (trained == 0).float().mean() < 0.6
    torch.testing.assert_close(layers.Concatenate(axis=1)([x, x]), torch.cat([x, x], 1))
    torch.testing.assert_close(layers.Activation("tanh")(x), torch.tanh(x))
    torch.testing.assert_close(layers.add([x, x]), 2 * x)
    torch.testing.assert_close(layers.average([x, 3 * x]), 2 * x)
    torch.testing.assert_close(layers.subtract([x, x]), torch.zeros_like(x))
    torch.testing.assert_close(layers.maximum([x, -x]), x.abs())


def test_constructor_validation_messages():
    with pytest.raises(ValueError, match="units=0"):
        layers.Dense(0)
    with pytest.raises(ValueError, match="Unknown activation function: 'nope'"):
        layers.Dense(3, activation="nope")
    with pytest.raises(ValueError, match="kernel_size=0"):
        layers.Conv1D(3, 0)
    with pytest.raises(ValueError, match="padding='full'"):
        layers.Conv1D(3, 2, padding="full")
    with pytest.raises(ValueError, match=r"rate=1.5"):
        layers.Dropout(1.5)
    with pytest.raises(TypeError, match="unexpected keyword"):
        layers.Dense(3, unit=4)
    with pytest.raises(ValueError, match="input_dim=-1"):
        layers.Embedding(-1, 3)


def test_keras_layer_names_and_weight_layouts():
    x = plait.Input(shape=(None, 4))
    conv = layers.Conv1D(2, 3)
    conv(x)
    assert [w.shape for w in conv.get_weights()] == [(3, 4, 2), (2,)]
    assert conv.name == "conv1d"
    assert layers.Dense(1).name == "dense" and layers.Dense(1).name == "dense_1"
    assert layers.Dense(1, name="mine").name == "mine"


@pytest.mark.parametrize(
    "make,shape,dtype",
    [
        (lambda: layers.Dense(3, activation="relu", use_bias=False), (2, 4), torch.float32),
        (lambda: layers.Activation("softmax"), (2, 4), torch.float32),
        (lambda: layers.Dropout(0.3, noise_shape=(None, 1)), (2, 4), torch.float32),
        (lambda: layers.Flatten(), (2, 3, 4), torch.float32),
        (lambda: layers.Embedding(10, 3), (2, 5), torch.int64),
        (lambda: layers.LSTM(3, return_sequences=True, go_backwards=True, dropout=0.1), (2, 5, 4), torch.float32),
        (lambda: layers.Conv1D(3, 2, padding="causal", dilation_rate=2, activation="tanh"), (2, 6, 4), torch.float32),
        (lambda: layers.MaxPooling1D(2, padding="same"), (2, 5, 4), torch.float32),
        (lambda: layers.GlobalMaxPooling1D(keepdims=True), (2, 5, 4), torch.float32),
    ],
)
def test_config_round_trip_rebuilds_an_equal_layer(make, shape, dtype):
    layer = make()
    x = torch.randint(0, 10, shape) if dtype == torch.int64 else torch.randn(shape)
    y = layer(x)
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    clone(x)
    clone.set_weights(layer.get_weights())
    torch.testing.assert_close(clone(x), y)
    assert tuple(layer.compute_output_shape(tuple(x.shape))) == tuple(y.shape)


def test_concatenate_config_round_trip():
    layer = layers.Concatenate(axis=1)
    assert layers.Concatenate.from_config(layer.get_config()).axis == 1


def test_average_pooling_same_padding_does_not_count_padded_steps():
    x = torch.randn(2, 10, 3)
    y = layers.AveragePooling1D(3, strides=2, padding="same")(x)
    # 5 windows; TF's padding puts the one padded step on the right: the last window has 2 steps.
    expected = torch.stack([x[:, i * 2 : i * 2 + 3].mean(1) for i in range(5)], 1)
    torch.testing.assert_close(y, expected)
    y2 = layers.AveragePooling2D(3, strides=2, padding="same")(torch.ones(1, 6, 6, 1))
    torch.testing.assert_close(y2, torch.ones(1, 3, 3, 1))


def test_masks_flow_through_the_graph_and_bad_masks_are_errors():
    t = plait.Input(shape=(None,), dtype="int32")
    e = layers.Embedding(10, 3, mask_zero=True)(t)
    assert e.has_mask and layers.Dense(2)(e).has_mask
    assert not layers.LSTM(2)(e).has_mask and layers.LSTM(2, return_sequences=True)(e).has_mask
    pooled = layers.GlobalMaxPooling1D()(e)
    model = plait.Model(t, pooled)
    assert "mask=m" in model.graph_source
    x = torch.tensor([[0, 0, 3, 4], [5, 6, 7, 0]])
    table = model.layers[1].embeddings.detach()
    expected = torch.stack([table[[3, 4]].amax(0), table[[5, 6, 7]].amax(0)])
    torch.testing.assert_close(model(x), expected)
    with pytest.raises(ValueError, match=r"mask of shape \(2, 3\) for inputs of shape \(2, 4, 3\)"):
        layers.LSTM(2)(torch.randn(2, 4, 3), mask=torch.ones(2, 3, dtype=torch.bool))


def test_noise_layers_in_training_and_activity_regularization():
    x = torch.ones(400, 8, 16)
    dropped = layers.SpatialDropout1D(0.5)(x, training=True)
    per_channel = dropped[:, 0, :]
    assert torch.equal(dropped, per_channel[:, None, :].expand_as(dropped))  # whole channels
    assert 0.4 < (per_channel == 0).float().mean() < 0.6
    noisy = layers.GaussianNoise(0.5)(x, training=True)
    assert abs(float((noisy - x).std()) - 0.5) < 0.02
    scaled = layers.GaussianDropout(0.2)(x, training=True)
    assert abs(float(scaled.mean()) - 1.0) < 0.02 and abs(float(scaled.std()) - 0.5) < 0.02
    inputs = plait.Input(shape=(3,))
    model = plait.Model(inputs, layers.ActivityRegularization(l1=0.1)(layers.Dense(2, use_bias=False)(inputs)))
    model.compile("sgd", "mse")
    data = np.ones((4, 3), "float32")
    out = model.predict(data)
    plain = float(((out - 0) ** 2).mean())
    assert model.evaluate(data, np.zeros((4, 2), "float32"), verbose=0) == pytest.approx(
        plain + 0.1 * np.abs(out).sum() / 4, rel=1e-5
    )


@pytest.mark.parametrize("cls", [layers.LSTM, layers.GRU, layers.SimpleRNN])
def test_stateful_rnn_continues_across_batches(cls):
    x = torch.randn(3, 8, 4)
    whole = cls(5, return_sequences=True)
    expected = whole(x)
    stateful = cls(5, return_sequences=True, stateful=True)
    stateful(x[:, :1])
    stateful.set_weights(whole.get_weights())
    stateful.reset_states()
    halves = torch.cat([stateful(x[:, :4]), stateful(x[:, 4:])], 1)
    torch.testing.assert_close(halves, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="carries states for batch size 3"):
        stateful(x[:2])
    stateful.reset_states()
    torch.testing.assert_close(stateful(x[:, :4]), expected[:, :4], rtol=1e-5, atol=1e-6)
