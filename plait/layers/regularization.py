"""Regularisation layers (Keras's ``layers/regularization``): ``Dropout``, ``SpatialDropout1D/2D``,
``GaussianNoise``, ``GaussianDropout``, ``ActivityRegularization``."""

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
        self.data_format = check_data_format(f"SpatialDropout2D '{self.name}'", data_format)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


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
