"""MobileNet (Howard et al., 2017): `MobileNets: Efficient Convolutional Neural Networks for
Mobile Vision Applications <https://arxiv.org/abs/1704.04861>`_.

A 3x3 convolution, then thirteen depthwise-separable blocks (3x3 depthwise, 1x1 pointwise, each
with BatchNormalization and ReLU6), widths scaled by ``alpha``; the classifier is a 1x1
convolution. MobileNetV2 shares the input rules below (:func:`square_size`, :func:`published_rows`).

Example:
    >>> from plait.applications import MobileNet
    >>> model = MobileNet(weights=None, alpha=0.25, include_top=False, input_shape=(32, 32, 3), pooling="avg")
    >>> model.output.shape
    (None, 256)
"""

import warnings

from plait import layers
from plait.applications import _build, imagenet_utils

_NORM = {"axis": -1}
# (pointwise filters, stride) of the thirteen blocks.
_BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), *[(512, 1)] * 5, (1024, 2), (1024, 1)]
_SIZES = (128, 160, 192, 224)


def relu6(x, name):
    return layers.ReLU(6.0, name=name)(x)


def square_size(rows, cols, sizes):
    """The side ImageNet weights exist for when the input is a square of a published side,
    else 224."""
    return rows if rows == cols and rows in sizes else 224


def published_rows(shape, sizes):
    """The image side of the published weights file to load for ``shape`` (224, with a
    warning, when no file matches the input)."""
    rows, cols = shape[0], shape[1]
    if rows == cols and rows in sizes:
        return rows
    warnings.warn(
        f"`input_shape` is undefined or non-square, or `rows` is not in {list(sizes)}. "
        "Weights for input shape (224, 224) will be loaded as the default.",
        stacklevel=3,
    )
    return 224


def _classifier(dropout):
    def head(x, options):
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Conv2D(options.classes, 1, padding="same", name="conv_preds")(x)
        x = layers.Reshape((options.classes,), name="reshape_2")(x)
        return layers.Activation(options.classifier_activation, name="predictions")(x)

    return head


def MobileNet(
    input_shape=None,
    alpha=1.0,
    depth_multiplier=1,
    dropout=1e-3,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
):
    """Instantiates the MobileNet architecture (Keras's ``keras.applications.MobileNet``);
    inputs preprocessed by :func:`preprocess_input` ([-1, 1]).

    Family-specific arguments (the rest as below):
        alpha: width multiplier: the number of filters in each layer is scaled by it (ImageNet
            weights exist for 0.25, 0.5, 0.75 and 1.0).
        depth_multiplier: depth multiplier of the depthwise convolutions (1 with ImageNet weights).
        dropout: dropout rate before the classifier (default 1e-3).
        name: default ``mobilenet_{alpha:.2f}_{rows}`` with ``_`` for
            Keras's ``.`` (``1_00`` for ``1.00``), as plait's names cannot hold dots.
    """
    options, _ = _build.Options.split(locals())
    imagenet_utils.check_weights(weights, include_top, classes)
    given = input_shape or (None, None)
    shape = imagenet_utils.obtain_input_shape(
        input_shape, square_size(given[0], given[1], _SIZES), 32, None, include_top, weights
    )
    rows = shape[0]
    if weights == "imagenet":
        if depth_multiplier != 1:
            raise ValueError(
                "If imagenet weights are being loaded, depth multiplier must be 1.  "
                f"Received depth_multiplier={depth_multiplier}"
            )
        if alpha not in (0.25, 0.5, 0.75, 1.0):
            raise ValueError(
                "If imagenet weights are being loaded, alpha can be one of`0.25`, `0.50`, `0.75` or `1.0` only.  "
                f"Received alpha={alpha}"
            )
        rows = published_rows(shape, _SIZES)
    # Keras's name has a '.' (mobilenet_1.00_224); plait's names cannot (they are module paths).
    options.name = name or f"mobilenet_{alpha:0.2f}_{rows}".replace(".", "_")

    def body(x, _):
        x = _build.conv_unit(
            x, int(32 * alpha), 3, ("conv1", "conv1_bn", "conv1_relu"), strides=2, padding="same",
            use_bias=False, norm=_NORM, act=relu6,
        )  # fmt: skip
        for block, (filters, stride) in enumerate(_BLOCKS, start=1):
            padding = "same"
            if stride == 2:  # pad bottom and right only, as TF's "same" does for even sizes
                x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block}")(x)
                padding = "valid"
            x = _build.conv_unit(
                x, None, 3, _build.names(f"conv_dw_{block}", "", "_bn", "_relu"), kind="depthwise",
                strides=stride, padding=padding, depth_multiplier=depth_multiplier, use_bias=False,
                norm=_NORM, act=relu6,
            )  # fmt: skip
            x = _build.conv_unit(
                x, int(filters * alpha), 1, _build.names(f"conv_pw_{block}", "", "_bn", "_relu"),
                padding="same", use_bias=False, norm=_NORM, act=relu6,
            )  # fmt: skip
        return x

    def weight_file(top):
        alpha_text = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0"}.get(alpha, "2_5")
        file_name = f"mobilenet_{alpha_text}_{rows}_tf{'' if top else '_no_top'}.h5"
        return file_name, f"{imagenet_utils.WEIGHTS_URL}mobilenet/{file_name}", None

    return _build.application(
        options, body, default_size=224, head=_classifier(dropout), weight_file=weight_file, shape=shape
    )


MobileNet.__doc__ += imagenet_utils.ARGS_DOC


preprocess_input = imagenet_utils.module_functions(__name__, "MobileNet", "tf")
decode_predictions = imagenet_utils.decode_predictions
