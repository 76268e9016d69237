"""Bounding boxes: ``plait.utils.bounding_boxes`` and boxes in the augmentation layers,
against Keras 3 itself.

The functions are compared number for number with ``keras.utils.bounding_boxes`` (absolute
tolerance 1e-4 on pixel coordinates, 1e-5 on relative ones and IoUs). The layers are compared
given the same random transformation (Keras's ``transform_bounding_boxes`` with Keras's draw,
plait's layer with the same draw pinned), and checked against the image itself: the box of a
painted rectangle follows the rectangle through the transform.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import plait  # noqa: E402
from plait.utils import bounding_boxes as P  # noqa: E402

K = keras.utils.bounding_boxes


def _numpy(x):
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


def _close(expected, got, atol=1e-4):
    np.testing.assert_allclose(_numpy(got), _numpy(expected), atol=atol, rtol=1e-5)


def _boxes(seed=0, shape=(2, 5), size=(30, 40)):
    """Random valid ``xyxy`` boxes inside a ``size = (height, width)`` image."""
    g = np.random.default_rng(seed)
    h, w = size
    x = np.sort(g.uniform(0, w, shape + (2,)), -1)
    y = np.sort(g.uniform(0, h, shape + (2,)), -1)
    return np.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], -1).astype("float32")


FORMATS = P.SUPPORTED_FORMATS


@pytest.mark.parametrize("source", FORMATS)
@pytest.mark.parametrize("target", FORMATS)
def test_convert_format_matches_keras(source, target):
    xyxy = _boxes(1)
    start = _numpy(K.convert_format(xyxy.copy(), "xyxy", source, height=30, width=40))
    expected = K.convert_format(start.copy(), source, target, height=30, width=40)
    got = P.convert_format(start, source, target, height=30, width=40)
    assert got.dtype == torch.float32 and got.shape == (2, 5, 4)
    _close(expected, got, atol=1e-4 if not target.startswith("rel") else 1e-5)


def test_convert_format_dicts_case_dtype_and_errors():
    data = {"boxes": _boxes(2), "labels": np.ones((2, 5))}
    got = P.convert_format(data, "XYXY", "Center_YXHW")
    _close(K.convert_format(dict(data), "xyxy", "center_yxhw")["boxes"], got["boxes"])
    assert got["labels"] is data["labels"]
    assert P.convert_format(_boxes(2), "xyxy", "xywh", dtype="float64").dtype == torch.float64
    with pytest.raises(ValueError, match="last dimension of 4"):
        P.convert_format(np.zeros((3, 5)), "xyxy", "xywh")
    with pytest.raises(ValueError, match="`target` should be one of"):
        P.convert_format(_boxes(), "xyxy", "corners")
    with pytest.raises(ValueError, match="needs `height` and `width`"):
        P.convert_format(_boxes(), "xyxy", "rel_xyxy")


@pytest.mark.parametrize("fmt", ["xyxy", "rel_xyxy"])
def test_clip_to_image_size_matches_keras(fmt):
    boxes = np.array([[[-5, 3, 20, 50], [45, 2, 60, 9], [5, 5, 10, 10]]], "float32")
    if fmt == "rel_xyxy":
        boxes = boxes / np.array([40, 30, 40, 30], "float32")
    data = {"boxes": boxes, "labels": np.array([[1, 2, 3]])}
    expected = K.clip_to_image_size(dict(data), height=30, width=40, bounding_box_format=fmt)
    got = P.clip_to_image_size(data, height=30, width=40, bounding_box_format=fmt)
    _close(expected["boxes"], got["boxes"], atol=1e-6)
    _close(expected["labels"], got["labels"], atol=0)
    # Other formats: converted there and back (Keras takes only these two).
    xywh = P.convert_format(boxes, fmt, "xywh" if fmt == "xyxy" else "rel_xywh", height=30, width=40)
    again = P.clip_to_image_size({"boxes": xywh}, 30, 40, "xywh" if fmt == "xyxy" else "rel_xywh")
    _close(got["boxes"], P.convert_format(again["boxes"], "xywh" if fmt == "xyxy" else "rel_xywh", fmt, 30, 40))
    with pytest.raises(ValueError, match="`height` and `width` must be set"):
        P.clip_to_image_size(data)
    with pytest.raises(ValueError, match="a dict with a 'boxes' entry"):
        P.clip_to_image_size(boxes, 30, 40)


@pytest.mark.parametrize(
    "params",
    [
        dict(angle=[30.0, -75.0]),
        dict(angle=[10.0, 0.0], translate_x=[0.1, -0.2], translate_y=[0.05, 0.3]),
        dict(angle=[0.0, 20.0], scale=[1.3, 0.8], center_x=0.3, center_y=0.6),
        dict(angle=[15.0, -5.0], shear_x=[10.0, -20.0], shear_y=[5.0, 12.0]),
    ],
)
def test_affine_transform_matches_keras(params):
    boxes = _boxes(3)
    defaults = dict(translate_x=[0.0, 0.0], translate_y=[0.0, 0.0], scale=[1.0, 1.0], shear_x=[0.0, 0.0])
    args = {**defaults, "shear_y": [0.0, 0.0], **params}
    tensors = {k: (np.asarray(v, "float32") if isinstance(v, list) else v) for k, v in args.items()}
    expected = K.affine_transform(boxes.copy(), height=30, width=40, **tensors)
    got = P.affine_transform(boxes, height=30, width=40, **tensors)
    _close(expected, got, atol=2e-4)
    # Any other format: the same boxes, written in that format.
    rel = P.convert_format(boxes, "xyxy", "rel_yxyx", 30, 40)
    rel = P.affine_transform(rel, height=30, width=40, bounding_box_format="rel_yxyx", **tensors)
    _close(expected, P.convert_format(rel, "rel_yxyx", "xyxy", 30, 40), atol=2e-4)


@pytest.mark.parametrize("window", [(10, 20, 40, 30), (0, 0, 15, 25), (5, 3, None, None)])
def test_crop_and_pad_match_keras(window):
    top, left, height, width = window
    boxes = _boxes(4) * 2
    if height is None:  # Keras clips to None only with numbers; compare the shift alone
        expected = np.maximum(boxes - np.array([left, top, left, top], "float32"), 0)
    else:
        expected = K.crop(boxes.copy(), top, left, height, width)
    _close(expected, P.crop(boxes, top, left, height, width))
    _close(K.pad(boxes.copy(), top, left), P.pad(boxes, top, left))
    # Another absolute format gives the same boxes.
    cropped = P.crop(P.convert_format(boxes, "xyxy", "center_xywh"), top, left, height, width, "center_xywh")
    _close(expected, P.convert_format(cropped, "center_xywh", "xyxy"))
    with pytest.raises(ValueError, match="absolute format"):
        P.pad(boxes, 1, 1, bounding_box_format="rel_xyxy")


@pytest.mark.parametrize("encoding", ["center_yxhw", "center_xywh"])
@pytest.mark.parametrize("variance", [None, [0.1, 0.1, 0.2, 0.2]])
def test_box_deltas_match_keras(encoding, variance):
    anchors, boxes = _boxes(5, (7,)), _boxes(6, (3, 7))
    expected = K.encode_box_to_deltas(anchors, boxes, "xyxy", "xyxy", encoding, variance)
    deltas = P.encode_box_to_deltas(anchors, boxes, "xyxy", "xyxy", encoding, variance)
    _close(expected, deltas, atol=1e-4)
    kept = K.decode_deltas_to_boxes(anchors, deltas.clone(), "xyxy", "yxyx", encoding, variance)
    _close(kept, P.decode_deltas_to_boxes(anchors, deltas, "xyxy", "yxyx", encoding, variance), atol=1e-3)
    back = P.decode_deltas_to_boxes(anchors, deltas, "xyxy", "yxyx", encoding, variance)
    _close(P.convert_format(boxes, "xyxy", "yxyx"), back, atol=1e-3)
    # Relative formats through image_shape, and per-level dicts.
    rel = P.convert_format(anchors, "xyxy", "rel_xyxy", 30, 40)
    levels = P.decode_deltas_to_boxes({"p3": rel}, {"p3": deltas}, "rel_xyxy", "xyxy", encoding, variance, (30, 40, 3))
    _close(boxes, levels["p3"], atol=1e-3)


def test_box_delta_errors():
    with pytest.raises(ValueError, match="`variance` must have length 4"):
        P.encode_box_to_deltas(_boxes(), _boxes(), "xyxy", "xyxy", variance=[1.0, 1.0])
    with pytest.raises(ValueError, match="`encoded_format` should be"):
        P.decode_deltas_to_boxes(_boxes(), _boxes(), "xyxy", "xyxy", encoded_format="xyxy")


@pytest.mark.parametrize("shapes", [((5,), (6,)), ((2, 5), (2, 6)), ((2, 5), (6,)), ((5,), (2, 6))])
@pytest.mark.parametrize("fmt", ["xyxy", "center_yxhw", "rel_xywh"])
def test_compute_iou_matches_keras(shapes, fmt):
    a, b = _boxes(7, shapes[0]), _boxes(8, shapes[1])
    a[..., 0, :] = -1.0  # a padding box, masked below
    a, b = (P.convert_format(v, "xyxy", fmt, 30, 40).numpy() if fmt != "xyxy" else v for v in (a, b))
    if fmt == "xyxy" and len(shapes[0]) == len(shapes[1]):
        # Keras masks on its converted boxes, and fails on mixed ranks: compared where it works.
        expected = K.compute_iou(a, b, fmt, use_masking=True, mask_val=-2)
        _close(expected, P.compute_iou(a, b, fmt, use_masking=True, mask_val=-2), atol=1e-5)
    expected = K.compute_iou(a, b, fmt, image_shape=(30, 40, 3))
    _close(expected, P.compute_iou(a, b, fmt, image_shape=(30, 40, 3)), atol=1e-5)


def test_compute_ciou_matches_keras():
    a, b = _boxes(9, (2, 6)), _boxes(10, (2, 6))
    b[0, 0] = a[0, 0]
    _close(K.compute_ciou(a, b, "xyxy"), P.compute_ciou(a, b, "xyxy"), atol=1e-5)
    xywh = [P.convert_format(v, "xyxy", "xywh") for v in (a, b)]
    _close(K.compute_ciou(a, b, "xyxy"), P.compute_ciou(*xywh, "xywh"), atol=1e-5)
    with pytest.raises(ValueError, match="relative bounding box formats are not supported"):
        P.compute_ciou(a, b, "rel_xyxy")
    with pytest.raises(ValueError, match="need the `image_shape`"):
        P.compute_iou(a, b, "rel_xyxy")
    with pytest.raises(ValueError, match="`boxes1` should have shape"):
        P.compute_iou(a[0, 0], b, "xyxy")


def test_namespace_matches_keras():
    names = {n for n in dir(K) if not n.startswith("_")}
    assert names <= set(P.__all__)
    assert plait.utils.bounding_boxes is P


# ---------------------------------------------------------------------------------------------
# Boxes in the layers.

L = keras.layers


def _data(seed=0, batch=2, size=(20, 24), per_image=3):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand((batch, *size, 3), generator=g) * 255
    boxes = torch.from_numpy(_boxes(seed, (batch, per_image), size))
    labels = torch.arange(batch * per_image).reshape(batch, per_image) + 1
    return images, boxes, labels


# Keras's random transformation as plait's draw, per layer.
KERAS_DRAW = {
    "RandomFlip": lambda t: {"flips": t["flips"]},
    "RandomRotation": lambda t: {"angle": t["angle"]},
    "RandomZoom": lambda t: {"zooms": torch.cat([t["width_zoom"], t["height_zoom"]], 1)},
    "RandomTranslation": lambda t: {"shifts": t["translations"]},
    "RandomShear": lambda t: {"shear": t["shear_factor"]},
    "RandomPerspective": lambda t: {"end_points": t["end_points"], "apply": t["apply_perspective"]},
}

GEOMETRIC = [
    ("RandomFlip", dict(mode="horizontal_and_vertical"), ["xyxy", "rel_yxyx", "center_xywh"]),
    ("RandomFlip", dict(mode="horizontal"), ["xyxy", "xywh"]),
    ("RandomRotation", dict(factor=0.3), ["xyxy"]),
    ("RandomZoom", dict(height_factor=(-0.4, 0.4), width_factor=(-0.3, 0.5)), ["xyxy", "rel_xyxy", "yxyx"]),
    ("RandomTranslation", dict(height_factor=0.3, width_factor=0.3), ["xyxy", "center_yxhw", "rel_center_xywh"]),
    ("RandomShear", dict(x_factor=0.3, y_factor=0.2), ["xyxy", "rel_xywh", "xywh"]),
    ("RandomPerspective", dict(scale=0.6, factor=0.8), ["xyxy"]),
]


def _pinned(layer, draw):
    """``layer`` with its random draw replaced by ``draw`` (the draw hook is public)."""
    layer.draw = lambda x: draw
    return layer


@pytest.mark.parametrize("name, kwargs, formats", GEOMETRIC)
@pytest.mark.parametrize("seed", [1, 2])
def test_geometric_layer_boxes_match_keras(name, kwargs, formats, seed):
    images, boxes, labels = _data(seed)
    for fmt in formats:
        given = P.convert_format(boxes, "xyxy", fmt, 20, 24)
        theirs = getattr(L, name)(**kwargs, bounding_box_format=fmt, seed=seed)
        transformation = theirs.get_random_transformation({"images": images.clone()}, training=True)
        expected = theirs.transform_bounding_boxes({"boxes": given.clone(), "labels": labels.clone()}, transformation)
        ours = _pinned(getattr(plait.layers, name)(**kwargs, bounding_box_format=fmt), KERAS_DRAW[name](transformation))
        out = ours({"images": images, "bounding_boxes": {"boxes": given, "labels": labels}}, training=True)
        atol = 1e-5 if fmt.startswith("rel") else 2e-4
        _close(expected["boxes"], out["bounding_boxes"]["boxes"], atol=atol)
        _close(expected["labels"], out["bounding_boxes"]["labels"], atol=0)
        # The images are the layer's own images under the same draw.
        _close(ours(images, training=True), out["images"], atol=0)


@pytest.mark.parametrize("name, kwargs", [("RandomRotation", dict(factor=0.3)), ("RandomPerspective", dict(scale=0.6))])
def test_layers_keras_reads_as_xyxy_convert_other_formats(name, kwargs):
    # Keras's rotation reads and its perspective writes boxes as xyxy whatever the format; plait
    # converts: any format gives the xyxy result, written in that format.
    images, boxes, labels = _data(3)
    layer = getattr(plait.layers, name)(**kwargs, bounding_box_format="xyxy", seed=4)
    draw = layer.draw(layer._to_nchw(images)[0])
    xyxy = _pinned(layer, draw)({"images": images, "bounding_boxes": {"boxes": boxes, "labels": labels}}, training=True)
    other = _pinned(getattr(plait.layers, name)(**kwargs, bounding_box_format="rel_center_xywh"), draw)
    rel = P.convert_format(boxes, "xyxy", "rel_center_xywh", 20, 24)
    out = other({"images": images, "bounding_boxes": {"boxes": rel, "labels": labels}}, training=True)
    converted = P.convert_format(out["bounding_boxes"]["boxes"], "rel_center_xywh", "xyxy", 20, 24)
    _close(xyxy["bounding_boxes"]["boxes"], converted, atol=2e-4)


def test_random_crop_boxes_match_keras_where_keras_is_right():
    # Keras's RandomCrop subtracts the top offset from x and the left one from y, and does not clip
    # at the far side: with equal offsets and boxes inside the window the rules agree.
    images = torch.rand(2, 20, 24, 3)
    boxes = torch.tensor([[[4.0, 5, 10, 12], [3, 3, 15, 13]], [[6, 4, 14, 9], [5.5, 7, 9, 13]]])
    labels = torch.tensor([[1, 2], [3, 4]])
    theirs = L.RandomCrop(10, 12, bounding_box_format="xyxy")
    expected = theirs.transform_bounding_boxes({"boxes": boxes.clone(), "labels": labels}, (3, 3))
    ours = _pinned(plait.layers.RandomCrop(10, 12, bounding_box_format="xyxy"), {"start": (3, 3)})
    out = ours({"images": images, "bounding_boxes": {"boxes": boxes, "labels": labels}}, training=True)
    _close(expected["boxes"], out["bounding_boxes"]["boxes"])
    assert out["images"].shape == (2, 10, 12, 3)
    # Outside the window plait clips and drops the label (Keras leaves such boxes as they are).
    outside = {"boxes": torch.tensor([[[0.0, 0, 2, 2], [10, 10, 30, 30]]]), "labels": torch.tensor([[5, 6]])}
    _pinned(ours, {"start": (3, 4)})
    out = ours({"images": images[:1], "bounding_boxes": outside}, training=True)["bounding_boxes"]
    _close([[[0.0, 0, 0, 0], [6, 7, 12, 10]]], out["boxes"])
    _close([[-1, 6]], out["labels"], atol=0)


@pytest.mark.parametrize(
    "options", [{}, {"crop_to_aspect_ratio": True}, {"pad_to_aspect_ratio": True}], ids=["stretch", "crop", "pad"]
)
@pytest.mark.parametrize("fmt", ["xyxy", "rel_xyxy", "center_xywh"])
def test_resizing_boxes_match_keras(options, fmt):
    images, boxes, labels = _data(5)
    boxes[0, 0] = 0.0  # a padding box: stays empty
    given = P.convert_format(boxes, "xyxy", fmt, 20, 24)
    data = {"images": images.clone(), "bounding_boxes": {"boxes": given.clone(), "labels": labels.clone()}}
    expected = L.Resizing(16, 10, bounding_box_format=fmt, **options)(data)
    out = plait.layers.Resizing(16, 10, bounding_box_format=fmt, **options)(
        {"images": images, "bounding_boxes": {"boxes": given, "labels": labels}}
    )
    _close(expected["bounding_boxes"]["boxes"], out["bounding_boxes"]["boxes"], atol=1e-4)
    _close(expected["bounding_boxes"]["labels"], out["bounding_boxes"]["labels"], atol=0)
    _close(expected["images"], out["images"], atol=1e-3)


@pytest.mark.parametrize("size", [(12, 16), (30, 10), (25, 30)])
def test_center_crop_boxes_match_keras(size):
    images, boxes, labels = _data(6)
    data = {"images": images.clone(), "bounding_boxes": {"boxes": boxes.clone(), "labels": labels.clone()}}
    expected = L.CenterCrop(*size, bounding_box_format="xyxy")(data)
    out = plait.layers.CenterCrop(*size, bounding_box_format="xyxy")(
        {"images": images, "bounding_boxes": {"boxes": boxes, "labels": labels}}
    )
    _close(expected["bounding_boxes"]["boxes"], out["bounding_boxes"]["boxes"], atol=1e-4)
    _close(expected["bounding_boxes"]["labels"], out["bounding_boxes"]["labels"], atol=0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised inside Keras's MixUp (numpy 2's __array__)
def test_mixup_boxes_match_keras():
    images, boxes, labels = _data(7, batch=4)
    theirs = L.MixUp(bounding_box_format="xyxy", seed=3)
    transformation = theirs.get_random_transformation({"images": images.clone()}, training=True)
    expected = theirs.transform_bounding_boxes({"boxes": boxes.clone(), "labels": labels.clone()}, transformation)
    ours = _pinned(plait.layers.MixUp(bounding_box_format="xyxy"), dict(transformation))
    out = ours({"images": images, "bounding_boxes": {"boxes": boxes, "labels": labels}}, training=True)
    _close(expected["boxes"], out["bounding_boxes"]["boxes"], atol=0)
    # Keras stacks the labels on the batch axis (8 rows of 3); plait keeps one row per image.
    order = transformation["permutation_order"]
    _close(torch.cat([labels, labels[order]], 1), out["bounding_boxes"]["labels"], atol=0)


# A painted rectangle's own box: the boxes must follow what the layer does to the pixels.
CONSISTENCY = [
    ("RandomFlip", dict()),
    ("RandomRotation", dict(factor=0.15, fill_mode="constant", interpolation="nearest")),
    (
        "RandomZoom",
        dict(height_factor=(-0.3, 0.3), width_factor=(-0.2, 0.4), fill_mode="constant", interpolation="nearest"),
    ),
    ("RandomTranslation", dict(height_factor=0.2, width_factor=0.2, fill_mode="constant", interpolation="nearest")),
    ("RandomShear", dict(x_factor=0.3, fill_mode="constant", interpolation="nearest")),
    ("RandomPerspective", dict(scale=0.4, interpolation="nearest")),
    ("RandomCrop", dict(height=40, width=36)),
    ("RandomCrop", dict(height=70, width=50)),
    ("Resizing", dict(height=40, width=50, interpolation="nearest")),
    ("Resizing", dict(height=40, width=50, interpolation="nearest", pad_to_aspect_ratio=True)),
    ("CenterCrop", dict(height=30, width=44)),
    ("RandAugment", dict(num_ops=3, factor=0.2, interpolation="nearest")),
]


def _painted(batch=4, size=(64, 64)):
    """Images of zeros with one rectangle of ones each (the same for masks), and its boxes."""
    g = np.random.default_rng(0)
    images = torch.zeros(batch, *size, 1)
    rects = []
    for i in range(batch):
        x1, y1 = g.integers(18, 26), g.integers(18, 26)
        x2, y2 = x1 + g.integers(10, 20), y1 + g.integers(8, 18)
        images[i, y1:y2, x1:x2] = 1.0
        rects.append([[x1, y1, x2, y2]])
    return images, torch.tensor(rects, dtype=torch.float32)


def _extent(image):
    """The ``xyxy`` box of an image's pixels above one half (pixel edges)."""
    rows, cols = torch.nonzero(image[..., 0] > 0.5, as_tuple=True)
    return [cols.min().item(), rows.min().item(), cols.max().item() + 1, rows.max().item() + 1]


