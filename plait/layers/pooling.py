"""Pooling layers (channels_last by default): max and average pooling in 1, 2 and 3 dimensions,
their global and adaptive (fixed output size) forms."""

import torch
import torch.nn.functional as F

from plait.layers.base import InputSpec, Layer
from plait.layers.convolutional import conv_output_length, same_padding
from plait.layers.validation import data_format as check_data_format
from plait.layers.validation import int_tuple, one_of


class _Pooling(Layer):
    """Shared by the windowed pools: Keras's pool_size / strides / padding rules.

    'same' padding follows TensorFlow (the odd pad on the right); padded positions never win a
    max and are not counted in an average (Keras's rule, torch's ``count_include_pad=False``).
    """

    rank, mode = 1, "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        who = f"{type(self).__name__} layer '{self.name}'"
        self.pool_size = int_tuple(who, "pool_size", pool_size, self.rank)
        self.strides = int_tuple(who, "strides", strides if strides is not None else self.pool_size, self.rank)
        self.padding = one_of(who, "padding", padding, ("valid", "same"))
        self.data_format = check_data_format(who, data_format)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def _pool(self, x):
        k, s = self.pool_size, self.strides
        if self.mode == "max":
            if self.rank == 1 and torch.compiler.is_compiling():
                # max_pool1d fixes the length when traced (torch.export); the 2-D form keeps it dynamic.
                return F.max_pool2d(x.unsqueeze(-2), (1, k[0]), (1, s[0])).squeeze(-2)
            return (F.max_pool1d, F.max_pool2d, F.max_pool3d)[self.rank - 1](x, k, s)
        return (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[self.rank - 1](x, k, s)

    def call(self, inputs):
        x = inputs.movedim(-1, 1) if self.data_format == "channels_last" else inputs
        if self.padding == "same":
            pads = [same_padding(x.shape[2 + i], self.pool_size[i], self.strides[i]) for i in range(self.rank)]
            flat = [p for left, right in reversed(pads) for p in (left, right)]
            if self.mode == "max":
                y = self._pool(F.pad(x, flat, value=float("-inf")))
            else:  # average over the real positions only
                ones = torch.ones_like(x[:1, :1])
                y = self._pool(F.pad(x, flat)) / self._pool(F.pad(ones, flat))
        else:
            y = self._pool(x)
        return y.movedim(1, -1) if self.data_format == "channels_last" else y

    def compute_output_shape(self, input_shape):
        first = 1 if self.data_format == "channels_last" else 2
        out = list(input_shape)
        for i in range(self.rank):
            out[first + i] = conv_output_length(
                input_shape[first + i], self.pool_size[i], self.padding, self.strides[i]
            )
        return tuple(out)

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
        }


class MaxPooling1D(_Pooling):
    """Max over windows of ``pool_size`` steps.

    Args:
        pool_size: int (default 2).
        strides: int, default ``pool_size``.
        padding: ``"valid"`` (default) or ``"same"`` (TensorFlow's rule; padded steps never win).
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Input shape:
        ``(batch, steps, features)``.
    Output shape:
        ``(batch, pooled_steps, features)``.

    Example:
        >>> import plait
        >>> plait.layers.MaxPooling1D(5)(plait.Input(shape=(496, 128))).shape
        (None, 99, 128)
    """


class MaxPooling2D(_Pooling):
    """Max over ``pool_size`` windows of ``(batch, rows, cols, channels)`` (default ``(2, 2)``)."""

    rank = 2


class MaxPooling3D(_Pooling):
    """Max over ``pool_size`` windows of 3-D inputs."""

    rank = 3


class _AveragePooling(_Pooling):
    mode = "avg"

    # Keras requires pool_size for average pooling (max pooling defaults it to 2).
    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling1D(_AveragePooling):
    """Mean over windows of ``pool_size`` steps. With ``padding="same"`` padded steps are not
    counted (Keras's documented rule, TF's and JAX's; Keras's torch backend counts them when the
    padding is asymmetric)."""


class AveragePooling2D(_AveragePooling):
    """Mean over ``pool_size`` windows of ``(batch, rows, cols, channels)``."""

    rank = 2


class AveragePooling3D(_AveragePooling):
    """Mean over ``pool_size`` windows of 3-D inputs."""

    rank = 3


