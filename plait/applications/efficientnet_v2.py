"""EfficientNetV2 B0-B3, S, M, L (Tan & Le, 2021): `EfficientNetV2: Smaller Models and Faster
Training <https://arxiv.org/abs/2104.00298>`_.

Ported from Keras 3.15 (``keras/src/applications/efficientnet_v2.py``, Apache-2.0) with the
same layer calls, in the same order, so names and weights match Keras's. The model rescales
(and for B0-B3 normalizes) its [0, 255] input itself (``include_preprocessing=True``), so
:func:`preprocess_input` returns its input unchanged, as Keras's does.

Example:
    >>> import torch
    >>> from plait.applications import EfficientNetV2B0
    >>> with torch.device("meta"):  # shapes and counts without allocating or initialising weights
    ...     model = EfficientNetV2B0(weights=None, include_top=False, input_shape=(32, 32, 3), pooling="avg")
    >>> model.output.shape, model.count_params()
    ((None, 1280), 5919312)
"""

import copy
import math

from plait import layers
from plait.applications import imagenet_utils
from plait.models import Model

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/efficientnet_v2/"
WEIGHTS_HASHES = {
    "b0": ("21ecbf6da12460d5c40bb2f29ceb2188", "893217f2bb855e2983157299931e43ff"),
    "b1": ("069f0534ff22adf035c89e2d9547a9dc", "0e80663031ca32d657f9caa404b6ec37"),
    "b2": ("424e49f28180edbde1e94797771950a7", "1dfe2e7a5d45b6632553a8961ea609eb"),
    "b3": ("1f1fc43bd98a6e4fd8fdfd551e02c7a0", "f6abf7b5849ac99a89b50dd3fd532856"),
    "-s": ("e1d88a8495beba45748fedd0cecbe016", "af0682fb74e8c54910f2d4393339c070"),
    "-m": ("a3bf6aa3276309f4fc6a34aa114c95cd", "1b8dc055df72dde80d614482840fe342"),
    "-l": ("27e6d408b53c7ebc868fefa357689935", "b0b66b5c863aef5b46e8608fe1711615"),
}
_KEYS = ("kernel_size", "num_repeat", "input_filters", "output_filters", "expand_ratio", "se_ratio", "strides")
_KEYS += ("conv_type",)  # 0: MBConvBlock, 1: FusedMBConvBlock
_B = [
    (3, 1, 32, 16, 1, 0, 1, 1),
    (3, 2, 16, 32, 4, 0, 2, 1),
    (3, 2, 32, 48, 4, 0, 2, 1),
    (3, 3, 48, 96, 4, 0.25, 2, 0),
    (3, 5, 96, 112, 6, 0.25, 1, 0),
    (3, 8, 112, 192, 6, 0.25, 2, 0),
]
_TABLES = {
    "efficientnetv2-s": [
        (3, 2, 24, 24, 1, 0.0, 1, 1),
        (3, 4, 24, 48, 4, 0.0, 2, 1),
        (3, 4, 48, 64, 4, 0, 2, 1),
        (3, 6, 64, 128, 4, 0.25, 2, 0),
        (3, 9, 128, 160, 6, 0.25, 1, 0),
        (3, 15, 160, 256, 6, 0.25, 2, 0),
    ],
    "efficientnetv2-m": [
        (3, 3, 24, 24, 1, 0, 1, 1),
        (3, 5, 24, 48, 4, 0, 2, 1),
        (3, 5, 48, 80, 4, 0, 2, 1),
        (3, 7, 80, 160, 4, 0.25, 2, 0),
        (3, 14, 160, 176, 6, 0.25, 1, 0),
        (3, 18, 176, 304, 6, 0.25, 2, 0),
        (3, 5, 304, 512, 6, 0.25, 1, 0),
    ],
    "efficientnetv2-l": [
        (3, 4, 32, 32, 1, 0, 1, 1),
        (3, 7, 32, 64, 4, 0, 2, 1),
        (3, 7, 64, 96, 4, 0, 2, 1),
        (3, 10, 96, 192, 4, 0.25, 2, 0),
        (3, 19, 192, 224, 6, 0.25, 1, 0),
        (3, 25, 224, 384, 6, 0.25, 2, 0),
        (3, 7, 384, 640, 6, 0.25, 1, 0),
    ],
    "efficientnetv2-b0": _B,
    "efficientnetv2-b1": _B,
    "efficientnetv2-b2": _B,
    "efficientnetv2-b3": _B,
}
DEFAULT_BLOCKS_ARGS = {name: [dict(zip(_KEYS, row)) for row in rows] for name, rows in _TABLES.items()}
CONV_KERNEL_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"},
}
DENSE_KERNEL_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"},
}
BN_AXIS = 3


