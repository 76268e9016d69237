"""Preprocessing layers against Keras 3 itself (torch backend): deterministic layers give the same
numbers; random ones are the identity at inference, and in training follow Keras's transform for
a given random factor."""

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import plait  # noqa: E402
from plait.layers import preprocessing as P  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

if keras.backend.backend() != "torch":
    pytest.skip("Keras was imported with another backend", allow_module_level=True)

RNG = np.random.default_rng(0)
IMAGES = RNG.uniform(0, 255, (2, 9, 12, 3)).astype("float32")


def keras_out(layer, x, **kwargs):
    return keras.ops.convert_to_numpy(layer(x, **kwargs))


def close(a, b, atol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=atol, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs", [{"scale": 1 / 255}, {"scale": 1 / 127.5, "offset": -1}, {"scale": [0.1, 0.2, 0.3], "offset": [1, 2, 3]}]
)
def test_rescaling(kwargs):
    close(P.Rescaling(**kwargs)(IMAGES), keras_out(keras.layers.Rescaling(**kwargs), IMAGES))
    ints = IMAGES.astype("int32")
    close(P.Rescaling(**kwargs)(ints), keras_out(keras.layers.Rescaling(**kwargs), ints))


@pytest.mark.parametrize("axis", [-1, None, (1, 3), 2])
@pytest.mark.parametrize("invert", [False, True])
def test_normalization_adapt(axis, invert):
    data = RNG.normal(3, 2, (16, 5, 4, 3)).astype("float32")
    ours, theirs = P.Normalization(axis=axis, invert=invert), keras.layers.Normalization(axis=axis, invert=invert)
    ours.adapt(data)
    theirs.adapt(data)
    close(ours(data), keras_out(theirs, data))
    for w_ours, w_theirs in zip(ours.get_weights(), theirs.get_weights()):
        close(w_ours, w_theirs)
    # Tensors and an iterable of batches (Keras's streaming moments; Keras needs tensorflow for those).
    batches = [data[:5], data[5:11], data[11:]]
    for source in (torch.from_numpy(data), batches, iter(batches)):
        again = P.Normalization(axis=axis, invert=invert)
        again.adapt(source)
        close(again(data), ours(data), atol=1e-4)


@pytest.mark.parametrize(
    "kwargs", [{"mean": 3.0, "variance": 2.0}, {"mean": [1.0, 2.0, 3.0], "variance": [1.0, 4.0, 9.0]}]
)
def test_normalization_given(kwargs):
    close(P.Normalization(**kwargs)(IMAGES), keras_out(keras.layers.Normalization(**kwargs), IMAGES))
    layer = P.Normalization(**kwargs)
    assert layer.get_config()["mean"] == kwargs["mean"]


def test_normalization_errors():
    with pytest.raises(ValueError, match="must be set together"):
        P.Normalization(mean=1.0)
    layer = P.Normalization()
    layer.adapt(np.ones((4, 3), "float32"))
    with pytest.raises(ValueError, match="built for input shape"):
        layer.adapt(np.ones((4, 5), "float32"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"interpolation": "bilinear"},
        {"interpolation": "nearest"},
        {"interpolation": "bicubic"},
        {"antialias": True},
        {"crop_to_aspect_ratio": True},
        {"pad_to_aspect_ratio": True, "fill_value": 7.0},
        {"data_format": "channels_first"},
    ],
)
@pytest.mark.parametrize("size", [(5, 5), (13, 7)])
def test_resizing(kwargs, size):
    images = IMAGES if kwargs.get("data_format") != "channels_first" else IMAGES.transpose(0, 3, 1, 2)
    close(P.Resizing(*size, **kwargs)(images), keras_out(keras.layers.Resizing(*size, **kwargs), images), atol=1e-3)
    uint8 = images.astype("uint8")
    ours = P.Resizing(*size, **kwargs)(uint8)
    assert ours.dtype == torch.uint8
    close(ours, keras_out(keras.layers.Resizing(*size, **kwargs), uint8), atol=1)
    close(P.Resizing(*size, **kwargs)(images[0]), keras_out(keras.layers.Resizing(*size, **kwargs), images[0]), 1e-3)


@pytest.mark.parametrize("size", [(4, 6), (9, 12), (11, 5), (20, 20)])
def test_center_crop(size):
    close(P.CenterCrop(*size)(IMAGES), keras_out(keras.layers.CenterCrop(*size), IMAGES), atol=1e-3)
    ints = IMAGES.astype("int32")
    close(P.CenterCrop(*size)(ints), keras_out(keras.layers.CenterCrop(*size), ints), atol=1e-3)


