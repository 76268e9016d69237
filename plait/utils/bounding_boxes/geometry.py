"""Moving bounding boxes with their image: clipping, affine maps, crops, pads, and the
anchor-delta encoding of detection heads (Keras's ``keras.utils.bounding_boxes`` functions)."""

import math

import torch

from plait.utils.bounding_boxes.formats import as_tensor, check_format, convert_format

_EPSILON = 1e-7  # Keras's backend.epsilon(); plait.utils sits below plait.ops and cannot ask it


def box_area(boxes):
    """The areas ``(...)`` of ``xyxy`` boxes ``(..., 4)`` (negative for inverted boxes)."""
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def drop_empty(labels, boxes):
    """``labels`` set to -1 where the ``xyxy`` box has no area left, as Keras marks boxes that a
    transform pushed out of the image. Labels may carry trailing axes (one-hot classes)."""
    keep = box_area(boxes) > 0
    keep = keep.reshape(keep.shape + (1,) * (labels.dim() - keep.dim()))
    return torch.where(keep, labels, torch.full_like(labels, -1))


def _edges(x, low, high):
    return x.clamp(min=low) if high is None else torch.minimum(x.clamp(min=low), high)


def clip_xyxy(boxes, height, width):
    """``xyxy`` boxes clipped to ``[0, width] x [0, height]`` (numbers or broadcasting tensors)."""
    width, height = as_tensor(width).to(boxes), as_tensor(height).to(boxes)
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack([_edges(x1, 0, width), _edges(y1, 0, height), _edges(x2, 0, width), _edges(y2, 0, height)], -1)


def clip_to_image_size(bounding_boxes, height=None, width=None, bounding_box_format="xyxy"):
    """Clips boxes to the image; a box left without area gets the label -1.

    Args:
        bounding_boxes: a dict with ``"boxes"`` ``(N, 4)`` or ``(batch, N, 4)`` and optionally
            ``"labels"`` ``(N,)`` or ``(batch, N)``.
        height, width: the image size; needed for absolute formats (a relative format is
            clipped to ``[0, 1]``).
        bounding_box_format: the boxes' format, default ``"xyxy"`` (Keras takes ``"xyxy"``
            and ``"rel_xyxy"``; plait converts any other format there and back).

    Returns:
        a new dict with clipped ``"boxes"`` and, when given, updated ``"labels"``.

    Example:
        >>> from plait.utils import bounding_boxes
        >>> out = bounding_boxes.clip_to_image_size(
        ...     {"boxes": [[-10.0, 5, 50, 20], [200, 5, 300, 20]], "labels": [3, 4]}, height=100, width=120
        ... )
        >>> out["boxes"], out["labels"]
        (tensor([[  0.,   5.,  50.,  20.],
                [120.,   5., 120.,  20.]]), tensor([ 3, -1]))
    """
    if not isinstance(bounding_boxes, dict) or "boxes" not in bounding_boxes:
        raise ValueError(
            "clip_to_image_size(): `bounding_boxes` should be a dict with a 'boxes' entry. "
            f"Received: {type(bounding_boxes).__name__}"
        )
    fmt = check_format("bounding_box_format", bounding_box_format, "clip_to_image_size()")
    relative = fmt.startswith("rel_")
    if not relative and (height is None or width is None):
        raise ValueError(
            f"clip_to_image_size(): `height` and `width` must be set for bounding_box_format={fmt!r}. "
            f"Received: height={height}, width={width}"
        )
    boxes = as_tensor(bounding_boxes["boxes"])
    boxes = boxes if boxes.is_floating_point() else boxes.float()
    # Work in xyxy of the same units (relative formats as rel_xyxy, clipped to the unit square).
    work = "rel_xyxy" if relative else "xyxy"
    xyxy = convert_format(boxes, fmt, work, height, width, dtype=boxes.dtype)
    xyxy = clip_xyxy(xyxy, 1.0, 1.0) if relative else clip_xyxy(xyxy, height, width)
    result = dict(bounding_boxes)
    result["boxes"] = convert_format(xyxy, work, fmt, height, width, dtype=boxes.dtype)
    if bounding_boxes.get("labels") is not None:
        result["labels"] = drop_empty(as_tensor(bounding_boxes["labels"]), xyxy)
    return result