@pytest.mark.parametrize("name, kwargs", CONSISTENCY)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_boxes_and_masks_follow_the_painted_rectangle(name, kwargs, seed):
    images, rects = _painted()
    random = {} if name in ("Resizing", "CenterCrop") else {"seed": seed}
    layer = getattr(plait.layers, name)(**kwargs, bounding_box_format="xyxy", **random)
    if name == "RandAugment":
        # Translation, rotation, translation: the colour picks repaint the background, and a shear
        # followed by a rotation boxes a box (larger than the rectangle's own box).
        picks = [1, 2, 1]
        layer.draw = lambda x: {"picks": picks, "draws": [layer.ops[p].draw(x) for p in picks]}
    masks = images.to(torch.uint8)
    data = {
        "images": images,
        "bounding_boxes": {"boxes": rects, "labels": torch.ones(4, 1)},
        "segmentation_masks": masks,
    }
    out = layer(data, training=True)
    boxes = out["bounding_boxes"]["boxes"]
    assert out["segmentation_masks"].dtype == torch.uint8
    for i in range(len(images)):
        # Within 1.5 pixels: box edges are continuous, the painted pixels are whole.
        np.testing.assert_allclose(boxes[i, 0].numpy(), _extent(out["images"][i]), atol=1.5)
        if name != "Resizing" or "interpolation" in kwargs:
            np.testing.assert_array_equal(out["segmentation_masks"][i].numpy(), (out["images"][i] > 0.5).numpy())


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("RandomBrightness", dict(factor=0.3)),
        ("RandomContrast", dict(factor=0.5)),
        ("RandomGrayscale", dict(factor=1.0)),
        ("RandomHue", dict(factor=0.5)),
        ("RandomSaturation", dict(factor=0.5)),
        ("RandomColorJitter", dict(brightness_factor=0.2, contrast_factor=0.3)),
        ("RandomSharpness", dict(factor=0.5)),
        ("RandomPosterization", dict(factor=(2, 6))),
        ("Solarization", dict(addition_factor=0.2, threshold_factor=0.5)),
        ("RandomInvert", dict()),
        ("RandomColorDegeneration", dict(factor=0.5)),
        ("AutoContrast", dict()),
        ("Equalization", dict()),
        ("RandomGaussianBlur", dict()),
        ("RandomErasing", dict()),
        ("AugMix", dict()),
    ],
)
def test_colour_layers_pass_boxes_and_masks(name, kwargs):
    images, boxes, labels = _data(8)
    masks = torch.randint(0, 3, (2, 20, 24, 1), dtype=torch.uint8)
    random = {} if name == "AutoContrast" else {"seed": 0}
    layer = getattr(plait.layers, name)(**kwargs, bounding_box_format="rel_xyxy", **random)
    rel = P.convert_format(boxes, "xyxy", "rel_xyxy", 20, 24)
    data = {"images": images, "bounding_boxes": {"boxes": rel, "labels": labels}, "segmentation_masks": masks}
    out = layer(data, training=True)
    _close(rel, out["bounding_boxes"]["boxes"], atol=1e-6)
    _close(labels, out["bounding_boxes"]["labels"], atol=0)
    if name != "AugMix":  # AugMix mixes masks through its geometric chains, as Keras does
        _close(masks, out["segmentation_masks"], atol=0)
    assert not torch.equal(out["images"], images) or name in ("RandomErasing", "RandomGaussianBlur")


