"""Reshaping layers: ``Flatten``."""

import math

from plait.layers.base import Layer
from plait.layers.validation import data_format as check_data_format


class Flatten(Layer):
    """Flattens all dims but the batch dim.

    Args:
        data_format: ``"channels_last"`` (default) or ``"channels_first"``; with
            channels_first, the channel axis is moved last first, as Keras does.

    Example:
        >>> import plait
        >>> plait.layers.Flatten()(plait.Input(shape=(4, 5))).shape
        (None, 20)
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(f"Flatten layer '{self.name}'", data_format)

    def call(self, inputs):
        if self.data_format == "channels_first" and inputs.dim() > 2:
            inputs = inputs.movedim(1, -1)
        return inputs.reshape(inputs.shape[0], -1)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else math.prod(rest))

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}
