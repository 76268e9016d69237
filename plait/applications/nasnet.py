"""NASNetMobile and NASNetLarge (Zoph et al., 2018): `Learning Transferable Architectures for
Scalable Image Recognition <https://arxiv.org/abs/1707.07012>`_.

A NASNet-A stacks two searched cells. Each cell takes the two previous cells' outputs: ``ip``
(the last) and ``p`` (the one before, first brought to ``ip``'s size and width by
:func:`_adjust`); a 1x1 convolution of ``ip`` gives ``h``. The cell is then five pairwise sums of
operations on these (:data:`_NORMAL`, :data:`_REDUCTION`: separable convolutions, 3x3 poolings,
identities), concatenated. Reduction cells halve the size. (Keras refuses NASNetMobile on its
torch backend because of a bug of that backend; plait builds it.)

Example:
    >>> import torch
    >>> from plait.applications import NASNetMobile
    >>> with torch.device("meta"):  # shapes and counts without allocating or initialising weights
    ...     model = NASNetMobile(weights=None, include_top=False, input_shape=(64, 64, 3), pooling="avg")
    >>> model.output.shape, model.count_params()
    ((None, 1056), 4269716)
"""

from plait import layers
from plait.applications import _build, imagenet_utils

_NORM = {"axis": -1, "momentum": 0.9997, "epsilon": 1e-3}
_CONV = {"padding": "same", "use_bias": False, "kernel_initializer": "he_normal"}
# One sum of a cell: (result, left operand, right operand, name of the sum or None); an operand
# is (operation, input, name): "sep<k>" a separable block (stride 2 with "/2"), "avg" / "max"
# a 3x3 pooling (stride 1 "same", or stride 2 unpadded with "/2"), "id" the input itself.
# "h3" is h zero-padded for the stride-2 poolings.
_NORMAL = [
    ("x1", ("sep5", "h", "left1"), ("sep3", "p", "right1"), "add_1"),
    ("x2", ("sep5", "p", "left2"), ("sep3", "p", "right2"), "add_2"),
    ("x3", ("avg", "h", "left3"), ("id", "p", None), "add_3"),
    ("x4", ("avg", "p", "left4"), ("avg", "p", "right4"), "add_4"),
    ("x5", ("sep3", "h", "left5"), ("id", "h", None), "add_5"),
]
_REDUCTION = [
    ("x1", ("sep5/2", "h", "left1"), ("sep7/2", "p", "right1"), "add_1"),
    ("x2", ("max/2", "h3", "left2"), ("sep7/2", "p", "right2"), "add_2"),
    ("x3", ("avg/2", "h3", "left3"), ("sep5/2", "p", "right3"), "add3"),
    ("x4", ("id", "x2", None), ("avg", "x1", "left4"), None),
    ("x5", ("sep3", "x1", "left4"), ("max/2", "h3", "right5"), "add4"),
]
# What each cell concatenates.
_OUTPUTS = {"normal": ("p", "x1", "x2", "x3", "x4", "x5"), "reduction": ("x2", "x3", "x4", "x5")}
_VARIANTS = {
    # name: (penultimate filters, cells per stack, stem filters, skip reduction, size, hashes (top, no top))
    "mobile": (1056, 4, 32, False, 224, ("020fb642bf7360b370c678b08e0adf61", "1ed92395b5b598bdda52abe5c0dbfd63")),
    "large": (4032, 6, 96, True, 331, ("11577c9a518f0070763c2b964a382f17", "d81d89dc07e6e56530c4e77faddd61b5")),
}


def _separable(x, filters, kernel, stride, block):
    """ReLU -> separable conv -> BN, twice; the first convolution strides."""
    for i in (1, 2):
        x = layers.Activation("relu")(x)
        padding = "same"
        if i == 1 and stride == 2:
            pad = imagenet_utils.correct_pad(x, kernel)
            x = layers.ZeroPadding2D(padding=pad, name=f"separable_conv_1_pad_{block}")(x)
            padding = "valid"
        x = _build.conv_unit(
            x, filters, kernel, (f"separable_conv_{i}_{block}", f"separable_conv_{i}_bn_{block}", None),
            kind="separable", strides=stride if i == 1 else 1, padding=padding, use_bias=False, norm=_NORM,
        )  # fmt: skip
    return x


def _operation(spec, tensors, filters, name):
    operation, source, _ = spec
    x = tensors[source]
    kind, _, strided = operation.partition("/")
    stride = 2 if strided else 1
    if kind == "id":
        return x
    if kind.startswith("sep"):
        return _separable(x, filters, int(kind[3:]), stride, name)
    pool = layers.AveragePooling2D if kind == "avg" else layers.MaxPooling2D
    return pool(3, strides=stride, padding="valid" if strided else "same", name=name)(x)