def test_masks_match_keras_given_the_same_draw():
    images, _, _ = _data(9)
    masks = torch.randint(0, 4, (2, 20, 24, 1)).float()
    for name, kwargs in [("RandomFlip", {}), ("RandomRotation", dict(factor=0.2)), ("RandomShear", dict(x_factor=0.2))]:
        theirs = getattr(L, name)(**kwargs, seed=5)
        transformation = theirs.get_random_transformation({"images": images.clone()}, training=True)
        expected = theirs.transform_segmentation_masks(masks.clone(), transformation)
        ours = _pinned(getattr(plait.layers, name)(**kwargs), KERAS_DRAW[name](transformation))
        out = ours({"images": images, "segmentation_masks": masks}, training=True)["segmentation_masks"]
        agree = (_numpy(out) == _numpy(expected)).mean()
        assert agree > 0.99, (name, agree)  # nearest sampling: a rounding tie may pick the other pixel


def test_unbatched_ragged_inference_and_labels():
    images, boxes, labels = _data(10)
    layer = plait.layers.RandomFlip("horizontal", bounding_box_format="xyxy")
    _pinned(layer, {"flips": torch.ones(1, 1, 1, 1, dtype=torch.bool)})
    one = layer({"images": images[0], "bounding_boxes": {"boxes": boxes[0], "labels": labels[0]}}, training=True)
    assert one["images"].shape == (20, 24, 3) and one["bounding_boxes"]["boxes"].shape == (3, 4)
    _close(24 - boxes[0][:, [2, 0]], one["bounding_boxes"]["boxes"][:, [0, 2]])
    # Ragged lists: padded with empty boxes labelled -1.
    ragged = {"boxes": [[[1.0, 2, 5, 6]], [[0.0, 0, 3, 3], [4, 4, 8, 8]]], "labels": [[7], [8, 9]]}
    _pinned(layer, {"flips": torch.tensor([True, False]).reshape(2, 1, 1, 1)})
    out = layer({"images": images, "bounding_boxes": ragged}, training=True)["bounding_boxes"]
    _close([[[19.0, 2, 23, 6], [24, 0, 24, 0]], [[0, 0, 3, 3], [4, 4, 8, 8]]], out["boxes"])
    _close([[7, -1], [8, 9]], out["labels"], atol=0)
    # Inference: everything passes (boxes as float32 tensors); class labels pass too.
    data = {"images": images, "bounding_boxes": {"boxes": boxes.numpy(), "labels": labels}, "labels": torch.eye(2)}
    out = layer(data)
    _close(boxes, out["bounding_boxes"]["boxes"], atol=0)
    _close(torch.eye(2), out["labels"], atol=0)
    # MixUp mixes the class labels with the images' weights, boxes and masks alike.
    mixed = plait.layers.MixUp(seed=1)({"images": images, "labels": torch.eye(2)}, training=True)
    _close(torch.ones(2), mixed["labels"].sum(1))


