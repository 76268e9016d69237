"""Resampling image ops on torch: ``map_coordinates`` and the warps built on it (affine,
perspective, elastic), and ``scale_and_translate``.

:func:`sample` is the one sampler: it reads ``(batch, channels, *spatial)`` values at fractional
coordinates by gathering the nearest pixel (order 0) or the ``2^d`` surrounding pixels with
linear weights (order 1). Where a tap falls outside the image, ``fill_mode`` says where it reads
instead, as scipy's ``ndimage.map_coordinates`` does (Keras's reference):

====================  =======================  ==========================
``fill_mode``         outside ``a b c d``      note
====================  =======================  ==========================
``"constant"``        ``k k k k | a b c d``    ``fill_value``
``"nearest"``         ``a a a a | a b c d``    edge pixel repeated
``"wrap"``            ``a b c d | a b c d``    periodic
``"mirror"``          ``d c b | a b c d``      reflected about the edge pixel's center
``"reflect"``         ``d c b a | a b c d``    reflected about the edge
====================  =======================  ==========================
"""

import itertools
import math

import numpy as np
import torch

from plait.ops._backend import cast, convert_to_tensor, result_type, standardize_dtype, to_torch_dtype, torch_generator
from plait.ops._image import gaussian_blur, images_of, to_nchw


def _mirror(index, size):
    if size == 1:
        return torch.zeros_like(index)
    index = torch.remainder(index, 2 * size - 2)
    return torch.where(index >= size, 2 * size - 2 - index, index)


def _reflect(index, size):
    index = torch.remainder(index, 2 * size)
    return torch.where(index >= size, 2 * size - 1 - index, index)


# Where a tap at integer ``index`` of an axis of ``size`` pixels reads.
FILL_MODES = {
    "constant": lambda index, size: index.clamp(0, size - 1),  # masked to fill_value afterwards
    "nearest": lambda index, size: index.clamp(0, size - 1),
    "wrap": torch.remainder,
    "mirror": _mirror,
    "reflect": _reflect,
}
INTERPOLATION_ORDERS = {"nearest": 0, "bilinear": 1}


def _taps(coordinate, order):
    """``[(index, weight)]`` of one axis: the nearest pixel (weight None: 1), or the two neighbours."""
    if order == 0:
        nearest = coordinate if not coordinate.is_floating_point() else torch.round(coordinate)  # half to even
        return [(nearest.long(), None)]
    below = torch.floor(coordinate)
    above_weight = coordinate - below
    return [(below.long(), 1 - above_weight), (below.long() + 1, above_weight)]


def sample(values, coordinates, order, fill_mode="constant", fill_value=0.0):
    """``values`` read at fractional coordinates.

    Args:
        values: ``(batch, channels, *spatial)``.
        coordinates: one ``(batch, *out)`` tensor per spatial axis.
        order: 0 (nearest pixel) or 1 (linear in each axis).
        fill_mode, fill_value: where taps outside the image read (module docstring).

    Returns:
        ``(batch, channels, *out)`` in ``values``' dtype (integers rounded).
    """
    batch, channels, *spatial = values.shape
    out_shape = coordinates[0].shape[1:]
    flat = values.reshape(batch, channels, -1)
    if not values.is_floating_point() and isinstance(fill_value, float):
        fill_value = int(fill_value)
    fix = FILL_MODES[fill_mode]
    strides = [math.prod(spatial[axis + 1 :]) for axis in range(len(spatial))]
    per_axis = []
    for coordinate, size, stride in zip(coordinates, spatial, strides):
        coordinate = coordinate.reshape(batch, 1, -1)
        per_axis.append([(fix(i, size) * stride, w, (i >= 0) & (i < size)) for i, w in _taps(coordinate, order)])
    total = None
    for corner in itertools.product(*per_axis):  # the 2^d surrounding pixels (one for order 0)
        index = sum(offset for offset, _, _ in corner)
        value = flat.gather(2, index.expand(-1, channels, -1))
        if fill_mode == "constant":
            inside = torch.stack([valid for _, _, valid in corner]).all(0)
            value = torch.where(inside, value, fill_value)
        weights = [w for _, w, _ in corner if w is not None]
        if weights:
            value = math.prod(weights) * value
        total = value if total is None else total + value
    if not values.is_floating_point() and total.is_floating_point():
        total = torch.round(total)
    return total.to(values.dtype).reshape(batch, channels, *out_shape)


def _order(interpolation, name):
    if interpolation not in INTERPOLATION_ORDERS:
        raise ValueError(
            f"ops.image.{name}: `interpolation` must be 'nearest' or 'bilinear'. Received: {interpolation!r}"
        )
    return INTERPOLATION_ORDERS[interpolation]


