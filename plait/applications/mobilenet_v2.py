"""MobileNetV2 (Sandler et al., 2018): `MobileNetV2: Inverted Residuals and Linear Bottlenecks
<https://arxiv.org/abs/1801.04381>`_.

A 3x3 convolution, seventeen inverted residual blocks (:func:`plait.applications._build.inverted_residual`:
1x1 expansion by 6, 3x3 depthwise, linear 1x1 projection, ReLU6 activations), a 1x1 convolution
to 1280 channels; widths scaled by ``alpha``.

Example:
    >>> from plait.applications import MobileNetV2
    >>> model = MobileNetV2(weights=None, alpha=0.35, include_top=False, input_shape=(32, 32, 3), pooling="avg")
    >>> model.output.shape, model.count_params()
    ((None, 1280), 410208)
"""

from plait.applications import _build, imagenet_utils
from plait.applications.mobilenet import published_rows, relu6, square_size
from plait.graph.node import SymbolicTensor

_NORM = {"axis": -1, "epsilon": 1e-3, "momentum": 0.999}
_STYLE = _build.BlockStyle(
    names={
        "expand": "expand",
        "expand_bn": "expand_BN",
        "expand_act": "expand_relu",
        "pad": "pad",
        "dw": "depthwise",
        "dw_bn": "depthwise_BN",
        "dw_act": "depthwise_relu",
        "project": "project",
        "project_bn": "project_BN",
        "add": "add",
    },
    norm=_NORM,
)
# (output filters, stride, repeats) of the seven stages; every block but the first expands by 6.
_STAGES = [(16, 1, 1), (24, 2, 2), (32, 2, 3), (64, 2, 4), (96, 1, 3), (160, 2, 3), (320, 1, 1)]
_SIZES = (96, 128, 160, 192, 224)
_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)


def _blocks():
    """``(filters, stride)`` of the seventeen blocks."""
    for filters, stride, repeats in _STAGES:
        for i in range(repeats):
            yield filters, stride if i == 0 else 1


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
    options, _ = _build.Options.split(locals())
    imagenet_utils.check_weights(weights, include_top, classes)
    if input_tensor is not None and not isinstance(input_tensor, SymbolicTensor):
        raise ValueError(f"input_tensor is not a plait symbolic tensor; Received `input_tensor={input_tensor}`")
    if input_shape is not None and input_tensor is not None and input_tensor.shape[2] != input_shape[1]:
        raise ValueError(
            "input_tensor.shape[2] must equal input_shape[1]; "
            f"Received `input_tensor.shape={input_tensor.shape}`, `input_shape={input_shape}`"
        )
    # The default side follows the input (the given shape, else the given tensor's).
    given = input_shape or (input_tensor.shape[1:3] if input_tensor is not None else (None, None))
    default_size = square_size(given[0], given[1], _SIZES)
    shape = imagenet_utils.obtain_input_shape(input_shape, default_size, 32, None, include_top, weights)
    rows = shape[0]
    if weights == "imagenet":
        if alpha not in _ALPHAS:
            raise ValueError(
                "If imagenet weights are being loaded, alpha must be one of `0.35`, `0.50`, `0.75`, "
                f"`1.0`, `1.3` or `1.4` only; Received `alpha={alpha}`"
            )
        rows = published_rows(shape, _SIZES)
    # Keras's name has a '.' (mobilenetv2_1.00_224); plait's names cannot (they are module paths).
    options.name = name or f"mobilenetv2_{alpha:0.2f}_{rows}".replace(".", "_")

    def body(x, _):
        x = _build.conv_unit(
            x, _build.round_to(32 * alpha), 3, ("Conv1", "bn_Conv1", "Conv1_relu"), strides=2, padding="same",
            use_bias=False, norm=_NORM, act=relu6,
        )  # fmt: skip
        for index, (filters, stride) in enumerate(_blocks()):
            x = _build.inverted_residual(
                x,
                _STYLE,
                f"block_{index}_" if index else "expanded_conv_",
                filters=_build.round_to(int(filters * alpha)),
                stride=stride,
                expanded=6 * x.shape[-1] if index else None,
                act=relu6,
            )
        # The last convolution keeps 1280 channels unless alpha widens the network.
        width = _build.round_to(1280 * alpha) if alpha > 1.0 else 1280
        return _build.conv_unit(x, width, 1, ("Conv_1", "Conv_1_bn", "out_relu"), use_bias=False, norm=_NORM, act=relu6)

    def weight_file(top):
        file_name = (
            f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}{'' if top else '_no_top'}.h5"
        )
        return file_name, f"{imagenet_utils.WEIGHTS_URL}mobilenet_v2/{file_name}", None

    return _build.application(
        options,
        body,
        default_size=224,
        head=_build.dense_classifier(pool_name=None),
        weight_file=weight_file,
        shape=shape,
    )


MobileNetV2.__doc__ += imagenet_utils.ARGS_DOC


preprocess_input = imagenet_utils.module_functions(__name__, "MobileNetV2", "tf")
decode_predictions = imagenet_utils.decode_predictions
