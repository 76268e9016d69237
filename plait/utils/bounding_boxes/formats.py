"""Bounding-box formats and the conversion between them, on torch tensors.

Every format is defined by how it reads from and writes to ``xyxy`` (left, top, right, bottom,
in pixels); a ``rel_`` format is its absolute twin with x divided by the image width and y by
its height. Conversions go through ``xyxy``, so adding a format is two small functions.
"""

import numpy as np
import torch

from plait.utils.dtypes import to_torch_dtype

SUPPORTED_FORMATS = (
    "xyxy",
    "yxyx",
    "xywh",
    "center_xywh",
    "center_yxhw",
    "rel_xyxy",
    "rel_yxyx",
    "rel_xywh",
    "rel_center_xywh",
)


def _center(a1, a2):
    return a1 + (a2 - a1) / 2.0


# Each absolute format: (its four columns -> x1, y1, x2, y2) and (x1, y1, x2, y2 -> its columns).
_READ = {
    "xyxy": lambda a, b, c, d: (a, b, c, d),
    "yxyx": lambda y1, x1, y2, x2: (x1, y1, x2, y2),
    "xywh": lambda x, y, w, h: (x, y, x + w, y + h),
    "center_xywh": lambda cx, cy, w, h: (cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0),
    "center_yxhw": lambda cy, cx, h, w: (cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0),
}
_WRITE = {
    "xyxy": lambda x1, y1, x2, y2: (x1, y1, x2, y2),
    "yxyx": lambda x1, y1, x2, y2: (y1, x1, y2, x2),
    "xywh": lambda x1, y1, x2, y2: (x1, y1, x2 - x1, y2 - y1),
    "center_xywh": lambda x1, y1, x2, y2: (_center(x1, x2), _center(y1, y2), x2 - x1, y2 - y1),
    "center_yxhw": lambda x1, y1, x2, y2: (_center(y1, y2), _center(x1, x2), y2 - y1, x2 - x1),
}


def as_tensor(values, dtype=None):
    """``values`` (tensor, numpy array, nested lists) as a torch tensor, cast to ``dtype``
    when given; Python floats become float32, as Keras reads them."""
    if isinstance(values, torch.Tensor):
        tensor = values
    elif isinstance(values, np.ndarray | np.generic):
        tensor = torch.as_tensor(values)
    else:
        tensor = torch.as_tensor(values)
        tensor = tensor.float() if tensor.dtype == torch.float64 else tensor
    return tensor if dtype is None else tensor.to(to_torch_dtype(dtype))


def check_format(name, value, who="convert_format()"):
    """``value`` lower-cased if it is a supported format, else a ValueError naming ``who``."""
    fmt = value.lower() if isinstance(value, str) else value
    if fmt not in SUPPORTED_FORMATS:
        raise ValueError(f"{who}: `{name}` should be one of {SUPPORTED_FORMATS}. Received: {name}={value!r}")
    return fmt


def _size(value, like):
    return value if value is None else as_tensor(value).to(like.dtype).to(like.device)


def to_xyxy(boxes, source, height=None, width=None):
    """``(..., 4)`` boxes in ``source`` format as absolute ``xyxy``."""
    relative = source.startswith("rel_")
    x1, y1, x2, y2 = _READ[source[4:] if relative else source](*boxes.unbind(-1))
    if relative:
        width, height = _size(width, boxes), _size(height, boxes)
        x1, x2, y1, y2 = x1 * width, x2 * width, y1 * height, y2 * height
    return torch.stack([x1, y1, x2, y2], dim=-1)


def from_xyxy(boxes, target, height=None, width=None):
    """Absolute ``xyxy`` boxes ``(..., 4)`` written in ``target`` format."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    relative = target.startswith("rel_")
    if relative:
        width, height = _size(width, boxes), _size(height, boxes)
        x1, x2, y1, y2 = x1 / width, x2 / width, y1 / height, y2 / height
    return torch.stack(_WRITE[target[4:] if relative else target](x1, y1, x2, y2), dim=-1)


def convert_format(boxes, source, target, height=None, width=None, dtype="float32"):
    """Converts bounding boxes between formats (Keras's ``convert_format``).

    Formats (case-insensitive): ``"xyxy"`` (left, top, right, bottom), ``"yxyx"``,
    ``"xywh"`` (left, top, width, height), ``"center_xywh"``, ``"center_yxhw"``, and the
    relative ``"rel_xyxy"``, ``"rel_yxyx"``, ``"rel_xywh"``, ``"rel_center_xywh"`` (x over the
    image width, y over its height).

    Args:
        boxes: ``(..., 4)`` boxes (tensor, array or lists), or a dict whose ``"boxes"`` are
            converted (the other entries are kept).
        source, target: the formats to convert from and to.
        height, width: the image size (numbers or tensors that broadcast against the boxes'
            leading axes plus one); required when either format is relative.
        dtype: the result's dtype (default ``"float32"``).

    Returns:
        a tensor of the same shape (or the dict with converted ``"boxes"``).

    Example:
        >>> from plait.utils import bounding_boxes
        >>> bounding_boxes.convert_format([[10, 20, 30, 40]], "xyxy", "center_xywh")
        tensor([[20., 30., 20., 20.]])
        >>> bounding_boxes.convert_format([[10, 20, 30, 40]], "xyxy", "rel_xyxy", height=200, width=100)
        tensor([[0.1000, 0.1000, 0.3000, 0.2000]])
    """
    if isinstance(boxes, dict):
        return {**boxes, "boxes": convert_format(boxes["boxes"], source, target, height, width, dtype)}
    boxes = as_tensor(boxes)
    if boxes.dim() == 0 or boxes.shape[-1] != 4:
        raise ValueError(
            f"convert_format(): `boxes` must have a last dimension of 4. Received: boxes.shape={tuple(boxes.shape)}"
        )
    source, target = check_format("source", source), check_format("target", target)
    if (source.startswith("rel_") or target.startswith("rel_")) and (height is None or width is None):
        raise ValueError(
            "convert_format() needs `height` and `width` to convert between relative and absolute formats. "
            f"Received: source={source!r}, target={target!r}, height={height}, width={width}"
        )
    boxes = boxes.to(to_torch_dtype(dtype))
    if source == target:
        return boxes
    if source.startswith("rel_") and target.startswith("rel_"):
        # Both relative: the image size cancels, convert the relative numbers as they are.
        source, target = source[4:], target[4:]
    return from_xyxy(to_xyxy(boxes, source, height, width), target, height, width)
