"""Regularisation layers: ``Dropout``."""

import torch
import torch.nn.functional as F

from plait.layers.base import Layer
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
