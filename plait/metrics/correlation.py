"""Correlation metrics: ``pearson_correlation`` and ``concordance_correlation`` per sample along
an axis, and their streaming means."""

import torch

from plait.losses.functions import EPSILON, same_rank
from plait.metrics.reduction import mean_metric_class


def _centered(y, axis):
    return y - y.mean(dim=axis, keepdim=True)


def pearson_correlation(y_true, y_pred, axis=-1):
    """Pearson's correlation of ``y_true`` and ``y_pred`` along ``axis`` (one value per sample).

    Example:
        >>> import torch
        >>> pearson_correlation(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[2.0, 4.0, 7.0]]))
        tensor([0.9934])
    """
    y_true, y_pred = same_rank(y_true.to(y_pred.dtype), y_pred)
    # Population standard deviations, as Keras (their ratio is what counts).
    a = _centered(y_true, axis)
    b = _centered(y_pred, axis)
    a = a / a.std(dim=axis, keepdim=True, correction=0)
    b = b / b.std(dim=axis, keepdim=True, correction=0)
    return (a * b).mean(dim=axis)


def concordance_correlation(y_true, y_pred, axis=-1):
    """Lin's concordance correlation along ``axis``: ``2 cov / (var_t + var_p + (mean_t - mean_p)^2)``.

    As Keras 3.15 computes it, the covariance term centres ``y_true`` on the *predictions'*
    mean, so the value equals the textbook one only when the means agree.

    Example:
        >>> import torch
        >>> concordance_correlation(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[1.0, 2.0, 3.0]]))
        tensor([1.0000])
    """
    y_true, y_pred = same_rank(y_true.to(y_pred.dtype), y_pred)
    mean_true = y_true.mean(dim=axis, keepdim=True)
    mean_pred = y_pred.mean(dim=axis, keepdim=True)
    var_true = y_true.var(dim=axis, keepdim=True, correction=0)
    var_pred = y_pred.var(dim=axis, keepdim=True, correction=0)
    covariance = (y_true - mean_pred) * (y_pred - mean_pred)
    scale = var_true + var_pred + torch.square(mean_true - mean_pred) + EPSILON
    return (2.0 * covariance / scale).mean(dim=axis)


PearsonCorrelation = mean_metric_class("PearsonCorrelation", pearson_correlation, axis=-1)
ConcordanceCorrelation = mean_metric_class("ConcordanceCorrelation", concordance_correlation, axis=-1)
