"""Image ops on torch: the implementations behind :mod:`plait.ops.image` (resampling ones are in
:mod:`plait.ops._image_warp`).

Keras's images are ``channels_last`` by default, torch's kernels want ``(batch, channels, height,
width)``: :func:`to_nchw` brings any ``(height, width, channels)`` image or batch into torch's
layout and hands back the way out, so each op is written once, on NCHW, around one torch kernel
(``F.interpolate``, a grouped ``F.conv2d``, ``Tensor.unfold``).
"""

import math

import torch
import torch.nn.functional as F

from plait.ops._backend import cast, convert_to_tensor, result_type, standardize_dtype
from plait.utils.image_utils import TORCH_MODES, resize_nchw, standardize_data_format


# ----------------------------------------------------------------------------- layout
def images_of(images, name, ranks=(3, 4)):
    """``images`` as a tensor of rank 3 (one image) or 4 (a batch), or a ValueError naming ``name``."""
    images = convert_to_tensor(images)
    if images.ndim not in ranks:
        raise ValueError(
            f"ops.image.{name}: expected rank 3 (one image) or 4 (a batch of images). "
            f"Received images of shape {tuple(images.shape)}."
        )
    return images


def to_nchw(images, data_format):
    """``(x, back)``: ``images`` as an NCHW batch, and the function that restores the caller's
    layout (channels last or first, batched or not) on a result of the same kind."""
    channels_last = standardize_data_format(data_format) == "channels_last"
    single = images.ndim == 3
    x = images.unsqueeze(0) if single else images
    if channels_last:
        x = x.permute(0, 3, 1, 2)

    def back(y):
        if channels_last:
            y = y.movedim(1, -1)
        return y.squeeze(0) if single else y

    return x, back


def channel_axis(data_format):
    return -1 if standardize_data_format(data_format) == "channels_last" else -3


# ----------------------------------------------------------------------------- colour
_LUMA = (0.2989, 0.587, 0.114)  # ITU-R 601 weights, as Keras and torchvision use


def rgb_to_grayscale(images, data_format=None):
    """Luma of RGB images (``0.2989 R + 0.587 G + 0.114 B``), one channel kept.

    Args:
        images: ``(..., height, width, 3)`` (or 1 channel, returned as it is), channels first
            with ``data_format="channels_first"``.

    Example:
        >>> import torch
        >>> from plait.ops import image
        >>> image.rgb_to_grayscale(torch.ones(2, 2, 3)).shape
        torch.Size([2, 2, 1])
    """
    images = images_of(images, "rgb_to_grayscale")
    axis = channel_axis(data_format)
    if images.shape[axis] == 1:
        return images.clone()
    if images.shape[axis] != 3:
        raise ValueError(
            "ops.image.rgb_to_grayscale: expected 3 (RGB) or 1 channel. "
            f"Received images of shape {tuple(images.shape)}."
        )
    weights = torch.tensor(_LUMA, dtype=torch.promote_types(images.dtype, torch.float32), device=images.device)
    gray = torch.tensordot(images.movedim(axis, -1).to(weights.dtype), weights, dims=1)
    return gray.to(images.dtype).unsqueeze(axis)


def _float_images(images, name):
    images = images_of(images, name)
    if not images.is_floating_point():
        raise ValueError(
            f"ops.image.{name}: expected float images (values in [0, 1]). Received {standardize_dtype(images.dtype)}."
        )
    return images


