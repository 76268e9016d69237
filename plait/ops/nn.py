"""Neural-network ops (Keras 3's ``keras.ops.nn``) on torch: activations, convolution and
pooling, encodings, losses, normalization and attention.

Each op takes Keras's arguments and defaults and gives Keras's numbers (``tests/test_ops.py``
compares them with Keras). On tensors, numpy arrays or Python values an op computes, on the
inputs' device; called with a symbolic tensor (``plait.Input``) it becomes a node of the
functional model being built, which saves and loads with the model.

The implementations live by family: ``_activations`` (element-wise and softmax), ``_conv``
(convolution, pooling, patches), ``_nn`` (encodings, crossentropies, normalization, attention)
and ``_ctc``.

Example:
    >>> import plait
    >>> plait.ops.nn.relu([-1.0, 2.0])
    tensor([0., 2.])
    >>> x = plait.Input(shape=(3,))
    >>> plait.ops.nn.softmax(x).shape
    (None, 3)
"""

from plait.ops._activations import (
    celu,
    elu,
    gelu,
    glu,
    hard_shrink,
    hard_sigmoid,
    hard_silu,
    hard_swish,
    hard_tanh,
    leaky_relu,
    log_sigmoid,
    log_softmax,
    relu,
    relu6,
    selu,
    sigmoid,
    silu,
    soft_shrink,
    softmax,
    softplus,
    softsign,
    sparse_plus,
    sparse_sigmoid,
    sparsemax,
    squareplus,
    swish,
    tanh_shrink,
    threshold,
)
from plait.ops._conv import (
    adaptive_average_pool,
    adaptive_max_pool,
    average_pool,
    conv,
    conv_transpose,
    depth_to_space,
    depthwise_conv,
    fold,
    max_pool,
    separable_conv,
    space_to_depth,
    unfold,
)
from plait.ops._ctc import ctc_decode, ctc_loss
from plait.ops._nn import (
    batch_normalization,
    binary_crossentropy,
    categorical_crossentropy,
    dot_product_attention,
    layer_normalization,
    moments,
    multi_hot,
    normalize,
    one_hot,
    polar,
    psnr,
    rms_normalization,
    sparse_categorical_crossentropy,
)

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
