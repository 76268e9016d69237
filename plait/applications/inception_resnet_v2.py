"""InceptionResNetV2 (Szegedy et al., 2017): `Inception-v4, Inception-ResNet and the Impact of
Residual Connections on Learning <https://arxiv.org/abs/1602.07261>`_.

InceptionV3's stem and branch tables (:mod:`plait.applications.inception_v3`), with residual
Inception blocks: the branches' concatenation is projected back to the input's width by a 1x1
convolution (with bias, no normalization), scaled, and added to the input (:class:`CustomScaleLayer`).

Example:
    >>> import torch
    >>> from plait.applications import InceptionResNetV2
    >>> with torch.device("meta"):  # shapes and counts without allocating or initialising weights
    ...     model = InceptionResNetV2(weights=None, include_top=False, input_shape=(75, 75, 3), pooling="avg")
    >>> model.output.shape, model.count_params()
    ((None, 1536), 54336736)
"""

from plait import layers
from plait.applications import _build, imagenet_utils
from plait.applications.inception_v3 import STEM, branch, conv_bn_relu, module
from plait.layers import Layer
from plait.layers.serialization import register_builtin_classes


class CustomScaleLayer(Layer):
    """``inputs[0] + scale * inputs[1]``: the scaled residual sum of an Inception-ResNet block
    (Keras's layer of the same name, so Keras's ``.keras`` files of this model load).

    Args:
        scale: the factor on the residual branch.

    Input shape: two tensors of the same shape. Output shape: that shape.

    Example:
        >>> import torch
        >>> CustomScaleLayer(0.5)([torch.ones(1, 2), torch.ones(1, 2)])
        tensor([[1.5000, 1.5000]])
    """

    keras_module = "keras.src.applications.inception_resnet_v2"  # where Keras finds its twin

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, inputs):
        identity, residual = inputs
        return identity + residual * self.scale

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


register_builtin_classes({"CustomScaleLayer": CustomScaleLayer})

# Residual blocks: (name, repeats, branches, scale).
_RESIDUAL = {
    "block35": (10, [[(32, 1)], [(32, 1), (32, 3)], [(32, 1), (48, 3), (64, 3)]], 0.17),
    "block17": (20, [[(192, 1)], [(128, 1), (160, (1, 7)), (192, (7, 1))]], 0.1),
    "block8": (10, [[(192, 1)], [(192, 1), (224, (1, 3)), (256, (3, 1))]], 0.2),
}
# The plain modules before each residual group: name -> branches.
_MODULES = {
    "mixed_5b": [[(96, 1)], [(48, 1), (64, 5)], [(64, 1), (96, 3), (96, 3)], ["avg", (64, 1)]],
    "mixed_6a": [[(384, 3, 2)], [(256, 1), (256, 3), (384, 3, 2)], ["max"]],
    "mixed_7a": [[(256, 1), (384, 3, 2)], [(256, 1), (288, 3, 2)], [(256, 1), (288, 3), (320, 3, 2)], ["max"]],
}
_ORDER = (("mixed_5b", "block35"), ("mixed_6a", "block17"), ("mixed_7a", "block8"))


def _residual_block(x, branches, scale, prefix, last):
    mixed = module(x, branches, f"{prefix}_mixed")
    up = layers.Conv2D(x.shape[-1], 1, padding="same", name=f"{prefix}_conv")(mixed)
    x = CustomScaleLayer(scale)([x, up])
    # The very last block is linear and unscaled: conv_7b follows it.
    return x if last else layers.Activation("relu", name=f"{prefix}_ac")(x)


def inception_resnet_v2(options):
    """InceptionResNetV2 for the user's :class:`~plait.applications._build.Options`."""

    def body(x, shape):
        x = branch(x, STEM)
        for module_name, group in _ORDER:
            x = module(x, _MODULES[module_name], module_name)
            repeats, branches, scale = _RESIDUAL[group]
            for i in range(1, repeats + 1):
                last = group == "block8" and i == repeats
                x = _residual_block(x, branches, 1.0 if last else scale, f"{group}_{i}", last)
        return conv_bn_relu(x, (1536, 1), ("conv_7b", "conv_7b_bn", "conv_7b_ac"))

    hashes = ("e693bd0210a403b3192acc6073ad2e96", "d19885ff4a710c122648d3b5c3b684e4")
    return _build.application(
        options,
        body,
        default_size=299,
        min_size=75,
        weight_file=_build.tf_kernels_file("inception_resnet_v2", "inception_resnet_v2", hashes),
    )


InceptionResNetV2 = _build.public(
    "InceptionResNetV2",
    "inception_resnet_v2",
    inception_resnet_v2,
    "default input 299x299 (at least 75), preprocessed by :func:`preprocess_input` ([-1, 1]).",
)
preprocess_input = imagenet_utils.module_functions(__name__, "InceptionResNetV2", "tf")
decode_predictions = imagenet_utils.decode_predictions
