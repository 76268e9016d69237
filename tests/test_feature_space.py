"""plait.utils.FeatureSpace against Keras 3.

Keras's own FeatureSpace needs TensorFlow (its ``adapt`` and ``__call__`` run on ``tf.data``),
which this project does not install. So the numbers are checked against the Keras layers it is
made of, applied by hand: Keras's ``Normalization``, ``Discretization``, ``Rescaling`` and
``CategoryEncoding`` run on torch and are the reference for the float features and the one-hot
encoding; Keras's lookup and hashing layers need TensorFlow too, so the categorical features
are checked against plait's own layers (tested against Keras's numbers elsewhere) and against
vocabularies derived by hand. Configs are compared with Keras's FeatureSpace, which can be
built (not adapted) without TensorFlow when every feature is a float feature.
"""

import json
import os
import warnings

import numpy as np
import pytest
import torch

import plait
from plait.utils import FeatureSpace

os.environ.setdefault("KERAS_BACKEND", "torch")  # the Keras reference runs on torch

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept:DeprecationWarning")

RNG = np.random.default_rng(3)
N = 75  # not a multiple of 32: the last adapt batch is short, as in Keras
DATA = {
    "height": RNG.normal(170.0, 10.0, N).astype("float32"),
    "weight": RNG.normal(70.0, 15.0, N).astype("float32"),
    "score": RNG.random(N).astype("float32"),
    "raw": RNG.random(N).astype("float32"),
    "rooms": RNG.integers(1, 6, N),
    "city": RNG.choice(["paris", "lyon", "nice", "lille"], N, p=[0.4, 0.3, 0.2, 0.1]),
    "zip": RNG.integers(10000, 99999, N),
    "tag": RNG.choice(["a", "b", "c"], N),
}


def _keras():
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("the Keras reference runs on its torch backend")
    return keras


def _batches(values, size=32):
    """A column as Keras's FeatureSpace adapts it: batches of 32, each ``(n, 1)``."""
    column = np.asarray(values).reshape(-1, 1)
    return [column[i : i + size] for i in range(0, len(column), size)]


def _float_space():
    return FeatureSpace(
        {
            "height": "float_normalized",
            "weight": FeatureSpace.float_discretized(num_bins=5),
            "score": FeatureSpace.float_rescaled(scale=2.0, offset=-1.0),
            "raw": "float",
        }
    )


def test_float_features_match_the_keras_layers_they_are_made_of():
    """Concat order is by feature name; every block equals Keras's layer to 1e-5. Without
    TensorFlow, Keras's ``adapt`` takes only whole arrays (its Normalization then takes one pass,
    plait's FeatureSpace streams batches of 32 as Keras's does: same statistics up to rounding),
    and its Discretization is fed the same batches of 32 through ``update_state``."""
    keras = _keras()
    space = _float_space()
    columns = {k: DATA[k] for k in ("height", "weight", "score", "raw")}
    space.adapt(columns)
    got = space(columns).numpy()
    norm = keras.layers.Normalization(axis=-1)
    norm.adapt(DATA["height"].reshape(-1, 1))
    disc = keras.layers.Discretization(num_bins=5)
    for batch in _batches(DATA["weight"]):
        disc.update_state(batch)
    disc.finalize_state()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        bins = keras.ops.convert_to_numpy(disc(DATA["weight"].reshape(-1, 1)))
        one_hot = keras.ops.convert_to_numpy(keras.layers.CategoryEncoding(5, output_mode="multi_hot")(bins))
        expected = np.concatenate(
            [
                keras.ops.convert_to_numpy(norm(DATA["height"].reshape(-1, 1))),  # height
                DATA["raw"].reshape(-1, 1),  # raw
                keras.ops.convert_to_numpy(keras.layers.Rescaling(2.0, -1.0)(DATA["score"].reshape(-1, 1))),  # score
                one_hot,  # weight
            ],
            axis=-1,
        )
    assert got.shape == (N, 1 + 1 + 1 + 5)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(space.preprocessors["weight"].bin_boundaries, disc.bin_boundaries, rtol=1e-6)


def _categorical_space(output_mode="concat"):
    return FeatureSpace(
        {
            "rooms": "integer_categorical",
            "city": FeatureSpace.string_categorical(num_oov_indices=0),
            "zip": FeatureSpace.integer_hashed(num_bins=8),
            "tag": "string_hashed",
            "score": FeatureSpace.float_discretized(
                num_bins=3, output_mode="int" if output_mode == "dict" else "one_hot"
            ),
        },
        crosses=[("rooms", "city"), FeatureSpace.cross(("tag", "score"), crossing_dim=7)],
        crossing_dim=16,
        hashing_dim=4,
        output_mode=output_mode,
    )


