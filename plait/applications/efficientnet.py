"""EfficientNetB0-B7 (Tan & Le, 2019): `EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks <https://arxiv.org/abs/1905.11946>`_.

Ported from Keras 3.15 (``keras/src/applications/efficientnet.py``, Apache-2.0) with the same
layer calls, in the same order, so names and weights match Keras's. The model rescales and
normalizes its [0, 255] input itself, so :func:`preprocess_input` returns its input unchanged,
as Keras's does.

Example:
    >>> import torch
    >>> from plait.applications import EfficientNetB0
    >>> with torch.device("meta"):  # shapes and counts without allocating or initialising weights
    ...     model = EfficientNetB0(weights=None, include_top=False, input_shape=(32, 32, 3), pooling="avg")
    >>> model.output.shape, model.count_params()
    ((None, 1280), 4049571)
"""

import copy
import math

from plait import layers
from plait.applications import imagenet_utils
from plait.models import Model

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/keras-applications/"
WEIGHTS_HASHES = {
    "b0": ("902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"),
    "b1": ("1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"),
    "b2": ("b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"),
    "b3": ("ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226"),
    "b4": ("18c95ad55216b8f92d7e70b3a046e2fc", "ebc24e6d6c33eaebbd558eafbeedf1ba"),
    "b5": ("ace28f2a6363774853a83a0b21b9421a", "38879255a25d3c92d5e44e04ae6cec6f"),
    "b6": ("165f6e37dce68623721b423839de8be5", "9ecce42647a20130c1f39a5d4cb75743"),
    "b7": ("8c03f828fec3ef71311cd463b6759d99", "cbcfe4450ddf6f3ad90b1b398090fe4a"),
}


def _block_args(kernel_size, repeats, filters_in, filters_out, expand_ratio, strides):
    return {
        "kernel_size": kernel_size,
        "repeats": repeats,
        "filters_in": filters_in,
        "filters_out": filters_out,
        "expand_ratio": expand_ratio,
        "id_skip": True,
        "strides": strides,
        "se_ratio": 0.25,
    }


DEFAULT_BLOCKS_ARGS = [
    _block_args(3, 1, 32, 16, 1, 1),
    _block_args(3, 2, 16, 24, 6, 2),
    _block_args(5, 2, 24, 40, 6, 2),
    _block_args(3, 3, 40, 80, 6, 2),
    _block_args(5, 3, 80, 112, 6, 1),
    _block_args(5, 4, 112, 192, 6, 2),
    _block_args(3, 1, 192, 320, 6, 1),
]
CONV_KERNEL_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"},
}
DENSE_KERNEL_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"},
}
IMAGENET_STDDEV_RGB = [0.229, 0.224, 0.225]
BN_AXIS = 3


def EfficientNet(
    width_coefficient,
    depth_coefficient,
    default_size,
    dropout_rate=0.2,
    drop_connect_rate=0.2,
    depth_divisor=8,
    activation="swish",
    blocks_args="default",
    name="efficientnet",
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    weights_name=None,
):
    """An EfficientNet scaled by ``width_coefficient`` (filters) and ``depth_coefficient``
    (repeats of each block)."""
    if blocks_args == "default":
        blocks_args = DEFAULT_BLOCKS_ARGS
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

    def round_filters(filters, divisor=depth_divisor):
        filters *= width_coefficient
        new_filters = max(divisor, int(filters + divisor / 2) // divisor * divisor)
        if new_filters < 0.9 * filters:  # never round down by more than 10%
            new_filters += divisor
        return int(new_filters)

    def round_repeats(repeats):
        return int(math.ceil(depth_coefficient * repeats))

    x = img_input
    x = layers.Rescaling(1.0 / 255.0)(x)
    x = layers.Normalization(axis=BN_AXIS)(x)
    if weights == "imagenet":
        # The published weights' Normalization holds the variance, not the std, of ImageNet's
        # channels; Keras corrects this with one more rescaling (keras-team/keras#17477).
        x = layers.Rescaling([1.0 / math.sqrt(stddev) for stddev in IMAGENET_STDDEV_RGB])(x)
    x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, 3), name="stem_conv_pad")(x)
    x = layers.Conv2D(
        round_filters(32),
        3,
        strides=2,
        padding="valid",
        use_bias=False,
        kernel_initializer=CONV_KERNEL_INITIALIZER,
        name="stem_conv",
    )(x)
    x = layers.BatchNormalization(axis=BN_AXIS, name="stem_bn")(x)
    x = layers.Activation(activation, name="stem_activation")(x)

    blocks_args = copy.deepcopy(blocks_args)
    b = 0
    blocks = float(sum(round_repeats(args["repeats"]) for args in blocks_args))
    for i, args in enumerate(blocks_args):
        if args["repeats"] <= 0:
            raise ValueError(
                f"The number of repeats in `EfficientNet` must be > 0. Received: repeats={args['repeats']}"
            )
        args["filters_in"] = round_filters(args["filters_in"])
        args["filters_out"] = round_filters(args["filters_out"])
        for j in range(round_repeats(args.pop("repeats"))):
            if j > 0:  # only the first block of a stage strides and changes the width
                args["strides"] = 1
                args["filters_in"] = args["filters_out"]
            x = block(x, activation, drop_connect_rate * b / blocks, name=f"block{i + 1}{chr(j + 97)}_", **args)
            b += 1

    x = layers.Conv2D(
        round_filters(1280),
        1,
        padding="same",
        use_bias=False,
        kernel_initializer=CONV_KERNEL_INITIALIZER,
        name="top_conv",
    )(x)
    x = layers.BatchNormalization(axis=BN_AXIS, name="top_bn")(x)
    x = layers.Activation(activation, name="top_activation")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate, name="top_dropout")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(
            classes, activation=classifier_activation, kernel_initializer=DENSE_KERNEL_INITIALIZER, name="predictions"
        )(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)

    model = Model(imagenet_utils.model_inputs(input_tensor, img_input), x, name=name)
    file_name = file_hash = None
    if weights_name in WEIGHTS_HASHES:
        file_name = name + (".h5" if include_top else "_notop.h5")
        file_hash = WEIGHTS_HASHES[weights_name][0 if include_top else 1]
    imagenet_utils.load_weights(model, weights, file_name, f"{BASE_WEIGHTS_PATH}{file_name}", file_hash)
    return model


