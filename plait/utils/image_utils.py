"""Keras's image helpers on Pillow and torch: ``load_img``, ``img_to_array``, ``array_to_img``,
``save_img`` and ``smart_resize`` (``keras.utils`` / ``keras.preprocessing.image``).

Pillow decodes and encodes files, as in Keras; resizing an array is torch's ``interpolate``, as
in Keras's torch backend (``bilinear`` and ``bicubic`` with half-pixel centers, ``nearest`` as
``nearest-exact``), so the pixels equal Keras's on torch.

Pillow is an optional dependency: ``pip install pillow`` (or ``pip install plait[image]``).
"""

import io
import pathlib
import warnings

import numpy as np
import torch
import torch.nn.functional as F


def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(
            "Could not import PIL.Image: loading and saving images needs Pillow. "
            "Install it with `pip install pillow` (or `pip install plait[image]`)."
        ) from None
    return Image


def _pil_interpolations():
    Image = _pil()
    resampling = getattr(Image, "Resampling", Image)
    return {
        "nearest": resampling.NEAREST,
        "bilinear": resampling.BILINEAR,
        "bicubic": resampling.BICUBIC,
        "hamming": resampling.HAMMING,
        "box": resampling.BOX,
        "lanczos": resampling.LANCZOS,
    }


def standardize_data_format(data_format):
    """``None`` -> ``"channels_last"`` (plait's image data format), else checked."""
    if data_format is None:
        return "channels_last"
    data_format = str(data_format).lower()
    if data_format not in ("channels_first", "channels_last"):
        raise ValueError(
            "The `data_format` argument must be one of {'channels_first', 'channels_last'}. "
            f"Received: data_format={data_format}"
        )
    return data_format


