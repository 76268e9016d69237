"""plait.applications against keras.applications (Keras 3, torch backend): every family builds
with Keras's layer names and parameter count, and the same architecture built by Keras with
weights=None, saved with ``save_weights`` (Keras 3's ``.weights.h5``) or in the published tf-keras
``.h5`` layout, loads through ``weights=path`` and gives Keras's outputs.

CI runs a representative subset; every variant runs with ``pytest -m slow``."""

import json
import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import plait  # noqa: E402
import plait.applications as pa  # noqa: E402
from plait.applications import imagenet_utils  # noqa: E402

# Keras's own Variable.__array__ predates numpy 2's `copy` keyword; that warning is Keras's.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword",
    "ignore:This model usually expects 1 or 3 input channels",
)

if keras.backend.backend() != "torch":
    pytest.skip("Keras was imported with another backend", allow_module_level=True)

_NASNET = {
    # Keras refuses NASNetMobile on its torch backend; its generic builder has no such check.
    "NASNetMobile": dict(
        penultimate_filters=1056, num_blocks=4, stem_block_filters=32, skip_reduction=False, default_size=224
    ),
    "NASNetLarge": dict(
        penultimate_filters=4032, num_blocks=6, stem_block_filters=96, skip_reduction=True, default_size=331
    ),
}


def keras_app(family, **kwargs):
    if family in _NASNET:
        from keras.src.applications import nasnet

        name = "nasnet_mobile" if family == "NASNetMobile" else "nasnet_large"
        return nasnet.NASNet(filter_multiplier=2, name=name, **_NASNET[family], **kwargs)
    return getattr(keras.applications, family)(**kwargs)


def randomize_statistics(model, size, seed=0):
    """Give BatchNormalization layers non-trivial weights (a freshly built model has gamma 1,
    beta 0, mean 0, variance 1), so the comparison sees every weight: random gamma/beta, moving
    statistics of a batch of 8 other images (one training-mode call with momentum 0, dropout
    off), each variance floored by the layer's mean variance.

    This keeps activations of order 1 with no channel amplified: a random deep network is
    otherwise chaotic, and the float32 rounding differences of torch's kernels (Keras's torch
    backend and plait run convolutions in different memory layouts) grow ~3x per block
    (EfficientNetV2B3 at 64 px: 1e-6 -> 1e-1 relative over stage 6)."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        name, shape = variable.name, tuple(variable.shape)
        if name == "beta":
            variable.assign(rng.normal(0.0, 0.1, shape).astype("float32"))
        elif name == "gamma" and len(shape) == 1:
            variable.assign(rng.uniform(0.5, 1.0, shape).astype("float32"))
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
        elif isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0  # the calibration pass must follow the inference path
    model(images(size, n=8, seed=seed + 1), training=True)
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            # A channel that barely varied over the batch would get a huge gain; floor it.
            variance = np.asarray(layer.moving_variance)
            layer.moving_variance.assign(variance + variance.mean())


def plait_names(model):
    """Layer names as Keras lists them: Keras's ``x + y`` on tensors is an op, not a layer."""
    op_types = tuple(t for t in (getattr(plait.layers, "TorchOp", None),) if t is not None)
    return [layer.name for layer in model.layers if not isinstance(layer, op_types)]


def images(size, n=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


def check_parity(tmp_path, family, size, **kwargs):
    keras.utils.clear_session()
    kmodel = keras_app(family, weights=None, input_shape=(size, size, 3), **kwargs)
    randomize_statistics(kmodel, size)
    path = tmp_path / "w.weights.h5"
    kmodel.save_weights(path)
    x = images(size)
    expected = kmodel.predict(x, verbose=0)

    # Built from zero names, as Keras's was: automatic names (conv2d_12, ...) must agree too.
    plait.utils.clear_session()
    loaded = getattr(pa, family)(weights=str(path), input_shape=(size, size, 3), **kwargs)
    assert plait_names(loaded) == [layer.name for layer in kmodel.layers]
    assert loaded.count_params() == kmodel.count_params()
    assert loaded.name == kmodel.name.replace(".", "_")
    with torch.no_grad():
        got = loaded(torch.from_numpy(x)).numpy()
    assert got.shape == expected.shape
    scale = max(1.0, float(np.abs(expected).max()))
    # float32 through 20-200 layers: 1e-4 on outputs of order 1 (relative beyond that).
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4 * scale)
    return kmodel, loaded


