"""Intersection-over-union metrics: ``MeanIoU``."""

import torch

from plait.metrics.metric import Metric


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
