"""Activation ops of :mod:`plait.ops.nn`: element-wise functions and the (log-)softmax family.

Almost every one is a single ``torch.nn.functional`` kernel; Keras's name and argument names sit
on top (``negative_slope``, ``threshold``, ``approximate=True``...). Element-wise ops return a
tensor of the input's shape and dtype. The few that torch lacks (``sparse_plus``,
``sparse_sigmoid``, ``squareplus``, ``sparsemax``) are written out from their formulas.
"""

import functools

import torch
import torch.nn.functional as F

from plait.ops._backend import convert_to_tensor
from plait.ops._op import op

_nn_op = functools.partial(op, family="nn")


# ----------------------------------------------------------------------------- ReLU family
@_nn_op
def relu(x):
    """Rectified linear unit: ``max(x, 0)``, element-wise.

    Args:
        x: input tensor.

    Example:
        >>> from plait import ops
        >>> ops.relu([-1.0, 0.5, 2.0])
        tensor([0.0000, 0.5000, 2.0000])
    """
    return F.relu(convert_to_tensor(x))


@_nn_op
def relu6(x):
    """ReLU capped at 6: ``min(max(x, 0), 6)``, element-wise.

    Args:
        x: input tensor.

    Example:
        >>> from plait import ops
        >>> ops.relu6([-1.0, 3.0, 8.0])
        tensor([0., 3., 6.])
    """
    return F.relu6(convert_to_tensor(x))


@_nn_op
def leaky_relu(x, negative_slope=0.2):
    """Leaky ReLU: ``x`` where positive, ``negative_slope * x`` elsewhere.

    Args:
        x: input tensor.
        negative_slope: slope of the negative part. Defaults to 0.2 (Keras's; torch's is 0.01).

    Example:
        >>> from plait import ops
        >>> ops.leaky_relu([-2.0, 3.0])
        tensor([-0.4000,  3.0000])
    """
    return F.leaky_relu(convert_to_tensor(x), negative_slope)


@_nn_op
def elu(x, alpha=1.0):
    """Exponential linear unit: ``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere.

    Args:
        x: input tensor.
        alpha: scale of the negative part. Defaults to 1.0.

    Example:
        >>> from plait import ops
        >>> ops.elu([-1.0, 2.0], alpha=0.5)
        tensor([-0.3161,  2.0000])
    """
    return F.elu(convert_to_tensor(x), alpha)


@_nn_op
def selu(x):
    """Scaled ELU: ``scale * elu(x, alpha)`` with the self-normalising constants
    ``alpha ≈ 1.6733`` and ``scale ≈ 1.0507``.

    Args:
        x: input tensor.

    Example:
        >>> from plait import ops
        >>> ops.selu([-1.0, 1.0])
        tensor([-1.1113,  1.0507])
    """
    return F.selu(convert_to_tensor(x))


@_nn_op
def celu(x, alpha=1.0):
    """Continuously differentiable ELU: ``max(x, 0) + min(0, alpha * (exp(x / alpha) - 1))``.

    Args:
        x: input tensor.
        alpha: scale of the negative part. Defaults to 1.0.

    Example:
        >>> from plait import ops
        >>> ops.celu([-1.0, 2.0], alpha=2.0)
        tensor([-0.7869,  2.0000])
    """
    return F.celu(convert_to_tensor(x), alpha)


@_nn_op
def gelu(x, approximate=True):
    """Gaussian error linear unit: ``x * Φ(x)``, Φ the standard normal CDF.

    Args:
        x: input tensor.
        approximate: ``True`` (default, as in Keras) uses the tanh approximation,
            ``False`` the exact erf form.

    Example:
        >>> from plait import ops
        >>> ops.gelu([-1.0, 1.0], approximate=False)
        tensor([-0.1587,  0.8413])
    """
    return F.gelu(convert_to_tensor(x), approximate="tanh" if approximate else "none")