def rgb_to_hsv(images, data_format=None):
    """RGB to hue, saturation, value; all channels in ``[0, 1]`` (float images only).

    Example:
        >>> from plait.ops import image
        >>> image.rgb_to_hsv([[[0.0, 0.5, 1.0]]])
        tensor([[[0.5833, 1.0000, 1.0000]]])
    """
    images = _float_images(images, "rgb_to_hsv")
    axis = channel_axis(data_format)
    # Values within eps of zero count as zero (Keras's rule: keeps the hue of near-black stable).
    images = torch.where(images.abs() < torch.finfo(images.dtype).eps, 0.0, images)
    r, g, b = images.unbind(axis)
    value = torch.maximum(torch.maximum(r, g), b)
    chroma = value - torch.minimum(torch.minimum(r, g), b)
    saturation = torch.where(value > 0, chroma / torch.where(value > 0, value, 1.0), 0.0)
    sixth = 1.0 / (6.0 * torch.where(chroma > 0, chroma, 1.0))  # hue in turns: each sector is 1/6
    hue = torch.where(
        value == r, (g - b) * sixth, torch.where(value == g, (b - r) * sixth + 1 / 3, (r - g) * sixth + 2 / 3)
    )
    hue = torch.where(chroma > 0, hue, 0.0)
    hue = hue + (hue < 0).to(hue.dtype)  # red's sector wraps around 0
    return torch.stack((hue, saturation, value), axis)


def hsv_to_rgb(images, data_format=None):
    """Hue, saturation, value to RGB (float images only; hue in turns, wrapping at 1).

    Example:
        >>> from plait.ops import image
        >>> image.hsv_to_rgb([[[0.5, 1.0, 1.0]]])
        tensor([[[0., 1., 1.]]])
    """
    images = _float_images(images, "hsv_to_rgb")
    axis = channel_axis(data_format)
    hue, saturation, value = images.unbind(axis)
    sector = torch.remainder(hue, 1.0) * 6.0
    # Each primary's share as a piecewise-linear function of the hue sector (0..6).
    shares = (
        (torch.abs(sector - 3.0) - 1.0).clamp(0.0, 1.0),
        (2.0 - torch.abs(sector - 2.0)).clamp(0.0, 1.0),
        (2.0 - torch.abs(sector - 4.0)).clamp(0.0, 1.0),
    )
    return torch.stack([value * (1.0 - saturation + saturation * share) for share in shares], axis)


# ----------------------------------------------------------------------------- resize
_WORK_DTYPES = (torch.float32, torch.float64)


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
    """Resize images to ``size`` (``F.interpolate`` with half-pixel centers, Keras's numbers).

    Args:
        images: ``(height, width, channels)`` or a batch of them (channels first with
            ``data_format="channels_first"``); integer images are rounded back to their dtype.
        size: ``(height, width)`` of the output.
        interpolation: ``"bilinear"`` (default), ``"nearest"``, ``"bicubic"`` or ``"area"``.
        antialias: low-pass filter when downsampling (bilinear and bicubic).
        crop_to_aspect_ratio: first crop the largest centered box of ``size``'s aspect ratio.
        pad_to_aspect_ratio: first pad (centered) to ``size``'s aspect ratio with ``fill_value``.
        fill_mode: ``"constant"``, the only mode.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Example:
        >>> import torch
        >>> from plait.ops import image
        >>> image.resize(torch.ones(2, 8, 8, 3), (4, 6)).shape
        torch.Size([2, 4, 6, 3])
    """
    if len(size) != 2 or size[0] <= 0 or size[1] <= 0:
        raise ValueError(f"ops.image.resize: `size` must be two positive ints (height, width). Received: size={size}")
    if interpolation not in TORCH_MODES:
        raise ValueError(
            f"ops.image.resize: `interpolation` must be one of {tuple(TORCH_MODES)} on torch (Keras's torch backend "
            f"has no Lanczos kernels). Received: interpolation={interpolation!r}"
        )
    if fill_mode != "constant":
        raise ValueError(f"ops.image.resize: `fill_mode` must be 'constant'. Received: fill_mode={fill_mode!r}")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("ops.image.resize: only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio` can be True.")
    images = images_of(images, "resize")
    x, back = to_nchw(images, data_format)
    # interpolate computes in float32 / float64; other dtypes go through float32 and back.
    x = x if x.dtype in _WORK_DTYPES else x.float()
    x = resize_nchw(x, tuple(size), interpolation, antialias, crop_to_aspect_ratio, pad_to_aspect_ratio, fill_value)
    if not images.is_floating_point():
        # Cubic kernels overshoot: round, then clip to the integer dtype's range.
        info = torch.iinfo(images.dtype)
        x = x.round().clamp(info.min, info.max)
    return back(x.to(images.dtype))


