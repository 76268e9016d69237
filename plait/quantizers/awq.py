"""AWQ on one weight matrix (Lin et al., "AWQ: Activation-aware Weight Quantization for LLM
Compression and Acceleration"), with Keras 3.15's numbers.

Each input row ``i`` of the kernel is multiplied by ``s_i = a_i ** r`` (``a_i`` the largest
input magnitude seen on row ``i``, the scales divided by ``sqrt(max s · min s)``) before 4-bit
zero-point quantization, and divided by ``s_i`` again when the layer runs: rows that meet large
inputs get finer steps. ``r`` is the grid point of ``0, 1/n, ..., 1`` with the least error
``mean((W - Ŵ)² · a²)``.

Example:
    >>> import torch
    >>> from plait.quantizers.awq import awq_quantize_matrix
    >>> _ = torch.manual_seed(0)
    >>> q, scale, zero, awq_scales, g_idx = awq_quantize_matrix(torch.randn(4, 8), torch.rand(8) * 3, group_size=4)
    >>> q.dtype, scale.shape, awq_scales.shape, g_idx.tolist()
    (torch.uint8, torch.Size([4, 2]), torch.Size([8]), [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0])
"""

import torch

from plait.quantizers.zero_point import dequantize, group_parameters, quantize, spread_groups

BITS = 4


class ActivationMaxima:
    """The largest absolute input seen on each of a layer's input rows.

    Args:
        features: size of the inputs' last axis.
    """

    def __init__(self, features):
        self.maxima = torch.zeros(features)
        self.count = 0

    def update(self, inputs):
        """Take a batch of inputs ``(..., features)`` into account."""
        x = inputs.detach().reshape(-1, self.maxima.shape[0]).to(device=self.maxima.device, dtype=torch.float32)
        if x.shape[0] == 0:
            raise ValueError("AWQ calibration received an empty batch of layer inputs.")
        torch.maximum(self.maxima, x.abs().amax(dim=0), out=self.maxima)
        self.count += x.shape[0]


def _quantize_scaled(weights, group_size):
    """4-bit zero-point quantization of ``weights (out, in)`` in groups of input columns:
    ``(quantized, scale, zero, g_idx)`` with ``g_idx`` the integer group of each column."""
    scale, zero, maxq = group_parameters(weights, bits=BITS, group_size=group_size)
    columns = weights.shape[1]
    if group_size == -1:
        return quantize(weights, scale, zero, maxq), scale, zero, torch.zeros(columns)
    g_idx = torch.div(torch.arange(columns), group_size, rounding_mode="floor").to(torch.float32)
    q = quantize(weights, spread_groups(scale, g_idx), spread_groups(zero, g_idx), maxq)
    return q, scale, zero, g_idx


def awq_search_scales(weights, activation_maxima, *, num_grid_points=20, group_size=-1):
    """The per-input-row scales of the grid point with the least activation-weighted error.

    Args:
        weights: float ``(out_features, in_features)``.
        activation_maxima: ``(in_features,)`` largest input magnitudes (below 1e-8 read as 1).
        num_grid_points: the ratio grid has ``num_grid_points + 1`` points over ``[0, 1]``.
        group_size: as in the quantization (-1: one group per output channel).

    Returns:
        ``(in_features,)`` float scales.
    """
    weights = weights.to(torch.float32)
    a = activation_maxima.to(torch.float32)
    a = torch.where(a < 1e-8, torch.ones_like(a), a)
    importance = a.square()
    best, best_loss = torch.ones_like(a), None
    for step in range(num_grid_points + 1):
        ratio = step / num_grid_points
        scales = torch.clamp(a.pow(ratio) if ratio else torch.ones_like(a), min=1e-4)
        scales = scales / torch.clamp(torch.sqrt(scales.max() * scales.min()), min=1e-8)
        q, scale, zero, g_idx = _quantize_scaled(weights * scales, group_size)
        if group_size != -1:
            scale, zero = spread_groups(scale, g_idx), spread_groups(zero, g_idx)
        restored = dequantize(q, scale, zero) / scales
        loss = ((weights - restored).square() * importance).mean()
        if best_loss is None or loss < best_loss:  # the first of equal losses wins
            best, best_loss = scales, loss
    return best


def awq_quantize_matrix(weights, activation_maxima, *, num_grid_points=20, group_size=-1):
    """Search the AWQ scales, then quantize ``weights * scales`` to 4 bits.

    Returns:
        ``(quantized (out, in) uint8, scale (out, n_groups), zero (out, n_groups) uint8,
        awq_scales (in,), g_idx (in,) float32)``.
    """
    scales = awq_search_scales(weights, activation_maxima, num_grid_points=num_grid_points, group_size=group_size)
    q, scale, zero, g_idx = _quantize_scaled(weights.to(torch.float32) * scales, group_size)
    return q.to(torch.uint8), scale, zero, scales, g_idx
