"""More Keras layers: ``PReLU``, ``Dot``, ``UnitNormalization``, ``GroupNormalization``, the noise
layers (``SpatialDropout1D/2D``, ``GaussianNoise``, ``GaussianDropout``),
``ActivityRegularization``, and the 2-D ``ZeroPadding2D``, ``Cropping2D``, ``UpSampling2D``."""

import torch
import torch.nn.functional as F

from plait import initializers
from plait.layers.base import Layer
from plait.layers.validation import positive_int
from plait.layers.validation import rate as check_rate


class _SameShape(Layer):
    supports_masking = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


class PReLU(_SameShape):
    """``max(x, 0) + alpha * min(x, 0)`` with a learned ``alpha`` per input position.

    Args:
        alpha_initializer: default ``"zeros"``. shared_axes: axes (1-based, no batch) sharing alpha.
    """

    def __init__(self, alpha_initializer="zeros", shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.shared_axes = (
            None if shared_axes is None else ([shared_axes] if isinstance(shared_axes, int) else list(shared_axes))
        )

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for axis in self.shared_axes or []:
            shape[axis - 1] = 1
        self.add_weight("alpha", tuple(shape), self.alpha_initializer)

    def call(self, inputs):
        return F.relu(inputs) - self.alpha * F.relu(-inputs)

    def get_config(self):
        return {
            **super().get_config(),
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            "shared_axes": self.shared_axes,
        }


class Dot(Layer):
    """Dot product of two tensors along ``axes`` (Keras's ``batch_dot``), optionally of their
    L2-normalised forms (``normalize=True``: cosine similarity).

    Example:
        >>> import torch, plait
        >>> plait.layers.Dot(axes=1)([torch.ones(2, 3), torch.ones(2, 3)])
        tensor([[3.],
                [3.]])
    """

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        self.axes = [axes, axes] if isinstance(axes, int) else list(axes)
        if len(self.axes) != 2:
            raise ValueError(f"Invalid format for argument `axes`: an int or a pair. Received: axes={axes}")
        self.normalize = bool(normalize)

    def _axes(self, shapes):
        return [a % len(s) for a, s in zip(self.axes, shapes)]

    def call(self, inputs):
        x, y = inputs
        ax, ay = self._axes([x.shape, y.shape])
        if self.normalize:
            x, y = F.normalize(x, dim=ax, eps=1e-12), F.normalize(y, dim=ay, eps=1e-12)
        if x.dim() == 2 and y.dim() == 2:
            return (x * y).sum(dim=1, keepdim=True)
        out = torch.matmul(x.movedim(ax, -1), y.movedim(ay, 1))
        return out

    def compute_output_shape(self, input_shape):
        sx, sy = input_shape
        ax, ay = self._axes([sx, sy])
        if len(sx) == 2 and len(sy) == 2:
            return (sx[0], 1)
        rest_x = [d for i, d in enumerate(sx) if i not in (0, ax)]
        rest_y = [d for i, d in enumerate(sy) if i not in (0, ay)]
        return (sx[0], *rest_x, *rest_y)

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def dot(inputs, axes=-1, **kwargs):
    """Functional form of ``Dot``."""
    return Dot(axes=axes, **kwargs)(inputs)


class UnitNormalization(_SameShape):
    """Scale each sample to unit L2 norm along ``axis`` (default -1)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs):
        return F.normalize(inputs, p=2.0, dim=self.axis, eps=1e-12)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class GroupNormalization(_SameShape):
    """Normalize channel groups (Wu & He 2018); channels last, Keras's epsilon 1e-3.

    Args:
        groups: number of groups (default 32; must divide the channels). epsilon, center, scale,
        beta_initializer, gamma_initializer: as in ``LayerNormalization``.
    """

    def __init__(
        self,
        groups=32,
        axis=-1,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if axis not in (-1, 1):
            raise ValueError(f"GroupNormalization supports axis=-1 (channels last) or 1. Received: axis={axis}")
        self.groups, self.axis, self.epsilon = (
            positive_int(f"GroupNormalization '{self.name}'", "groups", groups),
            axis,
            epsilon,
        )
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer, self.gamma_initializer = (
            initializers.get(beta_initializer),
            initializers.get(gamma_initializer),
        )

    def build(self, input_shape):
        channels = input_shape[self.axis]
        if channels % self.groups:
            raise ValueError(
                f"Number of groups ({self.groups}) must be a multiple of the number of channels ({channels})."
            )
        self.gamma = self.add_weight("gamma", (channels,), self.gamma_initializer) if self.scale else None
        self.beta = self.add_weight("beta", (channels,), self.beta_initializer) if self.center else None

    def call(self, inputs):
        x = inputs.movedim(-1, 1) if self.axis == -1 else inputs
        y = F.group_norm(x, self.groups, self.gamma, self.beta, self.epsilon)
        return y.movedim(1, -1) if self.axis == -1 else y

    def get_config(self):
        return {
            **super().get_config(),
            "groups": self.groups,
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
        }


class _SpatialDropout(_SameShape):
    spatial = 1

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.seed = check_rate(f"{type(self).__name__} '{self.name}'", "rate", rate), seed

    def call(self, inputs):
        if not self.training or self.rate == 0:
            return inputs
        # One draw per sample and channel: whole feature maps are dropped.
        shape = (inputs.shape[0], *([1] * self.spatial), inputs.shape[-1])
        keep = torch.empty(shape, device=inputs.device, dtype=inputs.dtype).bernoulli_(1 - self.rate)
        return inputs * keep / (1 - self.rate)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class SpatialDropout1D(_SpatialDropout):
    """Drops whole channels of ``(batch, steps, channels)`` in training."""


class SpatialDropout2D(_SpatialDropout):
    """Drops whole channels of ``(batch, rows, cols, channels)`` in training."""

    spatial = 2


class GaussianNoise(_SameShape):
    """Adds ``N(0, stddev)`` noise in training (identity at inference)."""

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.stddev, self.seed = float(stddev), seed

    def call(self, inputs):
        return inputs + torch.randn_like(inputs) * self.stddev if self.training and self.stddev > 0 else inputs

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(_SameShape):
    """Multiplies by ``N(1, sqrt(rate / (1 - rate)))`` noise in training (identity at inference)."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.seed = check_rate(f"GaussianDropout '{self.name}'", "rate", rate), seed

    def call(self, inputs):
        if not self.training or not 0 < self.rate < 1:
            return inputs
        std = (self.rate / (1.0 - self.rate)) ** 0.5
        return inputs * (1.0 + torch.randn_like(inputs) * std)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class ActivityRegularization(_SameShape):
    """Identity that adds ``l1 * sum(|x|) + l2 * sum(x**2)`` (per sample) to the training loss."""

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        from plait import regularizers

        super().__init__(activity_regularizer=regularizers.L1L2(l1, l2), **kwargs)
        self.l1, self.l2 = float(l1), float(l2)

    def call(self, inputs):
        return inputs

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)
        return {**config, "l1": self.l1, "l2": self.l2}


