"""Batch-mixing augmentation layers (Keras 3's): ``MixUp`` and ``CutMix``.

Each image is mixed with another image of the same batch (a random permutation). Called on a
dict ``{"images": ..., "labels": ...}`` (Keras's form for labelled data), the labels are mixed
with the same weights and the dict comes back; called on images alone, images come back.
Training-only and seeded as the rest of the family (see ``augmentation``). Segmentation masks
are mixed as the images are; ``MixUp`` gives each image its partner's bounding boxes too, and
``CutMix`` refuses boxes, as Keras's does.
"""

import torch

from plait.layers.preprocessing.augmentation import _RandomImageLayer
from plait.layers.preprocessing.color import keras_factor


class _MixingLayer(_RandomImageLayer):
    """Shared by the mixing layers: the dict form, the permutation and the Beta draws."""

    def transform(self, x, **draw):
        return self.mix_images(x, draw or self.draw(x))

    def transform_labels(self, labels, draw):
        return self.mix_labels(labels, draw)

    def _permutation(self, n, device):
        # The argsort of uniform draws is a uniform random permutation, from the layer's generator.
        return torch.argsort(self._uniform((n,), 0.0, 1.0, device))

    def _beta(self, n, alpha, device):
        # Beta(a, a) from two Gamma(a) draws; Gamma from the layer's generator (torch's _standard_gamma
        # takes none), so each gamma is sampled by inverting uniforms through torch.distributions.
        a = torch.as_tensor(alpha, dtype=torch.float32)
        if self.seed is None:
            return torch.distributions.Beta(a, a).sample((n,)).to(device)
        state = torch.random.get_rng_state()
        try:
            torch.manual_seed(int(self._uniform((), 0.0, 2.0**31, "cpu")))
            return torch.distributions.Beta(a, a).sample((n,)).to(device)
        finally:
            torch.random.set_rng_state(state)

    def mix_labels(self, labels, draw):
        """Labels mixed as the images were: ``w y + (1 - w) y[perm]``."""
        weight = draw["mix_weight"].to(labels.device).reshape(-1, *([1] * (labels.dim() - 1)))
        labels = labels.float()
        return weight * labels + (1.0 - weight) * labels[draw["permutation_order"]]

    def compute_image_shape(self, input_shape):
        return input_shape


