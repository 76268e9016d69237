"""Convolutional LSTMs (Shi et al. 2015): ``ConvLSTM1D``, ``ConvLSTM2D``, ``ConvLSTM3D``.

An LSTM whose input and recurrent transforms are convolutions, over sequences of 1D, 2D or 3D
feature maps. The sequence machinery (masks, ``go_backwards``, stateful states, output packing)
is the recurrent layers' (:class:`plait.layers.recurrent._Recurrent`); the convolutions and their
padding rules are the convolution layers' (:mod:`plait.layers.convolutional`). The input
convolution runs once over all timesteps (folded into the batch); only the recurrent one runs per
step.
"""

import torch
import torch.nn.functional as F

from plait import activations
from plait.layers.base import InputSpec
from plait.layers.convolutional import conv_output_length, spatial_padding
from plait.layers.recurrent import _cell_options, _CellSettings, _Recurrent, lstm_bias_initializer
from plait.layers.validation import data_format as check_data_format
from plait.layers.validation import int_tuple, one_of, positive_int

_CONV = (F.conv1d, F.conv2d, F.conv3d)


class _ConvLSTM(_CellSettings, _Recurrent):
    """ConvLSTM over ``rank``-D feature maps; see ``ConvLSTM2D`` for the arguments."""

    rank = 2

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        **kwargs,
    ):
        super().__init__(return_sequences, return_state, go_backwards, stateful, unroll, zero_output_for_mask, **kwargs)
        options = _cell_options(
            kernel_regularizer,
            recurrent_regularizer,
            bias_regularizer,
            kernel_constraint,
            recurrent_constraint,
            bias_constraint,
        )
        self._init_cell(
            filters,
            activation,
            use_bias,
            kernel_initializer,
            recurrent_initializer,
            bias_initializer,
            dropout,
            recurrent_dropout,
            seed,
            **options,
        )
        who, n = f"{type(self).__name__} layer '{self.name}'", self.rank
        self.filters = positive_int(who, "filters", filters)
        self.kernel_size = int_tuple(who, "kernel_size", kernel_size, n)
        self.strides = int_tuple(who, "strides", strides, n)
        self.dilation_rate = int_tuple(who, "dilation_rate", dilation_rate, n)
        self.padding = one_of(who, "padding", padding, ("valid", "same"))
        self.data_format = check_data_format(who, data_format)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"{who}: strides > 1 is not compatible with dilation_rate > 1. "
                f"Received: strides={strides}, dilation_rate={dilation_rate}"
            )
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.input_spec = InputSpec(ndim=n + 3)

    # ------------------------------------------------------------------ layout
    def _split(self, shape):
        """``(channels, spatial dims)`` of a per-step shape ``(batch, ...)`` in the data format."""
        if self.data_format == "channels_last":
            return shape[-1], tuple(shape[1:-1])
        return shape[1], tuple(shape[2:])

    def _join(self, batch, channels, spatial):
        if self.data_format == "channels_last":
            return (batch, *spatial, channels)
        return (batch, channels, *spatial)

    def _out_spatial(self, spatial):
        return tuple(
            conv_output_length(length, k, self.padding, s, d)
            for length, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate)
        )

    def _first(self, t, axis):
        """``t`` with its channel axis at ``axis`` (torch's channels-first layout), from the data format."""
        return t.movedim(-1, axis) if self.data_format == "channels_last" else t

    def _back(self, t, axis):
        return t.movedim(axis, -1) if self.data_format == "channels_last" else t

    # ------------------------------------------------------------------ weights
    def build(self, input_shape):
        channels, spatial = self._split((input_shape[0], *input_shape[2:]))
        if channels is None:
            raise ValueError(f"Layer '{self.name}' needs a known channel dim. Received: input_shape={input_shape}")
        if None in spatial:
            raise ValueError(
                f"Layer '{self.name}' needs known spatial dims (as Keras's ConvLSTM). "
                f"Received: input_shape={input_shape}"
            )
        n, f = self.rank, self.filters
        # Keras's layout (*kernel, in, 4 * filters); stored as torch's conv weight (4 * filters, in, *kernel).
        perm = (n + 1, n, *range(n))
        self.add_weight(
            "kernel",
            (*self.kernel_size, channels, 4 * f),
            self.kernel_initializer,
            perm=perm,
            **self.weight_options("kernel"),
        )
        self.add_weight(
            "recurrent_kernel",
            (*self.kernel_size, f, 4 * f),
            self.recurrent_initializer,
            perm=perm,
            **self.weight_options("recurrent"),
        )
        self.bias = None
        if self.use_bias:
            self.add_weight("bias", (4 * f,), lstm_bias_initializer(self), **self.weight_options("bias"))
        axis = -1 if self.data_format == "channels_last" else 2
        self.input_spec = InputSpec(ndim=n + 3, axes={axis: channels})

    # ------------------------------------------------------------------ the loop
    def _prepare(self, x):
        if self.training and self.dropout > 0:
            # One mask (per sample, position and channel) for every step, as Keras draws it.
            x = x * (torch.empty_like(x[:, :1]).bernoulli_(1 - self.dropout) / (1 - self.dropout))
        return x

    def _zero_states(self, x):
        channels, spatial = self._split((x.shape[0], *x.shape[2:]))
        shape = self._join(x.shape[0], self.filters, self._out_spatial(spatial))
        return [x.new_zeros(shape), x.new_zeros(shape)]

    def _run(self, x, states, mask):
        batch, steps, n = x.shape[0], x.shape[1], self.rank
        frames = self._first(x, 2).flatten(0, 1)  # (batch * steps, channels, *spatial)
        frames, pad = spatial_padding(frames, self.kernel_size, self.strides, self.dilation_rate, self.padding)
        conv = _CONV[n - 1]
        projected = conv(frames, self.kernel, self.bias, self.strides, pad, self.dilation_rate)
        projected = projected.unflatten(0, (batch, steps))
        ones = (1,) * n
        first = [self._first(s, 1) for s in states]
        keep = None
        if self.training and self.recurrent_dropout > 0:
            keep = torch.empty_like(first[0]).bernoulli_(1 - self.recurrent_dropout) / (1 - self.recurrent_dropout)

        def step(t, states):
            h, c = states
            h_in = h if keep is None else h * keep
            # Keras's recurrent convolution: stride 1, 'same' padding, no dilation.
            h_in, pad = spatial_padding(h_in, self.kernel_size, ones, ones, "same")
            z = projected[:, t] + conv(h_in, self.recurrent_kernel, None, 1, pad)
            i, f, g, o = z.chunk(4, dim=1)
            i, f, o = self.recurrent_activation(i), self.recurrent_activation(f), self.recurrent_activation(o)
            c = f * c + i * self.activation(g)
            h = o * self.activation(c)
            return h, [h, c]

        outputs, last = self._loop(x, first, mask, step)
        return self._back(outputs, 2), [self._back(s, 1) for s in last]

    def _shapes(self, input_shape):
        channels, spatial = self._split((input_shape[0], *input_shape[2:]))
        step = self._join(input_shape[0], self.filters, self._out_spatial(spatial))
        return step, [step, step]

    def get_config(self):
        config = {**super().get_config(), **self._cell_config()}
        config.pop("units")
        return {
            **config,
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
        }