def test_bad_box_input_names_the_layer():
    images, boxes, labels = _data(11)
    flip = plait.layers.RandomFlip(name="flipper")
    with pytest.raises(
        ValueError, match="RandomFlip layer 'flipper' was given 'bounding_boxes' but no bounding box format"
    ):
        flip({"images": images, "bounding_boxes": {"boxes": boxes, "labels": labels}}, training=True)
    flip = plait.layers.RandomFlip(bounding_box_format="xyxy", name="flipper")
    bad = [
        ({"boxes": boxes}, r"`bounding_boxes` should be a dict with 'boxes' and 'labels'. Received: \['boxes'\]"),
        (
            {"boxes": boxes[..., :3], "labels": labels},
            r"`bounding_boxes\['boxes'\]` should have shape \(batch, num_boxes, 4\)",
        ),
        ({"boxes": boxes[0], "labels": labels[0]}, r"should have shape \(batch, num_boxes, 4\)"),
        ({"boxes": boxes[:1], "labels": labels[:1]}, "one row per image"),
        ({"boxes": boxes, "labels": labels[:, :2]}, "one label per box"),
    ]
    for given, message in bad:
        with pytest.raises(ValueError, match="RandomFlip layer 'flipper': .*" + message):
            flip({"images": images, "bounding_boxes": given}, training=True)
    with pytest.raises(ValueError, match="RandomFlip layer 'flipper': `segmentation_masks` should have"):
        flip({"images": images, "segmentation_masks": torch.zeros(2, 10, 24, 1)}, training=True)
    with pytest.raises(ValueError, match="RandomFlip layer 'flipper' expects a dict with an 'images' entry"):
        flip({"bounding_boxes": {"boxes": boxes, "labels": labels}}, training=True)
    with pytest.raises(ValueError, match="RandomZoom layer '.*': `bounding_box_format` should be one of"):
        plait.layers.RandomZoom(0.1, bounding_box_format="corners")
    for layer in (
        plait.layers.RandomElasticTransform(bounding_box_format="xyxy"),
        plait.layers.CutMix(bounding_box_format="xyxy"),
    ):
        with pytest.raises(NotImplementedError, match=f"{type(layer).__name__} layer '{layer.name}' cannot"):
            layer({"images": images, "bounding_boxes": {"boxes": boxes, "labels": labels}}, training=True)


