"""Connectionist temporal classification (CTC) ops of :mod:`plait.ops.nn`: the loss on torch's
``F.ctc_loss``, and greedy and prefix beam-search decoding.

Inputs are batch-major, ``(batch, time, classes)`` scores, as in Keras (torch's loss wants
time-major log-probabilities). A decoded label sequence is padded with -1 to the input's length.
"""

import functools
import math

import torch
import torch.nn.functional as F

from plait.ops._backend import convert_to_tensor, result_type, standardize_dtype, to_torch_dtype
from plait.ops._op import op

_nn_op = functools.partial(op, family="nn")


def _float_scores(x):
    # Scores are computed in float32 or wider (TensorFlow's ctc promotes so).
    x = convert_to_tensor(x)
    return x.to(to_torch_dtype(result_type(standardize_dtype(x.dtype), "float32")))


@_nn_op
def ctc_loss(target, output, target_length, output_length, mask_index=0):
    """CTC loss: ``-log p(target | output)``, summed over every alignment of the labels to the
    time steps (with blanks and repeats).

    Args:
        target: ``(batch, max_label_length)`` integer labels.
        output: ``(batch, time, classes)`` unnormalised scores (logits); a log-softmax runs here.
        target_length: ``(batch,)`` the number of labels of each sample.
        output_length: ``(batch,)`` the number of valid time steps of each sample.
        mask_index: the blank class. Defaults to 0.

    Returns:
        ``(batch,)`` losses.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> logits = torch.zeros(1, 2, 2)  # two steps, classes {blank, 1}, uniform
        >>> ops.ctc_loss(torch.tensor([[1]]), logits, torch.tensor([1]), torch.tensor([2]))
        tensor([0.2877])
    """
    log_probs = F.log_softmax(_float_scores(output).transpose(0, 1), dim=-1)
    return F.ctc_loss(
        log_probs,
        convert_to_tensor(target),
        convert_to_tensor(output_length),
        convert_to_tensor(target_length),
        blank=mask_index,
        reduction="none",
    )


def _greedy(scores, lengths, merge_repeated, blank):
    """Best class per step; repeats merged, blanks dropped, labels moved to the front."""
    batch, steps, _ = scores.shape
    best, labels = scores.max(dim=-1)
    valid = torch.arange(steps, device=scores.device) < lengths[:, None]
    labels = torch.where(valid, labels, blank)
    if merge_repeated:
        repeated = torch.zeros_like(valid)
        repeated[:, 1:] = labels[:, 1:] == labels[:, :-1]
        labels = torch.where(repeated, blank, labels)
    kept = labels != blank
    # A stable sort on "dropped" brings the kept labels forward in their order.
    order = torch.sort((~kept).to(torch.int8), dim=1, stable=True).indices
    decoded = torch.where(kept, labels, -1).gather(1, order).to(torch.int32)
    # Keras reports the negated sum of the chosen scores.
    return decoded[None], -torch.where(valid, best, 0).sum(dim=1, keepdim=True)


def _merge(groups, count, log_scores):
    """Log-sum-exp of ``log_scores`` within each group (``groups``: a group index per score)."""
    top = log_scores.max()
    if not torch.isfinite(top):
        return torch.full((count,), -math.inf, dtype=log_scores.dtype, device=log_scores.device)
    sums = torch.zeros(count, dtype=log_scores.dtype, device=log_scores.device)
    return torch.log(sums.index_add_(0, groups, torch.exp(log_scores - top))) + top