@_nn_op
def silu(x):
    """Sigmoid linear unit (swish): ``x * sigmoid(x)``, element-wise.

    Args:
        x: input tensor.

    Example:
        >>> from plait import ops
        >>> ops.silu([-1.0, 1.0])
        tensor([-0.2689,  0.7311])
    """
    return F.silu(convert_to_tensor(x))


@_nn_op
def swish(x):
    """Swish, another name of :func:`silu`: ``x * sigmoid(x)``.

    Args:
        x: input tensor.

    Example:
        >>> from plait import ops
        >>> ops.swish([0.0, 2.0])
        tensor([0.0000, 1.7616])
    """
    return F.silu(convert_to_tensor(x))


@_nn_op
def hard_silu(x):
    """Hard SiLU (hard swish): ``x * relu6(x + 3) / 6``, a piecewise-linear :func:`silu`.

    Args:
        x: input tensor.

    Example:
        >>> from plait import ops
        >>> ops.hard_silu([-4.0, 1.0, 4.0])
        tensor([-0.0000, 0.6667, 4.0000])
    """
    return F.hardswish(convert_to_tensor(x))


@_nn_op
def hard_swish(x):
    """Hard swish, another name of :func:`hard_silu`: ``x * relu6(x + 3) / 6``.

    Args:
        x: input tensor.

    Example:
        >>> from plait import ops
        >>> ops.hard_swish([-1.0, 1.0])
        tensor([-0.3333,  0.6667])
    """
    return F.hardswish(convert_to_tensor(x))


@_nn_op
def glu(x, axis=-1):
    """Gated linear unit: splits ``x`` in two halves ``a, b`` along ``axis``; ``a * sigmoid(b)``.

    Args:
        x: input tensor; ``axis`` must have an even size.
        axis: the axis to split. Defaults to -1.

    Returns:
        ``x``'s shape with ``axis`` halved.

    Example:
        >>> from plait import ops
        >>> ops.glu([[1.0, 2.0, 0.0, 100.0]])
        tensor([[0.5000, 2.0000]])
    """
    return F.glu(convert_to_tensor(x), dim=axis)


# ----------------------------------------------------------------------------- sigmoid family
@_nn_op
def sigmoid(x):
    """Logistic sigmoid: ``1 / (1 + exp(-x))``, element-wise.

    Args:
        x: input tensor.

    Example:
        >>> from plait import ops
        >>> ops.sigmoid([0.0, 2.0])
        tensor([0.5000, 0.8808])
    """
    return torch.sigmoid(convert_to_tensor(x))


@_nn_op
def log_sigmoid(x):
    """``log(sigmoid(x))``, computed stably as ``-softplus(-x)``.

    Args:
        x: input tensor.

    Example:
        >>> from plait import ops
        >>> ops.log_sigmoid([0.0, -100.0])
        tensor([  -0.6931, -100.0000])
    """
    return F.logsigmoid(convert_to_tensor(x))


@_nn_op
def hard_sigmoid(x):
    """Piecewise-linear sigmoid: ``relu6(x + 3) / 6`` (0 below -3, 1 above 3).

    Args:
        x: input tensor.

    Example:
        >>> from plait import ops
        >>> ops.hard_sigmoid([-4.0, 0.0, 1.5])
        tensor([0.0000, 0.5000, 0.7500])
    """
    return F.hardsigmoid(convert_to_tensor(x))


@_nn_op
def sparse_sigmoid(x):
    """Sparse sigmoid: ``(x + 1) / 2`` clipped to ``[0, 1]`` (exactly 0 below -1, 1 above 1).

    Args:
        x: input tensor.

    Example:
        >>> from plait import ops
        >>> ops.sparse_sigmoid([-2.0, 0.5, 2.0])
        tensor([0.0000, 0.7500, 1.0000])
    """
    x = convert_to_tensor(x)
    return torch.clamp((x + 1) * 0.5, 0.0, 1.0)


