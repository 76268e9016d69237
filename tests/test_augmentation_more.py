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


@pytest.mark.parametrize("fill_mode", ["reflect", "constant", "wrap", "nearest"])
def test_shear_matches_keras(fill_mode):
    x = _images()
    shear = torch.tensor([[0.3, -0.2], [-0.5, 0.1]])
    keras_layer = K.RandomShear(0.5, 0.5, fill_mode=fill_mode, fill_value=9.0)
    expected = keras_layer.transform_images(x.numpy().copy(), {"shear_factor": shear, "input_shape": x.shape})
    ours = P.RandomShear(0.5, 0.5, fill_mode=fill_mode, fill_value=9.0)
    nchw = x.permute(0, 3, 1, 2)
    # The affine layers' transform draws its matrix; pin it through matrix(x, shear).
    from plait.layers.preprocessing.augmentation import affine_transform

    out = affine_transform(nchw, ours.matrix(nchw, shear), ours.interpolation, ours.fill_mode, ours.fill_value)
    _close(expected, out.permute(0, 2, 3, 1), atol=1e-3)


def test_gaussian_blur_matches_keras():
    x = _images()
    draw = {"should_apply_blur": torch.tensor([True, False]), "blur_factor": torch.tensor([0.7, 1.0])}
    expected = K.RandomGaussianBlur(kernel_size=5).transform_images(x.numpy().copy(), draw)
    ours = P.RandomGaussianBlur(kernel_size=5).transform(
        x.permute(0, 3, 1, 2), draw["should_apply_blur"], draw["blur_factor"]
    )
    _close(expected, ours.permute(0, 2, 3, 1), atol=1e-3)


@pytest.mark.parametrize("fill_value", [7.0, [1.0, 2.0, 300.0]])
def test_erasing_matches_keras_given_its_rectangles(fill_value):
    x = _images(shape=(3, 8, 9, 3))
    keras_layer = K.RandomErasing(factor=0.7, fill_value=fill_value, seed=3)
    draw = keras_layer.get_random_transformation(x.numpy().copy(), training=True)
    expected = keras_layer.transform_images(x.numpy().copy(), draw)
    masks = torch.as_tensor(draw["batch_masks"])[..., 0]  # (batch, height, width)
    boxes = []
    for mask in masks:  # Keras's rectangle back as (x0, x1, y0, y1) pixel bounds
        rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
        empty = len(rows) == 0
        boxes.append([0, 0, 0, 0] if empty else [cols[0], cols[-1] + 1, rows[0], rows[-1] + 1])
    ours = P.RandomErasing(factor=0.7, fill_value=fill_value).transform(
        x.permute(0, 3, 1, 2), torch.tensor(boxes, dtype=torch.float32), torch.as_tensor(draw["apply_erasing"])
    )
    _close(expected, ours.permute(0, 2, 3, 1), atol=0)


def test_erasing_rectangles_follow_scale():
    x = torch.ones(200, 20, 20, 1)
    out = P.RandomErasing(factor=(1.0, 1.0), scale=(0.04, 0.25), fill_value=0.0, seed=1)(x, training=True)
    erased = (out == 0).float().mean(dim=(1, 2, 3))  # the area share is sqrt(s1) * sqrt(s2), up to pixels
    assert erased.min() >= 0.01 and erased.max() <= 0.36
    noise = P.RandomErasing(factor=(1.0, 1.0), seed=2)(x * 100, training=True)
    assert noise.min() >= 0 and noise.max() <= 255 and (noise != 100).any()


@pytest.mark.parametrize(
    "name,kwargs",
    [("RandomShear", dict(x_factor=0.4, y_factor=0.2)), ("RandomGaussianBlur", dict()), ("RandomErasing", dict())],
)
def test_geometric_layers_seeded_and_identity_at_inference(name, kwargs):
    x = _images(shape=(4, 8, 8, 3))
    layer = getattr(P, name)(seed=5, **kwargs)
    assert torch.equal(layer(x), x)
    out = layer(x, training=True)
    assert not torch.equal(out, x)
    assert torch.equal(out, getattr(P, name)(seed=5, **kwargs)(x, training=True))


