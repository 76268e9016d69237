"""Xception (Chollet, 2017): `Xception: Deep Learning with Depthwise Separable Convolutions
<https://arxiv.org/abs/1610.02357>`_.

Two plain convolutions, then residual blocks of ReLU -> 3x3 separable convolution -> BN units:
entry and exit blocks halve the size with max pooling and project the shortcut with a strided
1x1 convolution; the eight middle blocks keep shape and add their input. Two separable units
with ReLU after them close the network.

Example:
    >>> import torch
    >>> from plait.applications import Xception
    >>> with torch.device("meta"):  # shapes and counts without allocating or initialising weights
    ...     model = Xception(weights=None, include_top=False, input_shape=(71, 71, 3), pooling="avg")
    >>> model.output.shape, model.count_params()
    ((None, 2048), 20861480)
"""

from plait import layers
from plait.applications import _build, imagenet_utils

_NORM = {"axis": -1}
# (block number, widths of its separable units, whether it downsamples). Block 2's first unit
# takes the stem's activated output, so it has no ReLU of its own.
_BLOCKS = [
    (2, (128, 128), True),
    (3, (256, 256), True),
    (4, (728, 728), True),
    *((number, (728, 728, 728), False) for number in range(5, 13)),
    (13, (728, 1024), True),
]


def _separable(x, filters, prefix, act=None):
    return _build.conv_unit(
        x, filters, 3, (prefix, f"{prefix}_bn", f"{prefix}_act"), kind="separable", padding="same",
        use_bias=False, norm=_NORM, act=act,
    )  # fmt: skip


def _residual_block(x, number, widths, downsample):
    shortcut = x
    if downsample:
        shortcut = _build.conv_unit(x, widths[-1], 1, strides=2, padding="same", use_bias=False, norm=_NORM)
    for unit, filters in enumerate(widths, start=1):
        prefix = f"block{number}_sepconv{unit}"
        if number > 2 or unit > 1:
            x = layers.Activation("relu", name=f"{prefix}_act")(x)
        x = _separable(x, filters, prefix)
    if downsample:
        x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"block{number}_pool")(x)
    return layers.Add()([x, shortcut])


def xception(options):
    """Xception for the user's :class:`~plait.applications._build.Options`."""

    def body(x, shape):
        for unit, (filters, strides) in enumerate(((32, 2), (64, 1)), start=1):
            unit_names = _build.names(f"block1_conv{unit}", "", "_bn", "_act")
            x = _build.conv_unit(x, filters, 3, unit_names, strides=strides, use_bias=False, norm=_NORM, act="relu")
        for number, widths, downsample in _BLOCKS:
            x = _residual_block(x, number, widths, downsample)
        x = _separable(x, 1536, "block14_sepconv1", act="relu")
        return _separable(x, 2048, "block14_sepconv2", act="relu")

    hashes = ("0a58e3b7378bc2990ea3b43d5981f1f6", "b0042744bf5b25fce3cb969f33bebb97")
    return _build.application(
        options, body, default_size=299, min_size=71, weight_file=_build.tf_kernels_file("xception", "xception", hashes)
    )


Xception = _build.public(
    "Xception",
    "xception",
    xception,
    "default input 299x299 (at least 71), preprocessed by :func:`preprocess_input` ([-1, 1]).",
)
preprocess_input = imagenet_utils.module_functions(__name__, "Xception", "tf")
decode_predictions = imagenet_utils.decode_predictions