class MixUp(_MixingLayer):
    """MixUp (Zhang et al., 2017): each image becomes ``w x + (1 - w) x[perm]`` with
    ``w ~ Beta(alpha, alpha)`` per image, in training.

    Args:
        alpha: the Beta distribution's parameter (default 0.2). data_format, seed.

    Input shape:
        images ``(batch, height, width, channels)``, or ``{"images": ..., "labels": ...}``
        with labels ``(batch, classes)`` (one-hot), mixed with the same weights.

    Example:
        >>> import torch, plait
        >>> layer = plait.layers.MixUp(seed=0)
        >>> out = layer({"images": torch.rand(4, 8, 8, 3), "labels": torch.eye(4)}, training=True)
        >>> out["labels"].sum(1)
        tensor([1., 1., 1., 1.])
    """

    blends_masks = True  # the masks are blended like the images (float), as in Keras

    def __init__(self, alpha=0.2, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha <= 0:
            raise ValueError(
                f"MixUp layer '{self.name}': `alpha` should be a positive number. Received: alpha={alpha!r}"
            )
        self.alpha = alpha

    def draw(self, x):
        batch = x.shape[0]
        return {
            "permutation_order": self._permutation(batch, x.device),
            "mix_weight": self._beta(batch, self.alpha, x.device),
        }

    def mix_images(self, x, draw):
        weight = draw["mix_weight"].to(x.dtype).reshape(-1, 1, 1, 1)
        return weight * x + (1.0 - weight) * x[draw["permutation_order"]]

    def transform_masks(self, masks, draw):
        return self.mix_images(masks, draw)

    def transform_boxes(self, boxes, labels, draw, size):
        # Both images show through: each keeps its boxes and gains its partner's (Keras's rule;
        # Keras stacks the labels along the batch axis, plait along the boxes like the boxes).
        order = torch.as_tensor(draw["permutation_order"], device=boxes.device)
        return torch.cat([boxes, boxes[order]], 1), torch.cat([labels, labels[order]], 1)

    def compute_output_shape(self, input_shape):
        out = super().compute_output_shape(input_shape)
        if isinstance(input_shape, dict) and input_shape.get("bounding_boxes") is not None:
            boxes = input_shape["bounding_boxes"]
            doubled = {k: (v[0], None if v[1] is None else 2 * v[1], *v[2:]) for k, v in boxes.items()}
            out["bounding_boxes"] = doubled
        return out

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class CutMix(_MixingLayer):
    """CutMix (Yun et al., 2019): pastes a random rectangle of another image of the batch into
    each image, in training; labels are weighted by the area kept.

    A weight ``w ~ Beta(a, a)`` (``a`` drawn once per batch from ``factor``, plus ``1e-6``)
    sets the rectangle's sides to ``sqrt(1 - w)`` of the image's, placed uniformly at random.

    Args:
        factor: ``f`` for ``[0, f]`` or ``(lower, upper)`` in ``[0, 1]`` (default 1.0).
        seed, data_format.

    Example:
        >>> import torch, plait
        >>> out = plait.layers.CutMix(seed=0)({"images": torch.rand(4, 8, 8, 3), "labels": torch.eye(4)}, training=True)
        >>> torch.allclose(out["labels"].sum(1), torch.ones(4))
        True
    """

    def __init__(self, factor=1.0, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = keras_factor(f"CutMix layer '{self.name}'", factor, (0, 1))

    def _span(self, batch, length, ratio, device):
        extent = ratio * length
        start = self._uniform((batch,), 0.0, 1.0, device) * (length - extent)
        return start, start + extent

    def draw(self, x):
        batch, _, height, width = x.shape
        alpha = float(self._uniform((), *map(float, self.factor), "cpu")) + 1e-6
        ratio = torch.sqrt(1.0 - self._beta(batch, alpha, x.device))
        x0, x1 = self._span(batch, width, ratio, x.device)
        y0, y1 = self._span(batch, height, ratio, x.device)
        return self.boxes_draw(x, torch.stack([x0, x1, y0, y1], 1), self._permutation(batch, x.device))

    @staticmethod
    def boxes_draw(x, boxes, permutation):
        """The draw for given rectangles ``(batch, 4)`` as ``(x0, x1, y0, y1)`` pixels and a
        permutation: the pasted-pixel mask and the label weight (the area share kept)."""
        _, _, height, width = x.shape
        x0, x1, y0, y1 = (v.reshape(-1, 1, 1, 1) for v in torch.as_tensor(boxes, device=x.device).unbind(1))
        cols = torch.arange(width, dtype=x.dtype, device=x.device).reshape(1, 1, 1, -1)
        rows = torch.arange(height, dtype=x.dtype, device=x.device).reshape(1, 1, -1, 1)
        mask = (cols >= x0) & (cols < x1) & (rows >= y0) & (rows < y1)
        weight = 1.0 - ((x1 - x0) * (y1 - y0)).flatten() / (width * height)
        return {"permutation_order": torch.as_tensor(permutation, device=x.device), "mask": mask, "mix_weight": weight}

    def mix_images(self, x, draw):
        return torch.where(draw["mask"], x[draw["permutation_order"]], x)

    def transform_masks(self, masks, draw):
        return self.mix_images(masks, draw)

    def transform_boxes(self, boxes, labels, draw, size):
        raise NotImplementedError(
            f"CutMix layer '{self.name}' cannot transform bounding boxes (a pasted patch hides parts of boxes "
            "and brings others; Keras 3 does not transform them either). Pass images, labels and "
            "segmentation masks only."
        )

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor)}
