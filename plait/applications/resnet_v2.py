"""ResNet50V2/101V2/152V2 (He et al., 2016): `Identity Mappings in Deep Residual Networks
<https://arxiv.org/abs/1603.05027>`_: ResNet with pre-activation blocks (built by
:func:`plait.applications.resnet.residual_network`).
"""

from plait.applications import imagenet_utils
from plait.applications.resnet import resnet_function

ResNet50V2 = resnet_function(50, True)
ResNet101V2 = resnet_function(101, True)
ResNet152V2 = resnet_function(152, True)
preprocess_input = imagenet_utils.module_functions(__name__, "ResNetV2", "tf")
decode_predictions = imagenet_utils.decode_predictions
