"""Encoding, loss, normalization and attention ops of :mod:`plait.ops.nn`.

Each is torch's own kernel where one exists (``F.one_hot``, ``F.cross_entropy``,
``F.layer_norm``, ``F.rms_norm``, ``F.scaled_dot_product_attention``, ``torch.polar``) with
Keras's conventions around it. Where Keras's numbers differ from torch's defaults, the code says
so: crossentropy on probabilities clips them to ``[epsilon, 1 - epsilon]``; half-precision
statistics are computed in float32; a boolean attention mask becomes a large negative bias, so a
fully masked row attends uniformly instead of giving NaN.
"""

import functools
import math

import torch
import torch.nn.functional as F

from plait.ops._backend import convert_to_tensor, floatx, result_type, standardize_dtype, to_torch_dtype
from plait.ops._backend import epsilon as default_epsilon
from plait.ops._op import op
from plait.utils import settings

_nn_op = functools.partial(op, family="nn")


# ----------------------------------------------------------------------------- encodings
@_nn_op
def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    """One-hot encoding: each integer of ``x`` becomes a vector of ``num_classes`` zeros with a 1
    at that index; negative indices give all zeros.

    Args:
        x: integer tensor of class indices.
        num_classes: the length of the encoding.
        axis: where the new axis goes in the output. Defaults to -1 (last).
        dtype: the output dtype. Defaults to ``floatx()`` ("float32").
        sparse: must be False (torch's sparse tensors are not Keras's).

    Returns:
        ``x``'s shape with a ``num_classes`` axis inserted at ``axis``.

    Example:
        >>> from plait import ops
        >>> ops.one_hot([2, -1], 3)
        tensor([[0., 0., 1.],
                [0., 0., 0.]])
    """
    if sparse:
        raise ValueError("ops.one_hot: sparse=True is not supported on torch; use sparse=False.")
    x = convert_to_tensor(x, dtype="int64")
    # F.one_hot refuses negative indices; encode them as class 0 and then zero their rows.
    encoded = F.one_hot(x.clamp(min=0), num_classes) * (x >= 0).unsqueeze(-1)
    encoded = encoded.to(to_torch_dtype(dtype or floatx()))
    return encoded if axis == -1 else encoded.movedim(-1, axis)


@_nn_op
def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    """Multi-hot encoding: a 1 for every class index that appears in a sample.

    A rank-2 input ``(batch, indices)`` gives ``(batch, num_classes)``; a rank-1 input is one
    sample.

    Args:
        inputs: integer tensor of class indices.
        num_classes: the length of the encoding (``num_tokens`` is accepted as its old name).
        axis: where the class axis goes in the one-hot step. Defaults to -1.
        dtype: the output dtype. Defaults to ``floatx()``.
        sparse: must be False.

    Example:
        >>> from plait import ops
        >>> ops.multi_hot([[0, 2], [1, 1]], 3)
        tensor([[1., 0., 1.],
                [0., 1., 0.]])
    """
    if num_classes is None:
        num_classes = kwargs.pop("num_tokens", None)
    if kwargs:
        raise TypeError(f"ops.multi_hot got unexpected keyword arguments {sorted(kwargs)}.")
    if num_classes is None:
        raise ValueError("ops.multi_hot: the argument `num_classes` must be specified.")
    x = convert_to_tensor(inputs)
    return torch.amax(one_hot(x, num_classes, axis, dtype, sparse), dim=1 if x.ndim > 1 else 0)


# ----------------------------------------------------------------------------- crossentropies
def _clipped_log(probabilities, axis=None):
    # Keras's crossentropy on probabilities: rescale to sum 1 (when it is a distribution over
    # `axis`), clip to [eps, 1 - eps] so log stays finite, then log.
    if axis is not None:
        probabilities = probabilities / probabilities.sum(dim=axis, keepdim=True)
    eps = default_epsilon()
    return torch.log(probabilities.clamp(eps, 1.0 - eps))


