"""EfficientNetV2 B0-B3, S, M, L (Tan & Le, 2021): `EfficientNetV2: Smaller Models and Faster
Training <https://arxiv.org/abs/2104.00298>`_.

Stage tables of Fused-MBConv blocks (early stages: one full convolution for expansion and
depthwise) and MBConv blocks with squeeze-and-excite (later stages), both built by
:func:`plait.applications._build.inverted_residual`. B0-B3 share one table, scaled in width and
depth. The model rescales (and for B0-B3 normalizes) its [0, 255] input itself
(``include_preprocessing=True``), so :func:`preprocess_input` returns its input unchanged, as
Keras's does.

Example:
    >>> import torch
    >>> from plait.applications import EfficientNetV2B0
    >>> with torch.device("meta"):  # shapes and counts without allocating or initialising weights
    ...     model = EfficientNetV2B0(weights=None, include_top=False, input_shape=(32, 32, 3), pooling="avg")
    >>> model.output.shape, model.count_params()
    ((None, 1280), 5919312)
"""

import math

from plait import layers
from plait.applications import _build, imagenet_utils
from plait.applications.efficientnet import BLOCK_NAMES, CONV_INIT, classifier, squeeze_excite

# Stages: (kernel, blocks, input filters, output filters, expansion, squeeze-excite, stride, fused).
_B = [
    (3, 1, 32, 16, 1, False, 1, True),
    (3, 2, 16, 32, 4, False, 2, True),
    (3, 2, 32, 48, 4, False, 2, True),
    (3, 3, 48, 96, 4, True, 2, False),
    (3, 5, 96, 112, 6, True, 1, False),
    (3, 8, 112, 192, 6, True, 2, False),
]
_S = [
    (3, 2, 24, 24, 1, False, 1, True),
    (3, 4, 24, 48, 4, False, 2, True),
    (3, 4, 48, 64, 4, False, 2, True),
    (3, 6, 64, 128, 4, True, 2, False),
    (3, 9, 128, 160, 6, True, 1, False),
    (3, 15, 160, 256, 6, True, 2, False),
]
_M = [
    (3, 3, 24, 24, 1, False, 1, True),
    (3, 5, 24, 48, 4, False, 2, True),
    (3, 5, 48, 80, 4, False, 2, True),
    (3, 7, 80, 160, 4, True, 2, False),
    (3, 14, 160, 176, 6, True, 1, False),
    (3, 18, 176, 304, 6, True, 2, False),
    (3, 5, 304, 512, 6, True, 1, False),
]
_L = [
    (3, 4, 32, 32, 1, False, 1, True),
    (3, 7, 32, 64, 4, False, 2, True),
    (3, 7, 64, 96, 4, False, 2, True),
    (3, 10, 96, 192, 4, True, 2, False),
    (3, 19, 192, 224, 6, True, 1, False),
    (3, 25, 224, 384, 6, True, 2, False),
    (3, 7, 384, 640, 6, True, 1, False),
]
# variant: (stages, width, depth, default size, hashes with top and without).
_VARIANTS = {
    "b0": (_B, 1.0, 1.0, 224, ("21ecbf6da12460d5c40bb2f29ceb2188", "893217f2bb855e2983157299931e43ff")),
    "b1": (_B, 1.0, 1.1, 240, ("069f0534ff22adf035c89e2d9547a9dc", "0e80663031ca32d657f9caa404b6ec37")),
    "b2": (_B, 1.1, 1.2, 260, ("424e49f28180edbde1e94797771950a7", "1dfe2e7a5d45b6632553a8961ea609eb")),
    "b3": (_B, 1.2, 1.4, 300, ("1f1fc43bd98a6e4fd8fdfd551e02c7a0", "f6abf7b5849ac99a89b50dd3fd532856")),
    "s": (_S, 1.0, 1.0, 384, ("e1d88a8495beba45748fedd0cecbe016", "af0682fb74e8c54910f2d4393339c070")),
    "m": (_M, 1.0, 1.0, 480, ("a3bf6aa3276309f4fc6a34aa114c95cd", "1b8dc055df72dde80d614482840fe342")),
    "l": (_L, 1.0, 1.0, 480, ("27e6d408b53c7ebc868fefa357689935", "b0b66b5c863aef5b46e8608fe1711615")),
}
_NORM = {"axis": 3, "momentum": 0.9}
# The depthwise convolution is "dwconv2" here; strided ones pad "same" themselves.
_STYLE = _build.BlockStyle(
    names={**BLOCK_NAMES, "dw": "dwconv2"},
    norm=_NORM,
    init={"kernel_initializer": CONV_INIT},
    pad_strided=False,
    shortcut_first=False,
)


