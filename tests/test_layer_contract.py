"""Keras's general Layer contract on plait (issue 21): how a call's inputs are found, how build()
is called, variables inside call(), masks carried by tensors, lazily built Sequentials. Each case
runs the same program on Keras 3 (torch backend) and on plait, and compares."""

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import plait  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

RNG = np.random.default_rng(7)


def arr(*shape):
    return RNG.standard_normal(shape).astype("float32")


def both(fn):
    """``fn(lib)`` for Keras and plait: the two results."""
    return fn(keras), fn(plait)


def numpy(x):
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


# ----------------------------------------------------------------------------- calling
def test_attention_called_with_keywords_matches_keras():
    q, v = arr(2, 5, 8), arr(2, 7, 8)

    def run(lib):
        query, value = lib.Input((5, 8)), lib.Input((7, 8))
        mha = lib.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")
        out = mha(query=query, value=value, key=value)
        return lib.Model([query, value], out)

    k_model, p_model = both(run)
    p_model.get_layer("mha").set_weights(k_model.get_layer("mha").get_weights())
    assert p_model.output_shape == (None, 5, 8)
    np.testing.assert_allclose(numpy(p_model([q, v])), numpy(k_model([q, v])), atol=1e-5)


def test_first_argument_by_its_name():
    x = arr(3, 4)
    dense = plait.layers.Dense(2)
    assert dense(inputs=plait.Input((4,))).shape == (None, 2)
    np.testing.assert_allclose(numpy(dense(inputs=x)), numpy(dense(x)))
    with pytest.raises(TypeError, match="called without inputs.*Received keyword arguments \\['units'\\]"):
        dense(units=x)


def test_every_tensor_argument_is_an_input_of_the_node():
    class AddMean(plait.layers.Layer):
        def call(self, x, other):
            return x + plait.ops.mean(other, axis=1, keepdims=True)

    a, b = plait.Input((5, 8)), plait.Input((7, 8))
    out = AddMean()(a, other=b)
    model = plait.Model([a, b], out)
    xa, xb = arr(2, 5, 8), arr(2, 7, 8)
    np.testing.assert_allclose(numpy(model([xa, xb])), xa + xb.mean(1, keepdims=True), atol=1e-6)
    assert [t.name for t in out.node.input_tensors] == [a.name, b.name]


# ----------------------------------------------------------------------------- building
def test_build_without_arguments():
    def run(lib):
        class Scale(lib.layers.Layer):
            def build(self):
                self.w = self.add_weight(shape=(3,), initializer="ones")

            def call(self, x):
                return x * self.w

        layer = Scale()
        return tuple(layer(np.ones((2, 3), "float32")).shape), len(layer.weights), layer.built

    assert run(plait) == run(keras)


def test_build_with_one_shape_per_tensor_argument():
    def run(lib):
        class Bilinear(lib.layers.Layer):
            def build(self, query_shape, value_shape):
                self.w = self.add_weight(shape=(query_shape[-1], value_shape[-1]), initializer="ones")

            def call(self, query, value):
                return lib.ops.matmul(lib.ops.matmul(query, self.w), lib.ops.transpose(value, (0, 2, 1)))

        q, v = lib.Input((5, 3)), lib.Input((7, 4))
        return lib.Model([q, v], Bilinear()(query=q, value=v))

    k_model, p_model = both(run)
    q, v = arr(2, 5, 3), arr(2, 7, 4)
    assert p_model.output_shape == k_model.output_shape == (None, 5, 7)
    np.testing.assert_allclose(numpy(p_model([q, v])), numpy(k_model([q, v])), rtol=1e-5, atol=1e-5)


def test_build_with_misnamed_parameters_is_a_clear_error():
    class Bad(plait.layers.Layer):
        def build(self, a, b):
            pass

        def call(self, x, y):
            return x

    with pytest.raises(ValueError, match="Received build\\(\\) parameter 'a'"):
        Bad()(np.ones((1, 2), "float32"), np.ones((1, 2), "float32"))


