"""The symbolic graph: models, shared and nested layers, torch interop, weights, errors."""

import copy
import pickle

import numpy as np
import pytest
import torch
from torch import nn

import plait
from plait import Input, layers
from plait.models import Model, Sequential


def mlp():
    inputs = Input(shape=(8,), name="features")
    x = layers.Dense(4, activation="relu")(inputs)
    return Model(inputs, layers.Dense(2, activation="softmax", name="probs")(x), name="mlp")


def test_symbolic_tensor_is_immutable_and_readable():
    x = Input(shape=(None,), dtype="int32", name="text")
    # Keras's dtype names (a KerasTensor's); the torch dtype is there for torch code.
    assert x.shape == (None, None) and x.dtype == "int32" and x.torch_dtype == torch.int32 and x.name == "text"
    assert repr(x) == "<SymbolicTensor name=text shape=(None, None) dtype=int32>"
    with pytest.raises(AttributeError):
        x.shape = (1,)
    with pytest.raises(TypeError, match="no value"):
        bool(x)


def test_model_is_a_torch_module_with_generated_forward():
    model = mlp()
    assert isinstance(model, nn.Module)
    assert [n for n, _ in model.named_parameters()] == [
        "by_name.dense.kernel",
        "by_name.dense.bias",
        "by_name.probs.kernel",
        "by_name.probs.bias",
    ]
    assert "def forward(call, const, features):" in model.graph_source
    x = torch.randn(5, 8)
    dense, probs = model.get_layer("dense"), model.get_layer("probs")
    torch.testing.assert_close(model(x), probs(dense(x)))
    torch.testing.assert_close(model(x.numpy()), model(x))
    torch.testing.assert_close(model({"features": x}), model(x))
    assert model.input_names == ["features"] and model.output_names == ["probs"]
    assert model.get_layer(index=0).name == "features"
    assert model.count_params() == 8 * 4 + 4 + 4 * 2 + 2


def test_torch_compile_gives_the_same_outputs():
    model = mlp()
    compiled = torch.compile(model)
    x = torch.randn(3, 8)
    torch.testing.assert_close(compiled(x), model(x))


def test_deepcopy_and_pickle_keep_a_working_independent_forward():
    model = mlp()
    clone = copy.deepcopy(model)
    with torch.no_grad():
        clone.get_layer("dense").kernel.zero_()
    x = torch.randn(2, 8)
    assert not torch.allclose(clone(x), model(x))
    restored = pickle.loads(pickle.dumps(model))
    torch.testing.assert_close(restored(x), model(x))


def test_shared_layer_nodes_and_connected_to():
    a, b = Input(shape=(3,), name="a"), Input(shape=(3,), name="b")
    shared = layers.Dense(2, name="shared")
    out = layers.concatenate([shared(a), shared(b)])
    model = Model([a, b], out)
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "shared[0][0]" in text and "shared[1][0]" in text
    x, y = torch.randn(2, 3), torch.randn(2, 3)
    torch.testing.assert_close(model([x, y]), torch.cat([shared(x), shared(y)], -1))
    assert model.count_params() == 8


def test_nested_model_as_a_layer_and_expand_nested():
    inner = mlp()
    x = Input(shape=(8,), name="outer_in")
    y = inner(x)
    outer = Model(x, layers.Dense(1, name="head")(y))
    assert y.shape == (None, 2)
    data = torch.randn(4, 8)
    torch.testing.assert_close(outer(data), outer.get_layer("head")(inner(data)))
    assert outer.count_params() == inner.count_params() + 3
    assert len(outer.get_weights()) == 6
    lines = []
    outer.summary(print_fn=lines.append, expand_nested=True)
    assert any(line.startswith("| dense (Dense)") for line in lines)


def test_dict_inputs_and_outputs():
    a, b = Input(shape=(2,), name="a"), Input(shape=(3,), name="b")
    joined = layers.concatenate([a, b])
    model = Model({"a": a, "b": b}, {"sum": layers.Dense(1, name="s")(joined), "id": layers.Identity(name="i")(joined)})
    out = model({"a": torch.ones(1, 2), "b": torch.zeros(1, 3)})
    assert set(out) == {"sum", "id"} and out["id"].shape == (1, 5)
    assert model.output_names == ["sum", "id"]


def test_multi_output_layer_return_state():
    x = Input(shape=(None, 3))
    seq, h, c = layers.LSTM(4, return_sequences=True, return_state=True)(x)
    assert seq.shape == (None, None, 4) and h.shape == (None, 4)
    model = Model(x, [seq, h, c])
    outs = model(torch.randn(2, 5, 3))
    torch.testing.assert_close(outs[0][:, -1], outs[1])


