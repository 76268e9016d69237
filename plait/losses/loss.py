"""The ``Loss`` base class and Keras's reduction: weight the per-sample values, then sum
(``"sum"``) or divide the sum by the number of values (``"sum_over_batch_size"``, the default)."""

from plait.losses.functions import EPSILON, same_rank
from plait.utils.naming import to_snake_case


def reduce_weighted(values, sample_weight=None, reduction="sum_over_batch_size"):
    """Keras's reduction: weight, then sum (``"sum"``) or sum / number of values."""
    if sample_weight is not None:
        sample_weight = sample_weight.to(values.dtype)
        while sample_weight.dim() > values.dim() and sample_weight.shape[-1] == 1:
            sample_weight = sample_weight.squeeze(-1)
        while sample_weight.dim() < values.dim():
            sample_weight = sample_weight.unsqueeze(-1)
        values = values * sample_weight
    if reduction in (None, "none"):
        return values
    total = values.sum()
    if reduction == "sum":
        return total
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
    weight = sample_weight.to(values.dtype)
    while weight.dim() < mask.dim():
        weight = weight.unsqueeze(-1)
    return weight * mask


class Loss:
    """Base class: ``loss(y_true, y_pred, sample_weight=None) -> scalar``.

    Args:
        reduction: ``"sum_over_batch_size"`` (default), ``"sum"`` or ``"none"``.
        name: name shown in logs.
    """

    fn = None

    def __init__(self, reduction="sum_over_batch_size", name=None, **fn_kwargs):
        if reduction not in ("sum_over_batch_size", "sum", "none", None, "mean"):
            raise ValueError(
                "Invalid value for argument `reduction`: expected 'sum_over_batch_size', 'sum' or "
                f"'none'. Received: reduction={reduction!r}"
            )
        self.reduction = reduction
        self.name = name or to_snake_case(type(self).__name__)
        self.fn_kwargs = fn_kwargs

    def call(self, y_true, y_pred):
        # Keras's LossFunctionWrapper.call: (batch,) targets meet (batch, 1) predictions.
        y_true, y_pred = same_rank(y_true, y_pred)
        return type(self).fn(y_true, y_pred, **self.fn_kwargs)

    def __call__(self, y_true, y_pred, sample_weight=None, mask=None):
        values = self.call(y_true, y_pred)
        if mask is not None:
            sample_weight = apply_mask(values, sample_weight, mask, self.reduction)
        return reduce_weighted(values, sample_weight, self.reduction)

    @property
    def from_logits(self):
        return self.fn_kwargs.get("from_logits", False)

    def with_logits(self):
        """The same loss on logits (for a softmax/sigmoid output layer's pre-activation)."""
        return type(self)(reduction=self.reduction, name=self.name, **{**self.fn_kwargs, "from_logits": True})

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, **self.fn_kwargs}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class LossFunctionWrapper(Loss):
    """Wraps a function ``(y_true, y_pred) -> per-sample values`` as a :class:`Loss`."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, **kwargs):
        super().__init__(reduction, name or getattr(fn, "__name__", "loss"), **kwargs)
        self._fn = fn

    def call(self, y_true, y_pred):
        y_true, y_pred = same_rank(y_true, y_pred)
        return self._fn(y_true, y_pred, **self.fn_kwargs)
