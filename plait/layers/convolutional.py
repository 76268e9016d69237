"""Convolution layers (channels_last by default, as in Keras): ``Conv1D/2D/3D``, their transposed,
depthwise and separable forms."""

import math

import torch
import torch.nn.functional as F

from plait import activations, initializers
from plait.layers.base import InputSpec, Layer, WeightOptions
from plait.layers.lora import LoraLayer
from plait.layers.quantized import QuantizedLayer
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


def spatial_padding(x, kernel, strides, dilation, padding):
    """Pad ``x`` (channels first) for Keras's padding; returns ``(x, symmetric_pad_or_0)``.

    Symmetric 'same' padding is left to the conv kernel (cheaper); TF's asymmetric case and
    'causal' pad explicitly.
    """
    if padding == "valid":
        return x, 0
    if padding == "causal":
        return F.pad(x, ((kernel[0] - 1) * dilation[0], 0)), 0
    pads = [same_padding(x.shape[2 + i], kernel[i], strides[i], dilation[i]) for i in range(len(kernel))]
    if all(left == right for left, right in pads):
        return x, tuple(left for left, _ in pads)
    flat = [p for left, right in reversed(pads) for p in (left, right)]  # F.pad wants the last dim first
    return F.pad(x, flat), 0


class _Conv(Layer):
    """Shared by Conv1D/2D/3D: Keras's arguments, kernel layout and padding rules."""

    rank = 1

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
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        who, n = f"{type(self).__name__} layer '{self.name}'", self.rank
        self.weight_options = WeightOptions(
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
        )
        self.filters = positive_int(who, "filters", filters)
        self.kernel_size = int_tuple(who, "kernel_size", kernel_size, n)
        self.strides = int_tuple(who, "strides", strides, n)
        self.dilation_rate = int_tuple(who, "dilation_rate", dilation_rate, n)
        paddings = ("valid", "same", "causal") if n == 1 else ("valid", "same")
        self.padding = one_of(who, "padding", padding, paddings)
        self.data_format = check_data_format(who, data_format)
        self.groups = positive_int(who, "groups", groups)
        if self.filters % self.groups:
            raise ValueError(
                f"{who}: `filters` must be divisible by `groups`. Received: filters={filters}, groups={groups}"
            )
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"{who}: strides > 1 is not compatible with dilation_rate > 1. "
                f"Received: strides={strides}, dilation_rate={dilation_rate}"
            )
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.input_spec = InputSpec(ndim=n + 2)

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
        # Keras shape (*kernel, in/groups, out); torch's conv wants (out, in/groups, *kernel).
        n = self.rank
        self.add_weight(
            "kernel",
            (*self.kernel_size, channels // self.groups, self.filters),
            self.kernel_initializer,
            perm=(n + 1, n, *range(n)),
            **self.weight_options("kernel"),
        )
        self.bias = (
            self.add_weight("bias", (self.filters,), self.bias_initializer, **self.weight_options("bias"))
            if self.use_bias
            else None
        )
        self.input_spec = InputSpec(ndim=n + 2, axes={self._channel_axis: channels})

    def _run_kernel(self):
        """The kernel the layer convolves with, in torch's layout (LoRA's merged one on Conv1D/2D/3D)."""
        return self.kernel

    def call_logits(self, inputs):
        kernel = self._run_kernel()
        if type(self).convolution_op is not _Conv.convolution_op:  # a subclass's own convolution
            y = self.convolution_op(inputs, kernel.permute(*range(2, self.rank + 2), 1, 0))
            if self.bias is None:
                return y
            return y + (self.bias if self.data_format == "channels_last" else self.bias.view(-1, *[1] * self.rank))
        return self._convolve(inputs, kernel, self.bias)

    def convolution_op(self, inputs, kernel):
        """Keras's ``convolution_op``: ``inputs`` convolved with ``kernel`` in Keras's layout
        ``(*kernel_size, in_channels // groups, filters)``, with the layer's strides, padding,
        dilation and groups, without bias or activation. A subclass that overrides it changes
        the layer's convolution (the layer adds its bias and activation), as in Keras.

        Example:
            >>> import torch, plait
            >>> conv = plait.layers.Conv2D(2, 3)
            >>> x = torch.randn(1, 5, 5, 4)
            >>> keras_kernel = conv(x) is not None and conv.get_weights()[0]
            >>> y = conv.convolution_op(x, torch.as_tensor(keras_kernel))
            >>> torch.allclose(y + conv.bias, conv(x), atol=1e-6), tuple(y.shape)
            (True, (1, 3, 3, 2))
        """
        n = self.rank
        return self._convolve(inputs, kernel.permute(n + 1, n, *range(n)), None)

    def _convolve(self, inputs, kernel, bias):
        """The convolution with a kernel in torch's layout ``(filters, in // groups, *kernel_size)``."""
        x = inputs.movedim(-1, 1) if self.data_format == "channels_last" else inputs
        x, pad = spatial_padding(x, self.kernel_size, self.strides, self.dilation_rate, self.padding)
        if self.data_format == "channels_last" and self.rank < 3 and x.device.type == "cpu":
            return self._conv_channels_last(x, pad, kernel, bias)
        conv = (F.conv1d, F.conv2d, F.conv3d)[self.rank - 1]
        y = conv(x, kernel, bias, self.strides, pad, self.dilation_rate, self.groups)
        return y.movedim(1, -1) if self.data_format == "channels_last" else y

    def _conv_channels_last(self, x, pad, kernel, bias):
        """Keras's (batch, *spatial, channels) layout *is* torch's channels_last memory format:
        ``x`` (a channels-first view of it) goes to the kernel without a transposing copy, and
        the output comes back in the same layout. A 1D conv runs as a 2D conv of height 1.
        On the seed's first Conv1D this cut forward + backward from 142 to 97 ms (2 cores). CPU
        only: on an H100, cuDNN ran the float32 height-1 case 2x slower in this layout."""
        strides, dilation = self.strides, self.dilation_rate
        if self.rank == 1:
            x, kernel = x.unsqueeze(2), kernel.unsqueeze(2)
            strides, dilation = (1, *strides), (1, *dilation)
            pad = (0, *pad) if isinstance(pad, tuple) else 0
        kernel = kernel.contiguous(memory_format=torch.channels_last)
        y = F.conv2d(x, kernel, bias, strides, pad, dilation, self.groups).permute(0, 2, 3, 1)
        return y.squeeze(1) if self.rank == 1 else y

    def call(self, inputs):
        return self.activation(self.call_logits(inputs))

    def compute_output_shape(self, input_shape):
        spatial = input_shape[1:-1] if self.data_format == "channels_last" else input_shape[2:]
        out = [
            conv_output_length(length, k, self.padding, s, d)
            for length, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate)
        ]
        if 0 in out:
            raise ValueError(
                f"Layer '{self.name}': input of spatial size {tuple(spatial)} is too short for kernel_size="
                f"{self.kernel_size} with padding='{self.padding}'. Received: input_shape={tuple(input_shape)}"
            )
        batch = input_shape[0]
        return (batch, *out, self.filters) if self.data_format == "channels_last" else (batch, self.filters, *out)

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
            **self.weight_options.get_config(),
        }