def test_image_layers_in_a_model():
    inputs = plait.Input(shape=(64, 64, 3))
    x = P.Rescaling(1 / 255)(inputs)
    x = P.Resizing(32, 32)(x)
    x = P.CenterCrop(24, 24)(x)
    assert x.shape == (None, 24, 24, 3)
    model = plait.Model(inputs, x)
    assert model.predict(np.zeros((2, 64, 64, 3), "float32"), verbose=0).shape == (2, 24, 24, 3)


# ---------------------------------------------------------------- random augmentation layers
def nchw(x):
    return torch.as_tensor(np.asarray(x)).permute(0, 3, 1, 2)


def nhwc(x):
    return x.permute(0, 2, 3, 1).numpy()


@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "constant", "nearest"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_affine_transform_matches_keras(fill_mode, interpolation):
    from plait.layers.preprocessing.augmentation import affine_transform

    # (No sample point falls exactly half-way between pixels: "nearest" would then depend on how a
    # backend rounds ties, which differs between torch builds.)
    matrix = np.array(
        [[0.8, -0.5, 3.31, 0.4, 1.1, -2.61, 0, 0], [1.3, 0.2, -4.11, -0.3, 0.7, 5.21, 0, 0]], dtype="float32"
    )
    theirs = keras.ops.image.affine_transform(
        IMAGES, matrix, interpolation=interpolation, fill_mode=fill_mode, fill_value=9.0
    )
    ours = affine_transform(nchw(IMAGES), torch.from_numpy(matrix), interpolation, fill_mode, 9.0)
    close(nhwc(ours), keras.ops.convert_to_numpy(theirs), atol=1e-3)


AUGMENTERS = [
    ("RandomFlip", {"mode": "horizontal"}),
    ("RandomFlip", {"mode": "vertical"}),
    ("RandomFlip", {}),
    ("RandomRotation", {"factor": 0.2}),
    ("RandomRotation", {"factor": (-0.1, 0.3), "fill_mode": "constant", "fill_value": 3.0}),
    ("RandomZoom", {"height_factor": 0.3}),
    ("RandomZoom", {"height_factor": (-0.3, -0.1), "width_factor": 0.4, "interpolation": "nearest"}),
    ("RandomTranslation", {"height_factor": 0.2, "width_factor": (-0.3, 0.1)}),
    ("RandomTranslation", {"height_factor": 0.2, "width_factor": 0.2, "fill_mode": "wrap"}),
    ("RandomContrast", {"factor": 0.5}),
    ("RandomContrast", {"factor": (0.2, 0.6), "value_range": (0, 1)}),
    ("RandomCrop", {"height": 5, "width": 7}),
    ("RandomCrop", {"height": 12, "width": 7}),
]


def _random_factor(name, transformation):
    """Keras's draw, in the form our layer's transform takes."""
    if name == "RandomFlip":
        return {"flips": torch.as_tensor(np.asarray(transformation["flips"])).reshape(-1, 1, 1, 1)}
    if name == "RandomRotation":
        return {"angle": torch.as_tensor(np.asarray(transformation["angle"]))}
    if name == "RandomZoom":
        w, h = (np.asarray(transformation[k]).reshape(-1) for k in ("width_zoom", "height_zoom"))
        return {"zooms": torch.as_tensor(np.stack([w, h], 1))}
    if name == "RandomTranslation":
        return {"shifts": torch.as_tensor(np.asarray(transformation["translations"]))}
    if name == "RandomContrast":
        return {"contrast": torch.as_tensor(np.asarray(transformation["contrast_factor"]))}
    return {"start": tuple(int(v) for v in transformation)}


@pytest.mark.parametrize("name, kwargs", AUGMENTERS)
def test_augmentation_layers(name, kwargs):
    ours, theirs = getattr(P, name)(**kwargs, seed=3), getattr(keras.layers, name)(**kwargs, seed=3)
    # Inference: the identity (as float32), as Keras's with training=False.
    close(ours(IMAGES), keras_out(theirs, IMAGES, training=False))
    assert ours(IMAGES.astype("uint8")).dtype == torch.float32
    # Training, given Keras's random draw: Keras's output.
    transformation = theirs.get_random_transformation(keras.ops.convert_to_tensor(IMAGES), training=True)
    expected = keras.ops.convert_to_numpy(theirs.transform_images(keras.ops.convert_to_tensor(IMAGES), transformation))
    factor = _random_factor(name, transformation)
    if hasattr(ours, "matrix"):
        from plait.layers.preprocessing.augmentation import affine_transform

        got = affine_transform(
            nchw(IMAGES),
            ours.matrix(nchw(IMAGES), *factor.values()),
            ours.interpolation,
            ours.fill_mode,
            ours.fill_value,
        )
    else:
        got = ours.transform(nchw(IMAGES), **factor)
    close(nhwc(got), expected, atol=1e-3)
    # Training through the layer: Keras's output shape; a seed repeats the draws.
    trained = ours(IMAGES, training=True)
    assert tuple(trained.shape) == tuple(expected.shape)
    again = getattr(P, name)(**kwargs, seed=3)(IMAGES, training=True)
    close(trained, again)
    if name != "RandomCrop":
        assert not np.allclose(trained.numpy(), IMAGES) or name == "RandomFlip"
    # Unbatched images work too.
    assert tuple(ours(IMAGES[0], training=True).shape) == tuple(expected.shape[1:])


