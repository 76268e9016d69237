"""``image_dataset_from_directory``, ``text_dataset_from_directory``, the image helpers
(``load_img`` & co.) and the ``plait.preprocessing`` namespace, against Keras 3 itself.

Keras's ``image_dataset_from_directory`` builds a ``tf.data.Dataset``, and TensorFlow is not
installed here, so its datasets cannot be built. Everything before ``tf.data`` is Keras's own
code that runs without TensorFlow, and the tests compare plait with that: the argument checks
and their messages (``keras.utils.image_dataset_from_directory`` itself raises them),
``index_directory`` (file order, labels, class names, the seeded shuffle and its printed line),
``get_training_or_validation_split`` (the split and its printed line), and Keras's TensorFlow-free
image loader ``_load_image_grain`` (Pillow decoding + Keras's torch-backend resize) for the
pixels; labels against ``keras.utils.to_categorical``; texts against the files' bytes (what
``tf.io.read_file`` gives). The pixels of Keras's tf.data pipeline itself come from a fixture
that Keras 3.15.1 on TensorFlow 2.21 wrote (tests/data/tf_image_dataset_expected.npz).
"""

import contextlib
import gc
import os
import pathlib
import warnings

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
Image = pytest.importorskip("PIL.Image")

from keras.src.utils import dataset_utils as keras_dataset_utils  # noqa: E402  (after KERAS_BACKEND)
from keras.src.utils import image_dataset_utils as keras_image_dataset_utils  # noqa: E402
from keras.src.utils import text_dataset_utils as keras_text_dataset_utils  # noqa: E402

import plait  # noqa: E402
from plait.utils import directory_datasets  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

if keras.backend.backend() != "torch":
    pytest.skip("Keras was imported with another backend", allow_module_level=True)

FORMATS = directory_datasets.IMAGE_FORMATS
# (relative path, PIL mode, (height, width)): several formats, modes, sizes, an upper-case
# extension, a nested folder, and files every listing must skip.
IMAGES = [
    ("birds/b1.png", "RGB", (20, 30)),
    ("birds/B2.JPG", "RGB", (25, 18)),
    ("cats/c1.png", "RGBA", (16, 16)),
    ("cats/c2.bmp", "RGB", (17, 31)),
    ("cats/sub/c3.png", "L", (22, 22)),
    ("dogs/d1.gif", "P", (19, 21)),
    ("dogs/d2.jpeg", "RGB", (40, 24)),
    ("dogs/d3.png", "RGB", (8, 8)),
    (".hidden/h.png", "RGB", (5, 5)),  # a hidden folder is no class (listed without inferred labels)
    ("top.png", "RGB", (6, 9)),  # only listed without inferred labels
]
TEXTS = {"neg/a.txt": "bad film.", "neg/b.txt": "Worst ever", "pos/c.txt": "great film", "pos/sub/d.txt": "héllo wörld"}


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for rel, mode, (h, w) in IMAGES:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        channels = {"RGB": 3, "RGBA": 4, "L": 1, "P": 1}[mode]
        pixels = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
        if mode in ("L", "P"):
            img = Image.fromarray(pixels[..., 0], "L")
            img = img.convert("P") if mode == "P" else img
        else:
            img = Image.fromarray(pixels, mode)
        img.save(path, format={"JPG": "JPEG"}.get(path.suffix[1:].upper(), path.suffix[1:].upper()))
    (root / "dogs" / "notes.md").write_text("not an image")
    return str(root)


@pytest.fixture(scope="module")
def text_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("texts")
    for rel, text in TEXTS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(text.encode("utf-8"))
    (root / "pos" / "skip.md").write_text("not a .txt")
    return str(root)


def keras_index(capsys, *args, **kwargs):
    out = keras_dataset_utils.index_directory(*args, **kwargs)
    return out, capsys.readouterr().out


def plait_index(capsys, *args, **kwargs):
    out = directory_datasets.index_directory(*args, **kwargs)
    return out, capsys.readouterr().out