def _same_shape(name, target, output):
    if target.shape != output.shape:
        raise ValueError(
            f"ops.{name}: `target` and `output` must have the same shape. "
            f"Received: target.shape={tuple(target.shape)}, output.shape={tuple(output.shape)}"
        )


@_nn_op
def binary_crossentropy(target, output, from_logits=False):
    """Element-wise binary crossentropy ``-(t * log(p) + (1 - t) * log(1 - p))``.

    Args:
        target: labels in ``[0, 1]``, ``output``'s shape.
        output: probabilities (clipped to ``[1e-7, 1 - 1e-7]``) or, with ``from_logits=True``,
            logits (the stable ``binary_cross_entropy_with_logits`` form).
        from_logits: whether ``output`` holds logits. Defaults to False.

    Returns:
        The loss of each element, ``output``'s shape.

    Example:
        >>> from plait import ops
        >>> ops.binary_crossentropy([1.0, 0.0], [0.9, 0.2])
        tensor([0.1054, 0.2231])
    """
    output = convert_to_tensor(output)
    target = convert_to_tensor(target)
    _same_shape("binary_crossentropy", target, output)
    target = target.to(output.dtype)
    if from_logits:
        return F.binary_cross_entropy_with_logits(output, target, reduction="none")
    eps = default_epsilon()
    return F.binary_cross_entropy(output.clamp(eps, 1.0 - eps), target, reduction="none")


@_nn_op
def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Crossentropy ``-sum(target * log(output))`` between distributions along ``axis``.

    Args:
        target: one-hot (or soft) labels, ``output``'s shape.
        output: probabilities (rescaled to sum 1, clipped to ``[1e-7, 1 - 1e-7]``) or, with
            ``from_logits=True``, logits (a log-softmax).
        from_logits: whether ``output`` holds logits. Defaults to False.
        axis: the class axis. Defaults to -1.

    Returns:
        The loss of each sample: ``output``'s shape without ``axis``.

    Example:
        >>> from plait import ops
        >>> ops.categorical_crossentropy([[0.0, 1.0]], [[0.5, 0.5]])
        tensor([0.6931])
    """
    target, output = convert_to_tensor(target), convert_to_tensor(output)
    _same_shape("categorical_crossentropy", target, output)
    if output.ndim < 1:
        raise ValueError(
            "ops.categorical_crossentropy: `target` and `output` must be at least rank 1. Received scalars."
        )
    log_p = F.log_softmax(output, dim=axis) if from_logits else _clipped_log(output, axis)
    return -(target * log_p).sum(dim=axis)


@_nn_op
def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Crossentropy with integer labels: ``-log(output[target])`` along ``axis``, without
    building a one-hot matrix (torch's ``cross_entropy`` / ``nll_loss``).

    Args:
        target: integer class indices, ``output``'s shape without ``axis`` (a trailing axis of
            size 1 is accepted too).
        output: probabilities (rescaled to sum 1, clipped to ``[1e-7, 1 - 1e-7]``) or, with
            ``from_logits=True``, logits.
        from_logits: whether ``output`` holds logits. Defaults to False.
        axis: the class axis of ``output``. Defaults to -1.

    Returns:
        The loss of each sample, ``target``'s shape.

    Example:
        >>> from plait import ops
        >>> ops.sparse_categorical_crossentropy([1], [[0.5, 0.5]])
        tensor([0.6931])
    """
    target, output = convert_to_tensor(target, dtype="int64"), convert_to_tensor(output)
    if output.ndim < 1:
        raise ValueError("ops.sparse_categorical_crossentropy: `output` must be at least rank 1. Received a scalar.")
    if target.ndim == output.ndim and target.shape[axis] == 1:
        target = target.squeeze(axis)
    expected = output.shape[: axis % output.ndim] + output.shape[axis % output.ndim + 1 :]
    if target.shape != expected:
        raise ValueError(
            "ops.sparse_categorical_crossentropy: `target` must have `output`'s shape without the class "
            f"axis. Received: target.shape={tuple(target.shape)}, output.shape={tuple(output.shape)}"
        )
    # torch's losses want the classes on axis 1 (and a batch axis).
    scores = output.movedim(axis, 1) if output.ndim > 1 else output.unsqueeze(0)
    labels = target if output.ndim > 1 else target.unsqueeze(0)
    if from_logits:
        loss = F.cross_entropy(scores, labels, reduction="none")
    else:
        loss = F.nll_loss(_clipped_log(scores, 1), labels, reduction="none")
    return loss if output.ndim > 1 else loss.squeeze(0)


