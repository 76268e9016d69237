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

import torch

from plait import losses as losses_module
from plait.utils.registry import by_name, with_class_names


class Metric:
    """Base class of streaming metrics.

    Args:
        name: the key under which the metric is logged.
        dtype: accepted for Keras compatibility (results are float32).
    """

    def __init__(self, name=None, dtype=None):
        from plait.utils.naming import to_snake_case

        self.name = name or to_snake_case(type(self).__name__)
        self.reset_state()

    def reset_state(self):
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None):
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def get_config(self):
        return {"name": self.name}

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class Mean(Metric):
    """The (weighted) mean of the values given to ``update_state(values, sample_weight)``."""

    def reset_state(self):
        if getattr(self, "total", None) is not None and self.total.is_cuda:
            # In place on a GPU: the state keeps its address, as a CUDA graph that updates it needs.
            self.total.zero_()
            self.count.zero_()
            return
        self.total = torch.zeros(())
        self.count = torch.zeros(())

    def update_state(self, values, sample_weight=None):
        values = values.detach().float()
        if self.total.device != values.device:
            self.total, self.count = self.total.to(values.device), self.count.to(values.device)
        if sample_weight is not None:
            w = _broadcast_weight(sample_weight, values)
            self.total += (values * w).sum()
            self.count += w.expand_as(values).sum()
        else:
            self.total += values.sum()
            self.count += values.numel()

    def result(self):
        return torch.where(self.count > 0, self.total / self.count.clamp(min=1e-12), torch.zeros(()))


def _broadcast_weight(sample_weight, values):
    w = torch.as_tensor(sample_weight, device=values.device).float()
    while w.dim() > values.dim() and w.shape[-1] == 1:
        w = w.squeeze(-1)
    while w.dim() < values.dim():
        w = w.unsqueeze(-1)
    return w


class MeanMetricWrapper(Mean):
    """The weighted mean of ``fn(y_true, y_pred)`` over all samples seen."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        self._fn, self._fn_kwargs = fn, kwargs
        super().__init__(name=name or getattr(fn, "__name__", None), dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        with torch.no_grad():
            super().update_state(self._fn(y_true, y_pred, **self._fn_kwargs), sample_weight)


# ---- accuracy functions (per sample)
def _labels(y_true, y_pred):
    if y_true.dim() == y_pred.dim() and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    return y_true


def accuracy(y_true, y_pred):
    return (y_true.to(y_pred.dtype) == y_pred).float()


def binary_accuracy(y_true, y_pred, threshold=0.5):
    return ((y_pred > threshold).float() == y_true.float()).float().mean(dim=-1)


def categorical_accuracy(y_true, y_pred):
    return (y_true.argmax(dim=-1) == y_pred.argmax(dim=-1)).float()


def sparse_categorical_accuracy(y_true, y_pred):
    return (_labels(y_true, y_pred).long() == y_pred.argmax(dim=-1)).float()


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    top = y_pred.topk(min(k, y_pred.shape[-1]), dim=-1).indices
    return (top == y_true.argmax(dim=-1, keepdim=True)).any(dim=-1).float()


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    top = y_pred.topk(min(k, y_pred.shape[-1]), dim=-1).indices
    return (top == _labels(y_true, y_pred).long().unsqueeze(-1)).any(dim=-1).float()


def _wrapper(name, fn, **defaults):
    def __init__(self, name=None, dtype=None, **kwargs):
        MeanMetricWrapper.__init__(self, fn, name=name or _default_name, dtype=dtype, **{**defaults, **kwargs})

    _default_name = fn.__name__
    return type(name, (MeanMetricWrapper,), {"__init__": __init__, "__doc__": f"Streaming mean of ``{fn.__name__}``."})


Accuracy = _wrapper("Accuracy", accuracy)
BinaryAccuracy = _wrapper("BinaryAccuracy", binary_accuracy, threshold=0.5)
CategoricalAccuracy = _wrapper("CategoricalAccuracy", categorical_accuracy)
SparseCategoricalAccuracy = _wrapper("SparseCategoricalAccuracy", sparse_categorical_accuracy)
TopKCategoricalAccuracy = _wrapper("TopKCategoricalAccuracy", top_k_categorical_accuracy, k=5)
SparseTopKCategoricalAccuracy = _wrapper("SparseTopKCategoricalAccuracy", sparse_top_k_categorical_accuracy, k=5)
MeanSquaredError = _wrapper("MeanSquaredError", losses_module.mean_squared_error)
MeanAbsoluteError = _wrapper("MeanAbsoluteError", losses_module.mean_absolute_error)
MeanAbsolutePercentageError = _wrapper("MeanAbsolutePercentageError", losses_module.mean_absolute_percentage_error)
MeanSquaredLogarithmicError = _wrapper("MeanSquaredLogarithmicError", losses_module.mean_squared_logarithmic_error)
BinaryCrossentropy = _wrapper("BinaryCrossentropy", losses_module.binary_crossentropy)
CategoricalCrossentropy = _wrapper("CategoricalCrossentropy", losses_module.categorical_crossentropy)
SparseCategoricalCrossentropy = _wrapper("SparseCategoricalCrossentropy", losses_module.sparse_categorical_crossentropy)


class RootMeanSquaredError(Mean):
    """``sqrt`` of the (weighted) mean squared error over all values seen."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(torch.square(y_pred.detach() - y_true.float()), sample_weight)

    def result(self):
        return torch.sqrt(super().result())


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
                else _broadcast_weight(sample_weight, y_pred).expand_as(y_pred)
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