@pytest.mark.parametrize(
    "make",
    [
        lambda: K.RandomShear(0.2, (0.1, 0.3), fill_mode="constant", fill_value=3.0),
        lambda: K.RandomGaussianBlur(0.5, 5, (0.2, 0.9)),
        lambda: K.RandomErasing(0.3, (0.1, 0.2), [1, 2, 3], seed=4),
    ],
)
def test_geometric_keras_configs_rebuild(make):
    test_keras_configs_rebuild(make)


def _nchw(x):
    return x.permute(0, 3, 1, 2)


def test_mixup_matches_keras_given_its_draw():
    x, labels = _images(shape=(4, 5, 6, 3)), torch.eye(4)[[0, 1, 2, 1]]
    keras_layer = K.MixUp(alpha=0.4)
    draw = {"mix_weight": torch.tensor([0.1, 0.5, 0.9, 0.3]), "permutation_order": torch.tensor([2, 0, 3, 1])}
    ours = P.MixUp(alpha=0.4)
    _close(keras_layer.transform_images(x.numpy().copy(), draw), ours.mix_images(_nchw(x), draw).permute(0, 2, 3, 1))
    _close(keras_layer.transform_labels(labels.clone(), draw), ours.mix_labels(labels, draw), atol=1e-6)


def test_cutmix_matches_keras_given_its_rectangles():
    x, labels = _images(shape=(4, 8, 9, 3)), torch.eye(4)
    keras_layer = K.CutMix(seed=2)
    draw = keras_layer.get_random_transformation(x.numpy().copy(), training=True)
    masks = torch.as_tensor(draw["batch_masks"])[..., 0]
    boxes = []
    for mask in masks:
        rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
        boxes.append([0, 0, 0, 0] if len(rows) == 0 else [cols[0], cols[-1] + 1, rows[0], rows[-1] + 1])
    ours = P.CutMix()
    nchw = _nchw(x)
    our_draw = ours.boxes_draw(nchw, torch.tensor(boxes, dtype=torch.float32), draw["permutation_order"])
    expected = keras_layer.transform_images(x.numpy().copy(), draw)
    _close(expected, ours.mix_images(nchw, our_draw).permute(0, 2, 3, 1), atol=0)
    # Keras weights labels by its fractional rectangle, ours by the pixel box: same up to a pixel row.
    keras_labels = keras_layer.transform_labels(labels.clone(), draw)
    assert torch.allclose(ours.mix_labels(labels, our_draw).sum(1), torch.ones(4))
    assert np.abs(ours.mix_labels(labels, our_draw).numpy() - keras_labels.numpy()).max() < 0.35


@pytest.mark.parametrize("name", ["MixUp", "CutMix"])
def test_mixing_layers_dict_seed_and_inference(name):
    x, labels = _images(shape=(6, 8, 8, 3)), torch.eye(6)
    layer = getattr(P, name)(seed=3)
    out = layer({"images": x, "labels": labels}, training=True)
    again = getattr(P, name)(seed=3)({"images": x, "labels": labels}, training=True)
    assert torch.equal(out["images"], again["images"]) and torch.equal(out["labels"], again["labels"])
    assert not torch.equal(out["images"], x)
    assert torch.allclose(out["labels"].sum(1), torch.ones(6), atol=1e-5)
    # Every output pixel lies between the batch's extremes of that pixel (a convex mix or a paste).
    assert (out["images"] <= x.amax(0) + 1e-3).all() and (out["images"] >= x.amin(0) - 1e-3).all()
    assert torch.equal(layer(x), x)
    assert torch.equal(layer({"images": x, "labels": labels})["labels"], labels)


def test_mixup_weights_follow_beta():
    layer = P.MixUp(alpha=0.5, seed=1)
    weights = layer.draw(torch.zeros(4000, 1, 1, 1))["mix_weight"]
    assert abs(float(weights.mean()) - 0.5) < 0.03  # Beta(a, a) has mean 1/2, variance 1 / (8 a + 4)
    assert abs(float(weights.var()) - 1 / 8) < 0.01


@pytest.mark.parametrize("make", [lambda: K.MixUp(alpha=0.3, seed=2), lambda: K.CutMix(factor=0.6)])
def test_mixing_keras_configs_rebuild(make):
    test_keras_configs_rebuild(make)


MEL_CASES = [
    dict(),
    dict(fft_length=512, sequence_stride=128, num_mel_bins=40, sampling_rate=8000, min_freq=50.0, max_freq=3000.0),
    dict(fft_length=256, sequence_length=200, window="hamming", power_to_db=False, mag_exp=1.0),
    dict(window=None, top_db=20.0, ref_power=3.0),
]


