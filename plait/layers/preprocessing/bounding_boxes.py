"""``MaxNumBoundingBoxes`` (Keras 3's): gives every image the same number of bounding boxes."""

import torch
import torch.nn.functional as F

from plait.layers.base import Layer


class MaxNumBoundingBoxes(Layer):
    """Pads or truncates each image's bounding boxes (and their labels) to ``max_number``, so
    that detection batches have a fixed shape; images and other entries pass unchanged.

    Args:
        max_number: the number of boxes per image.
        fill_value: the value of the padding boxes and labels (default -1).
        bounding_box_format: the boxes' format (``"xyxy"``, ...), required when boxes are
            given, as in Keras; the boxes are not converted. data_format: taken, unused.

    Input shape:
        a dict ``{"images": ..., "bounding_boxes": {"boxes": (batch, n, 4), "labels":
        (batch, n)}}``; images alone pass through.
    Output shape:
        the same dict with ``boxes`` ``(batch, max_number, 4)`` and ``labels``
        ``(batch, max_number)``.

    Example:
        >>> import torch, plait
        >>> data = {"bounding_boxes": {"boxes": torch.ones(2, 1, 4), "labels": torch.ones(2, 1)}}
        >>> plait.layers.MaxNumBoundingBoxes(3, bounding_box_format="xyxy")(data)["bounding_boxes"]["labels"]
        tensor([[ 1., -1., -1.],
                [ 1., -1., -1.]])
    """

    def __init__(self, max_number, fill_value=-1, bounding_box_format=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.bounding_box_format, self.data_format = bounding_box_format, data_format or "channels_last"
        if isinstance(max_number, bool) or int(max_number) < 1:
            raise ValueError(
                f"MaxNumBoundingBoxes layer '{self.name}': `max_number` should be a positive integer. "
                f"Received: max_number={max_number!r}"
            )
        self.max_number, self.fill_value = int(max_number), int(fill_value)

    def _fixed(self, values, trailing):
        """``values`` cut or padded with ``fill_value`` to ``max_number`` along axis 1."""
        values = torch.as_tensor(values)[:, : self.max_number]
        missing = self.max_number - values.shape[1]
        return F.pad(values, (0, 0) * trailing + (0, missing), value=self.fill_value) if missing else values

    def call(self, inputs):
        if not isinstance(inputs, dict) or "bounding_boxes" not in inputs:
            return inputs
        if self.bounding_box_format is None:
            raise ValueError(
                f"MaxNumBoundingBoxes layer '{self.name}' was given bounding boxes without a format: pass "
                "`bounding_box_format` (e.g. 'xyxy') when creating it."
            )
        boxes = inputs["bounding_boxes"]
        extra = set(boxes) - {"boxes", "labels"}
        if extra:
            raise KeyError(
                f"MaxNumBoundingBoxes layer '{self.name}': unsupported keys in `bounding_boxes`: {sorted(extra)}. "
                "Only 'boxes' and 'labels' are taken."
            )
        fixed = {"boxes": self._fixed(boxes["boxes"], 1), "labels": self._fixed(boxes["labels"], 0)}
        return {**inputs, "bounding_boxes": fixed}

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, dict) and "bounding_boxes" in input_shape:
            boxes = input_shape["bounding_boxes"]
            fixed = {
                "boxes": (boxes["boxes"][0], self.max_number, *boxes["boxes"][2:]),
                "labels": (boxes["labels"][0], self.max_number),
            }
            return {**input_shape, "bounding_boxes": fixed}
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "data_format": self.data_format,
            "bounding_box_format": self.bounding_box_format,
            "max_number": self.max_number,
            "fill_value": self.fill_value,
        }