# ----------------------------------------------------------------------------- smooth and shrink
@_nn_op
def softplus(x):
    """Softplus: ``log(1 + exp(x))``, a smooth ReLU.

    Args:
        x: input tensor.

    Example:
        >>> from plait import ops
        >>> ops.softplus([0.0, 30.0])
        tensor([ 0.6931, 30.0000])
    """
    return F.softplus(convert_to_tensor(x))


@_nn_op
def softsign(x):
    """Softsign: ``x / (1 + |x|)``, element-wise.

    Args:
        x: input tensor.

    Example:
        >>> from plait import ops
        >>> ops.softsign([-1.0, 3.0])
        tensor([-0.5000,  0.7500])
    """
    return F.softsign(convert_to_tensor(x))


@_nn_op
def sparse_plus(x):
    """Sparse plus: 0 for ``x <= -1``, ``(x + 1)² / 4`` on ``(-1, 1)``, ``x`` for ``x >= 1``.

    Args:
        x: input tensor.

    Example:
        >>> from plait import ops
        >>> ops.sparse_plus([-2.0, 0.0, 3.0])
        tensor([0.0000, 0.2500, 3.0000])
    """
    x = convert_to_tensor(x)
    middle = 0.25 * (x + 1) ** 2
    return torch.where(x >= 1, x, torch.where(x > -1, middle, torch.zeros_like(middle)))


@_nn_op
def squareplus(x, b=4):
    """Squareplus: ``(x + sqrt(x² + b)) / 2``, a smooth ReLU made of algebraic functions.

    Args:
        x: input tensor.
        b: smoothness at 0 (``b = 0`` gives ReLU). Defaults to 4.

    Example:
        >>> from plait import ops
        >>> ops.squareplus([0.0, 1.5])
        tensor([1., 2.])
    """
    x = convert_to_tensor(x)
    return (x + torch.sqrt(x * x + convert_to_tensor(b))) / 2


@_nn_op
def hard_tanh(x):
    """Hard tanh: ``x`` clipped to ``[-1, 1]``.

    Args:
        x: input tensor.

    Example:
        >>> from plait import ops
        >>> ops.hard_tanh([-3.0, 0.5, 2.0])
        tensor([-1.0000,  0.5000,  1.0000])
    """
    return F.hardtanh(convert_to_tensor(x))


@_nn_op
def tanh_shrink(x):
    """Tanh shrink: ``x - tanh(x)``, element-wise.

    Args:
        x: input tensor.

    Example:
        >>> from plait import ops
        >>> ops.tanh_shrink([0.0, 1.0])
        tensor([0.0000, 0.2384])
    """
    return F.tanhshrink(convert_to_tensor(x))


@_nn_op
def hard_shrink(x, threshold=0.5):
    """Hard shrink: ``x`` where ``|x| > threshold``, 0 elsewhere.

    Args:
        x: input tensor.
        threshold: the half-width of the zeroed band. Defaults to 0.5.

    Example:
        >>> from plait import ops
        >>> ops.hard_shrink([-1.0, 0.3, 0.8])
        tensor([-1.0000,  0.0000,  0.8000])
    """
    return F.hardshrink(convert_to_tensor(x), threshold)


@_nn_op
def soft_shrink(x, threshold=0.5):
    """Soft shrink: ``x`` moved towards 0 by ``threshold``, 0 where ``|x| <= threshold``.

    Args:
        x: input tensor.
        threshold: the amount of shrinkage. Defaults to 0.5.

    Example:
        >>> from plait import ops
        >>> ops.soft_shrink([-1.0, 0.3, 0.8])
        tensor([-0.5000,  0.0000,  0.3000])
    """
    return F.softshrink(convert_to_tensor(x), threshold)


@_nn_op
def threshold(x, threshold, default_value):
    """``x`` where ``x > threshold``, ``default_value`` elsewhere.

    Args:
        x: input tensor.
        threshold: the value ``x`` must exceed to be kept.
        default_value: what replaces the other elements.

    Example:
        >>> from plait import ops
        >>> ops.threshold([0.0, 0.5, 2.0], 0.4, -1.0)
        tensor([-1.0000,  0.5000,  2.0000])
    """
    return F.threshold(convert_to_tensor(x), threshold, default_value)


