"""Reshaping layers: ``Flatten``, ``Reshape``, ``Permute``, ``RepeatVector``, ``ZeroPadding1D/2D/3D``,
``Cropping1D/2D/3D``, ``UpSampling1D/2D/3D``."""

import math

import torch.nn.functional as F

from plait.layers.base import Layer
from plait.layers.validation import data_format as check_data_format
from plait.layers.validation import int_tuple, positive_int


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


class Reshape(Layer):
    """Reshape to ``target_shape`` (without the batch dim; one entry may be -1).

    Example:
        >>> import plait
        >>> plait.layers.Reshape((4, -1))(plait.Input(shape=(12,))).shape
        (None, 4, 3)
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        if sum(d == -1 for d in self.target_shape) > 1 or any(d == 0 or d < -1 for d in self.target_shape):
            raise ValueError(f"Layer '{self.name}': invalid target_shape. Received: target_shape={target_shape}")

    def call(self, inputs):
        return inputs.reshape(inputs.shape[0], *self.target_shape)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        if -1 not in self.target_shape:
            if None not in rest and math.prod(rest) != math.prod(self.target_shape):
                raise ValueError(
                    f"Layer '{self.name}' (Reshape): the total size of the target shape {self.target_shape} "
                    f"({math.prod(self.target_shape)}) must equal that of the input shape {tuple(rest)} "
                    f"({math.prod(rest)}). Received: input_shape={tuple(input_shape)}"
                )
            return (input_shape[0], *self.target_shape)
        if None in rest:
            return (input_shape[0], *(None if d == -1 else d for d in self.target_shape))
        known = math.prod(d for d in self.target_shape if d != -1)
        if math.prod(rest) % known:
            raise ValueError(f"Layer '{self.name}': cannot reshape {tuple(rest)} into {self.target_shape}.")
        return (input_shape[0], *(math.prod(rest) // known if d == -1 else d for d in self.target_shape))

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Permute(Layer):
    """Permute the non-batch axes; ``dims`` counts from 1 (``(2, 1)`` swaps steps and features)."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"Invalid permutation argument `dims` for Permute Layer. Received: dims={dims}")

    def call(self, inputs):
        return inputs.permute(0, *self.dims)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


class RepeatVector(Layer):
    """``(batch, features) -> (batch, n, features)``."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = positive_int(f"RepeatVector layer '{self.name}'", "n", n)

    def call(self, inputs):
        return inputs.unsqueeze(1).expand(-1, self.n, -1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self):
        return {**super().get_config(), "n": self.n}


def _pair(value, who, name):
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or any(not isinstance(v, int) or v < 0 for v in pair):
        raise ValueError(f"{who}: `{name}` must be an int or a pair of non-negative ints. Received: {name}={value!r}")
    return pair


class ZeroPadding1D(Layer):
    """Pad the steps axis with zeros: ``padding`` int or ``(left, right)``."""

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pair(padding, f"ZeroPadding1D layer '{self.name}'", "padding")
        self.data_format = check_data_format(f"ZeroPadding1D layer '{self.name}'", data_format)

    def call(self, inputs):
        if self.data_format == "channels_last":
            return F.pad(inputs, (0, 0, *self.padding))
        return F.pad(inputs, self.padding)

    def compute_output_shape(self, input_shape):
        axis = 1 if self.data_format == "channels_last" else 2
        out = list(input_shape)
        out[axis] = None if out[axis] is None else out[axis] + sum(self.padding)
        return tuple(out)

    def get_config(self):
        return {**super().get_config(), "padding": list(self.padding), "data_format": self.data_format}


class Cropping1D(Layer):
    """Crop ``(start, end)`` steps from the steps axis."""

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pair(cropping, f"Cropping1D layer '{self.name}'", "cropping")

    def call(self, inputs):
        return inputs[:, self.cropping[0] : inputs.shape[1] - self.cropping[1]]

    def compute_output_shape(self, input_shape):
        steps = input_shape[1]
        return (input_shape[0], None if steps is None else steps - sum(self.cropping), *input_shape[2:])

    def get_config(self):
        return {**super().get_config(), "cropping": list(self.cropping)}


class UpSampling1D(Layer):
    """Repeat each step ``size`` times along the steps axis."""

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = positive_int(f"UpSampling1D layer '{self.name}'", "size", size)

    def call(self, inputs):
        return inputs.repeat_interleave(self.size, dim=1)

    def compute_output_shape(self, input_shape):
        steps = input_shape[1]
        return (input_shape[0], None if steps is None else steps * self.size, *input_shape[2:])

    def get_config(self):
        return {**super().get_config(), "size": self.size}


def _pairs(value, who, name, n=2):
    """``n`` ``(before, after)`` pairs from an int, ``n`` ints or ``n`` pairs (Keras's forms)."""
    if isinstance(value, int):
        value = (value,) * n
    pairs = tuple((v, v) if isinstance(v, int) else tuple(v) for v in value)
    if len(pairs) != n or any(len(p) != 2 or min(p) < 0 for p in pairs):
        raise ValueError(
            f"{who}: `{name}` must be an int, {n} ints or {n} pairs of non-negative ints. Received: {name}={value!r}"
        )
    return pairs


def _scaled(length, factor, offset=0):
    return None if length is None else length * factor + offset


class _Spatial(Layer):
    """A 2D or 3D layer written for channels_last; ``data_format="channels_first"`` moves the
    channel axis to the end and back around it. Subclasses set ``rank`` and give
    ``call_channels_last`` and ``spatial_shape`` (the new spatial dims)."""

    rank = 2

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(f"{type(self).__name__} '{self.name}'", data_format)

    def call(self, inputs):
        if self.data_format == "channels_first":
            return self.call_channels_last(inputs.movedim(1, -1)).movedim(-1, 1)
        return self.call_channels_last(inputs)

    def compute_output_shape(self, s):
        if self.data_format == "channels_first":
            return (s[0], s[1], *self.spatial_shape(s[2:]))
        return (s[0], *self.spatial_shape(s[1:-1]), s[-1])

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class _ZeroPadding(_Spatial):
    def __init__(self, padding, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.padding = _pairs(padding, f"{type(self).__name__} '{self.name}'", "padding", self.rank)

    def call_channels_last(self, inputs):
        # F.pad takes the last dim first; the channels (last) get no padding.
        return F.pad(inputs, (0, 0, *(p for pair in reversed(self.padding) for p in pair)))

    def spatial_shape(self, dims):
        return tuple(_scaled(d, 1, sum(p)) for d, p in zip(dims, self.padding))

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding]}


