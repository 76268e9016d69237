"""``plait.utils.bounding_boxes``: Keras 3's bounding-box utilities on torch tensors.

Boxes are ``(N, 4)`` or ``(batch, N, 4)`` tensors (NumPy arrays and lists are taken too) in one
of the formats ``SUPPORTED_FORMATS`` lists (``"xyxy"``, ``"yxyx"``, ``"xywh"``, ``"center_xywh"``,
``"center_yxhw"`` and the relative ``"rel_xyxy"``, ``"rel_yxyx"``, ``"rel_xywh"``,
``"rel_center_xywh"``); results are torch tensors, float32 unless said.
The augmentation layers use the same functions to move boxes with their images.

Example:
    >>> from plait.utils import bounding_boxes
    >>> bounding_boxes.convert_format([[10, 20, 30, 40]], source="xyxy", target="xywh")
    tensor([[10., 20., 20., 20.]])
"""

from plait.utils.bounding_boxes.formats import SUPPORTED_FORMATS as SUPPORTED_FORMATS
from plait.utils.bounding_boxes.formats import convert_format
from plait.utils.bounding_boxes.geometry import (
    affine_transform,
    clip_to_image_size,
    crop,
    decode_deltas_to_boxes,
    encode_box_to_deltas,
    pad,
)
from plait.utils.bounding_boxes.iou import compute_ciou, compute_iou

__all__ = [
    "affine_transform",
    "clip_to_image_size",
    "compute_ciou",
    "compute_iou",
    "convert_format",
    "crop",
    "decode_deltas_to_boxes",
    "encode_box_to_deltas",
    "pad",
]
