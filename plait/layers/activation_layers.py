"""Activations as layers: ``ReLU``, ``LeakyReLU``, ``PReLU``, ``ELU``, ``Softmax`` (Keras's arguments)."""

import torch
import torch.nn.functional as F

from plait import activations
from plait.layers import settings
from plait.layers.base import Layer, WeightOptions


class _Elementwise(Layer):
    """An activation layer: the output has its input's shape (and mask), and the layer's
    settings are kept by :mod:`plait.layers.settings`, so each subclass only names them."""

    supports_masking = True

    def __init__(self, kwargs, **values):
        super().__init__(**kwargs)
        settings.keep(self, **values)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), **settings.config(self)}


class ReLU(_Elementwise):
    """``max(x, 0)`` with Keras's ``max_value``, ``negative_slope`` and ``threshold``."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        if max_value is not None and max_value < 0:
            raise ValueError(f"max_value of a ReLU layer cannot be a negative value. Received: max_value={max_value}")
        super().__init__(kwargs, max_value=max_value, negative_slope=float(negative_slope), threshold=float(threshold))

    def call(self, inputs):
        return activations.relu(inputs, self.negative_slope, self.max_value, self.threshold)


class LeakyReLU(_Elementwise):
    """``x if x > 0 else negative_slope * x`` (Keras 3 default slope 0.3)."""

    def __init__(self, negative_slope=0.3, **kwargs):
        super().__init__(kwargs, negative_slope=float(negative_slope))

    def call(self, inputs):
        return F.leaky_relu(inputs, self.negative_slope)


class ELU(_Elementwise):
    """``x if x > 0 else alpha * (exp(x) - 1)``."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(kwargs, alpha=float(alpha))

    def call(self, inputs):
        return F.elu(inputs, self.alpha)


class Softmax(_Elementwise):
    """Softmax over ``axis`` (default -1, or a tuple of axes).

    Called with ``mask`` (broadcastable to the inputs; True or > 0.5 = keep), masked positions
    get probability 0, as Keras's: they are left out of the normalisation, and a fully masked
    slice is all zeros rather than uniform.

    Example:
        >>> import torch, plait
        >>> plait.layers.Softmax()(torch.zeros(1, 3), mask=torch.tensor([[True, True, False]]))
        tensor([[0.5000, 0.5000, 0.0000]])
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(kwargs, axis=axis)

    def call(self, inputs, mask=None):
        axes = tuple(self.axis) if isinstance(self.axis, (list, tuple)) else (self.axis,)
        if mask is not None:
            mask = mask if mask.dtype == torch.bool else mask > 0.5
            inputs = inputs.masked_fill(~mask, -1e9)  # Keras's large negative filler for float32
        out = torch.softmax(inputs, dim=axes[0]) if len(axes) == 1 else (inputs - inputs.logsumexp(axes, True)).exp()
        return out if mask is None else out.masked_fill(~mask, 0.0)


class PReLU(_Elementwise):
    """``max(x, 0) + alpha * min(x, 0)`` with a learned ``alpha`` per input position.

    Args:
        alpha_initializer: default ``"zeros"``. alpha_regularizer, alpha_constraint: as for
        ``Dense``'s kernel. shared_axes: axes (1-based, no batch) sharing alpha.
    """

    def __init__(
        self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None, shared_axes=None, **kwargs
    ):
        if isinstance(shared_axes, int):
            shared_axes = [shared_axes]
        super().__init__(kwargs, alpha_initializer=alpha_initializer)
        self.weight_options = WeightOptions(alpha_regularizer=alpha_regularizer, alpha_constraint=alpha_constraint)
        settings.keep(self, shared_axes=None if shared_axes is None else list(shared_axes))

    def build(self, input_shape):
        rank = len(input_shape) - 1  # shared_axes count from 1, after the batch axis
        outside = [axis for axis in self.shared_axes or () if not 1 <= axis <= rank]
        if outside:
            raise ValueError(
                f"Layer '{self.name}' (PReLU): shared_axes must lie in [1, {rank}] for inputs of shape "
                f"{tuple(input_shape)}. Received: shared_axes={self.shared_axes}"
            )
        shape = [1 if axis in (self.shared_axes or ()) else size for axis, size in enumerate(input_shape[1:], 1)]
        self.add_weight("alpha", tuple(shape), self.alpha_initializer, **self.weight_options("alpha"))

    def call(self, inputs):
        return F.relu(inputs) - self.alpha * F.relu(-inputs)

    def get_config(self):
        return {**super().get_config(), **self.weight_options.get_config()}
