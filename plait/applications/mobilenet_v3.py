"""MobileNetV3Small and MobileNetV3Large (Howard et al., 2019): `Searching for MobileNetV3
<https://arxiv.org/abs/1905.02244>`_.

Inverted residual blocks (:func:`plait.applications._build.inverted_residual`) with
squeeze-and-excite and hard-swish in the later ones, read from one table per size. The
"minimalistic" variant drops squeeze-and-excite, hard-swish and 5x5 kernels. The model rescales
its [0, 255] input itself (``include_preprocessing=True``), so :func:`preprocess_input` returns
its input unchanged, as Keras's does.

Example:
    >>> from plait.applications import MobileNetV3Small
    >>> model = MobileNetV3Small(weights=None, include_top=False, input_shape=(32, 32, 3), pooling="avg")
    >>> model.output.shape
    (None, 576)
"""

import warnings

from plait import layers
from plait.applications import _build, imagenet_utils
from plait.graph.node import SymbolicTensor

# Published weights (with top, without top) by "{size}[_minimalistic]_224_{alpha}_float".
_HASHES = {
    "large_224_0.75_float": ("765b44a33ad4005b3ac83185abf1d0eb", "40af19a13ebea4e2ee0c676887f69a2e"),
    "large_224_1.0_float": ("59e551e166be033d707958cf9e29a6a7", "07fb09a5933dd0c8eaafa16978110389"),
    "large_minimalistic_224_1.0_float": ("675e7b876c45c57e9e63e6d90a36599c", "ec5221f64a2f6d1ef965a614bdae7973"),
    "small_224_0.75_float": ("cb65d4e5be93758266aa0a7f2c6708b7", "ebdb5cc8e0b497cd13a7c275d475c819"),
    "small_224_1.0_float": ("8768d4c2e7dee89b9d02b2d03d65d862", "d3e8ec802a04aa4fc771ee12a9a9b836"),
    "small_minimalistic_224_1.0_float": ("99cd97fb2fcdad2bf028eb838de69e37", "cde8136e733e811080d9fcd8a252f7e4"),
}
_NORM = {"axis": -1, "epsilon": 1e-3, "momentum": 0.999}
_STYLE = _build.BlockStyle(
    names={
        "expand": "expand",
        "expand_bn": "expand_bn",
        "pad": "depthwise_pad",
        "dw": "depthwise",
        "dw_bn": "depthwise_bn",
        "project": "project",
        "project_bn": "project_bn",
        "add": "add",
    },
    norm=_NORM,
)
# Per block: (expansion, filters, kernel, stride, squeeze-excite, hard-swish); kernel 5,
# squeeze-excite and hard-swish become 3, none and ReLU in the minimalistic variant.
_TABLES = {
    "small": [
        (1, 16, 3, 2, True, False),
        (72 / 16, 24, 3, 2, False, False),
        (88 / 24, 24, 3, 1, False, False),
        (4, 40, 5, 2, True, True),
        (6, 40, 5, 1, True, True),
        (6, 40, 5, 1, True, True),
        (3, 48, 5, 1, True, True),
        (3, 48, 5, 1, True, True),
        (6, 96, 5, 2, True, True),
        (6, 96, 5, 1, True, True),
        (6, 96, 5, 1, True, True),
    ],
    "large": [
        (1, 16, 3, 1, False, False),
        (4, 24, 3, 2, False, False),
        (3, 24, 3, 1, False, False),
        (3, 40, 5, 2, True, False),
        (3, 40, 5, 1, True, False),
        (3, 40, 5, 1, True, False),
        (6, 80, 3, 2, False, True),
        (2.5, 80, 3, 1, False, True),
        (2.3, 80, 3, 1, False, True),
        (2.3, 80, 3, 1, False, True),
        (6, 112, 3, 1, True, True),
        (6, 112, 3, 1, True, True),
        (6, 160, 5, 2, True, True),
        (6, 160, 5, 1, True, True),
        (6, 160, 5, 1, True, True),
    ],
}
# Channels of the layer before the classifier.
_LAST_POINT = {"small": 1024, "large": 1280}