def round_filters(filters, width_coefficient, min_depth, depth_divisor):
    """Number of filters scaled by ``width_coefficient``, rounded to ``depth_divisor``."""
    filters *= width_coefficient
    minimum_depth = min_depth or depth_divisor
    new_filters = max(minimum_depth, int(filters + depth_divisor / 2) // depth_divisor * depth_divisor)
    return int(new_filters)


def round_repeats(repeats, depth_coefficient):
    """Number of repeats scaled by ``depth_coefficient``, rounded up."""
    return int(math.ceil(depth_coefficient * repeats))


def _squeeze_excite(x, filters, input_filters, se_ratio, activation, name):
    filters_se = max(1, int(input_filters * se_ratio))
    se = layers.GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
    se = layers.Reshape((1, 1, filters), name=f"{name}se_reshape")(se)
    se = layers.Conv2D(
        filters_se,
        1,
        padding="same",
        activation=activation,
        kernel_initializer=CONV_KERNEL_INITIALIZER,
        name=f"{name}se_reduce",
    )(se)
    se = layers.Conv2D(
        filters,
        1,
        padding="same",
        activation="sigmoid",
        kernel_initializer=CONV_KERNEL_INITIALIZER,
        name=f"{name}se_expand",
    )(se)
    return layers.multiply([x, se], name=f"{name}se_excite")


def _residual(x, inputs, strides, input_filters, output_filters, survival_probability, name):
    if strides == 1 and input_filters == output_filters:
        if survival_probability:
            # Keras passes the survival probability as the drop rate; kept for identical models.
            x = layers.Dropout(survival_probability, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
        x = layers.add([x, inputs], name=f"{name}add")
    return x


def MBConvBlock(
    input_filters,
    output_filters,
    expand_ratio=1,
    kernel_size=3,
    strides=1,
    se_ratio=0.0,
    bn_momentum=0.9,
    activation="swish",
    survival_probability=0.8,
    name=None,
):
    """MBConv block: expand (1x1), depthwise, squeeze-and-excite, project (1x1)."""
    if name is None:
        name = imagenet_utils.get_uid("block0")

    def apply(inputs):
        filters = input_filters * expand_ratio
        if expand_ratio != 1:
            x = layers.Conv2D(
                filters=filters,
                kernel_size=1,
                strides=1,
                kernel_initializer=CONV_KERNEL_INITIALIZER,
                padding="same",
                use_bias=False,
                name=f"{name}expand_conv",
            )(inputs)
            x = layers.BatchNormalization(axis=BN_AXIS, momentum=bn_momentum, name=f"{name}expand_bn")(x)
            x = layers.Activation(activation, name=f"{name}expand_activation")(x)
        else:
            x = inputs
        x = layers.DepthwiseConv2D(
            kernel_size=kernel_size,
            strides=strides,
            depthwise_initializer=CONV_KERNEL_INITIALIZER,
            padding="same",
            use_bias=False,
            name=f"{name}dwconv2",
        )(x)
        x = layers.BatchNormalization(axis=BN_AXIS, momentum=bn_momentum, name=f"{name}bn")(x)
        x = layers.Activation(activation, name=f"{name}activation")(x)
        if 0 < se_ratio <= 1:
            x = _squeeze_excite(x, filters, input_filters, se_ratio, activation, name)
        x = layers.Conv2D(
            filters=output_filters,
            kernel_size=1,
            strides=1,
            kernel_initializer=CONV_KERNEL_INITIALIZER,
            padding="same",
            use_bias=False,
            name=f"{name}project_conv",
        )(x)
        x = layers.BatchNormalization(axis=BN_AXIS, momentum=bn_momentum, name=f"{name}project_bn")(x)
        return _residual(x, inputs, strides, input_filters, output_filters, survival_probability, name)

    return apply


def FusedMBConvBlock(
    input_filters,
    output_filters,
    expand_ratio=1,
    kernel_size=3,
    strides=1,
    se_ratio=0.0,
    bn_momentum=0.9,
    activation="swish",
    survival_probability=0.8,
    name=None,
):
    """Fused-MBConv block: one regular convolution replaces the expand and depthwise ones."""
    if name is None:
        name = imagenet_utils.get_uid("block0")

    def apply(inputs):
        filters = input_filters * expand_ratio
        if expand_ratio != 1:
            x = layers.Conv2D(
                filters,
                kernel_size=kernel_size,
                strides=strides,
                kernel_initializer=CONV_KERNEL_INITIALIZER,
                padding="same",
                use_bias=False,
                name=f"{name}expand_conv",
            )(inputs)
            x = layers.BatchNormalization(axis=BN_AXIS, momentum=bn_momentum, name=f"{name}expand_bn")(x)
            x = layers.Activation(activation=activation, name=f"{name}expand_activation")(x)
        else:
            x = inputs
        if 0 < se_ratio <= 1:
            x = _squeeze_excite(x, filters, input_filters, se_ratio, activation, name)
        x = layers.Conv2D(
            output_filters,
            kernel_size=1 if expand_ratio != 1 else kernel_size,
            strides=1 if expand_ratio != 1 else strides,
            kernel_initializer=CONV_KERNEL_INITIALIZER,
            padding="same",
            use_bias=False,
            name=f"{name}project_conv",
        )(x)
        x = layers.BatchNormalization(axis=BN_AXIS, momentum=bn_momentum, name=f"{name}project_bn")(x)
        if expand_ratio == 1:
            x = layers.Activation(activation=activation, name=f"{name}project_activation")(x)
        return _residual(x, inputs, strides, input_filters, output_filters, survival_probability, name)

    return apply


def EfficientNetV2(
    width_coefficient,
    depth_coefficient,
    default_size,
    dropout_rate=0.2,
    drop_connect_rate=0.2,
    depth_divisor=8,
    min_depth=8,
    bn_momentum=0.9,
    activation="swish",
    blocks_args="default",
    name="efficientnetv2",
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    include_preprocessing=True,
    weights_name=None,
    variant=None,
):
    """An EfficientNetV2; ``variant`` (``efficientnetv2-b0`` ...) picks the block table and the
    input preprocessing (Keras reads both from ``name``, so a renamed model fails there)."""
    variant = variant or name
    if blocks_args == "default":
        blocks_args = DEFAULT_BLOCKS_ARGS[variant]
    imagenet_utils.check_weights(weights, include_top, classes)
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape,
        default_size=default_size,
        min_size=32,
        data_format=None,
        require_flatten=include_top,
        weights=weights,
    )
    img_input = imagenet_utils.image_input(input_tensor, input_shape)

    x = img_input
    if include_preprocessing:
        num_channels = input_shape[BN_AXIS - 1]
        if variant.split("-")[-1].startswith("b") and num_channels == 3:
            x = layers.Rescaling(scale=1.0 / 255)(x)
            x = layers.Normalization(mean=[0.485, 0.456, 0.406], variance=[0.229**2, 0.224**2, 0.225**2], axis=BN_AXIS)(
                x
            )
        else:
            x = layers.Rescaling(scale=1.0 / 128.0, offset=-1)(x)

    def filters_of(n):
        return round_filters(
            filters=n, width_coefficient=width_coefficient, min_depth=min_depth, depth_divisor=depth_divisor
        )

    x = layers.Conv2D(
        filters=filters_of(blocks_args[0]["input_filters"]),
        kernel_size=3,
        strides=2,
        kernel_initializer=CONV_KERNEL_INITIALIZER,
        padding="same",
        use_bias=False,
        name="stem_conv",
    )(x)
    x = layers.BatchNormalization(axis=BN_AXIS, momentum=bn_momentum, name="stem_bn")(x)
    x = layers.Activation(activation, name="stem_activation")(x)

    blocks_args = copy.deepcopy(blocks_args)
    b = 0
    blocks = float(sum(args["num_repeat"] for args in blocks_args))
    for i, args in enumerate(blocks_args):
        if args["num_repeat"] <= 0:
            raise ValueError(
                f"The number of repeats in `EfficientNetV2` must be > 0. Received: num_repeat={args['num_repeat']}"
            )
        args["input_filters"] = filters_of(args["input_filters"])
        args["output_filters"] = filters_of(args["output_filters"])
        block = {0: MBConvBlock, 1: FusedMBConvBlock}[args.pop("conv_type")]
        repeats = round_repeats(repeats=args.pop("num_repeat"), depth_coefficient=depth_coefficient)
        for j in range(repeats):
            if j > 0:  # only the first block of a stage strides and changes the width
                args["strides"] = 1
                args["input_filters"] = args["output_filters"]
            x = block(
                activation=activation,
                bn_momentum=bn_momentum,
                survival_probability=drop_connect_rate * b / blocks,
                name=f"block{i + 1}{chr(j + 97)}_",
                **args,
            )(x)
            b += 1

    x = layers.Conv2D(
        filters=filters_of(1280),
        kernel_size=1,
        strides=1,
        kernel_initializer=CONV_KERNEL_INITIALIZER,
        padding="same",
        use_bias=False,
        name="top_conv",
    )(x)
    x = layers.BatchNormalization(axis=BN_AXIS, momentum=bn_momentum, name="top_bn")(x)
    x = layers.Activation(activation=activation, name="top_activation")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate, name="top_dropout")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(
            classes,
            activation=classifier_activation,
            kernel_initializer=DENSE_KERNEL_INITIALIZER,
            bias_initializer="zeros",
            name="predictions",
        )(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)

    model = Model(imagenet_utils.model_inputs(input_tensor, img_input), x, name=name)
    file_name = file_hash = None
    if weights_name in WEIGHTS_HASHES:
        file_name = variant + (".h5" if include_top else "_notop.h5")
        file_hash = WEIGHTS_HASHES[weights_name][0 if include_top else 1]
    imagenet_utils.load_weights(model, weights, file_name, f"{BASE_WEIGHTS_PATH}{file_name}", file_hash)
    return model


