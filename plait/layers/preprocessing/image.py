"""Image preprocessing layers that resize: ``Resizing`` and ``CenterCrop`` (Keras 3's, on torch's
``F.interpolate``). Images are ``(batch, height, width, channels)`` (``channels_last``, default)
or ``(batch, channels, height, width)``; a single image without the batch axis works too.
"""

import torch

from plait.layers.base import Layer
from plait.layers.validation import data_format as check_data_format
from plait.layers.validation import one_of, positive_int
from plait.utils.image_utils import resize_nchw

# The interpolations Keras's torch backend offers the resizing layers.
_INTERPOLATIONS = ("bilinear", "nearest", "bicubic")


class ImageLayer(Layer):
    """Shared by the image layers: ``data_format``, the height/width axes, and batching."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(f"{type(self).__name__} layer '{self.name}'", data_format)

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

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


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

    def call(self, inputs):
        x, back = self._to_nchw(torch.as_tensor(inputs))
        y = resize_nchw(
            x,
            (self.height, self.width),
            self.interpolation,
            self.antialias,
            self.crop_to_aspect_ratio,
            self.pad_to_aspect_ratio,
            self.fill_value,
        )
        return back(y)

    def compute_output_shape(self, input_shape):
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

    def call(self, inputs):
        # Keras computes in float32 (the layer's compute dtype), whatever the input's dtype.
        x, back = self._to_nchw(torch.as_tensor(inputs).float())
        height, width = x.shape[-2:]
        if height >= self.height and width >= self.width:
            top, left = (height - self.height) // 2, (width - self.width) // 2
            y = x[:, :, top : top + self.height, left : left + self.width]
        else:
            y = resize_nchw(x, (self.height, self.width), crop_to_aspect_ratio=True)
        return back(y)

    compute_output_shape = Resizing.compute_output_shape

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}
