"""Convolution layers (channels_last by default, as in Keras): ``Conv1D``."""

import math

import torch.nn.functional as F

from plait import activations, initializers
from plait.layers.base import InputSpec, Layer
from plait.layers.validation import data_format as check_data_format
from plait.layers.validation import int_tuple, one_of, positive_int


def conv_output_length(length, kernel_size, padding, stride, dilation=1):
    """Output length of a conv/pool along one axis, Keras's rule (None stays None)."""
    if length is None:
        return None
    effective = (kernel_size - 1) * dilation + 1
    if padding == "same":
        return math.ceil(length / stride)
    if padding == "causal":
        return (length - 1) // stride + 1
    return max(0, (length - effective) // stride + 1)


def same_padding(length, kernel_size, stride, dilation=1):
    """TensorFlow's 'same' padding ``(left, right)``: the odd one goes on the right."""
    effective = (kernel_size - 1) * dilation + 1
    total = max((math.ceil(length / stride) - 1) * stride + effective - length, 0)
    return total // 2, total - total // 2


class Conv1D(Layer):
    """1D convolution over ``(batch, steps, channels)`` inputs (Keras's channels_last).

    Args:
        filters: number of output channels.
        kernel_size: int, the window length.
        strides: int (default 1).
        padding: ``"valid"`` (default), ``"same"`` (TensorFlow's rule, extra on the right) or
            ``"causal"`` (left padding only, for autoregressive models).
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        dilation_rate: int (default 1).
        groups: channel groups (input and output channels must divide by it).
        activation, use_bias, kernel_initializer, bias_initializer: as in ``Dense``.

    Input shape:
        ``(batch, steps, channels)``; ``steps`` may be None.
    Output shape:
        ``(batch, new_steps, filters)``.

    Weights: ``kernel (kernel_size, channels // groups, filters)``, ``bias (filters,)``.

    Example:
        >>> import plait
        >>> x = plait.Input(shape=(None, 256))
        >>> plait.layers.Conv1D(128, 5, activation="relu")(x).shape
        (None, None, 128)
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        groups=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        who = f"Conv1D layer '{self.name}'"
        self.filters = positive_int(who, "filters", filters)
        self.kernel_size = int_tuple(who, "kernel_size", kernel_size, 1)
        self.strides = int_tuple(who, "strides", strides, 1)
        self.dilation_rate = int_tuple(who, "dilation_rate", dilation_rate, 1)
        self.padding = one_of(who, "padding", padding, ("valid", "same", "causal"))
        self.data_format = check_data_format(who, data_format)
        self.groups = positive_int(who, "groups", groups)
        if self.filters % self.groups:
            raise ValueError(
                f"{who}: `filters` must be divisible by `groups`. Received: filters={filters}, groups={groups}"
            )
        if self.strides[0] > 1 and self.dilation_rate[0] > 1:
            raise ValueError(
                f"{who}: strides > 1 is not compatible with dilation_rate > 1. "
                f"Received: strides={strides}, dilation_rate={dilation_rate}"
            )
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.input_spec = InputSpec(ndim=3)

    @property
    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def build(self, input_shape):
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise ValueError(f"Layer '{self.name}' needs a known channel dim. Received: input_shape={input_shape}")
        if channels % self.groups:
            raise ValueError(
                f"Layer '{self.name}': the input's channels ({channels}) must be divisible by groups={self.groups}."
            )
        # Keras shape (k, in/groups, out); torch's conv1d wants (out, in/groups, k).
        self.add_weight(
            "kernel",
            (self.kernel_size[0], channels // self.groups, self.filters),
            self.kernel_initializer,
            perm=(2, 1, 0),
        )
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer) if self.use_bias else None
        self.input_spec = InputSpec(ndim=3, axes={self._channel_axis: channels})

    def call_logits(self, inputs):
        x = inputs.transpose(1, 2) if self.data_format == "channels_last" else inputs
        k, s, d = self.kernel_size[0], self.strides[0], self.dilation_rate[0]
        pad = 0
        if self.padding == "causal":
            x = F.pad(x, ((k - 1) * d, 0))
        elif self.padding == "same":
            left, right = same_padding(x.shape[-1], k, s, d)
            if left == right:
                pad = left
            else:
                x = F.pad(x, (left, right))
        y = F.conv1d(x, self.kernel, self.bias, s, pad, d, self.groups)
        return y.transpose(1, 2) if self.data_format == "channels_last" else y

    def call(self, inputs):
        return self.activation(self.call_logits(inputs))

    def compute_output_shape(self, input_shape):
        if self.data_format == "channels_last":
            batch, steps, _ = input_shape
        else:
            batch, _, steps = input_shape
        out = conv_output_length(steps, self.kernel_size[0], self.padding, self.strides[0], self.dilation_rate[0])
        if out == 0:
            raise ValueError(
                f"Layer '{self.name}': input of {steps} steps is too short for kernel_size="
                f"{self.kernel_size[0]} with padding='{self.padding}'. Received: input_shape={tuple(input_shape)}"
            )
        return (batch, out, self.filters) if self.data_format == "channels_last" else (batch, self.filters, out)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "groups": self.groups,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
        }