class Precision(_ConfusionAtThresholds):
    """``tp / (tp + fp)`` at ``thresholds`` (default 0.5)."""

    def __init__(self, thresholds=None, name=None, dtype=None):
        self._single = thresholds is None or isinstance(thresholds, (int, float))
        super().__init__([0.5 if thresholds is None else thresholds] if self._single else thresholds, name, dtype)

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
    """

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None):
        if num_thresholds <= 1:
            raise ValueError(
                f"Argument `num_thresholds` must be an integer > 1. Received: num_thresholds={num_thresholds}"
            )
        eps = 1e-7
        thresholds = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        self.curve, self.summation_method = curve.upper(), summation_method
        super().__init__([0.0 - eps] + thresholds + [1.0 + eps], name, dtype)

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


class MeanIoU(Metric):
    """Mean intersection-over-union over ``num_classes`` (labels and predictions as class ids).

    Args:
        num_classes: number of classes.
        sparse_y_true / sparse_y_pred: whether labels / predictions are class ids (default True)
            rather than one-hot / scores (then argmax is taken).
    """

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True, sparse_y_pred=True):
        self.num_classes, self.ignore_class = int(num_classes), ignore_class
        self.sparse_y_true, self.sparse_y_pred = sparse_y_true, sparse_y_pred
        super().__init__(name=name, dtype=dtype)

    def reset_state(self):
        self.confusion = torch.zeros(self.num_classes, self.num_classes)

    def update_state(self, y_true, y_pred, sample_weight=None):
        with torch.no_grad():
            t = (y_true if self.sparse_y_true else y_true.argmax(-1)).reshape(-1).long()
            p = (y_pred if self.sparse_y_pred else y_pred.argmax(-1)).reshape(-1).long()
            w = (
                torch.ones(t.shape, device=t.device)
                if sample_weight is None
                else torch.as_tensor(sample_weight, device=t.device).float().reshape(-1).expand_as(t.float())
            )
            if self.ignore_class is not None:
                w = w * (t != self.ignore_class)
            self.confusion = self.confusion.to(t.device)
            idx = t * self.num_classes + p
            self.confusion += torch.bincount(idx, w, minlength=self.num_classes**2).reshape(
                self.num_classes, self.num_classes
            )

    def result(self):
        c = self.confusion
        inter = torch.diagonal(c)
        union = c.sum(0) + c.sum(1) - inter
        valid = union > 0
        return torch.where(valid, inter / union.clamp(min=1e-12), torch.zeros_like(inter)).sum() / valid.sum().clamp(
            min=1
        )


_BY_NAME = {
    "accuracy": Accuracy,
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "mape": MeanAbsolutePercentageError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "root_mean_squared_error": RootMeanSquaredError,
    "auc": AUC,
    "precision": Precision,
    "recall": Recall,
}
with_class_names(_BY_NAME)


def get(identifier):
    """A :class:`Metric` from a name, a Metric, or a function ``(y_true, y_pred)``."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        return by_name(_BY_NAME, identifier, "metric", extra_known=("acc",))()
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(f"Could not interpret metric identifier: {identifier!r}")
