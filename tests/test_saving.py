"""plait's model file: round trips, resumed training, atomic writes, and files that must be refused."""

import json
import os
import pickle
import zipfile

import numpy as np
import pytest
import torch
from torch import nn

import plait
from plait import Input, layers
from plait.models import Model, Sequential, load_model


def shared_and_nested():
    inner_in = Input(shape=(4,), name="inner_in")
    inner = Model(inner_in, layers.Dense(3, activation="tanh", name="inner_dense")(inner_in), name="inner")
    a, b = Input(shape=(4,), name="a"), Input(shape=(4,), name="b")
    shared = layers.Dense(4, name="shared")
    x = layers.concatenate([inner(shared(a)), inner(shared(b))])
    x = nn.GELU()(x)
    x = layers.TorchModuleWrapper(nn.LayerNorm(6), name="norm")(x)
    return Model({"a": a, "b": b}, {"y": layers.Dense(2, name="y")(x), "z": layers.Identity(name="z")(x)})


def models():
    seq = Sequential([layers.Dense(5, activation="relu", input_shape=(4,)), layers.Dropout(0.2), layers.Dense(2)])
    t = Input(shape=(None,), dtype="int32", name="t")
    h = layers.LSTM(4, return_sequences=True)(layers.Embedding(20, 3)(t))
    h = layers.GlobalMaxPooling1D()(layers.MaxPooling1D(2, padding="same")(layers.Conv1D(3, 2, padding="causal")(h)))
    rnn = Model(t, layers.Dense(2, activation="softmax")(h))
    return {
        "sequential": (seq, np.random.randn(3, 4).astype("float32")),
        "recurrent": (rnn, np.random.randint(0, 20, (3, 7))),
        "shared_nested": (
            shared_and_nested(),
            {"a": np.random.randn(3, 4).astype("float32"), "b": np.random.randn(3, 4).astype("float32")},
        ),
    }


@pytest.mark.parametrize("name", ["sequential", "recurrent", "shared_nested"])
def test_round_trip_same_predictions_and_summary(name, tmp_path):
    model, x = models()[name]
    path = tmp_path / "m.plait"
    model.save(path)
    loaded = load_model(path)
    before, after = model.predict(x), loaded.predict(x)
    for k in before if isinstance(before, dict) else [None]:
        np.testing.assert_array_equal(after[k] if k else after, before[k] if k else before)
    lines_a, lines_b = [], []
    model.summary(print_fn=lines_a.append)
    loaded.summary(print_fn=lines_b.append)
    assert lines_a[1:] == lines_b[1:]
    assert type(loaded) is type(model)


def test_resumed_training_matches_uninterrupted_training(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)).astype("float32"), rng.normal(size=(64, 1)).astype("float32")

    def fresh():
        plait.utils.clear_session()
        plait.utils.set_random_seed(3)
        model = Sequential([Input(shape=(4,)), layers.Dense(8, activation="relu"), layers.Dense(1)])
        model.compile(plait.optimizers.Adam(0.01), "mse", metrics=["mae"])
        return model

    straight = fresh()
    straight.fit(x, y, epochs=4, batch_size=16, shuffle=False, verbose=0)
    first = fresh()
    first.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    first.save(tmp_path / "half.plait")
    resumed = load_model(tmp_path / "half.plait")
    assert resumed.optimizer.iterations == 8 and isinstance(resumed.optimizer, plait.optimizers.Adam)
    resumed.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)


