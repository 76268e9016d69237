"""``RandAugment`` (Keras 3's; Cubuk et al., 2019): ``num_ops`` augmentations picked at random
from eleven, all sharing one magnitude range."""

import torch

from plait.layers.preprocessing.augmentation import (
    RandomContrast,
    RandomRotation,
    RandomTranslation,
    _RandomImageLayer,
)
from plait.layers.preprocessing.color import (
    AutoContrast,
    Equalization,
    RandomBrightness,
    RandomColorDegeneration,
    RandomPosterization,
    RandomSharpness,
    Solarization,
    keras_factor,
    value_range_pair,
)
from plait.layers.preprocessing.geometric import RandomShear


class RandAugment(_RandomImageLayer):
    """Applies ``num_ops`` augmentations in training, each picked uniformly (per batch) from
    shear, translation, rotation, brightness, colour degeneration, contrast, sharpness,
    posterization, solarization, auto-contrast and equalization; a pick may repeat.

    Every random augmentation takes ``factor`` as its own factor (posterization keeps
    ``max(1, int(8 * upper))`` bits at most), as Keras builds them.

    Args:
        value_range: the images' range, default ``(0, 255)``.
        num_ops: how many augmentations to apply (default 2).
        factor: ``f`` for ``[0, f]`` or ``(lower, upper)`` in ``[0, 1]`` (default 0.5).
        interpolation: for the geometric ones, ``"bilinear"`` (default) or ``"nearest"``.
        seed, data_format.

    Example:
        >>> import torch, plait
        >>> layer = plait.layers.RandAugment(seed=0)
        >>> layer(torch.rand(2, 8, 8, 3) * 255, training=True).shape
        torch.Size([2, 8, 8, 3])
    """

    def __init__(
        self,
        value_range=(0, 255),
        num_ops=2,
        factor=0.5,
        interpolation="bilinear",
        seed=None,
        data_format=None,
        **kwargs,
    ):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        who = f"RandAugment layer '{self.name}'"
        self.value_range = value_range_pair(who, value_range)
        if isinstance(num_ops, bool) or not isinstance(num_ops, int) or num_ops < 0:
            raise ValueError(f"{who}: `num_ops` should be a non-negative integer. Received: num_ops={num_ops!r}")
        self.num_ops, self.interpolation = num_ops, interpolation
        self.factor = keras_factor(who, factor, (0, 1))
        f = list(self.factor)
        # The steps work on (batch, channels, height, width) images, so they are built channels first.
        common = dict(seed=seed, data_format="channels_first")
        ranged = dict(value_range=self.value_range, **common)
        self.ops = [
            RandomShear(f, f, interpolation=interpolation, **common),
            RandomTranslation(f, f, interpolation=interpolation, **common),
            RandomRotation(f, interpolation=interpolation, **common),
            RandomBrightness(f, **ranged),
            RandomColorDegeneration(f, **ranged),
            RandomContrast(f, **ranged),
            RandomSharpness(f, **ranged),
            RandomPosterization(max(1, int(8 * f[1])), **ranged),
            Solarization(f, f, **ranged),
            AutoContrast(value_range=self.value_range, data_format="channels_first"),
            Equalization(value_range=self.value_range, data_format="channels_first"),
        ]

    def transform(self, x, picks=None):
        """``picks``: the indices (into the eleven augmentations, in the order listed) to apply."""
        if picks is None:
            draws = self._uniform((self.num_ops,), 0.0, float(len(self.ops)), "cpu")
            picks = torch.floor(draws).clamp(max=len(self.ops) - 1).long().tolist()
        for pick in picks:
            op = self.ops[int(pick)]
            x = op(x) if isinstance(op, AutoContrast) else op.transform(x)
        return x

    def get_config(self):
        return {
            **super().get_config(),
            "value_range": list(self.value_range),
            "num_ops": self.num_ops,
            "factor": list(self.factor),
            "interpolation": self.interpolation,
        }
