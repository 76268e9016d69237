"""Fixes that keras-io's example programs called for, each checked against Keras 3 (torch
backend): metric targets and configs, saving a compile with metric objects, dataset batches, a
folder image pipeline, tensors from lists of arrays, symbolic dtypes, rank-one targets, layers and
models built by hand. The example programs themselves gave way to our own programs in the
``test_*_programs_against_keras.py`` files.
"""

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras_lib = pytest.importorskip("keras")

import plait  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

if keras_lib.backend.backend() != "torch":
    pytest.skip("Keras was imported with another backend", allow_module_level=True)


@pytest.fixture(autouse=True)
def one_thread():
    """The models here are small: a second intra-op thread only waits on a busy machine. Keras's
    automatic names start afresh for the tests after these (without its slow garbage collection)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    keras_lib.utils.clear_session(free_memory=False)
    yield
    keras_lib.utils.clear_session(free_memory=False)
    torch.set_num_threads(threads)


rng = np.random.default_rng(0)


# (drawn here so that the data of the examples after them stays as it was)
mnist_x = rng.integers(0, 256, (80, 28, 28)).astype("uint8")
mnist_y = rng.integers(0, 10, 80).astype("uint8")


# (drawn here so that the data of the examples after them stays as it was)
ford_x = rng.standard_normal((48, 176)).astype("float64")
ford_y = rng.choice([-1, 1], 48)


# IMDB-like token lists (drawn here so that the data of the examples after them stays as it was).
imdb_lengths = rng.integers(5, 40, 48)
imdb_x = [list(rng.integers(1, 200, n)) for n in imdb_lengths]
imdb_y = rng.integers(0, 2, 48)


# --- Fixes these examples called for ---------------------------------------------------------------


def test_categorical_accuracies_take_bool_one_hot_targets():
    """addition_rnn's targets are a bool one-hot array: Keras's argmax casts it; torch's refuses bool."""
    y_true = np.eye(4, dtype=bool)[[0, 2, 1, 3, 3]]
    y_pred = rng.random((5, 4)).astype("float32")
    for name in ("CategoricalAccuracy", "TopKCategoricalAccuracy"):
        kwargs = {"k": 2} if name.startswith("TopK") else {}
        ours, theirs = getattr(plait.metrics, name)(**kwargs), getattr(keras_lib.metrics, name)(**kwargs)
        ours.update_state(torch.as_tensor(y_true), torch.as_tensor(y_pred))
        theirs.update_state(y_true, y_pred)
        assert float(ours.result()) == pytest.approx(float(theirs.result()))


# (drawn here so that the data of the examples after them stays as it was)
nab_days = np.sin(np.linspace(0, 8 * np.pi, 96)) * 20 + 40 + rng.normal(0, 1, 96)


@pytest.mark.parametrize("name", ["TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives"])
@pytest.mark.parametrize("thresholds", [None, 0.3, [0.2, 0.6]])
def test_confusion_counts_match_keras(name, thresholds):
    """imbalanced_classification's metrics: weighted counts at thresholds, config, lookup by name."""
    y_true = rng.integers(0, 2, (12, 1)).astype("float32")
    y_pred = rng.random((12, 1)).astype("float32")
    weights = rng.random(12).astype("float32")
    ours = getattr(plait.metrics, name)(thresholds=thresholds)
    theirs = getattr(keras_lib.metrics, name)(thresholds=thresholds)
    ours.update_state(torch.as_tensor(y_true), torch.as_tensor(y_pred), sample_weight=torch.as_tensor(weights))
    theirs.update_state(y_true, y_pred, sample_weight=weights)
    np.testing.assert_allclose(np.asarray(ours.result()), np.asarray(theirs.result()), rtol=1e-6)
    config, k_config = ours.get_config(), theirs.get_config()
    assert config == {**k_config, "name": config["name"]} and config["name"] == k_config["name"].rstrip("_0123456789")
    snake = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    assert type(plait.metrics.get(snake)) is type(ours) and type(plait.metrics.get(name)) is type(ours)
    assert plait.metrics.Precision(thresholds=thresholds).get_config()["thresholds"] == thresholds


