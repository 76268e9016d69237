"""Regularisation layers (Keras's ``layers/regularization``): ``Dropout``, ``AlphaDropout``,
``SpatialDropout1D/2D/3D``, ``GaussianNoise``, ``GaussianDropout``, ``ActivityRegularization``."""

import torch
import torch.nn.functional as F

from plait import regularizers
from plait.layers.base import Layer
from plait.layers.validation import data_format as check_data_format
from plait.layers.validation import rate as check_rate


class Dropout(Layer):
    """Randomly zeroes a fraction ``rate`` of inputs in training, scaling the rest by 1/(1-rate).

    Args:
        rate: float in [0, 1], the fraction to drop.
        noise_shape: shape of the binary mask, broadcast over the input; ``None`` entries take
            the input's size (e.g. ``(None, 1, None)`` drops whole timesteps' features alike).
        seed: accepted for Keras compatibility; plait draws from torch's generator.

    Inactive at inference (``layer.training`` False, the default outside ``fit``).

    Example:
        >>> import torch, plait
        >>> plait.layers.Dropout(0.5)(torch.ones(2, 2))
        tensor([[1., 1.],
                [1., 1.]])
    """

    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_rate(f"Dropout layer '{self.name}'", "rate", rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed

    def call(self, inputs):
        if not self.training or self.rate == 0.0:
            return inputs
        if self.noise_shape is None:
            return F.dropout(inputs, self.rate, True)
        shape = [s if n is None else n for n, s in zip(self.noise_shape, inputs.shape)]
        keep = torch.empty(shape, device=inputs.device, dtype=inputs.dtype).bernoulli_(1 - self.rate)
        return inputs * keep / (1 - self.rate)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed}


class AlphaDropout(Dropout):
    """Dropout that keeps the mean and variance of SELU activations (Klambauer et al., 2017):
    dropped inputs take SELU's negative saturation value, then an affine map restores the
    statistics. torch's ``alpha_dropout`` is the same formula; ``noise_shape`` (Keras's) shares
    one draw along the axes where it is 1.

    Args:
        rate: float in [0, 1], the fraction to drop.
        noise_shape: as in ``Dropout``.
        seed: accepted for Keras compatibility; plait draws from torch's generator.

    Example:
        >>> import torch, plait
        >>> plait.layers.AlphaDropout(0.2)(torch.ones(1, 3))  # identity at inference
        tensor([[1., 1., 1.]])
    """

    def call(self, inputs):
        if not self.training or self.rate == 0.0:
            return inputs
        if self.noise_shape is None:
            return F.alpha_dropout(inputs, self.rate, True)
        saturation = -1.6732632423543772 * 1.0507009873554805  # SELU's limit at -inf: -alpha * scale
        shape = [s if n is None else n for n, s in zip(self.noise_shape, inputs.shape)]
        keep = torch.empty(shape, device=inputs.device, dtype=inputs.dtype).bernoulli_(1 - self.rate)
        a = ((1 - self.rate) * (1 + self.rate * saturation**2)) ** -0.5
        return a * torch.where(keep.bool(), inputs, saturation) - a * saturation * self.rate


class _SameShape(Layer):
    supports_masking = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


class _SpatialDropout(_SameShape):
    spatial = 1

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.seed = check_rate(f"{type(self).__name__} '{self.name}'", "rate", rate), seed
        self.data_format = "channels_last"

    def call(self, inputs):
        if not self.training or self.rate == 0:
            return inputs
        # One draw per sample and channel: whole feature maps are dropped.
        shape = (inputs.shape[0], *([1] * self.spatial), inputs.shape[-1])
        if self.data_format == "channels_first":
            shape = (inputs.shape[0], inputs.shape[1], *([1] * self.spatial))
        keep = torch.empty(shape, device=inputs.device, dtype=inputs.dtype).bernoulli_(1 - self.rate)
        return inputs * keep / (1 - self.rate)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class SpatialDropout1D(_SpatialDropout):
    """Drops whole channels of ``(batch, steps, channels)`` in training."""


class SpatialDropout2D(_SpatialDropout):
    """Drops whole channels of ``(batch, rows, cols, channels)`` in training (``(batch, channels,
    rows, cols)`` with ``data_format="channels_first"``)."""

    spatial = 2

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = check_data_format(f"{type(self).__name__} '{self.name}'", data_format)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class SpatialDropout3D(SpatialDropout2D):
    """Drops whole channels of ``(batch, d1, d2, d3, channels)`` in training (``data_format`` as in
    ``SpatialDropout2D``).

    Example:
        >>> import torch, plait
        >>> layer = plait.layers.SpatialDropout3D(0.5)
        >>> y = layer(torch.ones(2, 3, 3, 3, 4), training=True)
        >>> bool(((y == 0) | (y == 2)).all()), bool((y.amin((1, 2, 3)) == y.amax((1, 2, 3))).all())
        (True, True)
    """

    spatial = 3


class GaussianNoise(_SameShape):
    """Adds ``N(0, stddev)`` noise in training (identity at inference)."""

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.stddev, self.seed = float(stddev), seed

    def call(self, inputs):
        return inputs + torch.randn_like(inputs) * self.stddev if self.training and self.stddev > 0 else inputs

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(_SameShape):
    """Multiplies by ``N(1, sqrt(rate / (1 - rate)))`` noise in training (identity at inference)."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.seed = check_rate(f"GaussianDropout '{self.name}'", "rate", rate), seed

    def call(self, inputs):
        if not self.training or not 0 < self.rate < 1:
            return inputs
        std = (self.rate / (1.0 - self.rate)) ** 0.5
        return inputs * (1.0 + torch.randn_like(inputs) * std)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class ActivityRegularization(_SameShape):
    """Identity that adds ``l1 * sum(|x|) + l2 * sum(x**2)`` (per sample) to the training loss."""

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        super().__init__(activity_regularizer=regularizers.L1L2(l1, l2), **kwargs)
        self.l1, self.l2 = float(l1), float(l2)

    def call(self, inputs):
        return inputs

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)
        return {**config, "l1": self.l1, "l2": self.l2}