def test_augmentation_ranges():
    x = torch.as_tensor(IMAGES)
    contrast = P.RandomContrast(0.9)(x, training=True)
    assert contrast.min() >= 0 and contrast.max() <= 255
    layer = P.RandomRotation(0.25, seed=0)
    angles = layer._uniform((1000,), layer.factor[0] * 360, layer.factor[1] * 360, "cpu")
    assert -90 <= angles.min() < -80 and 80 < angles.max() <= 90
    with pytest.raises(ValueError, match="RandomRotation layer .* `factor`"):
        P.RandomRotation(1.5)
    with pytest.raises(ValueError, match="fill_mode"):
        P.RandomZoom(0.1, fill_mode="mirror_everything")


def test_augmentation_in_fit():
    inputs = plait.Input(shape=(9, 12, 3))
    x = P.RandomFlip(seed=1)(inputs)
    x = P.RandomRotation(0.1, seed=2)(x)
    x = P.RandomZoom(0.1, seed=3)(x)
    outputs = plait.layers.Dense(1)(plait.layers.GlobalAveragePooling2D()(x))
    model = plait.Model(inputs, outputs)
    model.compile("sgd", "mse")
    model.fit(IMAGES / 255, np.zeros((2, 1), "float32"), epochs=1, verbose=0)
    direct = model.layers[-1](model.layers[-2](torch.as_tensor(IMAGES / 255)))
    close(model.predict(IMAGES / 255, verbose=0), direct.detach(), atol=1e-5)


# ---------------------------------------------------------------- categorical and text
@pytest.mark.parametrize("mode", ["one_hot", "multi_hot", "count"])
@pytest.mark.parametrize("shape", [(5,), (5, 1), (5, 3)])
def test_category_encoding(mode, shape):
    x = RNG.integers(0, 6, shape).astype("int32")
    if mode == "one_hot" and shape == (5, 3):
        shape = None  # Keras's one_hot keeps the extra axis: (5, 3, 6)
    close(P.CategoryEncoding(6, output_mode=mode)(x), keras_out(keras.layers.CategoryEncoding(6, output_mode=mode), x))
    if mode == "count":
        weights = RNG.uniform(0, 1, x.shape).astype("float32")
        close(
            P.CategoryEncoding(6, output_mode=mode)(x, count_weights=weights),
            keras_out(keras.layers.CategoryEncoding(6, output_mode=mode), x, count_weights=weights),
        )


@pytest.mark.parametrize("mode", ["int", "one_hot", "multi_hot", "count"])
def test_discretization(mode):
    x = RNG.normal(0, 1, (6, 4)).astype("float32")
    x[0, :3] = [0.0, 0.5, -0.5]  # values on the boundaries
    kwargs = {"bin_boundaries": [-0.5, 0.0, 0.5], "output_mode": mode}
    ours, theirs = P.Discretization(**kwargs)(x), keras_out(keras.layers.Discretization(**kwargs), x)
    close(ours, theirs)
    assert (ours.dtype == torch.int64) == (mode == "int")
    # adapt: Keras's quantile summary (its adapt() needs TensorFlow; its summary functions do not).
    from keras.src.layers.preprocessing import discretization as kd

    data = [RNG.normal(size=700).astype("float32"), RNG.exponential(size=300).astype("float32")]
    summary = np.array([[], []], dtype="float32")
    for batch in data:
        summary = kd.merge_summaries(kd.summarize(batch, 0.01), summary, 0.01)
    learned = P.Discretization(num_bins=5)
    learned.adapt(data)
    assert learned.bin_boundaries == kd.get_bin_boundaries(summary, 5).tolist()