def test_sequential_variants():
    # input_shape on the first layer, an Input first, and lazy building from data.
    a = Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(2)])
    b = Sequential([Input(shape=(3,)), layers.Dense(4), layers.Dense(2)])
    c = Sequential()
    c.add(layers.Dense(4))
    c.add(nn.ReLU())
    c.add(layers.Dense(2))
    assert a.count_params() == b.count_params() == 26
    lines = []
    c.summary(print_fn=lines.append)  # as Keras: the layers, unbuilt, before any data
    assert any("0 (unbuilt)" in line for line in lines)
    assert c(np.zeros((5, 3), dtype="float32")).shape == (5, 2)
    assert c.count_params() == 26 and [layer.name for layer in c.layers][1] == "re_lu"
    popped = c.pop()
    assert popped.name == "dense_5" and c(torch.zeros(1, 3)).shape == (1, 4)


def test_any_torch_module_in_a_graph():
    x = Input(shape=(10, 16))
    y = nn.GELU()(x)
    z = layers.TorchModuleWrapper(nn.TransformerEncoderLayer(16, 2, 32, batch_first=True, dropout=0.0))(y)
    z = nn.LayerNorm(16)(z)
    w = torch.cat([z, z], -1).mean(1) * 2.0
    model = Model(x, w)
    assert w.shape == (None, 32)
    encoder = model.layers[2].module
    data = torch.randn(3, 10, 16)
    expected = torch.cat([model.layers[3].module(encoder(torch.nn.functional.gelu(data)))] * 2, -1).mean(1) * 2
    torch.testing.assert_close(model(data), expected)
    assert model.count_params() == sum(p.numel() for p in model.parameters())


