"""Image preprocessing layers that resize: ``Resizing`` and ``CenterCrop`` (Keras 3's, on torch's
``F.interpolate``). Images are ``(batch, height, width, channels)`` (``channels_last``, default)
or ``(batch, channels, height, width)``; a single image without the batch axis works too.
"""

import torch

from plait.layers.base import Layer
from plait.layers.preprocessing.image_data import check_masks, read_bounding_boxes
from plait.layers.validation import data_format as check_data_format
from plait.layers.validation import one_of, positive_int
from plait.utils.bounding_boxes.formats import check_format, convert_format
from plait.utils.bounding_boxes.geometry import clip_xyxy, crop, drop_empty
from plait.utils.image_utils import aspect_crop_box, resize_nchw

# The interpolations Keras's torch backend offers the resizing layers.
_INTERPOLATIONS = ("bilinear", "nearest", "bicubic")


class ImageLayer(Layer):
    """Shared by the image layers: ``data_format``, ``bounding_box_format``, and one ``call``
    for images alone and for Keras's dict of images, boxes, masks and labels.

    A layer describes its transform by four hooks, all on ``(batch, channels, height, width)``
    float tensors: ``draw(x)`` returns its random transformation as a dict (empty for layers
    that draw nothing, or that leave boxes and masks alone); ``transform(x, **draw)`` transforms
    images; ``transform_boxes(boxes, labels, draw, size)`` moves ``xyxy`` pixel boxes
    ``(batch, N, 4)`` of images of ``size = (height, width)`` and returns them (in the output
    image's pixels) with their labels; ``transform_masks(masks, draw)`` and
    ``transform_labels(labels, draw)`` do the same for masks and class labels. Boxes, masks and
    labels pass unchanged unless a layer overrides the hook, as colour layers do not. ``call``
    draws once and hands the same draw to every hook, converting boxes from and back to
    ``bounding_box_format`` around ``transform_boxes``.
    """

    keeps_dtype = False  # integer images come back as integers (rounded), instead of float32
    blends_masks = False  # masks come back as floats (mixing layers), instead of in their dtype

    def __init__(self, data_format=None, bounding_box_format=None, **kwargs):
        super().__init__(**kwargs)
        who = f"{type(self).__name__} layer '{self.name}'"
        self.data_format = check_data_format(who, data_format)
        if bounding_box_format is not None:
            bounding_box_format = check_format("bounding_box_format", bounding_box_format, who)
        self.bounding_box_format = bounding_box_format

    def _hw_axes(self):
        return (-3, -2) if self.data_format == "channels_last" else (-2, -1)

    def _check_rank(self, shape):
        if len(shape) not in (3, 4):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects images of rank 3 (one image) or 4 (a batch). "
                f"Received: shape={tuple(shape)}"
            )

    def _to_nchw(self, images):
        """``(batch, channels, height, width)`` float images, and how to undo it."""
        self._check_rank(images.shape)
        dtype = images.dtype
        x = images if images.dim() == 4 else images.unsqueeze(0)
        x = (x.permute(0, 3, 1, 2) if self.data_format == "channels_last" else x).float()

        def back(y):
            y = y.permute(0, 2, 3, 1) if self.data_format == "channels_last" else y
            y = y if images.dim() == 4 else y.squeeze(0)
            if dtype.is_floating_point or dtype == torch.bool:
                return y
            info = torch.iinfo(dtype)  # integer images come back as integers, rounded (Keras)
            return torch.round(y).clamp(info.min, info.max).to(dtype)

        return x, back

    # The hooks (see the class docstring).
    def applies(self):
        """Whether the layer transforms now (random layers: only in training)."""
        return True

    def draw(self, x):
        return {}

    def transform(self, x, **draw):
        raise NotImplementedError(f"{type(self).__name__} does not define transform(x).")

    def transform_boxes(self, boxes, labels, draw, size):
        return boxes, labels

    def transform_masks(self, masks, draw):
        return masks

    def transform_labels(self, labels, draw):
        return labels

    def _images(self, images):
        images = torch.as_tensor(images)
        return images if self.keeps_dtype or images.dtype == torch.float32 else images.float()

    def call(self, inputs):
        if isinstance(inputs, dict):
            return self._call_on_dict(inputs)
        images = self._images(inputs)
        if not self.applies():
            self._check_rank(images.shape)
            return images
        x, back = self._to_nchw(images)
        return back(self.transform(x, **self.draw(x)))

    def _call_on_dict(self, data):
        who = f"{type(self).__name__} layer '{self.name}'"
        if "images" not in data:
            raise ValueError(f"{who} expects a dict with an 'images' entry. Received keys: {sorted(data)}")
        images = self._images(data["images"])
        self._check_rank(images.shape)
        out = {**data, "images": images}
        boxes = masks = None
        if data.get("bounding_boxes") is not None:
            if self.bounding_box_format is None:
                raise ValueError(
                    f"{who} was given 'bounding_boxes' but no bounding box format: pass `bounding_box_format` "
                    "(e.g. 'xyxy') when creating the layer."
                )
            boxes, box_labels = read_bounding_boxes(who, data["bounding_boxes"], images.shape)
        if data.get("segmentation_masks") is not None:
            masks = check_masks(who, data["segmentation_masks"], images.shape, self._hw_axes())
        single = images.dim() == 3
        if self.applies():
            x, back = self._to_nchw(images)
            draw = self.draw(x)
            y = self.transform(x, **draw)
            out["images"] = back(y)
            if boxes is not None:
                size = tuple(x.shape[-2:])
                xyxy = convert_format(boxes, self.bounding_box_format, "xyxy", *size)
                moved, box_labels = self.transform_boxes(xyxy, box_labels, draw, size)
                boxes = convert_format(moved, "xyxy", self.bounding_box_format, *y.shape[-2:])
            if masks is not None:
                m, mask_back = self._to_nchw(masks.float() if self.blends_masks else masks)
                masks = mask_back(self.transform_masks(m, draw))
            if data.get("labels") is not None:
                out["labels"] = self.transform_labels(torch.as_tensor(data["labels"]), draw)
        if boxes is not None:
            unbatch = (lambda t: t.squeeze(0)) if single else (lambda t: t)
            out["bounding_boxes"] = {**data["bounding_boxes"], "boxes": unbatch(boxes), "labels": unbatch(box_labels)}
        if masks is not None:
            out["segmentation_masks"] = masks
        return out

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, dict):
            out = dict(input_shape)
            out["images"] = self.compute_image_shape(input_shape["images"])
            if input_shape.get("segmentation_masks") is not None:
                masks = list(input_shape["segmentation_masks"])
                h, w = self._hw_axes()
                masks[h], masks[w] = out["images"][h], out["images"][w]
                out["segmentation_masks"] = tuple(masks)
            return out
        return self.compute_image_shape(input_shape)

    def compute_image_shape(self, input_shape):
        """The output shape of images of ``input_shape`` (unchanged unless a layer resizes)."""
        return tuple(input_shape)

    def get_config(self):
        config = {**super().get_config(), "data_format": self.data_format}
        if self.bounding_box_format is not None:  # written only when set, as Keras does
            config["bounding_box_format"] = self.bounding_box_format
        return config


