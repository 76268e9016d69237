"""VGG16 (Simonyan & Zisserman, 2015): `Very Deep Convolutional Networks for Large-Scale Image
Recognition <https://arxiv.org/abs/1409.1556>`_.

Ported from Keras 3.15 (``keras/src/applications/vgg16.py``, Apache-2.0) with the same layer
calls and names, so Keras's weight files load by name.

Example:
    >>> import torch
    >>> from plait.applications import VGG16
    >>> with torch.device("meta"):  # shapes and counts without allocating or initialising weights
    ...     model = VGG16(weights=None, include_top=False, input_shape=(32, 32, 3), pooling="avg")
    >>> model.output.shape, model.count_params()
    ((None, 512), 14714688)
"""

from plait import layers
from plait.applications import imagenet_utils
from plait.models import Model

WEIGHTS_PATH = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5"
)
WEIGHTS_PATH_NO_TOP = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
    "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
)
_HASHES = ("64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc")


def VGG(
    convs_per_block,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="vgg16",
    weight_files=None,
):
    """A VGG network with ``convs_per_block`` convolutions in its five blocks (VGG16, VGG19)."""
    imagenet_utils.check_weights(weights, include_top, classes)
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=224, min_size=32, data_format=None, require_flatten=include_top, weights=weights
    )
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    x = img_input
    for block, (filters, convs) in enumerate(zip((64, 128, 256, 512, 512), convs_per_block), start=1):
        for i in range(1, convs + 1):
            x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same", name=f"block{block}_conv{i}")(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)

    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D()(x)

    model = Model(imagenet_utils.model_inputs(input_tensor, img_input), x, name=name)
    (top, top_hash), (no_top, no_top_hash) = weight_files
    url, file_hash = (top, top_hash) if include_top else (no_top, no_top_hash)
    imagenet_utils.load_weights(model, weights, url.rsplit("/", 1)[-1], url, file_hash)
    return model


def VGG16(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="vgg16",
):
    """Instantiates the VGG16 model (Keras's ``keras.applications.VGG16``).

    Args:
        include_top: whether to include the 3 fully-connected layers at the top (default True).
        weights: None (random initialization), ``"imagenet"`` (Keras's published file, read from
            Keras's cache folder), or the path to a Keras weights file (``.h5`` / ``.weights.h5``).
        input_tensor: optional plait symbolic tensor to use as the image input.
        input_shape: optional ``(H, W, 3)``; only with ``include_top=False`` may it differ from
            ``(224, 224, 3)``. At least 32 px.
        pooling: with ``include_top=False``: None (4D output), ``"avg"`` or ``"max"`` (2D output).
        classes: number of classes with ``include_top=True`` (1000 with ImageNet weights).
        classifier_activation: activation of the top layer (``"softmax"``; None for logits).
        name: the model's name.

    Input: images ``(N, H, W, 3)`` preprocessed by :func:`preprocess_input` (caffe mode).

    Returns:
        a :class:`plait.Model`.
    """
    return VGG(
        (2, 2, 3, 3, 3),
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