# Keras's lookup layers need TensorFlow (not installed), so these check the outputs Keras
# documents in its docstrings (keras/src/layers/preprocessing/*_lookup.py).
def test_integer_lookup_as_documented():
    vocab = [12, 36, 1138, 42]
    data = torch.tensor([[12, 1138, 42], [42, 1000, 36]])
    assert P.IntegerLookup(vocabulary=vocab)(data).tolist() == [[1, 3, 4], [4, 0, 2]]
    adapted = P.IntegerLookup()
    adapted.adapt(data.numpy())
    assert adapted.get_vocabulary() == [-1, 42, 1138, 1000, 36, 12]
    assert adapted(data).tolist() == [[5, 2, 1], [1, 3, 4]]
    oov2 = P.IntegerLookup(vocabulary=vocab, num_oov_indices=2)
    assert oov2(torch.tensor([[12, 1138, 42], [37, 1000, 36]])).tolist() == [[2, 4, 5], [1, 0, 3]]
    multi = P.IntegerLookup(vocabulary=vocab, output_mode="multi_hot")
    assert multi(torch.tensor([[12, 1138, 42, 42], [42, 7, 36, 7]])).tolist() == [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]]
    count = P.IntegerLookup(vocabulary=vocab, output_mode="count")
    assert count(torch.tensor([[12, 1138, 42, 42], [42, 7, 36, 7]])).tolist() == [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]]
    tfidf = P.IntegerLookup(vocabulary=vocab, output_mode="tf_idf", idf_weights=[0.25, 0.75, 0.6, 0.4])
    close(tfidf(torch.tensor([[12, 1138, 42, 42], [42, 7, 36, 7]])), [[0, 0.25, 0, 0.6, 0.8], [1.0, 0, 0.75, 0, 0.4]])
    inverse = P.IntegerLookup(vocabulary=vocab, invert=True)
    assert inverse(torch.tensor([[1, 3, 4], [4, 0, 2]])).tolist() == [[12, 1138, 42], [42, -1, 36]]
    masked = P.IntegerLookup(vocabulary=vocab, mask_token=0)
    assert masked(torch.tensor([[12, 1138, 0], [0, 1000, 36]])).tolist() == [[2, 4, 0], [0, 1, 3]]
    # Inside a model, on integer tensors.
    inputs = plait.Input(shape=(3,), dtype="int64")
    model = plait.Model(inputs, P.IntegerLookup(vocabulary=vocab)(inputs))
    assert model.predict(data.numpy(), verbose=0).tolist() == [[1, 3, 4], [4, 0, 2]]
    with pytest.raises(ValueError, match="num_oov_indices=0.*out-of-vocabulary values \\[1000\\]"):
        P.IntegerLookup(vocabulary=vocab, num_oov_indices=0)(data)


def test_string_lookup_as_documented():
    vocab = ["a", "b", "c", "d"]
    data = np.array([["a", "c", "d"], ["d", "z", "b"]])
    assert P.StringLookup(vocabulary=vocab)(data).tolist() == [[1, 3, 4], [4, 0, 2]]
    adapted = P.StringLookup()
    adapted.adapt(data)
    assert adapted.get_vocabulary() == ["[UNK]", "d", "z", "c", "b", "a"]
    assert adapted(data).tolist() == [[5, 3, 1], [1, 2, 4]]
    tfidf = P.StringLookup(output_mode="tf_idf", vocabulary=vocab, idf_weights=[0.25, 0.75, 0.6, 0.4])
    close(
        tfidf(np.array([["a", "c", "d", "d"], ["d", "z", "b", "z"]])), [[0, 0.25, 0, 0.6, 0.8], [1.0, 0, 0.75, 0, 0.4]]
    )
    assert P.StringLookup(vocabulary=vocab, invert=True)(torch.tensor([[1, 3, 4], [4, 0, 2]])).tolist() == [
        ["a", "c", "d"],
        ["d", "[UNK]", "b"],
    ]
    masked = P.StringLookup(vocabulary=vocab, mask_token="")
    assert masked(np.array([["a", "c", ""], ["", "z", "b"]])).tolist() == [[2, 4, 0], [0, 1, 3]]
    with pytest.raises(TypeError, match="StringLookup layer .* takes strings.*before fit"):
        P.StringLookup(vocabulary=vocab)(torch.tensor([1, 2]))