# --- A compile with metric objects saves (imbalanced_classification's metrics) -----------------------


def test_model_compiled_with_metric_objects_loads_compiled(tmp_path):
    """imbalanced_classification compiles with metric objects (FalseNegatives(name="fn"), ...): the
    saved model loads back compiled, as Keras's does."""
    x, y = rng.random((8, 3)).astype("float32"), rng.integers(0, 2, (8, 1)).astype("float32")
    results = []
    for lib in (plait, keras_lib):
        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(1, activation="sigmoid")])
        metrics = [lib.metrics.FalseNegatives(name="fn", thresholds=0.3), lib.metrics.Recall(name="recall")]
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=metrics)
        model.fit(x, y, verbose=0)
        model.save(tmp_path / f"{lib.__name__}.keras")
        restored = lib.models.load_model(tmp_path / f"{lib.__name__}.keras")
        results.append(sorted(restored.evaluate(x, y, verbose=0, return_dict=True)))
    assert results[0] == results[1]


def test_timeseries_dataset_take_and_tensor_batches():
    """timeseries_weather_forecasting peeks with ``ds.take(1)`` and calls ``.numpy()`` on the batches."""
    series = np.arange(40, dtype="float64").reshape(20, 2)
    ds = plait.utils.timeseries_dataset_from_array(series, series[:, 0], sequence_length=4, batch_size=8)
    (x, y), *rest = ds.take(1)
    assert not rest and isinstance(x, torch.Tensor) and x.dtype == torch.float64
    np.testing.assert_array_equal(x.numpy()[1], series[1:5])
    np.testing.assert_array_equal(y.numpy(), series[:8, 0])
    assert len(ds.take(-1)) == len(ds) == len(ds.take(10)) == 3
    with pytest.raises(ValueError, match="`count` must be an integer >= -1"):
        ds.take(-2)


# (drawn here so that the data of the examples after them stays as it was)
pets_x = rng.integers(0, 256, (12, 32, 32, 3)).astype("float32")
pets_y = rng.integers(0, 2, 12).astype("int32")


def test_image_classification_from_scratch_data_pipeline_from_a_folder(tmp_path):
    """The example's own data code on plait: image_dataset_from_directory on a PetImages-like
    folder (Cat/, Dog/), the augmentation mapped over the batches, fit on the datasets, and one
    image through load_img/img_to_array. (Keras's image_dataset_from_directory needs TensorFlow,
    so this part runs on plait only; the model itself is compared with Keras above.)"""
    Image = pytest.importorskip("PIL.Image")
    keras = plait
    layers = keras.layers
    for folder in ("Cat", "Dog"):
        (tmp_path / "PetImages" / folder).mkdir(parents=True)
        for i in range(6):
            pixels = rng.integers(0, 256, (40 + 4 * i, 36, 3)).astype("uint8")
            Image.fromarray(pixels).save(tmp_path / "PetImages" / folder / f"{i}.jpg")
    image_size = (32, 32)  # the example: (180, 180)
    batch_size = 4  # the example: 128
    train_ds, val_ds = keras.utils.image_dataset_from_directory(
        str(tmp_path / "PetImages"),
        validation_split=0.2,
        subset="both",
        seed=1337,
        image_size=image_size,
        batch_size=batch_size,
        verbose=False,
    )
    data_augmentation_layers = [layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)]

    def data_augmentation(images):
        for layer in data_augmentation_layers:
            images = layer(images)
        return images

    train_ds = train_ds.map(lambda img, label: (data_augmentation(img), label))
    inputs = keras.Input(shape=image_size + (3,))
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, layers.Dense(1, activation=None)(x))
    model.compile(
        optimizer=keras.optimizers.Adam(3e-4),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.BinaryAccuracy(name="acc")],
    )
    history = model.fit(train_ds, epochs=2, validation_data=val_ds, verbose=0)
    assert sorted(history.history) == ["acc", "loss", "val_acc", "val_loss"]
    assert len(history.history["loss"]) == 2
    img = keras.utils.load_img(str(tmp_path / "PetImages" / "Cat" / "0.jpg"), target_size=image_size)
    img_array = keras.utils.img_to_array(img)
    img_array = keras.ops.expand_dims(img_array, 0)  # Create batch axis
    predictions = model.predict(img_array, verbose=0)
    assert predictions.shape == (1, 1) and np.isfinite(predictions).all()


