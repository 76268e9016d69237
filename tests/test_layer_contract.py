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
    assert config == {"shapes_dict": {"query_shape": [None, 5, 8], "value_shape": [None, 7, 6]}}
    k_layer = keras.layers.MultiHeadAttention(2, 4)
    k_layer(keras.Input((5, 8)), keras.Input((7, 6)))
    assert k_layer.get_build_config() == {"shapes_dict": {"query_shape": (None, 5, 8), "value_shape": (None, 7, 6)}}
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


# ----------------------------------------------------------------------------- state
def test_variables_list_weights_and_seed_states():
    def run(lib):
        class Noisy(lib.layers.Layer):
            def __init__(self):
                super().__init__()
                self.seeds = lib.random.SeedGenerator(3)

            def call(self, x):
                return x

        inputs = lib.Input((4,))
        x = lib.layers.BatchNormalization()(lib.layers.Dense(3)(inputs))
        model = lib.Model(inputs, Noisy()(x))
        names = lambda vs: [v.path.split("/")[-1] for v in vs]  # noqa: E731
        return names(model.variables), names(model.trainable_variables), names(model.non_trainable_variables)

    assert run(plait) == run(keras)
    model = plait.Sequential([plait.Input((2,)), plait.layers.BatchNormalization()])
    moving = model.non_trainable_variables[0]
    moving.assign(np.array([5.0, 6.0], "float32"))  # a view of the buffer: the layer sees it
    np.testing.assert_allclose(model.layers[0].moving_mean.numpy(), [5.0, 6.0])


def test_summary_of_an_unbuilt_model(capsys):
    model = plait.Sequential([plait.layers.Dense(3, name="head")])
    model.summary()
    out = capsys.readouterr().out
    assert "head (Dense)" in out and "0 (unbuilt)" in out and "Total params: 0" in out


# ----------------------------------------------------------------------------- attention
@pytest.mark.parametrize(
    "kwargs, query_shape, value_shape",
    [
        ({"value_dim": 3, "output_shape": 10}, (5, 8), (7, 6)),
        ({"output_shape": (2, 5), "use_gate": True}, (5, 8), (7, 6)),
        ({"attention_axes": (1, 2)}, (3, 5, 8), (3, 4, 8)),
        ({"attention_axes": 2}, (3, 5, 8), (3, 4, 8)),
        ({"sliding_window": 2}, (6, 8), (6, 8)),
    ],
)
def test_multi_head_attention_variants_match_keras(kwargs, query_shape, value_shape):
    q, v = arr(2, *query_shape), arr(2, *value_shape)
    k_layer = keras.layers.MultiHeadAttention(2, 4, **kwargs)
    k_out, k_scores = k_layer(q, v, return_attention_scores=True)
    p_layer = plait.layers.MultiHeadAttention(2, 4, **kwargs)
    p_layer(plait.Input(query_shape), plait.Input(value_shape))
    p_layer.set_weights(k_layer.get_weights())
    p_out, p_scores = p_layer(q, v, return_attention_scores=True)
    np.testing.assert_allclose(numpy(p_out), numpy(k_out), atol=1e-5)
    np.testing.assert_allclose(numpy(p_scores), numpy(k_scores), atol=1e-6)
    np.testing.assert_allclose(numpy(p_layer(q, v)), numpy(k_layer(q, v)), atol=1e-5)  # the SDPA path
    assert plait.layers.MultiHeadAttention.from_config(k_layer.get_config()).get_config()["use_gate"] == kwargs.get(
        "use_gate", False
    )


