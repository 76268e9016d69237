"""Metrics that average: ``Mean`` (of given values) and ``MeanMetricWrapper`` (of a function of
``(y_true, y_pred)``), and :func:`mean_metric_class`, which names a wrapper as a class."""

import torch

from plait.metrics.metric import Metric


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
            w = broadcast_weight(sample_weight, values)
            self.total += (values * w).sum()
            self.count += w.expand_as(values).sum()
        else:
            self.total += values.sum()
            self.count += values.numel()

    def result(self):
        return torch.where(self.count > 0, self.total / self.count.clamp(min=1e-12), torch.zeros(()))


def broadcast_weight(sample_weight, values):
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


def mean_metric_class(name, fn, **defaults):
    """A :class:`MeanMetricWrapper` subclass named ``name`` that streams the mean of ``fn``."""

    def __init__(self, name=None, dtype=None, **kwargs):
        MeanMetricWrapper.__init__(self, fn, name=name or _default_name, dtype=dtype, **{**defaults, **kwargs})

    _default_name = fn.__name__
    return type(name, (MeanMetricWrapper,), {"__init__": __init__, "__doc__": f"Streaming mean of ``{fn.__name__}``."})
