"""EfficientNetB0-B7 (Tan & Le, 2019): `EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks <https://arxiv.org/abs/1905.11946>`_.

One table of seven stages of inverted residual blocks with squeeze-and-excite
(:func:`plait.applications._build.inverted_residual`), scaled per variant in width (channels)
and depth (blocks per stage); stochastic depth grows linearly over the blocks. The model
rescales and normalizes its [0, 255] input itself, so :func:`preprocess_input` returns its input
unchanged, as Keras's does. EfficientNetV2 shares the squeeze-and-excite and the classifier.

Example:
    >>> import torch
    >>> from plait.applications import EfficientNetB0
    >>> with torch.device("meta"):  # shapes and counts without allocating or initialising weights
    ...     model = EfficientNetB0(weights=None, include_top=False, input_shape=(32, 32, 3), pooling="avg")
    >>> model.output.shape, model.count_params()
    ((None, 1280), 4049571)
"""

import functools
import math

from plait import layers
from plait.applications import _build, imagenet_utils

_URL = "https://storage.googleapis.com/keras-applications/"
# variant: (width, depth, default size, dropout, hashes with top and without).
_VARIANTS = {
    "b0": (1.0, 1.0, 224, 0.2, ("902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d")),
    "b1": (1.0, 1.1, 240, 0.2, ("1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432")),
    "b2": (1.1, 1.2, 260, 0.3, ("b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39")),
    "b3": (1.2, 1.4, 300, 0.3, ("ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226")),
    "b4": (1.4, 1.8, 380, 0.4, ("18c95ad55216b8f92d7e70b3a046e2fc", "ebc24e6d6c33eaebbd558eafbeedf1ba")),
    "b5": (1.6, 2.2, 456, 0.4, ("ace28f2a6363774853a83a0b21b9421a", "38879255a25d3c92d5e44e04ae6cec6f")),
    "b6": (1.8, 2.6, 528, 0.5, ("165f6e37dce68623721b423839de8be5", "9ecce42647a20130c1f39a5d4cb75743")),
    "b7": (2.0, 3.1, 600, 0.5, ("8c03f828fec3ef71311cd463b6759d99", "cbcfe4450ddf6f3ad90b1b398090fe4a")),
}
# Stages of B0: (kernel, blocks, input filters, output filters, expansion, stride).
STAGES = [
    (3, 1, 32, 16, 1, 1),
    (3, 2, 16, 24, 6, 2),
    (5, 2, 24, 40, 6, 2),
    (3, 3, 40, 80, 6, 2),
    (5, 3, 80, 112, 6, 1),
    (5, 4, 112, 192, 6, 2),
    (3, 1, 192, 320, 6, 1),
]
# He-style initializers of the reference implementation (fan_out).
CONV_INIT = {
    "class_name": "VarianceScaling",
    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"},
}
DENSE_INIT = {
    "class_name": "VarianceScaling",
    "config": {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"},
}
# ImageNet's per-channel standard deviations (the published Normalization holds them squared).
_IMAGENET_STD = (0.229, 0.224, 0.225)
# Block layer names shared by both EfficientNets ("dw" differs: dwconv / dwconv2).
BLOCK_NAMES = {
    "expand": "expand_conv",
    "expand_bn": "expand_bn",
    "expand_act": "expand_activation",
    "pad": "dwconv_pad",
    "dw": "dwconv",
    "dw_bn": "bn",
    "dw_act": "activation",
    "project": "project_conv",
    "project_bn": "project_bn",
    "project_act": "project_activation",
    "drop": "drop",
    "add": "add",
}


def squeeze_excite(act):
    """EfficientNet's squeeze-and-excite ``se(x, prefix, block_input_width)``: channel gates
    from a bottleneck of a quarter of the block's input width."""

    def se(x, prefix, width):
        channels = x.shape[-1]
        gate = layers.GlobalAveragePooling2D(name=f"{prefix}se_squeeze")(x)
        gate = layers.Reshape((1, 1, channels), name=f"{prefix}se_reshape")(gate)
        for filters, activation, role in ((max(1, int(width * 0.25)), act, "reduce"), (channels, "sigmoid", "expand")):
            gate = layers.Conv2D(
                filters,
                1,
                padding="same",
                activation=activation,
                kernel_initializer=CONV_INIT,
                name=f"{prefix}se_{role}",
            )(gate)
        return layers.Multiply(name=f"{prefix}se_excite")([x, gate])

    return se


def classifier(dropout):
    """Pooling, dropout and the Dense classifier with EfficientNet's initializer."""
    return _build.dense_classifier(
        dropout=dropout, dropout_name="top_dropout", kernel_initializer=DENSE_INIT, bias_initializer="zeros"
    )


def efficientnet(options, variant, activation="swish", drop_connect_rate=0.2):
    """EfficientNet ``variant`` (``"b0"`` ... ``"b7"``)."""
    width, depth, default_size, dropout, hashes = _VARIANTS[variant]

    def filters_of(n):
        return _build.round_to(n * width)

    style = _build.BlockStyle(
        names=BLOCK_NAMES, norm={"axis": 3}, init={"kernel_initializer": CONV_INIT}, shortcut_first=False
    )
    plan = [(stage, math.ceil(depth * stage[1])) for stage in STAGES]
    total = float(sum(repeats for _, repeats in plan))

    def body(x, _):
        x = layers.Rescaling(1.0 / 255.0)(x)
        x = layers.Normalization(axis=3)(x)
        if options.weights == "imagenet":
            # The published Normalization holds ImageNet's variance where the std belongs;
            # Keras corrects it with one more rescaling (keras-team/keras#17477).
            x = layers.Rescaling([1.0 / math.sqrt(std) for std in _IMAGENET_STD])(x)
        x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, 3), name="stem_conv_pad")(x)
        x = _build.conv_unit(
            x, filters_of(32), 3, ("stem_conv", "stem_bn", "stem_activation"), strides=2, padding="valid",
            use_bias=False, kernel_initializer=CONV_INIT, norm={"axis": 3}, act=activation,
        )  # fmt: skip
        index = 0
        for number, ((kernel, _, filters_in, filters_out, expansion, stride), repeats) in enumerate(plan, start=1):
            for j in range(repeats):
                block_in = filters_of(filters_in) if j == 0 else filters_of(filters_out)
                x = _build.inverted_residual(
                    x,
                    style,
                    f"block{number}{chr(ord('a') + j)}_",
                    filters=filters_of(filters_out),
                    kernel=kernel,
                    stride=stride if j == 0 else 1,
                    expanded=block_in * expansion if expansion != 1 else None,
                    act=activation,
                    se=squeeze_excite(activation),
                    drop=drop_connect_rate * index / total,
                )
                index += 1
        return _build.conv_unit(
            x, filters_of(1280), 1, ("top_conv", "top_bn", "top_activation"), padding="same", use_bias=False,
            kernel_initializer=CONV_INIT, norm={"axis": 3}, act=activation,
        )  # fmt: skip

    def weight_file(top):
        file_name = options.name + (".h5" if top else "_notop.h5")
        return file_name, _URL + file_name, hashes[0 if top else 1]

    return _build.application(
        options,
        body,
        default_size=default_size,
        head=classifier(dropout),
        pool_names=("avg_pool", "max_pool"),
        weight_file=weight_file,
    )


def _public(variant):
    width, depth, size = _VARIANTS[variant][:3]
    return _build.public(
        f"EfficientNet{variant.upper()}",
        f"efficientnet{variant}",
        functools.partial(efficientnet, variant=variant),
        f"width x{width}, depth x{depth}, default input {size}x{size}, images in [0, 255].",
    )


EfficientNetB0 = _public("b0")
EfficientNetB1 = _public("b1")
EfficientNetB2 = _public("b2")
EfficientNetB3 = _public("b3")
EfficientNetB4 = _public("b4")
EfficientNetB5 = _public("b5")
EfficientNetB6 = _public("b6")
EfficientNetB7 = _public("b7")
preprocess_input = imagenet_utils.module_functions(__name__, "EfficientNet", None)
decode_predictions = imagenet_utils.decode_predictions
