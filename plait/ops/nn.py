"""Neural-network ops (Keras 3's ``keras.ops.nn``) on torch: activations, conv, pooling, losses,
normalization, attention.

Example:
    >>> import plait
    >>> plait.ops.nn.relu([-1.0, 2.0])
    tensor([0., 2.])
"""

from plait.ops import _linalg as _impl_linalg
from plait.ops import _math as _impl_math
from plait.ops import _nn as _impl
from plait.ops import _numpy as _impl_numpy
from plait.ops._op import op as _op


def _nn(fn):
    return _op(fn, "nn")


batch_normalization = _nn(_impl.batch_normalization)
binary_crossentropy = _nn(_impl.binary_crossentropy)
categorical_crossentropy = _nn(_impl.categorical_crossentropy)
celu = _nn(_impl.celu)
ctc_decode = _nn(_impl.ctc_decode)
ctc_loss = _nn(_impl.ctc_loss)
depth_to_space = _nn(_impl.depth_to_space)
elu = _nn(_impl.elu)
gelu = _nn(_impl.gelu)
glu = _nn(_impl.glu)
hard_shrink = _nn(_impl.hard_shrink)
hard_sigmoid = _nn(_impl.hard_sigmoid)
hard_silu = _nn(_impl.hard_silu)
hard_tanh = _nn(_impl.hard_tanh)
leaky_relu = _nn(_impl.leaky_relu)
log_sigmoid = _nn(_impl.log_sigmoid)
moments = _nn(_impl.moments)
psnr = _nn(_impl.psnr)
relu = _nn(_impl.relu)
relu6 = _nn(_impl.relu6)
selu = _nn(_impl.selu)
sigmoid = _nn(_impl.sigmoid)
silu = _nn(_impl.silu)
soft_shrink = _nn(_impl.soft_shrink)
softplus = _nn(_impl.softplus)
softsign = _nn(_impl.softsign)
space_to_depth = _nn(_impl.space_to_depth)
sparse_categorical_crossentropy = _nn(_impl.sparse_categorical_crossentropy)
sparse_plus = _nn(_impl.sparse_plus)
sparse_sigmoid = _nn(_impl.sparse_sigmoid)
sparsemax = _nn(_impl.sparsemax)
squareplus = _nn(_impl.squareplus)
tanh_shrink = _nn(_impl.tanh_shrink)
threshold = _nn(_impl.threshold)

__all__ = [
    "adaptive_average_pool",
    "adaptive_max_pool",
    "average_pool",
    "batch_normalization",
    "binary_crossentropy",
    "categorical_crossentropy",
    "celu",
    "conv",
    "conv_transpose",
    "ctc_decode",
    "ctc_loss",
    "depth_to_space",
    "depthwise_conv",
    "dot_product_attention",
    "elu",
    "fold",
    "gelu",
    "glu",
    "hard_shrink",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "hard_tanh",
    "layer_normalization",
    "leaky_relu",
    "log_sigmoid",
    "log_softmax",
    "max_pool",
    "moments",
    "multi_hot",
    "normalize",
    "one_hot",
    "polar",
    "psnr",
    "relu",
    "relu6",
    "rms_normalization",
    "selu",
    "separable_conv",
    "sigmoid",
    "silu",
    "soft_shrink",
    "softmax",
    "softplus",
    "softsign",
    "space_to_depth",
    "sparse_categorical_crossentropy",
    "sparse_plus",
    "sparse_sigmoid",
    "sparsemax",
    "squareplus",
    "swish",
    "tanh_shrink",
    "threshold",
    "unfold",
]


# ---- front ends (keras/src/ops/nn.py): argument handling and the ops written there
def _standardize_pool_args(padding, data_format):
    return padding.lower(), _impl.backend.standardize_data_format(data_format)


@_nn
def swish(x):
    return _impl.silu(x)


@_nn
def hard_swish(x):
    return _impl.hard_silu(x)


