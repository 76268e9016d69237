"""Layer wrappers: the ``Wrapper`` base class, ``Bidirectional`` and ``TimeDistributed``."""

import torch

from plait.layers.base import Layer
from plait.layers.serialization import layer_from_config, layer_to_config


class Wrapper(Layer):
    """Base class of layers that hold one layer and change how it runs (Keras's ``Wrapper``):
    it checks and stores ``layer``, builds it with the wrapper, and saves it in the config.

    Args:
        layer: the wrapped plait layer.

    Example:
        >>> import torch, plait
        >>> class Twice(plait.layers.Wrapper):
        ...     def call(self, x):
        ...         return self.layer(self.layer(x))
        >>> Twice(plait.layers.Rescaling(2.0))(torch.ones(1, 2))
        tensor([[4., 4.]])
    """

    def __init__(self, layer, **kwargs):
        if isinstance(layer, dict):  # a config (a Keras file's, or plait's): the layer it describes
            layer = layer_from_config(layer)
        if not isinstance(layer, Layer):
            raise ValueError(f"{type(self).__name__} expects a plait layer to wrap. Received: layer={layer!r:.80}")
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape=None):
        self.layer.maybe_build(input_shape)

    def get_config(self):
        return {**super().get_config(), "layer": layer_to_config(self.layer)}


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy of it backwards, and merges the two.

    Args:
        layer: a ``SimpleRNN``, ``GRU`` or ``LSTM`` (the forward direction).
        merge_mode: ``"concat"`` (default), ``"sum"``, ``"mul"``, ``"ave"`` or None (a list of
            both outputs).
        backward_layer: optional layer for the backward direction (default: a copy of ``layer``'s
            config with ``go_backwards`` flipped, as Keras makes it).

    With ``return_sequences`` the backward output is reversed back, so step ``t`` of both
    directions lines up. Weights: the forward layer's, then the backward layer's.

    Example:
        >>> import plait
        >>> x = plait.Input(shape=(None, 8))
        >>> plait.layers.Bidirectional(plait.layers.LSTM(4, return_sequences=True))(x).shape
        (None, None, 8)
    """

    supports_masking = True

    def __init__(self, layer, merge_mode="concat", backward_layer=None, **kwargs):
        from plait.layers.recurrent import _Recurrent

        if not isinstance(layer, _Recurrent):
            raise ValueError(
                f"Bidirectional expects a recurrent layer (RNN, SimpleRNN, GRU, LSTM). Received: {layer!r}"
            )
        if merge_mode not in ("concat", "sum", "mul", "ave", None):
            raise ValueError(f"Invalid merge_mode. Expected one of concat, sum, mul, ave, None. Received: {merge_mode}")
        super().__init__(**kwargs)
        config = layer.get_config()
        if backward_layer is None:
            config.update(name=f"backward_{layer.name}", go_backwards=not layer.go_backwards)
            backward_layer = type(layer).from_config(config)
        self.forward_layer, self.backward_layer = layer, backward_layer
        # As Keras does: padded steps of returned sequences are zeros in both directions.
        for direction in (layer, backward_layer):
            direction.zero_output_for_mask = direction.return_sequences
        self.merge_mode = merge_mode
        self.return_sequences, self.return_state = layer.return_sequences, layer.return_state

    def build(self, input_shape):
        self.forward_layer.maybe_build(input_shape)
        self.backward_layer.maybe_build(input_shape)

    def _merge(self, a, b):
        if self.merge_mode == "concat":
            return torch.cat([a, b], dim=-1)
        if self.merge_mode == "sum":
            return a + b
        if self.merge_mode == "mul":
            return a * b
        if self.merge_mode == "ave":
            return (a + b) / 2
        return [a, b]

    def call(self, inputs, mask=None):
        forward = self.forward_layer(inputs, mask=mask)
        backward = self.backward_layer(inputs, mask=mask)
        states = []
        if self.return_state:
            forward, *f_states = forward
            backward, *b_states = backward
            states = f_states + b_states
        if self.return_sequences:
            backward = backward.flip(1)
        merged = self._merge(forward, backward)
        if self.return_state:
            return (merged if isinstance(merged, list) else [merged]) + states
        return merged

    def produces_mask(self, input_masks):
        return self.return_sequences and self.merge_mode is not None and any(input_masks)

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    def compute_output_shape(self, input_shape):
        shape = self.forward_layer.compute_output_shape(input_shape)
        states = []
        if self.return_state:
            shape, *states = shape
            states = states * 2
        if self.merge_mode == "concat":
            shape = (*shape[:-1], shape[-1] * 2)
        outputs = [shape, shape] if self.merge_mode is None else [shape]
        return outputs + states if (self.return_state or self.merge_mode is None) else shape

    def get_config(self):
        return {
            **super().get_config(),
            "layer": layer_to_config(self.forward_layer),
            "backward_layer": layer_to_config(self.backward_layer),
            "merge_mode": self.merge_mode,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = layer_from_config(config["layer"])
        if config.get("backward_layer") is not None:
            config["backward_layer"] = layer_from_config(config["backward_layer"])
        return super().from_config(config)


class TimeDistributed(Wrapper):
    """Applies ``layer`` to every timestep: ``(batch, steps, ...) -> (batch, steps, ...)``.

    The timesteps are folded into the batch for one call of ``layer`` (no loop).

    Example:
        >>> import plait
        >>> x = plait.Input(shape=(10, 8))
        >>> plait.layers.TimeDistributed(plait.layers.Dense(3))(x).shape
        (None, 10, 3)
    """

    supports_masking = True

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(f"`TimeDistributed` needs inputs of rank >= 3. Received: input_shape={input_shape}")
        self.layer.maybe_build((None, *input_shape[2:]))

    def call(self, inputs):
        batch, steps = inputs.shape[0], inputs.shape[1]
        out = self.layer(inputs.reshape(batch * steps, *inputs.shape[2:]))
        return out.reshape(batch, steps, *out.shape[1:])

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape((None, *input_shape[2:]))
        return (input_shape[0], input_shape[1], *inner[1:])
