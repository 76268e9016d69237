"""Metrics from confusion counts at thresholds: ``TruePositives`` & co., ``Precision``, ``Recall``, ``AUC``."""

import torch

from plait.losses.functions import same_rank
from plait.metrics.metric import Metric, as_tensors
from plait.metrics.reduction import broadcast_weight


class _ConfusionAtThresholds(Metric):
    """Counts of true/false positives/negatives at fixed thresholds: the one machinery behind
    the counts, ``Precision``/``Recall``, the ``...At...`` metrics and ``AUC``.

    A prediction is positive above a threshold (strictly), a label when it is non-zero. As in
    Keras: ``top_k`` keeps only each row's ``k`` highest predictions, ``class_id`` counts only
    that column, and with ``per_label`` the counts keep one column per label (``AUC``'s
    ``multi_label``); ``label_weights`` weigh each label's entries.
    """

    def __init__(self, thresholds, name=None, dtype=None, top_k=None, class_id=None):
        self.thresholds = torch.as_tensor(thresholds, dtype=torch.float32)
        self.top_k, self.class_id = top_k, class_id
        self.per_label, self.label_weights = False, None
        super().__init__(name=name, dtype=dtype)

    def reset_state(self):
        n = len(self.thresholds)
        self.tp, self.fp, self.tn, self.fn = (torch.zeros(n) for _ in range(4))

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred, sample_weight = as_tensors(y_true, y_pred, sample_weight)
        y_true, y_pred = same_rank(y_true, y_pred.float())
        try:
            y_true = y_true.broadcast_to(torch.broadcast_shapes(y_true.shape, y_pred.shape))
        except RuntimeError:
            raise ValueError(
                f"{type(self).__name__}: y_true and y_pred must have the same shape (one label per prediction). "
                f"Received: y_true.shape={tuple(y_true.shape)}, y_pred.shape={tuple(y_pred.shape)}"
            ) from None
        w = torch.ones_like(y_pred) if sample_weight is None else broadcast_weight(sample_weight, y_pred)
        w = w.float().expand_as(y_pred)
        if self.top_k is not None:
            kept = torch.zeros_like(y_pred, dtype=torch.bool).scatter_(
                -1, y_pred.topk(self.top_k, dim=-1).indices, True
            )
            y_pred = torch.where(kept, y_pred, torch.full_like(y_pred, float("-inf")))
        if self.class_id is not None:
            if y_pred.dim() < 2:
                raise ValueError(
                    f"{type(self).__name__}: with `class_id`, y_pred must be (num_samples, num_classes). "
                    f"Received: y_pred.shape={tuple(y_pred.shape)}"
                )
            y_true, y_pred, w = (t[..., self.class_id : self.class_id + 1] for t in (y_true, y_pred, w))
        if self.label_weights is not None:
            w = w * self.label_weights.to(w.device)
        labels = y_true != 0
        if self.per_label:  # (entries, labels): one count per label
            y_pred, labels, w = (t.reshape(-1, t.shape[-1]) for t in (y_pred, labels, w))
        else:
            y_pred, labels, w = y_pred.reshape(-1), labels.reshape(-1), w.reshape(-1)
        thr = self.thresholds.to(y_pred.device).reshape(-1, *([1] * y_pred.dim()))
        above = y_pred.unsqueeze(0) > thr  # (thresholds, entries[, labels])
        pos, neg = (labels * w).unsqueeze(0), ((~labels) * w).unsqueeze(0)
        counts = [(above * pos).sum(1), (above * neg).sum(1), ((~above) * neg).sum(1), ((~above) * pos).sum(1)]
        if self.tp.shape != counts[0].shape:  # the first update of per-label counts sets their width
            self.tp = self.fp = self.tn = self.fn = counts[0].new_zeros(counts[0].shape)
        old = (self.tp, self.fp, self.tn, self.fn)
        self.tp, self.fp, self.tn, self.fn = (o.to(c.device) + c for o, c in zip(old, counts))


def _div(a, b):
    return torch.where(b > 0, a / b.clamp(min=1e-12), torch.zeros_like(a))


class _AtGivenThresholds(_ConfusionAtThresholds):
    """Keras's ``thresholds`` argument (default 0.5, or below every kept score with ``top_k``):
    one threshold gives a scalar result, a list a vector."""

    def __init__(self, thresholds=None, name=None, dtype=None, top_k=None, class_id=None):
        self._single = thresholds is None or isinstance(thresholds, (int, float))
        self._thresholds_arg = thresholds
        default = 0.5 if top_k is None else -1e10  # with top_k: every kept prediction is positive
        values = [default if thresholds is None else thresholds] if self._single else thresholds
        super().__init__(values, name, dtype, top_k=top_k, class_id=class_id)

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
    """``tp / (tp + fp)`` at ``thresholds`` (default 0.5).

    Args:
        thresholds: a float or a list of floats (then the result is a vector).
        top_k: count only each row's ``k`` highest predictions as positive.
        class_id: count only this class (column) of ``(batch, classes)`` inputs.
        name, dtype: as every metric's.

    Example:
        >>> import torch, plait
        >>> m = plait.metrics.Precision(top_k=1)
        >>> m.update_state(torch.tensor([[0.0, 1.0], [0.0, 1.0]]), torch.tensor([[0.3, 0.6], [0.8, 0.1]]))
        >>> float(m.result())
        0.5
    """

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(thresholds, name, dtype, top_k=top_k, class_id=class_id)

    def get_config(self):
        return {**super().get_config(), "top_k": self.top_k, "class_id": self.class_id}

    def result(self):
        value = _div(self.tp, self.tp + self.fp)
        return value[0] if self._single else value