def _only(space, data=DATA):
    """The columns of ``data`` that ``space`` has as features (a FeatureSpace refuses others, as Keras's)."""
    return {k: v for k, v in data.items() if k in space.features}


def _by_hand(space, data):
    """The encoded blocks of ``space`` computed with its own layers, one by one, and Keras's
    rule: features by name, then crosses by name; one-hot (multi-hot) of each index."""
    keras = _keras()
    col = {k: np.asarray(v).reshape(-1, 1) for k, v in data.items()}
    p = space.preprocessors
    idx = {
        "city": p["city"](col["city"]),
        "rooms": p["rooms"](torch.as_tensor(col["rooms"])),
        "score": p["score"](torch.as_tensor(col["score"])),
        "tag": p["tag"](col["tag"]),
        "zip": p["zip"](torch.as_tensor(col["zip"])),
    }
    crossed = {
        "rooms_X_city": plait.layers.HashedCrossing(16)([idx["rooms"], idx["city"]]),
        "tag_X_score": plait.layers.HashedCrossing(7)([idx["tag"], idx["score"]]),
    }
    sizes = {"city": 4, "rooms": 6, "score": 3, "tag": 4, "zip": 8, "rooms_X_city": 16, "tag_X_score": 7}
    blocks = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for name in ["city", "rooms", "score", "tag", "zip", "rooms_X_city", "tag_X_score"]:
            value = idx.get(name, crossed.get(name)).numpy()
            encoder = keras.layers.CategoryEncoding(sizes[name], output_mode="multi_hot")
            blocks.append(keras.ops.convert_to_numpy(encoder(value)))
    return np.concatenate(blocks, axis=-1), idx, crossed


def test_categorical_features_and_crosses_by_hand():
    space = _categorical_space()
    space.adapt(DATA)
    # Vocabularies by frequency (ties: larger token first), 1 OOV index for rooms, none for city.
    cities, counts = np.unique(DATA["city"], return_counts=True)
    expected_cities = [c for _, c in sorted(zip(counts, cities), reverse=True)]
    assert space.preprocessors["city"].get_vocabulary() == expected_cities
    rooms, counts = np.unique(DATA["rooms"], return_counts=True)
    assert space.preprocessors["rooms"].get_vocabulary() == [-1] + [
        int(r) for _, r in sorted(zip(counts, rooms), reverse=True)
    ]
    got = space(_only(space)).numpy()
    expected, _, _ = _by_hand(space, _only(space))
    assert got.shape == (N, 4 + 6 + 3 + 4 + 8 + 16 + 7)
    np.testing.assert_array_equal(got, expected)
    assert sorted(space.crossers) == ["rooms_X_city", "tag_X_score"]
    assert {k: v.num_tokens for k, v in space.one_hot_encoders.items()}["rooms_X_city"] == 16


def test_dict_output_keeps_int_features_and_crosses():
    space = _categorical_space(output_mode="dict")
    space.adapt(DATA)
    out = space(_only(space))
    assert sorted(out) == ["city", "rooms", "rooms_X_city", "score", "tag", "tag_X_score", "zip"]
    _, idx, crossed = _by_hand(space, _only(space))
    np.testing.assert_array_equal(out["score"].numpy(), idx["score"].numpy())  # output_mode="int"
    assert out["score"].dtype == torch.int64 and out["score"].shape == (N, 1)
    np.testing.assert_array_equal(out["city"].numpy().argmax(-1), idx["city"].numpy()[:, 0])
    np.testing.assert_array_equal(out["rooms_X_city"].numpy().argmax(-1), crossed["rooms_X_city"].numpy()[:, 0])
    one = space({k: v[0] for k, v in _only(space).items()})  # one sample, unbatched
    assert one["city"].shape == (4,) and one["score"].shape == (1,)


def test_a_single_sample_and_every_input_form_give_the_same_numbers():
    space = _categorical_space()
    space.adapt(DATA)
    full = space(_only(space))
    single = space({k: v[5].item() for k, v in _only(space).items()})  # python scalars
    assert single.shape == (full.shape[1],)
    torch.testing.assert_close(single, full[5])
    as_lists = space({k: v.tolist() for k, v in _only(space).items()})
    as_tensors = space({k: (torch.as_tensor(v) if v.dtype.kind != "U" else v) for k, v in _only(space).items()})
    torch.testing.assert_close(as_lists, full)
    torch.testing.assert_close(as_tensors, full)


class _Rows(torch.utils.data.Dataset):
    def __len__(self):
        return N

    def __getitem__(self, i):
        return {k: v[i] for k, v in DATA.items()}, int(i % 2)


