"""VGG16 (Simonyan & Zisserman, 2015): `Very Deep Convolutional Networks for Large-Scale Image
Recognition <https://arxiv.org/abs/1409.1556>`_, and the VGG builder shared with VGG19.

A VGG is five blocks of 3x3 ReLU convolutions (64, 128, 256, 512, 512 filters), each closed by
2x2 max pooling, under two 4096-unit dense layers and the classifier.

Example:
    >>> import torch
    >>> from plait.applications import VGG16
    >>> with torch.device("meta"):  # shapes and counts without allocating or initialising weights
    ...     model = VGG16(weights=None, include_top=False, input_shape=(32, 32, 3), pooling="avg")
    >>> model.output.shape, model.count_params()
    ((None, 512), 14714688)
"""

import functools

from plait import layers
from plait.applications import _build, imagenet_utils

_FILTERS = (64, 128, 256, 512, 512)
# Convolutions per block, and the published weights' hashes (with top, without top).
_VARIANTS = {
    "vgg16": ((2, 2, 3, 3, 3), ("64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc")),
    "vgg19": ((2, 2, 4, 4, 4), ("cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6")),
}


def _fully_connected_top(x, options):
    x = layers.Flatten(name="flatten")(x)
    for name in ("fc1", "fc2"):
        x = layers.Dense(4096, activation="relu", name=name)(x)
    return layers.Dense(options.classes, activation=options.classifier_activation, name="predictions")(x)


def vgg(options, key):
    """The VGG network ``key`` (``"vgg16"`` or ``"vgg19"``)."""
    depths, hashes = _VARIANTS[key]

    def body(x, shape):
        for block, (filters, convs) in enumerate(zip(_FILTERS, depths), start=1):
            for i in range(1, convs + 1):
                x = layers.Conv2D(filters, 3, activation="relu", padding="same", name=f"block{block}_conv{i}")(x)
            x = layers.MaxPooling2D(2, strides=2, name=f"block{block}_pool")(x)
        return x

    return _build.application(
        options, body, default_size=224, head=_fully_connected_top, weight_file=_build.tf_kernels_file(key, key, hashes)
    )


VGG16 = _build.public(
    "VGG16",
    "vgg16",
    functools.partial(vgg, key="vgg16"),
    "inputs preprocessed by :func:`preprocess_input` (caffe mode), at least 32x32; with the top, 224x224.",
)
preprocess_input = imagenet_utils.module_functions(__name__, "VGG", "caffe")
decode_predictions = imagenet_utils.decode_predictions
