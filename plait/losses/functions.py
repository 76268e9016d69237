"""Loss functions with Keras 3's names and formulas: ``(y_true, y_pred)`` -> one value per sample
(the mean or sum over the last axis, as Keras defines it).

Probability inputs are clipped to ``[1e-7, 1 - 1e-7]`` as Keras does; ``from_logits=True`` uses the
log-softmax / log-sigmoid forms.

Example:
    >>> import torch
    >>> from plait.losses import mean_squared_error
    >>> mean_squared_error(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 1.0]]))
    tensor([0.5000])
"""

import math

import torch
import torch.nn.functional as F

EPSILON = 1e-7


def _float(y):
    return y if y.is_floating_point() else y.float()


def same_rank(y_true, y_pred):
    """Keras's ``squeeze_or_expand_to_same_rank``: when the ranks differ by one and the longer
    one ends in a dimension of 1, squeeze it (or, against a rank-1 tensor, expand that one), so
    ``(batch,)`` targets meet ``(batch, 1)`` predictions sample by sample instead of broadcasting
    to ``(batch, batch)``.

    Example:
        >>> import torch
        >>> [tuple(t.shape) for t in same_rank(torch.zeros(4), torch.zeros(4, 1))]
        [(4, 1), (4, 1)]
    """
    r1, r2 = y_true.dim(), y_pred.dim()
    if r1 == r2 + 1 and y_true.shape[-1] == 1:
        if r2 == 1:
            return y_true, y_pred.unsqueeze(-1)
        return y_true.squeeze(-1), y_pred
    if r2 == r1 + 1 and y_pred.shape[-1] == 1:
        if r1 == 1:
            return y_true.unsqueeze(-1), y_pred
        return y_true, y_pred.squeeze(-1)
    return y_true, y_pred


def mean_squared_error(y_true, y_pred):
    y_true, y_pred = same_rank(y_true, y_pred)
    return torch.mean(torch.square(y_pred - _float(y_true)), dim=-1)


def mean_absolute_error(y_true, y_pred):
    y_true, y_pred = same_rank(y_true, y_pred)
    return torch.mean(torch.abs(y_pred - _float(y_true)), dim=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    y_true, y_pred = same_rank(y_true, y_pred)
    y_true = _float(y_true)
    diff = torch.abs((y_true - y_pred) / torch.clamp(torch.abs(y_true), min=EPSILON))
    return 100.0 * torch.mean(diff, dim=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    y_true, y_pred = same_rank(y_true, y_pred)
    first = torch.log(torch.clamp(y_pred, min=EPSILON) + 1.0)
    second = torch.log(torch.clamp(_float(y_true), min=EPSILON) + 1.0)
    return torch.mean(torch.square(first - second), dim=-1)


def huber(y_true, y_pred, delta=1.0):
    y_true, y_pred = same_rank(y_true, y_pred)
    error = torch.abs(y_pred - _float(y_true))
    return torch.mean(torch.where(error <= delta, 0.5 * error**2, delta * error - 0.5 * delta**2), dim=-1)


def log_cosh(y_true, y_pred):
    y_true, y_pred = same_rank(y_true, y_pred)
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


def binary_focal_crossentropy(
    y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1
):
    """Binary crossentropy scaled by ``(1 - p_t) ** gamma`` (Lin et al., 2017), so confident,
    correct predictions count less; ``apply_class_balancing`` also weighs positives by
    ``alpha`` and negatives by ``1 - alpha``. Mean over ``axis``.

    Example:
        >>> import torch
        >>> binary_focal_crossentropy(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.9, 0.4]]))
        tensor([0.0414])
    """
    y_true = _float(y_true)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    # Keras takes the sigmoid first, then the clipped crossentropy (not the log-sigmoid form).
    p = torch.sigmoid(y_pred) if from_logits else y_pred
    clipped = torch.clamp(p, EPSILON, 1.0 - EPSILON)
    bce = -(y_true * torch.log(clipped) + (1.0 - y_true) * torch.log1p(-clipped))
    p_true = y_true * p + (1.0 - y_true) * (1.0 - p)  # the probability given to the target
    values = torch.pow(1.0 - p_true, gamma) * bce
    if apply_class_balancing:
        values = values * (y_true * alpha + (1.0 - y_true) * (1.0 - alpha))
    return torch.mean(values, dim=axis)


def categorical_focal_crossentropy(
    y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1
):
    """Categorical crossentropy with each class's term scaled by ``alpha * (1 - p) ** gamma``
    (Lin et al., 2017). Sum over ``axis`` (the classes).

    Example:
        >>> import torch
        >>> categorical_focal_crossentropy(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.4, 0.6]]))
        tensor([0.0204])
    """
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise ValueError(f"categorical_focal_crossentropy: `axis` must be an int. Received: axis={axis!r}")
    y_true = _float(y_true)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_pred.shape[axis]
    p = torch.softmax(y_pred, dim=axis) if from_logits else y_pred / torch.sum(y_pred, dim=axis, keepdim=True)
    p = torch.clamp(p, EPSILON, 1.0 - EPSILON)
    return torch.sum(alpha * torch.pow(1.0 - p, gamma) * -y_true * torch.log(p), dim=axis)


def categorical_generalized_cross_entropy(y_true, y_pred, q):
    """Generalized crossentropy (Zhang and Sabuncu, 2018): ``(1 - p_y ** q) / q`` for integer
    labels ``y`` and class probabilities ``y_pred``; ``q`` in ``(0, 1)`` moves it from
    crossentropy (``q -> 0``) to the noise-robust mean absolute error (``q = 1``).

    Example:
        >>> import torch
        >>> categorical_generalized_cross_entropy(torch.tensor([1]), torch.tensor([[0.75, 0.25]]), q=0.5)
        tensor([1.])
    """
    labels = y_true.long()
    if labels.dim() == y_pred.dim() and labels.shape[-1] == 1:
        labels = labels.squeeze(-1)
    p_true = torch.gather(y_pred, -1, labels.unsqueeze(-1)).squeeze(-1)
    return (1.0 - torch.pow(p_true, q)) / q


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
    y_true, y_pred = same_rank(y_true, y_pred)
    y_true = F.normalize(_float(y_true), dim=axis, eps=1e-12)
    y_pred = F.normalize(y_pred, dim=axis, eps=1e-12)
    return -torch.sum(y_true * y_pred, dim=axis)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kl_divergence
