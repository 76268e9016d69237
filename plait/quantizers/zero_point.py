"""Zero-point (asymmetric) quantization in groups, the arithmetic GPTQ and AWQ share: each
output channel, or each group of input rows of it, gets ``scale = (max - min) / (2**bits - 1)``
and ``zero = round(-min / scale)``, and ``q = clip(round(w / scale + zero), 0, 2**bits - 1)``.

The one change from Keras 3.15: an asymmetric group whose values are all positive has its
range start at 0 (Keras 3.15 gives it a negative zero point that wraps around in uint8).

Weights here are ``(out_features, in_features)`` (the transposed Keras kernel), as both
algorithms walk the input rows of the kernel as columns.

Example:
    >>> import torch
    >>> from plait.quantizers.zero_point import dequantize, group_parameters, quantize
    >>> w = torch.tensor([[-1.0, 0.0, 0.5, 2.0]])
    >>> scale, zero, maxq = group_parameters(w, bits=4)
    >>> q = quantize(w, scale, zero, maxq)
    >>> q.tolist(), zero.tolist(), dequantize(q, scale, zero).tolist()
    ([[0.0, 5.0, 8.0, 15.0]], [[5]], [[-1.0, 0.0, 0.6000000238418579, 2.0]])
"""

import torch


def group_parameters(weights, *, bits, symmetric=False, per_channel=True, group_size=-1):
    """Scale and zero point of each output channel (and group of ``group_size`` input columns).

    Args:
        weights: float tensor ``(out_features, in_features)``.
        bits: bits per quantized value; values run over ``[0, 2**bits - 1]``.
        symmetric: zero point at the middle of the range, and the range symmetric about 0.
        per_channel: statistics per output channel (default); False: over the whole tensor.
        group_size: input columns per group (-1: one group). The last group is padded with
            zeros, which count in its min and max (as Keras computes it).

    Returns:
        ``(scale (out, n_groups) float, zero (out, n_groups) uint8, maxq float)``.
    """
    if weights.ndim != 2 or weights.numel() == 0:
        raise ValueError(f"group_parameters expects a non-empty 2D tensor. Received shape {tuple(weights.shape)}.")
    rows, cols = weights.shape
    groups = -(-cols // group_size) if per_channel and group_size > 0 else 1
    if groups > 1:
        padded = torch.nn.functional.pad(weights, (0, groups * group_size - cols)).reshape(rows, groups, group_size)
        low, high = padded.amin(dim=2), padded.amax(dim=2)
    elif per_channel:
        low, high = weights.amin(dim=1, keepdim=True), weights.amax(dim=1, keepdim=True)
    else:
        low, high = weights.amin().expand(rows, 1), weights.amax().expand(rows, 1)
    if symmetric:
        bound = torch.maximum(low.abs(), high)
        low, high = torch.where(low < 0, -bound, low), bound
    else:
        # A group of positive values starts its range at 0: its zero point would be negative,
        # which Keras 3.15 casts to uint8 (wrapping to 255, ...) and dequantizes wrongly.
        low = torch.clamp(low, max=0.0)
    # A constant group would give a zero range: widen it by one on each side.
    flat = low == high
    low, high = torch.where(flat, low - 1, low), torch.where(flat, high + 1, high)
    maxq = float(2**bits - 1)
    scale = (high - low) / maxq
    scale = torch.where(scale <= 0, torch.full_like(scale, 1e-8), scale)
    zero = torch.full_like(scale, (maxq + 1) / 2) if symmetric else torch.round(-low / scale)
    return scale.contiguous(), zero.to(torch.uint8), maxq


def quantize(weights, scale, zero, maxq):
    """``clip(round(weights / scale + zero), 0, maxq)`` as floats (broadcast over columns)."""
    safe = torch.where(scale == 0, torch.full_like(scale, 1e-8), scale)
    return torch.clamp(torch.round(weights / safe + zero.to(scale.dtype)), 0, maxq)


def dequantize(quantized, scale, zero):
    """``scale * (quantized - zero)``."""
    return scale * (quantized.to(scale.dtype) - zero.to(scale.dtype))


def spread_groups(values, g_idx):
    """Per-group columns ``(out, n_groups)`` spread to one per input column, ``g_idx`` naming
    each column's group (stored as float; the integer part is the group)."""
    return values.index_select(1, g_idx.to(torch.long))