class _ConvFileOrder:
    """Keras's file variables of a convolution, by name: kernel, bias (LoRA's factors are not
    saved, the kernel holds them merged: see ``LoraLayer``), read and written as plait's
    quantized layers do."""

    variable_serialization_spec = {None: ["kernel", "bias"]}
    _file_entries = QuantizedLayer._file_entries
    _file_values = QuantizedLayer._file_values
    save_own_variables = QuantizedLayer.save_own_variables
    load_own_variables = QuantizedLayer.load_own_variables


class _LoraConv(LoraLayer, _ConvFileOrder, _Conv):
    """Conv1D/2D/3D: ``_Conv`` with Keras's LoRA (``lora_rank``, ``lora_alpha``,
    ``enable_lora``); the transposed, depthwise and separable convolutions have none, as in
    Keras. ``lora_kernel_a`` has the kernel's shape with its last axis ``rank``,
    ``lora_kernel_b`` is ``(rank, filters)``."""

    lora_alpha_kept_on_build = True  # Keras's convolutions build with enable_lora(rank, lora_alpha)

    def __init__(self, *args, lora_rank=None, lora_alpha=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_lora(lora_rank, lora_alpha)

    def build(self, input_shape):
        super().build(input_shape)
        self._build_lora()

    def _run_kernel(self):
        return self.lora_weight()

    def get_config(self):
        return {**super().get_config(), **self.lora_config()}


class Conv1D(_LoraConv):
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

    rank = 1


class Conv2D(_LoraConv):
    """2D convolution over ``(batch, rows, cols, channels)`` (arguments as ``Conv1D``, each an int
    or a pair; padding ``"valid"`` or ``"same"``).

    Weights: ``kernel (kh, kw, channels // groups, filters)``, ``bias (filters,)``.

    Example:
        >>> import plait
        >>> plait.layers.Conv2D(8, 3, padding="same")(plait.Input(shape=(28, 28, 1))).shape
        (None, 28, 28, 8)
    """

    rank = 2


class Conv3D(_LoraConv):
    """3D convolution over ``(batch, d1, d2, d3, channels)`` (arguments as ``Conv2D``)."""

    rank = 3


def _transpose_crop(kernel, stride, dilation, padding, output_padding):
    """``(crop_left, crop_right)`` of a full (unpadded) transposed conv, Keras 3.15's rule (JAX's
    window; negative means zero-padding)."""
    k = (kernel - 1) * dilation + 1
    if padding == "valid":
        output_padding = max(k, stride) - k if output_padding is None else output_padding
        left, right = k - 1, k - 1 + output_padding
    else:
        pad_len = stride + k - 2 if output_padding is None else k + k % 2 - 2 + output_padding
        left = min(pad_len // 2 + pad_len % 2, k - 1)
        right = pad_len - left
    return (k - 1) - left, (k - 1) - right


class _ConvTranspose(_Conv):
    """Shared by Conv1DTranspose/Conv2DTranspose: Keras's output sizes (valid: ``(i-1)*s + max(k, s)``,
    same: ``i*s``), kernel ``(*kernel_size, filters, channels)``."""

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        output_padding=None,
        data_format=None,
        dilation_rate=1,
        **kwargs,
    ):
        if padding == "causal":
            raise ValueError(f"{type(self).__name__} does not support padding='causal'. Received: padding={padding!r}")
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, **kwargs)
        self.output_padding = (
            None
            if output_padding is None
            else tuple((output_padding,) * self.rank if isinstance(output_padding, int) else output_padding)
        )

    def build(self, input_shape):
        channels = input_shape[self._channel_axis]
        n = self.rank
        self.add_weight(
            "kernel",
            (*self.kernel_size, self.filters, channels),
            self.kernel_initializer,
            perm=(n + 1, n, *range(n)),
            **self.weight_options("kernel"),
        )
        self.bias = (
            self.add_weight("bias", (self.filters,), self.bias_initializer, **self.weight_options("bias"))
            if self.use_bias
            else None
        )
        self.input_spec = InputSpec(ndim=n + 2, axes={self._channel_axis: channels})

    def _crops(self):
        ops = self.output_padding or (None,) * self.rank
        return [
            _transpose_crop(k, s, d, self.padding, o)
            for k, s, d, o in zip(self.kernel_size, self.strides, self.dilation_rate, ops)
        ]

    def call_logits(self, inputs):
        x = inputs.movedim(-1, 1) if self.data_format == "channels_last" else inputs
        conv = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[self.rank - 1]
        y = conv(x, self.kernel, self.bias, self.strides, 0, 0, 1, self.dilation_rate)
        # Crop (or zero-pad, where negative) each spatial dim; F.pad takes the last dim first.
        y = F.pad(y, [-c for left, right in reversed(self._crops()) for c in (left, right)])
        return y.movedim(1, -1) if self.data_format == "channels_last" else y

    def compute_output_shape(self, input_shape):
        spatial = input_shape[1:-1] if self.data_format == "channels_last" else input_shape[2:]
        out = [
            None if i is None else (i - 1) * s + (k - 1) * d + 1 - left - right
            for i, s, k, d, (left, right) in zip(
                spatial, self.strides, self.kernel_size, self.dilation_rate, self._crops()
            )
        ]
        batch = input_shape[0]
        return (batch, *out, self.filters) if self.data_format == "channels_last" else (batch, self.filters, *out)

    def get_config(self):
        config = super().get_config()
        config.pop("groups", None)
        return {**config, "output_padding": self.output_padding}