@pytest.mark.parametrize("kwargs", MEL_CASES)
def test_mel_spectrogram_matches_keras(kwargs):
    x = torch.randn(3, 2000, generator=torch.Generator().manual_seed(1))
    expected = K.MelSpectrogram(**kwargs)(x.numpy())
    ours = P.MelSpectrogram(**kwargs)
    out = ours(x)
    assert tuple(out.shape) == tuple(ours.compute_output_shape(tuple(x.shape)))
    # decibels up to ~45, powers up to ~1e3: 1e-5 relative plus 5e-4 absolute (float32 FFTs).
    _close(expected, out, atol=5e-4)


STFT_CASES = [
    dict(),
    dict(mode="magnitude", frame_length=64, frame_step=16, padding="same"),
    dict(mode="psd", frame_length=100, fft_length=128),
    dict(mode="stft", expand_dims=True, frame_length=32),
    dict(mode="real", frame_length=30, window="hamming", periodic=True, scaling="spectrum"),
    dict(mode="imag", frame_length=32, expand_dims=True, data_format="channels_first"),
    dict(mode="log", frame_length=48, window=None, scaling=None, data_format="channels_first"),
]


@pytest.mark.parametrize("kwargs", STFT_CASES)
def test_stft_spectrogram_matches_keras(kwargs):
    x = torch.randn(2, 500, 3, generator=torch.Generator().manual_seed(2))
    if kwargs.get("data_format") == "channels_first":
        x = x.transpose(1, 2).contiguous()
    keras_layer, ours = K.STFTSpectrogram(**kwargs), P.STFTSpectrogram(**kwargs)
    expected = keras_layer(x.numpy())
    out = ours(x)
    assert tuple(out.shape) == tuple(ours.compute_output_shape(tuple(x.shape))) == tuple(expected.shape)
    _close(expected, out, atol=1e-3)  # log of small magnitudes: 1e-3 absolute


def test_stft_angle_matches_keras_away_from_the_branch_cut():
    x = torch.randn(2, 300, 1, generator=torch.Generator().manual_seed(3))
    expected = K.STFTSpectrogram(mode="angle", frame_length=32)(x.numpy()).detach().numpy()
    out = P.STFTSpectrogram(mode="angle", frame_length=32)(x).detach().numpy()
    away = np.abs(np.abs(expected) - np.pi) > 1e-3  # +pi and -pi are the same angle
    np.testing.assert_allclose(out[away], expected[away], atol=1e-3)


def test_stft_kernels_are_trainable_weights():
    layer = P.STFTSpectrogram(mode="magnitude", frame_length=16)
    out = layer(torch.randn(1, 64, 1))
    out.sum().backward()
    assert [w.name for w in layer.trainable_weights] == ["real_kernel", "imag_kernel"]
    assert all(w.grad is not None for w in layer.parameters())


@pytest.mark.parametrize(
    "make",
    [
        lambda: K.MelSpectrogram(fft_length=512, num_mel_bins=20, max_freq=4000),
        lambda: K.STFTSpectrogram(mode="psd", frame_length=64, frame_step=8, padding="same"),
    ],
)
def test_spectrogram_keras_configs_rebuild(make):
    test_keras_configs_rebuild(make)


def test_spectrogram_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        P.STFTSpectrogram(mode="cepstrum")
    with pytest.raises(ValueError, match="frame_step"):
        P.STFTSpectrogram(frame_length=16, frame_step=32)
    with pytest.raises(ValueError, match="sequence_length"):
        P.MelSpectrogram(fft_length=128, sequence_length=256)


def test_hashed_crossing_gives_keras_documented_bins():
    # Keras 3's HashedCrossing runs only with TensorFlow (not installed here): the reference is
    # the bins its docstring shows, which TensorFlow's cross_hashed computed.
    feat1, feat2 = np.array(["A", "B", "A", "B", "A"]), np.array([101, 101, 101, 102, 102])
    assert P.HashedCrossing(num_bins=5)((feat1, feat2)).tolist() == [1, 4, 1, 1, 3]
    one_hot = P.HashedCrossing(num_bins=5, output_mode="one_hot")((feat1, feat2))
    assert one_hot.argmax(1).tolist() == [1, 4, 1, 1, 3] and one_hot.shape == (5, 5)


