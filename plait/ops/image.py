"""Image ops (Keras 3's ``keras.ops.image``) on torch: resize, affine and perspective transforms,
colour spaces, blurs, edges.

Example:
    >>> import torch, plait
    >>> plait.ops.image.resize(torch.ones(1, 4, 4, 3), (2, 2)).shape
    torch.Size([1, 2, 2, 3])
"""

from plait.ops import _image as _impl
from plait.ops import _nn as _nn_impl
from plait.ops import _numpy as _np_impl
from plait.ops._backend import convert_to_tensor as _tensor
from plait.ops._backend import result_type as _result_type
from plait.ops._backend import standardize_data_format as _data_format
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


@_image
def elastic_transform(
    images,
    alpha=20.0,
    sigma=5.0,
    interpolation="bilinear",
    fill_mode="reflect",
    fill_value=0.0,
    seed=None,
    data_format=None,
):
    return _impl.elastic_transform(
        _tensor(images),
        alpha=alpha,
        sigma=sigma,
        interpolation=interpolation,
        fill_mode=fill_mode,
        fill_value=fill_value,
        seed=seed,
        data_format=data_format,
    )


# ---- ops Keras writes in its front end (keras/src/ops/image.py), ported
def _check_rank(images):
    images = _tensor(images)
    if images.ndim not in (3, 4):
        raise ValueError(
            "Invalid images rank: expected rank 3 (single image) or rank 4 (batch of images). "
            f"Received: images.shape={tuple(images.shape)}"
        )
    return images


def _check_two_of(names, values):
    if list(values).count(None) != 1:
        raise ValueError(
            f"Must specify exactly two of {', '.join(names)}. Received: "
            + ", ".join(f"{n}={v}" for n, v in zip(names, values))
        )
    for name, value in zip(names, values):
        if value is not None and value < 0:
            raise ValueError(f"{name} must be >= 0. Received: {name}={value}")


def _height_width(images, data_format):
    return tuple(images.shape[-3:-1]) if data_format == "channels_last" else tuple(images.shape[-2:])


@_image
def pad_images(
    images,
    top_padding=None,
    left_padding=None,
    bottom_padding=None,
    right_padding=None,
    target_height=None,
    target_width=None,
    data_format=None,
):
    data_format = _data_format(data_format)
    images = _check_rank(images)
    _check_two_of(("top_padding", "bottom_padding", "target_height"), (top_padding, bottom_padding, target_height))
    _check_two_of(("left_padding", "right_padding", "target_width"), (left_padding, right_padding, target_width))
    height, width = _height_width(images, data_format)
    if top_padding is None:
        top_padding = target_height - bottom_padding - height
    if bottom_padding is None:
        bottom_padding = target_height - top_padding - height
    if left_padding is None:
        left_padding = target_width - right_padding - width
    if right_padding is None:
        right_padding = target_width - left_padding - width
    for name, value in (
        ("top_padding", top_padding),
        ("left_padding", left_padding),
        ("right_padding", right_padding),
        ("bottom_padding", bottom_padding),
    ):
        if value < 0:
            raise ValueError(f"{name} must be >= 0. Received: {name}={value}")
    pad_width = [[top_padding, bottom_padding], [left_padding, right_padding]]
    pad_width = pad_width + [[0, 0]] if data_format == "channels_last" else [[0, 0]] + pad_width
    if images.ndim == 4:
        pad_width = [[0, 0]] + pad_width
    return _np_impl.pad(images, pad_width)


@_image
def crop_images(
    images,
    top_cropping=None,
    left_cropping=None,
    bottom_cropping=None,
    right_cropping=None,
    target_height=None,
    target_width=None,
    data_format=None,
):
    data_format = _data_format(data_format)
    images = _check_rank(images)
    _check_two_of(("top_cropping", "bottom_cropping", "target_height"), (top_cropping, bottom_cropping, target_height))
    _check_two_of(("left_cropping", "right_cropping", "target_width"), (left_cropping, right_cropping, target_width))
    height, width = _height_width(images, data_format)
    if top_cropping is None:
        top_cropping = height - target_height - bottom_cropping
    if target_height is None:
        target_height = height - bottom_cropping - top_cropping
    if left_cropping is None:
        left_cropping = width - target_width - right_cropping
    if target_width is None:
        target_width = width - right_cropping - left_cropping
    for name, value in (
        ("top_cropping", top_cropping),
        ("target_height", target_height),
        ("left_cropping", left_cropping),
        ("target_width", target_width),
    ):
        if value < 0:
            raise ValueError(f"{name} must be >= 0. Received: {name}={value}")
    rows = slice(top_cropping, top_cropping + target_height)
    cols = slice(left_cropping, left_cropping + target_width)
    return images[..., rows, cols, :] if data_format == "channels_last" else images[..., rows, cols]


