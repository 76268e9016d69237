"""Keras's model zoo (``keras.applications``) in plait."""

from plait.applications import (
    convnext,
    densenet,
    efficientnet,
    efficientnet_v2,
    imagenet_utils,
    inception_resnet_v2,
    inception_v3,
    mobilenet,
    mobilenet_v2,
    mobilenet_v3,
    nasnet,
    resnet,
    resnet50,
    resnet_v2,
    vgg16,
    vgg19,
    xception,
)
from plait.applications.convnext import ConvNeXtBase, ConvNeXtLarge, ConvNeXtSmall, ConvNeXtTiny, ConvNeXtXLarge
from plait.applications.densenet import DenseNet121, DenseNet169, DenseNet201
from plait.applications.efficientnet import (
    EfficientNetB0,
    EfficientNetB1,
    EfficientNetB2,
    EfficientNetB3,
    EfficientNetB4,
    EfficientNetB5,
    EfficientNetB6,
    EfficientNetB7,
)
from plait.applications.efficientnet_v2 import (
    EfficientNetV2B0,
    EfficientNetV2B1,
    EfficientNetV2B2,
    EfficientNetV2B3,
    EfficientNetV2L,
    EfficientNetV2M,
    EfficientNetV2S,
)
from plait.applications.inception_resnet_v2 import InceptionResNetV2
from plait.applications.inception_v3 import InceptionV3
from plait.applications.mobilenet import MobileNet
from plait.applications.mobilenet_v2 import MobileNetV2
from plait.applications.mobilenet_v3 import MobileNetV3Large, MobileNetV3Small
from plait.applications.nasnet import NASNetLarge, NASNetMobile
from plait.applications.resnet import ResNet50, ResNet101, ResNet152
from plait.applications.resnet_v2 import ResNet50V2, ResNet101V2, ResNet152V2
from plait.applications.vgg16 import VGG16
from plait.applications.vgg19 import VGG19
from plait.applications.xception import Xception

__all__ = [
    "convnext",
    "ConvNeXtBase",
    "ConvNeXtLarge",
    "ConvNeXtSmall",
    "ConvNeXtTiny",
    "ConvNeXtXLarge",
    "densenet",
    "DenseNet121",
    "DenseNet169",
    "DenseNet201",
    "efficientnet",
    "efficientnet_v2",
    "EfficientNetB0",
    "EfficientNetB1",
    "EfficientNetB2",
    "EfficientNetB3",
    "EfficientNetB4",
    "EfficientNetB5",
    "EfficientNetB6",
    "EfficientNetB7",
    "EfficientNetV2B0",
    "EfficientNetV2B1",
    "EfficientNetV2B2",
    "EfficientNetV2B3",
    "EfficientNetV2L",
    "EfficientNetV2M",
    "EfficientNetV2S",
    "imagenet_utils",
    "inception_resnet_v2",
    "inception_v3",
    "InceptionResNetV2",
    "InceptionV3",
    "MobileNet",
    "mobilenet",
    "mobilenet_v2",
    "mobilenet_v3",
    "MobileNetV2",
    "MobileNetV3Large",
    "MobileNetV3Small",
    "nasnet",
    "NASNetLarge",
    "NASNetMobile",
    "resnet",
    "resnet50",
    "ResNet101",
    "ResNet101V2",
    "ResNet152",
    "ResNet152V2",
    "ResNet50",
    "ResNet50V2",
    "resnet_v2",
    "vgg16",
    "VGG16",
    "vgg19",
    "VGG19",
    "Xception",
    "xception",
]