# (drawn here so that the data of the examples after them stays as it was)
cifar_x = rng.integers(0, 256, (30, 32, 32, 3)).astype("uint8")
cifar_y = rng.integers(0, 100, (30, 1)).astype("uint8")


def test_top_k_accuracies_take_k_first():
    """The ViT example writes SparseTopKCategoricalAccuracy(5, name="top-5-accuracy"): k is Keras's first argument."""
    y_true = rng.integers(0, 10, 16)
    y_pred = rng.random((16, 10)).astype("float32")
    one_hot = np.eye(10, dtype="float32")[y_true]
    for name, target in (("SparseTopKCategoricalAccuracy", y_true), ("TopKCategoricalAccuracy", one_hot)):
        ours, theirs = getattr(plait.metrics, name)(3, name="top-3"), getattr(keras_lib.metrics, name)(3, name="top-3")
        ours.update_state(torch.as_tensor(target), torch.as_tensor(y_pred))
        theirs.update_state(target, y_pred)
        assert float(ours.result()) == pytest.approx(float(theirs.result()))
        assert ours.get_config() == theirs.get_config()
        assert getattr(plait.metrics, name)().get_config() == {**getattr(keras_lib.metrics, name)().get_config()}


def test_convert_to_tensor_of_a_list_of_arrays():
    """ops.convert_to_tensor([image], dtype="float32") (the ViT example): one numpy block, no torch warning."""
    image = rng.integers(0, 256, (4, 4, 3)).astype("uint8")
    for dtype in ("float32", None):
        ours = plait.ops.convert_to_tensor([image, image], dtype=dtype)
        theirs = keras_lib.ops.convert_to_tensor(np.stack([image, image]), dtype=dtype)
        assert ours.dtype == theirs.dtype and ours.shape == (2, 4, 4, 3)
        np.testing.assert_array_equal(ours.numpy(), theirs.cpu().numpy())
    assert plait.ops.convert_to_tensor([1, 2]).dtype == torch.int32  # plain lists keep Keras's dtype rules


# (drawn here so that the data of the examples after them stays as it was)
seg_x = rng.integers(0, 256, (10, 32, 32, 3)).astype("float32")
seg_y = rng.integers(0, 3, (10, 32, 32, 1)).astype("uint8")


def test_embedding_checks_symbolic_inputs_by_their_torch_dtype():
    """bidirectional_lstm_imdb's Input(dtype="int32") into Embedding; a complex Input is still refused."""
    ids = plait.Input(shape=(None,), dtype="int32")
    assert tuple(plait.layers.Embedding(10, 4)(ids).shape) == (None, None, 4)
    with pytest.raises(TypeError, match="expects integer indices"):
        plait.layers.Embedding(10, 4)(plait.Input(shape=(3,), dtype="complex64"))


@pytest.mark.parametrize(
    "name", ["BinaryCrossentropy", "MeanSquaredError", "MeanAbsoluteError", "Huber", "LogCosh", "Poisson"]
)
def test_losses_meet_rank_one_targets_as_keras(name):
    """collaborative_filtering_movielens fits (batch,) ratings to a subclassed model's (batch, 1)
    output: Keras squeezes or expands to the same rank; plait broadcast to (batch, batch)."""
    y = rng.random(12).astype("float32")
    p = rng.random((12, 1)).astype("float32")
    ours, theirs = getattr(plait.losses, name)(), getattr(keras_lib.losses, name)()
    for a, b in ((y, p), (p, y), (y[:, None, None], p)):
        assert float(ours(torch.as_tensor(a), torch.as_tensor(b))) == pytest.approx(float(theirs(a, b)), rel=1e-5)


