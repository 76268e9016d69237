"""Layers, grouped by family as in Keras (``from plait.layers import *`` gives them all)."""

from plait.layers.activation_layers import ELU, LeakyReLU, PReLU, ReLU, Softmax
from plait.layers.attention import AdditiveAttention, Attention, MultiHeadAttention
from plait.layers.base import InputSpec, Layer
from plait.layers.convolutional import (
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv2DTranspose,
    Conv3D,
    DepthwiseConv2D,
    SeparableConv1D,
    SeparableConv2D,
)
from plait.layers.core import Activation, Dense, Embedding, Identity, Masking
from plait.layers.input_layer import Input, InputLayer
from plait.layers.lambda_layer import Lambda
from plait.layers.merging import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)
from plait.layers.normalization import BatchNormalization, GroupNormalization, LayerNormalization, UnitNormalization
from plait.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
)
from plait.layers.preprocessing import (
    CategoryEncoding,
    CenterCrop,
    Discretization,
    Normalization,
    Rescaling,
    Resizing,
)
from plait.layers.recurrent import GRU, LSTM, SimpleRNN
from plait.layers.regularization import (
    ActivityRegularization,
    Dropout,
    GaussianDropout,
    GaussianNoise,
    SpatialDropout1D,
    SpatialDropout2D,
)
from plait.layers.reshaping import (
    Cropping1D,
    Cropping2D,
    Flatten,
    Permute,
    RepeatVector,
    Reshape,
    UpSampling1D,
    UpSampling2D,
    ZeroPadding1D,
    ZeroPadding2D,
)
from plait.layers.torch_module import TorchModuleWrapper, TorchOp
from plait.layers.wrappers import Bidirectional, TimeDistributed

Convolution1D = Conv1D
MaxPool1D = MaxPooling1D
MaxPool2D = MaxPooling2D
AvgPool1D = AveragePooling1D
AvgPool2D = AveragePooling2D
Convolution2D = Conv2D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool1D = GlobalMaxPooling1D

__all__ = [
    "CategoryEncoding",
    "CenterCrop",
    "Discretization",
    "Normalization",
    "Rescaling",
    "Resizing",
    "AdditiveAttention",
    "Attention",
    "Conv1DTranspose",
    "Conv2DTranspose",
    "DepthwiseConv2D",
    "SeparableConv1D",
    "SeparableConv2D",
    "ActivityRegularization",
    "Cropping2D",
    "Dot",
    "GaussianDropout",
    "GaussianNoise",
    "GroupNormalization",
    "PReLU",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "UnitNormalization",
    "UpSampling2D",
    "ZeroPadding2D",
    "dot",
    "MultiHeadAttention",
    "Bidirectional",
    "TimeDistributed",
    "Masking",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "Conv2D",
    "Conv3D",
    "Cropping1D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
    "MaxPooling2D",
    "MaxPooling3D",
    "Permute",
    "RepeatVector",
    "Reshape",
    "UpSampling1D",
    "ZeroPadding1D",
    "BatchNormalization",
    "ELU",
    "GRU",
    "LayerNormalization",
    "LeakyReLU",
    "ReLU",
    "SimpleRNN",
    "Softmax",
    "Activation",
    "Add",
    "Average",
    "Concatenate",
    "Conv1D",
    "Convolution1D",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "GlobalMaxPool1D",
    "GlobalMaxPooling1D",
    "Identity",
    "Input",
    "InputLayer",
    "InputSpec",
    "LSTM",
    "Lambda",
    "Layer",
    "MaxPool1D",
    "MaxPool2D",
    "AvgPool1D",
    "AvgPool2D",
    "Convolution2D",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "MaxPooling1D",
    "Maximum",
    "Minimum",
    "Multiply",
    "Subtract",
    "TorchModuleWrapper",
    "TorchOp",
    "add",
    "average",
    "concatenate",
    "maximum",
    "minimum",
    "multiply",
    "subtract",
]
