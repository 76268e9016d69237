"""Losses with Keras 3's names, formulas and reduction.

Each loss function maps ``(y_true, y_pred)`` to one value per sample (the mean or sum over the
last axis, as Keras defines it); a :class:`Loss` object then reduces with optional sample
weights: ``sum(values * sample_weight) / number_of_values`` (Keras's ``sum_over_batch_size``).

Probability inputs are clipped to ``[1e-7, 1 - 1e-7]`` as Keras does; with ``from_logits=True``
the log-softmax / log-sigmoid forms are used (``fit`` switches to them automatically when the
model's output layer is a softmax or sigmoid).

Example:
    >>> import torch, plait
    >>> plait.losses.MeanSquaredError()(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 1.0]]))
    tensor(0.5000)
"""

from plait.losses import balancing
from plait.losses.functions import (
    EPSILON,
    KLD,
    MAE,
    MAPE,
    MSE,
    MSLE,
    binary_crossentropy,
    categorical_crossentropy,
    categorical_hinge,
    cosine_similarity,
    hinge,
    huber,
    kl_divergence,
    kld,
    log_cosh,
    mae,
    mape,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    mse,
    msle,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
)
from plait.losses.loss import Loss, LossFunctionWrapper, apply_mask, reduce_weighted
from plait.losses.losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    Huber,
    KLDivergence,
    LogCosh,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    SparseCategoricalCrossentropy,
    SquaredHinge,
    get,
)

__all__ = [
    "apply_mask",
    "balancing",
    "binary_crossentropy",
    "BinaryCrossentropy",
    "categorical_crossentropy",
    "categorical_hinge",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "cosine_similarity",
    "CosineSimilarity",
    "EPSILON",
    "get",
    "Hinge",
    "hinge",
    "Huber",
    "huber",
    "kl_divergence",
    "KLD",
    "kld",
    "KLDivergence",
    "log_cosh",
    "LogCosh",
    "Loss",
    "LossFunctionWrapper",
    "MAE",
    "mae",
    "MAPE",
    "mape",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "MSE",
    "mse",
    "MSLE",
    "msle",
    "Poisson",
    "poisson",
    "reduce_weighted",
    "sparse_categorical_crossentropy",
    "SparseCategoricalCrossentropy",
    "squared_hinge",
    "SquaredHinge",
]