# ----------------------------------------------------------------------------- statistics and normalization
def _in_float32(x):
    # float16 statistics overflow; compute them in float32 (Keras's rule).
    return x.float() if x.dtype == torch.float16 else x


def _back_to(value, dtype):
    if value.dtype == dtype:
        return value
    info = torch.finfo(dtype)
    return value.clamp(info.min, info.max).to(dtype)


@_nn_op
def moments(x, axes, keepdims=False, synchronized=False):
    """Mean and (biased) variance of ``x`` over ``axes``.

    Args:
        x: input tensor.
        axes: int or sequence of ints, the axes to reduce.
        keepdims: keep the reduced axes with size 1. Defaults to False.
        synchronized: when a ``torch.distributed`` process group is running, reduce over the
            whole group's data (summed with ``all_reduce``, gradients flowing), as in
            cross-replica batch normalization. Defaults to False.

    Returns:
        ``(mean, variance)``, in ``x``'s dtype (float16 is computed in float32).

    Example:
        >>> from plait import ops
        >>> ops.moments([[1.0, 2.0], [3.0, 6.0]], axes=0)
        (tensor([2., 4.]), tensor([1., 4.]))
    """
    x = convert_to_tensor(x)
    z = _in_float32(x)
    axes = tuple(axes) if isinstance(axes, (list, tuple)) else (axes,)
    if synchronized and torch.distributed.is_available() and torch.distributed.is_initialized():
        count = torch.tensor(float(math.prod(z.shape[a] for a in axes)), dtype=z.dtype, device=z.device)
        torch.distributed.all_reduce(count)  # processes may hold batches of different sizes
        sums = _SumOverProcesses.apply(torch.stack([z.sum(axes, keepdim=True), (z * z).sum(axes, keepdim=True)]))
        mean = sums[0] / count
        variance = (sums[1] / count - mean * mean).clamp(min=0)
        if not keepdims:
            mean, variance = mean.squeeze(axes), variance.squeeze(axes)
    else:
        variance, mean = torch.var_mean(z, dim=axes, correction=0, keepdim=keepdims)
    return _back_to(mean, x.dtype), _back_to(variance, x.dtype)


class _SumOverProcesses(torch.autograd.Function):
    """``all_reduce`` (sum) over the default process group; the gradient is summed likewise."""

    @staticmethod
    def forward(ctx, x):
        total = x.clone()
        torch.distributed.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx, grad):
        return _SumOverProcesses.apply(grad)


@_nn_op
def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    """Normalises ``x`` with given statistics: ``(x - mean) / sqrt(variance + epsilon) * scale + offset``.

    Args:
        x: input tensor.
        mean: 1-D, one value per index of ``axis``.
        variance: 1-D, like ``mean``.
        axis: the axis the statistics run along (the features; -1 for channels_last).
        offset: optional 1-D shift (beta).
        scale: optional 1-D factor (gamma).
        epsilon: added to the variance. Defaults to 1e-3.

    Returns:
        ``x``'s shape.

    Example:
        >>> from plait import ops
        >>> ops.batch_normalization([[1.0, 4.0]], [0.0, 2.0], [1.0, 4.0], axis=-1, epsilon=0.0)
        tensor([[1., 1.]])
    """
    x = convert_to_tensor(x)
    shape = [1] * x.ndim
    shape[axis] = -1

    def along_axis(v):
        return convert_to_tensor(v).reshape(shape)

    inv = torch.rsqrt(along_axis(variance) + epsilon)
    if scale is not None:
        inv = inv * along_axis(scale)
    y = (x - along_axis(mean)) * inv
    return y if offset is None else y + along_axis(offset)


