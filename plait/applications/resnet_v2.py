"""ResNet50V2/101V2/152V2 (He et al., 2016): `Identity Mappings in Deep Residual Networks
<https://arxiv.org/abs/1603.05027>`_.

Ported from Keras 3.15 (``keras/src/applications/resnet_v2.py``, Apache-2.0).
"""

from plait.applications import imagenet_utils
from plait.applications.resnet import ResNet, stack_residual_blocks_v2


def _v2(blocks, weights_name, **kwargs):
    def stack_fn(x):
        x = stack_residual_blocks_v2(x, 64, blocks[0], name="conv2")
        x = stack_residual_blocks_v2(x, 128, blocks[1], name="conv3")
        x = stack_residual_blocks_v2(x, 256, blocks[2], name="conv4")
        return stack_residual_blocks_v2(x, 512, blocks[3], stride1=1, name="conv5")

    return ResNet(stack_fn, preact=True, use_bias=True, weights_name=weights_name, **kwargs)


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
    return _v2((3, 4, 6, 3), "resnet50v2", **dict(locals()))


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
    return _v2((3, 4, 23, 3), "resnet101v2", **dict(locals()))


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
    return _v2((3, 8, 36, 3), "resnet152v2", **dict(locals()))


for _fn in (ResNet50V2, ResNet101V2, ResNet152V2):
    _fn.__doc__ += imagenet_utils.ARGS_DOC


def preprocess_input(x, data_format=None):
    """Images in [0, 255] to ResNetV2's input: scaled to [-1, 1] (tf mode)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    """ImageNet predictions to ``(class_name, description, score)`` tuples (see imagenet_utils)."""
    return imagenet_utils.decode_predictions(preds, top=top)
