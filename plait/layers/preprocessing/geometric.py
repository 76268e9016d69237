"""More random image augmentation layers (Keras 3's): ``RandomShear``, ``RandomPerspective``,
``RandomElasticTransform``, ``RandomGaussianBlur`` and ``RandomErasing``.

They follow the family's rules (see ``augmentation``): training-only, seeded draws from the
layer's own ``torch.Generator``, and a ``transform`` that takes its draw as an optional keyword.
Shear and perspective move bounding boxes and segmentation masks with the image; the elastic
transform moves masks (boxes: a clear error, as Keras has no rule for them); blur and erasing
leave boxes and masks as they are, as Keras's do.
"""

import torch
import torch.nn.functional as F

from plait.layers.preprocessing.augmentation import _AffineLayer, _RandomImageLayer
from plait.layers.preprocessing.color import keras_factor, value_range_pair
from plait.utils.bounding_boxes.geometry import clip_xyxy, drop_empty, transform_corners


def _unit_interval(who, name, factor):
    """Keras's shear factors: a number ``f`` in ``[0, 1]`` means ``(-f, f)``. A pair may reach
    down to -1, so that the ``(-f, f)`` a config stores rebuilds (Keras's own check refuses it)."""
    values = tuple(factor) if isinstance(factor, (list, tuple)) else (factor,)
    low = -1 if len(values) == 2 else 0
    if len(values) not in (1, 2) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and low <= v <= 1 for v in values
    ):
        raise ValueError(
            f"{who}: `{name}` should be a number or a list of two numbers in [0, 1]. Received: {name}={factor!r}"
        )
    return tuple(sorted(values)) if len(values) == 2 else (-float(factor), float(factor))


class RandomShear(_AffineLayer):
    """Shears each image by random amounts along x and y in training.

    The output pixel ``(x, y)`` reads the input at ``(x + sx y, sy x + y)``; ``sx`` and ``sy``
    are drawn from the factors and share one random sign per image.

    Args:
        x_factor, y_factor: ``f`` for ``[-f, f]`` or ``(lower, upper)`` in ``[0, 1]`` (default 0).
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        fill_mode: ``"reflect"`` (default), ``"wrap"``, ``"constant"`` or ``"nearest"``.
        fill_value: the value for ``"constant"``. data_format, seed.

    Example:
        >>> import torch, plait
        >>> layer = plait.layers.RandomShear(x_factor=0.3, seed=0)
        >>> layer(torch.rand(2, 8, 8, 3), training=True).shape
        torch.Size([2, 8, 8, 3])
    """

    def __init__(
        self,
        x_factor=0.0,
        y_factor=0.0,
        interpolation="bilinear",
        fill_mode="reflect",
        fill_value=0.0,
        data_format=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format=data_format, **kwargs)
        who = f"RandomShear layer '{self.name}'"
        self.x_factor = _unit_interval(who, "x_factor", x_factor)
        self.y_factor = _unit_interval(who, "y_factor", y_factor)

    def draw(self, x):
        """``shear``: ``(batch, 2)`` shear amounts along x and y."""
        batch = x.shape[0]
        sign = torch.where(self._uniform((batch, 1), 0.0, 1.0, x.device) > 0.5, -1.0, 1.0)
        sy = self._uniform((batch, 1), *self.y_factor, x.device)
        sx = self._uniform((batch, 1), *self.x_factor, x.device)
        return {"shear": torch.cat([sx, sy], 1) * sign}

    def matrix(self, x, shear=None):
        """``shear``: ``(batch, 2)`` shear amounts along x and y."""
        shear = self.draw(x)["shear"] if shear is None else shear
        sx, sy = torch.as_tensor(shear, dtype=torch.float32, device=x.device).unbind(1)
        one, zero = torch.ones_like(sx), torch.zeros_like(sx)
        return torch.stack([one, sx, zero, sy, one, zero, zero, zero], dim=1)

    def transform_boxes(self, boxes, labels, draw, size):
        # Keras's rule, on coordinates relative to the image: each x edge moves by -sx times the
        # y edge that moves it furthest out, then each y edge by -sy times an x edge (exact for a
        # shear along one axis of a square image; Keras's approximation otherwise).
        height, width = size
        extent = boxes.new_tensor([width, height, width, height])
        x1, y1, x2, y2 = (boxes / extent).unbind(-1)
        sx, sy = torch.as_tensor(draw["shear"], dtype=boxes.dtype, device=boxes.device).unsqueeze(1).unbind(-1)
        x1, x2 = torch.where(sx < 0, x1 - sx * y1, x1 - sx * y2), torch.where(sx < 0, x2 - sx * y2, x2 - sx * y1)
        y1, y2 = torch.where(sy > 0, y1 - sy * x2, y1 - sy * x1), torch.where(sy > 0, y2 - sy * x1, y2 - sy * x2)
        relative = torch.stack([x1, y1, x2, y2], -1).clamp(0, 1)
        return relative * extent, drop_empty(labels, relative)

    def get_config(self):
        return {**super().get_config(), "x_factor": list(self.x_factor), "y_factor": list(self.y_factor)}