def _normalization_input(x):
    # Normalizations compute in float32 or wider and return x's dtype (Keras's mixed-precision rule).
    x = convert_to_tensor(x)
    original = x.dtype
    return x.to(to_torch_dtype(result_type(standardize_dtype(original), "float32"))), original


def _sorted_axes(axis, ndim):
    axes = [axis] if isinstance(axis, int) else list(axis)
    return sorted(a % ndim for a in axes)


@_nn_op
def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs):
    """Layer normalization: each sample standardised over ``axis``, then scaled and shifted:
    ``(x - mean) / sqrt(var + epsilon) * gamma + beta``.

    Args:
        x: input tensor.
        gamma: optional scale, the shape of the normalised axes.
        beta: optional shift, the shape of the normalised axes.
        axis: int or sequence, the axes normalised together. Defaults to -1.
        epsilon: added to the variance. Defaults to ``epsilon()`` (1e-7).
        **kwargs: ``rms_scaling=True`` divides by ``sqrt(var + epsilon)`` without centring or
            shifting (Keras's option of the same name).

    Returns:
        ``x``'s shape and dtype (half precision is computed in float32).

    Example:
        >>> from plait import ops
        >>> ops.layer_normalization([[1.0, 3.0]], epsilon=0.0)
        tensor([[-1.,  1.]])
    """
    rms_scaling = kwargs.pop("rms_scaling", False)
    if kwargs:
        raise TypeError(f"ops.layer_normalization got unexpected keyword arguments {sorted(kwargs)}.")
    eps = default_epsilon() if epsilon is None else epsilon
    x, original = _normalization_input(x)
    axes = _sorted_axes(axis, x.ndim)
    gamma = None if gamma is None else convert_to_tensor(gamma).to(x.dtype)
    beta = None if beta is None else convert_to_tensor(beta).to(x.dtype)
    if not rms_scaling and axes == list(range(axes[0], x.ndim)):
        # Trailing axes: torch's fused kernel.
        y = F.layer_norm(x, [x.shape[a] for a in axes], gamma, beta, eps)
        return y.to(original)
    # Parameters shaped like the normalised axes broadcast against x through singleton axes.
    shape = [x.shape[d] if d in axes else 1 for d in range(x.ndim)]

    def spread(v):
        return v if v is None or v.ndim == x.ndim else v.reshape(shape)

    gamma, beta = spread(gamma), spread(beta)
    variance, mean = torch.var_mean(x, dim=axes, correction=0, keepdim=True)
    inv = torch.rsqrt(variance + eps)
    if rms_scaling:
        return (x * inv * (1 if gamma is None else gamma)).to(original)
    if gamma is not None:
        inv = inv * gamma
    shift = -mean * inv if beta is None else beta - mean * inv
    return (x * inv + shift).to(original)


@_nn_op
def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    """Root-mean-square normalization: ``x / sqrt(mean(x²) + epsilon) * scale`` over ``axis``.

    Args:
        x: input tensor.
        scale: optional factor, the shape of the normalised axes.
        axis: int or sequence, the axes normalised together. Defaults to -1.
        epsilon: added to the mean square. Defaults to ``epsilon()`` (1e-7).

    Returns:
        ``x``'s shape and dtype (half precision is computed in float32).

    Example:
        >>> from plait import ops
        >>> ops.rms_normalization([[2.0, -2.0]], epsilon=0.0)
        tensor([[ 1., -1.]])
    """
    eps = default_epsilon() if epsilon is None else epsilon
    x, original = _normalization_input(x)
    if x.ndim == 0:
        x = x.reshape(1)
    axes = _sorted_axes(axis, x.ndim)
    scale = None if scale is None else convert_to_tensor(scale).to(x.dtype)
    if axes == list(range(axes[0], x.ndim)):
        return F.rms_norm(x, [x.shape[a] for a in axes], scale, eps).to(original)
    y = x * torch.rsqrt((x * x).mean(dim=axes, keepdim=True) + eps)
    return (y if scale is None else y * scale).to(original)