def _patches(images, size, strides, dilation_rate, padding, data_format):
    # Keras's way: a conv with an identity kernel puts each patch's values in the channels.
    data_format = _data_format(data_format)
    images = _tensor(images)
    spatial = len(size)
    channels = images.shape[-1] if data_format == "channels_last" else images.shape[-spatial - 1]
    out_dim = int(_np_impl.np.prod(size)) * channels
    kernel = _np_impl.eye(out_dim, dtype=images.dtype).reshape(*size, channels, out_dim)
    unbatched = images.ndim == spatial + 1
    if unbatched:
        images = images.unsqueeze(0)
    patches = _nn_impl.conv(
        images, kernel, strides=strides or size, padding=padding, data_format=data_format, dilation_rate=dilation_rate
    )
    return patches.squeeze(0) if unbatched else patches


@_image
def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid", data_format=None):
    if not isinstance(size, int):
        if not isinstance(size, (tuple, list)):
            raise TypeError(
                f"Invalid `size` argument. Expected an int or a tuple. Received: size={size} of type "
                f"{type(size).__name__}"
            )
        if len(size) not in (2, 3):
            raise ValueError(
                f"Invalid `size` argument. Expected a tuple of length 2 or 3. Received: size={size} with length "
                f"{len(size)}"
            )
    size = (size, size) if isinstance(size, int) else tuple(size)
    return _patches(images, size, strides, dilation_rate, padding, data_format)


@_image
def extract_patches_3d(volumes, size, strides=None, dilation_rate=1, padding="valid", data_format=None):
    size = (size,) * 3 if isinstance(size, int) else tuple(size)
    if len(size) != 3:
        raise TypeError(f"Invalid `size` argument. Expected an int or a tuple of length 3. Received: size={size}")
    strides = size if strides is None else ((strides,) * 3 if isinstance(strides, int) else tuple(strides))
    if len(strides) != 3:
        raise ValueError(f"Invalid `strides` argument. Got: {strides}")
    return _patches(volumes, size, strides, dilation_rate, padding, data_format)


@_image
def ssim(image1, image2, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03, data_format=None):
    data_format = _data_format(data_format)
    image1, image2 = _tensor(image1), _tensor(image2)
    original_dtype = image1.dtype
    compute_dtype = _result_type(image1.dtype, float)
    image1, image2 = _impl.cast(image1, compute_dtype), _impl.cast(image2, compute_dtype)
    for name, image in (("image1", image1), ("image2", image2)):
        if image.ndim not in (3, 4):
            raise ValueError(
                f"Invalid {name} rank: expected rank 3 (single image) or rank 4 (batch of images). "
                f"Received input with shape: {name}.shape={tuple(image.shape)}"
            )
    unbatched = image1.ndim == 3
    if unbatched:
        image1, image2 = image1.unsqueeze(0), image2.unsqueeze(0)
    if data_format == "channels_first":
        image1, image2 = image1.movedim(1, -1), image2.movedim(1, -1)
    batch_size, height, width, channels = image1.shape
    x = _np_impl.arange(filter_size, dtype=compute_dtype) - (filter_size - 1) / 2.0
    gauss = _np_impl.exp(-(x**2) / (2.0 * filter_sigma**2))
    gauss = gauss / gauss.sum()
    kernel = _np_impl.outer(gauss, gauss).reshape(filter_size, filter_size, 1, 1)
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2

    def blur(images):
        return _nn_impl.conv(images, kernel, strides=1, padding="valid", data_format="channels_last")

    # Channels as batch items: (B, H, W, C) -> (B*C, H, W, 1).
    a = image1.permute(0, 3, 1, 2).reshape(-1, height, width, 1)
    b = image2.permute(0, 3, 1, 2).reshape(-1, height, width, 1)
    mu1, mu2 = blur(a), blur(b)
    sigma1_sq = blur(a * a) - mu1 * mu1
    sigma2_sq = blur(b * b) - mu2 * mu2
    sigma12 = blur(a * b) - mu1 * mu2
    numerator = (2.0 * mu1 * mu2 + c1) * (2.0 * sigma12 + c2)
    denominator = (mu1 * mu1 + mu2 * mu2 + c1) * (sigma1_sq + sigma2_sq + c2)
    result = (numerator / denominator).mean(dim=(1, 2, 3)).reshape(batch_size, channels).mean(dim=-1)
    if unbatched:
        result = result.squeeze(0)
    return _impl.cast(result, original_dtype)


__all__ = [
    "affine_transform",
    "crop_images",
    "elastic_transform",
    "extract_patches",
    "extract_patches_3d",
    "gaussian_blur",
    "hsv_to_rgb",
    "map_coordinates",
    "pad_images",
    "perspective_transform",
    "resize",
    "rgb_to_grayscale",
    "rgb_to_hsv",
    "scale_and_translate",
    "sobel_edges",
    "ssim",
]
