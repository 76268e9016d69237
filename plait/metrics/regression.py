"""Regression metrics: the streaming means of the regression losses, ``CosineSimilarity``,
``RootMeanSquaredError`` and ``R2Score``."""

import warnings

import torch
import torch.nn.functional as F

from plait.losses import (
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
)
from plait.losses.functions import same_rank
from plait.metrics.metric import Metric, as_tensors
from plait.metrics.reduction import Mean, broadcast_weight, mean_metric_class

MeanSquaredError = mean_metric_class("MeanSquaredError", mean_squared_error)
MeanAbsoluteError = mean_metric_class("MeanAbsoluteError", mean_absolute_error)
MeanAbsolutePercentageError = mean_metric_class("MeanAbsolutePercentageError", mean_absolute_percentage_error)
MeanSquaredLogarithmicError = mean_metric_class("MeanSquaredLogarithmicError", mean_squared_logarithmic_error)
LogCoshError = mean_metric_class("LogCoshError", log_cosh, default_name="logcosh")


def _cosine(y_true, y_pred, axis=-1):
    """The cosine similarity (positive, unlike the loss) along ``axis``."""
    y_true, y_pred = same_rank(y_true.to(y_pred.dtype), y_pred)
    return (F.normalize(y_true, dim=axis, eps=1e-12) * F.normalize(y_pred, dim=axis, eps=1e-12)).sum(dim=axis)


CosineSimilarity = mean_metric_class("CosineSimilarity", _cosine, default_name="cosine_similarity", axis=-1)


class RootMeanSquaredError(Mean):
    """``sqrt`` of the (weighted) mean squared error over all values seen."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred, sample_weight = as_tensors(y_true, y_pred, sample_weight)
        y_true, y_pred = same_rank(y_true, y_pred)
        super().update_state(torch.square(y_pred - y_true.float()), sample_weight)

    def result(self):
        return torch.sqrt(super().result())


class R2Score(Metric):
    """The coefficient of determination, ``1 - SS_res / SS_tot`` per output column, over all
    samples seen.

    Args:
        class_aggregation: ``"uniform_average"`` (default: the mean over columns),
            ``"variance_weighted_average"`` (weighted by each column's total sum of squares) or
            None (one score per column).
        num_regressors: for the adjusted R² (default 0: plain R²).
        name, dtype: as every metric's.

    Inputs are ``(batch, outputs)``; ``sample_weight`` ``(batch,)`` or ``(batch, outputs)``.

    Example:
        >>> import torch, plait
        >>> m = plait.metrics.R2Score()
        >>> m.update_state(torch.tensor([[1.0], [2.0], [3.0]]), torch.tensor([[1.0], [2.5], [2.5]]))
        >>> round(float(m.result()), 4)
        0.75
    """

    _AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None):
        if class_aggregation not in self._AGGREGATIONS:
            raise ValueError(
                f"R2Score: `class_aggregation` must be one of {self._AGGREGATIONS}. "
                f"Received: class_aggregation={class_aggregation!r}"
            )
        if num_regressors < 0:
            raise ValueError(f"R2Score: `num_regressors` must be >= 0. Received: num_regressors={num_regressors}")
        self.class_aggregation, self.num_regressors = class_aggregation, num_regressors
        super().__init__(name=name, dtype=dtype)

    def reset_state(self):
        # Per column: sum of weights, of weighted targets, of weighted squared targets, of
        # weighted squared residuals; made at the first update, when the width is known.
        self.moments = None
        self.num_samples = torch.zeros(())

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred, sample_weight = as_tensors(y_true, y_pred, sample_weight, dtype=self._dtype)
        y_true, y_pred = same_rank(y_true.to(self._dtype), y_pred.to(self._dtype))
        if y_true.dim() != 2 or y_pred.dim() != 2:
            raise ValueError(
                "R2Score expects 2D inputs (batch_size, output_dim). Received: "
                f"y_true.shape={tuple(y_true.shape)}, y_pred.shape={tuple(y_pred.shape)}"
            )
        w = torch.ones_like(y_true) if sample_weight is None else broadcast_weight(sample_weight, y_true)
        w = w.to(self._dtype).expand_as(y_true)
        batch = torch.stack([w, w * y_true, w * y_true.square(), w * (y_true - y_pred).square()]).sum(dim=1)
        self.moments = batch if self.moments is None else self.moments.to(batch.device) + batch
        self.num_samples = self.num_samples.to(batch.device) + y_true.numel()

    def result(self):
        if self.moments is None:
            return torch.zeros(())
        count, total, squares, residual = self.moments
        ss_tot = squares - total * (total / count)
        scores = 1.0 - residual / ss_tot
        scores = torch.where(torch.isinf(scores), torch.zeros_like(scores), scores)
        if self.class_aggregation == "uniform_average":
            score = scores.mean()
        elif self.class_aggregation == "variance_weighted_average":
            score = (ss_tot * scores).sum() / ss_tot.sum()
        else:
            score = scores
        if self.num_regressors:
            n, p = float(self.num_samples), float(self.num_regressors)
            if p >= n - 1:
                warnings.warn(
                    f"R2Score: {p:g} regressors for {n:g} values leave no degrees of freedom; "
                    "returning the plain R2 score.",
                    stacklevel=2,
                )
            else:
                score = 1.0 - (1.0 - score) * (n - 1.0) / (n - p - 1.0)
        return score

    def get_config(self):
        return {
            "name": self.name,
            "dtype": self.dtype,
            "class_aggregation": self.class_aggregation,
            "num_regressors": self.num_regressors,
        }