# ---------------------------------------------------------------- CI subset
# One of each building style: plain convs (VGG), residual bottlenecks (ResNet), depthwise
# inverted residuals (MobileNetV2), in-model Rescaling with squeeze-excite and tensor ops
# (MobileNetV3), nested Sequential blocks with LayerScale and in-model Normalization (ConvNeXt).
# DenseNet, EfficientNet and the rest run under the slow marker.
FAST = [
    ("VGG16", 64, dict(include_top=False, pooling="avg")),
    ("ResNet50", 64, dict(include_top=False, pooling="avg")),
    ("MobileNetV2", 64, dict(alpha=0.5, classifier_activation=None)),
    ("MobileNetV3Small", 64, dict(classifier_activation=None)),
    ("ConvNeXtTiny", 64, dict(include_top=False, pooling="avg")),
]


@pytest.mark.parametrize("family, size, kwargs", FAST, ids=[f[0] for f in FAST])
def test_parity_with_keras(tmp_path, family, size, kwargs):
    check_parity(tmp_path, family, size, **kwargs)


# ---------------------------------------------------------------- every application (slow)
ALL = [
    ("VGG16", 64, {}),
    ("VGG19", 64, dict(include_top=False, pooling="max")),
    ("ResNet50", 64, dict(classifier_activation=None)),
    ("ResNet101", 64, dict(include_top=False, pooling="avg")),
    ("ResNet152", 64, dict(include_top=False, pooling="avg")),
    ("ResNet50V2", 64, dict(classifier_activation=None)),
    ("ResNet101V2", 64, dict(include_top=False, pooling="avg")),
    ("ResNet152V2", 64, dict(include_top=False, pooling="avg")),
    ("InceptionV3", 75, dict(classifier_activation=None)),
    ("InceptionResNetV2", 75, dict(include_top=False, pooling="avg")),
    ("Xception", 71, dict(classifier_activation=None)),
    ("MobileNet", 64, dict(alpha=0.75, depth_multiplier=2, classifier_activation=None)),
    ("MobileNetV2", 96, dict(alpha=1.4, include_top=False, pooling="avg")),
    ("MobileNetV3Small", 64, dict(classifier_activation=None)),
    ("MobileNetV3Small", 64, dict(minimalistic=True, include_top=False, pooling="avg")),
    ("MobileNetV3Large", 64, dict(alpha=0.75, classifier_activation=None)),
    ("MobileNetV3Large", 64, dict(include_preprocessing=False, include_top=False, pooling="max")),
    ("DenseNet121", 64, dict(classifier_activation=None)),
    ("DenseNet169", 64, dict(include_top=False, pooling="avg")),
    ("DenseNet201", 64, dict(include_top=False, pooling="avg")),
    ("NASNetMobile", 64, dict(include_top=False, pooling="avg")),
    ("NASNetLarge", 64, dict(include_top=False, pooling="avg")),
    ("EfficientNetB0", 64, dict(classifier_activation=None)),
    ("EfficientNetB1", 64, dict(include_top=False, pooling="avg")),
    ("EfficientNetB2", 64, dict(include_top=False, pooling="avg")),
    ("EfficientNetB3", 64, dict(include_top=False, pooling="avg")),
    ("EfficientNetB4", 64, dict(include_top=False, pooling="avg")),
    ("EfficientNetB5", 64, dict(include_top=False, pooling="avg")),
    ("EfficientNetB6", 64, dict(include_top=False, pooling="avg")),
    ("EfficientNetB7", 64, dict(include_top=False, pooling="avg")),
    ("EfficientNetV2B0", 64, dict(classifier_activation=None)),
    ("EfficientNetV2B1", 64, dict(include_top=False, pooling="avg")),
    ("EfficientNetV2B2", 64, dict(include_top=False, pooling="avg")),
    ("EfficientNetV2B3", 64, dict(include_top=False, pooling="avg")),
    ("EfficientNetV2S", 64, dict(include_top=False, pooling="avg")),
    ("EfficientNetV2M", 64, dict(include_top=False, pooling="avg")),
    ("EfficientNetV2L", 64, dict(include_top=False, pooling="avg")),
    ("ConvNeXtTiny", 64, dict(classifier_activation=None)),
    ("ConvNeXtSmall", 64, dict(include_top=False, pooling="avg")),
    ("ConvNeXtBase", 64, dict(include_top=False, pooling="avg")),
    ("ConvNeXtLarge", 64, dict(include_top=False, pooling="avg")),
    ("ConvNeXtXLarge", 64, dict(include_top=False, pooling="avg")),
]


