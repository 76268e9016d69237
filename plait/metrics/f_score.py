"""``FBetaScore`` and ``F1Score``: per-class F-scores from thresholded predictions."""

import torch

from plait.losses.functions import EPSILON
from plait.metrics.metric import Metric, as_tensors


class FBetaScore(Metric):
    """The F-beta score ``(1 + beta^2) P R / (beta^2 P + R)`` of multi-label predictions.

    Args:
        average: None (default: one score per class), ``"micro"`` (counts pooled over
            classes), ``"macro"`` (the mean of the class scores) or ``"weighted"`` (the mean
            weighted by each class's count of positives).
        beta: the weight of recall against precision (a float > 0, default 1.0).
        threshold: predictions above it are positive; None (default) marks each row's highest
            prediction (and its ties).
        name, dtype: as every metric's.

    Inputs are ``(batch, classes)``; ``sample_weight`` ``(batch,)``.

    Example:
        >>> import torch, plait
        >>> m = plait.metrics.FBetaScore(beta=2.0, threshold=0.5, average="micro")
        >>> m.update_state(torch.tensor([[1.0, 0.0], [1.0, 1.0]]), torch.tensor([[0.9, 0.8], [0.2, 0.7]]))
        >>> round(float(m.result()), 4)
        0.6667
    """

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(
                f"{type(self).__name__}: `average` must be None, 'micro', 'macro' or 'weighted'. "
                f"Received: average={average!r}"
            )
        if not isinstance(beta, float) or beta <= 0.0:
            raise ValueError(f"{type(self).__name__}: `beta` must be a Python float > 0. Received: beta={beta!r}")
        if threshold is not None and (not isinstance(threshold, float) or not 0.0 < threshold <= 1.0):
            raise ValueError(
                f"{type(self).__name__}: `threshold` must be a Python float in (0, 1] or None. "
                f"Received: threshold={threshold!r}"
            )
        self.average, self.beta, self.threshold = average, beta, threshold
        super().__init__(name=name, dtype=dtype)

    def reset_state(self):
        self.counts = None  # rows: true positives, false positives, false negatives, positives

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred, sample_weight = as_tensors(y_true, y_pred, sample_weight, dtype=self._dtype)
        if y_true.dim() != 2 or y_pred.dim() != 2:
            raise ValueError(
                f"{type(self).__name__} expects 2D inputs (batch_size, output_dim). Received: "
                f"y_true.shape={tuple(y_true.shape)}, y_pred.shape={tuple(y_pred.shape)}"
            )
        y_true = y_true.to(self._dtype)
        if self.threshold is None:
            # Keras's rule: the row maximum (ties included) is positive, unless it is ~0.
            positive = (y_pred >= y_pred.amax(dim=-1, keepdim=True)) & (y_pred.abs() > 1e-9)
        else:
            positive = y_pred > self.threshold
        predicted = positive.to(self._dtype)
        cells = torch.stack([predicted * y_true, predicted * (1 - y_true), (1 - predicted) * y_true, y_true])
        if sample_weight is not None:
            cells = cells * sample_weight.to(self._dtype).reshape(1, -1, 1)
        # Micro pools every class into one count; the others keep one count per class.
        batch = cells.sum(dim=(1, 2)) if self.average == "micro" else cells.sum(dim=1)
        self.counts = batch if self.counts is None else self.counts.to(batch.device) + batch

    def result(self):
        if self.counts is None:
            return torch.zeros(())
        tp, fp, fn, positives = self.counts
        precision = tp / (tp + fp + EPSILON)
        recall = tp / (tp + fn + EPSILON)
        b2 = self.beta**2
        score = (1 + b2) * precision * recall / (b2 * precision + recall + EPSILON)
        if self.average == "weighted":
            return (score * positives / (positives.sum() + EPSILON)).sum()
        if self.average is not None:
            return score.mean()
        return score

    def get_config(self):
        return {
            "name": self.name,
            "dtype": self.dtype,
            "beta": self.beta,
            "average": self.average,
            "threshold": self.threshold,
        }


class F1Score(FBetaScore):
    """The F1 score, :class:`FBetaScore` with ``beta=1.0`` (same arguments otherwise).

    Example:
        >>> import torch, plait
        >>> m = plait.metrics.F1Score(threshold=0.5)
        >>> m.update_state(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[0.9, 0.6], [0.1, 0.7]]))
        >>> m.result()
        tensor([1.0000, 0.6667])
    """

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config
