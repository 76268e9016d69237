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
        out = model(x)
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
    for model in (wrapped, lam):
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
    with pytest.raises(ValueError, match=r"mlp.weights.h5.*'dense_\d+/kernel' has shape \(32, 48\).*\(32, 32\)"):
        load_weights(wider, tmp_path / "mlp.weights.h5")
    shorter = plait.Model(inputs, plait.layers.Dense(32, activation="relu")(inputs))
    with pytest.raises(
        ValueError, match=r"mlp.weights.h5' has weights for layers \[.dense_1., .dense_2.\] that model .* does not have"
    ):
        load_weights(shorter, tmp_path / "mlp.weights.h5")
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