# ----------------------------------------------------------------------------- crop and pad
def _margins(name, kind, before, after, target, size):
    """``(before, after)`` of one axis from two of the three: ``before + size + after = target``
    for padding, ``before + target + after = size`` for cropping."""
    names = (f"{('top', 'left')[kind[1]]}_{kind[0]}", f"{('bottom', 'right')[kind[1]]}_{kind[0]}")
    names += (("target_height", "target_width")[kind[1]],)
    given = dict(zip(names, (before, after, target)))
    if sum(v is not None for v in given.values()) != 2:
        raise ValueError(f"ops.image.{name}: give exactly two of {', '.join(names)}. Received {given}.")
    for key, value in given.items():
        if value is not None and value < 0:
            raise ValueError(f"ops.image.{name}: {key} must be >= 0. Received {key}={value}.")
    free = (target - size if kind[0] == "padding" else size - target) if target is not None else None
    before = free - after if before is None else before
    after = free - before if after is None else after
    if before < 0 or after < 0:
        raise ValueError(
            f"ops.image.{name}: {given} do not fit an image axis of size {size} "
            f"(the margins would be {before} and {after})."
        )
    return before, after


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
    """Zero-pad images; per axis give two of (before, after, target size).

    Example:
        >>> import torch
        >>> from plait.ops import image
        >>> image.pad_images(torch.ones(4, 4, 3), 1, 2, target_height=8, target_width=8).shape
        torch.Size([8, 8, 3])
    """
    x, back = to_nchw(images_of(images, "pad_images"), data_format)
    top, bottom = _margins("pad_images", ("padding", 0), top_padding, bottom_padding, target_height, x.shape[2])
    left, right = _margins("pad_images", ("padding", 1), left_padding, right_padding, target_width, x.shape[3])
    return back(F.pad(x, (left, right, top, bottom)))


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
    """Crop images; per axis give two of (cut before, cut after, target size).

    Example:
        >>> import torch
        >>> from plait.ops import image
        >>> image.crop_images(torch.ones(8, 8, 3), 1, 2, target_height=4, target_width=5).shape
        torch.Size([4, 5, 3])
    """
    x, back = to_nchw(images_of(images, "crop_images"), data_format)
    top, bottom = _margins("crop_images", ("cropping", 0), top_cropping, bottom_cropping, target_height, x.shape[2])
    left, right = _margins("crop_images", ("cropping", 1), left_cropping, right_cropping, target_width, x.shape[3])
    return back(x[:, :, top : x.shape[2] - bottom, left : x.shape[3] - right])


# ----------------------------------------------------------------------------- filters
def _depthwise(x, kernels, padding):
    """Each channel of NCHW ``x`` convolved with each ``(k, kh, kw)`` kernel: ``(n, c * k, h', w')``,
    the ``k`` results of a channel side by side; ``padding`` is ``(left, right, top, bottom)`` of zeros."""
    channels = x.shape[1]
    weight = kernels.to(x.dtype).unsqueeze(1).repeat(channels, 1, 1, 1)
    return F.conv2d(F.pad(x, padding), weight, groups=channels)


def _same(k):
    return (k - 1) // 2, k // 2  # TensorFlow's "same": the odd pixel after


def _gaussian_1d(size, sigma, dtype, device):
    offsets = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum()