def test_build_config_round_trip():
    layer = plait.layers.MultiHeadAttention(2, 4)
    layer(plait.Input((5, 8)), plait.Input((7, 6)))
    config = layer.get_build_config()
    assert config == {"query_shape": [None, 5, 8], "value_shape": [None, 7, 6]}
    fresh = plait.layers.MultiHeadAttention(2, 4)
    fresh.build_from_config(config)
    assert [w.shape for w in fresh.get_weights()] == [w.shape for w in layer.get_weights()]


# ----------------------------------------------------------------------------- variables
def test_assign_inside_call_in_a_functional_model():
    def run(lib):
        class Counter(lib.layers.Layer):
            def build(self, shape):
                self.count = self.add_weight(shape=(shape[-1],), initializer="zeros", trainable=False)
                self.scale = self.add_weight(shape=(shape[-1],), initializer="ones")

            def call(self, x):
                self.count.assign(self.count + 1.0)
                return x * self.scale.value + self.count

        inputs = lib.Input((4,))
        layer = Counter()
        model = lib.Model(inputs, layer(inputs))
        out = model(np.zeros((2, 4), "float32"))
        return numpy(out), np.asarray(layer.count.numpy())

    (k_out, k_count), (p_out, p_count) = both(run)
    np.testing.assert_allclose(p_out, k_out)
    np.testing.assert_allclose(p_count, k_count)


# ----------------------------------------------------------------------------- lazy Sequential
def test_sequential_built_lazily_inside_a_layer_takes_other_lengths():
    def run(lib):
        class Block(lib.layers.Layer):
            def __init__(self):
                super().__init__()
                self.stack = lib.Sequential([lib.layers.Dense(4), lib.layers.Dense(2)])

            def call(self, x):
                return self.stack(x)

        block = Block()
        return [tuple(block(np.ones((2, n, 8), "float32")).shape) for n in (5, 9)]

    assert run(plait) == run(keras) == [(2, 5, 2), (2, 9, 2)]


def test_sequential_still_checks_sizes_through_its_layers():
    model = plait.Sequential([plait.layers.Dense(4)])
    model(np.ones((2, 5, 8), "float32"))
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 8"):
        model(np.ones((2, 5, 7), "float32"))


# ----------------------------------------------------------------------------- masks
def test_eager_outputs_carry_keras_mask():
    tokens = np.array([[3, 1, 0, 0], [2, 0, 0, 0]])

    def run(lib):
        embedded = lib.layers.Embedding(5, 3, mask_zero=True)(tokens)
        pooled = lib.layers.GlobalAveragePooling1D()(embedded)  # reads the mask of its input
        return numpy(embedded._keras_mask), numpy(pooled), embedded

    (k_mask, _, k_emb), (p_mask, _, p_emb) = both(run)
    np.testing.assert_array_equal(p_mask, k_mask)
    # Same embeddings, then the masked average over the real tokens only.
    expected = numpy(k_emb)[:, :2].copy()
    expected[1, 1] = 0
    want = expected.sum(1) / np.array([[2], [1]])
    got = plait.layers.GlobalAveragePooling1D()(torch.as_tensor(numpy(k_emb)))  # no mask: plain mean
    assert not np.allclose(numpy(got), want)
    p_input = torch.as_tensor(numpy(k_emb))
    p_input._keras_mask = torch.as_tensor(k_mask)
    np.testing.assert_allclose(numpy(plait.layers.GlobalAveragePooling1D()(p_input)), want, atol=1e-6)


def test_custom_compute_mask_and_mask_argument():
    def run(lib):
        class NonZero(lib.layers.Layer):
            def call(self, x):
                return x

            def compute_mask(self, x, mask=None):
                return lib.ops.not_equal(lib.ops.sum(x, axis=-1), 0)

        class MaskedSum(lib.layers.Layer):
            def __init__(self):
                super().__init__()
                self.supports_masking = True

            def call(self, x, mask=None):
                weights = lib.ops.cast(mask, x.dtype)[..., None]
                return lib.ops.sum(x * weights, axis=1)

        x = np.array([[[1.0, 2.0], [0.0, 0.0], [3.0, -1.0]]], "float32")
        masked = NonZero()(x)
        return numpy(masked._keras_mask), numpy(MaskedSum()(masked))

    (k_mask, k_sum), (p_mask, p_sum) = both(run)
    np.testing.assert_array_equal(p_mask, k_mask)
    np.testing.assert_allclose(p_sum, k_sum)
