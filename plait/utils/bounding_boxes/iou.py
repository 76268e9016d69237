"""Overlap measures between boxes: the pairwise IoU table and the complete IoU (CIoU)."""

import math

import torch

from plait.utils.bounding_boxes.formats import as_tensor, convert_format
from plait.utils.bounding_boxes.geometry import _EPSILON, box_area


def _image_size(who, bounding_box_format, image_shape):
    if "rel" in bounding_box_format and image_shape is None:
        raise ValueError(
            f"{who}: relative bounding box formats (e.g. 'rel_xyxy') need the `image_shape` argument. "
            f"Received: bounding_box_format={bounding_box_format!r}, image_shape=None"
        )
    return (None, None) if image_shape is None else tuple(image_shape)[:2]


def compute_iou(boxes1, boxes2, bounding_box_format, use_masking=False, mask_val=-1, image_shape=None):
    """The intersection over union of every box of ``boxes1`` with every box of ``boxes2``.

    Args:
        boxes1: ``(M, 4)`` or ``(batch, M, 4)``. boxes2: ``(N, 4)`` or ``(batch, N, 4)``.
        bounding_box_format: their format (case-insensitive).
        use_masking: give ``mask_val`` to the pairs where either box has all four
            coordinates negative (padding boxes). mask_val: default -1.
        image_shape: ``(height, width, channels)``, needed for relative formats.

    Returns:
        ``(M, N)``, or ``(batch, M, N)`` when either input is batched.

    Example:
        >>> from plait.utils import bounding_boxes
        >>> bounding_boxes.compute_iou([[0.0, 0, 2, 2]], [[1.0, 0, 3, 2], [0.0, 0, 2, 2]], "xyxy")
        tensor([[0.3333, 1.0000]])
    """
    boxes1, boxes2 = as_tensor(boxes1), as_tensor(boxes2)
    for name, boxes in (("boxes1", boxes1), ("boxes2", boxes2)):
        if boxes.dim() not in (2, 3):
            raise ValueError(
                f"compute_iou(): `{name}` should have shape (N, 4) or (batch, N, 4). "
                f"Received: {name}.shape={tuple(boxes.shape)}"
            )
    height, width = _image_size("compute_iou()", bounding_box_format, image_shape)
    a = convert_format(boxes1, bounding_box_format, "xyxy", height, width).unsqueeze(-2)  # (..., M, 1, 4)
    b = convert_format(boxes2, bounding_box_format, "xyxy", height, width).unsqueeze(-3)  # (..., 1, N, 4)
    low = torch.maximum(a[..., :2], b[..., :2])
    high = torch.minimum(a[..., 2:], b[..., 2:])
    intersection = (high - low).clamp(min=0).prod(-1)
    union = box_area(a) + box_area(b) - intersection
    iou = intersection / (union + _EPSILON)
    if not use_masking:
        return iou
    padding = (a < 0).all(-1) | (b < 0).all(-1)
    return torch.where(padding, torch.as_tensor(mask_val, dtype=iou.dtype), iou)


def compute_ciou(boxes1, boxes2, bounding_box_format, image_shape=None):
    """The complete IoU of matching boxes: the IoU less the squared centre distance over the
    squared diagonal of the enclosing box, less an aspect-ratio term (Zheng et al., 2020).

    Args:
        boxes1, boxes2: boxes ``(..., 4)`` of broadcasting shapes, compared pairwise.
        bounding_box_format: an absolute format (Keras refuses relative ones here).
        image_shape: taken for Keras's signature.

    Returns:
        ``(...)``, one value per pair.

    Example:
        >>> from plait.utils import bounding_boxes
        >>> bounding_boxes.compute_ciou([[0.0, 0, 2, 2]], [[0.0, 0, 2, 2]], "xyxy")
        tensor([1.])
    """
    if "rel" in bounding_box_format:
        raise ValueError(
            "compute_ciou(): relative bounding box formats are not supported; convert the boxes to an "
            f"absolute format first. Received: bounding_box_format={bounding_box_format!r}"
        )
    height, width = (None, None) if image_shape is None else tuple(image_shape)[:2]
    a = convert_format(boxes1, bounding_box_format, "xyxy", height, width)
    b = convert_format(boxes2, bounding_box_format, "xyxy", height, width)
    # Keras pads each height (not width) by epsilon, which keeps the arctan of w / h finite.
    w1, h1 = a[..., 2] - a[..., 0], a[..., 3] - a[..., 1] + _EPSILON
    w2, h2 = b[..., 2] - b[..., 0], b[..., 3] - b[..., 1] + _EPSILON
    overlap = (torch.minimum(a[..., 2:], b[..., 2:]) - torch.maximum(a[..., :2], b[..., :2])).clamp(min=0)
    intersection = overlap[..., 0] * overlap[..., 1]
    union = w1 * h1 + w2 * h2 - intersection + _EPSILON
    iou = intersection / (union + _EPSILON)
    hull = torch.maximum(a[..., 2:], b[..., 2:]) - torch.minimum(a[..., :2], b[..., :2])
    diagonal = (hull**2).sum(-1) + _EPSILON
    centers = ((a[..., :2] + a[..., 2:]) / 2 - (b[..., :2] + b[..., 2:]) / 2).pow(2).sum(-1)
    aspect = (4 / math.pi**2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)) ** 2
    alpha = aspect / (aspect - iou + (1 + _EPSILON))
    return iou - (centers / diagonal + aspect * alpha)