def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None):
    """Blur each channel with a Gaussian kernel (zero padding, output the input's size).

    Args:
        images: image or batch, float.
        kernel_size: ``(size_x, size_y)``: the kernel's width and height, in pixels.
        sigma: ``(sigma_x, sigma_y)``: standard deviations along the width and the height.

    Example:
        >>> import torch
        >>> from plait.ops import image
        >>> image.gaussian_blur(torch.ones(1, 5, 5, 1))[0, 2, 2, 0]
        tensor(1.)
    """
    x, back = to_nchw(images_of(images, "gaussian_blur"), data_format)
    (size_x, size_y), (sigma_x, sigma_y) = (int(k) for k in kernel_size), sigma
    column = _gaussian_1d(size_y, convert_to_tensor(sigma_y), x.dtype, x.device).reshape(1, -1, 1)
    row = _gaussian_1d(size_x, convert_to_tensor(sigma_x), x.dtype, x.device).reshape(1, 1, -1)
    # The kernel is separable: a column pass then a row pass over the zero-padded images give the
    # 2-D convolution's sums with size_x + size_y taps a pixel instead of size_x * size_y.
    x = F.pad(x, (*_same(size_x), *_same(size_y)))
    return back(_depthwise(_depthwise(x, column, (0, 0, 0, 0)), row, (0, 0, 0, 0)))


_SOBEL = torch.tensor([[[-1, -2, -1], [0, 0, 0], [1, 2, 1]], [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]])  # d/dy, d/dx


def sobel_edges(images, data_format=None):
    """Sobel gradients of each channel: ``(..., 2)`` holding d/dy then d/dx (zero padding).

    Returns:
        ``(batch, height, width, channels, 2)`` (``(batch, channels, height, width, 2)`` channels first).

    Example:
        >>> import torch
        >>> from plait.ops import image
        >>> image.sobel_edges(torch.ones(1, 4, 4, 3)).shape
        torch.Size([1, 4, 4, 3, 2])
    """
    images = images_of(images, "sobel_edges")
    x, back = to_nchw(images, data_format)
    edges = _depthwise(x, _SOBEL.to(x.device), (1, 1, 1, 1))
    edges = edges.unflatten(1, (x.shape[1], 2)).movedim(2, -1)  # (n, c, h, w, 2)
    if standardize_data_format(data_format) == "channels_last":
        edges = edges.permute(0, 2, 3, 1, 4)
    return edges.squeeze(0) if images.ndim == 3 else edges