class _Batches(plait.utils.PyDataset):
    def __len__(self):
        return 3

    def __getitem__(self, i):
        return {k: v[i * 32 : (i + 1) * 32] for k, v in DATA.items()}


@pytest.mark.parametrize(
    "make",
    [
        lambda: {k: v.tolist() for k, v in DATA.items()},
        lambda: [{k: v[i : i + 32] for k, v in DATA.items()} for i in range(0, N, 32)],
        lambda: torch.utils.data.DataLoader(_Rows(), batch_size=32, collate_fn=_collate),
        lambda: _Batches(),
        lambda: ({k: v[i : i + 32] for k, v in DATA.items()} for i in range(0, N, 32)),
    ],
    ids=["dict_of_lists", "list_of_dicts", "torch_loader_with_labels", "py_dataset", "generator"],
)
def test_adapt_takes_dicts_datasets_and_iterables(make):
    reference = _categorical_space()
    reference.adapt(DATA)
    space = _categorical_space()
    space.adapt(make())
    torch.testing.assert_close(space(_only(space)), reference(_only(space)))
    floats = _float_space()
    floats.adapt(make())
    other = _float_space()
    other.adapt(DATA)
    torch.testing.assert_close(floats(_only(floats)), other(_only(floats)), rtol=1e-6, atol=1e-6)


def _collate(rows):
    xs = {k: [r[0][k] for r in rows] for k in rows[0][0]}
    return {k: np.asarray(v) for k, v in xs.items()}, torch.tensor([r[1] for r in rows])


def test_encoded_features_feed_a_model_and_numeric_inputs_exist():
    space = _categorical_space()
    space.adapt(DATA)
    encoded = space.get_encoded_features()
    assert encoded.shape == (None, 48)
    outputs = plait.layers.Dense(1, activation="sigmoid")(plait.layers.Dense(8, activation="relu")(encoded))
    model = plait.Model(encoded, outputs)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(space(_only(space)), (DATA["rooms"] > 2).astype("float32"), epochs=3, verbose=0).history
    assert len(history["loss"]) == 3
    with pytest.raises(ValueError, match=r"features \['city', 'tag'\] hold strings"):
        space.get_inputs()
    floats = _float_space()
    floats.adapt(DATA)
    inputs = floats.get_inputs()
    assert sorted(inputs) == ["height", "raw", "score", "weight"] and inputs["height"].shape == (None, 1)
    dict_space = _categorical_space(output_mode="dict")
    dict_space.adapt(DATA)
    widths = {k: v.shape[-1] for k, v in dict_space.get_encoded_features().items()}
    assert widths == {k: v.shape[-1] for k, v in dict_space(_only(dict_space)).items()}


def test_config_matches_keras_and_round_trips():
    keras = _keras()
    theirs = keras.utils.FeatureSpace(
        {
            "height": "float_discretized",
            "raw": "float_normalized",
            "weight": keras.utils.FeatureSpace.float_discretized(num_bins=5),
            "score": keras.utils.FeatureSpace.float_rescaled(scale=2.0, offset=-1.0),
        },
    ).get_config()
    cross = keras.utils.FeatureSpace.cross(("height", "weight"), crossing_dim=8)
    theirs["crosses"] = [keras.saving.serialize_keras_object(cross)]  # its HashedCrossing needs TensorFlow
    theirs = json.loads(json.dumps(theirs))  # as written in a file (tuples become lists)
    mine = FeatureSpace(
        {
            "height": "float_discretized",
            "raw": "float_normalized",
            "weight": FeatureSpace.float_discretized(num_bins=5),
            "score": FeatureSpace.float_rescaled(scale=2.0, offset=-1.0),
        },
        crosses=[FeatureSpace.cross(("height", "weight"), crossing_dim=8)],
    ).get_config()
    mine = json.loads(json.dumps(mine))
    assert {k: v for k, v in mine.items() if k != "features"} == {k: v for k, v in theirs.items() if k != "features"}
    for name, spec in theirs["features"].items():
        got = mine["features"][name]
        assert (got["module"], got["class_name"]) == (spec["module"], spec["class_name"])
        assert {k: v for k, v in got["config"].items() if k != "preprocessor"} == {
            k: v for k, v in spec["config"].items() if k != "preprocessor"
        }
        ours, keras_layer = got["config"]["preprocessor"], spec["config"]["preprocessor"]
        assert ours["class_name"] == keras_layer["class_name"] and ours["module"] == keras_layer["module"]
        same = {k for k in keras_layer["config"] if k not in ("dtype", "name", "trainable")}
        assert {k: ours["config"][k] for k in same} == {k: keras_layer["config"][k] for k in same}
    rebuilt = FeatureSpace.from_config(theirs)  # Keras's config builds plait's FeatureSpace
    rebuilt.adapt(DATA)
    again = FeatureSpace.from_config(rebuilt.get_config())
    again.adapt(DATA)
    data = {k: DATA[k] for k in ("height", "weight", "score", "raw")}
    torch.testing.assert_close(again(data), rebuilt(data))