def test_model_checkpoint_writes_full_models(tmp_path):
    x, y = np.random.randn(16, 3).astype("float32"), np.random.randn(16, 1).astype("float32")
    model = Sequential([Input(shape=(3,)), layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(x, y, epochs=2, verbose=0, callbacks=[plait.callbacks.ModelCheckpoint(tmp_path / "ep{epoch}.plait")])
    assert load_model(tmp_path / "ep2.plait").optimizer.iterations == 2


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    model, x = models()["sequential"]
    path = tmp_path / "m.plait"
    model.save(path)
    original = path.read_bytes()
    import plait.saving.model_file as model_file

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed mid-save")

    monkeypatch.setattr(model_file.zipfile.ZipFile, "writestr", crash)
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["m.plait"]


def test_custom_layers_need_registration_or_custom_objects(tmp_path):
    class Double(layers.Layer):
        def call(self, x):
            return 2 * x

        def compute_output_shape(self, shape):
            return shape

    inputs = Input(shape=(2,))
    model = Model(inputs, Double(name="double")(inputs))
    model.save(tmp_path / "c.plait")
    with pytest.raises(ValueError, match="Unknown layer class 'Double'.*custom_objects"):
        load_model(tmp_path / "c.plait")
    loaded = load_model(tmp_path / "c.plait", custom_objects={"Double": Double})
    np.testing.assert_array_equal(loaded.predict(np.ones((1, 2), "float32")), [[2.0, 2.0]])
    plait.saving.register_serializable(package="Tests")(Double)
    model.save(tmp_path / "r.plait")
    assert load_model(tmp_path / "r.plait").get_layer("double").__class__ is Double


def test_unsaveable_things_are_refused_at_save_time(tmp_path):
    class Mine(nn.Module):
        def forward(self, x):
            return x

    inputs = Input(shape=(2,))
    with pytest.raises(ValueError, match="only torch.nn modules are saved by reference"):
        Model(inputs, layers.TorchModuleWrapper(Mine())(inputs)).save(tmp_path / "a.plait")
    with pytest.raises(ValueError, match="torch function"):
        Model(inputs, inputs * 2.0).save(tmp_path / "b.plait")


@pytest.fixture(scope="module")
def good_file(tmp_path_factory):
    model, _ = models()["recurrent"]
    model.compile("adam", "sparse_categorical_crossentropy")
    path = tmp_path_factory.mktemp("good") / "good.plait"
    model.save(path)
    return path


def test_truncated_and_corrupted_files_give_clear_errors(good_file, tmp_path):
    data = good_file.read_bytes()
    rng = np.random.default_rng(0)
    bad = tmp_path / "bad.plait"
    for cut in sorted(set(rng.integers(0, len(data), 25).tolist()) | {0, 10, len(data) - 1}):
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="bad.plait"):
            load_model(bad)
    flips = 0
    for offset in rng.integers(0, len(data), 40):
        corrupted = bytearray(data)
        corrupted[offset] ^= 0xFF
        bad.write_bytes(bytes(corrupted))
        try:
            model = load_model(bad)
        except ValueError as error:
            assert "bad.plait" in str(error)
            flips += 1
        else:  # a flip inside weight values still gives a complete, working model
            assert model.predict(np.zeros((1, 5), "int64")).shape == (1, 2)
    assert flips > 0


def rewrite(path, out, change):
    with zipfile.ZipFile(path) as src:
        members = {n: src.read(n) for n in src.namelist()}
    change(members)
    with zipfile.ZipFile(out, "w") as dst:
        for name, data in members.items():
            dst.writestr(name, data)


def test_foreign_and_malicious_files_are_refused(good_file, tmp_path):
    out = tmp_path / "evil.plait"
    cases = {
        "swapped members": lambda m: m.update({"config.json": m["metadata.json"], "metadata.json": m["config.json"]}),
        "missing weights": lambda m: m.pop("model.weights.safetensors"),
        "config names os.system": lambda m: m.update(
            {
                "config.json": json.dumps(
                    {
                        "class_name": "TorchModuleWrapper",
                        "config": {"module": "system", "args": {"command": "touch pwned"}},
                    }
                )
            }
        ),
        "config names an unknown class": lambda m: m.update(
            {"config.json": json.dumps({"class_name": "os.system", "config": {"command": "touch pwned"}})}
        ),
        "pickle payload as weights": lambda m: m.update({"model.weights.safetensors": pickle.dumps(os.system)}),
        "safetensors header lies": lambda m: m.update(
            {"model.weights.safetensors": (10**12).to_bytes(8, "little") + b"{}"}
        ),
        "wrong weight shapes": lambda m: m.update(
            {"model.weights.safetensors": _resized(m["model.weights.safetensors"])}
        ),
    }
    for what, change in cases.items():
        rewrite(good_file, out, change)
        with pytest.raises(ValueError, match="evil.plait"):
            load_model(out)
        assert not os.path.exists("pwned"), what
    pickled = tmp_path / "pickled.plait"
    torch.save({"a": 1}, pickled)
    with pytest.raises(ValueError, match="pickled.plait"):
        load_model(pickled)


def _resized(blob):
    from safetensors.torch import load, save

    state = load(blob)
    key = next(k for k in state if k.endswith("kernel"))
    state[key] = torch.zeros(tuple(d + 1 for d in state[key].shape))
    return save(state)


def scaled_tanh(x):
    """A named module-level function: a Lambda holding it is saved by reference."""
    return 3.0 * torch.tanh(x)


def test_lambda_saving_rules(tmp_path):
    x = Input(shape=(3,))
    named = Model(x, layers.Lambda(scaled_tanh)(layers.Lambda(torch.square)(x)))
    named.save(tmp_path / "named.plait")
    # torch's functions load freely; this test module's function is code from the file's point of
    # view: refused in safe mode, allowed by custom_objects or safe_mode=False.
    with pytest.raises(ValueError, match="would import and run code.*safe_mode=False"):
        load_model(tmp_path / "named.plait")
    data = np.random.randn(2, 3).astype("float32")
    for loaded in (
        load_model(tmp_path / "named.plait", custom_objects={"scaled_tanh": scaled_tanh}),
        load_model(tmp_path / "named.plait", safe_mode=False),
    ):
        np.testing.assert_allclose(loaded.predict(data), named.predict(data), rtol=1e-6)
    anonymous = Model(x, layers.Lambda(lambda t: t * 2)(x))
    with pytest.raises(ValueError, match="anonymous function.*named module-level function"):
        anonymous.save(tmp_path / "anon.plait")
    assert not (tmp_path / "anon.plait").exists()


def test_round_trip_with_every_layer(tmp_path):
    a, b = Input(shape=(6, 4), name="a"), Input(shape=(6, 4), name="b")
    merged = [
        layers.add([a, b]),
        layers.subtract([a, b]),
        layers.multiply([a, b]),
        layers.average([a, b]),
        layers.maximum([a, b]),
        layers.minimum([a, b]),
    ]
    x = layers.Concatenate(axis=-1)(merged)
    x = layers.Activation("gelu")(layers.Conv1D(4, 3, padding="same", strides=2)(x))
    x = layers.LSTM(5, return_sequences=True, go_backwards=True)(x)
    x = layers.Dropout(0.1)(layers.Flatten()(layers.MaxPooling1D(1)(x)))
    model = Model([a, b], layers.Dense(2, activation="softmax")(layers.Identity()(x)))
    model.save(tmp_path / "all.plait")
    loaded = load_model(tmp_path / "all.plait")
    data = [np.random.randn(3, 6, 4).astype("float32") for _ in range(2)]
    np.testing.assert_array_equal(loaded.predict(data), model.predict(data))
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]


