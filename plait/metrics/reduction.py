"""Metrics that reduce: ``Mean`` and ``Sum`` (of given values), ``MeanMetricWrapper`` (the mean
of a function of ``(y_true, y_pred)``), and :func:`mean_metric_class`, which names a wrapper as a
class."""

import sys

import torch

from plait.metrics.metric import Metric, as_tensors


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
        values, sample_weight = as_tensors(values, sample_weight)
        values = values.float()
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


class Sum(Mean):
    """The (weighted) sum of the values given to ``update_state(values, sample_weight)``.

    Example:
        >>> import torch, plait
        >>> m = plait.metrics.Sum()
        >>> m.update_state(torch.tensor([1.0, 3.0, 5.0]), sample_weight=torch.tensor([1.0, 0.0, 2.0]))
        >>> float(m.result())
        11.0
    """

    def result(self):
        return self.total.clone()


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

    @property
    def fn_kwargs(self):
        """The keyword arguments ``fn`` gets on every update (a loss's ``fn_kwargs``, as Keras
        names them)."""
        return self._fn_kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        with torch.no_grad():
            y_true, y_pred, sample_weight = as_tensors(y_true, y_pred, sample_weight)
            super().update_state(self._fn(y_true, y_pred, **self._fn_kwargs), sample_weight)

    def get_config(self):
        # Keras's config of a named wrapper: its name, dtype and the function's arguments.
        return {**super().get_config(), **self._fn_kwargs}


def mean_metric_class(name, fn, default_name=None, **defaults):
    """A :class:`MeanMetricWrapper` subclass named ``name`` that streams the mean of ``fn``; its
    constructor takes ``(name, dtype)`` and ``fn``'s arguments ``defaults`` by keyword (Keras's
    order)."""

    def __init__(self, name=None, dtype=None, **kwargs):
        unknown = set(kwargs) - set(defaults)
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword argument(s) {sorted(unknown)}")
        MeanMetricWrapper.__init__(
            self, fn, name=name or default_name or fn.__name__, dtype=dtype, **{**defaults, **kwargs}
        )

    doc = f"Streaming mean of :func:`{fn.__name__}`" + (f" (arguments: {defaults})." if defaults else ".")
    # The class belongs to the module that names it (for docs, pickling and error messages).
    module = sys._getframe(1).f_globals.get("__name__", __name__)
    __init__.__module__, __init__.__qualname__ = module, f"{name}.__init__"
    return type(name, (MeanMetricWrapper,), {"__init__": __init__, "__doc__": doc, "__module__": module})