def _beam_search_one(log_probs, steps, beam_width, top_paths, blank):
    """CTC prefix beam search over one sample's ``(time, classes)`` log-probabilities.

    Each prefix (a label sequence, a row padded with -1) carries two log-probabilities: of the
    alignments that end in a label (``emit``) and of those that end in a blank. At each step a
    prefix stays (a blank, or its last label repeated) or grows by a label; a label equal to the
    last one grows the prefix only after a blank. Equal prefixes merge, the ``beam_width`` most
    probable go on.
    """
    length, classes = log_probs.shape
    device, dtype = log_probs.device, log_probs.dtype
    labels = torch.tensor([c for c in range(classes) if c != blank], device=device)
    prefixes = torch.full((1, length), -1, dtype=torch.int64, device=device)
    sizes = torch.zeros(1, dtype=torch.int64, device=device)
    emit = torch.full((1,), -math.inf, dtype=dtype, device=device)
    ends_blank = torch.zeros(1, dtype=dtype, device=device)
    for t in range(max(steps, 1)):
        lp = log_probs[t]
        total = torch.logaddexp(emit, ends_blank)
        last = prefixes.gather(1, (sizes - 1).clamp(min=0)[:, None])[:, 0]
        last = torch.where(sizes > 0, last, -1)
        # Staying: a blank (from either ending), or the last label again (collapsed).
        stay_blank = total + lp[blank]
        stay_emit = torch.where(sizes > 0, emit + lp[last.clamp(min=0)], -math.inf)
        # Growing by each label; after its own last label, only from a blank ending.
        source = torch.where(labels[None, :] == last[:, None], ends_blank[:, None], total[:, None])
        grow_emit = (source + lp[labels][None, :]).flatten()
        grown = prefixes.repeat_interleave(len(labels), dim=0)
        grown_sizes = sizes.repeat_interleave(len(labels))
        grown.scatter_(1, grown_sizes[:, None].clamp(max=length - 1), labels.repeat(len(prefixes))[:, None])
        candidates = torch.cat([prefixes, grown])
        unique, groups = torch.unique(candidates, dim=0, return_inverse=True)
        emit = _merge(groups, len(unique), torch.cat([stay_emit, grow_emit]))
        ends_blank = _merge(groups, len(unique), torch.cat([stay_blank, torch.full_like(grow_emit, -math.inf)]))
        best = torch.sort(torch.logaddexp(emit, ends_blank), descending=True, stable=True).indices[:beam_width]
        prefixes, emit, ends_blank = unique[best], emit[best], ends_blank[best]
        sizes = (prefixes >= 0).sum(dim=1)
    scores = torch.logaddexp(emit, ends_blank)
    order = torch.sort(scores, descending=True, stable=True).indices[:top_paths]
    paths, scores = prefixes[order], scores[order]
    missing = top_paths - len(order)  # fewer prefixes than asked for: empty ones, probability 0
    if missing:
        paths = torch.cat([paths, torch.full((missing, length), -1, dtype=paths.dtype, device=device)])
        scores = torch.cat([scores, torch.full((missing,), -math.inf, dtype=dtype, device=device)])
    return paths, scores


@_nn_op
def ctc_decode(
    inputs,
    sequence_lengths,
    strategy="greedy",
    beam_width=100,
    top_paths=1,
    merge_repeated=True,
    mask_index=0,
):
    """Decodes CTC outputs into label sequences.

    ``"greedy"`` takes the best class of each step, merges repeats (``merge_repeated``) and
    drops blanks. ``"beam_search"`` runs a prefix beam search over the log-softmax of
    ``inputs`` and returns the ``top_paths`` most probable sequences.

    Args:
        inputs: ``(batch, time, classes)`` scores.
        sequence_lengths: ``(batch,)`` the number of valid steps of each sample.
        strategy: ``"greedy"`` (default) or ``"beam_search"``.
        beam_width: the prefixes kept per step (beam search). Defaults to 100.
        top_paths: the sequences returned (beam search). Defaults to 1.
        merge_repeated: merge repeated classes (greedy). Defaults to True.
        mask_index: the blank class; ``None`` means the last. Defaults to 0.

    Returns:
        ``(paths, scores)``: ``paths`` ``(top_paths, batch, time)`` int32 labels padded with -1
        (``top_paths`` is 1 for greedy); ``scores`` ``(batch, top_paths)``: for greedy the
        negated sum of the chosen scores, for beam search each sequence's log-probability.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> scores = torch.eye(3)[[1, 1, 0, 2, 2]][None]  # steps: 1 1 blank 2 2
        >>> ops.ctc_decode(scores, torch.tensor([5]))[0]
        tensor([[[ 1,  2, -1, -1, -1]]], dtype=torch.int32)
    """
    scores = _float_scores(inputs)
    lengths = convert_to_tensor(sequence_lengths).to(device=scores.device, dtype=torch.int64)
    blank = scores.shape[-1] - 1 if mask_index is None else mask_index
    if strategy == "greedy":
        return _greedy(scores, lengths, merge_repeated, blank)
    if strategy != "beam_search":
        raise ValueError(f"ops.ctc_decode: `strategy` must be 'greedy' or 'beam_search'. Received: {strategy!r}")
    log_probs = F.log_softmax(scores, dim=-1)
    results = [
        _beam_search_one(log_probs[b], int(lengths[b]), beam_width, top_paths, blank) for b in range(len(log_probs))
    ]
    paths = torch.stack([p for p, _ in results], dim=1).to(torch.int32)
    return paths, torch.stack([s for _, s in results])
