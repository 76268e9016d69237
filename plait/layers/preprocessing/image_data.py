"""Keras's dict form of image data, read and checked once for every image layer.

An image layer takes images alone or a dict ``{"images": ..., "bounding_boxes": {"boxes": ...,
"labels": ...}, "segmentation_masks": ..., "labels": ...}``; ``ImageLayer.call`` transforms all
of them with one random draw. This module turns the boxes into tensors (padding ragged lists),
checks their shapes against the images, and says clearly what is wrong when they do not fit.
"""

import numpy as np
import torch

from plait.utils.bounding_boxes.formats import as_tensor


def _padded(who, boxes, labels):
    """Ragged per-image lists of boxes and labels as dense ``(batch, max N, 4)`` / ``(batch, max
    N)`` tensors, padded with zero boxes labelled -1 (Keras's padding values)."""
    if len(boxes) != len(labels):
        raise ValueError(
            f"{who}: `bounding_boxes['boxes']` and `bounding_boxes['labels']` should list the same number of "
            f"images. Received: {len(boxes)} and {len(labels)}"
        )
    most = max((len(b) for b in boxes), default=0)
    dense_boxes = np.zeros((len(boxes), most, 4), "float32")
    dense_labels = np.full((len(boxes), most), -1, "int32")
    for i, (b, lab) in enumerate(zip(boxes, labels)):
        if len(b):
            dense_boxes[i, : len(b)] = np.asarray(b, "float32").reshape(-1, 4)
            dense_labels[i, : len(lab)] = np.asarray(lab)
    return torch.from_numpy(dense_boxes), torch.from_numpy(dense_labels)


def read_bounding_boxes(who, bounding_boxes, images_shape):
    """``(boxes, labels)`` as ``(batch, N, 4)`` float32 and ``(batch, N, ...)`` tensors for images
    of ``images_shape`` (rank 3 for one image, whose boxes are ``(N, 4)``, or rank 4)."""
    if not isinstance(bounding_boxes, dict) or "boxes" not in bounding_boxes or "labels" not in bounding_boxes:
        got = sorted(bounding_boxes) if isinstance(bounding_boxes, dict) else type(bounding_boxes).__name__
        raise ValueError(f"{who}: `bounding_boxes` should be a dict with 'boxes' and 'labels'. Received: {got}")
    boxes, labels = bounding_boxes["boxes"], bounding_boxes["labels"]
    batched = len(images_shape) == 4
    try:
        boxes, labels = as_tensor(boxes, "float32"), as_tensor(labels)
    except (ValueError, TypeError):  # ragged lists: one list of boxes per image
        if not batched:
            raise
        boxes, labels = _padded(who, boxes, labels)
    expected = "(batch, num_boxes, 4)" if batched else "(num_boxes, 4) for one image"
    if boxes.dim() != (3 if batched else 2) or boxes.shape[-1] != 4:
        raise ValueError(
            f"{who}: `bounding_boxes['boxes']` should have shape {expected}, as the images have shape "
            f"{tuple(images_shape)}. Received: boxes.shape={tuple(boxes.shape)}"
        )
    if not batched:
        boxes, labels = boxes.unsqueeze(0), labels.unsqueeze(0)
    if batched and boxes.shape[0] != images_shape[0]:
        raise ValueError(
            f"{who}: `bounding_boxes['boxes']` should have one row per image ({images_shape[0]}). "
            f"Received: boxes.shape={tuple(boxes.shape)}"
        )
    if tuple(labels.shape[:2]) != tuple(boxes.shape[:2]):
        raise ValueError(
            f"{who}: `bounding_boxes['labels']` should have one label per box, shape {tuple(boxes.shape[:-1])}. "
            f"Received: labels.shape={tuple(labels.shape[int(not batched) :])}"
        )
    return boxes, labels


def check_masks(who, masks, images_shape, hw_axes):
    """``segmentation_masks`` as a tensor whose height and width are the images'."""
    masks = as_tensor(masks)
    hw = tuple(images_shape[a] for a in hw_axes)
    if masks.dim() != len(images_shape) or tuple(masks.shape[a] for a in hw_axes) != hw:
        raise ValueError(
            f"{who}: `segmentation_masks` should have the images' rank and height and width {hw} "
            f"(images: {tuple(images_shape)}). Received: segmentation_masks.shape={tuple(masks.shape)}"
        )
    return masks
