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