def _batched(value, batch, like):
    value = as_tensor(value).to(like)
    return value.reshape(-1).expand(batch) if value.numel() in (1, batch) else value


def affine_matrix(angle, translate_x, translate_y, scale, shear_x, shear_y, height, width, center_x, center_y):
    """The ``(batch, 2, 3)`` maps Keras applies to box corners: a rotation by ``-angle`` degrees
    with shear angles ``-shear_x``, ``-shear_y`` (composed as Keras composes them, determinant
    one) times ``scale``, about the centre, after a shift of ``translate * (size - 1)``."""
    rot = -angle * (math.pi / 180.0)
    shx, shy = -shear_x * (math.pi / 180.0), -shear_y * (math.pi / 180.0)
    tilt = torch.tan(shx)
    m10 = torch.sin(rot - shy) / torch.cos(shy)
    m11 = torch.cos(rot - shy) / torch.cos(shy)
    m00 = torch.cos(rot) + m10 * tilt
    m01 = -torch.sin(rot) - m11 * tilt
    linear = torch.stack([torch.stack([m00, m01], -1), torch.stack([m10, m11], -1)], -2) * scale[:, None, None]
    center = torch.stack([center_x * (width - 1), center_y * (height - 1)], -1)
    shift = torch.stack([translate_x * (width - 1), translate_y * (height - 1)], -1)
    # p' = L (p - c + t) + c, written as an affine [L | c - L (c - t)].
    offset = center - (linear @ (center - shift).unsqueeze(-1)).squeeze(-1)
    return torch.cat([linear, offset.unsqueeze(-1)], -1)