def relu(x, name=None):
    return layers.ReLU(name=name)(x)


def hard_swish(x, name=None):
    return layers.Activation("hard_swish", name=name)(x)


def hard_sigmoid(x):
    # relu6(x + 3) / 6, written with tensor ops as Keras writes it (op nodes, not layers).
    return layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)


def _squeeze_excite(x, prefix, width):
    channels = x.shape[-1]
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}squeeze_excite_avg_pool")(x)
    s = layers.Conv2D(_build.round_to(channels * 0.25), 1, padding="same", name=f"{prefix}squeeze_excite_conv")(s)
    s = layers.ReLU(name=f"{prefix}squeeze_excite_relu")(s)
    gate = hard_sigmoid(layers.Conv2D(channels, 1, padding="same", name=f"{prefix}squeeze_excite_conv_1")(s))
    return layers.Multiply(name=f"{prefix}squeeze_excite_mul")([x, gate])


def _input_shape(input_shape, input_tensor):
    """MobileNetV3's own input rules: any side of at least 32, taken from the tensor if given."""
    if input_tensor is not None and not isinstance(input_tensor, SymbolicTensor):
        raise ValueError(f"input_tensor specified: {input_tensor} is not a plait symbolic tensor")
    if input_shape is not None and input_tensor is not None and input_tensor.shape[2] != input_shape[1]:
        raise ValueError(
            "input_shape[1] must equal input_tensor.shape[2].  Received "
            f"input_shape={input_shape}, input_tensor.shape={input_tensor.shape}"
        )
    if input_shape is None:
        input_shape = (
            (input_tensor.shape[2], input_tensor.shape[1], 3) if input_tensor is not None else (None,) * 2 + (3,)
        )
    rows, cols = input_shape[0], input_shape[1]
    if rows and cols and (rows < 32 or cols < 32):
        raise ValueError(f"Input size must be at least 32x32; Received `input_shape={input_shape}`")
    return tuple(input_shape)


def mobilenet_v3(options, size, alpha, minimalistic, dropout_rate, include_preprocessing):
    """MobileNetV3 ``size`` (``"small"`` or ``"large"``)."""
    imagenet_utils.check_weights(options.weights, options.include_top, options.classes)
    shape = _input_shape(options.input_shape, options.input_tensor)
    if options.weights == "imagenet":
        if alpha not in ((1.0,) if minimalistic else (0.75, 1.0)):
            raise ValueError(
                "If imagenet weights are being loaded, alpha can be one of `0.75`, `1.0` for non minimalistic "
                "or `1.0` for minimalistic only."
            )
        if shape[0] != shape[1] or shape[0] != 224:
            warnings.warn(
                "`input_shape` is undefined or non-square, or `rows` is not 224. "
                "Weights for input shape (224, 224) will be loaded as the default.",
                stacklevel=3,
            )
    act = relu if minimalistic else hard_swish

    def body(x, _):
        if include_preprocessing:
            x = layers.Rescaling(scale=1.0 / 127.5, offset=-1.0)(x)
        stem_names = ("conv", "conv_bn", None)
        x = _build.conv_unit(x, 16, 3, stem_names, strides=2, padding="same", use_bias=False, norm=_NORM, act=act)
        for index, (expansion, filters, kernel, stride, se, swish) in enumerate(_TABLES[size]):
            if minimalistic:
                kernel, se, swish = 3, False, False
            width = x.shape[-1]
            x = _build.inverted_residual(
                x,
                _STYLE,
                f"expanded_conv_{index}_" if index else "expanded_conv_",
                filters=_build.round_to(filters * alpha),
                kernel=kernel,
                stride=stride,
                expanded=_build.round_to(width * expansion) if index else None,
                act=hard_swish if swish else relu,
                se=_squeeze_excite if se else None,
            )
        width = _build.round_to(x.shape[-1] * 6)
        return _build.conv_unit(x, width, 1, ("conv_1", "conv_1_bn", None), padding="same", use_bias=False,
                                norm=_NORM, act=act)  # fmt: skip

    def head(x, options):
        # The last stage widens with alpha only above 1 (the paper's choice).
        last_point = _build.round_to(_LAST_POINT[size] * alpha) if alpha > 1.0 else _LAST_POINT[size]
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = _build.conv_unit(x, last_point, 1, ("conv_2", None, None), padding="same", use_bias=True, act=act)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate)(x)
        x = layers.Conv2D(options.classes, 1, padding="same", name="logits")(x)
        x = layers.Flatten()(x)
        return layers.Activation(options.classifier_activation, name="predictions")(x)

    key = f"{size}{'_minimalistic' if minimalistic else ''}_224_{alpha}_float"

    def weight_file(top):
        if key not in _HASHES:
            return None, None, None
        file_name = f"weights_mobilenet_v3_{key}{'.h5' if top else '_no_top_v2.h5'}"
        return file_name, f"{imagenet_utils.WEIGHTS_URL}mobilenet_v3/{file_name}", _HASHES[key][0 if top else 1]

    return _build.application(
        options,
        body,
        default_size=224,
        head=head,
        pool_names=("avg_pool", "max_pool"),
        weight_file=weight_file,
        shape=shape,
    )