class _GlobalPooling(Layer):
    """Max or mean over every spatial axis (``keepdims`` keeps them with size 1)."""

    rank, mode = 1, "max"

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(f"{type(self).__name__} layer '{self.name}'", data_format)
        self.keepdims = bool(keepdims)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def _axes(self):
        first = 1 if self.data_format == "channels_last" else 2
        return list(range(first, first + self.rank))

    def call(self, inputs, mask=None):
        axes = self._axes()
        if mask is not None:
            # Masked steps are ignored (rank 1, channels_last or first: the mask is (batch, steps)).
            if self.rank != 1 or tuple(mask.shape) != tuple(inputs.shape[i] for i in (0, axes[0])):
                raise ValueError(
                    f"Layer '{self.name}' got a mask of shape {tuple(mask.shape)} for inputs of shape "
                    f"{tuple(inputs.shape)}; expected (batch, steps)."
                )
            m = mask.unsqueeze(-1 if self.data_format == "channels_last" else 1)
            if self.mode == "max":
                return inputs.masked_fill(~m, float("-inf")).amax(dim=axes, keepdim=self.keepdims)
            m = m.to(inputs.dtype)
            return (inputs * m).sum(dim=axes, keepdim=self.keepdims) / m.sum(dim=axes, keepdim=self.keepdims).clamp(
                min=1e-7
            )
        if self.mode == "max":
            return inputs.amax(dim=axes, keepdim=self.keepdims)
        return inputs.mean(dim=axes, keepdim=self.keepdims)

    def compute_output_shape(self, input_shape):
        axes = self._axes()
        if self.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(input_shape))
        return tuple(d for i, d in enumerate(input_shape) if i not in axes)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalMaxPooling1D(_GlobalPooling):
    """Max over the steps axis.

    Args:
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        keepdims: keep the steps axis with size 1 (default False).

    Input shape:
        ``(batch, steps, features)``.
    Output shape:
        ``(batch, features)``, or ``(batch, 1, features)`` with keepdims.
    """


class GlobalMaxPooling2D(_GlobalPooling):
    """Max over rows and columns: ``(batch, rows, cols, channels) -> (batch, channels)``."""

    rank = 2


class GlobalAveragePooling1D(_GlobalPooling):
    """Mean over the steps axis: ``(batch, steps, features) -> (batch, features)``."""

    mode = "avg"


class GlobalAveragePooling2D(_GlobalPooling):
    """Mean over rows and columns: ``(batch, rows, cols, channels) -> (batch, channels)``."""

    rank, mode = 2, "avg"


class GlobalMaxPooling3D(_GlobalPooling):
    """Max over the three spatial axes: ``(batch, d1, d2, d3, channels) -> (batch, channels)``."""

    rank = 3


class GlobalAveragePooling3D(_GlobalPooling):
    """Mean over the three spatial axes: ``(batch, d1, d2, d3, channels) -> (batch, channels)``."""

    rank, mode = 3, "avg"


class _AdaptivePooling(Layer):
    """Pool to a fixed spatial size ``output_size`` whatever the input's (torch's adaptive pools,
    whose bins Keras's torch backend uses too: bin ``i`` spans ``floor(i*L/n)`` to
    ``ceil((i+1)*L/n)``).

    Args:
        output_size: int or one int per spatial axis.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
    """

    rank, mode = 1, "max"

    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(**kwargs)
        who = f"{type(self).__name__} layer '{self.name}'"
        if isinstance(output_size, (int, list, tuple)) and not isinstance(output_size, bool):
            self.output_size = int_tuple(who, "output_size", output_size, self.rank)
        else:
            raise TypeError(
                f"{who}: `output_size` must be an int or a tuple of {self.rank} ints. Received: {output_size!r}"
            )
        self.data_format = check_data_format(who, data_format)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def call(self, inputs):
        x = inputs.movedim(-1, 1) if self.data_format == "channels_last" else inputs
        pools = {
            "max": (F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.adaptive_max_pool3d),
            "avg": (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d),
        }
        y = pools[self.mode][self.rank - 1](x, self.output_size)
        return y.movedim(1, -1) if self.data_format == "channels_last" else y

    def compute_output_shape(self, input_shape):
        if self.data_format == "channels_last":
            return (input_shape[0], *self.output_size, input_shape[-1])
        return (input_shape[0], input_shape[1], *self.output_size)

    def get_config(self):
        return {**super().get_config(), "output_size": self.output_size, "data_format": self.data_format}


class AdaptiveMaxPooling1D(_AdaptivePooling):
    """Max over ``output_size`` adaptive bins of the steps axis.

    Example:
        >>> import plait
        >>> plait.layers.AdaptiveMaxPooling1D(4)(plait.Input(shape=(None, 3))).shape
        (None, 4, 3)
    """


class AdaptiveMaxPooling2D(_AdaptivePooling):
    """Max over an ``output_size`` grid of adaptive bins of rows and columns."""

    rank = 2


class AdaptiveMaxPooling3D(_AdaptivePooling):
    """Max over an ``output_size`` grid of adaptive bins of three spatial axes."""

    rank = 3


class AdaptiveAveragePooling1D(_AdaptivePooling):
    """Mean over ``output_size`` adaptive bins of the steps axis."""

    mode = "avg"


class AdaptiveAveragePooling2D(_AdaptivePooling):
    """Mean over an ``output_size`` grid of adaptive bins of rows and columns.

    Example:
        >>> import plait
        >>> plait.layers.AdaptiveAveragePooling2D((2, 3))(plait.Input(shape=(7, 9, 4))).shape
        (None, 2, 3, 4)
    """

    rank, mode = 2, "avg"


class AdaptiveAveragePooling3D(_AdaptivePooling):
    """Mean over an ``output_size`` grid of adaptive bins of three spatial axes."""

    rank, mode = 3, "avg"
