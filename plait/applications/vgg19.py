"""VGG19 (Simonyan & Zisserman, 2015): `Very Deep Convolutional Networks for Large-Scale Image
Recognition <https://arxiv.org/abs/1409.1556>`_.

Ported from Keras 3.15 (``keras/src/applications/vgg19.py``, Apache-2.0); it shares VGG16's
builder with four convolutions in blocks 3-5.
"""

from plait.applications import imagenet_utils
from plait.applications.vgg16 import VGG

WEIGHTS_PATH = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/vgg19_weights_tf_dim_ordering_tf_kernels.h5"
)
WEIGHTS_PATH_NO_TOP = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/"
    "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
)
_HASHES = ("cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6")


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
    """Instantiates the VGG19 model (Keras's ``keras.applications.VGG19``); arguments as
    :func:`plait.applications.VGG16`'s."""
    return VGG(
        (2, 2, 4, 4, 4),
        include_top,
        weights,
        input_tensor,
        input_shape,
        pooling,
        classes,
        classifier_activation,
        name,
        ((WEIGHTS_PATH, _HASHES[0]), (WEIGHTS_PATH_NO_TOP, _HASHES[1])),
    )


def preprocess_input(x, data_format=None):
    """Images in [0, 255] to VGG's input: RGB -> BGR, minus ImageNet's channel means (caffe mode)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


def decode_predictions(preds, top=5):
    """ImageNet predictions to ``(class_name, description, score)`` tuples (see imagenet_utils)."""
    return imagenet_utils.decode_predictions(preds, top=top)
