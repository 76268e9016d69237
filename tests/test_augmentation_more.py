"""The augmentation layers beyond flips, rotations and crops, against Keras 3 itself.

Random layers are compared with a pinned draw (``factor=(f, f)``) or by handing both libraries
the same draw (Keras's ``transform_images`` with a transformation dict, plait's ``transform``
with the keyword). Tolerances: 1e-4 absolute on the 0..255 scale unless stated.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import plait  # noqa: E402

K, P = keras.layers, plait.layers


def _images(seed=0, shape=(2, 6, 7, 3)):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g) * 255


def _close(keras_out, plait_out, atol=1e-4):
    # Keras's RandomBrightness adds in place into its input: it gets its own copy in each call.
    expected = keras_out.detach().cpu().numpy() if torch.is_tensor(keras_out) else np.asarray(keras_out)
    np.testing.assert_allclose(plait_out.detach().numpy(), expected, atol=atol, rtol=1e-5)


PINNED = [
    ("RandomBrightness", dict(factor=(0.2, 0.2))),
    ("RandomBrightness", dict(factor=(-0.4, -0.4), value_range=(0, 1))),
    ("RandomInvert", dict(factor=(1.0, 1.0))),
    ("RandomGrayscale", dict(factor=1.0)),
    ("RandomSaturation", dict(factor=(0.0, 0.0))),
    ("RandomSaturation", dict(factor=(0.3, 0.3))),
    ("RandomSaturation", dict(factor=(0.7, 0.7))),
    ("RandomColorDegeneration", dict(factor=(0.6, 0.6))),
    ("RandomSharpness", dict(factor=(0.1, 0.1))),
    ("RandomSharpness", dict(factor=(0.9, 0.9))),
    ("RandomPosterization", dict(factor=(1, 1))),
    ("RandomPosterization", dict(factor=(5, 5))),
    ("Solarization", dict(threshold_factor=(0.0, 0.0))),  # Keras draws from [lower, 255 upper]
    ("Equalization", dict()),
    ("Equalization", dict(bins=64)),
]


@pytest.mark.parametrize("name,kwargs", PINNED, ids=[f"{n}-{i}" for i, (n, _) in enumerate(PINNED)])
@pytest.mark.filterwarnings("ignore:.*Tensor.T is deprecated:UserWarning")  # inside Keras's Equalization
def test_pinned_draws_match_keras(name, kwargs):
    x = _images()
    if name == "Equalization":
        x = torch.round(x)  # integer levels: no value sits on a bin edge where float error could move it
    scale = 255.0 if kwargs.get("value_range") == (0, 1) else 1.0
    x = x / scale
    expected = getattr(K, name)(**kwargs)(x.numpy().copy(), training=True)
    ours = getattr(P, name)(**kwargs)
    # Saturation goes through HSV and back: 3e-4 on the 0..255 scale.
    _close(expected, ours(x, training=True), atol=3e-4)
    assert torch.equal(ours(x), x)  # inference: identity


def test_channels_first_matches_keras():
    x = _images().permute(0, 3, 1, 2).contiguous()
    for name, kwargs in [("RandomSaturation", dict(factor=(0.3, 0.3))), ("RandomSharpness", dict(factor=(0.8, 0.8)))]:
        expected = getattr(K, name)(data_format="channels_first", **kwargs)(x.numpy().copy(), training=True)
        _close(expected, getattr(P, name)(data_format="channels_first", **kwargs)(x, training=True), atol=3e-4)


@pytest.mark.parametrize("shift", [0.3, -0.2, 0.5])
def test_hue_shift_matches_keras(shift):
    x = _images()
    draw = np.array([shift, -shift / 2], "float32")
    expected = K.RandomHue(0.5).transform_images(x.clone(), {"factor": torch.tensor(draw)})
    ours = P.RandomHue(0.5).transform(x.permute(0, 3, 1, 2), shift=draw).permute(0, 2, 3, 1)
    _close(expected, ours, atol=3e-4)


def test_solarization_draws_match_keras():
    x = _images()
    add, thr = torch.tensor([10.0, 50.0]).reshape(2, 1, 1, 1), torch.tensor([100.0, 200.0]).reshape(2, 1, 1, 1)
    expected = K.Solarization(0.5, 0.5, value_range=(0, 1)).transform_images(
        x.clone() / 255, {"additions": add, "thresholds": thr}
    )
    ours = P.Solarization(0.5, 0.5, value_range=(0, 1)).transform(x.permute(0, 3, 1, 2) / 255, add, thr)
    _close(expected, ours.permute(0, 2, 3, 1), atol=1e-6)


@pytest.mark.parametrize("value_range", [(0, 255), (0, 1)])
def test_auto_contrast_matches_keras(value_range):
    x = _images() * (value_range[1] / 255) * 0.5 + 0.1 * value_range[1]
    x[1, ..., 2] = 0.3 * value_range[1]  # a flat channel stays as it is
    _close(K.AutoContrast(value_range)(x.numpy().copy()), P.AutoContrast(value_range)(x), atol=2e-5 * value_range[1])


RANDOM = [
    ("RandomBrightness", dict(factor=0.3)),
    ("RandomInvert", dict()),
    ("RandomGrayscale", dict()),
    ("RandomSaturation", dict(factor=0.4)),
    ("RandomHue", dict(factor=0.5)),
    ("RandomColorDegeneration", dict(factor=0.5)),
    ("RandomSharpness", dict(factor=0.9)),
    ("RandomPosterization", dict(factor=4)),
    ("Solarization", dict(addition_factor=0.3, threshold_factor=0.8)),
]


@pytest.mark.parametrize("name,kwargs", RANDOM, ids=[n for n, _ in RANDOM])
def test_random_layers_seeded_ranged_and_identity_at_inference(name, kwargs):
    x = _images(shape=(8, 5, 5, 3))
    layer = getattr(P, name)(seed=7, **kwargs)
    assert torch.equal(layer(x), x)
    out = layer(x, training=True)
    assert out.shape == x.shape and not torch.equal(out, x)
    assert out.min() >= -1e-3 and out.max() <= 255 + 1e-3  # stays in value_range
    again = getattr(P, name)(seed=7, **kwargs)(x, training=True)
    assert torch.equal(out, again)


def test_brightness_offsets_lie_in_the_range():
    x = torch.full((64, 2, 2, 1), 100.0)
    deltas = P.RandomBrightness((-0.2, 0.1), seed=1)(x, training=True)[:, 0, 0, 0] - 100
    assert deltas.min() >= -0.2 * 255 - 1e-4 and deltas.max() <= 0.1 * 255 + 1e-4
    assert deltas.std() > 5


KERAS_CONFIGS = [
    lambda: K.RandomBrightness(0.3, value_range=(0, 1), seed=2),
    lambda: K.RandomInvert(0.4, seed=3),
    lambda: K.RandomGrayscale(0.3),
    lambda: K.RandomSaturation((0.2, 0.6)),
    lambda: K.RandomHue(0.3, value_range=(0, 1)),
    lambda: K.RandomColorDegeneration(0.5),
    lambda: K.RandomSharpness(0.5, data_format="channels_first"),
    lambda: K.RandomPosterization(4),
    lambda: K.Solarization(0.2, (0.1, 0.4)),
    lambda: K.AutoContrast((0, 1)),
    lambda: K.Equalization(bins=32),
]


@pytest.mark.parametrize("make", KERAS_CONFIGS)
def test_keras_configs_rebuild(make):
    layer = make()
    ours = P.deserialize(K.serialize(layer))
    assert type(ours).__name__ == type(layer).__name__
    config = layer.get_config()
    for key, value in ours.get_config().items():
        if key in config and key not in ("dtype", "name"):
            expected = list(config[key]) if isinstance(config[key], tuple) else config[key]
            assert value == expected, key


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="factor"):
        P.RandomHue(1.5)
    with pytest.raises(ValueError, match="value_range"):
        P.RandomBrightness(0.1, value_range=(0,))
    with pytest.raises(ValueError, match="bins"):
        P.Equalization(bins=1)
    with pytest.raises(ValueError, match="threshold_factor"):
        P.Solarization(threshold_factor=2)