def _numpy(x, dtype):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A 3D array (an image) as a PIL Image (Keras's ``keras.utils.array_to_img``).

    Args:
        x: an array-like (or CPU torch tensor) of shape ``(height, width, channels)``
            (``(channels, height, width)`` with ``data_format="channels_first"``), with 1, 3 or 4
            channels.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        scale: rescale the values so that their minimum is 0 and maximum 255 (default True).
        dtype: the dtype the values are read as (default ``"float32"``).

    Returns:
        a PIL Image: mode ``"L"`` (or ``"I"`` above 255), ``"RGB"`` or ``"RGBA"``.

    Example:
        >>> img = array_to_img(np.zeros((4, 5, 3)), scale=False)
        >>> img.mode, img.size
        ('RGB', (5, 4))
    """
    data_format = standardize_data_format(data_format)
    Image = _pil()
    x = _numpy(x, dtype or "float32")
    if x.ndim != 3:
        raise ValueError(f"Expected image array to have rank 3 (single image). Got array with shape: {x.shape}")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        x_max = np.max(x)
        if x_max != 0:
            x /= x_max
        x *= 255
    if x.shape[2] == 4:
        return Image.fromarray(x.astype("uint8"), "RGBA")
    if x.shape[2] == 3:
        return Image.fromarray(x.astype("uint8"), "RGB")
    if x.shape[2] == 1:
        if np.max(x) > 255:  # 32-bit signed integer grayscale: PIL mode "I"
            return Image.fromarray(x[:, :, 0].astype("int32"), "I")
        return Image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"Unsupported channel number: {x.shape[2]}")


def img_to_array(img, data_format=None, dtype=None):
    """A PIL Image as a 3D numpy array (Keras's ``keras.utils.img_to_array``).

    Args:
        img: a PIL Image.
        data_format: ``"channels_last"`` (default: ``(height, width, channels)``) or
            ``"channels_first"``.
        dtype: the array's dtype (default ``"float32"``).

    Returns:
        a numpy array of shape ``(height, width, channels)``; a grayscale image has 1 channel.

    Example:
        >>> img_to_array(array_to_img(np.ones((2, 3, 1)), scale=False)).shape
        (2, 3, 1)
    """
    data_format = standardize_data_format(data_format)
    x = np.asarray(img, dtype=dtype or "float32")
    if x.ndim == 3:
        if data_format == "channels_first":
            x = x.transpose(2, 0, 1)
    elif x.ndim == 2:
        x = x.reshape((1, *x.shape) if data_format == "channels_first" else (*x.shape, 1))
    else:
        raise ValueError(f"Unsupported image shape: {x.shape}")
    return x


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Save an image array to a path or file object (Keras's ``keras.utils.save_img``).

    Args:
        path: a path or a file object.
        x: the image array (see :func:`array_to_img`).
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        file_format: the format (e.g. ``"png"``); default: from the file name's extension
            (needed for a file object).
        scale: rescale the values to ``[0, 255]`` (default True).
        **kwargs: passed to ``PIL.Image.save``.

    Example:
        >>> buffer = io.BytesIO()
        >>> save_img(buffer, np.zeros((2, 2, 3)), file_format="png")
        >>> load_img(io.BytesIO(buffer.getvalue())).size
        (2, 2)
    """
    data_format = standardize_data_format(data_format)
    if file_format is None and isinstance(path, (str, pathlib.Path)):
        file_format = pathlib.Path(path).suffix[1:].lower()
    if file_format and file_format.lower() == "jpg":  # Pillow's name for it
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        warnings.warn("The JPEG format does not support RGBA images, converting to RGB.", stacklevel=2)
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)


def open_image(path, color_mode="rgb"):
    """Decode an image file into a PIL Image of ``color_mode`` (the first frame of an animation;
    ``color_mode=None``: as the file has it)."""
    Image = _pil()
    if isinstance(path, io.BytesIO):
        img = Image.open(path)
    elif isinstance(path, (pathlib.Path, bytes, str)):
        if isinstance(path, pathlib.Path):
            path = str(path.resolve())
        with open(path, "rb") as f:
            img = Image.open(io.BytesIO(f.read()))
    else:
        raise TypeError(f"path should be path-like or io.BytesIO, not {type(path)}")
    if color_mode is None:
        return img
    return convert_image(img, color_mode)


def convert_image(img, color_mode):
    """A PIL Image in ``color_mode`` (``"rgb"``, ``"rgba"`` or ``"grayscale"``), as Keras's
    ``load_img`` converts it."""
    if color_mode == "grayscale":
        # 8-, 16- and 32-bit grayscale images stay as they are; others become 8-bit grayscale.
        if img.mode not in ("L", "I;16", "I"):
            img = img.convert("L")
    elif color_mode == "rgba":
        if img.mode != "RGBA":
            img = img.convert("RGBA")
    elif color_mode == "rgb":
        if img.mode != "RGB":
            img = img.convert("RGB")
    else:
        raise ValueError(f'color_mode must be "grayscale", "rgb", or "rgba". Received: color_mode={color_mode!r}')
    return img


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest", keep_aspect_ratio=False):
    """Load an image file as a PIL Image (Keras's ``keras.utils.load_img``).

    Args:
        path: the file's path, or an ``io.BytesIO``.
        color_mode: ``"rgb"`` (default), ``"rgba"`` or ``"grayscale"``.
        target_size: None (the file's size) or ``(height, width)``.
        interpolation: Pillow's resampling when resizing: ``"nearest"`` (default),
            ``"bilinear"``, ``"bicubic"``, ``"hamming"``, ``"box"`` or ``"lanczos"``.
        keep_aspect_ratio: resize the largest centered crop of the target's aspect ratio,
            without distortion.

    Returns:
        a PIL Image.

    Example:
        >>> buffer = io.BytesIO()
        >>> save_img(buffer, np.zeros((4, 6, 3)), file_format="png")
        >>> img = load_img(buffer, color_mode="grayscale", target_size=(2, 3))
        >>> img.mode, img_to_array(img).shape
        ('L', (2, 3, 1))
    """
    img = open_image(path, color_mode)
    if target_size is not None:
        width_height = (target_size[1], target_size[0])
        if img.size != width_height:
            methods = _pil_interpolations()
            if interpolation not in methods:
                raise ValueError(
                    f"Invalid interpolation method {interpolation} specified. "
                    f"Supported methods are {', '.join(methods)}"
                )
            box = None
            if keep_aspect_ratio:
                width, height = img.size
                target_width, target_height = width_height
                crop_height = min(height, (width * target_height) // target_width)
                crop_width = min(width, (height * target_width) // target_height)
                top, left = (height - crop_height) // 2, (width - crop_width) // 2
                box = [left, top, left + crop_width, top + crop_height]
            img = img.resize(width_height, methods[interpolation], box=box)
    return img


# Keras's interpolation names as torch's modes, as Keras on torch resizes; "area" is torch's
# (exact for whole-number ratios), which Keras's torch backend lacks but tf.image.resize has.
TORCH_MODES = {"bilinear": "bilinear", "nearest": "nearest-exact", "bicubic": "bicubic", "area": "area"}


def aspect_crop_box(height, width, target_height, target_width):
    """Keras's largest centred box of the target's aspect ratio: ``(top, left, height, width)``."""
    crop_height = max(min(height, int(float(width * target_height) / target_width)), 1)
    crop_width = max(min(width, int(float(height * target_width) / target_height)), 1)
    return int(float(height - crop_height) / 2), int(float(width - crop_width) / 2), crop_height, crop_width


def crop_to_aspect(images, size):
    """The largest centered crop of ``images`` (``(..., height, width)``) with ``size``'s aspect ratio."""
    top, left, height, width = aspect_crop_box(*images.shape[-2:], *size)
    return images[..., top : top + height, left : left + width]


def fit_to_aspect(images, size, crop_to_aspect_ratio=False, pad_to_aspect_ratio=False, fill_value=0.0):
    """Keras's step before resizing ``(..., height, width)`` images to ``size``: the centred crop,
    or the padding with ``fill_value`` (the same amount on both sides, an odd remainder dropped)
    to the target's aspect ratio; the images as they are otherwise."""
    if crop_to_aspect_ratio:
        return crop_to_aspect(images, size)
    if pad_to_aspect_ratio:
        height, width = images.shape[-2:]
        pad_height = max(height, int(float(width * size[0]) / size[1]))
        pad_width = max(width, int(float(height * size[1]) / size[0]))
        top, left = int(float(pad_height - height) / 2), int(float(pad_width - width) / 2)
        return F.pad(images, (left, left, top, top), value=float(fill_value))
    return images


def resize_nchw(
    x,
    size,
    interpolation="bilinear",
    antialias=False,
    crop_to_aspect_ratio=False,
    pad_to_aspect_ratio=False,
    fill_value=0.0,
):
    """Keras's ``ops.image.resize`` on ``(batch, channels, height, width)`` float images: the crop
    or padding to the target's aspect ratio, then torch's ``interpolate``."""
    x = fit_to_aspect(x, size, crop_to_aspect_ratio, pad_to_aspect_ratio, fill_value)
    antialias = antialias and interpolation in ("bilinear", "bicubic")
    align_corners = False if interpolation in ("bilinear", "bicubic") else None
    return F.interpolate(
        x, size=tuple(size), mode=TORCH_MODES[interpolation], align_corners=align_corners, antialias=antialias
    )


def resize_images(images, size, interpolation="bilinear", crop_to_aspect_ratio=False, pad_to_aspect_ratio=False):
    """Resize a channels-first ``(batch, channels, height, width)`` float tensor to ``size``
    (Keras's torch backend's ``ops.image.resize``: the crop or the zero padding to the target's
    aspect ratio comes first, then torch's ``interpolate``, without antialiasing)."""
    if interpolation not in TORCH_MODES:
        raise ValueError(
            f"Argument `interpolation` must be one of {tuple(TORCH_MODES)} on torch (Keras's torch backend has "
            f"no Lanczos, Gaussian or Mitchell-cubic resizing). Received: interpolation={interpolation!r}"
        )
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("Only one of `pad_to_aspect_ratio`, `crop_to_aspect_ratio` can be set to `True`.")
    images = fit_to_aspect(images, size, crop_to_aspect_ratio, pad_to_aspect_ratio)
    if tuple(images.shape[-2:]) == tuple(size) and interpolation != "area":
        return images.clone()
    return resize_nchw(images, size, interpolation)


def _keys_cubic(x, a=-0.5):
    x = x.abs()
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return torch.where(x <= 1, near, torch.where(x < 2, far, torch.zeros_like(x)))


def _lanczos(radius):
    def kernel(x):
        x = x.abs()
        value = radius * torch.sin(torch.pi * x) * torch.sin(torch.pi * x / radius) / (torch.pi**2 * x * x)
        return torch.where(x > radius, 0.0, torch.where(x < 1e-3, 1.0, value))

    return kernel, radius


def _gaussian(x):
    return torch.where(x.abs() >= 1.5, 0.0, torch.exp(-2 * x * x))  # sigma 0.5, radius 1.5


def _mitchell_cubic(x):  # B = C = 1/3
    x = x.abs()
    near = (7 / 6 * x - 2) * x * x + 8 / 9
    far = ((-7 / 18 * x + 2) * x - 10 / 3) * x + 16 / 9
    return torch.where(x >= 2, 0.0, torch.where(x >= 1, far, near))


# tf.image.resize's scale_and_translate kernels (no antialiasing): (kernel, radius).
_TF_KERNELS = {
    "lanczos3": _lanczos(3),
    "lanczos5": _lanczos(5),
    "gaussian": (_gaussian, 1.5),
    "mitchellcubic": (_mitchell_cubic, 2),
}
TF_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", *_TF_KERNELS)


def _tf_resize_weights(n_in, n_out, interpolation):
    """The ``(n_out, n_in)`` float64 matrix of one axis of ``tf.image.resize``: ``bicubic``
    (Keys' cubic, a=-0.5, at half-pixel centers, TF's 1024-step coefficient table; taps outside
    the image dropped and the rest renormalized), ``area`` (each output pixel the exact average of
    the input it covers), or a ``scale_and_translate`` kernel (the taps within its radius of the
    sample's center, normalized)."""
    scale = torch.tensor(n_in, dtype=torch.float32) / n_out
    out = torch.arange(n_out, dtype=torch.float32)
    pixels = torch.arange(n_in, dtype=torch.float64)
    if interpolation == "bicubic":
        centers = (out + 0.5) * scale - 0.5
        first = centers.floor()
        t = (torch.round((centers - first) * 1024) / 1024).double()[:, None]
        taps = first.long()[:, None] + torch.arange(-1, 3)
        w = _keys_cubic(torch.cat([t + 1, t, 1 - t, 2 - t], dim=1))
        w = torch.where((taps >= 0) & (taps < n_in), w, 0.0)
        weights = torch.zeros(n_out, n_in, dtype=torch.float64)
        return weights.scatter_add_(1, taps.clamp(0, n_in - 1), w / w.sum(1, keepdim=True))
    if interpolation == "area":
        start, end = (out * scale).double(), ((out + 1) * scale).double()
        overlap = torch.minimum(pixels + 1, end[:, None]) - torch.maximum(pixels, start[:, None])
        return overlap.clamp(min=0) / scale.double()
    kernel, radius = _TF_KERNELS[interpolation]
    centers = ((out + 0.5) * scale).double()[:, None]
    first, last = torch.floor(centers - radius + 0.5), torch.floor(centers + radius + 0.5)
    w = torch.where((pixels >= first) & (pixels < last), kernel(pixels + 0.5 - centers), 0.0)
    return w / w.sum(1, keepdim=True)


def tf_resize_images(images, size, interpolation="bilinear", crop_to_aspect_ratio=False, pad_to_aspect_ratio=False):
    """Resize a ``(batch, channels, height, width)`` float tensor as Keras's ``tf.data`` image
    pipeline does with ``tf.image.resize``: ``bilinear`` and ``nearest`` are torch's (the same
    numbers), the others TensorFlow's kernels as separable weight matrices; the crop
    is :func:`smart_resize`'s, the padding ``tf.image.resize_with_pad``'s (resize to fit, then
    zero-pad, centered)."""
    if interpolation not in TF_INTERPOLATIONS:
        raise ValueError(
            f"Argument `interpolation` should be one of {TF_INTERPOLATIONS}. Received: interpolation={interpolation}"
        )
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("Only one of `pad_to_aspect_ratio`, `crop_to_aspect_ratio` can be set to `True`.")
    target_height, target_width = size
    if crop_to_aspect_ratio:
        images = crop_to_aspect(images, size)
    elif pad_to_aspect_ratio:
        height, width = (torch.tensor(float(n)) for n in images.shape[-2:])  # TF's float32 arithmetic
        ratio = torch.maximum(width / target_width, height / target_height)
        fit_height, fit_width = height / ratio, width / ratio
        top = max(0, int(torch.floor((target_height - fit_height) / 2)))
        left = max(0, int(torch.floor((target_width - fit_width) / 2)))
        fitted = tf_resize_images(images, (int(fit_height.floor()), int(fit_width.floor())), interpolation)
        bottom, right = target_height - top - fitted.shape[-2], target_width - left - fitted.shape[-1]
        return F.pad(fitted, (left, right, top, bottom))
    if interpolation in ("bilinear", "nearest"):
        return resize_images(images, size, interpolation)
    rows = _tf_resize_weights(images.shape[-2], target_height, interpolation)
    cols = _tf_resize_weights(images.shape[-1], target_width, interpolation)
    return torch.einsum("oh,nchw,pw->ncop", rows, images.double(), cols).to(images.dtype)


def smart_resize(x, size, interpolation="bilinear", data_format="channels_last", **kwargs):
    """Resize images to ``size`` without distorting them: the largest centered crop of the
    target's aspect ratio, resized (Keras's ``keras.preprocessing.image.smart_resize``).

    Args:
        x: an image ``(height, width, channels)`` or a batch ``(batch, height, width, channels)``
            (channels first with ``data_format="channels_first"``), as a numpy array or tensor.
        size: ``(height, width)``.
        interpolation: ``"bilinear"`` (default), ``"nearest"``, ``"bicubic"`` or ``"area"``.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Returns:
        the resized images, a numpy array for a numpy input, else a torch tensor; integer
        images are rounded back to their dtype, as Keras's torch backend does.

    Example:
        >>> smart_resize(np.ones((340, 500, 3)), (200, 200)).shape
        (200, 200, 3)
    """
    kwargs.pop("backend_module", None)
    if kwargs:
        raise TypeError(f"smart_resize() got unexpected keyword arguments: {list(kwargs.keys())}")
    if len(size) != 2:
        raise ValueError(f"Expected `size` to be a tuple of 2 integers, but got: {size}.")
    img = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if img.ndim not in (3, 4):
        raise ValueError(
            "Expected an image array with shape `(height, width, channels)`, or `(batch_size, height, width, "
            f"channels)`, but got input with incorrect rank, of shape {tuple(img.shape)}."
        )
    out_dtype = img.dtype
    squeeze = img.ndim == 3
    img = img[None] if squeeze else img
    if not img.dtype.is_floating_point or img.dtype in (torch.float16, torch.bfloat16):
        img = img.float()
    if data_format == "channels_last":
        img = img.permute(0, 3, 1, 2)
    out = resize_images(img, size, interpolation, crop_to_aspect_ratio=True)
    if data_format == "channels_last":
        out = out.permute(0, 2, 3, 1)
    if interpolation == "bicubic" and out_dtype == torch.uint8:
        out = out.clamp(0, 255)
    if out_dtype != out.dtype:
        out = (out.round() if not out_dtype.is_floating_point else out).to(out_dtype)
    out = out[0] if squeeze else out
    return out.numpy() if isinstance(x, np.ndarray) else out