class Conv1DTranspose(_ConvTranspose):
    """Transposed 1D convolution (Keras's shapes; ``padding`` valid or same)."""

    rank = 1


class Conv2DTranspose(_ConvTranspose):
    """Transposed 2D convolution (Keras's shapes; ``padding`` valid or same)."""

    rank = 2


class Conv3DTranspose(_ConvTranspose):
    """Transposed 3D convolution over ``(batch, d1, d2, d3, channels)`` (Keras's shapes).

    Example:
        >>> import plait
        >>> plait.layers.Conv3DTranspose(4, 2, strides=2)(plait.Input(shape=(3, 3, 3, 2))).shape
        (None, 6, 6, 6, 4)
    """

    rank = 3


class _DepthwiseConv(_Conv):
    """Per-channel convolution (Keras's DepthwiseConv1D/2D): ``depth_multiplier`` filters for each
    input channel, run as torch's grouped convolution with ``groups = channels``.

    Weights: ``kernel (*kernel_size, channels, depth_multiplier)``, ``bias (channels * depth_multiplier,)``.
    """

    def __init__(
        self,
        kernel_size,
        strides=1,
        padding="valid",
        depth_multiplier=1,
        data_format=None,
        dilation_rate=1,
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        bias_regularizer=None,
        depthwise_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        # Keras refuses 'causal' here, also in 1D.
        one_of(f"{type(self).__name__}", "padding", padding, ("valid", "same"))
        super().__init__(
            1,
            kernel_size,
            strides,
            padding,
            data_format,
            dilation_rate,
            1,
            activation,
            use_bias,
            depthwise_initializer,
            bias_initializer,
            kernel_regularizer=depthwise_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=depthwise_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        self.depth_multiplier = positive_int(
            f"{type(self).__name__} '{self.name}'", "depth_multiplier", depth_multiplier
        )

    def build(self, input_shape):
        channels, m, n = input_shape[self._channel_axis], self.depth_multiplier, self.rank
        if channels is None:
            raise ValueError(f"Layer '{self.name}' needs a known channel dim. Received: input_shape={input_shape}")
        self.groups, self.filters = channels, channels * m
        # Keras (*k, C, m); torch's grouped conv wants (C*m, 1, *k): store (C, m, *k) and flatten.
        self.add_weight(
            "kernel",
            (*self.kernel_size, channels, m),
            self.kernel_initializer,
            perm=(n, n + 1, *range(n)),
            **self.weight_options("kernel"),
        )
        self.bias = (
            self.add_weight("bias", (channels * m,), self.bias_initializer, **self.weight_options("bias"))
            if self.use_bias
            else None
        )
        self.input_spec = InputSpec(ndim=n + 2, axes={self._channel_axis: channels})

    def call_logits(self, inputs):
        weight = self.kernel.reshape(self.groups * self.depth_multiplier, 1, *self.kernel_size)
        return self._convolve(inputs, weight, self.bias)

    def compute_output_shape(self, input_shape):
        channels = input_shape[self._channel_axis]
        self.filters = channels * self.depth_multiplier
        return super().compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        for key in ("filters", "groups"):
            config.pop(key, None)
        config["depthwise_initializer"] = config.pop("kernel_initializer")
        for kind in ("regularizer", "constraint"):
            config[f"depthwise_{kind}"] = config.pop(f"kernel_{kind}")
        return {**config, "depth_multiplier": self.depth_multiplier}


class DepthwiseConv1D(_DepthwiseConv):
    """Per-channel 1D convolution over ``(batch, steps, channels)`` (arguments as ``DepthwiseConv2D``).

    Example:
        >>> import plait
        >>> plait.layers.DepthwiseConv1D(3, depth_multiplier=2)(plait.Input(shape=(None, 4))).shape
        (None, None, 8)
    """

    rank = 1


class DepthwiseConv2D(_DepthwiseConv):
    """Per-channel 2D convolution: ``depth_multiplier`` filters for each input channel.

    Args:
        kernel_size: int or pair; strides, padding (``"valid"``/``"same"``), data_format,
            dilation_rate, activation, use_bias: as in ``Conv2D``.
        depth_multiplier: filters per input channel (default 1).
        depthwise_initializer (default ``"glorot_uniform"``), bias_initializer,
        depthwise_regularizer, bias_regularizer, depthwise_constraint, bias_constraint.

    Weights: ``kernel (kh, kw, channels, depth_multiplier)``, ``bias (channels * depth_multiplier,)``.

    Example:
        >>> import plait
        >>> plait.layers.DepthwiseConv2D(3)(plait.Input(shape=(8, 8, 3))).shape
        (None, 6, 6, 3)
    """

    rank = 2


class _SeparableConv(_Conv):
    """Depthwise convolution then a 1x1 pointwise one (Keras's SeparableConv1D/2D).

    Weights: ``depthwise_kernel (*kernel, channels, depth_multiplier)``,
    ``pointwise_kernel (*ones, channels * depth_multiplier, filters)``, ``bias (filters,)``;
    each takes its ``*_regularizer`` / ``*_constraint`` as in Keras.
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        depth_multiplier=1,
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        pointwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        pointwise_regularizer=None,
        bias_regularizer=None,
        depthwise_constraint=None,
        pointwise_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(
            filters,
            kernel_size,
            strides,
            padding,
            data_format,
            dilation_rate,
            1,
            activation,
            use_bias,
            depthwise_initializer,
            bias_initializer,
            **kwargs,
        )
        self.weight_options = WeightOptions(
            depthwise_regularizer=depthwise_regularizer,
            pointwise_regularizer=pointwise_regularizer,
            bias_regularizer=bias_regularizer,
            depthwise_constraint=depthwise_constraint,
            pointwise_constraint=pointwise_constraint,
            bias_constraint=bias_constraint,
        )
        self.depth_multiplier = positive_int(
            f"{type(self).__name__} '{self.name}'", "depth_multiplier", depth_multiplier
        )
        self.depthwise_initializer = self.kernel_initializer
        self.pointwise_initializer = initializers.get(pointwise_initializer)

    def build(self, input_shape):
        channels, m, n = input_shape[self._channel_axis], self.depth_multiplier, self.rank
        self.channels = channels
        options = self.weight_options
        self.add_weight(
            "depthwise_kernel",
            (*self.kernel_size, channels, m),
            self.depthwise_initializer,
            perm=(n, n + 1, *range(n)),
            **options("depthwise"),
        )
        self.add_weight(
            "pointwise_kernel",
            (*(1,) * n, channels * m, self.filters),
            self.pointwise_initializer,
            perm=(n + 1, n, *range(n)),
            **options("pointwise"),
        )
        self.bias = (
            self.add_weight("bias", (self.filters,), self.bias_initializer, **options("bias"))
            if self.use_bias
            else None
        )
        self.input_spec = InputSpec(ndim=n + 2, axes={self._channel_axis: channels})

    def call_logits(self, inputs):
        x = inputs.movedim(-1, 1) if self.data_format == "channels_last" else inputs
        x, pad = spatial_padding(x, self.kernel_size, self.strides, self.dilation_rate, self.padding)
        conv = (F.conv1d, F.conv2d)[self.rank - 1]
        c, m = self.channels, self.depth_multiplier
        depthwise = self.depthwise_kernel.reshape(c * m, 1, *self.kernel_size)
        y = conv(x, depthwise, None, self.strides, pad, self.dilation_rate, c)
        y = conv(y, self.pointwise_kernel, self.bias)
        return y.movedim(1, -1) if self.data_format == "channels_last" else y

    def get_config(self):
        config = super().get_config()
        config.pop("groups", None)
        config["depthwise_initializer"] = config.pop("kernel_initializer")
        return {
            **config,
            "depth_multiplier": self.depth_multiplier,
            "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
        }


class SeparableConv1D(_SeparableConv):
    """Depthwise-separable 1D convolution."""

    rank = 1


class SeparableConv2D(_SeparableConv):
    """Depthwise-separable 2D convolution."""

    rank = 2