def _gaussian_taps(size, sigma, dtype, device):
    offsets = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    taps = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return taps / taps.sum()


def gaussian_blur_nchw(x, kernel_size, sigma):
    """Blurs each channel with a ``kernel_size = (kx, ky)`` Gaussian of ``sigma = (sx, sy)``,
    zero padding, as Keras's torch backend does."""
    kx, ky = (int(k) for k in kernel_size)
    sx, sy = sigma
    kernel = torch.outer(_gaussian_taps(ky, sy, x.dtype, x.device), _gaussian_taps(kx, sx, x.dtype, x.device))
    channels = x.shape[1]
    return F.conv2d(x, kernel.expand(channels, 1, ky, kx), padding=(ky // 2, kx // 2), groups=channels)


class RandomGaussianBlur(_RandomImageLayer):
    """Blurs each image with a Gaussian kernel, with a random probability, in training.

    Args:
        factor: the blur probability: ``p`` for ``[0, p]`` or ``(lower, upper)`` in ``[0, 1]``
            (default 1.0; each image draws a probability there, then a uniform threshold).
        kernel_size: an odd size or ``(kx, ky)`` pair of odd sizes (default 3).
        sigma: ``s`` for ``[0, s]`` or ``(lower, upper)``; one ``(sx, sy)`` pair is drawn per
            batch (plus ``1e-6``). value_range: clip range, default ``(0, 255)``. data_format, seed.

    Example:
        >>> import torch, plait
        >>> layer = plait.layers.RandomGaussianBlur(factor=(1.0, 1.0), sigma=(1.0, 1.0))
        >>> float(layer(torch.ones(1, 5, 5, 1), training=True)[0, 2, 2, 0])
        1.0
    """

    def __init__(
        self, factor=1.0, kernel_size=3, sigma=1.0, value_range=(0, 255), data_format=None, seed=None, **kwargs
    ):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        who = f"RandomGaussianBlur layer '{self.name}'"
        self.factor = keras_factor(who, factor, (0, 1))
        sizes = tuple(kernel_size) if isinstance(kernel_size, (list, tuple)) else (kernel_size, kernel_size)
        if len(sizes) != 2 or not all(isinstance(k, int) and k > 0 and k % 2 == 1 for k in sizes):
            raise ValueError(
                f"{who}: `kernel_size` should be an odd positive integer or a pair of them. "
                f"Received: kernel_size={kernel_size!r}"
            )
        self.kernel_size = sizes
        self.sigma = keras_factor(who.replace("`factor`", "`sigma`"), sigma, (0, 1))
        self.value_range = value_range_pair(who, value_range)

    def transform(self, x, apply=None, sigma=None):
        batch = x.shape[0]
        if apply is None:
            probability = self._uniform((batch,), *map(float, self.factor), x.device)
            apply = self._uniform((batch,), 0.0, 1.0, x.device) < probability
        if sigma is None:
            sigma = self._uniform((2,), *map(float, self.sigma), x.device) + 1e-6
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
        blurred = gaussian_blur_nchw(x, self.kernel_size, (sigma[0], sigma[1]))
        apply = torch.as_tensor(apply, device=x.device).reshape(-1, 1, 1, 1)
        return torch.where(apply, blurred, x).clamp(*self.value_range)

    def get_config(self):
        return {
            **super().get_config(),
            "factor": list(self.factor),
            "kernel_size": list(self.kernel_size),
            "sigma": list(self.sigma),
            "value_range": list(self.value_range),
        }


class RandomErasing(_RandomImageLayer):
    """Erases a random rectangle of each image, with a random probability, in training.

    The rectangle's width and height are ``sqrt(s) * size`` for ``s`` drawn from ``scale``
    (separately for each side); its position is uniform within the image.

    Args:
        factor: the erasing probability, ``p`` for ``[0, p]`` or ``(lower, upper)`` in
            ``[0, 1]`` (default 1.0).
        scale: ``(lower, upper)`` fractions for the sides' squares (default ``(0.02, 0.33)``).
        fill_value: a number, or one per channel (3), written into the rectangle; None
            (default) writes Gaussian noise times ``value_range[1]``; clipped to ``value_range``.
        value_range: default ``(0, 255)``. seed, data_format.

    Example:
        >>> import torch, plait
        >>> layer = plait.layers.RandomErasing(factor=(1.0, 1.0), scale=(0.25, 0.25), fill_value=0.0, seed=0)
        >>> int((layer(torch.ones(1, 8, 8, 1), training=True) == 0).sum())
        16
    """

    def __init__(
        self,
        factor=1.0,
        scale=(0.02, 0.33),
        fill_value=None,
        value_range=(0, 255),
        seed=None,
        data_format=None,
        **kwargs,
    ):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        who = f"RandomErasing layer '{self.name}'"
        self.factor = keras_factor(who, factor, (0, 1))
        self.scale = keras_factor(who + " (`scale`)", scale, (0, 1))
        if fill_value is not None and not (
            isinstance(fill_value, (int, float)) or (isinstance(fill_value, (list, tuple)) and len(fill_value) == 3)
        ):
            raise ValueError(
                f"{who}: `fill_value` should be a number, a list of three numbers or None. "
                f"Received: fill_value={fill_value!r}"
            )
        self.fill_value = list(fill_value) if isinstance(fill_value, (list, tuple)) else fill_value
        self.value_range = value_range_pair(who, value_range)

    def _span(self, batch, length, ratio, device):
        extent = ratio * length
        start = self._uniform((batch,), 0.0, 1.0, device) * (length - extent)
        return start, start + extent

    def transform(self, x, boxes=None, apply=None):
        """``boxes``: ``(batch, 4)`` rectangles ``(x0, x1, y0, y1)`` in pixels (end excluded)."""
        batch, _, height, width = x.shape
        if boxes is None:
            ratios = self._uniform((batch, 2), *map(float, self.scale), x.device).sqrt()
            x0, x1 = self._span(batch, width, ratios[:, 0], x.device)
            y0, y1 = self._span(batch, height, ratios[:, 1], x.device)
            boxes = torch.stack([x0, x1, y0, y1], 1)
        if apply is None:
            probability = self._uniform((batch,), *map(float, self.factor), x.device)
            apply = self._uniform((batch,), 0.0, 1.0, x.device) < probability
        x0, x1, y0, y1 = (v.reshape(-1, 1, 1, 1) for v in torch.as_tensor(boxes, device=x.device).unbind(1))
        cols = torch.arange(width, dtype=x.dtype, device=x.device).reshape(1, 1, 1, -1)
        rows = torch.arange(height, dtype=x.dtype, device=x.device).reshape(1, 1, -1, 1)
        inside = (cols >= x0) & (cols < x1) & (rows >= y0) & (rows < y1)
        inside = inside & torch.as_tensor(apply, device=x.device).reshape(-1, 1, 1, 1)
        return torch.where(inside, self._fill(x), x)

    def _fill(self, x):
        if self.fill_value is None:
            noise = torch.randn(x.shape, generator=self._generator_or_none()).to(x.device)
            fill = noise * self.value_range[1]
        else:
            fill = torch.as_tensor(self.fill_value, dtype=x.dtype, device=x.device)
            fill = fill.reshape(1, -1, 1, 1).expand_as(x)
        return fill.clamp(*self.value_range)

    def _generator_or_none(self):
        if self.seed is None:
            return None
        self._uniform((), 0.0, 1.0, "cpu")  # makes sure the layer's generator exists
        return self._generator

    def get_config(self):
        return {
            **super().get_config(),
            "factor": list(self.factor),
            "scale": list(self.scale),
            "fill_value": self.fill_value,
            "value_range": list(self.value_range),
        }


def homography(start_points, end_points):
    """The ``(batch, 8)`` projective maps taking each ``end_points`` corner to its
    ``start_points`` corner (both ``(batch, 4, 2)`` as ``(x, y)``): ``[a0 .. a7]`` with
    ``x_in = (a0 x + a1 y + a2) / (a6 x + a7 y + 1)`` and ``y_in`` from ``a3, a4, a5``."""
    work = torch.promote_types(start_points.dtype, torch.float32)
    start, end = start_points.to(work), end_points.to(work)
    ex, ey = end[..., 0], end[..., 1]  # (batch, 4)
    one, zero = torch.ones_like(ex), torch.zeros_like(ex)
    # Two linear equations per corner in the eight unknowns, rows interleaved x, y, x, y, ...
    rows_x = torch.stack([ex, ey, one, zero, zero, zero, -start[..., 0] * ex, -start[..., 0] * ey], -1)
    rows_y = torch.stack([zero, zero, zero, ex, ey, one, -start[..., 1] * ex, -start[..., 1] * ey], -1)
    system = torch.stack([rows_x, rows_y], 2).reshape(-1, 8, 8)
    return torch.linalg.solve(system, start.reshape(-1, 8, 1)).squeeze(-1).to(start_points.dtype)


def sample_at(x, src_x, src_y, interpolation, fill_value, fill_mode="constant"):
    """``x`` (NCHW) read at input points ``(src_x, src_y)`` (``(batch, height, width)``, pixels),
    with Keras's fill modes acting on each interpolation neighbour, on ``F.grid_sample``."""
    height, width = x.shape[-2:]
    if fill_mode == "wrap":
        # One wrapped row and column appended: a neighbour past the last pixel reads the first.
        x = torch.cat([x, x[..., :1, :]], dim=-2)
        x = torch.cat([x, x[..., :1]], dim=-1)
        src_x, src_y = torch.remainder(src_x, width), torch.remainder(src_y, height)
        grid = torch.stack([2 * src_x / width - 1, 2 * src_y / height - 1], -1)
        return F.grid_sample(x, grid.to(x.dtype), mode=interpolation, align_corners=True)
    if fill_mode in ("reflect", "nearest"):
        # Half-sample reflection (about -0.5 and size - 0.5) and clamping commute with the
        # interpolation, so grid_sample's coordinate padding gives the per-neighbour result.
        grid = torch.stack([(2 * src_x + 1) / width - 1, (2 * src_y + 1) / height - 1], -1)
        padding = "reflection" if fill_mode == "reflect" else "border"
        return F.grid_sample(x, grid.to(x.dtype), mode=interpolation, padding_mode=padding, align_corners=False)
    grid = torch.stack([2 * src_x / max(width - 1, 1) - 1, 2 * src_y / max(height - 1, 1) - 1], -1)
    # grid_sample pads with zeros per neighbour; the neighbour weights sum to 1, so shifting by the
    # fill value before and after gives that value to the outside neighbours instead.
    shifted = F.grid_sample(x - fill_value, grid.to(x.dtype), mode=interpolation, align_corners=True)
    return shifted + fill_value


class RandomPerspective(_RandomImageLayer):
    """Warps each image by a random perspective, with a random probability, in training.

    The corners ``(0, 0), (w-1, 0), (0, h-1), (w-1, h-1)`` move to ``corner * (1 + d)`` with
    each ``d`` drawn from ``[-scale/2, scale/2]`` (so the origin corner stays, as in Keras); the
    image is resampled through the homography, outside pixels reading ``fill_value``.

    Args:
        factor: the probability, ``p`` for ``[0, p]`` or ``(lower, upper)`` in ``[0, 1]``
            (default 1.0). scale: the distortion, in ``[0, 1]`` (default 1.0).
        interpolation: ``"bilinear"`` (default) or ``"nearest"``. fill_value: default 0.
        seed, data_format.

    Example:
        >>> import torch, plait
        >>> layer = plait.layers.RandomPerspective(scale=0.0)
        >>> x = torch.rand(1, 6, 6, 3)
        >>> torch.allclose(layer(x, training=True), x, atol=1e-5)
        True
    """

    def __init__(
        self, factor=1.0, scale=1.0, interpolation="bilinear", fill_value=0.0, seed=None, data_format=None, **kwargs
    ):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        who = f"RandomPerspective layer '{self.name}'"
        self.factor = keras_factor(who, factor, (0, 1))
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 <= scale <= 1:
            raise ValueError(f"{who}: `scale` should be a number in [0, 1]. Received: scale={scale!r}")
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(
                f"{who}: `interpolation` should be 'bilinear' or 'nearest'. Received: interpolation={interpolation!r}"
            )
        self.scale, self.interpolation, self.fill_value = scale, interpolation, fill_value

    def corners(self, x):
        """The start corners ``(batch, 4, 2)`` of ``x`` (NCHW)."""
        height, width = x.shape[-2:]
        points = [[0.0, 0.0], [width - 1.0, 0.0], [0.0, height - 1.0], [width - 1.0, height - 1.0]]
        return torch.tensor(points, device=x.device).expand(x.shape[0], 4, 2)

    def draw(self, x):
        """``end_points``: ``(batch, 4, 2)`` where the corners go; ``apply``: ``(batch,)``."""
        batch = x.shape[0]
        probability = self._uniform((batch,), *map(float, self.factor), x.device)
        apply = self._uniform((batch,), 0.0, 1.0, x.device) < probability
        start = self.corners(x)
        moves = self._uniform((batch, 4, 2), -0.5 * self.scale, 0.5 * self.scale, x.device)
        return {"end_points": start + start * moves, "apply": apply}

    def transform(self, x, end_points=None, apply=None, interpolation=None):
        batch, _, height, width = x.shape
        start = self.corners(x)
        if end_points is None or apply is None:
            drawn = self.draw(x)
            end_points = drawn["end_points"] if end_points is None else end_points
            apply = drawn["apply"] if apply is None else apply
        a = homography(start, torch.as_tensor(end_points, device=x.device)).to(x.dtype).reshape(batch, 8, 1, 1)
        ys, xs = torch.meshgrid(
            torch.arange(height, dtype=x.dtype, device=x.device),
            torch.arange(width, dtype=x.dtype, device=x.device),
            indexing="ij",
        )
        denominator = a[:, 6] * xs + a[:, 7] * ys + 1.0
        src_x = (a[:, 0] * xs + a[:, 1] * ys + a[:, 2]) / denominator
        src_y = (a[:, 3] * xs + a[:, 4] * ys + a[:, 5]) / denominator
        warped = sample_at(x, src_x, src_y, interpolation or self.interpolation, float(self.fill_value))
        return torch.where(torch.as_tensor(apply, device=x.device).reshape(-1, 1, 1, 1), warped, x)

    def transform_masks(self, masks, draw):
        return self.transform(masks, **draw, interpolation="nearest")

    def transform_boxes(self, boxes, labels, draw, size):
        # The image is read through the homography output -> input; boxes go the other way, by
        # its inverse, and become the bounding box of their four mapped corners (Keras's rule).
        batch = boxes.shape[0]
        start = self.corners(boxes.new_empty(batch, 1, *size))
        a = homography(start, torch.as_tensor(draw["end_points"], device=boxes.device)).to(boxes.dtype)
        inverse = torch.linalg.inv(torch.cat([a, torch.ones_like(a[:, :1])], 1).reshape(batch, 3, 3))
        moved = transform_corners(boxes, inverse)
        apply = torch.as_tensor(draw["apply"], device=boxes.device).reshape(-1, 1, 1)
        moved = clip_xyxy(torch.where(apply, moved, boxes), *size)
        return moved, drop_empty(labels, moved)

    def get_config(self):
        return {
            **super().get_config(),
            "factor": list(self.factor),
            "scale": self.scale,
            "interpolation": self.interpolation,
            "fill_value": self.fill_value,
        }


class RandomElasticTransform(_RandomImageLayer):
    """Distorts each image by a smooth random displacement field, with a random probability, in
    training (Simard et al., 2003).

    Per batch a distortion ``d`` is drawn from ``scale``; ``alpha = 0.1 d max(h, w)`` and
    ``sigma = 0.05 d min(h, w)``. Per image, two fields of Gaussian noise times ``sigma`` are
    blurred by a Gaussian of ``sigma`` (kernel ``int(6 sigma) | 1``, zero padding) and move each
    output pixel's read point by ``alpha`` times them.

    Args:
        factor: the probability, ``p`` for ``[0, p]`` or ``(lower, upper)`` in ``[0, 1]``
            (default 1.0). scale: ``s`` for ``[0, s]`` or ``(lower, upper)`` in ``[0, 1]``.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        fill_mode: ``"reflect"`` (default), ``"wrap"``, ``"constant"`` or ``"nearest"``.
        fill_value: for ``"constant"``. value_range: clip range, default ``(0, 255)``.
        seed, data_format.

    Example:
        >>> import torch, plait
        >>> layer = plait.layers.RandomElasticTransform(seed=0)
        >>> layer(torch.rand(2, 16, 16, 3) * 255, training=True).shape
        torch.Size([2, 16, 16, 3])
    """

    def __init__(
        self,
        factor=1.0,
        scale=1.0,
        interpolation="bilinear",
        fill_mode="reflect",
        fill_value=0.0,
        value_range=(0, 255),
        seed=None,
        data_format=None,
        **kwargs,
    ):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        who = f"RandomElasticTransform layer '{self.name}'"
        self.factor = keras_factor(who, factor, (0, 1))
        self.scale = keras_factor(who + " (`scale`)", scale, (0, 1))
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(
                f"{who}: `interpolation` should be 'bilinear' or 'nearest'. Received: interpolation={interpolation!r}"
            )
        if fill_mode not in ("reflect", "wrap", "constant", "nearest"):
            raise ValueError(
                f"{who}: `fill_mode` should be 'reflect', 'wrap', 'constant' or 'nearest'. "
                f"Received: fill_mode={fill_mode!r}"
            )
        self.interpolation, self.fill_mode, self.fill_value = interpolation, fill_mode, fill_value
        self.value_range = value_range_pair(who, value_range)

    def _normal(self, shape, device):
        if self.seed is None:
            return torch.randn(shape, device=device)
        self._uniform((), 0.0, 1.0, "cpu")  # makes sure the layer's generator exists
        return torch.randn(shape, generator=self._generator).to(device)

    def draw(self, x):
        """``apply``: ``(batch,)``; ``distortion``: one number; ``noise``: ``(2, batch, height,
        width)`` standard normal fields (x, then y). Empty when the layer cannot distort."""
        batch, _, height, width = x.shape
        if float(self.scale[1]) == 0 or float(self.factor[1]) == 0:
            return {}
        probability = self._uniform((batch,), *map(float, self.factor), x.device)
        apply = self._uniform((batch,), 0.0, 1.0, x.device) < probability
        distortion = float(self._uniform((), *map(float, self.scale), "cpu"))
        return {"distortion": distortion, "apply": apply, "noise": self._normal((2, batch, height, width), x.device)}

    def transform(self, x, distortion=None, apply=None, noise=None, interpolation=None):
        """``noise``: ``(2, batch, height, width)`` standard normal fields (x, then y)."""
        batch, _, height, width = x.shape
        if float(self.scale[1]) == 0 or float(self.factor[1]) == 0:
            return x
        if distortion is None or apply is None or noise is None:
            drawn = self.draw(x)
            distortion = drawn["distortion"] if distortion is None else distortion
            apply = drawn["apply"] if apply is None else apply
            noise = drawn["noise"] if noise is None else noise
        alpha = max(height, width) * 0.1 * float(distortion)
        sigma = min(height, width) * 0.05 * float(distortion)
        fields = torch.as_tensor(noise, dtype=x.dtype, device=x.device).reshape(2 * batch, 1, height, width) * sigma
        size = int(6 * sigma) | 1
        fields = gaussian_blur_nchw(fields, (size, size), (sigma, sigma)).reshape(2, batch, height, width)
        ys, xs = torch.meshgrid(
            torch.arange(height, dtype=x.dtype, device=x.device),
            torch.arange(width, dtype=x.dtype, device=x.device),
            indexing="ij",
        )
        src_x, src_y = xs + alpha * fields[0], ys + alpha * fields[1]
        warped = sample_at(x, src_x, src_y, interpolation or self.interpolation, float(self.fill_value), self.fill_mode)
        out = torch.where(torch.as_tensor(apply, device=x.device).reshape(-1, 1, 1, 1), warped, x)
        return out.clamp(*self.value_range)

    def transform_masks(self, masks, draw):
        return self.transform(masks, **draw, interpolation="nearest")

    def transform_boxes(self, boxes, labels, draw, size):
        raise NotImplementedError(
            f"RandomElasticTransform layer '{self.name}' cannot move bounding boxes (a displacement field bends "
            "them; Keras 3 does not transform them either). Transform boxes with a geometric layer instead, or "
            "pass images and segmentation masks only."
        )

    def get_config(self):
        return {
            **super().get_config(),
            "factor": list(self.factor),
            "scale": list(self.scale),
            "interpolation": self.interpolation,
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "value_range": list(self.value_range),
        }