def transform_corners(boxes, matrix):
    """The smallest ``xyxy`` boxes holding the four corners of ``xyxy`` boxes ``(batch, N, 4)``
    mapped by ``matrix``: ``(batch, 2, 3)`` affine or ``(batch, 3, 3)`` projective maps of
    ``(x, y, 1)``, one per image."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    corners = torch.stack([torch.stack([x1, x2, x2, x1], -1), torch.stack([y1, y1, y2, y2], -1)], -1)
    points = torch.cat([corners, torch.ones_like(corners[..., :1])], -1)  # (batch, N, 4, 3)
    mapped = torch.einsum("bnkj,bij->bnki", points, matrix.to(points))
    if matrix.shape[-2] == 3:  # projective: divide by the homogeneous coordinate
        mapped = mapped[..., :2] / mapped[..., 2:]
    return torch.cat([mapped.amin(-2), mapped.amax(-2)], -1)


def affine_transform(
    boxes,
    angle,
    translate_x,
    translate_y,
    scale,
    shear_x,
    shear_y,
    height,
    width,
    center_x=None,
    center_y=None,
    bounding_box_format="xyxy",
):
    """Applies an affine map (rotation, translation, scale, shear) to boxes, as Keras does: the
    four corners are mapped and the box becomes their bounding box.

    Args:
        boxes: ``(batch, N, 4)`` (or ``(N, 4)`` for one image) boxes.
        angle: rotation in degrees, one per image ``(batch,)``. translate_x, translate_y:
            shifts as fractions of ``width - 1`` and ``height - 1``. scale: the scale factor.
            shear_x, shear_y: shear angles in degrees. Each is a number or ``(batch,)``.
        height, width: the image size. center_x, center_y: the centre as fractions (default
            0.5). bounding_box_format: the boxes' format (default ``"xyxy"``).

    Returns:
        the transformed boxes, same shape and format.

    Example:
        >>> import torch
        >>> from plait.utils import bounding_boxes
        >>> boxes = torch.tensor([[[0.0, 0.0, 2.0, 1.0]]])
        >>> bounding_boxes.affine_transform(boxes, torch.tensor([0.0]), 0.5, 0.0, 1.0, 0.0, 0.0, 5, 5)
        tensor([[[2., 0., 4., 1.]]])
    """
    fmt = check_format("bounding_box_format", bounding_box_format, "affine_transform()")
    boxes = as_tensor(boxes)
    boxes = boxes if boxes.is_floating_point() else boxes.float()
    single = boxes.dim() == 2
    if boxes.dim() not in (2, 3) or boxes.shape[-1] != 4:
        raise ValueError(
            f"affine_transform(): `boxes` should have shape (N, 4) or (batch, N, 4). Received: {tuple(boxes.shape)}"
        )
    batched = boxes.unsqueeze(0) if single else boxes
    xyxy = convert_format(batched, fmt, "xyxy", height, width, dtype=batched.dtype)
    batch = xyxy.shape[0]
    params = [_batched(v, batch, xyxy) for v in (angle, translate_x, translate_y, scale, shear_x, shear_y)]
    centers = [_batched(0.5 if c is None else c, batch, xyxy) for c in (center_x, center_y)]
    size = [as_tensor(v).to(xyxy) for v in (height, width)]
    moved = transform_corners(xyxy, affine_matrix(*params, *size, *centers))
    out = convert_format(moved, "xyxy", fmt, height, width, dtype=xyxy.dtype)
    return out[0] if single else out


def _absolute(who, bounding_box_format):
    fmt = check_format("bounding_box_format", bounding_box_format, who)
    if fmt.startswith("rel_"):
        raise ValueError(
            f"{who}: offsets are in pixels, so the boxes must be in an absolute format (e.g. 'xyxy'). "
            f"Received: bounding_box_format={bounding_box_format!r}"
        )
    return fmt


def crop(boxes, top, left, height, width, bounding_box_format="xyxy"):
    """Boxes seen from a crop window: shifted by ``(left, top)`` and clipped to its
    ``(height, width)`` (None leaves that side unclipped).

    Args:
        boxes: ``(N, 4)`` or ``(batch, N, 4)``. top, left: the window's offsets (numbers or
            tensors broadcasting against the boxes' leading axes). height, width: its size.
        bounding_box_format: an absolute format (default ``"xyxy"``).

    Example:
        >>> from plait.utils import bounding_boxes
        >>> bounding_boxes.crop([[10.0, 20, 50, 60]], top=10, left=20, height=40, width=30)
        tensor([[ 0., 10., 30., 40.]])
    """
    fmt = _absolute("crop()", bounding_box_format)
    boxes = as_tensor(boxes)
    boxes = boxes if boxes.is_floating_point() else boxes.float()
    x1, y1, x2, y2 = convert_format(boxes, fmt, "xyxy", dtype=boxes.dtype).unbind(-1)
    top, left = as_tensor(top).to(boxes), as_tensor(left).to(boxes)
    h = None if height is None else as_tensor(height).to(boxes)
    w = None if width is None else as_tensor(width).to(boxes)
    moved = [_edges(x1 - left, 0, w), _edges(y1 - top, 0, h), _edges(x2 - left, 0, w), _edges(y2 - top, 0, h)]
    return convert_format(torch.stack(moved, -1), "xyxy", fmt, dtype=boxes.dtype)


def pad(boxes, top, left, height=None, width=None, bounding_box_format="xyxy"):
    """Boxes of an image padded by ``top`` rows and ``left`` columns: shifted by them.

    Args:
        boxes: ``(N, 4)`` or ``(batch, N, 4)``. top, left: the padding. height, width: the
            padded image's size (taken, unused, as in Keras).
        bounding_box_format: an absolute format (default ``"xyxy"``).

    Example:
        >>> from plait.utils import bounding_boxes
        >>> bounding_boxes.pad([[10.0, 20, 50, 60]], top=5, left=2)
        tensor([[12., 25., 52., 65.]])
    """
    fmt = _absolute("pad()", bounding_box_format)
    boxes = as_tensor(boxes)
    boxes = boxes if boxes.is_floating_point() else boxes.float()
    xyxy = convert_format(boxes, fmt, "xyxy", dtype=boxes.dtype)
    shift = torch.stack([as_tensor(v).to(boxes) for v in (left, top, left, top)], -1)
    return convert_format(xyxy + shift, "xyxy", fmt, dtype=boxes.dtype)


def _delta_options(who, variance, encoding, name, image_shape):
    if variance is not None:
        variance = as_tensor(variance, "float32")
        if variance.shape[-1:] != (4,):
            raise ValueError(f"{who}: `variance` must have length 4. Received: variance={variance.tolist()}")
    if encoding not in ("center_xywh", "center_yxhw"):
        raise ValueError(f"{who}: `{name}` should be 'center_xywh' or 'center_yxhw'. Received: {name}={encoding!r}")
    height, width = (None, None) if image_shape is None else tuple(image_shape)[:2]
    return variance, height, width


def encode_box_to_deltas(
    anchors,
    boxes,
    anchor_format,
    box_format,
    encoding_format="center_yxhw",
    variance=None,
    image_shape=None,
):
    """The regression targets of boxes against anchors: the centre offset over the anchor's
    size and the log of the size ratio, in ``encoding_format``'s order.

    Args:
        anchors: ``(N, 4)`` anchor boxes. boxes: ``(N, 4)`` or ``(batch, N, 4)`` boxes.
        anchor_format, box_format: their formats.
        encoding_format: ``"center_yxhw"`` (default) or ``"center_xywh"``.
        variance: four numbers dividing the deltas, or None.
        image_shape: ``(height, width, channels)``, needed for relative formats.

    Returns:
        the deltas, shaped like ``boxes``.

    Example:
        >>> from plait.utils import bounding_boxes
        >>> bounding_boxes.encode_box_to_deltas([[0.0, 0, 10, 10]], [[1.0, 0, 11, 20]], "xyxy", "xyxy")
        tensor([[0.5000, 0.1000, 0.6931, 0.0000]])
    """
    variance, height, width = _delta_options(
        "encode_box_to_deltas()", variance, encoding_format, "encoding_format", image_shape
    )
    anchors = convert_format(anchors, anchor_format, encoding_format, height, width)
    boxes = convert_format(boxes, box_format, encoding_format, height, width)
    anchor_size = anchors[..., 2:].clamp(min=_EPSILON)
    box_size = boxes[..., 2:].clamp(min=_EPSILON)
    deltas = torch.cat([(boxes[..., :2] - anchors[..., :2]) / anchor_size, torch.log(box_size / anchor_size)], -1)
    return deltas if variance is None else deltas / variance


def decode_deltas_to_boxes(
    anchors,
    boxes_delta,
    anchor_format,
    box_format,
    encoded_format="center_yxhw",
    variance=None,
    image_shape=None,
):
    """Boxes from regression deltas against anchors (the inverse of ``encode_box_to_deltas``).

    Args:
        anchors: ``(N, 4)`` anchors, or a dict of them per feature level.
        boxes_delta: ``(N, 4)`` or ``(batch, N, 4)`` deltas, or a dict like ``anchors``.
        anchor_format: the anchors' format. box_format: the format of the boxes returned.
        encoded_format: ``"center_yxhw"`` (default) or ``"center_xywh"``.
        variance: four numbers multiplying the deltas, or None.
        image_shape: ``(height, width, channels)``, needed for relative formats.

    Returns:
        the boxes in ``box_format`` (a dict per level when given dicts).

    Example:
        >>> from plait.utils import bounding_boxes
        >>> deltas = [[0.5, 0.1, 0.6931472, 0.0]]
        >>> bounding_boxes.decode_deltas_to_boxes([[0.0, 0, 10, 10]], deltas, "xyxy", "xyxy")
        tensor([[ 1.,  0., 11., 20.]])
    """
    variance, height, width = _delta_options(
        "decode_deltas_to_boxes()", variance, encoded_format, "encoded_format", image_shape
    )

    def decode(anchor, delta):
        anchor = convert_format(anchor, anchor_format, encoded_format, height, width)
        delta = as_tensor(delta, "float32")
        delta = delta if variance is None else delta * variance
        size = anchor[..., 2:]
        box = torch.cat([delta[..., :2] * size + anchor[..., :2], torch.exp(delta[..., 2:]) * size], -1)
        return convert_format(box, encoded_format, box_format, height, width)

    if isinstance(anchors, dict) and isinstance(boxes_delta, dict):
        return {level: decode(anchor, boxes_delta[level]) for level, anchor in anchors.items()}
    return decode(anchors, boxes_delta)