def test_hashed_crossing_shapes_tensors_and_errors():
    layer = P.HashedCrossing(num_bins=7)
    ints = layer((torch.tensor([[1], [2], [3]]), torch.tensor([[4], [5], [6]])))
    assert ints.shape == (3, 1) and ints.dtype == torch.int64 and int(ints.max()) < 7
    # Integers hash to their own value, strings to their fingerprint: 101 and "101" differ in general,
    # and the order of the features matters.
    assert layer(("x", 3)).shape == ()
    assert layer((np.array([1, 2]), np.array([3, 4]))).tolist() != layer((np.array([3, 4]), np.array([1, 2]))).tolist()
    assert P.HashedCrossing(4, output_mode="one_hot").compute_output_shape([(None, 1), (None, 1)]) == (None, 4)
    with pytest.raises(ValueError, match="at least two"):
        layer((np.array(["a"]),))
    with pytest.raises(ValueError, match="same shape"):
        layer((np.array(["a", "b"]), np.array([1])))
    with pytest.raises(TypeError, match="strings or integers"):
        layer((np.array([1.5]), np.array([1])))


def test_hashed_crossing_rebuilds_from_keras_config_form():
    config = {"num_bins": 9, "output_mode": "one_hot", "sparse": False, "name": "cross", "dtype": "float32"}
    layer = P.deserialize({"module": "keras.layers", "class_name": "HashedCrossing", "config": config})
    assert (layer.num_bins, layer.output_mode, layer.name) == (9, "one_hot", "cross")


def test_color_jitter_with_pinned_draws_matches_keras():
    x = _images()
    kwargs = dict(brightness_factor=(0.1, 0.1), saturation_factor=(0.7, 0.7))
    expected = K.RandomColorJitter(**kwargs)(x.numpy().copy(), training=True)
    _close(expected, P.RandomColorJitter(**kwargs)(x, training=True), atol=3e-4)


def test_color_jitter_seeded_and_identity_at_inference():
    x = _images(shape=(4, 6, 6, 3))
    kwargs = dict(brightness_factor=0.2, contrast_factor=0.5, saturation_factor=0.5, hue_factor=0.3, seed=9)
    layer = P.RandomColorJitter(**kwargs)
    assert torch.equal(layer(x), x)
    out = layer(x, training=True)
    assert not torch.equal(out, x) and out.min() >= -1e-3 and out.max() <= 255 + 1e-3
    assert torch.equal(out, P.RandomColorJitter(**kwargs)(x, training=True))
    keras_layer = K.RandomColorJitter(value_range=(0, 1), **kwargs)
    rebuilt = P.deserialize(K.serialize(keras_layer))
    assert rebuilt.get_config()["hue_factor"] == 0.3 and rebuilt.value_range == (0, 1) and len(rebuilt.steps) == 4


@pytest.mark.parametrize("count", [2, 5])
def test_max_num_bounding_boxes_matches_keras(count):
    g = torch.Generator().manual_seed(4)
    data = {
        "images": torch.rand(2, 4, 4, 3, generator=g),
        "bounding_boxes": {"boxes": torch.rand(2, 3, 4, generator=g), "labels": torch.tensor([[1.0, 2, 3], [4, 5, 6]])},
    }
    keras_data = {
        "images": data["images"].numpy(),
        "bounding_boxes": {k: v.numpy() for k, v in data["bounding_boxes"].items()},
    }
    expected = K.MaxNumBoundingBoxes(count, fill_value=-2, bounding_box_format="xyxy")(keras_data)
    ours = P.MaxNumBoundingBoxes(count, fill_value=-2, bounding_box_format="xyxy")(data)
    for key in ("boxes", "labels"):
        _close(expected["bounding_boxes"][key], ours["bounding_boxes"][key], atol=0)
    assert torch.equal(ours["images"], data["images"])
    config = K.MaxNumBoundingBoxes(count, fill_value=-2).get_config()
    rebuilt = P.deserialize(K.serialize(K.MaxNumBoundingBoxes(count, bounding_box_format="xyxy")))
    assert rebuilt.max_number == count and rebuilt.bounding_box_format == "xyxy"
    with pytest.raises(ValueError, match="bounding_box_format"):
        P.MaxNumBoundingBoxes(count)(data)
    assert config["max_number"] == count


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_perspective_matches_keras_given_its_corners(interpolation):
    x = _images()
    keras_layer = K.RandomPerspective(scale=0.8, interpolation=interpolation, fill_value=5.0, seed=1)
    draw = keras_layer.get_random_transformation(x.numpy().copy(), training=True)
    draw["apply_perspective"] = torch.tensor([True, False])
    expected = keras_layer.transform_images(x.numpy().copy(), draw)
    ours = P.RandomPerspective(scale=0.8, interpolation=interpolation, fill_value=5.0)
    out = ours.transform(_nchw(x), draw["end_points"], draw["apply_perspective"]).permute(0, 2, 3, 1)
    _close(expected, out, atol=1e-3)  # a float32 8x8 solve per image: 1e-3 on the 0..255 scale