@pytest.mark.slow
@pytest.mark.parametrize("family, size, kwargs", ALL, ids=[f"{f[0]}-{i}" for i, f in enumerate(ALL)])
def test_parity_with_keras_every_application(tmp_path, family, size, kwargs):
    check_parity(tmp_path, family, size, **kwargs)


# ---------------------------------------------------------------- Keras's published .h5 layout
def save_published_h5(kmodel, path):
    """Write weights as Keras's published application files are laid out (tf-keras's
    ``save_weights("x.h5")``: ``layer_names`` / ``weight_names`` attributes)."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as h5:
        legacy_h5_format.save_weights_to_hdf5_group(h5, kmodel)


def test_published_h5_layout_loads(tmp_path):
    keras.utils.clear_session()
    kmodel = keras.applications.MobileNetV2(weights=None, alpha=0.35, input_shape=(64, 64, 3), include_top=False)
    randomize_statistics(kmodel, 64)
    save_published_h5(kmodel, tmp_path / "mnv2.h5")
    model = pa.MobileNetV2(weights=str(tmp_path / "mnv2.h5"), alpha=0.35, input_shape=(64, 64, 3), include_top=False)
    x = images(64)
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, kmodel.predict(x, verbose=0), rtol=0, atol=1e-4)


def test_weights_for_another_architecture_is_an_error(tmp_path):
    kmodel = keras.applications.MobileNetV2(weights=None, alpha=0.35, input_shape=(32, 32, 3), include_top=False)
    kmodel.save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(ValueError, match="w.weights.h5"):
        pa.MobileNetV2(weights=str(tmp_path / "w.weights.h5"), alpha=0.5, input_shape=(32, 32, 3), include_top=False)


# ---------------------------------------------------------------- weights="imagenet": Keras's cache
def test_imagenet_weights_missing_names_file_and_url(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        pa.MobileNetV2(alpha=0.35, input_shape=(96, 96, 3), include_top=False)
    message = str(info.value)
    assert "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5" in message
    assert str(tmp_path / "models") in message
    assert "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/" in message


def test_imagenet_weights_read_from_keras_cache(tmp_path, monkeypatch):
    # MobileNet's published files have no hash in Keras, so a file in the published layout
    # under the published name stands in for the download.
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    kmodel = keras.applications.MobileNet(weights=None, alpha=0.25, input_shape=(128, 128, 3), include_top=False)
    randomize_statistics(kmodel, 128)
    save_published_h5(kmodel, tmp_path / "models" / "mobilenet_2_5_128_tf_no_top.h5")
    model = pa.MobileNet(weights="imagenet", alpha=0.25, input_shape=(128, 128, 3), include_top=False)
    x = images(128, n=1)
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, kmodel.predict(x, verbose=0), rtol=0, atol=1e-4)


def test_imagenet_weights_with_wrong_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5").write_bytes(b"not weights")
    with pytest.raises(ValueError, match="md5 .* not the published 6d6bbae143d832006294945121d1f1fc"):
        pa.VGG16(include_top=False, input_shape=(32, 32, 3))


# ---------------------------------------------------------------- arguments
def test_bad_arguments():
    with pytest.raises(ValueError, match="`weights` argument should be either"):
        pa.ResNet50(weights="no/such/file.h5")
    with pytest.raises(ValueError, match="`classes` should be 1000"):
        pa.ResNet50(weights="imagenet", classes=10)
    with pytest.raises(ValueError, match="Input size must be at least 75x75"):
        pa.InceptionV3(weights=None, include_top=False, input_shape=(64, 64, 3))
    with pytest.raises(ValueError, match="should specify a static `input_shape`"):
        pa.VGG16(weights=None, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match="alpha can be one of"):
        pa.MobileNet(weights="imagenet", alpha=0.3)
    with pytest.raises(TypeError, match="input_tensor"):
        pa.VGG16(weights=None, input_tensor=np.zeros((1, 32, 32, 3)), include_top=False)


def test_input_tensor_and_default_shapes():
    inputs = plait.Input(shape=(48, 48, 3))
    shifted = plait.layers.Rescaling(2.0)(inputs)
    model = pa.MobileNetV2(weights=None, alpha=0.35, input_tensor=shifted, include_top=False, pooling="avg")
    assert model.input is inputs and model.output.shape == (None, 1280)
    assert pa.ResNet50V2(weights=None, include_top=False).input.shape == (None, None, None, 3)
    assert pa.Xception(weights=None, classes=7, classifier_activation=None).output.shape == (None, 7)


# ---------------------------------------------------------------- preprocess_input / decode_predictions
@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
def test_preprocess_input_matches_keras(mode):
    x = images(8, n=3)
    expected = keras.applications.imagenet_utils.preprocess_input(x.copy(), mode=mode)
    np.testing.assert_allclose(imagenet_utils.preprocess_input(x.copy(), mode=mode), expected, rtol=1e-6)
    got = imagenet_utils.preprocess_input(torch.from_numpy(x.copy()), mode=mode)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6, atol=1e-5)


def test_family_preprocess_input_modes():
    x = images(4, n=1)
    for family in ("vgg16", "resnet", "resnet_v2", "inception_v3", "xception", "mobilenet", "densenet", "nasnet"):
        expected = getattr(keras.applications, family).preprocess_input(x.copy())
        np.testing.assert_allclose(getattr(pa, family).preprocess_input(x.copy()), expected, rtol=1e-6)
    for family in ("mobilenet_v3", "efficientnet", "efficientnet_v2", "convnext"):
        assert getattr(pa, family).preprocess_input(x) is x  # these models preprocess inside


def test_decode_predictions(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX", None)
    preds = np.random.default_rng(0).random((2, 1000)).astype("float32")
    with pytest.raises(FileNotFoundError, match="imagenet_class_index.json.*imagenet_class_index.json"):
        pa.resnet.decode_predictions(preds)
    (tmp_path / "models").mkdir()
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    (tmp_path / "models" / "imagenet_class_index.json").write_text(json.dumps(index))
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX_HASH", None)  # a stand-in for the real file
    decoded = pa.resnet.decode_predictions(torch.from_numpy(preds), top=3)
    for row, result in zip(preds, decoded):
        top = np.argsort(row)[::-1][:3]
        assert [r[1] for r in result] == [f"class_{i}" for i in top]
        np.testing.assert_allclose([r[2] for r in result], row[top])
    with pytest.raises(ValueError, match="shape \\(samples, 1000\\)"):
        pa.resnet.decode_predictions(preds[:, :10])


# ---------------------------------------------------------------- fine-tuning
def test_fine_tuning_frozen_base_new_head(tmp_path):
    base = pa.MobileNetV2(weights=None, alpha=0.35, input_shape=(32, 32, 3), include_top=False, pooling="avg")
    base.trainable = False
    frozen = [w.detach().clone() for w in base.weights]
    inputs = plait.Input(shape=(32, 32, 3))
    outputs = plait.layers.Dense(3, activation="softmax")(base(inputs))
    model = plait.Model(inputs, outputs)
    assert model.count_params() - base.count_params() == 1280 * 3 + 3
    assert sum(w.numel() for w in model.trainable_weights) == 1280 * 3 + 3

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (24, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 3, 24)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    head_before = model.layers[-1].get_weights()[0].copy()
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert len(history.history["loss"]) == 2
    assert not np.allclose(model.layers[-1].get_weights()[0], head_before)
    for before, after in zip(frozen, base.weights):  # BatchNormalization statistics included
        torch.testing.assert_close(after.detach(), before)

    path = tmp_path / "tuned.plait"
    model.save(path)
    loaded = plait.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=0, atol=1e-6)


# ---------------------------------------------------------------- Keras .keras files -> plait.models.load_model
def test_every_keras_application_module_exists():
    """``keras.applications.<module>`` for every module Keras has (resnet50 included), with
    every public name of it."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(keras.applications.__path__):
        theirs = importlib.import_module(f"keras.applications.{info.name}")
        ours = getattr(pa, info.name)
        missing = {name for name in dir(theirs) if not name.startswith("_")} - set(dir(ours))
        assert not missing, f"plait.applications.{info.name} lacks {sorted(missing)}"
    assert pa.resnet50.ResNet50 is pa.ResNet50


