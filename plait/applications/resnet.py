"""ResNet50/101/152 (He et al., 2015): `Deep Residual Learning for Image Recognition
<https://arxiv.org/abs/1512.03385>`_, and the bottleneck builder shared with ResNetV2
(:mod:`plait.applications.resnet_v2`, pre-activation blocks).

A ResNet is a 7x7 stem, then four stages (``conv2`` ... ``conv5``) of bottleneck blocks of
64, 128, 256 and 512 channels (four times that at each block's output). Version 1 normalizes
after each convolution and strides in its first block of a stage; version 2 normalizes before
them and strides in its last block.

Example:
    >>> import torch
    >>> from plait.applications import ResNet50
    >>> with torch.device("meta"):  # shapes and counts without allocating or initialising weights
    ...     model = ResNet50(weights=None, include_top=False, input_shape=(64, 64, 3), pooling="avg")
    >>> model.output.shape, model.count_params()
    ((None, 2048), 23587712)
"""

import functools

from plait import layers
from plait.applications import _build, imagenet_utils

# Published weights (with top, without top) by model.
_HASHES = {
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    "resnet50v2": ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    "resnet152v2": ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
}
# Blocks per stage of each depth.
DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
_WIDTHS = (64, 128, 256, 512)
_NORM = {"axis": 3, "epsilon": 1.001e-5}


def _bottleneck(x, width, stride, project, prefix, v2):
    """One bottleneck block named ``prefix`` (``conv3_block2``): 1x1 -> 3x3 -> 1x1 to
    ``4 * width`` channels, plus the shortcut (a strided 1x1 projection when ``project``)."""
    out = 4 * width
    entry = x
    if v2:  # the pre-activation feeds both paths; the plain shortcut takes the raw input
        entry = _build.norm_act(x, _NORM, "relu", _build.names(prefix, "_preact_bn", "_preact_relu"))
    if project:
        shortcut = layers.Conv2D(out, 1, strides=stride, name=f"{prefix}_0_conv")(entry)
        if not v2:
            shortcut = layers.BatchNormalization(name=f"{prefix}_0_bn", **_NORM)(shortcut)
    elif stride > 1:  # only v2 strides a block without a projection
        shortcut = layers.MaxPooling2D(1, strides=stride)(x)
    else:
        shortcut = x

    h = entry
    for i, (filters, kernel) in enumerate(((width, 1), (width, 3), (out, 1)), start=1):
        last = i == 3
        # v1 strides its first convolution, v2 its 3x3 one (after an explicit zero padding).
        strides = stride if i == (2 if v2 else 1) else 1
        padding = "same" if kernel == 3 and not v2 else "valid"
        if kernel == 3 and v2:
            h = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name=f"{prefix}_2_pad")(h)
        h = _build.conv_unit(
            h,
            filters,
            kernel,
            _build.names(f"{prefix}_{i}", "_conv", "_bn", "_relu"),
            strides=strides,
            padding=padding,
            use_bias=last or not v2,
            norm=None if (last and v2) else _NORM,
            act=None if last else "relu",
        )
    if v2:
        return layers.Add(name=f"{prefix}_out")([shortcut, h])
    h = layers.Add(name=f"{prefix}_add")([shortcut, h])
    return layers.Activation("relu", name=f"{prefix}_out")(h)


def residual_network(options, depth, v2, key):
    """A ResNet (``v2=False``) or ResNetV2 of ``depth`` layers (50, 101 or 152)."""

    def body(x, shape):
        x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(x)
        if v2:  # left unnormalized: the first block's pre-activation normalizes it
            x = layers.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
        else:
            x = _build.conv_unit(x, 64, 7, ("conv1_conv", "conv1_bn", "conv1_relu"), strides=2, norm=_NORM, act="relu")
        x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
        x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
        for stage, (width, blocks) in enumerate(zip(_WIDTHS, DEPTHS[depth])):
            # v1 halves the size entering stages 3-5 (in a stage's first block), v2 leaving
            # stages 2-4 (in its last block).
            halves = stage != (3 if v2 else 0)
            for block in range(1, blocks + 1):
                stride = 2 if halves and block == (blocks if v2 else 1) else 1
                x = _bottleneck(x, width, stride, block == 1, f"conv{stage + 2}_block{block}", v2)
        if v2:
            x = _build.norm_act(x, _NORM, "relu", ("post_bn", "post_relu"))
        return x

    return _build.application(
        options,
        body,
        default_size=224,
        pool_names=("avg_pool", "max_pool"),
        weight_file=_build.tf_kernels_file("resnet", key, _HASHES[key]),
    )


def resnet_function(depth, v2):
    """The public function of ResNet{depth}[V2]."""
    key = f"resnet{depth}{'v2' if v2 else ''}"
    title = f"ResNet{depth}{'V2' if v2 else ''}"
    mode = "scaled to [-1, 1] (tf mode)" if v2 else "caffe mode"
    build = functools.partial(residual_network, depth=depth, v2=v2, key=key)
    return _build.public(title, key, build, f"inputs preprocessed by :func:`preprocess_input` ({mode}).")


ResNet50 = resnet_function(50, False)
ResNet101 = resnet_function(101, False)
ResNet152 = resnet_function(152, False)
preprocess_input = imagenet_utils.module_functions(__name__, "ResNet", "caffe")
decode_predictions = imagenet_utils.decode_predictions