# ----------------------------------------------------------------------------- patches
def _patches(images, size, strides, dilation_rate, padding, data_format, name):
    """Patches of a ``len(size)``-D image (or batch): each patch's values, in (position...,
    channel) order, along the channel axis (what Keras's identity-kernel convolution gives)."""
    images = convert_to_tensor(images)
    spatial = len(size)
    if images.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(
            f"ops.image.{name}: expected a {spatial}-D image with channels, batched or not. "
            f"Received shape {tuple(images.shape)}."
        )
    if padding not in ("valid", "same"):
        raise ValueError(f"ops.image.{name}: `padding` must be 'valid' or 'same'. Received: padding={padding!r}")
    strides = _tuple(size if strides is None else strides, spatial, "strides", name)
    dilation = _tuple(dilation_rate, spatial, "dilation_rate", name)
    channels_last = standardize_data_format(data_format) == "channels_last"
    single = images.ndim == spatial + 1
    x = images.unsqueeze(0) if single else images
    x = x.movedim(-1, 1) if channels_last else x
    if padding == "same":
        pads = []
        for n, k, s, d in zip(x.shape[2:], size, strides, dilation):
            total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
            pads = [total // 2, total - total // 2] + pads  # F.pad lists the last axis first
        x = F.pad(x, pads)
    # One unfold per spatial axis: a window of (k - 1) * d + 1 pixels, every d-th kept.
    for axis, (k, s, d) in enumerate(zip(size, strides, dilation), start=2):
        x = x.unfold(axis, (k - 1) * d + 1, s)[..., ::d]
    # (n, c, out..., k...) -> (n, out..., k..., c) -> (n, out..., prod(k) * c)
    x = x.movedim(1, -1).flatten(1 + spatial)
    x = x if channels_last else x.movedim(-1, 1)
    return x.squeeze(0) if single else x


def _tuple(value, n, arg, name):
    value = (value,) * n if isinstance(value, int) else tuple(value)
    if len(value) != n:
        raise ValueError(f"ops.image.{name}: `{arg}` must be an int or {n} ints. Received: {arg}={value}")
    return value


def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid", data_format=None):
    """Patches of images, each flattened into the channel axis.

    Args:
        images: ``(batch, height, width, channels)`` or one image; with a 3-tuple ``size``, volumes
            (as :func:`extract_patches_3d`).
        size: patch size, an int or ``(height, width)``.
        strides: step between patches (default: ``size``, no overlap).
        dilation_rate: spacing of a patch's pixels.
        padding: ``"valid"`` (whole patches only) or ``"same"`` (zero-padded, ``ceil(n / stride)``
            patches per axis).

    Returns:
        ``(batch, rows, cols, size_h * size_w * channels)``, a patch's values in (row, col,
        channel) order (channels first: that axis second).

    Example:
        >>> import torch
        >>> from plait.ops import image
        >>> image.extract_patches(torch.ones(2, 8, 8, 3), 2).shape
        torch.Size([2, 4, 4, 12])
    """
    if not isinstance(size, (int, tuple, list)):
        raise TypeError(f"ops.image.extract_patches: `size` must be an int or a tuple. Received: {size!r}")
    size = (size, size) if isinstance(size, int) else tuple(size)
    if len(size) not in (2, 3):
        raise ValueError(f"ops.image.extract_patches: `size` must have 2 or 3 entries. Received: size={size}")
    return _patches(images, size, strides, dilation_rate, padding, data_format, "extract_patches")


def extract_patches_3d(volumes, size, strides=None, dilation_rate=1, padding="valid", data_format=None):
    """Patches of volumes ``(batch, depth, height, width, channels)``, each flattened into the
    channel axis (arguments as :func:`extract_patches`, with three sizes).

    Example:
        >>> import torch
        >>> from plait.ops import image
        >>> image.extract_patches_3d(torch.ones(1, 4, 4, 4, 2), 2).shape
        torch.Size([1, 2, 2, 2, 16])
    """
    size = _tuple(size, 3, "size", "extract_patches_3d")
    return _patches(volumes, size, strides, dilation_rate, padding, data_format, "extract_patches_3d")


# ----------------------------------------------------------------------------- similarity
def ssim(image1, image2, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03, data_format=None):
    """Structural similarity of two images (or batches), averaged over pixels and channels.

    Local means, variances and covariance come from a ``filter_size`` Gaussian window (valid
    positions only); ``c1 = (k1 max_val)^2`` and ``c2 = (k2 max_val)^2`` stabilize the ratio.

    Returns:
        One value per image: ``(batch,)``, or a scalar for single images.

    Example:
        >>> import torch
        >>> from plait.ops import image
        >>> x = torch.rand(1, 16, 16, 3)
        >>> image.ssim(x, x, filter_size=5)
        tensor([1.])
    """
    a, b = images_of(image1, "ssim"), images_of(image2, "ssim")
    single, out_dtype = a.ndim == 3, a.dtype
    dtype = result_type(a.dtype, float)
    (a, _), (b, _) = to_nchw(cast(a, dtype), data_format), to_nchw(cast(b, dtype), data_format)
    g = _gaussian_1d(filter_size, filter_sigma, a.dtype, a.device)
    window = torch.outer(g, g)[None]

    def blur(t):
        return _depthwise(t, window, (0, 0, 0, 0))

    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b, cov = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2, blur(a * b) - mu_a * mu_b
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    index = (2 * mu_a * mu_b + c1) * (2 * cov + c2) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    score = index.mean(dim=(1, 2, 3))
    return cast(score[0] if single else score, out_dtype)