def MobileNetV3Small(
    input_shape=None,
    alpha=1.0,
    minimalistic=False,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    classes=1000,
    pooling=None,
    dropout_rate=0.2,
    classifier_activation="softmax",
    include_preprocessing=True,
    name="MobileNetV3Small",
):
    """Instantiates the MobileNetV3Small architecture (Keras's ``keras.applications.MobileNetV3Small``);
    inputs are images in [0, 255]."""
    options, own = _build.Options.split(locals())
    return mobilenet_v3(options, "small", **own)


def MobileNetV3Large(
    input_shape=None,
    alpha=1.0,
    minimalistic=False,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    classes=1000,
    pooling=None,
    dropout_rate=0.2,
    classifier_activation="softmax",
    include_preprocessing=True,
    name="MobileNetV3Large",
):
    """Instantiates the MobileNetV3Large architecture (Keras's ``keras.applications.MobileNetV3Large``);
    inputs are images in [0, 255]."""
    options, own = _build.Options.split(locals())
    return mobilenet_v3(options, "large", **own)


_DOC = """
    Args:
        input_shape: optional ``(H, W, 3)``, at least 32x32 (default ``(None, None, 3)``).
        alpha: width multiplier (ImageNet weights exist for 0.75 and 1.0; 1.0 when minimalistic).
        minimalistic: the variant without squeeze-and-excite, hard-swish and 5x5 convolutions.
        include_top: whether to include the classifier at the top (default True).
        weights: None, ``"imagenet"`` (Keras's published file from Keras's cache folder) or the
            path to a Keras weights file.
        input_tensor: optional plait symbolic tensor to use as the image input.
        classes: number of classes with ``include_top=True``.
        pooling: with ``include_top=False``: None, ``"avg"`` or ``"max"``.
        dropout_rate: dropout before the last (logits) layer (default 0.2).
        classifier_activation: activation of the top layer (``"softmax"``; None for logits).
        include_preprocessing: whether the model rescales its [0, 255] input to [-1, 1] itself
            (a ``Rescaling`` layer; default True).
        name: the model's name.

    Returns:
        a :class:`plait.Model` with Keras's layer names and weights.
"""
MobileNetV3Small.__doc__ += _DOC
MobileNetV3Large.__doc__ += _DOC


preprocess_input = imagenet_utils.module_functions(__name__, "MobileNetV3", None)
decode_predictions = imagenet_utils.decode_predictions
