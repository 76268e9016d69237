"""VGG19 (Simonyan & Zisserman, 2015): `Very Deep Convolutional Networks for Large-Scale Image
Recognition <https://arxiv.org/abs/1409.1556>`_: VGG16 with four convolutions in blocks 3-5.
"""

from plait.applications import _build, imagenet_utils
from plait.applications.vgg16 import decode_predictions, preprocess_input, vgg

__all__ = ["VGG19", "decode_predictions", "preprocess_input"]


def VGG19(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="vgg19",
):
    """Instantiates the VGG19 model (Keras's ``keras.applications.VGG19``); inputs preprocessed by
    :func:`preprocess_input` (caffe mode), at least 32x32; with the top, 224x224."""
    return vgg(_build.Options(**locals()), "vgg19")


VGG19.__doc__ += imagenet_utils.ARGS_DOC
