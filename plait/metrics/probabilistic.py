"""Probabilistic metrics: the streaming means of the crossentropy losses."""

from plait.losses import binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy
from plait.metrics.reduction import mean_metric_class

BinaryCrossentropy = mean_metric_class("BinaryCrossentropy", binary_crossentropy)
CategoricalCrossentropy = mean_metric_class("CategoricalCrossentropy", categorical_crossentropy)
SparseCategoricalCrossentropy = mean_metric_class("SparseCategoricalCrossentropy", sparse_categorical_crossentropy)