def _over_axes(fn, x, axis):
    """``fn(x, axis=-1)`` applied jointly over a tuple of axes (Keras's softmax/log_softmax)."""
    x = _impl.convert_to_tensor(x)
    keep = [v for v in range(x.ndim) if v not in axis]
    transposed = x.permute(*keep, *axis)
    out = fn(transposed.reshape(*[x.shape[v] for v in keep], -1), axis=-1).reshape(transposed.shape)
    combined = [*keep, *axis]
    return out.permute(*sorted(range(len(combined)), key=combined.__getitem__))


@_nn
def softmax(x, axis=-1):
    if isinstance(axis, tuple):
        return _over_axes(_impl.softmax, x, axis)
    return _impl.softmax(x, axis=axis)


@_nn
def log_softmax(x, axis=-1):
    if isinstance(axis, tuple):
        return _over_axes(_impl.log_softmax, x, axis)
    return _impl.log_softmax(x, axis=axis)


@_nn
def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    dtype = _impl.backend.standardize_dtype(dtype)
    return _impl.one_hot(x, num_classes, axis=axis, dtype=dtype, sparse=sparse)


@_nn
def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    if num_classes is None and "num_tokens" in kwargs:
        num_classes = kwargs.pop("num_tokens")
    if num_classes is None:
        raise ValueError("Argument `num_classes` must be specified.")
    return _impl.multi_hot(inputs, num_classes, axis, _impl.backend.standardize_dtype(dtype), sparse)


@_nn
def adaptive_average_pool(inputs, output_size, data_format=None):
    return _impl.adaptive_average_pool(inputs, output_size=output_size, data_format=data_format)


@_nn
def adaptive_max_pool(inputs, output_size, data_format=None):
    return _impl.adaptive_max_pool(inputs, output_size=output_size, data_format=data_format)


@_nn
def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    padding, data_format = _standardize_pool_args(padding, data_format)
    return _impl.average_pool(inputs, pool_size, strides, padding, data_format)


@_nn
def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    padding, data_format = _standardize_pool_args(padding, data_format)
    return _impl.max_pool(inputs, pool_size, strides, padding, data_format)


@_nn
def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    padding, data_format = _standardize_pool_args(padding, data_format)
    return _impl.conv(inputs, kernel, strides, padding, data_format, dilation_rate)


@_nn
def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    padding, data_format = _standardize_pool_args(padding, data_format)
    return _impl.depthwise_conv(inputs, kernel, strides, padding, data_format, dilation_rate)


@_nn
def separable_conv(
    inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", data_format=None, dilation_rate=1
):
    padding, data_format = _standardize_pool_args(padding, data_format)
    return _impl.separable_conv(
        inputs, depthwise_kernel, pointwise_kernel, strides, padding, data_format, dilation_rate
    )


@_nn
def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None, data_format=None, dilation_rate=1):
    padding, data_format = _standardize_pool_args(padding, data_format)
    return _impl.conv_transpose(inputs, kernel, strides, padding, output_padding, data_format, dilation_rate)


@_nn
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
    if attn_logits_soft_cap is not None:
        raise ValueError(
            "attn_logits_soft_cap is only supported for JAX on TPU. "
            "Set attn_logits_soft_cap=None when not using JAX on TPU."
        )
    return _impl.dot_product_attention(
        query, key, value, bias=bias, mask=mask, scale=scale, is_causal=is_causal, flash_attention=flash_attention
    )