def test_multi_head_attention_masks_and_causal_scores_match_keras():
    q, v = arr(2, 5, 8), arr(2, 7, 8)
    query_mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    value_mask = np.array([[1, 1, 0, 0, 0, 0, 0], [1] * 7], bool)
    k_layer = keras.layers.MultiHeadAttention(2, 4)
    k_layer(q, v)
    p_layer = plait.layers.MultiHeadAttention(2, 4)
    p_layer(q, v)
    p_layer.set_weights(k_layer.get_weights())
    key_mask = np.array([[1, 1, 1, 1, 0, 0, 0], [1] * 6 + [0]], bool)
    for extra in ({"value_mask": value_mask, "key_mask": key_mask}, {"use_causal_mask": True}):
        k_out, k_scores = k_layer(q, v, return_attention_scores=True, **extra)
        p_out, p_scores = p_layer(q, v, return_attention_scores=True, **extra)
        np.testing.assert_allclose(numpy(p_out), numpy(k_out), atol=1e-5)
        np.testing.assert_allclose(numpy(p_scores), numpy(k_scores), atol=1e-6)
    # A query mask: masked query steps attend to nothing (Keras zeroes their probabilities). As in
    # Keras 3.15, the mask is the query's own: an explicit `query_mask=` is replaced by it.
    query = torch.as_tensor(q)
    query._keras_mask = torch.as_tensor(query_mask)
    _, scores = p_layer(query, v, return_attention_scores=True)
    assert numpy(scores)[0, :, 3:].sum() == 0 and numpy(scores)[0, :, :3].sum() > 0
    _, explicit = p_layer(q, v, query_mask=query_mask, return_attention_scores=True)
    _, k_explicit = k_layer(q, v, query_mask=query_mask, return_attention_scores=True)
    np.testing.assert_allclose(numpy(explicit), numpy(k_explicit), atol=1e-6)


def test_transformer_block_with_keyword_attention_and_masks_matches_keras():
    tokens = np.array([[4, 2, 7, 0, 0], [1, 3, 3, 8, 0]])

    def run(lib):
        layers = lib.layers
        source = lib.Input((5,), dtype="int32")
        target = lib.Input((5,), dtype="int32")
        embed = layers.Embedding(10, 8, mask_zero=True, name="embed")
        s, t = embed(source), embed(target)
        encoded = layers.LayerNormalization(name="ln1")(
            s + layers.MultiHeadAttention(2, 4, name="self_attn")(query=s, value=s, key=s)
        )
        decoded = layers.MultiHeadAttention(2, 4, name="causal")(query=t, value=t, use_causal_mask=True)
        crossed = layers.MultiHeadAttention(2, 4, name="cross")(query=decoded, value=encoded, key=encoded)
        out = layers.Dense(3, name="head")(layers.LayerNormalization(name="ln2")(decoded + crossed))
        return lib.Model([source, target], out)

    k_model, p_model = both(run)
    for layer in k_model.layers:
        if layer.weights:
            p_model.get_layer(layer.name).set_weights(layer.get_weights())
    np.testing.assert_allclose(numpy(p_model([tokens, tokens])), numpy(k_model([tokens, tokens])), atol=1e-5)


# ----------------------------------------------------------------------------- configs
def test_every_keras_layer_config_that_plait_has_rebuilds():
    """``plait.layers.deserialize`` reads what Keras 3.15 writes for each of its layers that
    plait has (DTypePolicy dicts, keys Keras added at their off values)."""
    made = {
        "Dense": (3,), "Conv2D": (2, 3), "Conv1D": (2, 3), "LSTM": (4,), "GRU": (4,), "SimpleRNN": (4,),
        "Embedding": (10, 3), "MultiHeadAttention": (2, 4), "Dropout": (0.1,), "BatchNormalization": (),
        "LayerNormalization": (), "ReLU": (), "Softmax": (), "Reshape": ((2, 2),), "Concatenate": (),
        "GlobalAveragePooling1D": (), "MaxPooling2D": (), "Normalization": (), "Rescaling": (0.5,),
    }  # fmt: skip
    for name, args in made.items():
        k_layer = getattr(keras.layers, name)(*args)
        p_layer = plait.layers.deserialize(keras.layers.serialize(k_layer))
        assert type(p_layer).__name__ == name and p_layer.name == k_layer.name


def test_a_config_with_a_feature_plait_lacks_is_refused_by_name():
    config = keras.layers.serialize(keras.layers.Conv2DTranspose(2, 3))  # no LoRA on a transposed conv
    config["config"]["lora_rank"] = 4
    with pytest.raises(ValueError, match="uses `lora_rank=4`, which plait does not support"):
        plait.layers.deserialize(config)


