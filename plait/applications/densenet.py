"""DenseNet121/169/201 (Huang et al., 2017): `Densely Connected Convolutional Networks
<https://arxiv.org/abs/1608.06993>`_.

Ported from Keras 3.15 (``keras/src/applications/densenet.py``, Apache-2.0) with the same
layer calls, in the same order, so names and weights match Keras's.

Example:
    >>> import torch
    >>> from plait.applications import DenseNet121
    >>> with torch.device("meta"):  # shapes and counts without allocating or initialising weights
    ...     model = DenseNet121(weights=None, include_top=False, input_shape=(32, 32, 3), pooling="avg")
    >>> model.output.shape, model.count_params()
    ((None, 1024), 7037504)
"""

from plait import layers
from plait.applications import imagenet_utils
from plait.models import Model

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/densenet/"
BN_AXIS = 3
# blocks -> (model, hash with the top, hash without it)
_WEIGHTS = {
    (6, 12, 24, 16): ("densenet121", "9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738"),
    (6, 12, 32, 32): ("densenet169", "d699b8f76981ab1b30698df4c175e90b", "b8c4d4c20dd625c148057b9ff1c1176b"),
    (6, 12, 48, 32): ("densenet201", "1ceb130c1ea1b78c3bf6114dbdfd8807", "c13680b51ded0fb44dff2d8f86ac8bb1"),
}


def dense_block(x, blocks, name):
    """``blocks`` conv blocks, each concatenating 32 new channels."""
    for i in range(blocks):
        x = conv_block(x, 32, name=f"{name}_block{i + 1}")
    return x


def transition_block(x, reduction, name):
    """BN-ReLU, a 1x1 convolution shrinking the channels by ``reduction``, 2x2 average pooling."""
    x = layers.BatchNormalization(axis=BN_AXIS, epsilon=1.001e-5, name=f"{name}_bn")(x)
    x = layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.Conv2D(int(x.shape[BN_AXIS] * reduction), 1, use_bias=False, name=f"{name}_conv")(x)
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def conv_block(x, growth_rate, name):
    """BN-ReLU-Conv1x1, BN-ReLU-Conv3x3 giving ``growth_rate`` channels, concatenated to ``x``."""
    x1 = layers.BatchNormalization(axis=BN_AXIS, epsilon=1.001e-5, name=f"{name}_0_bn")(x)
    x1 = layers.Activation("relu", name=f"{name}_0_relu")(x1)
    x1 = layers.Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(x1)
    x1 = layers.BatchNormalization(axis=BN_AXIS, epsilon=1.001e-5, name=f"{name}_1_bn")(x1)
    x1 = layers.Activation("relu", name=f"{name}_1_relu")(x1)
    x1 = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(x1)
    return layers.Concatenate(axis=BN_AXIS, name=f"{name}_concat")([x, x1])


def DenseNet(
    blocks,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="densenet",
):
    """A DenseNet with ``blocks`` conv blocks in its four dense blocks."""
    imagenet_utils.check_weights(weights, include_top, classes)
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=224, min_size=32, data_format=None, require_flatten=include_top, weights=weights
    )
    img_input = imagenet_utils.image_input(input_tensor, input_shape)

    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)))(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = layers.BatchNormalization(axis=BN_AXIS, epsilon=1.001e-5, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)))(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = dense_block(x, blocks[0], name="conv2")
    x = transition_block(x, 0.5, name="pool2")
    x = dense_block(x, blocks[1], name="conv3")
    x = transition_block(x, 0.5, name="pool3")
    x = dense_block(x, blocks[2], name="conv4")
    x = transition_block(x, 0.5, name="pool4")
    x = dense_block(x, blocks[3], name="conv5")
    x = layers.BatchNormalization(axis=BN_AXIS, epsilon=1.001e-5, name="bn")(x)
    x = layers.Activation("relu", name="relu")(x)

    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)

    model = Model(imagenet_utils.model_inputs(input_tensor, img_input), x, name=name)
    file_name = url = file_hash = None
    if tuple(blocks) in _WEIGHTS:
        model_name, top_hash, no_top_hash = _WEIGHTS[tuple(blocks)]
        file_name = f"{model_name}_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
        url, file_hash = BASE_WEIGHTS_PATH + file_name, (top_hash if include_top else no_top_hash)
    imagenet_utils.load_weights(model, weights, file_name, url, file_hash)
    return model


def DenseNet121(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="densenet121",
):
    """Instantiates the DenseNet121 architecture (Keras's ``keras.applications.DenseNet121``);
    inputs preprocessed by :func:`preprocess_input` (torch mode)."""
    return DenseNet([6, 12, 24, 16], **dict(locals()))


def DenseNet169(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="densenet169",
):
    """Instantiates the DenseNet169 architecture (Keras's ``keras.applications.DenseNet169``)."""
    return DenseNet([6, 12, 32, 32], **dict(locals()))


def DenseNet201(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="densenet201",
):
    """Instantiates the DenseNet201 architecture (Keras's ``keras.applications.DenseNet201``)."""
    return DenseNet([6, 12, 48, 32], **dict(locals()))


for _fn in (DenseNet121, DenseNet169, DenseNet201):
    _fn.__doc__ += imagenet_utils.ARGS_DOC


def preprocess_input(x, data_format=None):
    """Images in [0, 255] to DenseNet's input: scaled to [0, 1], then normalized with ImageNet's
    channel mean and std (torch mode)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="torch")


def decode_predictions(preds, top=5):
    """ImageNet predictions to ``(class_name, description, score)`` tuples (see imagenet_utils)."""
    return imagenet_utils.decode_predictions(preds, top=top)
