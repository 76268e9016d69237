"""Streaming metrics with Keras 3's names: ``update_state`` / ``result`` / ``reset_state``.

State lives in tensors on the data's device, so updating a metric never waits for the GPU;
only ``result()`` (called when logs are shown) reads it back.

Example:
    >>> import torch, plait
    >>> m = plait.metrics.BinaryAccuracy()
    >>> m.update_state(torch.tensor([[1.0], [0.0]]), torch.tensor([[0.9], [0.8]]))
    >>> float(m.result())
    0.5
"""

from plait.metrics.accuracy import (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
    accuracy,
    binary_accuracy,
    categorical_accuracy,
    sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)
from plait.metrics.confusion import (
    AUC,
    FalseNegatives,
    FalsePositives,
    Precision,
    Recall,
    TrueNegatives,
    TruePositives,
)
from plait.metrics.iou import MeanIoU
from plait.metrics.lookup import get
from plait.metrics.metric import Metric
from plait.metrics.probabilistic import BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy
from plait.metrics.reduction import Mean, MeanMetricWrapper
from plait.metrics.regression import (
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    RootMeanSquaredError,
)

__all__ = [
    "Accuracy",
    "accuracy",
    "AUC",
    "binary_accuracy",
    "BinaryAccuracy",
    "BinaryCrossentropy",
    "categorical_accuracy",
    "CategoricalAccuracy",
    "CategoricalCrossentropy",
    "FalseNegatives",
    "FalsePositives",
    "get",
    "Mean",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanIoU",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Metric",
    "Precision",
    "Recall",
    "RootMeanSquaredError",
    "sparse_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "SparseCategoricalAccuracy",
    "SparseCategoricalCrossentropy",
    "SparseTopKCategoricalAccuracy",
    "top_k_categorical_accuracy",
    "TopKCategoricalAccuracy",
    "TrueNegatives",
    "TruePositives",
]
