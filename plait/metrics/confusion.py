"""Metrics from confusion counts at thresholds: ``TruePositives`` & co., ``Precision``, ``Recall``, ``AUC``."""

import torch

from plait.metrics.metric import Metric
from plait.metrics.reduction import broadcast_weight


class _ConfusionAtThresholds(Metric):
    """Counts of true/false positives/negatives at fixed thresholds (shared by AUC etc.)."""

    def __init__(self, thresholds, name=None, dtype=None):
        self.thresholds = torch.as_tensor(thresholds, dtype=torch.float32)
        super().__init__(name=name, dtype=dtype)

    def reset_state(self):
        n = len(self.thresholds)
        self.tp, self.fp, self.tn, self.fn = (torch.zeros(n) for _ in range(4))

    def update_state(self, y_true, y_pred, sample_weight=None):
        with torch.no_grad():
            y_pred = y_pred.detach().float()
            w = (
                torch.ones_like(y_pred)
                if sample_weight is None
                else broadcast_weight(sample_weight, y_pred).expand_as(y_pred)
            )
            y_pred, w = y_pred.reshape(-1), w.reshape(-1)
            y_true = y_true.detach().float().reshape(-1) > 0.5
            thr = self.thresholds.to(y_pred.device)
            if self.tp.device != y_pred.device:
                self.tp, self.fp, self.tn, self.fn = (t.to(y_pred.device) for t in (self.tp, self.fp, self.tn, self.fn))
            above = y_pred[None, :] > thr[:, None]
            pos, neg = (y_true * w)[None, :], ((~y_true) * w)[None, :]
            self.tp += (above * pos).sum(1)
            self.fp += (above * neg).sum(1)
            self.fn += ((~above) * pos).sum(1)
            self.tn += ((~above) * neg).sum(1)


def _div(a, b):
    return torch.where(b > 0, a / b.clamp(min=1e-12), torch.zeros_like(a))


class _AtGivenThresholds(_ConfusionAtThresholds):
    """Keras's ``thresholds`` argument (default 0.5): one threshold gives a scalar result, a list
    a vector."""

    def __init__(self, thresholds=None, name=None, dtype=None):
        self._single = thresholds is None or isinstance(thresholds, (int, float))
        self._thresholds_arg = thresholds
        super().__init__([0.5 if thresholds is None else thresholds] if self._single else thresholds, name, dtype)

    def get_config(self):
        return {**super().get_config(), "thresholds": self._thresholds_arg}


class _ConditionCount(_AtGivenThresholds):
    """The (weighted) count of one confusion cell at ``thresholds`` (default 0.5): a scalar for
    one threshold, a vector for a list (as Keras's ``TruePositives`` & co.)."""

    _cell = None  # "tp", "fp", "tn" or "fn"

    def result(self):
        value = getattr(self, self._cell)
        return value[0] if self._single else value


class TruePositives(_ConditionCount):
    """Weighted count of positives (``y_true`` > 0.5) predicted above the threshold.

    Example:
        >>> import torch, plait
        >>> m = plait.metrics.TruePositives()
        >>> m.update_state(torch.tensor([0.0, 1.0, 1.0, 1.0]), torch.tensor([1.0, 0.0, 1.0, 1.0]))
        >>> float(m.result())
        2.0
    """

    _cell = "tp"


class FalsePositives(_ConditionCount):
    """Weighted count of negatives predicted above the threshold (see :class:`TruePositives`)."""

    _cell = "fp"


class TrueNegatives(_ConditionCount):
    """Weighted count of negatives predicted at or below the threshold (see :class:`TruePositives`)."""

    _cell = "tn"


class FalseNegatives(_ConditionCount):
    """Weighted count of positives predicted at or below the threshold (see :class:`TruePositives`)."""

    _cell = "fn"


class Precision(_AtGivenThresholds):
    """``tp / (tp + fp)`` at ``thresholds`` (default 0.5)."""

    def result(self):
        value = _div(self.tp, self.tp + self.fp)
        return value[0] if self._single else value