class ZeroPadding2D(_ZeroPadding):
    """Pad rows and columns with zeros: ``padding`` int, ``(rows, cols)`` or ``((top, bottom), (left, right))``;
    ``data_format`` ``"channels_last"`` (default) or ``"channels_first"``."""

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class ZeroPadding3D(_ZeroPadding):
    """Pad the three spatial axes of ``(batch, d1, d2, d3, channels)`` with zeros: ``padding`` int,
    3 ints or 3 ``(before, after)`` pairs (default 1 on each side); ``data_format`` as in
    ``ZeroPadding2D``.

    Example:
        >>> import plait
        >>> plait.layers.ZeroPadding3D(((1, 0), 2, 0))(plait.Input(shape=(3, 4, 5, 2))).shape
        (None, 4, 8, 5, 2)
    """

    rank = 3

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class _Cropping(_Spatial):
    def __init__(self, cropping, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.cropping = _pairs(cropping, f"{type(self).__name__} '{self.name}'", "cropping", self.rank)

    def call_channels_last(self, inputs):
        window = (slice(start, inputs.shape[1 + i] - end) for i, (start, end) in enumerate(self.cropping))
        return inputs[(slice(None), *window)]

    def spatial_shape(self, dims):
        return tuple(_scaled(d, 1, -sum(c)) for d, c in zip(dims, self.cropping))

    def get_config(self):
        return {**super().get_config(), "cropping": [list(p) for p in self.cropping]}


class Cropping2D(_Cropping):
    """Crop rows and columns: ``cropping`` and ``data_format`` as in ``ZeroPadding2D``."""

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


class Cropping3D(_Cropping):
    """Crop the three spatial axes: ``cropping`` as ``ZeroPadding3D``'s padding (default 1 each side).

    Example:
        >>> import plait
        >>> plait.layers.Cropping3D(((1, 0), 1, 0))(plait.Input(shape=(3, 4, 5, 2))).shape
        (None, 2, 2, 5, 2)
    """

    rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


class _UpSampling(_Spatial):
    def __init__(self, size, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.size = int_tuple(f"{type(self).__name__} '{self.name}'", "size", size, self.rank)

    def call_channels_last(self, inputs):
        for axis, factor in enumerate(self.size, start=1):
            inputs = inputs.repeat_interleave(factor, axis)
        return inputs

    def spatial_shape(self, dims):
        return tuple(_scaled(d, f) for d, f in zip(dims, self.size))

    def get_config(self):
        return {**super().get_config(), "size": list(self.size)}


class UpSampling2D(_UpSampling):
    """Repeat rows and columns ``size`` times (``interpolation="nearest"``) or resize
    bilinearly (``"bilinear"``); ``data_format`` as in ``ZeroPadding2D``."""

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(size, data_format, **kwargs)
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(
                f"UpSampling2D supports 'nearest' and 'bilinear'. Received: interpolation={interpolation!r}"
            )
        self.interpolation = interpolation

    def call_channels_last(self, inputs):
        if self.interpolation == "nearest":
            return super().call_channels_last(inputs)
        x = F.interpolate(inputs.movedim(-1, 1), scale_factor=self.size, mode="bilinear", align_corners=False)
        return x.movedim(1, -1)

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation}


class UpSampling3D(_UpSampling):
    """Repeat each of the three spatial axes ``size`` times (default ``(2, 2, 2)``); ``data_format``
    as in ``ZeroPadding2D``.

    Example:
        >>> import plait
        >>> plait.layers.UpSampling3D((1, 2, 3))(plait.Input(shape=(3, None, 5, 2))).shape
        (None, 3, None, 15, 2)
    """

    rank = 3

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(size, data_format, **kwargs)
