"""``RandAugment`` (Keras 3's; Cubuk et al., 2019): ``num_ops`` augmentations picked at random
from eleven, all sharing one magnitude range; and ``AugMix`` (Hendrycks et al., 2020): random
chains of the same augmentations mixed with the image."""

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

_RAND_AUGMENT_ORDER = (
    "shear",
    "translation",
    "rotation",
    "brightness",
    "color_degeneration",
    "contrast",
    "sharpness",
    "posterization",
    "solarization",
    "auto_contrast",
    "equalization",
)
_AUGMIX_ORDER = _RAND_AUGMENT_ORDER[:3] + _RAND_AUGMENT_ORDER[7:] + _RAND_AUGMENT_ORDER[3:7]


def augmentations(factor, value_range, interpolation, seed):
    """The eleven augmentations RandAugment and AugMix draw from, by name, each taking
    ``factor`` as Keras builds them, working on channels-first images."""
    f = list(factor)
    common = dict(seed=seed, data_format="channels_first")
    ranged = dict(value_range=value_range, **common)
    return {
        "shear": RandomShear(f, f, interpolation=interpolation, **common),
        "translation": RandomTranslation(f, f, interpolation=interpolation, **common),
        "rotation": RandomRotation(f, interpolation=interpolation, **common),
        "brightness": RandomBrightness(f, **ranged),
        "color_degeneration": RandomColorDegeneration(f, **ranged),
        "contrast": RandomContrast(f, **ranged),
        "sharpness": RandomSharpness(f, **ranged),
        "posterization": RandomPosterization(max(1, int(8 * f[1])), **ranged),
        "solarization": Solarization(f, f, **ranged),
        "auto_contrast": AutoContrast(value_range=value_range, data_format="channels_first"),
        "equalization": Equalization(value_range=value_range, data_format="channels_first"),
    }


def apply_augmentation(op, x, draw=None):
    """One augmentation on channels-first images, with the given draw (or its own)."""
    return op.transform(x, **(draw or {}))


def _uniform_picks(uniform, count, choices):
    """``count`` picks among ``choices``, from the layer's ``uniform(shape, low, high, device)``."""
    draws = uniform((count,), 0.0, float(choices), "cpu")
    return torch.floor(draws).clamp(max=choices - 1).long().tolist()


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
        ops = augmentations(self.factor, self.value_range, interpolation, seed)
        self.ops = [ops[name] for name in _RAND_AUGMENT_ORDER]

    def draw(self, x):
        """``picks``: the augmentations applied, in order; ``draws``: each one's draw."""
        picks = _uniform_picks(self._uniform, self.num_ops, len(self.ops))
        return {"picks": picks, "draws": [self.ops[p].draw(x) for p in picks]}

    def transform(self, x, picks=None, draws=None):
        """``picks``: the indices (into the eleven augmentations, in the order listed) to apply;
        ``draws``: their draws (each draws its own when None)."""
        if picks is None:
            picks, draws = self.draw(x).values()
        for pick, draw in zip(picks, draws or [None] * len(picks)):
            x = apply_augmentation(self.ops[int(pick)], x, draw)
        return x

    def transform_boxes(self, boxes, labels, draw, size):
        for pick, step in zip(draw["picks"], draw["draws"]):
            boxes, labels = self.ops[int(pick)].transform_boxes(boxes, labels, step, size)
        return boxes, labels

    def transform_masks(self, masks, draw):
        for pick, step in zip(draw["picks"], draw["draws"]):
            masks = self.ops[int(pick)].transform_masks(masks, step)
        return masks

    def get_config(self):
        return {
            **super().get_config(),
            "value_range": list(self.value_range),
            "num_ops": self.num_ops,
            "factor": list(self.factor),
            "interpolation": self.interpolation,
        }


