"""GPTQ on one weight matrix (Frantar et al., "GPTQ: Accurate Post-Training Quantization for
Generative Pre-trained Transformers"), following Keras 3.15.

The kernel's input rows are quantized one at a time (as columns of the transposed kernel
``W (out, in)``); the error of column ``j``, ``e = (w_j - q_j) / U[j, j]``, is taken off the
columns still to come in proportion to ``U[j, :]``: at once within a block of 128 columns, and
as one matrix product ``E @ U[block, rest]`` for the columns after the block. ``U`` is the upper
Cholesky factor of the damped inverse Hessian, ``H⁻¹ = UᵀU``: its row ``j`` holds what the
inverse Hessian of the columns not yet quantized says about column ``j``, so these updates are
the optimal-brain-quantization updates of the paper without recomputing any inverse.

Keras 3.15.1 propagates with the rows of the dense inverse ``H⁻¹`` instead, which is exact for
the first column only (the error it leaves can exceed plain rounding's); Keras has since
changed to the Cholesky factor (keras-team/keras#23481), as plait does. Everything else (the
Hessian, damping, groups, activation order, the stored variables) follows Keras 3.15, and
:func:`gptq_quantize_matrix` given Keras 3.15's dense inverse returns Keras 3.15's integers.
One more difference: Keras 3.15 recomputes a group's scale at each block, and fails when a group
spans two blocks (``group_size=-1`` with over 128 inputs, or a size not dividing 128); plait
computes each group's parameters once, when its first column comes.

Example:
    >>> import torch
    >>> from plait.quantizers.gptq import HessianEstimate, gptq_quantize_matrix, inverse_hessian_factor
    >>> _ = torch.manual_seed(0)
    >>> estimate = HessianEstimate(8)
    >>> estimate.update(torch.randn(32, 8))
    >>> factor, _ = inverse_hessian_factor(estimate.hessian, damping=0.01)
    >>> q, scale, zero, g_idx = gptq_quantize_matrix(torch.randn(4, 8), factor, bits=4, group_size=4)
    >>> q.dtype, q.shape, scale.shape, g_idx.tolist()
    (torch.uint8, torch.Size([4, 8]), torch.Size([4, 2]), [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75])
"""

import torch

from plait.quantizers.zero_point import dequantize, group_parameters, quantize


class HessianEstimate:
    """The running mean ``H = 2/N · Σ xᵀx`` over the input rows seen by a layer.

    Args:
        features: size of the inputs' last axis (the kernel's input rows).
    """

    def __init__(self, features):
        self.hessian = torch.zeros(features, features)
        self.count = 0

    def update(self, inputs):
        """Add a batch of inputs ``(..., features)`` (flattened to rows)."""
        x = inputs.detach().reshape(-1, self.hessian.shape[0]).to(device=self.hessian.device, dtype=torch.float32)
        if x.shape[0] == 0:
            raise ValueError("GPTQ calibration received an empty batch of layer inputs.")
        gram = x.T @ x
        gram = (gram + gram.T) / 2  # exactly symmetric whatever the rounding of the product
        total = self.count + x.shape[0]
        if self.count:
            self.hessian *= self.count / total
        self.hessian += (2.0 / total) * gram
        self.count = total


def damped_hessian(hessian, damping):
    """``H + λ·mean(diag H)·I``, a dead input (zero diagonal) first given a diagonal of 1."""
    h = hessian.clone()
    diag = h.diagonal().clone()
    diag.masked_fill_(diag == 0, 1.0)
    diag += damping * diag.mean()
    h.diagonal().copy_(diag)
    return h


def inverse_hessian_factor(hessian, damping):
    """The upper Cholesky factor ``U`` of the damped Hessian's inverse (``H⁻¹ = UᵀU``), and the
    damped Hessian's diagonal (the activation order's metric).

    Raises:
        ValueError: the damped Hessian is not positive definite.
    """
    damped = damped_hessian(hessian, damping)
    lower, info = torch.linalg.cholesky_ex(damped)
    if info.item() == 0:
        factor, info = torch.linalg.cholesky_ex(torch.cholesky_inverse(lower), upper=True)
    if info.item() != 0:
        raise ValueError(
            "GPTQ: the layer's damped input Hessian is not positive definite; raise `hessian_damping` in the "
            f"GPTQConfig (received {damping}) or calibrate on more varied data."
        )
    return factor, damped.diagonal()


