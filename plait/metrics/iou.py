"""Intersection-over-union metrics from one confusion matrix: ``IoU`` (chosen classes), its mean
over all classes ``MeanIoU``, the one-hot forms ``OneHotIoU``/``OneHotMeanIoU``, and
``BinaryIoU`` (thresholded scores)."""

import torch

from plait.metrics.metric import Metric, as_tensors
from plait.metrics.reduction import broadcast_weight


class IoU(Metric):
    """The mean intersection-over-union ``TP / (TP + FP + FN)`` of the classes
    ``target_class_ids``, from a confusion matrix accumulated over all updates.

    Args:
        num_classes: the number of classes.
        target_class_ids: the classes whose IoUs are averaged.
        name, dtype: as every metric's.
        ignore_class: a label whose entries are left out (e.g. a "void" class).
        sparse_y_true, sparse_y_pred: whether labels / predictions are class ids (default)
            rather than one-hot rows or scores (then the argmax along ``axis`` is taken).
        axis: the class axis of one-hot inputs (default -1).

    Entries whose label or prediction is not a class id in ``[0, num_classes)`` are left out.
    Classes that never occur (no label, no prediction) do not count in the mean.

    Example:
        >>> import torch, plait
        >>> m = plait.metrics.IoU(num_classes=2, target_class_ids=[0])
        >>> m.update_state(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 0, 1]))
        >>> round(float(m.result()), 4)
        0.3333
    """

    def __init__(
        self,
        num_classes,
        target_class_ids,
        name=None,
        dtype=None,
        ignore_class=None,
        sparse_y_true=True,
        sparse_y_pred=True,
        axis=-1,
    ):
        self.num_classes = int(num_classes)
        self.target_class_ids = [int(c) for c in target_class_ids]
        if (
            not self.target_class_ids
            or max(self.target_class_ids) >= self.num_classes
            or min(self.target_class_ids) < 0
        ):
            raise ValueError(
                f"{type(self).__name__}: `target_class_ids` must be class ids in [0, {self.num_classes}). "
                f"Received: target_class_ids={list(target_class_ids)}"
            )
        self.ignore_class, self.axis = ignore_class, axis
        self.sparse_y_true, self.sparse_y_pred = sparse_y_true, sparse_y_pred
        # Keras counts in int32 by default: fractional sample weights are truncated.
        super().__init__(name=name, dtype=dtype or "int32")

    def reset_state(self):
        self.confusion = torch.zeros(self.num_classes, self.num_classes, dtype=torch.float64)

    def _class_ids(self, y_true, y_pred):
        """Labels and predictions as class ids."""
        if not self.sparse_y_true:
            y_true = y_true.argmax(dim=self.axis)
        if not self.sparse_y_pred:
            y_pred = y_pred.argmax(dim=self.axis)
        return y_true, y_pred

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred, sample_weight = as_tensors(y_true, y_pred, sample_weight)
        labels, predictions = self._class_ids(y_true, y_pred)
        w = torch.ones(labels.shape, dtype=torch.float64, device=labels.device)
        if sample_weight is not None:
            # One weight per sample weighs all its entries (Keras needs one per entry).
            w = w * broadcast_weight(sample_weight.to(self._dtype), w).to(torch.float64)
        t, p, w = labels.reshape(-1), predictions.reshape(-1), w.reshape(-1)
        valid = (t >= 0) & (t < self.num_classes) & (p >= 0) & (p < self.num_classes)
        if self.ignore_class is not None:
            valid &= t != self.ignore_class
        t, p = torch.where(valid, t, 0).long(), torch.where(valid, p, 0).long()
        # Row: label, column: prediction; one bincount builds the whole matrix.
        cells = torch.bincount(t * self.num_classes + p, w * valid, minlength=self.num_classes**2)
        self.confusion = self.confusion.to(t.device) + cells.reshape(self.num_classes, self.num_classes)

    def result(self):
        c = self.confusion
        true_positives = torch.diagonal(c)
        union = c.sum(0) + c.sum(1) - true_positives
        ids = torch.tensor(self.target_class_ids, device=c.device)
        true_positives, union = true_positives[ids], union[ids]
        present = union > 1e-9
        iou = torch.where(present, true_positives / (union + 1e-7), torch.zeros_like(union))
        return (iou.sum() / (present.sum() + 1e-7)).float()

    def get_config(self):
        return {
            "name": self.name,
            "dtype": self.dtype,
            "num_classes": self.num_classes,
            "target_class_ids": self.target_class_ids,
            "ignore_class": self.ignore_class,
            "sparse_y_true": self.sparse_y_true,
            "sparse_y_pred": self.sparse_y_pred,
            "axis": self.axis,
        }


class MeanIoU(IoU):
    """The mean IoU over all ``num_classes`` classes (see :class:`IoU` for the arguments).

    Example:
        >>> import torch, plait
        >>> m = plait.metrics.MeanIoU(num_classes=2)
        >>> m.update_state(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 0, 1]))
        >>> round(float(m.result()), 4)
        0.3333
    """

    def __init__(
        self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True, sparse_y_pred=True, axis=-1
    ):
        super().__init__(
            num_classes, range(int(num_classes)), name, dtype, ignore_class, sparse_y_true, sparse_y_pred, axis
        )

    def get_config(self):
        config = super().get_config()
        del config["target_class_ids"]
        return config


class OneHotIoU(IoU):
    """:class:`IoU` of one-hot labels; predictions are scores (argmax) unless ``sparse_y_pred``."""

    def __init__(
        self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_pred=False, axis=-1
    ):
        super().__init__(num_classes, target_class_ids, name, dtype, ignore_class, False, sparse_y_pred, axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config


class OneHotMeanIoU(MeanIoU):
    """:class:`MeanIoU` of one-hot labels; predictions are scores (argmax) unless ``sparse_y_pred``."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, name, dtype, ignore_class, False, sparse_y_pred, axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config


class BinaryIoU(IoU):
    """:class:`IoU` of binary labels and scores: a score at or above ``threshold`` (default 0.5)
    predicts class 1. ``target_class_ids``: ``(0, 1)`` (default, their mean), ``[0]`` or ``[1]``.

    Example:
        >>> import torch, plait
        >>> m = plait.metrics.BinaryIoU(target_class_ids=[0, 1], threshold=0.3)
        >>> m.update_state(torch.tensor([0, 1, 0, 1]), torch.tensor([0.1, 0.2, 0.4, 0.7]))
        >>> round(float(m.result()), 4)
        0.3333
    """

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        self.threshold = threshold
        super().__init__(2, target_class_ids, name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred, sample_weight = as_tensors(y_true, y_pred, sample_weight)
        super().update_state(y_true, (y_pred >= self.threshold).long(), sample_weight)

    def get_config(self):
        return {
            "name": self.name,
            "dtype": self.dtype,
            "target_class_ids": self.target_class_ids,
            "threshold": self.threshold,
        }