def _variant(width, depth, size, key, suffix):
    variant = f"efficientnetv2-{suffix}"

    def build(
        include_top=True,
        weights="imagenet",
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=1000,
        classifier_activation="softmax",
        include_preprocessing=True,
        name=variant,
    ):
        return EfficientNetV2(
            width_coefficient=width,
            depth_coefficient=depth,
            default_size=size,
            name=name,
            include_top=include_top,
            weights=weights,
            input_tensor=input_tensor,
            input_shape=input_shape,
            pooling=pooling,
            classes=classes,
            classifier_activation=classifier_activation,
            include_preprocessing=include_preprocessing,
            weights_name=key,
            variant=variant,
        )

    build.__name__ = build.__qualname__ = f"EfficientNetV2{suffix.upper()}"
    build.__doc__ = (
        f"Instantiates the EfficientNetV2{suffix.upper()} architecture (Keras's "
        f"``keras.applications.EfficientNetV2{suffix.upper()}``): default input {size}x{size}, images in "
        "[0, 255]; ``include_preprocessing=False`` takes inputs already preprocessed.\n" + imagenet_utils.ARGS_DOC
    )
    return build


EfficientNetV2B0 = _variant(1.0, 1.0, 224, "b0", "b0")
EfficientNetV2B1 = _variant(1.0, 1.1, 240, "b1", "b1")
EfficientNetV2B2 = _variant(1.1, 1.2, 260, "b2", "b2")
EfficientNetV2B3 = _variant(1.2, 1.4, 300, "b3", "b3")
EfficientNetV2S = _variant(1.0, 1.0, 384, "-s", "s")
EfficientNetV2M = _variant(1.0, 1.0, 480, "-m", "m")
EfficientNetV2L = _variant(1.0, 1.0, 480, "-l", "l")


def preprocess_input(x, data_format=None):
    """Returns ``x`` unchanged: EfficientNetV2 models preprocess their input themselves (Keras
    keeps this function for backward compatibility)."""
    return x


def decode_predictions(preds, top=5):
    """ImageNet predictions to ``(class_name, description, score)`` tuples (see imagenet_utils)."""
    return imagenet_utils.decode_predictions(preds, top=top)
