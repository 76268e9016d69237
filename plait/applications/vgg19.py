"""VGG19 (Simonyan & Zisserman, 2015): `Very Deep Convolutional Networks for Large-Scale Image
Recognition <https://arxiv.org/abs/1409.1556>`_: VGG16 with four convolutions in blocks 3-5.
"""

import functools

from plait.applications import _build
from plait.applications.vgg16 import decode_predictions, preprocess_input, vgg

__all__ = ["VGG19", "decode_predictions", "preprocess_input"]


VGG19 = _build.public(
    "VGG19",
    "vgg19",
    functools.partial(vgg, key="vgg19"),
    "inputs preprocessed by :func:`preprocess_input` (caffe mode), at least 32x32; with the top, 224x224.",
)