def _fill_mode(fill_mode, name):
    if fill_mode not in FILL_MODES:
        raise ValueError(f"ops.image.{name}: `fill_mode` must be one of {tuple(FILL_MODES)}. Received: {fill_mode!r}")
    return fill_mode


def map_coordinates(inputs, coordinates, order, fill_mode="constant", fill_value=0):
    """Values of an array at fractional coordinates (scipy's ``ndimage.map_coordinates``).

    Args:
        inputs: array of any rank ``d``.
        coordinates: ``(d, *out)``: for each output point, its coordinate along each axis of
            ``inputs`` (a tensor, or a sequence of ``d`` arrays).
        order: 0 (nearest) or 1 (linear).
        fill_mode: ``"constant"`` (default), ``"nearest"``, ``"wrap"``, ``"mirror"`` or ``"reflect"``.
        fill_value: the value outside the array with ``"constant"``.

    Returns:
        ``out``-shaped, ``inputs``' dtype.

    Example:
        >>> from plait.ops import image
        >>> image.map_coordinates([[0.0, 1.0], [2.0, 3.0]], [[0.5], [0.5]], order=1)
        tensor([1.5000])
    """
    inputs = convert_to_tensor(inputs)
    coordinates = [convert_to_tensor(c) for c in coordinates]
    if len(coordinates) != inputs.ndim:
        raise ValueError(
            f"ops.image.map_coordinates: `coordinates` must give one coordinate per axis of `inputs` "
            f"({inputs.ndim}). Received {len(coordinates)} for inputs of shape {tuple(inputs.shape)}."
        )
    if coordinates[0].ndim < 1:
        raise ValueError("ops.image.map_coordinates: `coordinates` must have rank >= 2: (axes, *points).")
    if order not in (0, 1):
        raise ValueError(f"ops.image.map_coordinates: `order` must be 0 or 1. Received: order={order}")
    _fill_mode(fill_mode, "map_coordinates")
    values = inputs[None, None]
    out = sample(values, [c[None] for c in coordinates], order, fill_mode, fill_value)
    return out[0, 0]


def _warp(images, grid_fn, dtype, order, fill_mode, fill_value, data_format):
    """Each output pixel ``(y, x)`` of ``images`` reads the input at ``grid_fn(ys, xs)``, where
    ``ys``, ``xs`` are ``(1, height, width)`` pixel grids and the result is ``(y_in, x_in)``
    of shape ``(batch, height, width)``."""
    x, back = to_nchw(images, data_format)
    height, width = x.shape[-2:]
    ys = torch.arange(height, dtype=dtype, device=x.device).reshape(1, height, 1).expand(1, height, width)
    xs = torch.arange(width, dtype=dtype, device=x.device).reshape(1, 1, width).expand(1, height, width)
    y_in, x_in = grid_fn(ys, xs)
    batch = x.shape[0]
    y_in, x_in = y_in.expand(batch, -1, -1), x_in.expand(batch, -1, -1)
    return back(sample(x, [y_in, x_in], order, fill_mode, fill_value))


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant", fill_value=0, data_format=None):
    """Warp images by projective transforms given as ``[a0, a1, a2, b0, b1, b2, c0, c1]``.

    Output pixel ``(x, y)`` reads the input at ``((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k)``
    with ``k = c0 x + c1 y + 1`` (``c0 = c1 = 0``: an affine map).

    Args:
        images: image or batch.
        transform: ``(8,)`` or one per image ``(batch, 8)``.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        fill_mode, fill_value: what points outside the input read (see the module docstring).

    Example:
        >>> import torch
        >>> from plait.ops import image
        >>> shift_right = [1.0, 0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0]  # reads one pixel to the left
        >>> image.affine_transform(torch.arange(3.0).reshape(1, 3, 1), shift_right)[0, :, 0]
        tensor([0., 0., 1.])
    """
    order, fill_mode = _order(interpolation, "affine_transform"), _fill_mode(fill_mode, "affine_transform")
    images, transform = images_of(images, "affine_transform"), convert_to_tensor(transform)
    if transform.ndim not in (1, 2) or transform.shape[-1] != 8:
        raise ValueError(
            "ops.image.affine_transform: `transform` must be (8,) or (batch, 8). "
            f"Received shape {tuple(transform.shape)}."
        )
    transform = cast(transform, result_type(transform.dtype, float)).reshape(-1, 8, 1, 1)
    a0, a1, a2, b0, b1, b2, c0, c1 = transform.unbind(1)

    def grid(ys, xs):
        k = c0 * xs + c1 * ys + 1
        return (b0 * xs + b1 * ys + b2) / k, (a0 * xs + a1 * ys + a2) / k

    return _warp(images, grid, transform.dtype, order, fill_mode, fill_value, data_format)