def weighted_abs(y_true, y_pred):
    """A custom loss function, saved by reference."""
    return torch.mean(torch.abs(y_true - y_pred), dim=-1) * 2.0


def test_compile_arguments_with_objects_and_custom_functions(tmp_path):
    x = Input(shape=(3,))
    model = Model(x, [layers.Dense(1, name="a")(x), layers.Dense(1, activation="sigmoid", name="b")(x)])
    model.compile(
        plait.optimizers.SGD(plait.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5), momentum=0.9),
        loss={"a": weighted_abs, "b": plait.losses.BinaryCrossentropy(label_smoothing=0.1)},
        metrics={"a": [plait.metrics.MeanAbsoluteError()], "b": ["acc"]},
    )
    data = (
        np.random.randn(8, 3).astype("float32"),
        [np.random.randn(8, 1).astype("float32"), np.ones((8, 1), "float32")],
    )
    model.fit(*data, epochs=1, verbose=0)
    model.save(tmp_path / "c.plait")
    loaded = load_model(tmp_path / "c.plait", custom_objects={"weighted_abs": weighted_abs})
    assert loaded.evaluate(*data, verbose=0, return_dict=True) == pytest.approx(
        model.evaluate(*data, verbose=0, return_dict=True)
    )
    assert isinstance(loaded.optimizer._learning_rate, plait.optimizers.schedules.ExponentialDecay)
    assert loaded.optimizer.learning_rate == pytest.approx(model.optimizer.learning_rate)


def test_transformer_block_round_trip(tmp_path):
    x = Input(shape=(10, 16))
    block = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True, dropout=0.0, activation="gelu")
    model = Model(x, layers.TorchModuleWrapper(block)(x))
    model.save(tmp_path / "t.plait")
    data = np.random.randn(2, 10, 16).astype("float32")
    np.testing.assert_array_equal(load_model(tmp_path / "t.plait").predict(data), model.predict(data))
