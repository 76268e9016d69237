"""Losses that compare sets rather than values: ``dice`` and ``tversky`` (segmentation masks),
and ``circle`` (embeddings of the same and of different classes)."""

import torch
import torch.nn.functional as F

from plait.losses.functions import EPSILON


def _sums(y_true, y_pred, axis):
    """``(intersection, false positives, false negatives, sum true, sum pred)`` over ``axis``
    (``None``: everything)."""
    y_true = y_true.to(y_pred.dtype)
    dims = () if axis is None else axis

    def total(t):
        return t.sum() if axis is None else t.sum(dim=dims)

    return (
        total(y_true * y_pred),
        total((1.0 - y_pred) * y_true),
        total(y_pred * (1.0 - y_true)),
        total(y_true),
        total(y_pred),
    )


def dice(y_true, y_pred, axis=None):
    """``1 - 2 |A ∩ B| / (|A| + |B|)`` with soft sets: summed over ``axis`` (default: all of it,
    one number for the batch).

    Example:
        >>> import torch
        >>> dice(torch.tensor([[1.0, 1.0, 0.0]]), torch.tensor([[1.0, 0.0, 0.0]]))
        tensor(0.3333)
    """
    inter, _, _, true_sum, pred_sum = _sums(y_true, y_pred, axis)
    return 1.0 - 2.0 * inter / (true_sum + pred_sum + EPSILON)


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """``1 - TP / (TP + alpha FP + beta FN)`` with soft counts, where Keras counts ``FP`` as
    ``(1 - y_pred) * y_true`` and ``FN`` as ``y_pred * (1 - y_true)``; ``alpha = beta = 0.5`` is
    the Dice loss.

    Example:
        >>> import torch
        >>> tversky(torch.tensor([[1.0, 1.0, 0.0]]), torch.tensor([[1.0, 0.0, 0.0]]), alpha=0.7, beta=0.3)
        tensor(0.4118)
    """
    inter, missed, extra, _, _ = _sums(y_true, y_pred, axis)
    return 1.0 - inter / (inter + alpha * missed + beta * extra + EPSILON)


def circle(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal=True, gamma=80, margin=0.4):
    """Circle loss (Sun et al., 2020) of L2-normalised embeddings ``y_pred`` ``(batch, dim)``
    with integer labels ``y_true`` ``(batch,)``, against the references (default: the batch).

    Each pair's cosine distance ``d`` is pushed below ``margin`` for the same label and above
    ``1 - margin`` for different ones, each pair weighted by how far it is from its optimum;
    the loss of a sample is ``softplus(logsumexp(positives) + logsumexp(negatives))``.

    Example:
        >>> import torch
        >>> e = torch.nn.functional.normalize(torch.tensor([[1.0, 0.1], [0.9, 0.2], [0.0, 1.0]]), dim=1)
        >>> circle(torch.tensor([0, 0, 1]), e).shape
        torch.Size([3])
    """
    labels = y_true.long().reshape(-1)
    refs = y_pred if ref_embeddings is None else torch.as_tensor(ref_embeddings, device=y_pred.device)
    ref_labels = labels if ref_labels is None else torch.as_tensor(ref_labels, device=labels.device).long().reshape(-1)
    distance = torch.clamp(1.0 - y_pred @ refs.T, min=0.0)
    same = labels[:, None] == ref_labels[None, :]
    different = ~same
    if remove_diagonal:
        same = same & ~torch.eye(len(labels), len(ref_labels), dtype=torch.bool, device=same.device)
    # Optima: distance -(margin) for positives, 1 + margin for negatives; decision margins
    # margin and 1 - margin.
    pos_weight = torch.clamp((margin + distance) * same, min=0.0)
    neg_weight = torch.clamp((1.0 + margin - distance) * different, min=0.0)
    pos_logits = -gamma * pos_weight * (margin - distance)
    neg_logits = gamma * neg_weight * ((1.0 - margin) - distance)
    minus_inf = torch.tensor(float("-inf"), dtype=distance.dtype, device=distance.device)
    pos = torch.logsumexp(torch.where(same, pos_logits, minus_inf), dim=1)
    neg = torch.logsumexp(torch.where(different, neg_logits, minus_inf), dim=1)
    return F.softplus(pos + neg)