def regularized_net(lib):
    """A subclassed model whose sublayers carry weight regularizers (built on its first call)."""

    class Net(lib.Model):
        def __init__(self):
            super().__init__()
            self.emb = lib.layers.Embedding(5, 3, embeddings_regularizer=lib.regularizers.l2(0.5))
            self.out = lib.layers.Dense(1, activation="sigmoid", kernel_regularizer=lib.regularizers.l2(0.5))

        def call(self, inputs):
            return self.out(lib.ops.sum(self.emb(inputs), axis=1))

    return Net()


def test_subclassed_model_built_in_fit_keeps_its_regularizers():
    x = rng.integers(0, 5, (16, 2))
    y = rng.random(16).astype("float32")
    models = {}
    for lib in (plait, keras_lib):
        models[lib] = regularized_net(lib)
        models[lib].compile(optimizer="sgd", loss="binary_crossentropy")
        models[lib].fit(x, y, verbose=0)  # built here, on the first batch
    models[plait].set_weights(models[keras_lib].get_weights())
    ours, theirs = (models[lib].evaluate(x, y, verbose=0) for lib in (plait, keras_lib))
    assert ours == pytest.approx(theirs, rel=1e-5)


# (drawn here so that the data of the examples after them stays as it was)
gpt_tokens = rng.integers(2, 200, (16, 21))


def test_lambda_output_shape_on_a_list_of_inputs():
    """siamese_contrastive: Lambda(euclidean_distance, output_shape=(1,))([tower_1, tower_2])."""
    shapes = {}
    for lib in (plait, keras_lib):
        a, b = lib.Input((10,)), lib.Input((10,))

        def distance(vects, ops=lib.ops):
            x, y = vects
            return ops.sqrt(ops.sum(ops.square(x - y), axis=1, keepdims=True))

        fixed = lib.layers.Lambda(distance, output_shape=(1,))([a, b])
        by_fn = lib.layers.Lambda(distance, output_shape=lambda s: (s[0][0], 1))([a, b])
        shapes[lib] = (tuple(fixed.shape), tuple(by_fn.shape))
    assert shapes[plait] == shapes[keras_lib] == ((None, 1), (None, 1))


def test_backend_queries_match_keras():
    """siamese_contrastive reads keras.backend.epsilon(); plait.backend answers Keras's queries."""
    for name in ("backend", "epsilon", "floatx", "image_data_format"):
        assert getattr(plait.backend, name)() == getattr(keras_lib.backend, name)()
    for dtype in (None, float, int, bool, "int32", np.float64, torch.float16, torch.uint8):
        assert plait.backend.standardize_dtype(dtype) == keras_lib.backend.standardize_dtype(dtype)
    for pair in (("int32", "float16"), ("uint8", "int8"), ("bool", "int64")):
        assert plait.backend.result_type(*pair) == keras_lib.backend.result_type(*pair)
    assert plait.backend.is_keras_tensor(plait.Input((2,))) and not plait.backend.is_keras_tensor(torch.zeros(1))
    assert plait.backend.is_float_dtype("bfloat16") and plait.backend.is_int_dtype("uint8")


# (drawn here so that the data of the examples after them stays as it was)
glove_tokens = rng.integers(0, 300, (24, 200))
glove_labels = rng.integers(0, 20, 24)
glove_matrix = rng.normal(size=(302, 100)).astype("float32")


def test_a_layer_built_by_hand_keeps_its_weights():
    """pretrained_word_embeddings builds its Embedding by hand, sets GloVe weights, then calls it."""
    for lib in (plait, keras_lib):
        dense = lib.layers.Dense(3)
        dense.build((None, 4))
        assert dense.built, lib.__name__
        kernel = np.asarray(lib.ops.convert_to_numpy(dense.kernel)).copy()
        dense(lib.Input((4,)))
        np.testing.assert_array_equal(np.asarray(lib.ops.convert_to_numpy(dense.kernel)), kernel)