class Recall(Precision):
    """``tp / (tp + fn)`` at ``thresholds`` (default 0.5); ``top_k`` and ``class_id`` as
    :class:`Precision`'s."""

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
        multi_label: one AUC per label (column of ``(batch, labels)`` inputs), then their mean
            (weighted by ``label_weights`` when given); default False: one AUC over all entries,
            each label's entries weighted by ``label_weights``.
        num_labels: the number of labels (recorded; it is read from the first batch).
        label_weights: one non-negative weight per label.
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
        self.multi_label = self.per_label = bool(multi_label)
        if isinstance(label_weights, dict):  # Keras's config of a tensor
            label_weights = label_weights["config"]["value"]
        if label_weights is not None:
            label_weights = torch.as_tensor(label_weights, dtype=torch.float32)
            if (label_weights < 0).any():
                raise ValueError(f"AUC: `label_weights` must be non-negative. Received: label_weights={label_weights}")
        self._label_weights = label_weights
        # Without multi_label the weights weigh each label's entries; with it, the label AUCs.
        self.label_weights = None if self.multi_label else label_weights

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred, sample_weight = as_tensors(y_true, y_pred, sample_weight)
        if self.multi_label and y_pred.dim() != 2:
            raise ValueError(
                f"AUC: with multi_label=True, y_pred must have rank 2. Received: shape={tuple(y_pred.shape)}"
            )
        if self.from_logits:
            y_pred = torch.sigmoid(y_pred)
        super().update_state(y_true, y_pred, sample_weight)

    def _over_labels(self, per_threshold):
        """The sum over thresholds; with ``multi_label``, then the (weighted) mean over labels."""
        by_label = per_threshold.sum(0)
        if not self.multi_label:
            return by_label
        if self._label_weights is None:
            return by_label.mean()
        weights = self._label_weights.to(by_label.device)
        return _div((by_label * weights).sum(), weights.sum())

    def get_config(self):
        return {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "multi_label": self.multi_label,
            "num_labels": self.num_labels,
            "label_weights": None if self._label_weights is None else self._label_weights.tolist(),
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
            return self._over_labels(pr_auc_increment)
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
        return self._over_labels((x[:-1] - x[1:]) * heights)


class _BestUnderConstraint(_ConfusionAtThresholds):
    """The best of one rate among the thresholds where another rate reaches ``value``: the
    base of ``SensitivityAtSpecificity`` and its siblings (Keras's thresholds: 0, ``1/(n-1)``,
    ..., 1, or 0.5 alone for ``num_thresholds=1``)."""

    _value_arg = None  # the constructor's name for ``value`` ("specificity", ...)

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        if not 0 <= value <= 1:
            raise ValueError(
                f"Argument `{self._value_arg}` must be in the range [0, 1]. Received: {self._value_arg}={value}"
            )
        if num_thresholds <= 0:
            raise ValueError(
                f"Argument `num_thresholds` must be an integer > 0. Received: num_thresholds={num_thresholds}"
            )
        self.value, self.num_thresholds = value, num_thresholds
        if num_thresholds == 1:
            thresholds = [0.5]
        else:
            thresholds = [i / (num_thresholds - 1) for i in range(num_thresholds)]
        super().__init__(thresholds, name, dtype, class_id=class_id)

    def rates(self):
        """``(constrained, maximised)`` rates at each threshold."""
        raise NotImplementedError

    def result(self):
        constrained, maximised = self.rates()
        return torch.where(constrained >= self.value, maximised, torch.zeros_like(maximised)).max().clamp(min=0)

    def get_config(self):
        return {
            **super().get_config(),
            self._value_arg: self.value,
            "num_thresholds": self.num_thresholds,
            "class_id": self.class_id,
        }

    # Rates at every threshold, as Keras's divide_no_nan gives them.
    def _sensitivity(self):
        return _div(self.tp, self.tp + self.fn)

    def _specificity(self):
        return _div(self.tn, self.tn + self.fp)

    def _precision(self):
        return _div(self.tp, self.tp + self.fp)


class SensitivityAtSpecificity(_BestUnderConstraint):
    """The best sensitivity (recall) at a threshold whose specificity is at least
    ``specificity``.

    Args:
        specificity: in ``[0, 1]``.
        num_thresholds: thresholds evenly spaced on ``[0, 1]`` (default 200).
        class_id: count only this class (column) of ``(batch, classes)`` inputs.
        name, dtype: as every metric's.

    Example:
        >>> import torch, plait
        >>> m = plait.metrics.SensitivityAtSpecificity(0.5)
        >>> m.update_state(torch.tensor([0, 0, 0, 1, 1]), torch.tensor([0.0, 0.3, 0.8, 0.3, 0.8]))
        >>> float(m.result())
        0.5
    """

    _value_arg = "specificity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)

    def rates(self):
        return self._specificity(), self._sensitivity()


class SpecificityAtSensitivity(_BestUnderConstraint):
    """The best specificity at a threshold whose sensitivity is at least ``sensitivity``
    (other arguments as :class:`SensitivityAtSpecificity`'s)."""

    _value_arg = "sensitivity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)

    def rates(self):
        return self._sensitivity(), self._specificity()


class PrecisionAtRecall(_BestUnderConstraint):
    """The best precision at a threshold whose recall is at least ``recall`` (other arguments as
    :class:`SensitivityAtSpecificity`'s)."""

    _value_arg = "recall"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)

    def rates(self):
        return self._sensitivity(), self._precision()


class RecallAtPrecision(_BestUnderConstraint):
    """The best recall at a threshold whose precision is at least ``precision`` (other arguments
    as :class:`SensitivityAtSpecificity`'s)."""

    _value_arg = "precision"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)

    def rates(self):
        return self._precision(), self._sensitivity()
