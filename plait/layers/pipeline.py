"""``Pipeline``: layers applied one after the other, as one layer (Keras's preprocessing pipeline)."""

import inspect

from torch import nn

from plait.layers.base import Layer
from plait.layers.serialization import layer_from_config, layer_to_config


class Pipeline(Layer):
    """Applies ``layers`` in order (typically preprocessing and augmentation). Unlike a
    ``Sequential`` it is a plain layer, not a model.

    As in Keras, a pipeline called on its own augments (it starts in training mode, Keras's
    ``training=True`` default); inside a model it follows the model: ``fit`` trains, ``predict``
    and ``evaluate`` switch it to inference. ``training=`` in a call overrides both. Masks pass
    from one layer to the next.

    Args:
        layers: list of layers (a config dict for one is rebuilt).
        name: the layer's name.

    Example:
        >>> import torch, plait
        >>> pipe = plait.layers.Pipeline([plait.layers.Rescaling(1 / 255), plait.layers.RandomFlip("horizontal")])
        >>> images = torch.full((2, 4, 4, 3), 255.0)
        >>> pipe(images).amax().item(), [type(layer).__name__ for layer in pipe.layers]
        (1.0, ['Rescaling', 'RandomFlip'])
    """

    def __init__(self, layers, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if not isinstance(layers, (list, tuple)):
            raise TypeError(f"Pipeline '{self.name}' takes a list of layers. Received: layers={layers!r:.80}")
        layers = [layer_from_config(layer) if isinstance(layer, dict) else layer for layer in layers]
        for layer in layers:
            if not callable(layer):
                raise TypeError(f"Pipeline '{self.name}': each entry must be a layer. Received: {layer!r:.80}")
        self._pipeline_layers = nn.ModuleList(layers)
        self.training = True

    @property
    def layers(self):
        return list(self._pipeline_layers)

    def call(self, inputs, training=None, mask=None):
        training = self.training if training is None else bool(training)
        for layer in self._pipeline_layers:
            kwargs = {"training": training} if isinstance(layer, Layer) else {}
            if mask is not None and "mask" in inspect.signature(getattr(layer, "call", layer)).parameters:
                kwargs["mask"] = mask
            outputs = layer(inputs, **kwargs)
            compute_mask = getattr(layer, "compute_mask", None)
            mask = compute_mask(inputs, mask) if compute_mask is not None and mask is not None else None
            inputs = outputs
        return inputs

    def get_config(self):
        # Keras's Pipeline writes its layers and name only.
        return {"layers": [layer_to_config(layer) for layer in self._pipeline_layers], "name": self.name}