class AugMix(_RandomImageLayer):
    """AugMix in training: ``num_chains`` chains of up to ``chain_depth`` random augmentations
    (each step picks one of the augmentations or none) run on copies of the batch; the chains
    are mixed by Dirichlet(``alpha``) weights and the mix blended with the images by a
    Beta(``alpha``, ``alpha``) weight ``w``: ``w x + (1 - w) mix``, clipped to ``value_range``.

    Args:
        value_range: default ``(0, 255)``. num_chains: default 3. chain_depth: default 3.
        factor: the augmentations' ``factor``, ``f`` for ``[0, f]`` or ``(lower, upper)`` in
            ``[0, 1]`` (default 0.3). alpha: the Dirichlet and Beta parameter (default 1.0).
        all_ops: draw from all eleven augmentations (default True) or only the seven that
            leave colours alone when False (shear, translation, rotation, posterization,
            solarization, auto-contrast, equalization).
        interpolation: for the geometric ones. seed, data_format.

    Example:
        >>> import torch, plait
        >>> layer = plait.layers.AugMix(seed=0)
        >>> layer(torch.rand(2, 8, 8, 3) * 255, training=True).shape
        torch.Size([2, 8, 8, 3])
    """

    blends_masks = True  # masks are mixed like the images (float), as in Keras

    def __init__(
        self,
        value_range=(0, 255),
        num_chains=3,
        chain_depth=3,
        factor=0.3,
        alpha=1.0,
        all_ops=True,
        interpolation="bilinear",
        seed=None,
        data_format=None,
        **kwargs,
    ):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        who = f"AugMix layer '{self.name}'"
        self.value_range = value_range_pair(who, value_range)
        for name, value in (("num_chains", num_chains), ("chain_depth", chain_depth)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{who}: `{name}` should be a positive integer. Received: {name}={value!r}")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha <= 0:
            raise ValueError(f"{who}: `alpha` should be a positive number. Received: alpha={alpha!r}")
        self.num_chains, self.chain_depth, self.alpha = num_chains, chain_depth, alpha
        self.factor = keras_factor(who, factor, (0, 1))
        self.all_ops, self.interpolation = bool(all_ops), interpolation
        ops = augmentations(self.factor, self.value_range, interpolation, seed)
        self.ops = [ops[name] for name in (_AUGMIX_ORDER if self.all_ops else _AUGMIX_ORDER[:7])]

    def _weights(self):
        """The chains' Dirichlet weights and the blend's Beta weight, from the layer's seed."""
        alpha = torch.tensor(float(self.alpha))

        def sample():
            chains = torch.distributions.Dirichlet(alpha.expand(self.num_chains)).sample()
            return chains, torch.distributions.Beta(alpha, alpha).sample()

        if self.seed is None:
            return sample()
        state = torch.random.get_rng_state()
        try:  # torch's Gamma sampler takes no generator: seed the global one from ours, then restore it
            torch.manual_seed(int(self._uniform((), 0.0, 2.0**31, "cpu")))
            return sample()
        finally:
            torch.random.set_rng_state(state)

    def draw(self, x):
        """``chain_weights``, ``blend``; ``chains``: per chain, the augmentation indices it
        applies; ``step_draws``: their draws, chain by chain."""
        chain_weights, blend = self._weights()
        choices = len(self.ops) + 1  # the last choice skips the step
        picks = [_uniform_picks(self._uniform, self.chain_depth, choices) for _ in range(self.num_chains)]
        chains = [[p for p in chain if p < len(self.ops)] for chain in picks]
        step_draws = [[self.ops[p].draw(x) for p in chain] for chain in chains]
        return {"chains": chains, "chain_weights": chain_weights, "blend": blend, "step_draws": step_draws}

    def transform(self, x, chains=None, chain_weights=None, blend=None, step_draws=None):
        """``chains``: per chain, the list of augmentation indices it applies (each step draws
        its own transformation unless ``step_draws`` gives them)."""
        drawn = self.draw(x) if chains is None or chain_weights is None or blend is None else {}
        if chains is None:
            chains, step_draws = drawn["chains"], drawn["step_draws"]
        draw = {
            "chains": chains,
            "chain_weights": drawn["chain_weights"] if chain_weights is None else chain_weights,
            "blend": drawn["blend"] if blend is None else blend,
            "step_draws": step_draws or [[None] * len(chain) for chain in chains],
        }
        mixed = self._mix_chains(x, draw, lambda op, y, step: apply_augmentation(op, y, step))
        return mixed.clamp(*self.value_range)

    def transform_masks(self, masks, draw):
        return self._mix_chains(masks, draw, lambda op, y, step: op.transform_masks(y, step))

    def _mix_chains(self, x, draw, apply):
        """``blend x + (1 - blend) sum_c w_c chain_c(x)``, each chain's steps run by ``apply``."""
        chain_weights = torch.as_tensor(draw["chain_weights"], dtype=x.dtype, device=x.device)
        mix = torch.zeros_like(x)
        for weight, chain, steps in zip(chain_weights, draw["chains"], draw["step_draws"]):
            y = x
            for pick, step in zip(chain, steps):
                y = apply(self.ops[int(pick)], y, step)
            mix = mix + weight * y
        blend = torch.as_tensor(draw["blend"], dtype=x.dtype, device=x.device)
        return blend * x + (1 - blend) * mix

    def get_config(self):
        return {
            **super().get_config(),
            "value_range": list(self.value_range),
            "num_chains": self.num_chains,
            "chain_depth": self.chain_depth,
            "factor": list(self.factor),
            "alpha": self.alpha,
            "all_ops": self.all_ops,
            "interpolation": self.interpolation,
        }
