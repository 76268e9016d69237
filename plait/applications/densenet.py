"""DenseNet121/169/201 (Huang et al., 2017): `Densely Connected Convolutional Networks
<https://arxiv.org/abs/1608.06993>`_.

Four dense blocks (``conv2`` ... ``conv5``): each of their layers (BN-ReLU-1x1 conv to 128
channels, BN-ReLU-3x3 conv to 32) concatenates 32 new channels to everything before it. A
transition (``pool2`` ... ``pool4``: BN-ReLU, a 1x1 convolution halving the channels, 2x2
average pooling) sits between two blocks.

Example:
    >>> import torch
    >>> from plait.applications import DenseNet121
    >>> with torch.device("meta"):  # shapes and counts without allocating or initialising weights
    ...     model = DenseNet121(weights=None, include_top=False, input_shape=(32, 32, 3), pooling="avg")
    >>> model.output.shape, model.count_params()
    ((None, 1024), 7037504)
"""

import functools

from plait import layers
from plait.applications import _build, imagenet_utils

# Layers per dense block, and the published weights' hashes (with top, without top).
_VARIANTS = {
    "densenet121": ((6, 12, 24, 16), ("9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738")),
    "densenet169": ((6, 12, 32, 32), ("d699b8f76981ab1b30698df4c175e90b", "b8c4d4c20dd625c148057b9ff1c1176b")),
    "densenet201": ((6, 12, 48, 32), ("1ceb130c1ea1b78c3bf6114dbdfd8807", "c13680b51ded0fb44dff2d8f86ac8bb1")),
}
GROWTH = 32
_NORM = {"axis": 3, "epsilon": 1.001e-5}


def _dense_layer(x, prefix):
    h = x
    for i, (filters, kernel) in enumerate(((4 * GROWTH, 1), (GROWTH, 3))):
        h = _build.norm_act(h, _NORM, "relu", _build.names(f"{prefix}_{i}", "_bn", "_relu"))
        padding = "same" if kernel == 3 else "valid"
        h = layers.Conv2D(filters, kernel, padding=padding, use_bias=False, name=f"{prefix}_{i + 1}_conv")(h)
    return layers.Concatenate(axis=3, name=f"{prefix}_concat")([x, h])


def _transition(x, prefix):
    x = _build.norm_act(x, _NORM, "relu", (f"{prefix}_bn", f"{prefix}_relu"))
    x = layers.Conv2D(x.shape[-1] // 2, 1, use_bias=False, name=f"{prefix}_conv")(x)
    return layers.AveragePooling2D(2, strides=2, name=f"{prefix}_pool")(x)


def densenet(options, key):
    """The DenseNet ``key`` (``"densenet121"``, ...)."""
    depths, hashes = _VARIANTS[key]

    def body(x, shape):
        x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)))(x)
        x = _build.conv_unit(
            x, 64, 7, ("conv1_conv", "conv1_bn", "conv1_relu"), strides=2, use_bias=False, norm=_NORM, act="relu"
        )
        x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)))(x)
        x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
        for stage, depth in enumerate(depths, start=2):
            for i in range(1, depth + 1):
                x = _dense_layer(x, f"conv{stage}_block{i}")
            if stage < 5:
                x = _transition(x, f"pool{stage}")
        return _build.norm_act(x, _NORM, "relu", ("bn", "relu"))

    return _build.application(
        options,
        body,
        default_size=224,
        pool_names=("avg_pool", "max_pool"),
        weight_file=_build.tf_kernels_file("densenet", key, hashes),
    )


DenseNet121, DenseNet169, DenseNet201 = (
    _build.public(
        f"DenseNet{key[8:]}",
        key,
        functools.partial(densenet, key=key),
        "inputs preprocessed by :func:`preprocess_input` (torch mode).",
    )
    for key in _VARIANTS
)
preprocess_input = imagenet_utils.module_functions(__name__, "DenseNet", "torch")
decode_predictions = imagenet_utils.decode_predictions