@_nn_op
def normalize(x, axis=-1, order=2, epsilon=None):
    """Divides ``x`` by its ``order``-norm along ``axis`` (the norm floored at ``epsilon``).

    Args:
        x: input tensor (a scalar is treated as a vector of one).
        axis: int or tuple, the axis of the norm. Defaults to -1.
        order: the norm's order, an int >= 1. Defaults to 2.
        epsilon: the smallest norm divided by. Defaults to ``epsilon()`` (1e-7).

    Returns:
        ``x``'s shape.

    Example:
        >>> from plait import ops
        >>> ops.normalize([3.0, 4.0])
        tensor([0.6000, 0.8000])
    """
    if not isinstance(order, int) or order < 1:
        raise ValueError(f"ops.normalize: `order` must be an int >= 1. Received: order={order}")
    x = convert_to_tensor(x)
    if x.ndim == 0:
        x = x.reshape(1)
    eps = default_epsilon() if epsilon is None else epsilon
    if order == 2:
        # Keras multiplies by rsqrt of the square sum (capped at 1/eps) rather than dividing.
        inv = torch.rsqrt((x * x).sum(dim=axis, keepdim=True))
        return x * torch.clamp(inv, max=1.0 / eps)
    norm = torch.linalg.norm(x, ord=order, dim=axis, keepdim=True)
    return x / torch.clamp(norm, min=eps)


# ----------------------------------------------------------------------------- images and complex
@_nn_op
def psnr(x1, x2, max_val):
    """Peak signal-to-noise ratio in dB: ``20 * log10(max_val) - 10 * log10(mse(x1, x2))``.

    Args:
        x1: a tensor (e.g. an image batch).
        x2: a tensor of ``x1``'s shape.
        max_val: the largest possible value (1.0 for images in [0, 1], 255 for bytes).

    Returns:
        A scalar: the mean squared error is taken over every element.

    Example:
        >>> from plait import ops
        >>> ops.psnr([0.0, 1.0], [0.0, 0.9], 1.0)
        tensor(23.0103)
    """
    x1, x2 = convert_to_tensor(x1), convert_to_tensor(x2)
    if x1.shape != x2.shape:
        raise ValueError(
            f"ops.psnr: `x1` and `x2` must have the same shape. Received: {tuple(x1.shape)} and {tuple(x2.shape)}."
        )
    max_val = convert_to_tensor(max_val).to(x1.dtype)
    mse = torch.mean((x1 - x2) ** 2)
    return 20 * torch.log10(max_val) - 10 * torch.log10(mse)


@_nn_op
def polar(abs_, angle):
    """The complex number with magnitude ``abs_`` and phase ``angle`` (radians):
    ``abs_ * (cos(angle) + i sin(angle))``.

    Args:
        abs_: the magnitudes.
        angle: the phases, broadcastable with ``abs_``.

    Returns:
        A complex tensor (complex64 from float32 inputs).

    Example:
        >>> import math
        >>> from plait import ops
        >>> ops.polar([2.0], [math.pi / 2]).imag
        tensor([2.])
    """
    abs_, angle = convert_to_tensor(abs_), convert_to_tensor(angle)
    dtype = torch.promote_types(abs_.dtype, angle.dtype)
    if not dtype.is_floating_point:
        dtype = torch.float32
    return torch.polar(abs_.to(dtype), angle.to(dtype))


# ----------------------------------------------------------------------------- attention
def _large_negative(dtype):
    # The bias that masks a position: far below any logit, yet finite so that a fully masked row
    # gives a uniform softmax (as Keras's) rather than NaN. 70% of the type's range leaves room
    # for adding it to the logits.
    return -0.7 * (65500.0 if dtype == torch.float16 else 3.38953e38)


def _attention_backends(flash_attention):
    from torch.nn.attention import SDPBackend

    if flash_attention:
        return [SDPBackend.FLASH_ATTENTION]
    return [b for b in (SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION, SDPBackend.MATH) if b is not None]