def efficientnet_v2(options, variant, include_preprocessing, activation="swish", drop_connect_rate=0.2):
    """EfficientNetV2 ``variant`` (``"b0"`` ... ``"b3"``, ``"s"``, ``"m"``, ``"l"``)."""
    stages, width, depth, default_size, hashes = _VARIANTS[variant]

    def filters_of(n):
        return _build.round_to(n * width, keep=0)

    # The drop rate grows over the unscaled block count (so B1-B3 stop short of the full rate).
    total = float(sum(stage[1] for stage in stages))

    def unit(x, filters, kernel, unit_names, strides=1):
        return _build.conv_unit(
            x, filters, kernel, unit_names, strides=strides, padding="same", use_bias=False,
            kernel_initializer=CONV_INIT, norm=_NORM, act=activation,
        )  # fmt: skip

    def body(x, shape):
        if include_preprocessing:
            if variant.startswith("b") and shape[2] == 3:
                x = layers.Rescaling(scale=1.0 / 255)(x)
                x = layers.Normalization(mean=[0.485, 0.456, 0.406], variance=[s**2 for s in (0.229, 0.224, 0.225)],
                                         axis=3)(x)  # fmt: skip
            else:
                x = layers.Rescaling(scale=1.0 / 128.0, offset=-1)(x)
        x = unit(x, filters_of(stages[0][2]), 3, ("stem_conv", "stem_bn", "stem_activation"), strides=2)
        index = 0
        for number, (kernel, blocks, filters_in, filters_out, expansion, se, stride, fused) in enumerate(stages, 1):
            for j in range(math.ceil(depth * blocks)):
                block_in = filters_of(filters_in) if j == 0 else filters_of(filters_out)
                x = _build.inverted_residual(
                    x,
                    _STYLE,
                    f"block{number}{chr(ord('a') + j)}_",
                    filters=filters_of(filters_out),
                    kernel=kernel,
                    stride=stride if j == 0 else 1,
                    expanded=block_in * expansion if expansion != 1 else None,
                    act=activation,
                    se=squeeze_excite(activation) if se else None,
                    drop=drop_connect_rate * index / total,
                    fused=fused,
                )
                index += 1
        return unit(x, filters_of(1280), 1, ("top_conv", "top_bn", "top_activation"))

    stem = f"efficientnetv2-{variant}"

    def weight_file(top):
        file_name = stem + (".h5" if top else "_notop.h5")
        return file_name, f"{imagenet_utils.WEIGHTS_URL}efficientnet_v2/{file_name}", hashes[0 if top else 1]

    return _build.application(
        options,
        body,
        default_size=default_size,
        head=classifier(0.2),
        pool_names=("avg_pool", "max_pool"),
        weight_file=weight_file,
    )


def _public(variant):
    def build(
        include_top=True,
        weights="imagenet",
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=1000,
        classifier_activation="softmax",
        include_preprocessing=True,
        name=f"efficientnetv2-{variant}",
    ):
        options = _build.Options(
            include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation, name
        )
        return efficientnet_v2(options, variant, include_preprocessing)

    size = _VARIANTS[variant][3]
    build.__name__ = build.__qualname__ = f"EfficientNetV2{variant.upper()}"
    build.__doc__ = (
        f"Instantiates the EfficientNetV2{variant.upper()} architecture (Keras's "
        f"``keras.applications.EfficientNetV2{variant.upper()}``): default input {size}x{size}, images in "
        "[0, 255]; ``include_preprocessing=False`` takes inputs already preprocessed.\n" + imagenet_utils.ARGS_DOC
    )
    return build


EfficientNetV2B0 = _public("b0")
EfficientNetV2B1 = _public("b1")
EfficientNetV2B2 = _public("b2")
EfficientNetV2B3 = _public("b3")
EfficientNetV2S = _public("s")
EfficientNetV2M = _public("m")
EfficientNetV2L = _public("l")


preprocess_input = imagenet_utils.module_functions(__name__, "EfficientNetV2", None)
decode_predictions = imagenet_utils.decode_predictions
