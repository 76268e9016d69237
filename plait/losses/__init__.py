"""Losses with Keras 3's names, formulas and reduction.

Each loss function maps ``(y_true, y_pred)`` to one value per sample (the mean or sum over the
last axis, as Keras defines it); a :class:`Loss` object then reduces with optional sample
weights: ``sum(values * sample_weight) / number_of_values`` (Keras's ``sum_over_batch_size``).

Probability inputs are clipped to ``[1e-7, 1 - 1e-7]`` as Keras does; with ``from_logits=True``
the log-softmax / log-sigmoid forms are used (``fit`` switches to them automatically when the
model's output layer is a softmax or sigmoid).

Example:
    >>> import torch, plait
    >>> plait.losses.MeanSquaredError()(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 1.0]]))
    tensor(0.5000)
"""

import math

import torch
import torch.nn.functional as F

from plait.utils.registry import by_name, with_class_names

EPSILON = 1e-7


def _float(y):
    return y if y.is_floating_point() else y.float()


def mean_squared_error(y_true, y_pred):
    return torch.mean(torch.square(y_pred - _float(y_true)), dim=-1)


def mean_absolute_error(y_true, y_pred):
    return torch.mean(torch.abs(y_pred - _float(y_true)), dim=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    y_true = _float(y_true)
    diff = torch.abs((y_true - y_pred) / torch.clamp(torch.abs(y_true), min=EPSILON))
    return 100.0 * torch.mean(diff, dim=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    first = torch.log(torch.clamp(y_pred, min=EPSILON) + 1.0)
    second = torch.log(torch.clamp(_float(y_true), min=EPSILON) + 1.0)
    return torch.mean(torch.square(first - second), dim=-1)


def huber(y_true, y_pred, delta=1.0):
    error = torch.abs(y_pred - _float(y_true))
    return torch.mean(torch.where(error <= delta, 0.5 * error**2, delta * error - 0.5 * delta**2), dim=-1)


def log_cosh(y_true, y_pred):
    x = y_pred - _float(y_true)
    return torch.mean(x + F.softplus(-2.0 * x) - math.log(2.0), dim=-1)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    y_true = _float(y_true)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        values = F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
    else:
        p = torch.clamp(y_pred, EPSILON, 1.0 - EPSILON)
        values = -(y_true * torch.log(p) + (1.0 - y_true) * torch.log(1.0 - p))
    return torch.mean(values, dim=axis)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    y_true = _float(y_true)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_pred.shape[axis]
    if from_logits:
        return -torch.sum(y_true * torch.log_softmax(y_pred, dim=axis), dim=axis)
    p = y_pred / torch.sum(y_pred, dim=axis, keepdim=True)
    p = torch.clamp(p, EPSILON, 1.0 - EPSILON)
    return -torch.sum(y_true * torch.log(p), dim=axis)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    if y_true.dim() == y_pred.dim() and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    labels = y_true.long()
    if from_logits:
        log_p = torch.log_softmax(y_pred, dim=axis)
    else:
        p = y_pred / torch.sum(y_pred, dim=axis, keepdim=True)
        log_p = torch.log(torch.clamp(p, EPSILON, 1.0 - EPSILON))
    if ignore_class is not None:
        valid = labels != ignore_class
        labels = torch.where(valid, labels, torch.zeros_like(labels))
    values = -torch.gather(log_p.movedim(axis, -1), -1, labels.unsqueeze(-1)).squeeze(-1)
    if ignore_class is not None:
        values = values * valid
    return values


def kl_divergence(y_true, y_pred):
    y_true = torch.clamp(_float(y_true), EPSILON, 1.0)
    y_pred = torch.clamp(y_pred, EPSILON, 1.0)
    return torch.sum(y_true * torch.log(y_true / y_pred), dim=-1)


def poisson(y_true, y_pred):
    return torch.mean(y_pred - _float(y_true) * torch.log(y_pred + EPSILON), dim=-1)


def _hinge_labels(y_true):
    # Keras converts {0, 1} labels to {-1, 1}.
    y_true = _float(y_true)
    is_binary = torch.all((y_true == 0) | (y_true == 1))
    return torch.where(is_binary, 2.0 * y_true - 1.0, y_true)


def hinge(y_true, y_pred):
    return torch.mean(torch.clamp(1.0 - _hinge_labels(y_true) * y_pred, min=0.0), dim=-1)


def squared_hinge(y_true, y_pred):
    return torch.mean(torch.square(torch.clamp(1.0 - _hinge_labels(y_true) * y_pred, min=0.0)), dim=-1)


def categorical_hinge(y_true, y_pred):
    y_true = _float(y_true)
    pos = torch.sum(y_true * y_pred, dim=-1)
    neg = torch.amax((1.0 - y_true) * y_pred, dim=-1)
    return torch.clamp(neg - pos + 1.0, min=0.0)


def cosine_similarity(y_true, y_pred, axis=-1):
    y_true = F.normalize(_float(y_true), dim=axis, eps=1e-12)
    y_pred = F.normalize(y_pred, dim=axis, eps=1e-12)
    return -torch.sum(y_true * y_pred, dim=axis)


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
        self.name = name or _snake(type(self).__name__)
        self.fn_kwargs = fn_kwargs

    def call(self, y_true, y_pred):
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


def _snake(name):
    from plait.utils.naming import to_snake_case

    return to_snake_case(name)


def _loss_class(name, fn, **defaults):
    def __init__(self, reduction="sum_over_batch_size", name=None, **kwargs):
        unknown = set(kwargs) - set(defaults)
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword argument(s) {sorted(unknown)}")
        Loss.__init__(self, reduction, name, **{**defaults, **kwargs})

    cls = type(
        name,
        (Loss,),
        {
            "fn": staticmethod(fn),
            "__init__": __init__,
            "__doc__": f"Loss class of :func:`{fn.__name__}` (arguments: {defaults or 'none'}).",
        },
    )
    return cls


MeanSquaredError = _loss_class("MeanSquaredError", mean_squared_error)
MeanAbsoluteError = _loss_class("MeanAbsoluteError", mean_absolute_error)
MeanAbsolutePercentageError = _loss_class("MeanAbsolutePercentageError", mean_absolute_percentage_error)
MeanSquaredLogarithmicError = _loss_class("MeanSquaredLogarithmicError", mean_squared_logarithmic_error)
Huber = _loss_class("Huber", huber, delta=1.0)
LogCosh = _loss_class("LogCosh", log_cosh)
BinaryCrossentropy = _loss_class(
    "BinaryCrossentropy", binary_crossentropy, from_logits=False, label_smoothing=0.0, axis=-1
)
CategoricalCrossentropy = _loss_class(
    "CategoricalCrossentropy", categorical_crossentropy, from_logits=False, label_smoothing=0.0, axis=-1
)
SparseCategoricalCrossentropy = _loss_class(
    "SparseCategoricalCrossentropy", sparse_categorical_crossentropy, from_logits=False, ignore_class=None, axis=-1
)
KLDivergence = _loss_class("KLDivergence", kl_divergence)
Poisson = _loss_class("Poisson", poisson)
Hinge = _loss_class("Hinge", hinge)
SquaredHinge = _loss_class("SquaredHinge", squared_hinge)
CategoricalHinge = _loss_class("CategoricalHinge", categorical_hinge)
CosineSimilarity = _loss_class("CosineSimilarity", cosine_similarity, axis=-1)

_CLASSES = {
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mape": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "msle": MeanSquaredLogarithmicError,
    "huber": Huber,
    "huber_loss": Huber,
    "log_cosh": LogCosh,
    "logcosh": LogCosh,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "kl_divergence": KLDivergence,
    "kld": KLDivergence,
    "kullback_leibler_divergence": KLDivergence,
    "poisson": Poisson,
    "hinge": Hinge,
    "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge,
    "cosine_similarity": CosineSimilarity,
}
with_class_names(_CLASSES)


def get(identifier):
    """A :class:`Loss` from a name (``"mse"``), a Loss, or a function ``(y_true, y_pred)``."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        return by_name(_CLASSES, identifier, "loss function")()
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise TypeError(f"Could not interpret loss identifier: {identifier!r}")


class LossFunctionWrapper(Loss):
    """Wraps a function ``(y_true, y_pred) -> per-sample values`` as a :class:`Loss`."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, **kwargs):
        super().__init__(reduction, name or getattr(fn, "__name__", "loss"), **kwargs)
        self._fn = fn

    def call(self, y_true, y_pred):
        return self._fn(y_true, y_pred, **self.fn_kwargs)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kl_divergence

from plait.losses import balancing  # noqa: E402, F401  (``plait.losses.balancing``: loss_weights="auto")
