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

from plait.saving.model_file import load_model, save_model
from plait.saving.serialization import register_serializable

__all__ = ["load_model", "register_serializable", "save_model"]