# ----------------------------------------------------------------------------- softmax family
def _over_axes(x, axis):
    # A tuple of axes (or None: all of them) is one joint distribution.
    return tuple(range(x.ndim)) if axis is None else tuple(axis)


def _upcast_half(x):
    # float16 softmax in float32 (Keras does so on CPU, where torch lacks some half kernels).
    return torch.float32 if x.dtype == torch.float16 else None


@_nn_op
def softmax(x, axis=-1):
    """Softmax: ``exp(x) / sum(exp(x))`` along ``axis``, so each slice sums to 1.

    Args:
        x: input tensor.
        axis: an int, a tuple of axes normalised jointly, or ``None`` for all axes.
            Defaults to -1.

    Returns:
        A tensor of ``x``'s shape and dtype.

    Example:
        >>> from plait import ops
        >>> ops.softmax([[1.0, 1.0], [0.0, 2.0]])
        tensor([[0.5000, 0.5000],
                [0.1192, 0.8808]])
    """
    x = convert_to_tensor(x)
    dtype = _upcast_half(x)
    if isinstance(axis, int):
        return F.softmax(x, dim=axis, dtype=dtype).to(x.dtype)
    axes = _over_axes(x, axis)
    z = x if dtype is None else x.to(dtype)
    e = torch.exp(z - torch.amax(z, dim=axes, keepdim=True))
    return (e / e.sum(dim=axes, keepdim=True)).to(x.dtype)


@_nn_op
def log_softmax(x, axis=-1):
    """Log-softmax: ``x - log(sum(exp(x)))`` along ``axis``, computed stably.

    Args:
        x: input tensor.
        axis: an int, a tuple of axes normalised jointly, or ``None`` for all axes.
            Defaults to -1.

    Returns:
        A tensor of ``x``'s shape and dtype.

    Example:
        >>> from plait import ops
        >>> ops.log_softmax([0.0, 0.0])
        tensor([-0.6931, -0.6931])
    """
    x = convert_to_tensor(x)
    dtype = _upcast_half(x)
    if isinstance(axis, int):
        return F.log_softmax(x, dim=axis, dtype=dtype).to(x.dtype)
    axes = _over_axes(x, axis)
    z = x if dtype is None else x.to(dtype)
    return (z - torch.logsumexp(z, dim=axes, keepdim=True)).to(x.dtype)


@_nn_op
def sparsemax(x, axis=-1):
    """Sparsemax as Keras 3 computes it: ``max(x - tau, 0)`` along ``axis``, small entries exactly 0.

    The support is the ``k`` largest entries ``z_1 >= ... >= z_k`` with ``1 + j * z_j > z_1 + ... + z_j``;
    Keras then takes ``tau = (c_1 + ... + c_k - 1) / k`` where ``c_j = z_1 + ... + z_j`` are the running
    sums. (The textbook projection onto the simplex uses ``(c_k - 1) / k``; the two agree when
    ``k = 1``. plait keeps Keras's numbers so models carry over.)

    Args:
        x: input tensor.
        axis: the axis to normalise. Defaults to -1.

    Example:
        >>> from plait import ops
        >>> ops.sparsemax([[3.0, 0.5, -2.0]])
        tensor([[1., 0., 0.]])
    """
    x = convert_to_tensor(x)
    z = torch.sort(x, dim=axis, descending=True).values
    running = torch.cumsum(z, dim=axis)
    shape = [1] * x.ndim
    shape[axis] = -1
    rank = torch.arange(1, x.shape[axis] + 1, device=x.device, dtype=x.dtype).view(shape)
    in_support = 1 + rank * z > running
    size = in_support.sum(dim=axis, keepdim=True)
    tau = (torch.where(in_support, running, 0).sum(dim=axis, keepdim=True) - 1) / size
    return torch.clamp(x - tau, min=0)