@_nn
def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs):
    rms_scaling = kwargs.pop("rms_scaling", False)
    if kwargs:
        raise TypeError(f"layer_normalization() got unexpected keyword arguments {sorted(kwargs)}")
    backend = _impl.backend
    epsilon = backend.epsilon() if epsilon is None else epsilon
    original_dtype = backend.standardize_dtype(x.dtype) if hasattr(x, "dtype") else backend.floatx()
    # Computes in at least float32 precision for stability in half precision training.
    x = _impl.convert_to_tensor(x, dtype=backend.result_type(original_dtype, "float32"))
    gamma = None if gamma is None else _impl.convert_to_tensor(gamma, x.dtype)
    beta = None if beta is None else _impl.convert_to_tensor(beta, x.dtype)
    ndims = x.ndim
    axis = sorted([axis] if isinstance(axis, int) else axis)
    axis = [a % ndims for a in axis]
    broadcast_shape = [1] * ndims
    for dim in axis:
        broadcast_shape[dim] = x.shape[dim]

    def broadcast(v):
        if v is not None and v.ndim != ndims and axis != [ndims - 1]:
            return v.reshape(broadcast_shape)
        return v

    if rms_scaling:
        variance = _impl_numpy.var(x, axis=axis, keepdims=True)
        outputs = x * _impl_math.rsqrt(variance + epsilon)
        if gamma is not None:
            outputs = outputs * broadcast(gamma).to(x.dtype)
    elif axis == list(range(axis[0], ndims)):
        # Trailing contiguous axes: torch's fused kernel (Keras's torch path).
        outputs = _impl.tnn.layer_norm(x, tuple(x.shape[d] for d in axis), gamma, beta, epsilon)
    else:
        mean, variance = _impl.moments(x, axes=axis, keepdims=True)
        inv = _impl_math.rsqrt(variance + epsilon)
        gamma, beta = broadcast(gamma), broadcast(beta)
        if gamma is not None:
            inv = inv * gamma
        res = -mean * inv
        if beta is not None:
            res = res + beta
        outputs = x * inv + res
    return _impl.cast(outputs, original_dtype)


@_nn
def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    backend = _impl.backend
    epsilon = backend.epsilon() if epsilon is None else epsilon
    original_dtype = backend.standardize_dtype(x.dtype) if hasattr(x, "dtype") else backend.floatx()
    x = _impl.convert_to_tensor(x, dtype=backend.result_type(original_dtype, "float32"))
    scale = None if scale is None else _impl.convert_to_tensor(scale, x.dtype)
    axes = sorted(axis) if isinstance(axis, (tuple, list)) else [axis]
    axes = [a % max(x.ndim, 1) for a in axes]
    if x.ndim and axes == list(range(axes[0], x.ndim)):
        outputs = _impl.tnn.rms_norm(x, tuple(x.shape[d] for d in axes), scale, epsilon)
    else:
        if x.ndim == 0:
            x = x.unsqueeze(0)
        rrms = _impl_math.rsqrt(_impl_numpy.mean(_impl_numpy.square(x), axis=axis, keepdims=True) + epsilon)
        outputs = x * rrms
        if scale is not None:
            outputs = outputs * scale
    return _impl.cast(outputs, original_dtype)


@_nn
def normalize(x, axis=-1, order=2, epsilon=None):
    if not isinstance(order, int) or not order >= 1:
        raise ValueError(f"Argument `order` must be an int >= 1. Received: order={order}")
    x = _impl.convert_to_tensor(x)
    if x.ndim == 0:
        x = x.unsqueeze(0)
    epsilon = _impl.backend.epsilon() if epsilon is None else epsilon
    if order == 2:
        # L2 as Keras computes it: x * rsqrt(sum(x²)), the inverse norm capped at 1/epsilon.
        inv_norm = _impl_math.rsqrt(_impl_numpy.sum(_impl_numpy.square(x), axis=axis, keepdims=True))
        return x * _impl_numpy.minimum(inv_norm, 1.0 / epsilon)
    norm = _impl_linalg.norm(x, ord=order, axis=axis, keepdims=True)
    return _impl_numpy.divide(x, _impl_numpy.maximum(norm, epsilon))


@_nn
def polar(abs_, angle):
    abs_, angle = _impl.convert_to_tensor(abs_), _impl.convert_to_tensor(angle)
    return _impl_math._get_complex_tensor_from_tuple((abs_ * _impl_numpy.cos(angle), abs_ * _impl_numpy.sin(angle)))


@_nn
def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    return _impl.unfold(_impl.convert_to_tensor(x), kernel_size, dilation=dilation, padding=padding, stride=stride)


@_nn
def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    return _impl.fold(
        _impl.convert_to_tensor(x), output_size, kernel_size, dilation=dilation, padding=padding, stride=stride
    )