def test_bounding_box_format_config_round_trips_with_keras():
    for name, kwargs in [
        ("RandomFlip", {}),
        ("RandomRotation", dict(factor=0.2)),
        ("Resizing", dict(height=4, width=5)),
    ]:
        keras_layer = getattr(L, name)(**kwargs, bounding_box_format="center_xywh")
        rebuilt = plait.layers.deserialize(keras.layers.serialize(keras_layer))
        assert rebuilt.bounding_box_format == "center_xywh"
        assert rebuilt.get_config()["bounding_box_format"] == keras_layer.get_config()["bounding_box_format"]
        assert "bounding_box_format" not in getattr(plait.layers, name)(**kwargs).get_config()


def test_augmix_masks_match_keras_given_the_same_chains():
    # Keras's AugMix mixes masks through its chains (geometric steps move them, colour steps
    # leave them), then blends: plait given Keras's chains, weights and step draws.
    images, _, _ = _data(12)
    masks = torch.randint(0, 3, (2, 20, 24, 1)).float()
    theirs = L.AugMix(num_chains=3, chain_depth=3, seed=4)
    names = [n for n in dir(L) if not n.startswith("_")]
    by_snake = {"".join(c if c.islower() else "_" + c.lower() for c in n).lstrip("_"): n for n in names}
    for _ in range(50):  # Keras picks the steps with Python's unseeded random: wait for a geometric one
        transformation = theirs.get_random_transformation({"images": images.clone()}, training=True)
        chosen = [by_snake[s["layer_name"]] for c in transformation["chain_transforms"] for s in c]
        if any(name in KERAS_DRAW for name in chosen):
            break
    expected = theirs.transform_segmentation_masks(masks.clone(), transformation)
    ours = plait.layers.AugMix(num_chains=3, chain_depth=3)
    chains, steps = [], []
    for chain in transformation["chain_transforms"]:
        layers_used = [by_snake[step["layer_name"]] for step in chain]
        chains.append([[type(op).__name__ for op in ours.ops].index(n) for n in layers_used])
        steps.append([KERAS_DRAW.get(n, lambda t: {})(s["transformation"]) for n, s in zip(layers_used, chain)])
    assert any(name in KERAS_DRAW for name in chosen)
    draw = {
        "chains": chains,
        "step_draws": steps,
        "chain_weights": transformation["chain_mixing_weights"],
        "blend": transformation["weight_sample"],
    }
    out = _pinned(ours, draw)({"images": images, "segmentation_masks": masks}, training=True)["segmentation_masks"]
    agree = np.isclose(_numpy(out), _numpy(expected), atol=1e-4).mean()
    assert agree > 0.98, agree  # nearest sampling: a rounding tie may pick the other pixel


def test_dict_output_shapes():
    shapes = {"images": (None, 20, 24, 3), "segmentation_masks": (None, 20, 24, 1), "labels": (None, 5)}
    out = plait.layers.Resizing(8, 10, bounding_box_format="xyxy").compute_output_shape(shapes)
    assert out == {"images": (None, 8, 10, 3), "segmentation_masks": (None, 8, 10, 1), "labels": (None, 5)}
    boxes = {"boxes": (None, 3, 4), "labels": (None, 3)}
    out = plait.layers.MixUp().compute_output_shape({"images": (None, 20, 24, 3), "bounding_boxes": boxes})
    assert out["bounding_boxes"] == {"boxes": (None, 6, 4), "labels": (None, 6)}
    assert plait.layers.RandomCrop(4, 5).compute_output_shape((2, 20, 24, 3)) == (2, 4, 5, 3)
