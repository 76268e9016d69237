"""InceptionV3 (Szegedy et al., 2016): `Rethinking the Inception Architecture for Computer
Vision <https://arxiv.org/abs/1512.00567>`_, and the branch tables shared with
InceptionResNetV2.

An Inception module runs parallel branches on one input and concatenates them. Here a branch is
a list of steps read by :func:`branch`: ``(filters, kernel)`` is a convolution (no bias) with
BatchNormalization (no scale) and ReLU, ``"same"`` padded; a third entry ``2`` makes it stride 2
and a third entry ``"valid"`` makes it unpadded (stride 2 is always unpadded); ``"avg"`` is 3x3
average pooling (stride 1, padded), ``"max"`` 3x3 max pooling (stride 2); a :class:`Split`
forks the branch into sub-branches and concatenates them. The layers are created in table
order, so their automatic names (``conv2d_12``) are Keras's.

Example:
    >>> import torch
    >>> from plait.applications import InceptionV3
    >>> with torch.device("meta"):  # shapes and counts without allocating or initialising weights
    ...     model = InceptionV3(weights=None, include_top=False, input_shape=(75, 75, 3), pooling="avg")
    >>> model.output.shape, model.count_params()
    ((None, 2048), 21802784)
"""

import dataclasses

from plait import layers
from plait.applications import _build, imagenet_utils

_NORM = {"axis": 3, "scale": False}


@dataclasses.dataclass(frozen=True)
class Split:
    """A fork inside a branch: the sub-branches run on the same tensor and a concatenation
    (named ``name``, or automatically) joins them."""

    branches: tuple
    name: str = None


# The 35x35 stem shared by InceptionV3 and InceptionResNetV2.
STEM = [(32, 3, 2), (32, 3, "valid"), (64, 3), "max", (80, 1, "valid"), (192, 3, "valid"), "max"]
_ONE_BY_SEVEN, _SEVEN_BY_ONE = (1, 7), (7, 1)
_ONE_BY_THREE, _THREE_BY_ONE = (1, 3), (3, 1)


def _mixed_35(pool_filters):
    return [[(64, 1)], [(48, 1), (64, 5)], [(64, 1), (96, 3), (96, 3)], ["avg", (pool_filters, 1)]]


def _mixed_17(width):
    seven = [(width, 1), (width, _ONE_BY_SEVEN), (192, _SEVEN_BY_ONE)]
    double = [(width, 1), (width, _SEVEN_BY_ONE), (width, _ONE_BY_SEVEN), (width, _SEVEN_BY_ONE)]
    return [[(192, 1)], seven, double + [(192, _ONE_BY_SEVEN)], ["avg", (192, 1)]]


def _mixed_8(index):
    fork = ([(384, _ONE_BY_THREE)], [(384, _THREE_BY_ONE)])
    return [
        [(320, 1)],
        [(384, 1), Split(fork, f"mixed9_{index}")],
        [(448, 1), (384, 3), Split(fork)],
        ["avg", (192, 1)],
    ]


# (name, branches) of InceptionV3's eleven modules, 35x35 -> 17x17 -> 8x8.
MODULES = [
    ("mixed0", _mixed_35(32)),
    ("mixed1", _mixed_35(64)),
    ("mixed2", _mixed_35(64)),
    ("mixed3", [[(384, 3, 2)], [(64, 1), (96, 3), (96, 3, 2)], ["max"]]),
    *((f"mixed{4 + i}", _mixed_17(width)) for i, width in enumerate((128, 160, 160, 192))),
    ("mixed8", [[(192, 1), (320, 3, 2)], [(192, 1), (192, _ONE_BY_SEVEN), (192, _SEVEN_BY_ONE), (192, 3, 2)], ["max"]]),
    ("mixed9", _mixed_8(0)),
    ("mixed10", _mixed_8(1)),
]


def conv_bn_relu(x, step, unit_names=(None, None, None)):
    """The convolution step ``(filters, kernel[, 2 | "valid"])`` of a branch table."""
    filters, kernel, *mode = step
    strides = 2 if mode == [2] else 1
    padding = "same" if not mode else "valid"
    return _build.conv_unit(
        x, filters, kernel, unit_names, strides=strides, padding=padding, use_bias=False, norm=_NORM, act="relu"
    )


def branch(x, steps):
    """Run one branch of a table on ``x``."""
    for step in steps:
        if step == "avg":
            x = layers.AveragePooling2D(3, strides=1, padding="same")(x)
        elif step == "max":
            x = layers.MaxPooling2D(3, strides=2)(x)
        elif isinstance(step, Split):
            x = module(x, step.branches, step.name)
        else:
            x = conv_bn_relu(x, step)
    return x


def module(x, branches, name=None):
    """An Inception module: the branches on ``x``, concatenated along the channels."""
    outputs = [branch(x, steps) for steps in branches]
    return layers.Concatenate(axis=3, name=name)(outputs)


def inception_v3(options):
    """InceptionV3 for the user's :class:`~plait.applications._build.Options`."""

    def body(x, shape):
        x = branch(x, STEM)
        for module_name, branches in MODULES:
            x = module(x, branches, module_name)
        return x

    hashes = ("9a0d58056eeedaa3f26cb7ebd46da564", "bcbd6486424b2319ff4ef7d526e38f63")
    return _build.application(
        options,
        body,
        default_size=299,
        min_size=75,
        weight_file=_build.tf_kernels_file("inception_v3", "inception_v3", hashes),
    )


InceptionV3 = _build.public(
    "InceptionV3",
    "inception_v3",
    inception_v3,
    "default input 299x299 (at least 75), preprocessed by :func:`preprocess_input` ([-1, 1]).",
)
preprocess_input = imagenet_utils.module_functions(__name__, "InceptionV3", "tf")
decode_predictions = imagenet_utils.decode_predictions
