"""``ctc``: the connectionist temporal classification loss on torch's ``F.ctc_loss``."""

import torch
import torch.nn.functional as F


def ctc(y_true, y_pred):
    """CTC loss per sample (Graves et al., 2006), Keras's convention.

    Args:
        y_true: ``(batch, max_label_length)`` integer labels, padded with 0; class 0 is also
            the blank, so each label's length is its count of non-zero entries.
        y_pred: ``(batch, time, classes)`` logits (a log-softmax is taken); every sample uses
            all ``time`` steps.

    Returns:
        ``(batch,)`` negative log-likelihoods.

    Example:
        >>> import torch
        >>> ctc(torch.tensor([[1, 2]]), torch.zeros(1, 4, 3)).shape
        torch.Size([1])
    """
    if y_true.dim() != 2:
        raise ValueError(
            "ctc: `y_true` must be (batch_size, max_length) integer labels. "
            f"Received: y_true.shape={tuple(y_true.shape)}"
        )
    if y_pred.dim() != 3:
        raise ValueError(
            "ctc: `y_pred` must be (batch_size, max_length, num_classes) logits. "
            f"Received: y_pred.shape={tuple(y_pred.shape)}"
        )
    labels = y_true.long()
    batch, steps = y_pred.shape[:2]
    log_probs = torch.log_softmax(y_pred.float() if y_pred.dtype != torch.float64 else y_pred, dim=-1)
    input_lengths = torch.full((batch,), steps, dtype=torch.long, device=y_pred.device)
    return F.ctc_loss(
        log_probs.transpose(0, 1), labels, input_lengths, (labels != 0).sum(-1), blank=0, reduction="none"
    )
