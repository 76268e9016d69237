"""Keras's model zoo (``keras.applications``) in plait.
"""

from plait.applications import (
    imagenet_utils,
    inception_resnet_v2,
    inception_v3,
    resnet,
    resnet_v2,
    vgg16,
    vgg19,
    xception,
)
from plait.applications.inception_resnet_v2 import InceptionResNetV2
from plait.applications.inception_v3 import InceptionV3
from plait.applications.resnet import ResNet50, ResNet101, ResNet152
from plait.applications.resnet_v2 import ResNet50V2, ResNet101V2, ResNet152V2
from plait.applications.vgg16 import VGG16
from plait.applications.vgg19 import VGG19
from plait.applications.xception import Xception