def test_perspective_seeded_identity_and_config():
    x = _images(shape=(3, 8, 8, 3))
    layer = P.RandomPerspective(scale=0.5, seed=4)
    assert torch.equal(layer(x), x)
    out = layer(x, training=True)
    assert not torch.equal(out, x) and torch.equal(out, P.RandomPerspective(scale=0.5, seed=4)(x, training=True))
    test_keras_configs_rebuild(lambda: K.RandomPerspective(0.4, 0.3, "nearest", 2.0, seed=1))


@pytest.mark.parametrize("fill_mode", ["reflect", "constant", "wrap", "nearest"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_elastic_transform_matches_keras_given_its_noise(fill_mode, interpolation):
    # Keras's torch elastic_transform draws its two noise fields from torch's global generator:
    # the same manual_seed gives plait the same fields, passed to its transform.
    x = _images(shape=(2, 20, 24, 3))
    kwargs = dict(scale=0.8, fill_mode=fill_mode, interpolation=interpolation, fill_value=7.0)
    draw = {"apply_transform": torch.tensor([True, False]), "distortion_factor": torch.tensor(0.7), "seed": None}
    torch.manual_seed(5)
    expected = K.RandomElasticTransform(**kwargs).transform_images(x.numpy().copy(), draw)
    torch.manual_seed(5)
    noise = torch.stack([torch.randn(2, 20, 24), torch.randn(2, 20, 24)])
    out = P.RandomElasticTransform(**kwargs).transform(_nchw(x), 0.7, draw["apply_transform"], noise)
    _close(expected, out.permute(0, 2, 3, 1), atol=2e-3)


def test_elastic_transform_seeded_identity_and_config():
    x = _images(shape=(2, 16, 16, 3))
    layer = P.RandomElasticTransform(factor=(1.0, 1.0), seed=6)
    assert torch.equal(layer(x), x)
    out = layer(x, training=True)
    again = P.RandomElasticTransform(factor=(1.0, 1.0), seed=6)(x, training=True)
    assert not torch.equal(out, x) and torch.equal(out, again)
    test_keras_configs_rebuild(lambda: K.RandomElasticTransform(0.5, (0.2, 0.6), "nearest", "wrap", 3.0, (0, 1)))


@pytest.mark.filterwarnings("ignore:.*Tensor.T is deprecated:UserWarning")  # inside Keras's Equalization
def test_rand_augment_ops_follow_keras_order_and_numbers():
    x = torch.round(_images(shape=(2, 8, 8, 3)))
    keras_layer, ours = K.RandAugment(num_ops=2), P.RandAugment(num_ops=2)
    keras_names = [type(getattr(keras_layer, n)).__name__ for n in keras_layer._AUGMENT_LAYERS]
    assert [type(op).__name__ for op in ours.ops] == keras_names
    # The two deterministic picks (equalization on integer levels, then auto-contrast) give Keras's
    # numbers (the other order can move a float value across a histogram bin's edge).
    draw = keras_layer.get_random_transformation(x.numpy().copy(), training=True)
    draw["layer_idxes"] = torch.tensor([10, 9])
    # Keras runs every op and keeps the picked one, but its RandomBrightness adds into the images
    # in place even when not picked: a zero offset keeps that from leaking in.
    delta = draw["transforms"]["random_brightness"]["rgb_delta"]
    draw["transforms"]["random_brightness"]["rgb_delta"] = torch.zeros_like(torch.as_tensor(delta))
    expected = keras_layer.transform_images(x.numpy().copy(), draw)
    _close(expected, ours.transform(_nchw(x), picks=[10, 9]).permute(0, 2, 3, 1), atol=1e-3)


def test_rand_augment_seeded_ranged_identity_and_config():
    x = _images(shape=(4, 8, 8, 3))
    layer = P.RandAugment(num_ops=3, factor=0.7, seed=2)
    assert torch.equal(layer(x), x)
    out = layer(x, training=True)
    assert out.shape == x.shape and out.min() >= -1e-3 and out.max() <= 255 + 1e-3
    assert torch.equal(out, P.RandAugment(num_ops=3, factor=0.7, seed=2)(x, training=True))
    test_keras_configs_rebuild(lambda: K.RandAugment((0, 1), num_ops=3, factor=0.3, interpolation="nearest", seed=1))


@pytest.mark.filterwarnings("ignore:.*Tensor.T is deprecated:UserWarning")  # inside Keras's Equalization
@pytest.mark.parametrize("all_ops", [True, False])
def test_aug_mix_matches_keras_on_given_chains(all_ops):
    x = torch.round(_images(shape=(2, 8, 8, 3)))
    keras_layer, ours = K.AugMix(all_ops=all_ops), P.AugMix(all_ops=all_ops)
    keras_names = [type(getattr(keras_layer, n)).__name__ for n in keras_layer._augment_layers]
    assert [type(op).__name__ for op in ours.ops] == keras_names
    weights, blend = torch.tensor([0.2, 0.3, 0.5]), torch.tensor(0.4)
    chains = [["equalization"], ["equalization", "auto_contrast"], []]  # integer levels into the histogram
    draw = {
        "chain_mixing_weights": weights,
        "weight_sample": blend,
        "chain_transforms": [[{"layer_name": n, "transformation": None} for n in chain] for chain in chains],
    }
    expected = keras_layer.transform_images(x.numpy().copy(), draw)
    index = {n: i for i, n in enumerate(keras_layer._augment_layers)}
    picks = [[index[n] for n in chain] for chain in chains]
    out = ours.transform(_nchw(x), picks, weights, blend).permute(0, 2, 3, 1)
    _close(expected, out, atol=1e-3)


def test_aug_mix_seeded_ranged_identity_and_config():
    x = _images(shape=(4, 8, 8, 3))
    layer = P.AugMix(factor=0.5, seed=3)
    assert torch.equal(layer(x), x)
    out = layer(x, training=True)
    assert out.shape == x.shape and out.min() >= -1e-3 and out.max() <= 255 + 1e-3 and not torch.equal(out, x)
    assert torch.equal(out, P.AugMix(factor=0.5, seed=3)(x, training=True))
    test_keras_configs_rebuild(lambda: K.AugMix((0, 1), 2, 4, 0.2, 0.5, False, "nearest", seed=1))


CLAHE_CASES = [
    ((2, 16, 16, 3), dict()),
    ((2, 21, 18, 3), dict(tile_grid_size=(3, 4), clip_limit=2.0)),  # padded tiles
    ((1, 10, 13, 1), dict(clip_limit=0.0, tile_grid_size=(2, 3), value_range=(0, 1))),
    ((1, 3, 12, 12), dict(tile_grid_size=(2, 2), clip_limit=6.0, data_format="channels_first")),
]


@pytest.mark.parametrize("shape,kwargs", CLAHE_CASES)
def test_clahe_matches_keras(shape, kwargs):
    x = torch.rand(shape, generator=torch.Generator().manual_seed(6)) * kwargs.get("value_range", (0, 255))[1]
    layer_cls = "ContrastLimitedAdaptiveHistogramEqualization"
    expected = getattr(K, layer_cls)(**kwargs)(x.numpy().copy())
    ours = getattr(P, layer_cls)(**kwargs)
    scale = kwargs.get("value_range", (0, 255))[1] / 255
    _close(expected, ours(x), atol=1e-3 * scale)
    _close(expected, ours(x, training=True), atol=1e-3 * scale)  # no randomness: the same in training


def test_clahe_config_and_errors():
    test_keras_configs_rebuild(
        lambda: K.ContrastLimitedAdaptiveHistogramEqualization((0, 1), clip_limit=3.0, tile_grid_size=(4, 2))
    )
    with pytest.raises(ValueError, match="tile_grid_size"):
        P.ContrastLimitedAdaptiveHistogramEqualization(tile_grid_size=(0, 2))