class Resizing(ImageLayer):
    """Resizes images to ``(height, width)``.

    Args:
        height, width: the output size.
        interpolation: ``"bilinear"`` (default), ``"nearest"`` or ``"bicubic"`` (Keras's
            ``lanczos3``/``lanczos5``/``area`` are not offered by its torch backend either).
        crop_to_aspect_ratio: crop the largest centred box with the target's aspect ratio first.
        pad_to_aspect_ratio: pad with ``fill_value`` to the target's aspect ratio first.
        fill_mode: ``"constant"`` (the only mode Keras supports for resizing).
        fill_value: the padding value. antialias: low-pass filter when downsampling.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Input shape:
        ``(batch, height, width, channels)`` or one image; integer images are rounded back.
    Output shape:
        ``(batch, height, width, channels)``.

    Example:
        >>> import torch, plait
        >>> plait.layers.Resizing(32, 48)(torch.rand(2, 64, 64, 3)).shape
        torch.Size([2, 32, 48, 3])
    """

    keeps_dtype = True

    def __init__(
        self,
        height,
        width,
        interpolation="bilinear",
        crop_to_aspect_ratio=False,
        pad_to_aspect_ratio=False,
        fill_mode="constant",
        fill_value=0.0,
        antialias=False,
        data_format=None,
        **kwargs,
    ):
        super().__init__(data_format=data_format, **kwargs)
        who = f"Resizing layer '{self.name}'"
        self.height, self.width = positive_int(who, "height", height), positive_int(who, "width", width)
        self.interpolation = one_of(who, "interpolation", interpolation, tuple(_INTERPOLATIONS))
        self.fill_mode = one_of(who, "fill_mode", fill_mode, ("constant",))
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError(f"{who}: only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio` can be True.")
        self.crop_to_aspect_ratio, self.pad_to_aspect_ratio = bool(crop_to_aspect_ratio), bool(pad_to_aspect_ratio)
        self.fill_value, self.antialias = float(fill_value), bool(antialias)

    def transform(self, x, interpolation=None):
        return resize_nchw(
            x,
            (self.height, self.width),
            interpolation or self.interpolation,
            self.antialias,
            self.crop_to_aspect_ratio,
            self.pad_to_aspect_ratio,
            self.fill_value,
        )

    def transform_masks(self, masks, draw):
        return self.transform(masks, interpolation="nearest")

    def transform_boxes(self, boxes, labels, draw, size):
        # Padding boxes (all -1 or all 0) stay empty, as Keras keeps them.
        padding = (boxes == -1).all(-1, keepdim=True) | (boxes == 0).all(-1, keepdim=True)
        height, width = size
        if self.pad_to_aspect_ratio:
            ratio = min(self.height / height, self.width / width)
            scale = (ratio, ratio)
            offset = ((self.width - width * ratio) // 2, (self.height - height * ratio) // 2)
        elif self.crop_to_aspect_ratio:
            # The image scaled to cover the target's box, then centred on it (Keras's box rule).
            aspect = width / height
            wide = aspect > self.width / self.height
            new_width, new_height = (self.height * aspect, self.height) if wide else (self.width, self.width / aspect)
            scale = (new_width / width, new_height / height)
            offset = (-((new_width - self.width) // 2), -((new_height - self.height) // 2))
        else:
            scale, offset = (self.width / width, self.height / height), (0.0, 0.0)
        factors = boxes.new_tensor([scale[0], scale[1], scale[0], scale[1]])
        shifts = boxes.new_tensor([offset[0], offset[1], offset[0], offset[1]])
        moved = clip_xyxy(boxes * factors + shifts, self.height, self.width)
        return torch.where(padding, torch.zeros_like(moved), moved), drop_empty(labels, moved)

    def compute_image_shape(self, input_shape):
        shape = list(input_shape)
        self._check_rank(shape)
        h, w = self._hw_axes()
        shape[h], shape[w] = self.height, self.width
        return tuple(shape)

    def get_config(self):
        return {
            **super().get_config(),
            "height": self.height,
            "width": self.width,
            "interpolation": self.interpolation,
            "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
            "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "antialias": self.antialias,
        }


class CenterCrop(ImageLayer):
    """Crops the central ``(height, width)`` of images; an image smaller than that is cropped to
    the target's aspect ratio and resized (bilinear), as Keras does.

    Args:
        height, width: the output size. data_format: ``"channels_last"`` (default) or
            ``"channels_first"``.

    Example:
        >>> import torch, plait
        >>> plait.layers.CenterCrop(2, 2)(torch.arange(16.0).reshape(1, 4, 4, 1))[0, ..., 0]
        tensor([[ 5.,  6.],
                [ 9., 10.]])
    """

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        who = f"CenterCrop layer '{self.name}'"
        self.height, self.width = positive_int(who, "height", height), positive_int(who, "width", width)

    def transform(self, x):
        height, width = x.shape[-2:]
        if height >= self.height and width >= self.width:
            top, left = (height - self.height) // 2, (width - self.width) // 2
            return x[:, :, top : top + self.height, left : left + self.width]
        return resize_nchw(x, (self.height, self.width), crop_to_aspect_ratio=True)

    def transform_masks(self, masks, draw):
        return self.transform(masks)

    def transform_boxes(self, boxes, labels, draw, size):
        height, width = size
        if height >= self.height and width >= self.width:
            top, left = (height - self.height) // 2, (width - self.width) // 2
            crop_height, crop_width = self.height, self.width
        else:
            top, left, crop_height, crop_width = aspect_crop_box(height, width, self.height, self.width)
        moved = crop(boxes, top, left, crop_height, crop_width)
        moved = moved * moved.new_tensor([self.width / crop_width, self.height / crop_height] * 2)
        return moved, drop_empty(labels, moved)

    compute_image_shape = Resizing.compute_image_shape

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}
