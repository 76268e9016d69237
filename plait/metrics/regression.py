"""Regression metrics: the streaming means of the regression losses, and ``RootMeanSquaredError``."""

import torch

from plait.losses import (
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
)
from plait.metrics.reduction import Mean, mean_metric_class

MeanSquaredError = mean_metric_class("MeanSquaredError", mean_squared_error)
MeanAbsoluteError = mean_metric_class("MeanAbsoluteError", mean_absolute_error)
MeanAbsolutePercentageError = mean_metric_class("MeanAbsolutePercentageError", mean_absolute_percentage_error)
MeanSquaredLogarithmicError = mean_metric_class("MeanSquaredLogarithmicError", mean_squared_logarithmic_error)


class RootMeanSquaredError(Mean):
    """``sqrt`` of the (weighted) mean squared error over all values seen."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(torch.square(y_pred.detach() - y_true.float()), sample_weight)

    def result(self):
        return torch.sqrt(super().result())
