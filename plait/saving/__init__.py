"""Saving and loading: plait's own safe model file, weights as safetensors.

Example:
    >>> import plait, tempfile, os
    >>> inputs = plait.Input(shape=(4,))
    >>> model = plait.Model(inputs, plait.layers.Dense(2)(inputs))
    >>> path = os.path.join(tempfile.mkdtemp(), "m.plait")
    >>> model.save(path)
    >>> plait.models.load_model(path).count_params()
    10
"""

from plait.saving.file_editor import KerasFileEditor
from plait.saving.model_file import load_model, save_model
from plait.saving.serialization import (
    CustomObjectScope,
    custom_object_scope,
    deserialize_keras_object,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
    register_serializable,
    serialize_keras_object,
)
from plait.saving.weights_file import load_weights, save_weights

__all__ = [
    "CustomObjectScope",
    "KerasFileEditor",
    "custom_object_scope",
    "deserialize_keras_object",
    "get_custom_objects",
    "get_registered_name",
    "get_registered_object",
    "load_model",
    "load_weights",
    "register_keras_serializable",
    "register_serializable",
    "save_model",
    "save_weights",
    "serialize_keras_object",
]
