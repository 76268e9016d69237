"""Utilities: ``to_categorical``, ``set_random_seed``, ``clear_session``, ``plot_model``, ``plot_history``."""

import random

import numpy as np
import torch

from plait.utils import bounding_boxes
from plait.utils.audio_dataset import audio_dataset_from_directory
from plait.utils.config import Config
from plait.utils.custom_objects import (
    CustomObjectScope,
    custom_object_scope,
    get_custom_objects,
    register_keras_serializable,
)
from plait.utils.data_utils import pack_x_y_sample_weight, unpack_x_y_sample_weight
from plait.utils.dataset_utils import split_dataset, timeseries_dataset_from_array
from plait.utils.directory_datasets import image_dataset_from_directory, text_dataset_from_directory
from plait.utils.file_download import get_file
from plait.utils.image_utils import array_to_img, img_to_array, load_img, save_img
from plait.utils.layer_utils import get_source_inputs
from plait.utils.model_visualization import model_to_dot, plot_model
from plait.utils.naming import clear_session
from plait.utils.numerical_utils import normalize
from plait.utils.plotting import plot_history
from plait.utils.progbar import Progbar
from plait.utils.py_dataset import PyDataset
from plait.utils.sequence_utils import pad_sequences
from plait.utils.settings import (
    disable_interactive_logging,
    enable_interactive_logging,
    is_interactive_logging_enabled,
)

Sequence = PyDataset  # Keras's older name, still exported by Keras 3


def to_categorical(x, num_classes=None):
    """One-hot encode integer class labels (Keras's ``to_categorical``).

    Args:
        x: array-like of non-negative ints, any shape (a trailing dim of 1 is dropped).
        num_classes: total number of classes; default ``max(x) + 1``.

    Returns:
        a float32 numpy array of shape ``x.shape + (num_classes,)``.

    Example:
        >>> import plait
        >>> plait.utils.to_categorical([0, 2], 3)
        array([[1., 0., 0.],
               [0., 0., 1.]], dtype=float32)
    """
    x = np.asarray(x)
    if x.size and (not np.issubdtype(x.dtype, np.integer) and not np.all(np.mod(x, 1) == 0)):
        raise ValueError(f"to_categorical expects integer class labels. Received dtype={x.dtype}")
    x = x.astype("int64")
    if x.ndim > 1 and x.shape[-1] == 1:
        x = x.reshape(x.shape[:-1])
    if x.size and x.min() < 0:
        raise ValueError(f"to_categorical expects non-negative labels. Received min label {x.min()}")
    if num_classes is None:
        num_classes = int(x.max()) + 1 if x.size else 0
    elif x.size and x.max() >= num_classes:
        raise ValueError(f"Label {x.max()} is out of range for num_classes={num_classes}.")
    out = np.zeros(x.shape + (num_classes,), dtype="float32")
    np.put_along_axis(out, x[..., None], 1.0, axis=-1)
    return out


def array_to_tensor(array):
    """A numpy array as a tensor, sharing memory when it can (read-only arrays are copied,
    since torch tensors are always writable)."""
    array = np.asarray(array)
    if not array.flags.writeable or not array.flags.c_contiguous:
        array = np.array(array, order="C")
    return torch.from_numpy(array)


def set_random_seed(seed):
    """Seed Python's, numpy's and torch's generators (Keras's ``set_random_seed``)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


__all__ = [
    "Config",
    "CustomObjectScope",
    "Progbar",
    "Sequence",
    "audio_dataset_from_directory",
    "bounding_boxes",
    "disable_interactive_logging",
    "enable_interactive_logging",
    "get_file",
    "get_source_inputs",
    "is_interactive_logging_enabled",
    "PyDataset",
    "array_to_img",
    "image_dataset_from_directory",
    "img_to_array",
    "load_img",
    "save_img",
    "text_dataset_from_directory",
    "custom_object_scope",
    "get_custom_objects",
    "register_keras_serializable",
    "clear_session",
    "model_to_dot",
    "normalize",
    "pack_x_y_sample_weight",
    "pad_sequences",
    "plot_history",
    "plot_model",
    "set_random_seed",
    "split_dataset",
    "timeseries_dataset_from_array",
    "to_categorical",
    "unpack_x_y_sample_weight",
]