class ConvLSTM1D(_ConvLSTM):
    """ConvLSTM over sequences of 1D feature maps ``(batch, time, steps, channels)``.

    Example:
        >>> import plait
        >>> plait.layers.ConvLSTM1D(4, 3)(plait.Input(shape=(None, 10, 2))).shape
        (None, 8, 4)
    """

    rank = 1


class ConvLSTM2D(_ConvLSTM):
    """ConvLSTM over sequences of images ``(batch, time, rows, cols, channels)``.

    The gates ``i, f, c, o`` come from ``conv(x_t, kernel) + conv(h, recurrent_kernel) + bias``
    (the recurrent convolution with stride 1 and 'same' padding); ``c' = f*c + i*tanh(.)``,
    ``h' = o*tanh(c')``.

    Args:
        filters: output channels. kernel_size, strides, padding (``"valid"``/``"same"``),
            data_format, dilation_rate: of the input convolution, as in ``Conv2D``.
        activation (default ``"tanh"``), recurrent_activation (default ``"sigmoid"``),
        use_bias, kernel_initializer, recurrent_initializer (default ``"orthogonal"``),
        bias_initializer, unit_forget_bias (default True), regularizers, constraints, dropout,
        recurrent_dropout, seed: as in ``LSTM``.
        return_sequences, return_state, go_backwards, stateful: as in ``RNN``.

    Input shape:
        ``(batch, time, rows, cols, channels)`` (time may be None; rows and cols must be known).
    Output shape:
        ``(batch, new_rows, new_cols, filters)``, or with the time axis with return_sequences.

    Weights: ``kernel (kh, kw, channels, 4*filters)``, ``recurrent_kernel (kh, kw, filters,
    4*filters)``, ``bias (4*filters,)``.

    Example:
        >>> import plait
        >>> x = plait.Input(shape=(None, 8, 8, 3))
        >>> plait.layers.ConvLSTM2D(4, 3, padding="same", return_sequences=True)(x).shape
        (None, None, 8, 8, 4)
    """

    rank = 2


class ConvLSTM3D(_ConvLSTM):
    """ConvLSTM over sequences of volumes ``(batch, time, d1, d2, d3, channels)``."""

    rank = 3