def block(
    inputs,
    activation="swish",
    drop_rate=0.0,
    name="",
    filters_in=32,
    filters_out=16,
    kernel_size=3,
    strides=1,
    expand_ratio=1,
    se_ratio=0.0,
    id_skip=True,
):
    """An inverted residual (MBConv) block with squeeze-and-excite and stochastic depth
    (``Dropout`` with ``noise_shape=(None, 1, 1, 1)``: whole samples, in training only)."""
    filters = filters_in * expand_ratio
    if expand_ratio != 1:
        x = layers.Conv2D(
            filters,
            1,
            padding="same",
            use_bias=False,
            kernel_initializer=CONV_KERNEL_INITIALIZER,
            name=f"{name}expand_conv",
        )(inputs)
        x = layers.BatchNormalization(axis=BN_AXIS, name=f"{name}expand_bn")(x)
        x = layers.Activation(activation, name=f"{name}expand_activation")(x)
    else:
        x = inputs

    if strides == 2:
        x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, kernel_size), name=f"{name}dwconv_pad")(x)
        conv_pad = "valid"
    else:
        conv_pad = "same"
    x = layers.DepthwiseConv2D(
        kernel_size,
        strides=strides,
        padding=conv_pad,
        use_bias=False,
        depthwise_initializer=CONV_KERNEL_INITIALIZER,
        name=f"{name}dwconv",
    )(x)
    x = layers.BatchNormalization(axis=BN_AXIS, name=f"{name}bn")(x)
    x = layers.Activation(activation, name=f"{name}activation")(x)

    if 0 < se_ratio <= 1:
        filters_se = max(1, int(filters_in * se_ratio))
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
        x = layers.multiply([x, se], name=f"{name}se_excite")

    x = layers.Conv2D(
        filters_out,
        1,
        padding="same",
        use_bias=False,
        kernel_initializer=CONV_KERNEL_INITIALIZER,
        name=f"{name}project_conv",
    )(x)
    x = layers.BatchNormalization(axis=BN_AXIS, name=f"{name}project_bn")(x)
    if id_skip and strides == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
        x = layers.add([x, inputs], name=f"{name}add")
    return x


def _variant(width, depth, size, dropout, key):
    def build(
        include_top=True,
        weights="imagenet",
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=1000,
        classifier_activation="softmax",
        name=f"efficientnet{key}",
    ):
        return EfficientNet(
            width,
            depth,
            size,
            dropout,
            name=name,
            include_top=include_top,
            weights=weights,
            input_tensor=input_tensor,
            input_shape=input_shape,
            pooling=pooling,
            classes=classes,
            classifier_activation=classifier_activation,
            weights_name=key,
        )

    build.__name__ = build.__qualname__ = f"EfficientNet{key.upper()}"
    build.__doc__ = (
        f"Instantiates the EfficientNet{key.upper()} architecture (Keras's "
        f"``keras.applications.EfficientNet{key.upper()}``): width x{width}, depth x{depth}, default input "
        f"{size}x{size}, images in [0, 255].\n" + imagenet_utils.ARGS_DOC
    )
    return build


EfficientNetB0 = _variant(1.0, 1.0, 224, 0.2, "b0")
EfficientNetB1 = _variant(1.0, 1.1, 240, 0.2, "b1")
EfficientNetB2 = _variant(1.1, 1.2, 260, 0.3, "b2")
EfficientNetB3 = _variant(1.2, 1.4, 300, 0.3, "b3")
EfficientNetB4 = _variant(1.4, 1.8, 380, 0.4, "b4")
EfficientNetB5 = _variant(1.6, 2.2, 456, 0.4, "b5")
EfficientNetB6 = _variant(1.8, 2.6, 528, 0.5, "b6")
EfficientNetB7 = _variant(2.0, 3.1, 600, 0.5, "b7")


def preprocess_input(x, data_format=None):
    """Returns ``x`` unchanged: EfficientNet models rescale and normalize their input
    themselves (Keras keeps this function for backward compatibility)."""
    return x


def decode_predictions(preds, top=5):
    """ImageNet predictions to ``(class_name, description, score)`` tuples (see imagenet_utils)."""
    return imagenet_utils.decode_predictions(preds, top=top)