def test_application_layers_load_by_keras_name(tmp_path):
    """Keras's own layers of ConvNeXt and InceptionResNetV2 in a Keras-written ``.keras`` file
    load with no custom_objects (plait registers them under Keras's names), give Keras's
    numbers, and plait writes them back in a file Keras loads."""
    from keras.src.applications.convnext import LayerScale, StochasticDepth
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

    inputs = keras.Input((5, 5, 3))
    x = keras.layers.Conv2D(3, 1, name="conv")(inputs)
    x = LayerScale(0.5, 3, name="scale")(x)
    x = StochasticDepth(0.25, name="drop")(x)
    outputs = CustomScaleLayer(0.3, name="sum")([inputs, x])
    kmodel = keras.Model(inputs, outputs)
    kmodel.get_layer("scale").set_weights([np.array([0.5, -2.0, 3.0], "float32")])
    kmodel.save(tmp_path / "k.keras")

    model = plait.models.load_model(tmp_path / "k.keras")
    assert [type(layer).__name__ for layer in model.layers[2:]] == ["LayerScale", "StochasticDepth", "CustomScaleLayer"]
    x = images(5, n=3) / 255.0
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, kmodel.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
    model.save(tmp_path / "p.keras")
    again = keras.models.load_model(tmp_path / "p.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), got, rtol=1e-6, atol=1e-6)


def test_stochastic_depth_drops_whole_samples():
    layer = pa.convnext.StochasticDepth(0.5)
    x = torch.ones(400, 2, 3)
    torch.manual_seed(0)
    y = layer(x, training=True)
    per_sample = y.reshape(400, -1)
    # Each sample is either dropped (0) or kept and scaled by 1 / (1 - 0.5).
    assert set(per_sample.unique().tolist()) <= {0.0, 2.0}
    assert (per_sample == per_sample[:, :1]).all()
    assert 150 < int((per_sample[:, 0] == 2.0).sum()) < 250
    torch.testing.assert_close(layer(x), x)  # inference: the identity
    with pytest.raises(ValueError, match="drop_path_rate must be in \\[0, 1\\). Received: 1.5"):
        pa.convnext.StochasticDepth(1.5)
    with pytest.raises(ValueError, match="LayerScale 'ls' scales 4 channels; received input of shape"):
        pa.convnext.LayerScale(1e-6, 4, name="ls")(torch.ones(2, 3))


def check_keras_file(tmp_path, family, size, **kwargs):
    keras.utils.clear_session()
    kmodel = keras_app(family, weights=None, input_shape=(size, size, 3), **kwargs)
    randomize_statistics(kmodel, size)
    kmodel.save(tmp_path / "model.keras")
    loaded = plait.models.load_model(tmp_path / "model.keras")  # Keras's own application layers included
    # Keras's tensor ops (`x + 3.0`) come back as op nodes of their own; every Keras layer is there, in order.
    names = [layer.name for layer in kmodel.layers]
    assert [name for name in plait_names(loaded) if name in set(names)] == names
    x = images(size)
    with torch.no_grad():
        got = loaded(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, kmodel.predict(x, verbose=0), rtol=0, atol=1e-4)


KERAS_FILES = [
    ("VGG16", 64, dict(include_top=False, pooling="avg")),
    ("ResNet50", 64, dict(include_top=False, pooling="avg")),
    ("ResNet50V2", 64, dict(include_top=False, pooling="avg")),
    ("InceptionV3", 75, dict(include_top=False, pooling="avg")),
    ("InceptionResNetV2", 75, dict(include_top=False, pooling="avg")),
    ("Xception", 71, dict(include_top=False, pooling="avg")),
    ("MobileNet", 64, dict(classifier_activation=None)),
    ("MobileNetV2", 64, dict(alpha=0.35, classifier_activation=None)),
    ("MobileNetV3Large", 64, dict(classifier_activation=None)),
    ("DenseNet121", 64, dict(include_top=False, pooling="avg")),
    ("NASNetMobile", 64, dict(include_top=False, pooling="avg")),
    ("EfficientNetB0", 64, dict(classifier_activation=None)),
    ("EfficientNetV2B0", 64, dict(include_top=False, pooling="avg")),
    ("EfficientNetV2S", 64, dict(include_top=False, pooling="avg")),
    ("ConvNeXtTiny", 64, dict(classifier_activation=None)),
]


@pytest.mark.slow
@pytest.mark.parametrize("family, size, kwargs", KERAS_FILES, ids=[f[0] for f in KERAS_FILES])
def test_keras_file_every_family(tmp_path, family, size, kwargs):
    check_keras_file(tmp_path, family, size, **kwargs)