def homography(start_points, end_points):
    """The 8 coefficients of the projective maps that take each ``end_points`` quad onto its
    ``start_points`` quad (``(batch, 4, 2)`` (x, y) corners): ``affine_transform``'s layout."""
    dtype = result_type(start_points.dtype, end_points.dtype, float)
    solve_dtype = result_type(dtype, "float32")  # torch.linalg.solve has no half-precision kernel
    start, end = cast(start_points, solve_dtype), cast(end_points, solve_dtype)
    (sx, sy), (ex, ey) = start.unbind(-1), end.unbind(-1)
    one, zero = torch.ones_like(ex), torch.zeros_like(ex)
    # x_s (c0 x_e + c1 y_e + 1) = a0 x_e + a1 y_e + a2, and the same for y_s: two equations a corner.
    rows_x = torch.stack([ex, ey, one, zero, zero, zero, -sx * ex, -sx * ey], -1)
    rows_y = torch.stack([zero, zero, zero, ex, ey, one, -sy * ex, -sy * ey], -1)
    system = torch.stack([rows_x, rows_y], 2).reshape(-1, 8, 8)
    return cast(torch.linalg.solve(system, start.reshape(-1, 8)), dtype)


def perspective_transform(images, start_points, end_points, interpolation="bilinear", fill_value=0, data_format=None):
    """Warp images so that the quad ``start_points`` lands on ``end_points``.

    Args:
        images: image or batch.
        start_points, end_points: ``(4, 2)`` or ``(batch, 4, 2)`` (x, y) corners.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        fill_value: the value of output pixels that read outside the input.

    Example:
        >>> import torch
        >>> from plait.ops import image
        >>> corners = [[0, 0], [3, 0], [0, 3], [3, 3]]
        >>> x = torch.rand(4, 4, 1)
        >>> torch.allclose(image.perspective_transform(x, corners, corners), x, atol=1e-5)
        True
    """
    order = _order(interpolation, "perspective_transform")
    images = images_of(images, "perspective_transform")
    points = []
    for name, value in (("start_points", start_points), ("end_points", end_points)):
        value = convert_to_tensor(value, dtype=standardize_dtype(images.dtype))
        if value.ndim not in (2, 3) or tuple(value.shape[-2:]) != (4, 2):
            raise ValueError(
                f"ops.image.perspective_transform: `{name}` must be (4, 2) or (batch, 4, 2). "
                f"Received shape {tuple(value.shape)}."
            )
        points.append(value.reshape(-1, 4, 2))
    if points[0].shape != points[1].shape:
        raise ValueError(
            "ops.image.perspective_transform: `start_points` and `end_points` must have one shape. "
            f"Received {tuple(points[0].shape)} and {tuple(points[1].shape)}."
        )
    coefficients = homography(*points).reshape(-1, 8, 1, 1)
    a0, a1, a2, b0, b1, b2, c0, c1 = coefficients.unbind(1)

    def grid(ys, xs):
        k = c0 * xs + c1 * ys + 1
        return (b0 * xs + b1 * ys + b2) / k, (a0 * xs + a1 * ys + a2) / k

    return _warp(images, grid, coefficients.dtype, order, "constant", fill_value, data_format)


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
    """Warp images by a random smooth displacement field (Simard et al., 2003).

    Each pixel's displacement is Gaussian noise of standard deviation ``sigma`` blurred by a
    Gaussian of ``sigma`` (kernel ``6 sigma`` wide), times ``alpha``; each image draws its own.

    Args:
        images: image or batch.
        alpha: displacement scale, in pixels.
        sigma: smoothness of the field.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        fill_mode, fill_value: what points outside the input read (default ``"reflect"``).
        seed: int, ``SeedGenerator`` or None (a fresh draw).

    Example:
        >>> import torch
        >>> from plait.ops import image
        >>> x = torch.rand(2, 8, 8, 3)
        >>> torch.equal(image.elastic_transform(x, seed=1), image.elastic_transform(x, seed=1))
        True
    """
    order, fill_mode = _order(interpolation, "elastic_transform"), _fill_mode(fill_mode, "elastic_transform")
    images = images_of(images, "elastic_transform")
    x, _ = to_nchw(images, data_format)
    batch, _, height, width = x.shape
    dtype = x.dtype if x.is_floating_point() else to_torch_dtype("float32")
    size = int(6 * float(sigma)) | 1  # odd, about +-3 sigma
    generator = torch_generator(seed, x.device)
    noise = torch.randn(2 * batch, height, width, 1, generator=generator, dtype=dtype, device=x.device) * sigma
    # Blurred as images of one channel: (2 * batch, height, width, 1), then dy, dx.
    field = gaussian_blur(noise, (size, size), (sigma, sigma), data_format="channels_last")[..., 0]
    dy, dx = field[:batch] * alpha, field[batch:] * alpha

    def grid(ys, xs):
        return ys + dy, xs + dx

    return _warp(images, grid, dtype, order, fill_mode, fill_value, data_format)