# ----------------------------------------------------------------------------- saving hooks
def _vocab_layer(lib):
    class Vocab(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.vocab, self.extra = ["a"], np.zeros(3, "float32")

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            return x * self.w

        def save_assets(self, dir_path):
            with open(os.path.join(dir_path, "vocab.txt"), "w") as f:
                f.write("\n".join(self.vocab))

        def load_assets(self, dir_path):
            with open(os.path.join(dir_path, "vocab.txt")) as f:
                self.vocab = f.read().split("\n")

        def save_own_variables(self, store):
            super().save_own_variables(store)
            store["extra"] = self.extra

        def load_own_variables(self, store):
            self.extra = np.array(store["extra"])
            self.w.assign(np.array(store["0"]))

    return Vocab


@pytest.mark.parametrize(
    "writer, reader, suffix",
    [
        ("plait", "plait", "keras"),
        ("keras", "plait", "keras"),
        ("plait", "keras", "keras"),
        ("plait", "plait", "plait"),
    ],
)
def test_save_assets_and_own_variables_round_trip(tmp_path, writer, reader, suffix):
    libs = {"keras": keras, "plait": plait}
    classes = {name: _vocab_layer(lib) for name, lib in libs.items()}
    lib, vocab = libs[writer], classes[writer]()
    inputs = lib.Input((4,))
    model = lib.Model(inputs, lib.layers.Dense(2, name="head")(vocab(inputs)))
    vocab.vocab, vocab.extra = ["x", "y"], np.array([1.0, 2.0, 3.0], "float32")
    vocab.w.assign(np.array([1.0, 2.0, 3.0, 4.0], "float32"))
    path = str(tmp_path / f"m.{suffix}")
    model.save(path)
    loaded = libs[reader].models.load_model(path, custom_objects={"Vocab": classes[reader]})
    restored = [layer for layer in loaded.layers if type(layer).__name__ == "Vocab"][0]
    assert restored.vocab == ["x", "y"]
    np.testing.assert_allclose(np.asarray(restored.extra), [1.0, 2.0, 3.0])
    x = arr(3, 4)
    np.testing.assert_allclose(numpy(loaded(x)), numpy(model(x)), atol=1e-6)


def test_compile_config_hooks_are_called_on_load(tmp_path):
    calls = []

    class Tagged(plait.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.head = plait.layers.Dense(1)

        def call(self, x):
            return self.head(x)

        def get_compile_config(self):
            return {**super().get_compile_config(), "tag": "v2"}

        def compile_from_config(self, config):
            calls.append(config["tag"])
            super().compile_from_config(config)

    model = Tagged()
    model(np.zeros((2, 3), "float32"))
    model.compile("adam", "mse")
    model.save(tmp_path / "m.keras")
    loaded = plait.models.load_model(tmp_path / "m.keras", custom_objects={"Tagged": Tagged})
    assert calls == ["v2"] and loaded.compiled and loaded.loss == "mse"


def test_softmax_takes_a_mask_as_keras():
    x = arr(2, 3, 4)
    mask = np.array([[[1, 1, 0, 0]] * 3, [[0, 0, 0, 0]] * 3], bool)
    for axis in (-1, (1, 2)):
        want = keras.layers.Softmax(axis=axis)(x, mask=mask)
        got = plait.layers.Softmax(axis=axis)(x, mask=mask)
        np.testing.assert_allclose(numpy(got), numpy(want), atol=1e-6)


# ----------------------------------------------------------------------------- bad input
def _regressor():
    inputs = plait.Input((4,), name="features")
    model = plait.Model(inputs, plait.layers.Dense(2)(inputs))
    model.compile("sgd", "mse")
    return model


def _empty():
    return
    yield


@pytest.mark.parametrize(
    "action, error, message",
    [
        (lambda: plait.layers.Conv2D(8, 3.0), ValueError, "`kernel_size` of Conv2D .* Received: kernel_size=3.0"),
        (lambda: plait.layers.Conv2D(8, (3, 2.5)), ValueError, "kernel_size=2.5"),
        (lambda: _regressor()(np.ones((2, 3, 4), "float32")), ValueError, "features.*expected rank 2, got rank 3"),
        (lambda: _regressor().fit(_empty(), epochs=1, verbose=0), ValueError, "yielded no batch"),
        (lambda: _regressor().fit(epochs=1, verbose=0), ValueError, "Received: x=None"),
        (lambda: _regressor().predict(None, verbose=0), ValueError, "Received: x=None"),
        (
            lambda: plait.callbacks.LambdaCallback(on_epoch_ended=print),
            TypeError,
            "unknown hook\\(s\\) \\['on_epoch_ended'\\]",
        ),
        (
            lambda: _regressor().to("meta")(torch.ones(2, 4)),
            ValueError,
            "'features' .* is on device 'cpu', but the model's weights are on 'meta'",
        ),
    ],
)
def test_bad_input_is_named(action, error, message):
    with pytest.raises(error, match=message):
        action()


def test_a_layer_that_needs_its_mask_builds_in_a_functional_model():
    tokens = np.array([[3, 1, 0, 0], [2, 2, 2, 0]])

    def run(lib):
        class MaskedMean(lib.layers.Layer):
            supports_masking = True

            def call(self, x, mask=None):
                weights = lib.ops.expand_dims(lib.ops.cast(mask, x.dtype), -1)  # fails without the mask
                return lib.ops.sum(x * weights, axis=1) / lib.ops.sum(weights, axis=1)

        inputs = lib.Input((4,), dtype="int32")
        embedded = lib.layers.Embedding(5, 3, mask_zero=True, name="embed")(inputs)
        return lib.Model(inputs, MaskedMean()(embedded))

    k_model, p_model = both(run)
    p_model.get_layer("embed").set_weights(k_model.get_layer("embed").get_weights())
    assert p_model.output_shape == (None, 3)
    np.testing.assert_allclose(numpy(p_model(tokens)), numpy(k_model(tokens)), atol=1e-6)


def test_build_from_config_is_called_for_a_users_layer_on_load(tmp_path):
    built = []

    class Table(plait.layers.Layer):
        def build(self, input_shape):
            self.table = self.add_weight(shape=(input_shape[-1], 2), initializer="ones")

        def build_from_config(self, config):
            built.append(config)
            super().build_from_config(config)

        def call(self, x):
            return plait.ops.matmul(x, self.table)

    inputs = plait.Input((3,))
    model = plait.Model(inputs, Table(name="table")(inputs))
    model.save(tmp_path / "m.keras")
    loaded = plait.models.load_model(tmp_path / "m.keras", custom_objects={"Table": Table})
    assert built == [{"input_shape": [None, 3]}]
    np.testing.assert_allclose(numpy(loaded(np.ones((1, 3), "float32"))), [[3.0, 3.0]])


def test_targets_that_broadcast_against_the_output_give_keras_loss():
    x, y = arr(8, 10), arr(8, 10)

    def run(lib):
        model = lib.Sequential([lib.Input((10,)), lib.layers.Dense(1, name="d")])
        model.set_weights([np.full((10, 1), 0.05, "float32"), np.zeros(1, "float32")])
        model.compile("sgd", "mean_squared_error")
        return model.evaluate(x, y, verbose=0)

    np.testing.assert_allclose(run(plait), run(keras), rtol=1e-6)


def test_symbolic_tensors_carry_keras_mask():
    tokens = np.array([[3, 1, 0, 0], [2, 2, 2, 0]])

    def run(lib):
        class PassMask(lib.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.supports_masking = True

            def call(self, x):
                return lib.ops.relu(x)

        inputs = lib.Input((4,), dtype="int32")
        x = PassMask()(lib.layers.Embedding(5, 3, mask_zero=True)(inputs))
        mask = x._keras_mask
        assert lib.layers.Dense(2)(inputs)._keras_mask is None if lib is plait else True
        return tuple(mask.shape), str(mask.dtype), numpy(lib.Model(inputs, mask)(tokens))

    (k_shape, k_dtype, k_mask), (p_shape, p_dtype, p_mask) = both(run)
    assert (p_shape, p_dtype) == (k_shape, k_dtype) == ((None, 4), "bool")
    np.testing.assert_array_equal(p_mask, k_mask)


def test_a_custom_compute_mask_reaches_the_next_layer_in_a_model():
    tokens = np.array([[1, 2, 0], [3, 0, 0]])

    def run(lib):
        class Positional(lib.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.embed = lib.layers.Embedding(10, 4, name="inner")

            def call(self, x):
                return self.embed(x)

            def compute_mask(self, inputs, mask=None):
                return lib.ops.not_equal(inputs, 0)

        class Attend(lib.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.supports_masking = True
                self.attention = lib.layers.MultiHeadAttention(2, 2, name="mha")

            def call(self, inputs, mask=None):
                # Inside a model, `inputs` carries its mask too: the attention reads it itself.
                out = self.attention(inputs, inputs)
                return out if mask is None else out * lib.ops.expand_dims(lib.ops.cast(mask, "float32"), -1)

        inputs = lib.Input((None,), dtype="int64")
        positional, attend = Positional(), Attend()
        model = lib.Model(inputs, attend(positional(inputs)))
        return model, positional, attend

    (k_model, k_pos, k_att), (p_model, p_pos, p_att) = both(run)
    p_pos.set_weights(k_pos.get_weights())
    p_att.set_weights(k_att.get_weights())
    np.testing.assert_allclose(numpy(p_model(tokens)), numpy(k_model(tokens)), atol=1e-6)


def test_build_config_of_a_build_called_by_hand_round_trips(tmp_path):
    class WithInit(plait.layers.Layer):
        def __init__(self, units=3, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape, layer_init):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer=layer_init)
            self.layer_init = layer_init

        def call(self, x):
            return plait.ops.matmul(x, self.w)

        def get_build_config(self):
            return {"input_shape": (4,), "layer_init": self.layer_init}

        def build_from_config(self, config):
            self.build(config["input_shape"], config["layer_init"])

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    layer = WithInit()
    layer.build((4,), "ones")
    assert plait.layers.Layer.get_build_config(layer) == {"shapes_dict": {"input_shape": [4], "layer_init": "ones"}}
    model = plait.Sequential([layer])
    model(np.ones((2, 4), "float32"))
    model.save(tmp_path / "m.keras")
    loaded = plait.models.load_model(tmp_path / "m.keras", custom_objects={"WithInit": WithInit})
    assert loaded.layers[0].layer_init == "ones"
    np.testing.assert_allclose(numpy(loaded(np.ones((1, 4), "float32"))), [[4.0, 4.0, 4.0]])


def test_a_compiled_untrained_model_saved_to_keras_loads_in_keras(tmp_path):
    inputs = plait.Input((3,))
    model = plait.Model(inputs, plait.layers.Dense(2)(inputs))
    model.compile("adam", "mse")
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    x = arr(4, 3)
    np.testing.assert_allclose(numpy(loaded(x)), numpy(model([x])), atol=1e-6)  # model([x]): one input in a list


@pytest.mark.parametrize("reader", ["plait", "keras"])
def test_a_models_own_compile_config_round_trips(tmp_path, reader):
    libs = {"keras": keras, "plait": plait}

    def define(lib):
        @lib.saving.register_keras_serializable(package="contract")
        def tenth_square(y_true, y_pred):
            return lib.ops.sum(lib.ops.square(y_pred - y_true) / 10.0, axis=1)

        @lib.saving.register_keras_serializable(package="contract")
        class OwnCompile(lib.Model):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.head = lib.layers.Dense(2)

            def call(self, x):
                return self.head(x)

            def compile(self, optimizer, loss_fn):
                super().compile(optimizer=optimizer, loss=loss_fn)
                self.model_optimizer, self.loss_fn = optimizer, loss_fn

            def get_compile_config(self):
                return {"model_optimizer": self.model_optimizer, "loss_fn": self.loss_fn}

            def compile_from_config(self, config):
                optimizer = lib.saving.deserialize_keras_object(config["model_optimizer"])
                self.compile(optimizer, lib.saving.deserialize_keras_object(config["loss_fn"]))

        return OwnCompile, tenth_square

    p_cls, p_loss = define(plait)
    r_cls, r_loss = (p_cls, p_loss) if reader == "plait" else define(keras)
    model = p_cls()
    model.compile("SGD", p_loss)
    model.fit(arr(4, 3), arr(4, 2), verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = libs[reader].models.load_model(tmp_path / "m.keras")
    assert loaded.model_optimizer == "SGD" and loaded.loss_fn is r_loss


def test_fit_iterates_a_timeseries_dataset_in_its_own_order():
    seen = []

    class Recorder(plait.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.head = plait.layers.Dense(1)

        def call(self, x):
            return self.head(plait.ops.mean(x, axis=1))

        def train_step(self, data):
            x, _ = data
            seen.append(float(x[0, 0, 0]))
            return {}

    data = np.arange(40, dtype="float32").reshape(40, 1)
    dataset = plait.utils.timeseries_dataset_from_array(data, data[:, 0], sequence_length=4, batch_size=8)
    model = Recorder()
    model.compile("sgd", "mse")
    model.fit(dataset, epochs=2, verbose=0)  # shuffle=True by default: Keras leaves a tf.data dataset as it is
    first = [float(batch[0][0, 0, 0]) for batch in dataset]
    assert seen == first * 2


@pytest.mark.parametrize("name", ["HeNormal", "GlorotUniform", "VarianceScaling"])
def test_variance_scaling_fan_axes_as_keras(name):
    args = {"seed": 3, "input_axes": [0, 1], "output_axes": [2]}
    k_init, p_init = getattr(keras.initializers, name)(**args), getattr(plait.initializers, name)(**args)
    assert p_init.get_config() == k_init.get_config()
    assert type(p_init).from_config(k_init.get_config()).get_config() == k_init.get_config()
    # The spread follows the fans over the given axes: (4 * 5) in, 30 out (Keras's compute_fans).
    k_std = float(np.std(numpy(k_init((4, 5, 30)))))
    p_std = float(np.std(numpy(p_init((4, 5, 30)))))
    np.testing.assert_allclose(p_std, k_std, rtol=0.1)


def test_an_input_no_output_uses_is_taken_and_ignored():
    a, b = plait.Input((3,), name="a"), plait.Input((2,), name="b")
    model = plait.Model([a, b], plait.layers.Dense(1)(a))
    assert [t.name for t in model.inputs] == ["a", "b"]
    model.compile("sgd", "mse")
    model.fit([np.ones((4, 3)), np.ones((4, 2))], np.ones((4, 1)), verbose=0)
    assert tuple(model.predict({"a": np.ones((2, 3)), "b": np.ones((2, 2))}, verbose=0).shape) == (2, 1)


@pytest.mark.parametrize("name", ["uniform", "normal", "one", "zero", "random_uniform"])
def test_initializer_short_names_as_keras(name):
    assert type(plait.initializers.get(name)).__name__ == type(keras.initializers.get(name)).__name__


@pytest.mark.parametrize(
    "name", ["binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy", "top_k_categorical_accuracy"]
)
def test_metric_functions_take_numpy_as_keras(name):
    y_true = {
        "binary_accuracy": np.array([[1.0], [0.0], [1.0]]),
        "sparse_categorical_accuracy": np.array([1, 0, 2]),
    }.get(name, np.eye(3)[[1, 0, 2]])
    y_pred = np.array([[0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.3, 0.3, 0.4]])
    if name == "binary_accuracy":
        y_pred = np.array([[0.8], [0.4], [0.3]])
    extra = {"k": 2} if name.startswith("top_k") else {}  # (Keras's k=5 fails on 3 classes)
    want = getattr(keras.metrics, name)(y_true, y_pred, **extra)
    got = getattr(plait.metrics, name)(y_true, y_pred, **extra)
    assert tuple(got.shape) == tuple(want.shape)
    np.testing.assert_allclose(numpy(got), numpy(want))


def test_sequential_of_image_layers_takes_keras_dict_of_images_and_boxes():
    # Keras's Sequential runs its layers one after the other on a dict (no graph is made).
    data = {
        "images": np.random.default_rng(0).random((2, 8, 8, 3)).astype("float32"),
        "bounding_boxes": {
            "boxes": np.array([[[1, 2, 5, 6]], [[0, 0, 4, 4]]], "float32"),
            "labels": np.array([[1], [2]], "float32"),
        },
    }
    outs = {}
    for lib in (plait, keras):
        flip = lib.Sequential([lib.layers.RandomFlip("horizontal", bounding_box_format="xyxy", seed=1)])
        out = flip(data, training=False)
        outs[lib] = (
            np.asarray(out["images"]).tolist(),
            np.asarray(out["bounding_boxes"]["boxes"]).tolist(),
            np.asarray(out["bounding_boxes"]["labels"]).tolist(),
        )
    assert outs[plait] == outs[keras]
    flipped = plait.Sequential([plait.layers.RandomFlip("horizontal", bounding_box_format="xyxy")])
    out = flipped(
        {
            "images": data["images"][:1],
            "bounding_boxes": {
                "boxes": data["bounding_boxes"]["boxes"][:1],
                "labels": data["bounding_boxes"]["labels"][:1],
            },
        },
        training=True,
    )
    boxes = np.asarray(out["bounding_boxes"]["boxes"])[0, 0].tolist()
    assert boxes in ([1, 2, 5, 6], [3, 2, 7, 6])  # kept, or mirrored with the image (width 8)