class Gated(nn.Module):
    """A user's module that inspects and unpacks its intermediate values, with a plait layer
    inside."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(16, 32)
        self.out = layers.Dense(8)

    def forward(self, x):
        h = self.proj(x)
        a, b = h.chunk(2, dim=-1)
        if h.shape[-1] != 32 or h.dim() != 3:
            raise ValueError("unexpected")
        gate = torch.sigmoid(b)
        return self.out(a * gate), gate.mean(-1)


def test_plain_modules_that_inspect_their_values_called_directly():
    torch.manual_seed(0)
    x = Input(shape=(10, 16))
    encoder = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True, dropout=0.0)
    attention = nn.MultiheadAttention(16, 2, batch_first=True)
    gated = Gated()
    h = encoder(x)  # unpacks a tuple from multi_head_attention_forward inside
    attended, scores = attention(h, h, h)  # two outputs
    y, gate = gated(attended)
    assert (h.shape, attended.shape, scores.shape, y.shape, gate.shape) == (
        (None, 10, 16), (None, 10, 16), (None, 10, 10), (None, 10, 8), (None, 10),
    )  # fmt: skip
    model = Model(x, [layers.Dense(1)(layers.GlobalAveragePooling1D()(y)), gate, scores])
    lines = []
    model.summary(print_fn=lines.append)
    assert "transformer_encoder_layer" in "\n".join(lines) and "multihead_attention" in "\n".join(lines)
    assert model.count_params() == sum(p.numel() for p in model.parameters())
    expected_params = sum(p.numel() for m in (encoder, attention, gated) for p in m.parameters()) + 8 + 1
    assert model.count_params() == expected_params
    data = torch.randn(3, 10, 16)
    with torch.no_grad():
        e = encoder(data)
        a, s = attention(e, e, e)
        reference = gated(a)
    out = model(data)
    torch.testing.assert_close(out[1], reference[1])
    torch.testing.assert_close(out[2], s)
    # fit trains the plain modules' parameters
    model.compile("adam", ["mse", "mse", None])
    before = encoder.linear1.weight.detach().clone()
    targets = [np.zeros((3, 1), "float32"), np.zeros((3, 10), "float32"), np.zeros((3, 10, 10), "float32")]
    model.fit(data.numpy(), targets, epochs=2, verbose=0)
    assert not torch.equal(before, encoder.linear1.weight)


def test_get_and_set_weights_keras_layout():
    model = mlp()
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(8, 4), (4,), (4, 2), (2,)]
    new = [np.full_like(w, 0.5) for w in weights]
    model.set_weights(new)
    np.testing.assert_array_equal(model.get_layer("dense").kernel.detach().numpy(), np.full((4, 8), 0.5))
    with pytest.raises(ValueError, match="expects 4 weights"):
        model.set_weights(new[:3])
    with pytest.raises(ValueError, match=r"'dense/kernel' has shape \(8, 4\).*\(4, 8\)"):
        model.set_weights([np.zeros((4, 8))] + new[1:])


def test_trainable_flags():
    model = mlp()
    model.get_layer("dense").trainable = False
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2
    assert not model.get_layer("dense").kernel.requires_grad


def test_graph_errors():
    a, b = Input(shape=(3,), name="a"), Input(shape=(3,), name="b")
    with pytest.raises(ValueError, match=r"Graph disconnected.*'b'"):
        Model(a, layers.add([a, b]))
    assert len(Model([a, b], layers.Dense(1)(a)).inputs) == 2  # an unused Input is allowed, as in Keras
    d1, d2 = layers.Dense(2, name="same"), layers.Dense(2, name="same")
    with pytest.raises(ValueError, match="used by 2 layers"):
        Model(a, d2(d1(a)))
    dense = layers.Dense(2)
    dense(Input(shape=(64,)))
    with pytest.raises(
        ValueError,
        match=r"expected axis -1 of input shape to have value 64, but received input with shape \(None, 32\)",
    ):
        dense(Input(shape=(32,)))
    with pytest.raises(ValueError, match="expected ndim=3"):
        layers.LSTM(2)(Input(shape=(4,)))
    with pytest.raises(ValueError, match="at least 2 inputs"):
        layers.Add()([a])
    # A float Input's indices are cast, as Keras casts them.
    assert layers.Embedding(10, 2)(Input(shape=(3,))).shape == (None, 3, 2)
    with pytest.raises(ValueError, match="matching shapes except for the concatenation axis"):
        layers.concatenate([Input(shape=(2, 3)), Input(shape=(4, 3))])
    with pytest.raises(ValueError, match=r"expects 2 input\(s\)"):
        Model([a, b], layers.add([a, b]))(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="too short"):
        layers.Conv1D(2, 5)(Input(shape=(3, 2)))


def test_conv_and_pool_keep_unknown_lengths_unknown():
    x = Input(shape=(None,), dtype="int32")
    y = layers.MaxPooling1D(5)(layers.Conv1D(8, 5)(layers.Embedding(100, 4)(x)))
    assert y.shape == (None, None, 8)
    z = layers.MaxPooling1D(5)(layers.Conv1D(8, 5)(Input(shape=(500, 4))))
    assert z.shape == (None, 99, 8)


def test_clear_session_resets_names():
    layers.Dense(1)
    plait.utils.clear_session()
    assert layers.Dense(1).name == "dense"


def test_huggingface_block_called_directly():
    # Its forward builds sizes from the input's shape before its first op (x.shape[:-1]).
    transformers = pytest.importorskip("transformers")
    from transformers.models.bert.modeling_bert import BertLayer

    config = transformers.BertConfig(
        hidden_size=16, num_attention_heads=2, intermediate_size=32, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, attn_implementation="eager",
    )  # fmt: skip
    block = BertLayer(config)
    x = Input(shape=(10, 16))
    out = block(x)
    hidden = out[0] if isinstance(out, (tuple, list)) else out
    assert hidden.shape == (None, 10, 16)
    model = Model(x, layers.Dense(2)(hidden))
    assert model.count_params() == sum(p.numel() for p in block.parameters()) + 16 * 2 + 2
    data = torch.randn(3, 10, 16)
    with torch.no_grad():
        reference = block(data)
        reference = reference[0] if isinstance(reference, tuple) else reference
        torch.testing.assert_close(model(data), model.layers[-1](reference))


def test_model_layers_leave_out_op_nodes_as_keras_does(tmp_path):
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")

    def build(lib):
        inputs = lib.Input(shape=(4,), name="x")
        h = lib.ops.tanh(lib.ops.add(inputs, 1.0))
        outputs = lib.layers.Dense(2, name="head")(h)
        return lib.Model(inputs, outputs)

    model, reference = build(plait), build(keras)
    assert [type(layer).__name__ for layer in model.layers] == [type(layer).__name__ for layer in reference.layers]
    assert [layer.name for layer in model.layers] == ["x", "head"]
    assert len(model.operations) == 4 and model.get_layer(index=1).name == "head"
    lines = []
    model.summary(print_fn=lines.append)
    assert any(line.startswith("add (Add)") for line in lines)  # the summary lists the ops, as Keras's
    # `x + 1` on a symbolic tensor is an op node too.
    x = Input(shape=(3,))
    assert [type(layer).__name__ for layer in Model(x, torch.tanh(x + 1)).layers] == ["InputLayer"]
    # The ops travel in the config and the files (Keras's weights file lists layers only).
    data = np.random.RandomState(0).rand(5, 4).astype("float32")
    for name in ("m.plait", "m.keras"):
        model.save(tmp_path / name)
        loaded = plait.saving.load_model(tmp_path / name)
        np.testing.assert_allclose(loaded.predict(data, verbose=0), model.predict(data, verbose=0), rtol=1e-6)
    keras_model = keras.saving.load_model(tmp_path / "m.keras")
    keras_out = keras_model(data).detach().numpy()  # a torch tensor (the torch backend)
    np.testing.assert_allclose(keras_out, model.predict(data, verbose=0), rtol=1e-6)
