"""Colour augmentation layers (Keras 3's): ``RandomBrightness``, ``RandomInvert``,
``RandomGrayscale``, ``RandomSaturation``, ``RandomHue``, ``RandomColorDegeneration``,
``RandomSharpness``, ``RandomPosterization``, ``Solarization``, and the deterministic
``AutoContrast`` and ``Equalization``; ``RandomColorJitter`` chains four of them.

The random ones follow the family's rules (see ``augmentation``): they act in training only and
draw from their own seeded ``torch.Generator`` when given a ``seed``. Each ``transform`` takes
its random draw as an optional keyword, so a pinned draw gives Keras's numbers exactly.
``value_range`` is the range the images live in (``(0, 255)`` by default, as in Keras).
"""

import torch
import torch.nn.functional as F

from plait.layers.preprocessing.augmentation import RandomContrast, _RandomImageLayer
from plait.layers.preprocessing.image import ImageLayer
from plait.utils.color_utils import grayscale_nchw, hsv_to_rgb_nchw, rescale_range, rgb_to_hsv_nchw


def keras_factor(who, factor, bounds):
    """``factor`` as Keras's image layers read it: a number ``f`` means
    ``(max(-f, bounds[0]), f)``; a pair is sorted. Returns ``(lower, upper)``."""
    low, high = bounds
    message = (
        f"{who}: `factor` should be a number or a list of two numbers in the range [{low}, {high}]. "
        f"Received: factor={factor!r}"
    )
    if isinstance(factor, (list, tuple)):
        if len(factor) != 2 or not all(isinstance(v, (int, float)) for v in factor):
            raise ValueError(message)
        if factor[0] > high or factor[1] < low:
            raise ValueError(message)
        return tuple(sorted(factor))
    if isinstance(factor, bool) or not isinstance(factor, (int, float)):
        raise ValueError(message)
    if factor < low or factor > high:
        raise ValueError(message)
    return max(-abs(factor), low), abs(factor)


def value_range_pair(who, value_range):
    """A sorted ``(low, high)`` pair, or a clear error."""
    if not isinstance(value_range, (list, tuple)) or len(value_range) != 2:
        raise ValueError(f"{who}: `value_range` should be a list of two numbers. Received: value_range={value_range!r}")
    return tuple(sorted(value_range))


class ColorLayer(_RandomImageLayer):
    """Shared by the random colour layers: ``factor`` read with Keras's bounds, ``value_range``."""

    factor_bounds = (-1, 1)

    def __init__(self, factor, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        who = f"{type(self).__name__} layer '{self.name}'"
        self.factor = keras_factor(who, factor, self.factor_bounds)
        self.value_range = value_range_pair(who, value_range)

    def _per_image(self, x, low, high):
        """One uniform draw per image, shaped ``(batch, 1, 1, 1)``."""
        return self._uniform((x.shape[0], 1, 1, 1), float(low), float(high), x.device)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "value_range": list(self.value_range)}


class RandomBrightness(ColorLayer):
    """Adds a random brightness offset to each image in training, clipped to ``value_range``.

    Args:
        factor: ``f`` for ``[-f, f]`` or ``(lower, upper)`` in ``[-1, 1]``; the offset is the
            draw times the width of ``value_range``.
        value_range: the images' range, default ``(0, 255)``. seed, data_format.

    Example:
        >>> import torch, plait
        >>> layer = plait.layers.RandomBrightness((0.1, 0.1), value_range=(0, 1))
        >>> layer(torch.full((1, 2, 2, 3), 0.5), training=True)[0, 0, 0]
        tensor([0.6000, 0.6000, 0.6000])
    """

    def transform(self, x, delta=None):
        if delta is None:
            delta = self._per_image(x, *self.factor)
        delta = torch.as_tensor(delta, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1)
        low, high = self.value_range
        return (x + delta * (high - low)).clamp(low, high)