def _order(metric):
    # Descending importance; ties (and near-ties below float32's resolution) keep input order.
    n = metric.shape[0]
    metric = torch.where(torch.isfinite(metric), metric, torch.zeros_like(metric))
    jitter = torch.arange(n, dtype=torch.float32) / n * 1e-12
    return torch.argsort(-(metric + jitter), stable=True)


def gptq_quantize_matrix(
    weights,
    inverse_hessian,
    *,
    bits,
    group_size=-1,
    symmetric=False,
    per_channel=True,
    activation_order=False,
    order_metric=None,
    blocksize=128,
):
    """Quantize ``weights (out, in)`` column by column with GPTQ's error feedback.

    Args:
        weights: float ``(out_features, in_features)``, the transposed kernel.
        inverse_hessian: ``(in, in)``: the upper Cholesky factor of the damped inverse Hessian
            (:func:`inverse_hessian_factor`); Keras 3.15's dense inverse gives Keras 3.15's result.
        bits, group_size, symmetric, per_channel: as :func:`group_parameters`; a group's scale
            and zero point come from its columns when its first column is reached.
        activation_order: quantize columns by decreasing ``order_metric`` (default: the
            reciprocal of ``inverse_hessian``'s diagonal); the calibration passes the damped
            Hessian's diagonal, as Keras does.
        blocksize: columns updated at once (default 128).

    Returns:
        ``(quantized (out, in) uint8, scale (out, n_groups), zero (out, n_groups) uint8,
        g_idx (in,) float32)``; ``g_idx`` is ``position / group_size`` (Keras stores the
        fraction; its integer part is the group), in the original column order.
    """
    w = weights.detach().to(torch.float32).clone()
    hinv = inverse_hessian.to(torch.float32)
    columns = w.shape[1]
    perm = None
    if activation_order:
        if order_metric is None:
            order_metric = 1.0 / (hinv.diagonal() + 1e-12)
        perm = _order(order_metric.to(torch.float32))
        w, hinv = w[:, perm], hinv[perm][:, perm]
    group = columns if group_size == -1 else group_size
    quantized = torch.zeros(w.shape, dtype=torch.int32)
    scales, zeros, current = [], [], None
    for start in range(0, columns, blocksize):
        end = min(start + blocksize, columns)
        block = w[:, start:end].clone()
        errors = torch.zeros_like(block)
        local = hinv[start:end, start:end]
        for j in range(end - start):
            first = (start + j) // group * group
            if first != current:
                # The group's parameters come from ``w``, which holds the updates of earlier
                # blocks but not this block's: the order Keras (and the reference) uses.
                current = first
                scale, zero, maxq = group_parameters(
                    w[:, first : first + group], bits=bits, symmetric=symmetric, per_channel=per_channel,
                    group_size=group_size,
                )  # fmt: skip
                scales.append(scale)
                zeros.append(zero)
            q = quantize(block[:, j : j + 1], scale, zero, maxq)
            quantized[:, start + j] = q[:, 0].to(torch.int32)
            error = (block[:, j] - dequantize(q, scale, zero)[:, 0]) / local[j, j]
            errors[:, j] = error
            block[:, j + 1 :] -= torch.outer(error, local[j, j + 1 :])
        if end < columns:
            w[:, end:] -= errors @ hinv[start:end, end:]
    g_idx = torch.arange(columns, dtype=torch.float32) / group
    if perm is not None:
        inverse = torch.argsort(perm)
        g_idx, quantized = g_idx[inverse], quantized[:, inverse]
    return quantized.to(torch.uint8), torch.cat(scales, dim=1), torch.cat(zeros, dim=1), g_idx