def _adjust(p, ip, filters, cell_id):
    """``p`` at ``ip``'s spatial size (two offset strided 1x1 paths, concatenated) or width."""
    if p is None:
        return ip
    if p.shape[-2] != ip.shape[-2]:
        p = layers.Activation("relu", name=f"adjust_relu_1_{cell_id}")(p)
        halves = []
        for i, shifted in ((1, False), (2, True)):
            h = p
            if shifted:  # the second path samples the odd pixels: shift by one
                h = layers.ZeroPadding2D(padding=((0, 1), (0, 1)))(h)
                h = layers.Cropping2D(cropping=((1, 0), (1, 0)))(h)
            h = layers.AveragePooling2D(1, strides=2, padding="valid", name=f"adjust_avg_pool_{i}_{cell_id}")(h)
            halves.append(layers.Conv2D(filters // 2, 1, name=f"adjust_conv_{i}_{cell_id}", **_CONV)(h))
        p = layers.Concatenate(axis=-1)(halves)
        return layers.BatchNormalization(name=f"adjust_bn_{cell_id}", **_NORM)(p)
    if p.shape[-1] != filters:
        p = layers.Activation("relu")(p)
        p = layers.Conv2D(filters, 1, name=f"adjust_conv_projection_{cell_id}", **_CONV)(p)
        return layers.BatchNormalization(name=f"adjust_bn_{cell_id}", **_NORM)(p)
    return p


def _cell(kind, ip, p, filters, cell_id):
    """A ``"normal"`` or ``"reduction"`` cell; returns ``(output, ip)`` (the next ``p``)."""
    tensors = {"p": _adjust(p, ip, filters, cell_id)}
    h = layers.Activation("relu")(ip)
    tensors["h"] = _build.conv_unit(
        h, filters, 1, (f"{kind}_conv_1_{cell_id}", f"{kind}_bn_1_{cell_id}", None), norm=_NORM, **_CONV
    )
    if kind == "reduction":
        pad = imagenet_utils.correct_pad(tensors["h"], 3)
        tensors["h3"] = layers.ZeroPadding2D(padding=pad, name=f"reduction_pad_1_{cell_id}")(tensors["h"])
    for result, left, right, sum_name in _NORMAL if kind == "normal" else _REDUCTION:
        operands = [_operation(spec, tensors, filters, f"{kind}_{spec[2]}_{cell_id}") for spec in (left, right)]
        tensors[result] = layers.Add(name=sum_name and f"{kind}_{sum_name}_{cell_id}")(operands)
    outputs = [tensors[key] for key in _OUTPUTS[kind]]
    return layers.Concatenate(axis=-1, name=f"{kind}_concat_{cell_id}")(outputs), ip


def nasnet(options, variant):
    """NASNet-A ``variant`` (``"mobile"`` or ``"large"``), with two filters doublings."""
    penultimate, cells, stem_filters, skip_reduction, default_size, hashes = _VARIANTS[variant]
    if isinstance(options.input_shape, tuple) and None in options.input_shape and options.weights == "imagenet":
        raise ValueError(
            "When specifying the input shape of a NASNet and loading `ImageNet` weights, the input_shape argument "
            f"must be static (no None entries). Got: `input_shape={options.input_shape}`."
        )
    filters = penultimate // 24

    def body(x, _):
        x = layers.Conv2D(
            stem_filters,
            3,
            strides=2,
            padding="valid",
            use_bias=False,
            name="stem_conv1",
            kernel_initializer="he_normal",
        )(x)
        x = layers.BatchNormalization(name="stem_bn1", **_NORM)(x)
        x, p = _cell("reduction", x, None, filters // 4, "stem_1")
        x, p = _cell("reduction", x, p, filters // 2, "stem_2")
        for stack in range(3):
            width = filters * 2**stack
            if stack:
                x, before = _cell("reduction", x, p, width, f"reduce_{stack * cells}")
                # NASNetLarge feeds the cell before the reduction on to the next normal cell.
                p = p if skip_reduction else before
            for i in range(cells):
                x, p = _cell("normal", x, p, width, str(stack * cells + i + (1 if stack else 0)))
        return layers.Activation("relu")(x)

    def weight_file(top):
        file_name = f"nasnet_{variant}{'' if top else '_no_top'}.h5"
        published = f"NASNet-{variant}{'' if top else '-no-top'}.h5"
        return file_name, f"{imagenet_utils.WEIGHTS_URL}nasnet/{published}", hashes[0 if top else 1]

    return _build.application(
        options, body, default_size=default_size, head=_build.dense_classifier(pool_name=None), weight_file=weight_file
    )


def NASNetMobile(
    input_shape=None,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="nasnet_mobile",
):
    """Instantiates the NASNet-A Mobile architecture (Keras's ``keras.applications.NASNetMobile``);
    default input 224x224, preprocessed by :func:`preprocess_input` ([-1, 1])."""
    options = _build.Options(**locals())
    if not include_top and input_shape is None:
        options.input_shape = (224, 224, 3)
    return nasnet(options, "mobile")


def NASNetLarge(
    input_shape=None,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="nasnet_large",
):
    """Instantiates the NASNet-A Large architecture (Keras's ``keras.applications.NASNetLarge``);
    default input 331x331, preprocessed by :func:`preprocess_input` ([-1, 1])."""
    return nasnet(_build.Options(**locals()), "large")


for _fn in (NASNetMobile, NASNetLarge):
    _fn.__doc__ += imagenet_utils.ARGS_DOC


preprocess_input = imagenet_utils.module_functions(__name__, "NASNet", "tf")
decode_predictions = imagenet_utils.decode_predictions