# ----------------------------------------------------------------------------- scale_and_translate
def _lanczos(radius):
    def kernel(x):
        safe = torch.where(x > 1e-3, x, 1.0)
        value = radius * torch.sin(np.pi * safe) * torch.sin(np.pi * safe / radius) / (np.pi**2 * safe**2)
        return torch.where(x > radius, 0.0, torch.where(x > 1e-3, value, 1.0))

    return kernel


def _keys_cubic(x):  # Keys' cubic convolution, a = -0.5
    near = (1.5 * x - 2.5) * x * x + 1.0
    far = ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0
    return torch.where(x < 1.0, near, torch.where(x < 2.0, far, 0.0))


# Kernels of the distance |sample - pixel center| (in input pixels, stretched when antialiasing).
SCALE_AND_TRANSLATE_KERNELS = {
    "linear": lambda x: (1 - x).clamp(min=0),
    "cubic": _keys_cubic,
    "lanczos3": _lanczos(3.0),
    "lanczos5": _lanczos(5.0),
}
_METHOD_NAMES = {"bilinear": "linear", "trilinear": "linear", "bicubic": "cubic", "tricubic": "cubic"}


def _resampling_matrix(n_in, n_out, scale, translation, kernel, antialias):
    """``(n_in, n_out)`` weights: output ``j`` samples input position ``(j + 0.5 - t) / s - 0.5``."""
    positions = (torch.arange(n_out, dtype=scale.dtype, device=scale.device) + 0.5 - translation) / scale - 0.5
    stretch = torch.clamp(1 / scale, min=1.0) if antialias else 1.0  # a wider kernel when shrinking
    pixels = torch.arange(n_in, dtype=scale.dtype, device=scale.device)[:, None]
    weights = kernel(torch.abs(positions - pixels) / stretch)
    total = weights.sum(0, keepdim=True)
    # Columns whose weights (nearly) cancel, and samples outside the input, give 0.
    usable = total.abs() > 1000 * float(np.finfo(np.float32).eps)
    weights = torch.where(usable, weights / torch.where(usable, total, 1.0), 0.0)
    return torch.where((positions >= -0.5) & (positions <= n_in - 0.5), weights, 0.0)


def scale_and_translate(images, output_shape, scale, translation, spatial_dims, method, antialias=True):
    """Resample ``images`` along ``spatial_dims``: output pixel ``j`` of an axis reads the input at
    ``(j + 0.5 - translation) / scale - 0.5`` through a separable kernel (JAX's
    ``jax.image.scale_and_translate``).

    Args:
        images: array of any rank.
        output_shape: the output's full shape.
        scale, translation: one per spatial dim.
        spatial_dims: the axes to resample.
        method: ``"linear"``/``"bilinear"``/``"trilinear"``, ``"cubic"``/``"bicubic"``/``"tricubic"``,
            ``"lanczos3"`` or ``"lanczos5"``.
        antialias: widen the kernel by ``1 / scale`` when downsampling.

    Example:
        >>> import torch
        >>> from plait.ops import image
        >>> x = torch.ones(1, 4, 4, 1)
        >>> image.scale_and_translate(x, (1, 8, 8, 1), [2.0, 2.0], [0.0, 0.0], (1, 2), "linear").shape
        torch.Size([1, 8, 8, 1])
    """
    kernel = SCALE_AND_TRANSLATE_KERNELS.get(_METHOD_NAMES.get(method, method))
    if kernel is None:
        raise ValueError(
            "ops.image.scale_and_translate: `method` must be one of linear, bilinear, trilinear, cubic, bicubic, "
            f"tricubic, lanczos3, lanczos5. Received: method={method!r}"
        )
    images, scale, translation = convert_to_tensor(images), convert_to_tensor(scale), convert_to_tensor(translation)
    dtype = result_type(scale.dtype, translation.dtype)
    scale, translation = cast(scale, dtype), cast(translation, dtype)
    out = images if images.is_floating_point() else images.float()
    for i, axis in enumerate(spatial_dims):
        axis = axis % images.ndim
        weights = _resampling_matrix(
            images.shape[axis], output_shape[axis], scale[i], translation[i], kernel, antialias
        ).to(out.dtype)
        out = (out.movedim(axis, -1) @ weights).movedim(-1, axis)
    if not images.is_floating_point():
        out = torch.round(out).clamp(images.min(), images.max()).to(images.dtype)
    return out
