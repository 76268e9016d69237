"""The ``Loss`` base class and Keras's reduction: weight the per-sample values, then sum
(``"sum"``), divide the sum by the number of values (``"sum_over_batch_size"``, the default, or
``"mean"``) or by the sum of the weights (``"mean_with_sample_weight"``)."""

import numpy as np
import torch

from plait.losses.functions import EPSILON, same_rank
from plait.utils.naming import to_snake_case

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


def _match_rank(weight, values):
    """A sample weight shaped to weigh ``values``: trailing 1s squeezed, or 1s added."""
    while weight.dim() > values.dim() and weight.shape[-1] == 1:
        weight = weight.squeeze(-1)
    while weight.dim() < values.dim():
        weight = weight.unsqueeze(-1)
    return weight


def reduce_weighted(values, sample_weight=None, reduction="sum_over_batch_size"):
    """Keras's reduction: weight, then sum, sum / number of values, or sum / sum of weights."""
    if sample_weight is not None:
        sample_weight = _match_rank(sample_weight.to(values.dtype), values)
        values = values * sample_weight
    if reduction in (None, "none"):
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        weights = sample_weight.expand_as(values).sum()
        return torch.where(weights != 0, total / torch.where(weights != 0, weights, 1.0), 0.0)
    return total / max(values.numel(), 1)


def apply_mask(values, sample_weight, mask, reduction):
    """Keras's ``apply_mask``: masked values get weight 0, and with a mean reduction the valid ones
    get ``total / valid``, so the loss is the mean over valid values only."""
    mask = mask.to(values.dtype)
    while mask.dim() > values.dim():
        mask = mask.squeeze(-1)
    if reduction in ("sum_over_batch_size", "mean"):
        mask = mask * (mask.numel() / (mask.sum() + EPSILON))
    if sample_weight is None:
        return mask
    return _match_rank(sample_weight.to(values.dtype), mask) * mask


def _as_tensor(value, dtype, device=None):
    """A loss input as a tensor of ``dtype`` (Keras casts targets and predictions to the loss's
    dtype); numpy arrays and lists too."""
    if not isinstance(value, torch.Tensor):
        value = torch.as_tensor(np.asarray(value), device=device)
    return value if value.dtype == dtype else value.to(dtype)


class Loss:
    """Base class: ``loss(y_true, y_pred, sample_weight=None) -> scalar``.

    A subclass implements ``call(y_true, y_pred)``, the value per sample; ``__call__`` casts the
    inputs to ``dtype``, then weighs and reduces.

    Args:
        name: name shown in logs (default: the class name in snake case).
        reduction: ``"sum_over_batch_size"`` (default), ``"sum"``, ``"mean"``,
            ``"mean_with_sample_weight"`` or ``"none"``.
        dtype: the dtype the loss is computed in (default ``"float32"``).

    Example:
        >>> import torch, plait
        >>> class Absolute(plait.losses.Loss):
        ...     def call(self, y_true, y_pred):
        ...         return (y_pred - y_true).abs().mean(-1)
        >>> Absolute()(torch.tensor([[1.0, 2.0]]), torch.tensor([[2.0, 2.0]]))
        tensor(0.5000)
    """

    fn = None

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None, **fn_kwargs):
        if reduction not in REDUCTIONS:
            raise ValueError(
                f"Invalid value for argument `reduction`: expected one of {list(REDUCTIONS)}. "
                f"Received: reduction={reduction!r}"
            )
        self.reduction = reduction
        self.name = name or to_snake_case(type(self).__name__)
        self.dtype = "float32" if dtype is None else str(getattr(dtype, "name", dtype)).replace("torch.", "")
        self.fn_kwargs = fn_kwargs

    def __getattr__(self, name):
        # Keras exposes a loss's arguments as attributes (``loss.from_logits``, ``loss.gamma``).
        fn_kwargs = self.__dict__.get("fn_kwargs", {})
        if name in fn_kwargs:
            return fn_kwargs[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def call(self, y_true, y_pred):
        # Keras's LossFunctionWrapper.call: (batch,) targets meet (batch, 1) predictions.
        y_true, y_pred = same_rank(y_true, y_pred)
        return type(self).fn(y_true, y_pred, **self.fn_kwargs)

    def output_mask(self, y_true, y_pred, values):
        """Which of the per-sample ``values`` count (None: all); the mean then runs over those
        only, as Keras does with the mask its loss functions set on their output."""
        return None

    def __call__(self, y_true, y_pred, sample_weight=None, mask=None):
        if mask is None:
            mask = getattr(y_pred, "_keras_mask", None)
        dtype = getattr(torch, self.dtype)
        y_pred = _as_tensor(y_pred, dtype)
        y_true = _as_tensor(y_true, dtype, y_pred.device)
        if sample_weight is not None:
            sample_weight = _as_tensor(sample_weight, dtype, y_pred.device)
        values = self.call(y_true, y_pred)
        own_mask = self.output_mask(y_true, y_pred, values)
        if own_mask is not None:
            mask = own_mask if mask is None else own_mask & mask.bool()
        if mask is not None:
            sample_weight = apply_mask(values, sample_weight, mask, self.reduction)
        return reduce_weighted(values, sample_weight, self.reduction)

    @property
    def from_logits(self):
        return self.fn_kwargs.get("from_logits", False)

    def with_logits(self):
        """The same loss on logits (for a softmax/sigmoid output layer's pre-activation)."""
        return type(self)(
            reduction=self.reduction, name=self.name, **{**self.fn_kwargs, "from_logits": True}, **self._dtype_arg()
        )

    def _dtype_arg(self):
        return {} if self.dtype == "float32" else {"dtype": self.dtype}

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, **self.fn_kwargs}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class LossFunctionWrapper(Loss):
    """Wraps a function ``(y_true, y_pred, **kwargs) -> per-sample values`` as a :class:`Loss`.

    Args:
        fn: the function.
        reduction, name, dtype: as :class:`Loss`'s.
        **kwargs: passed to ``fn`` on every call.
    """

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name or getattr(fn, "__name__", "loss"), reduction, dtype, **kwargs)
        self._fn = fn

    @property
    def fn(self):
        """The wrapped function (Keras's ``LossFunctionWrapper.fn``)."""
        return self._fn

    def call(self, y_true, y_pred):
        y_true, y_pred = same_rank(y_true, y_pred)
        return self._fn(y_true, y_pred, **self.fn_kwargs)