@pytest.mark.parametrize(
    "labels, class_names, shuffle, seed",
    [
        ("inferred", None, False, None),
        ("inferred", None, True, 1337),
        ("inferred", ["dogs", "birds"], True, 7),
        (None, None, True, 3),
        ([0, 1, 0, 2, 1, 1, 0, 2, 1, 3], None, True, 11),
    ],
)
def test_file_index_matches_keras(image_dir, capsys, labels, class_names, shuffle, seed):
    kw = dict(formats=FORMATS, class_names=class_names, shuffle=shuffle, seed=seed)
    (k_paths, k_labels, k_classes), k_out = keras_index(
        capsys, image_dir, list(labels) if isinstance(labels, list) else labels, **kw
    )
    (p_paths, p_labels, p_classes), p_out = plait_index(capsys, image_dir, labels, **kw)
    assert p_paths == k_paths and p_classes == k_classes and p_out == k_out
    assert (p_labels is None) == (k_labels is None)
    if k_labels is not None:
        assert np.asarray(p_labels).tolist() == np.asarray(k_labels).tolist()
    if labels == "inferred" and not shuffle:
        assert p_out == "Found 8 files belonging to 3 classes.\n"
        assert [os.path.relpath(p, image_dir) for p in p_paths][:3] == ["birds/B2.JPG", "birds/b1.png", "cats/c1.png"]