@_nn_op
def dot_product_attention(
    query,
    key,
    value,
    bias=None,
    mask=None,
    scale=None,
    is_causal=False,
    flash_attention=None,
    attn_logits_soft_cap=None,
):
    """Scaled dot-product attention, ``softmax(q·kᵀ * scale + bias) · v``, on torch's fused
    ``scaled_dot_product_attention``.

    Args:
        query: ``(batch, q_len, heads, dim)``.
        key: ``(batch, kv_len, kv_heads, dim)``; ``heads`` must be a multiple of ``kv_heads``
            (grouped-query attention when they differ).
        value: ``(batch, kv_len, kv_heads, dim)``.
        bias: optional additive bias broadcastable to ``(batch, heads, q_len, kv_len)``.
        mask: optional boolean mask of that shape; False hides a key from a query. Not together
            with ``bias``.
        scale: the logits' factor. Defaults to ``1 / sqrt(dim)``.
        is_causal: hide the keys after each query (query ``i`` sees keys ``0..i``). Defaults to False.
        flash_attention: True requires torch's flash kernel (an error where it cannot run),
            False rules it out, None (default) lets torch choose.
        attn_logits_soft_cap: JAX-on-TPU only in Keras; must be None.

    Returns:
        ``(batch, q_len, heads, dim)``.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> q = torch.ones(1, 3, 2, 4)
        >>> ops.dot_product_attention(q, q, torch.arange(3.0).reshape(1, 3, 1, 1).expand(1, 3, 2, 4),
        ...                           is_causal=True)[0, :, 0, 0]
        tensor([0.0000, 0.5000, 1.0000])
    """
    if attn_logits_soft_cap is not None:
        raise ValueError("ops.dot_product_attention: attn_logits_soft_cap is only supported by JAX on TPU; pass None.")
    query, key, value = convert_to_tensor(query), convert_to_tensor(key), convert_to_tensor(value)
    if not query.ndim == key.ndim == value.ndim == 4:
        raise ValueError(
            "ops.dot_product_attention expects 4-D (batch, length, heads, dim) query, key and value. "
            f"Received shapes {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}."
        )
    if bias is not None and mask is not None:
        raise ValueError("ops.dot_product_attention: pass `bias` or `mask`, not both.")
    heads, kv_heads = query.shape[2], key.shape[2]
    if heads % kv_heads:
        raise ValueError(
            f"ops.dot_product_attention: the query's {heads} heads must be a multiple of the key's {kv_heads}."
        )
    dtype = torch.promote_types(torch.promote_types(query.dtype, key.dtype), value.dtype)
    # torch wants (batch, heads, length, dim).
    q, k, v = (t.to(dtype).transpose(1, 2) for t in (query, key, value))
    if heads != kv_heads:
        k, v = k.repeat_interleave(heads // kv_heads, dim=1), v.repeat_interleave(heads // kv_heads, dim=1)
    attn_bias = None
    if mask is not None:
        allowed = convert_to_tensor(mask, dtype="bool")
        if is_causal:  # torch takes a mask or is_causal, not both: fold the causal one in
            allowed = allowed & torch.ones(q.shape[2], k.shape[2], dtype=torch.bool, device=allowed.device).tril()
            is_causal = False
        attn_bias = torch.where(allowed, 0.0, _large_negative(dtype)).to(dtype)
    elif bias is not None:
        attn_bias = convert_to_tensor(bias).to(dtype)
    args = (q, k, v)
    if flash_attention is None:  # plait.config.enable/disable_flash_attention, else torch picks
        flash_attention = settings.get("flash_attention")
    if flash_attention is None:
        out = F.scaled_dot_product_attention(*args, attn_mask=attn_bias, is_causal=is_causal, scale=scale)
    else:
        from torch.nn.attention import sdpa_kernel

        with sdpa_kernel(_attention_backends(flash_attention)):
            out = F.scaled_dot_product_attention(*args, attn_mask=attn_bias, is_causal=is_causal, scale=scale)
    return out.transpose(1, 2)