def test_text_vectorization_as_documented():
    layer = P.TextVectorization(max_tokens=5000, output_mode="int", output_sequence_length=4)
    layer.adapt(["foo bar", "bar baz", "baz bada boom"])
    assert layer.get_vocabulary() == ["", "[UNK]", "baz", "bar", "foo", "boom", "bada"]
    assert layer(np.array([["foo qux bar"], ["qux baz"]])).tolist() == [[4, 1, 3, 0], [1, 2, 0, 0]]
    given = P.TextVectorization(output_mode="int", vocabulary=["earth", "wind", "and", "fire"])
    assert given(np.array([["earth wind and Fire!"], ["fire and earth michigan"]])).tolist() == [
        [2, 3, 4, 5],
        [5, 4, 2, 1],
    ]
    grams = P.TextVectorization(output_mode="multi_hot", ngrams=2)
    grams.adapt(["a b", "b c"])
    assert grams(["a b c", "c"]).tolist() == [[0, 1, 1, 1, 1, 1], [0, 0, 1, 0, 0, 0]]
    # The ids feed a model: TextVectorization on the data, Embedding inside.
    ids = layer(np.array(["foo bar baz", "boom"]))
    inputs = plait.Input(shape=(4,), dtype="int64")
    model = plait.Model(inputs, plait.layers.Embedding(layer.vocabulary_size(), 3)(inputs))
    assert model.predict(ids.numpy(), verbose=0).shape == (2, 4, 3)


def test_farmhash_fingerprint64():
    from plait.layers.preprocessing.farmhash import fingerprint64

    # Reference values from Google's FarmHash (the pyfarmhash bindings), one per length class.
    cases = {
        "": 11160318154034397263,
        "a": 12917804110809363939,
        "abc": 2640714258260161385,
        "hello": 13009744463427800296,
        "fingerprint!": 12114131122460665340,
        "x" * 20: 8233088228747857348,
        "The quick brown fox jumps over": 16670215548606328922,
        "é" * 21: 5480399363705602194,
        "keras " * 11: 16602295119012799578,
        "plait " * 50: 11711803976779430362,
    }
    assert {text: fingerprint64(text) for text in cases} == cases


def test_hashing_as_documented():
    # Keras's Hashing needs TensorFlow; these are the bins its docstring shows.
    assert P.Hashing(num_bins=3)(np.array([["A"], ["B"], ["C"], ["D"], ["E"]])).ravel().tolist() == [1, 0, 1, 1, 2]
    masked = P.Hashing(num_bins=3, mask_value="")
    assert masked(np.array([["A"], ["B"], [""], ["C"], ["D"]])).ravel().tolist() == [1, 1, 0, 2, 2]
    # Integers hash their decimal text, on tensors inside a model as on arrays.
    from plait.layers.preprocessing.farmhash import fingerprint64

    ints = np.array([[1], [42], [-7], [1000]])
    expected = [fingerprint64(str(v)) % 5 for v in ints.ravel()]
    inputs = plait.Input(shape=(1,), dtype="int64")
    model = plait.Model(inputs, P.Hashing(num_bins=5)(inputs))
    assert model.predict(ints, verbose=0).ravel().tolist() == expected
    one_hot = P.Hashing(num_bins=5, output_mode="one_hot")(torch.as_tensor(ints))
    assert one_hot.argmax(-1).tolist() == expected
    with pytest.raises(ValueError, match="salt"):
        P.Hashing(num_bins=3, salt=7)
    # Hashed OOV buckets of the lookups, as Keras's docstrings show.
    lookup = P.StringLookup(vocabulary=["a", "b", "c", "d"], num_oov_indices=2)
    assert lookup(np.array([["a", "c", "d"], ["m", "z", "b"]])).tolist() == [[2, 4, 5], [0, 1, 3]]


def test_text_vectorization_adapts_from_a_dataset_of_batches(tmp_path):
    """keras-io's text_classification_from_scratch: ``adapt(text_ds.map(lambda x, y: x))`` on a
    dataset of string batches (uneven lengths) learns the same vocabulary as the whole array."""
    texts = []
    for label in ("neg", "pos"):
        (tmp_path / label).mkdir()
        for i in range(3):
            text = f"this movie is {'great' if label == 'pos' else 'bad'} " + "and longer text " * i
            (tmp_path / label / f"{i}.txt").write_text(text)
            texts.append(text)
    dataset = plait.utils.text_dataset_from_directory(tmp_path, batch_size=2, shuffle=False, verbose=False)
    from_batches = plait.layers.TextVectorization(max_tokens=20)
    from_batches.adapt(dataset.map(lambda x, y: x))
    whole = plait.layers.TextVectorization(max_tokens=20)
    whole.adapt(np.array(texts))
    assert from_batches.get_vocabulary() == whole.get_vocabulary()
    assert "great" in whole.get_vocabulary()
