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

from plait.losses import (
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    categorical_hinge,
    hinge,
    huber,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
)
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
    PrecisionAtRecall,
    Recall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
    TrueNegatives,
    TruePositives,
)
from plait.metrics.correlation import (
    ConcordanceCorrelation,
    PearsonCorrelation,
    concordance_correlation,
    pearson_correlation,
)
from plait.metrics.f_score import F1Score, FBetaScore
from plait.metrics.hinges import CategoricalHinge, Hinge, SquaredHinge
from plait.metrics.iou import BinaryIoU, IoU, MeanIoU, OneHotIoU, OneHotMeanIoU
from plait.metrics.lookup import deserialize, get, serialize
from plait.metrics.metric import Metric
from plait.metrics.probabilistic import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    KLDivergence,
    Poisson,
    SparseCategoricalCrossentropy,
)
from plait.metrics.reduction import Mean, MeanMetricWrapper, Sum
from plait.metrics.regression import (
    CosineSimilarity,
    LogCoshError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    R2Score,
    RootMeanSquaredError,
)

__all__ = [
    "accuracy",
    "Accuracy",
    "AUC",
    "binary_accuracy",
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "BinaryAccuracy",
    "BinaryCrossentropy",
    "BinaryIoU",
    "categorical_accuracy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_hinge",
    "CategoricalAccuracy",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "concordance_correlation",
    "ConcordanceCorrelation",
    "CosineSimilarity",
    "deserialize",
    "F1Score",
    "FalseNegatives",
    "FalsePositives",
    "FBetaScore",
    "get",
    "hinge",
    "Hinge",
    "huber",
    "IoU",
    "kl_divergence",
    "KLDivergence",
    "log_cosh",
    "LogCoshError",
    "Mean",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanIoU",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Metric",
    "OneHotIoU",
    "OneHotMeanIoU",
    "pearson_correlation",
    "PearsonCorrelation",
    "Poisson",
    "poisson",
    "Precision",
    "PrecisionAtRecall",
    "R2Score",
    "Recall",
    "RecallAtPrecision",
    "RootMeanSquaredError",
    "SensitivityAtSpecificity",
    "serialize",
    "sparse_categorical_accuracy",
    "sparse_categorical_crossentropy",
    "sparse_top_k_categorical_accuracy",
    "SparseCategoricalAccuracy",
    "SparseCategoricalCrossentropy",
    "SparseTopKCategoricalAccuracy",
    "SpecificityAtSensitivity",
    "squared_hinge",
    "SquaredHinge",
    "Sum",
    "top_k_categorical_accuracy",
    "TopKCategoricalAccuracy",
    "TrueNegatives",
    "TruePositives",
]