class RandomInvert(ColorLayer):
    """Inverts each image (``value_range[1] - x``) with a random probability in training.

    Args:
        factor: the inversion probability: ``p`` for ``[0, p]`` or ``(lower, upper)`` in
            ``[0, 1]``; each image draws its probability there, then inverts if a second
            uniform draw falls below it (default 1.0: probability drawn from ``[0, 1]``).
        value_range, seed, data_format: as for ``RandomBrightness``.

    Example:
        >>> import torch, plait
        >>> layer = plait.layers.RandomInvert(factor=(1.0, 1.0), value_range=(0, 1))
        >>> layer(torch.zeros(1, 2, 2, 1), training=True).flatten()
        tensor([1., 1., 1., 1.])
    """

    factor_bounds = (0, 1)

    def __init__(self, factor=1.0, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(factor, value_range, seed=seed, data_format=data_format, **kwargs)

    def transform(self, x, invert=None):
        if invert is None:
            probability = self._per_image(x, *self.factor)
            invert = self._per_image(x, 0.0, 1.0) < probability
        invert = torch.as_tensor(invert, device=x.device).reshape(-1, 1, 1, 1)
        return torch.where(invert, self.value_range[1] - x, x)


class RandomGrayscale(_RandomImageLayer):
    """Turns each image grey (luma ``0.2989 R + 0.587 G + 0.114 B`` on every channel) with
    probability ``factor`` in training.

    Args:
        factor: the probability, in ``[0, 1]`` (default 0.5). seed, data_format.

    Example:
        >>> import torch, plait
        >>> x = torch.tensor([[[[1.0, 0.0, 0.0]]]])
        >>> plait.layers.RandomGrayscale(1.0)(x, training=True)
        tensor([[[[0.2989, 0.2989, 0.2989]]]])
    """

    def __init__(self, factor=0.5, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 <= factor <= 1:
            raise ValueError(
                f"RandomGrayscale layer '{self.name}': `factor` should be a number in [0, 1]. "
                f"Received: factor={factor!r}"
            )
        self.factor = factor

    def transform(self, x, apply=None):
        if apply is None:
            apply = self._uniform((x.shape[0], 1, 1, 1), 0.0, 1.0, x.device) < self.factor
        apply = torch.as_tensor(apply, device=x.device).reshape(-1, 1, 1, 1)
        return torch.where(apply, grayscale_nchw(x).expand_as(x), x)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class RandomSaturation(ColorLayer):
    """Scales each image's saturation by a random factor in training.

    A draw ``d`` from ``factor`` becomes the multiplier ``d / (1 - d + 1e-7)`` on the HSV
    saturation (``0.5`` leaves it unchanged, ``1`` saturates fully, ``0`` gives grey).

    Args:
        factor: ``f`` for ``[-f, f]`` or ``(lower, upper)`` in ``[-1, 1]`` (Keras's reading).
        value_range, seed, data_format: as for ``RandomBrightness``.

    Example:
        >>> import torch, plait
        >>> layer = plait.layers.RandomSaturation((0.0, 0.0), value_range=(0, 1))
        >>> layer(torch.tensor([[[[1.0, 0.5, 0.0]]]]), training=True)
        tensor([[[[1., 1., 1.]]]])
    """

    def transform(self, x, scale=None):
        if scale is None:
            draw = self._per_image(x, *self.factor)
            scale = draw / (1 - draw + 1e-7)
        scale = torch.as_tensor(scale, dtype=x.dtype, device=x.device).reshape(-1, 1, 1)
        hue, saturation, value = rgb_to_hsv_nchw(x).unbind(1)
        saturation = (saturation * scale).clamp(*self.value_range)
        return hsv_to_rgb_nchw(torch.stack([hue, saturation, value], dim=1))


class RandomHue(ColorLayer):
    """Rotates each image's hue by a random amount in training.

    The shift is ``±draw / 2`` of a full turn (the sign drawn with probability 1/2), so
    ``factor=1`` reaches the opposite colour.

    Args:
        factor: ``f`` for ``[0, f]`` or ``(lower, upper)`` in ``[0, 1]``.
        value_range, seed, data_format: as for ``RandomBrightness``.

    Example:
        >>> import torch, plait
        >>> layer = plait.layers.RandomHue(1.0, value_range=(0, 1))
        >>> layer.transform(torch.tensor([[[[1.0]], [[0.0]], [[0.0]]]]), shift=0.5).flatten()
        tensor([0., 1., 1.])
    """

    factor_bounds = (0, 1)

    def transform(self, x, shift=None):
        if shift is None:
            sign = torch.where(self._uniform((x.shape[0],), 0.0, 1.0, x.device) > 0.5, -1.0, 1.0)
            shift = sign * self._uniform((x.shape[0],), *map(float, self.factor), x.device) * 0.5
        shift = torch.as_tensor(shift, dtype=x.dtype, device=x.device).reshape(-1, 1, 1)
        hsv = rgb_to_hsv_nchw(rescale_range(x, self.value_range, (0, 1)))
        hue = hsv[:, 0] + shift
        hue = torch.where(hue > 1, hue - 1, torch.where(hue < 0, hue + 1, hue))
        rgb = hsv_to_rgb_nchw(torch.stack([hue, hsv[:, 1], hsv[:, 2]], dim=1)).clamp(0, 1)
        return rescale_range(rgb, (0, 1), self.value_range)


class RandomColorDegeneration(ColorLayer):
    """Blends each image towards its greyscale version by a random amount in training:
    ``x + d (gray - x)``, clipped to ``value_range``.

    Args:
        factor: ``f`` for ``[-f, f]`` or ``(lower, upper)`` in ``[-1, 1]``.
        value_range, seed, data_format: as for ``RandomBrightness``.

    Example:
        >>> import torch, plait
        >>> layer = plait.layers.RandomColorDegeneration((1.0, 1.0), value_range=(0, 1))
        >>> layer(torch.tensor([[[[1.0, 0.0, 0.0]]]]), training=True)
        tensor([[[[0.2989, 0.2989, 0.2989]]]])
    """

    def transform(self, x, blend=None):
        blend = self._per_image(x, *self.factor) if blend is None else blend
        blend = torch.as_tensor(blend, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1)
        return (x + blend * (grayscale_nchw(x) - x)).clamp(*self.value_range)


class RandomSharpness(ColorLayer):
    """Sharpens or blurs each image by a random amount in training.

    The image is smoothed with a 3x3 kernel (``1/13`` around a ``5/13`` centre, zero padding),
    and ``x + (1 - 2d) (smoothed - x)`` is clipped to ``value_range``: a draw ``d = 0.5`` leaves
    the image, smaller draws blur it, larger ones sharpen it.

    Args:
        factor: ``f`` for ``[0, f]`` or ``(lower, upper)`` in ``[0, 1]``.
        value_range, seed, data_format: as for ``RandomBrightness``.

    Example:
        >>> import torch, plait
        >>> layer = plait.layers.RandomSharpness((0.5, 0.5))
        >>> x = torch.rand(1, 4, 4, 3) * 255
        >>> torch.allclose(layer(x, training=True), x)
        True
    """

    factor_bounds = (0, 1)

    def transform(self, x, draw=None):
        draw = self._per_image(x, *self.factor) if draw is None else draw
        amount = 1.0 - 2.0 * torch.as_tensor(draw, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1)
        channels = x.shape[1]
        kernel = torch.full((3, 3), 1.0 / 13.0, dtype=x.dtype, device=x.device)
        kernel[1, 1] = 5.0 / 13.0
        smoothed = F.conv2d(x, kernel.expand(channels, 1, 3, 3), padding=1, groups=channels)
        return (x + amount * (smoothed - x)).clamp(*self.value_range)


class RandomPosterization(ColorLayer):
    """Keeps only the top ``bits`` bits of each 8-bit channel value, ``bits`` drawn per image in
    training (values are mapped to ``[0, 255]`` and truncated to integers first).

    Args:
        factor: the number of bits kept: ``b`` for ``[1, b)`` or ``(lower, upper)`` in ``[1, 8]``
            (the upper end is excluded, as in Keras, unless ``lower == upper``).
        value_range, seed, data_format: as for ``RandomBrightness``.

    Example:
        >>> import torch, plait
        >>> layer = plait.layers.RandomPosterization((1, 1))
        >>> layer(torch.tensor([[[[200.0, 100.0, 128.0]]]]), training=True)
        tensor([[[[128.,   0., 128.]]]])
    """

    factor_bounds = (1, 8)

    def transform(self, x, bits=None):
        if bits is None:
            low, high = int(self.factor[0]), int(self.factor[1])
            bits = torch.full((x.shape[0],), low) if low == high else self._randint(x.shape[0], low, high)
        shift = (8 - torch.as_tensor(bits, device=x.device).to(torch.uint8)).reshape(-1, 1, 1, 1)
        levels = rescale_range(x, self.value_range, (0, 255)).to(torch.uint8)
        levels = torch.bitwise_left_shift(torch.bitwise_right_shift(levels, shift), shift)
        return rescale_range(levels.to(x.dtype), (0, 255), self.value_range)

    def _randint(self, n, low, high):
        return torch.floor(self._uniform((n,), float(low), float(high), "cpu")).clamp(max=high - 1)


class Solarization(_RandomImageLayer):
    """Solarizes images in training: adds a random offset, then inverts the values at or above
    a random threshold (both on the ``[0, 255]`` scale, per image).

    Args:
        addition_factor: ``a`` for ``[0, a]`` or ``(lower, upper)`` in ``[0, 1]``; the offset
            is drawn from ``[lower, 255 * upper]`` (Keras scales only the upper end).
        threshold_factor: the same for the threshold.
        value_range: the images' range, default ``(0, 255)``. seed.

    Example:
        >>> import torch, plait
        >>> layer = plait.layers.Solarization(value_range=(0, 1))
        >>> layer.transform(torch.tensor([[[[0.2, 0.9]]]]), additions=0.0, thresholds=127.5)
        tensor([[[[0.2000, 0.1000]]]])
    """

    def __init__(self, addition_factor=0.0, threshold_factor=0.0, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        who = f"Solarization layer '{self.name}'"
        self.addition_factor = self._factor(who, "addition_factor", addition_factor)
        self.threshold_factor = self._factor(who, "threshold_factor", threshold_factor)
        self.value_range = value_range_pair(who, value_range)

    @staticmethod
    def _factor(who, name, factor):
        pair = tuple(factor) if isinstance(factor, (list, tuple)) else (0, factor)
        if (
            len(pair) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair)
            or not all(0 <= v <= 1 for v in pair)
        ):
            raise ValueError(
                f"{who}: `{name}` should be a number or a list of two numbers in [0, 1]. Received: {name}={factor!r}"
            )
        return tuple(sorted(pair))

    def transform(self, x, additions=None, thresholds=None):
        shape = (x.shape[0], 1, 1, 1)
        if additions is None:
            additions = self._uniform(shape, self.addition_factor[0], self.addition_factor[1] * 255, x.device)
        if thresholds is None:
            thresholds = self._uniform(shape, self.threshold_factor[0], self.threshold_factor[1] * 255, x.device)
        additions = torch.as_tensor(additions, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1)
        thresholds = torch.as_tensor(thresholds, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1)
        y = (rescale_range(x, self.value_range, (0, 255)) + additions).clamp(0, 255)
        y = torch.where(y < thresholds, y, 255 - y)
        return rescale_range(y, (0, 255), self.value_range)

    def get_config(self):
        return {
            **super().get_config(),
            "addition_factor": list(self.addition_factor),
            "threshold_factor": list(self.threshold_factor),
            "value_range": list(self.value_range),
        }


class AutoContrast(ImageLayer):
    """Stretches each image's channels to fill ``value_range`` (per image and channel:
    ``(x - min) / (max - min)`` on the full range); a flat channel is left unchanged. Applied in
    training and at inference alike, as in Keras.

    Args:
        value_range: the images' range, default ``(0, 255)``. data_format.

    Example:
        >>> import torch, plait
        >>> plait.layers.AutoContrast(value_range=(0, 1))(torch.tensor([[[[0.2]], [[0.4]]]]))
        tensor([[[[0.]],
        <BLANKLINE>
                 [[1.]]]])
    """

    def __init__(self, value_range=(0, 255), data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.value_range = value_range_pair(f"AutoContrast layer '{self.name}'", value_range)

    keeps_dtype = True

    def transform(self, x):
        scaled = rescale_range(x, self.value_range, (0, 255))
        low = scaled.amin(dim=(-2, -1), keepdim=True)
        high = scaled.amax(dim=(-2, -1), keepdim=True)
        stretched = ((scaled - low) * (255.0 / (high - low))).clamp(0, 255)
        y = rescale_range(stretched, (0, 255), self.value_range)
        return torch.where(torch.isnan(y), x, y)

    def get_config(self):
        return {**super().get_config(), "value_range": list(self.value_range)}


class Equalization(_RandomImageLayer):
    """Histogram-equalizes each channel in training (one histogram per channel over the whole
    batch, ``bins`` bins on the ``[0, 255]`` scale, as Keras builds it); a channel with a
    single occupied bin is left unchanged. Identity at inference, as in Keras.

    Args:
        value_range: the images' range, default ``(0, 255)``.
        bins: the number of histogram bins (default 256). data_format.

    Example:
        >>> import torch, plait
        >>> x = torch.tensor([[[[0.0]], [[10.0]], [[20.0]]]]).reshape(1, 3, 1, 1)
        >>> plait.layers.Equalization()(x, training=True).flatten()
        tensor([  0., 128., 255.])
    """

    def __init__(self, value_range=(0, 255), bins=256, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        who = f"Equalization layer '{self.name}'"
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
            raise ValueError(f"{who}: `bins` should be an integer of at least 2. Received: bins={bins!r}")
        self.bins = bins
        self.value_range = value_range_pair(who, value_range)

    def transform(self, x):
        scaled = rescale_range(x, self.value_range, (0, 255))
        channels = scaled.transpose(0, 1).reshape(x.shape[1], -1)  # (channels, every pixel of the batch)
        bins = self.bins
        index = (channels * (bins - 1) / 255.0).to(torch.int64).clamp(0, bins - 1)
        hist = torch.zeros(channels.shape[0], bins, dtype=torch.int64, device=x.device)
        hist.scatter_add_(1, index, torch.ones_like(index))
        cdf = hist.cumsum(1)
        # The cdf at the first occupied bin (cdf is non-decreasing: the smallest non-zero value).
        cdf_min = torch.where(cdf > 0, cdf, cdf[:, -1:]).amin(1, keepdim=True)
        span = cdf[:, -1:] - cdf_min
        span = torch.where(span == 0, torch.ones_like(span), span)
        table = torch.round((cdf - cdf_min).to(x.dtype) * 255 / span.to(x.dtype)).clamp(0, 255)
        lookup = (channels / 255.0 * (bins - 1)).clamp(0, bins - 1).to(torch.int64)
        equalized = table.gather(1, lookup)
        flat = (hist > 0).sum(1, keepdim=True) <= 1
        out = torch.where(flat, channels, equalized)
        out = out.reshape(x.shape[1], x.shape[0], *x.shape[2:]).transpose(0, 1)
        return rescale_range(out, (0, 255), self.value_range)

    def get_config(self):
        return {**super().get_config(), "bins": self.bins, "value_range": list(self.value_range)}


class RandomColorJitter(_RandomImageLayer):
    """Jitters brightness, contrast, saturation and hue in training, in that order, each with
    its own random draw (a factor of None skips that step).

    Args:
        value_range: the images' range, default ``(0, 255)``.
        brightness_factor, contrast_factor, saturation_factor, hue_factor: the ``factor`` of
            ``RandomBrightness``, ``RandomContrast``, ``RandomSaturation`` and ``RandomHue``.
        seed, data_format.

    Example:
        >>> import torch, plait
        >>> layer = plait.layers.RandomColorJitter(brightness_factor=(0.1, 0.1), value_range=(0, 1))
        >>> layer(torch.full((1, 2, 2, 3), 0.5), training=True)[0, 0, 0]
        tensor([0.6000, 0.6000, 0.6000])
    """

    def __init__(
        self,
        value_range=(0, 255),
        brightness_factor=None,
        contrast_factor=None,
        saturation_factor=None,
        hue_factor=None,
        seed=None,
        data_format=None,
        **kwargs,
    ):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = value_range_pair(f"RandomColorJitter layer '{self.name}'", value_range)
        self.brightness_factor, self.contrast_factor = brightness_factor, contrast_factor
        self.saturation_factor, self.hue_factor = saturation_factor, hue_factor
        # Each step draws from its own seeded generator, seeded alike (Keras gives each the seed).
        options = dict(value_range=self.value_range, seed=seed)
        steps = [
            (brightness_factor, RandomBrightness),
            (contrast_factor, RandomContrast),
            (saturation_factor, RandomSaturation),
            (hue_factor, RandomHue),
        ]
        self.steps = [cls(factor, **options) for factor, cls in steps if factor is not None]

    def transform(self, x):
        for step in self.steps:
            x = step.transform(x)
        return x

    def get_config(self):
        return {
            **super().get_config(),
            "value_range": list(self.value_range),
            "brightness_factor": self.brightness_factor,
            "contrast_factor": self.contrast_factor,
            "saturation_factor": self.saturation_factor,
            "hue_factor": self.hue_factor,
        }
