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
