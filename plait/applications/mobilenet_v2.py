"""MobileNetV2 (Sandler et al., 2018): `MobileNetV2: Inverted Residuals and Linear Bottlenecks
<https://arxiv.org/abs/1801.04381>`_.

Ported from Keras 3.15 (``keras/src/applications/mobilenet_v2.py``, Apache-2.0) with the same
layer calls and names, so Keras's weight files load by name.

Example:
    >>> from plait.applications import MobileNetV2
    >>> model = MobileNetV2(weights=None, alpha=0.35, include_top=False, input_shape=(32, 32, 3), pooling="avg")
    >>> model.output.shape, model.count_params()
    ((None, 1280), 410208)
"""

import warnings

from plait import layers
from plait.applications import imagenet_utils
from plait.graph.node import SymbolicTensor
from plait.models import Model

BASE_WEIGHT_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
CHANNEL_AXIS = -1
_SIZES = [96, 128, 160, 192, 224]
# (filters, stride, expansion) of blocks 0..16
_BLOCKS = [(16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6), (64, 1, 6)]
_BLOCKS += [(64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6), (160, 2, 6), (160, 1, 6), (160, 1, 6)]
_BLOCKS += [(320, 1, 6)]


def MobileNetV2(
    input_shape=None,
    alpha=1.0,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
):
    """Instantiates the MobileNetV2 architecture (Keras's ``keras.applications.MobileNetV2``);
    inputs preprocessed by :func:`preprocess_input` ([-1, 1]).

    Family-specific arguments (the rest as below):
        alpha: width multiplier (ImageNet weights exist for 0.35, 0.5, 0.75, 1.0, 1.3, 1.4).
        name: default ``mobilenetv2_{alpha:.2f}_{rows}`` with ``_`` for
            Keras's ``.`` (``1_00`` for ``1.00``), as plait's names cannot hold dots.
    """
    imagenet_utils.check_weights(weights, include_top, classes)
    if input_tensor is not None and not isinstance(input_tensor, SymbolicTensor):
        raise ValueError(f"input_tensor is not a plait symbolic tensor; Received `input_tensor={input_tensor}`")
    if input_shape is not None and input_tensor is not None and input_tensor.shape[2] != input_shape[1]:
        raise ValueError(
            "input_tensor.shape[2] must equal input_shape[1]; "
            f"Received `input_tensor.shape={input_tensor.shape}`, `input_shape={input_shape}`"
        )
    if input_shape is None and input_tensor is not None:
        rows, cols = input_tensor.shape[1], input_tensor.shape[2]
    elif input_shape is not None:
        rows, cols = input_shape[0], input_shape[1]
    else:
        rows = cols = None
    default_size = rows if rows == cols and rows in _SIZES else 224
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape,
        default_size=default_size,
        min_size=32,
        data_format=None,
        require_flatten=include_top,
        weights=weights,
    )
    rows, cols = input_shape[0], input_shape[1]
    if weights == "imagenet":
        if alpha not in [0.35, 0.50, 0.75, 1.0, 1.3, 1.4]:
            raise ValueError(
                "If imagenet weights are being loaded, alpha must be one of `0.35`, `0.50`, `0.75`, "
                f"`1.0`, `1.3` or `1.4` only; Received `alpha={alpha}`"
            )
        if rows != cols or rows not in _SIZES:
            rows = 224
            warnings.warn(
                "`input_shape` is undefined or non-square, or `rows` is not in [96, 128, 160, 192, 224]. "
                "Weights for input shape (224, 224) will be loaded as the default.",
                stacklevel=2,
            )
    img_input = imagenet_utils.image_input(input_tensor, input_shape)

    first_block_filters = _make_divisible(32 * alpha, 8)
    x = layers.Conv2D(first_block_filters, kernel_size=3, strides=(2, 2), padding="same", use_bias=False, name="Conv1")(
        img_input
    )
    x = layers.BatchNormalization(axis=CHANNEL_AXIS, epsilon=1e-3, momentum=0.999, name="bn_Conv1")(x)
    x = layers.ReLU(6.0, name="Conv1_relu")(x)
    for block_id, (filters, stride, expansion) in enumerate(_BLOCKS):
        x = _inverted_res_block(x, filters=filters, alpha=alpha, stride=stride, expansion=expansion, block_id=block_id)

    # No width multiplier on the last convolution when alpha <= 1 (the paper's choice).
    last_block_filters = _make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = layers.Conv2D(last_block_filters, kernel_size=1, use_bias=False, name="Conv_1")(x)
    x = layers.BatchNormalization(axis=CHANNEL_AXIS, epsilon=1e-3, momentum=0.999, name="Conv_1_bn")(x)
    x = layers.ReLU(6.0, name="out_relu")(x)

    if include_top:
        x = layers.GlobalAveragePooling2D()(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D()(x)

    if name is None:
        # Keras's name has a '.' (mobilenet_1.00_224); plait's names cannot (they are module paths).
        name = f"mobilenetv2_{alpha:0.2f}_{rows}".replace(".", "_")
    model = Model(imagenet_utils.model_inputs(input_tensor, img_input), x, name=name)
    model_name = (
        f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}{'' if include_top else '_no_top'}.h5"
    )
    imagenet_utils.load_weights(model, weights, model_name, f"{BASE_WEIGHT_PATH}{model_name}")
    return model


MobileNetV2.__doc__ += imagenet_utils.ARGS_DOC


def _inverted_res_block(inputs, expansion, stride, alpha, filters, block_id):
    """Inverted residual block: expand (1x1), depthwise 3x3, project (1x1), add when shapes allow."""
    in_channels = inputs.shape[CHANNEL_AXIS]
    pointwise_filters = _make_divisible(int(filters * alpha), 8)
    x = inputs
    prefix = f"block_{block_id}_"
    if block_id:
        x = layers.Conv2D(
            expansion * in_channels,
            kernel_size=1,
            padding="same",
            use_bias=False,
            activation=None,
            name=f"{prefix}expand",
        )(x)
        x = layers.BatchNormalization(axis=CHANNEL_AXIS, epsilon=1e-3, momentum=0.999, name=f"{prefix}expand_BN")(x)
        x = layers.ReLU(6.0, name=f"{prefix}expand_relu")(x)
    else:
        prefix = "expanded_conv_"
    if stride == 2:
        x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, 3), name=f"{prefix}pad")(x)
    x = layers.DepthwiseConv2D(
        kernel_size=3,
        strides=stride,
        activation=None,
        use_bias=False,
        padding="same" if stride == 1 else "valid",
        name=f"{prefix}depthwise",
    )(x)
    x = layers.BatchNormalization(axis=CHANNEL_AXIS, epsilon=1e-3, momentum=0.999, name=f"{prefix}depthwise_BN")(x)
    x = layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = layers.Conv2D(
        pointwise_filters, kernel_size=1, padding="same", use_bias=False, activation=None, name=f"{prefix}project"
    )(x)
    x = layers.BatchNormalization(axis=CHANNEL_AXIS, epsilon=1e-3, momentum=0.999, name=f"{prefix}project_BN")(x)
    if in_channels == pointwise_filters and stride == 1:
        return layers.Add(name=f"{prefix}add")([inputs, x])
    return x


def _make_divisible(v, divisor, min_value=None):
    """``v`` rounded to a multiple of ``divisor``, never down by more than 10%."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def preprocess_input(x, data_format=None):
    """Images in [0, 255] to MobileNetV2's input: scaled to [-1, 1] (tf mode)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    """ImageNet predictions to ``(class_name, description, score)`` tuples (see imagenet_utils)."""
    return imagenet_utils.decode_predictions(preds, top=top)