def _pairs(value, who, name):
    if isinstance(value, int):
        return ((value, value), (value, value))
    value = tuple(value)
    pairs = tuple((v, v) if isinstance(v, int) else tuple(v) for v in value)
    if len(pairs) != 2 or any(len(p) != 2 or min(p) < 0 for p in pairs):
        raise ValueError(f"{who}: `{name}` must be an int, 2 ints or 2 pairs of ints. Received: {name}={value!r}")
    return pairs


class ZeroPadding2D(Layer):
    """Pad rows and columns with zeros: ``padding`` int, ``(rows, cols)`` or ``((top, bottom), (left, right))``."""

    def __init__(self, padding=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.padding = _pairs(padding, f"ZeroPadding2D '{self.name}'", "padding")

    def call(self, inputs):
        (top, bottom), (left, right) = self.padding
        return F.pad(inputs, (0, 0, left, right, top, bottom))

    def compute_output_shape(self, s):
        (t, b), (l_, r) = self.padding
        return (s[0], None if s[1] is None else s[1] + t + b, None if s[2] is None else s[2] + l_ + r, s[3])

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding]}


class Cropping2D(Layer):
    """Crop rows and columns: ``cropping`` as in ``ZeroPadding2D``."""

    def __init__(self, cropping=((0, 0), (0, 0)), **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pairs(cropping, f"Cropping2D '{self.name}'", "cropping")

    def call(self, inputs):
        (t, b), (l_, r) = self.cropping
        return inputs[:, t : inputs.shape[1] - b, l_ : inputs.shape[2] - r]

    def compute_output_shape(self, s):
        (t, b), (l_, r) = self.cropping
        return (s[0], None if s[1] is None else s[1] - t - b, None if s[2] is None else s[2] - l_ - r, s[3])

    def get_config(self):
        return {**super().get_config(), "cropping": [list(p) for p in self.cropping]}


class UpSampling2D(Layer):
    """Repeat rows and columns ``size`` times (``interpolation="nearest"``) or resize
    bilinearly (``"bilinear"``)."""

    def __init__(self, size=(2, 2), interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(
                f"UpSampling2D supports 'nearest' and 'bilinear'. Received: interpolation={interpolation!r}"
            )
        self.interpolation = interpolation

    def call(self, inputs):
        if self.interpolation == "nearest":
            return inputs.repeat_interleave(self.size[0], 1).repeat_interleave(self.size[1], 2)
        x = F.interpolate(inputs.movedim(-1, 1), scale_factor=self.size, mode="bilinear", align_corners=False)
        return x.movedim(1, -1)

    def compute_output_shape(self, s):
        return (
            s[0],
            None if s[1] is None else s[1] * self.size[0],
            None if s[2] is None else s[2] * self.size[1],
            s[3],
        )

    def get_config(self):
        return {**super().get_config(), "size": list(self.size), "interpolation": self.interpolation}