class Recall(Precision):
    """``tp / (tp + fn)`` at ``thresholds`` (default 0.5)."""

    def result(self):
        value = _div(self.tp, self.tp + self.fn)
        return value[0] if self._single else value


class AUC(_ConfusionAtThresholds):
    """Area under the ROC (default) or PR curve, Keras's approximation over ``num_thresholds``.

    Args:
        num_thresholds: default 200. curve: ``"ROC"`` or ``"PR"``.
        summation_method: ``"interpolation"`` (default), ``"minoring"`` or ``"majoring"``.
        name, dtype: as every metric's.
        thresholds: explicit thresholds in ``(0, 1)`` (Keras adds ``0 - eps`` and ``1 + eps``);
            they replace ``num_thresholds``.
        multi_label, num_labels, label_weights: Keras's per-label AUC; only the default (one
            AUC over all labels) is supported, anything else is a ValueError.
        from_logits: ``y_pred`` are logits (a sigmoid is applied first).

    Example:
        >>> import torch, plait
        >>> m = plait.metrics.AUC(num_thresholds=3)
        >>> m.update_state(torch.tensor([0.0, 0.0, 1.0, 1.0]), torch.tensor([0.0, 0.5, 0.3, 0.9]))
        >>> round(float(m.result()), 4)
        0.75
    """

    def __init__(
        self,
        num_thresholds=200,
        curve="ROC",
        summation_method="interpolation",
        name=None,
        dtype=None,
        thresholds=None,
        multi_label=False,
        num_labels=None,
        label_weights=None,
        from_logits=False,
    ):
        if multi_label or label_weights is not None:
            raise ValueError(
                "plait's AUC computes one AUC over all labels; `multi_label=True` and `label_weights` are not "
                f"supported. Received: multi_label={multi_label}, label_weights={label_weights}"
            )
        eps = 1e-7
        if thresholds is not None:
            inner = sorted(float(t) for t in thresholds)
            num_thresholds = len(inner) + 2
        else:
            if num_thresholds <= 1:
                raise ValueError(
                    f"Argument `num_thresholds` must be an integer > 1. Received: num_thresholds={num_thresholds}"
                )
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        self.num_thresholds, self._thresholds_arg = num_thresholds, thresholds
        self.curve, self.summation_method = curve.upper(), summation_method
        self.num_labels, self.from_logits = num_labels, bool(from_logits)
        super().__init__([0.0 - eps] + inner + [1.0 + eps], name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.from_logits:
            y_pred = torch.sigmoid(y_pred)
        super().update_state(y_true, y_pred, sample_weight)

    def get_config(self):
        return {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "multi_label": False,
            "num_labels": self.num_labels,
            "label_weights": None,
            "from_logits": self.from_logits,
            **({"thresholds": self._thresholds_arg} if self._thresholds_arg is not None else {}),
        }

    def result(self):
        tp, fp, fn, tn = self.tp, self.fp, self.fn, self.tn
        if self.curve == "PR" and self.summation_method == "interpolation":
            # Davis & Goadrich interpolation, as Keras's interpolate_pr_auc.
            dtp = tp[:-1] - tp[1:]
            p = tp + fp
            dp = p[:-1] - p[1:]
            prec_slope = _div(dtp, dp.clamp(min=0))
            intercept = tp[1:] - prec_slope * p[1:]
            safe_p_ratio = torch.where(
                (p[:-1] > 0) & (p[1:] > 0), _div(p[:-1], p[1:].clamp(min=0)), torch.ones_like(p[1:])
            )
            pr_auc_increment = _div(
                prec_slope * (dtp + intercept * torch.log(safe_p_ratio)), (tp[1:] + fn[1:]).clamp(min=0)
            )
            return pr_auc_increment.sum()
        recall = _div(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _div(fp, fp + tn), recall
        else:
            x, y = recall, _div(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = torch.minimum(y[:-1], y[1:])
        else:
            heights = torch.maximum(y[:-1], y[1:])
        return ((x[:-1] - x[1:]) * heights).sum()
