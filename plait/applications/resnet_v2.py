"""ResNet50V2/101V2/152V2 (He et al., 2016): `Identity Mappings in Deep Residual Networks
<https://arxiv.org/abs/1603.05027>`_: ResNet with pre-activation blocks (built by
:func:`plait.applications.resnet.residual_network`).
"""

from plait.applications import _build, imagenet_utils
from plait.applications.resnet import residual_network


def ResNet50V2(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="resnet50v2",
):
    """Instantiates the ResNet50V2 architecture (Keras's ``keras.applications.ResNet50V2``);
    inputs preprocessed by :func:`preprocess_input` (scaled to [-1, 1])."""
    return residual_network(_build.Options(**locals()), 50, True, "resnet50v2")


def ResNet101V2(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="resnet101v2",
):
    """Instantiates the ResNet101V2 architecture (Keras's ``keras.applications.ResNet101V2``)."""
    return residual_network(_build.Options(**locals()), 101, True, "resnet101v2")


def ResNet152V2(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="resnet152v2",
):
    """Instantiates the ResNet152V2 architecture (Keras's ``keras.applications.ResNet152V2``)."""
    return residual_network(_build.Options(**locals()), 152, True, "resnet152v2")


for _fn in (ResNet50V2, ResNet101V2, ResNet152V2):
    _fn.__doc__ += imagenet_utils.ARGS_DOC


def preprocess_input(x, data_format=None):
    """Images in [0, 255] to ResNetV2's input: scaled to [-1, 1] (tf mode)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    """ImageNet predictions to ``(class_name, description, score)`` tuples (see imagenet_utils)."""
    return imagenet_utils.decode_predictions(preds, top=top)
