"""Image ops (Keras 3's ``keras.ops.image``) on torch: resize, affine and perspective transforms,
colour spaces, blurs, edges.

Example:
    >>> import torch, plait
    >>> plait.ops.image.resize(torch.ones(1, 4, 4, 3), (2, 2)).shape
    torch.Size([1, 2, 2, 3])
"""

from plait.ops import _image as _impl
from plait.ops._core import saturate_cast as _saturate_cast
from plait.ops._op import op as _op


def _image(fn):
    return _op(fn, "image")


affine_transform = _image(_impl.affine_transform)
gaussian_blur = _image(_impl.gaussian_blur)
hsv_to_rgb = _image(_impl.hsv_to_rgb)
map_coordinates = _image(_impl.map_coordinates)
perspective_transform = _image(_impl.perspective_transform)
rgb_to_grayscale = _image(_impl.rgb_to_grayscale)
rgb_to_hsv = _image(_impl.rgb_to_hsv)
scale_and_translate = _image(_impl.scale_and_translate)


@_image
def sobel_edges(images, data_format=None):
    return _impl.sobel_edges(images, data_format=_impl.backend.standardize_data_format(data_format))


@_image
def resize(
    images,
    size,
    interpolation="bilinear",
    antialias=False,
    crop_to_aspect_ratio=False,
    pad_to_aspect_ratio=False,
    fill_mode="constant",
    fill_value=0.0,
    data_format=None,
):
    if len(size) != 2:
        raise ValueError(f"Expected `size` to be a tuple of 2 integers. Received: size={size}")
    if size[0] <= 0 or size[1] <= 0:
        raise ValueError(f"`size` must have positive height and width. Received: size={size}")
    images = _impl.convert_to_tensor(images)
    if images.ndim not in (3, 4):
        raise ValueError(
            "Invalid images rank: expected rank 3 (single image) or rank 4 (batch of images). "
            f"Received input with shape: images.shape={tuple(images.shape)}"
        )
    if pad_to_aspect_ratio and crop_to_aspect_ratio:
        raise ValueError("Only one of `pad_to_aspect_ratio` & `crop_to_aspect_ratio` can be `True`.")
    resized = _impl.resize(
        images,
        size,
        interpolation=interpolation,
        antialias=antialias,
        crop_to_aspect_ratio=crop_to_aspect_ratio,
        data_format=data_format,
        pad_to_aspect_ratio=pad_to_aspect_ratio,
        fill_mode=fill_mode,
        fill_value=fill_value,
    )
    if resized.dtype == images.dtype:
        return resized
    if not images.is_floating_point():
        resized = resized.round()
    return _saturate_cast(resized, images.dtype)


__all__ = [
    "affine_transform",
    "gaussian_blur",
    "hsv_to_rgb",
    "map_coordinates",
    "perspective_transform",
    "resize",
    "rgb_to_grayscale",
    "rgb_to_hsv",
    "scale_and_translate",
    "sobel_edges",
]
