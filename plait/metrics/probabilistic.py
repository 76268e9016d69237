"""Probabilistic metrics: the streaming means of the crossentropies, ``kl_divergence`` and ``poisson``."""

from plait.losses import (
    binary_crossentropy,
    categorical_crossentropy,
    kl_divergence,
    poisson,
    sparse_categorical_crossentropy,
)
from plait.metrics.reduction import mean_metric_class

BinaryCrossentropy = mean_metric_class(
    "BinaryCrossentropy", binary_crossentropy, from_logits=False, label_smoothing=0.0
)
CategoricalCrossentropy = mean_metric_class(
    "CategoricalCrossentropy", categorical_crossentropy, from_logits=False, label_smoothing=0.0, axis=-1
)
SparseCategoricalCrossentropy = mean_metric_class(
    "SparseCategoricalCrossentropy", sparse_categorical_crossentropy, from_logits=False, ignore_class=None, axis=-1
)
KLDivergence = mean_metric_class("KLDivergence", kl_divergence)
Poisson = mean_metric_class("Poisson", poisson)