def test_save_and_load_through_a_keras_file(tmp_path):
    space = _categorical_space()
    space.adapt(DATA)
    floats = _float_space()
    floats.adapt(DATA)
    for i, fs in enumerate((space, floats)):
        path = tmp_path / f"space{i}.keras"
        fs.save(path)
        loaded = plait.models.load_model(path)
        assert isinstance(loaded, FeatureSpace)
        data = _only(fs)
        torch.testing.assert_close(loaded(data), fs(data))
    with pytest.raises(ValueError, match="'.keras' file"):
        space.save(tmp_path / "space.h5")


def test_preset_and_custom_preprocessors():
    """A Normalization given its mean and variance is not adapted; a feature with a layer of
    your own (TextVectorization, multi-hot) is adapted and concatenated as a float block."""
    space = FeatureSpace(
        {
            "height": FeatureSpace.feature(
                dtype="float32",
                preprocessor=plait.layers.Normalization(mean=170.0, variance=100.0),
                output_mode="float",
            ),
            "tag": FeatureSpace.feature(
                dtype="string",
                preprocessor=plait.layers.TextVectorization(output_mode="multi_hot"),
                output_mode="float",
            ),
        }
    )
    space.adapt(DATA)
    got = space({"height": [180.0, 160.0], "tag": ["a", "zz"]})
    vocab = space.preprocessors["tag"].get_vocabulary()
    expected_tag = np.zeros((2, len(vocab)), "float32")
    expected_tag[0, vocab.index("a")] = 1.0
    expected_tag[1, 0] = 1.0  # out of vocabulary
    np.testing.assert_allclose(got.numpy(), np.concatenate([[[1.0], [-1.0]], expected_tag], axis=1), rtol=1e-6)
    no_adapt = FeatureSpace({"height": FeatureSpace.feature("float32", plait.layers.Rescaling(0.5), "float")})
    torch.testing.assert_close(no_adapt({"height": [4.0]}), torch.tensor([[2.0]]))  # nothing to adapt


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: FeatureSpace({}), "non-empty dict"),
        (lambda: FeatureSpace({"a": "float"}, output_mode="list"), "'concat' or 'dict'"),
        (lambda: FeatureSpace({"a": "floats"}), "invalid type for feature 'a'"),
        (lambda: FeatureSpace({"a": "float"}, crosses=[("a", "b")]), r"Unknown: \['b'\]"),
        (lambda: FeatureSpace.feature("float32", plait.layers.Rescaling(1.0), "dense"), "output_mode"),
        (lambda: FeatureSpace.cross(("a", "b"), 4, output_mode="float"), "output_mode"),
        (lambda: FeatureSpace.float_discretized(num_bins=3, bin_boundaries=[0.0]), "exactly one"),
    ],
)
def test_bad_arguments_get_clear_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_data_gets_clear_errors():
    space = _categorical_space()
    with pytest.raises(ValueError, match="call `.adapt"):
        space(_only(space))
    with pytest.raises(ValueError, match="dict of arrays or lists"):
        space.adapt(42)
    with pytest.raises(ValueError, match="must be a dict"):
        space.adapt([np.zeros(3)])
    with pytest.raises(ValueError, match="'city' is missing"):
        space.adapt({k: v for k, v in DATA.items() if k != "city"})
    space.adapt(DATA)
    with pytest.raises(ValueError, match="called on a dict"):
        space(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"Missing: \['zip'\]; unknown: \['zap'\]"):
        space({**{k: v for k, v in _only(space).items() if k != "zip"}, "zap": DATA["zip"]})
    with pytest.raises(TypeError, match="feature 'rooms' expects integers"):
        space({**_only(space), "rooms": DATA["rooms"] + 0.5})
    int_concat = FeatureSpace({"rooms": FeatureSpace.integer_categorical(output_mode="int")})
    int_concat.adapt(DATA)
    with pytest.raises(ValueError, match="cannot concatenate feature 'rooms'"):
        int_concat({"rooms": [1, 2]})
    unknown_size = FeatureSpace({"s": FeatureSpace.feature("float32", plait.layers.Rescaling(1.0), "one_hot")})
    with pytest.raises(ValueError, match="cannot be one-hot encoded"):
        unknown_size({"s": [1.0]})