@contextlib.contextmanager
def keras_leaks():
    """Keras's own leaks, collected quietly: ``_load_image_grain`` leaves a GIF's file open and
    ``index_directory`` leaves its ThreadPool running when it raises."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            yield
        finally:
            gc.collect()


def keras_images(paths, image_size, channels, interpolation="bilinear", data_format="channels_last", **kw):
    # Keras's TensorFlow-free loader: Pillow decoding, then keras.ops.image.resize on torch.
    load = keras_image_dataset_utils._load_image_grain
    with keras_leaks():
        images = [np.asarray(load(p, image_size, channels, interpolation, data_format, **kw)) for p in paths]
    return np.stack(images)


# Keras's TensorFlow-free loader gives its tf.data pipeline's numbers for these (RGB and RGBA,
# bilinear and nearest, the crop); its bicubic, area, padding and grayscale differ from
# TensorFlow's, which plait follows (test_image_batches_match_keras_on_tensorflow).
@pytest.mark.parametrize(
    "color_mode, interpolation, options",
    [
        ("rgb", "bilinear", {}),
        ("rgba", "bilinear", {}),
        ("rgb", "bilinear", {"crop_to_aspect_ratio": True}),
        ("rgb", "nearest", {"data_format": "channels_first"}),
    ],
)
def test_image_batches_match_keras(image_dir, capsys, color_mode, interpolation, options):
    ds = plait.utils.image_dataset_from_directory(
        image_dir, color_mode=color_mode, image_size=(12, 10), batch_size=3, shuffle=False,
        interpolation=interpolation, **options,
    )  # fmt: skip
    paths, labels, class_names = keras_dataset_utils.index_directory(image_dir, "inferred", FORMATS, shuffle=False)
    assert capsys.readouterr().out == "Found 8 files belonging to 3 classes.\n" * 2
    assert ds.file_paths == paths and ds.class_names == class_names == ["birds", "cats", "dogs"]
    assert len(ds) == 3 and [len(x) for x, _ in ds] == [3, 3, 2]
    images = torch.cat([x for x, _ in ds])
    got_labels = torch.cat([y for _, y in ds])
    assert images.dtype == torch.float32 and got_labels.dtype == torch.int32
    channels = {"rgb": 3, "rgba": 4, "grayscale": 1}[color_mode]
    data_format = options.pop("data_format", "channels_last")
    expected = keras_images(paths, (12, 10), channels, interpolation, data_format, **options)
    assert images.shape == expected.shape
    np.testing.assert_allclose(images.numpy(), expected, atol=1e-3)
    assert got_labels.tolist() == labels.tolist()


def test_image_batches_match_keras_on_tensorflow(tmp_path):
    # tests/data/tf_image_dataset_expected.npz (written by tests/data/make_tf_image_dataset_expected.py):
    # Keras 3.15.1's image_dataset_from_directory on TensorFlow 2.21 (its default tf.data pipeline), on
    # PNGs of the stored `input_*` arrays (a/0.png, a/1.png, b/0.png, b/1.png), image_size=(12, 10),
    # shuffle=False; one entry per run below.
    # The resize kernels, the padding and the grayscale conversion are TensorFlow's there.
    expected = np.load(os.path.join(os.path.dirname(__file__), "data", "tf_image_dataset_expected.npz"))
    for i, rel in enumerate(expected["paths"]):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        Image.fromarray(expected[f"input_{i}"]).save(tmp_path / rel)
    runs = {
        "bilinear": {}, "nearest": {"interpolation": "nearest"}, "bicubic": {"interpolation": "bicubic"},
        "area": {"interpolation": "area"}, "pad_bilinear": {"pad_to_aspect_ratio": True},
        "pad_bicubic": {"pad_to_aspect_ratio": True, "interpolation": "bicubic"},
        "crop_area": {"crop_to_aspect_ratio": True, "interpolation": "area"}, "grayscale": {"color_mode": "grayscale"},
        **{m: {"interpolation": m} for m in ("lanczos3", "lanczos5", "gaussian", "mitchellcubic")},
    }  # fmt: skip
    for name, kw in runs.items():
        ds = plait.utils.image_dataset_from_directory(
            tmp_path, image_size=(12, 10), batch_size=3, shuffle=False, verbose=False, **kw
        )
        assert [os.path.relpath(p, tmp_path) for p in ds.file_paths] == expected["paths"].tolist()
        images, labels = (torch.cat(parts).numpy() for parts in zip(*ds))
        assert labels.tolist() == expected["labels"].tolist()
        np.testing.assert_allclose(images, expected[name], atol=1e-3, err_msg=name)


def test_label_modes_and_unbatched(image_dir):
    kw = dict(image_size=(4, 4), shuffle=False, verbose=False)
    ints = torch.cat([y for _, y in plait.utils.image_dataset_from_directory(image_dir, **kw)])
    cat = torch.cat([y for _, y in plait.utils.image_dataset_from_directory(image_dir, label_mode="categorical", **kw)])
    assert cat.dtype == torch.float32
    np.testing.assert_array_equal(cat.numpy(), keras.utils.to_categorical(ints.numpy(), 3))
    binary = plait.utils.image_dataset_from_directory(
        image_dir, label_mode="binary", class_names=["dogs", "cats"], **kw
    )
    x, y = binary[0]
    assert binary.class_names == ["dogs", "cats"] and y.dtype == torch.float32 and y.shape == (6, 1)
    assert y[:, 0].tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]  # dogs' 3 files first (class_names' order), then cats'
    no_labels = plait.utils.image_dataset_from_directory(image_dir, labels=None, **kw)
    assert isinstance(no_labels[0], torch.Tensor) and len(no_labels.file_paths) == 10 and no_labels.class_names is None
    single = plait.utils.image_dataset_from_directory(image_dir, batch_size=None, **kw)
    image, label = single[2]
    assert len(single) == 8 and image.shape == (4, 4, 3) and label.dtype == torch.int32 and label.ndim == 0
    torch.testing.assert_close(image, plait.utils.image_dataset_from_directory(image_dir, **kw)[0][0][2])
    assert len(single.take(3)) == 3 and len(single.take(-1)) == 8
    assert int(single.cardinality()) == 8 and single.map(lambda x, y: x).cardinality().numpy() == 8
    first_images, first_labels = next(plait.utils.image_dataset_from_directory(image_dir, **kw).as_numpy_iterator())
    assert isinstance(first_images, np.ndarray) and first_labels.tolist() == ints[:8].tolist()


def test_shuffle_and_split_match_keras(image_dir, capsys):
    train, val = plait.utils.image_dataset_from_directory(
        image_dir, image_size=(6, 6), batch_size=2, seed=42, validation_split=0.3, subset="both"
    )
    out = capsys.readouterr().out
    paths, labels, _ = keras_dataset_utils.index_directory(image_dir, "inferred", FORMATS, shuffle=True, seed=42)
    k_train = keras_dataset_utils.get_training_or_validation_split(paths, labels, 0.3, "training")
    k_val = keras_dataset_utils.get_training_or_validation_split(paths, labels, 0.3, "validation")
    assert (
        out
        == capsys.readouterr().out
        == ("Found 8 files belonging to 3 classes.\nUsing 6 files for training.\nUsing 2 files for validation.\n")
    )
    # Keras's tf.data shuffle reorders the training files within a buffer: the same set of files.
    assert sorted(train.file_paths) == sorted(k_train[0]) and val.file_paths == k_val[0]
    assert [y for _, ys in val for y in ys.tolist()] == k_val[1].tolist()
    first = [train.file_paths[i] for i in train._order]
    assert [y for _, ys in train for y in ys.tolist()] == k_train[1].tolist()
    train.on_epoch_end()  # a new epoch: reshuffled, the same files with their labels
    order = [train.file_paths[i] for i in train._order]
    assert order != first and sorted(order) == sorted(first)
    label_of = dict(zip(*k_train))
    xs, ys = zip(*train)
    assert [int(y) for y in torch.cat(ys)] == [label_of[p] for p in order]
    training_only = plait.utils.image_dataset_from_directory(
        image_dir, image_size=(6, 6), seed=42, validation_split=0.3, subset="training", verbose=False
    )
    assert training_only.file_paths == train.file_paths and capsys.readouterr().out == "Using 6 files for training.\n"


def test_text_batches_match_keras(text_dir, capsys):
    ds = plait.utils.text_dataset_from_directory(text_dir, batch_size=3, shuffle=False)
    paths, labels, class_names = keras_dataset_utils.index_directory(text_dir, "inferred", (".txt",), shuffle=False)
    assert capsys.readouterr().out == "Found 4 files belonging to 2 classes.\n" * 2
    assert ds.file_paths == paths and ds.class_names == class_names == ["neg", "pos"]
    texts = [t for x, _ in ds for t in x.numpy()]
    assert texts == [pathlib.Path(p).read_bytes() for p in paths]  # tf.io.read_file's bytes
    assert [t.decode() for t in texts] == [
        keras_text_dataset_utils._path_to_string_content_grain(p, None) for p in paths
    ]
    assert [y for _, ys in ds for y in ys.tolist()] == labels.tolist() == [0, 0, 1, 1]
    short = plait.utils.text_dataset_from_directory(text_dir, max_length=4, shuffle=False, labels=None, verbose=False)
    assert list(short[0]) == [b"bad ", b"Wors", b"grea", "héllo".encode()[:4]]  # max_length counts bytes, as tf's
    vectorize = plait.layers.TextVectorization(output_mode="int")
    vectorize.adapt(short[0])
    assert vectorize(ds[0][0]).shape[0] == 3
    train, val = plait.utils.text_dataset_from_directory(
        text_dir, batch_size=2, seed=5, validation_split=0.5, subset="both", label_mode="binary"
    )
    k_paths, _, _ = keras_dataset_utils.index_directory(text_dir, "inferred", (".txt",), seed=5)
    assert val.file_paths == k_paths[2:] and sorted(train.file_paths) == sorted(k_paths[:2])
    assert val[0][1].shape == (2, 1)


def test_bad_arguments_raise_as_keras(image_dir, tmp_path):
    cases = [
        dict(directory=str(tmp_path / "missing")),
        dict(labels=[0, 1]),
        dict(labels="folders"),
        dict(labels=[0] * 10, class_names=["cats"]),
        dict(label_mode="sparse"),
        dict(color_mode="cmyk"),
        dict(subset="training"),
        dict(validation_split=0.2),
        dict(validation_split=1.5, subset="training", seed=1),
        dict(validation_split=0.2, subset="training"),
        dict(validation_split=0.2, subset="test", seed=1),
        dict(label_mode="binary"),
        dict(class_names=["cats", "fish"]),
        dict(image_size=(1, 2, 3)),
        dict(interpolation="cubic"),
    ]
    for case in cases:
        kwargs = {"directory": image_dir, "verbose": False, **case}
        with keras_leaks(), pytest.raises(Exception) as keras_error:
            keras.utils.image_dataset_from_directory(**kwargs)
        with pytest.raises(ValueError) as plait_error:
            plait.utils.image_dataset_from_directory(**kwargs)
        if "directory" in case:  # Keras's os.listdir error; plait's is also a FileNotFoundError, naming the argument
            assert isinstance(plait_error.value, FileNotFoundError) and "`directory`" in str(plait_error.value)
        else:
            assert isinstance(keras_error.value, ValueError), case
            assert str(plait_error.value) == str(keras_error.value), case
    with pytest.raises(ValueError, match="label_mode"):
        plait.utils.text_dataset_from_directory(image_dir, label_mode="onehot")


def test_image_helpers_match_keras(image_dir, tmp_path):
    path = os.path.join(image_dir, "dogs", "d2.jpeg")
    for kw in [
        {},
        {"color_mode": "grayscale", "target_size": (10, 7)},
        {"color_mode": "rgba", "target_size": (9, 9), "interpolation": "bicubic", "keep_aspect_ratio": True},
        {"target_size": (13, 30), "interpolation": "lanczos", "keep_aspect_ratio": True},
    ]:
        ours, theirs = plait.utils.load_img(path, **kw), keras.utils.load_img(path, **kw)
        assert ours.mode == theirs.mode and ours.size == theirs.size
        for data_format in ("channels_last", "channels_first"):
            np.testing.assert_array_equal(
                plait.utils.img_to_array(ours, data_format), keras.utils.img_to_array(theirs, data_format)
            )
    array = np.random.default_rng(1).uniform(-3, 5, (6, 5, 3)).astype("float32")
    for channels in (1, 3, 4):
        a, b = (
            plait.utils.array_to_img(array[..., :1].repeat(channels, -1)),
            keras.utils.array_to_img(array[..., :1].repeat(channels, -1)),
        )
        assert a.mode == b.mode and np.array_equal(np.asarray(a), np.asarray(b))
    plait.utils.save_img(tmp_path / "p.png", torch.from_numpy(array))
    keras.utils.save_img(tmp_path / "k.png", array)
    np.testing.assert_array_equal(
        np.asarray(Image.open(tmp_path / "p.png")), np.asarray(Image.open(tmp_path / "k.png"))
    )
    with pytest.raises(ValueError, match="color_mode"):
        plait.utils.load_img(path, color_mode="cmyk")
    images = np.random.default_rng(2).uniform(0, 255, (2, 17, 11, 3)).astype("float32")
    for x, size, kw in [
        (images, (8, 8), {}),
        (images[0], (5, 12), {"interpolation": "nearest"}),
        (images.round().astype("uint8"), (9, 6), {"interpolation": "bicubic"}),
        (images.transpose(0, 3, 1, 2), (7, 7), {"data_format": "channels_first"}),
    ]:
        ours, theirs = (
            plait.preprocessing.image.smart_resize(x, size, **kw),
            keras.preprocessing.image.smart_resize(x, size, **kw),
        )
        assert isinstance(ours, np.ndarray) and ours.dtype == theirs.dtype
        np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_preprocessing_namespace_matches_keras():
    public = lambda module: sorted(n for n in dir(module) if not n.startswith("_"))  # noqa: E731
    assert public(plait.preprocessing) == public(keras.preprocessing)
    assert public(plait.preprocessing.image) == public(keras.preprocessing.image)
    assert public(plait.preprocessing.sequence) == public(keras.preprocessing.sequence)
    assert plait.preprocessing.timeseries_dataset_from_array is plait.utils.timeseries_dataset_from_array
    assert plait.preprocessing.sequence.pad_sequences is plait.utils.pad_sequences
    for name in ("load_img", "img_to_array", "array_to_img", "save_img", "image_dataset_from_directory"):
        assert hasattr(plait.utils, name) and hasattr(keras.utils, name)


def test_fit_a_cnn_on_an_image_folder(tmp_path, capsys):
    # keras-io's image_classification_from_scratch, small: a folder per class, fit with validation_data.
    rng = np.random.default_rng(3)
    for c, name in enumerate(("cat", "dog")):
        (tmp_path / name).mkdir()
        for i in range(8):
            pixels = rng.integers(0, 80, (14 + i, 12, 3)) + 150 * np.eye(3, dtype=int)[c]
            Image.fromarray(pixels.astype("uint8")).save(tmp_path / name / f"{i}.png")
    train_ds, val_ds = plait.utils.image_dataset_from_directory(
        tmp_path, validation_split=0.25, subset="both", seed=1337, image_size=(12, 12), batch_size=4
    )
    assert "Found 16 files belonging to 2 classes." in capsys.readouterr().out
    plait.utils.set_random_seed(0)
    model = plait.Sequential(
        [
            plait.Input((12, 12, 3)),
            plait.layers.Rescaling(1.0 / 255),
            plait.layers.Conv2D(4, 3, activation="relu"),
            plait.layers.GlobalAveragePooling2D(),
            plait.layers.Dense(1),
        ]
    )
    model.compile(optimizer=plait.optimizers.Adam(1e-2), loss=plait.losses.BinaryCrossentropy(from_logits=True))
    train_ds = train_ds.map(lambda x, y: (x, y.float())).prefetch(2)
    history = model.fit(train_ds, epochs=3, validation_data=val_ds, verbose=0)
    assert sorted(history.history) == ["loss", "val_loss"] and len(history.history["val_loss"]) == 3
    images, labels = zip(*val_ds)
    x, y = torch.cat(images).numpy(), torch.cat(labels).numpy().astype("float32")
    np.testing.assert_allclose(model.evaluate(val_ds, verbose=0), model.evaluate(x, y, batch_size=4, verbose=0), 1e-6)
    np.testing.assert_allclose(model.predict(val_ds, verbose=0), model.predict(x, verbose=0), atol=1e-6)
