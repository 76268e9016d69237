"""Normalization layers: ``BatchNormalization`` (Keras's momentum convention), ``LayerNormalization``,
``GroupNormalization``, ``UnitNormalization``, ``RMSNormalization``, ``SpectralNormalization``."""

import copy

import torch
import torch.nn.functional as F

from plait import initializers
from plait.distribution import collectives
from plait.layers.base import Layer, WeightOptions
from plait.layers.validation import positive_int
from plait.layers.wrappers import Wrapper


def _scale_and_shift(y, gamma, beta, shape):
    """``y * gamma + beta`` with the weights reshaped to broadcast over ``y`` (either may be None)."""
    if gamma is not None:
        y = y * gamma.reshape(shape)
    if beta is not None:
        y = y + beta.reshape(shape)
    return y


def _gamma_beta_options(beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint):
    return WeightOptions(
        beta_regularizer=beta_regularizer,
        gamma_regularizer=gamma_regularizer,
        beta_constraint=beta_constraint,
        gamma_constraint=gamma_constraint,
    )


def _axes(axis, ndim):
    axes = [axis] if isinstance(axis, int) else list(axis)
    return sorted(a % ndim for a in axes)


class BatchNormalization(Layer):
    """Normalizes over the batch (and all axes but ``axis``), Keras 3's way.

    In training: ``y = gamma * (x - mean) / sqrt(var + epsilon) + beta`` with the batch's mean and
    *biased* variance, and ``moving = moving * momentum + batch * (1 - momentum)`` (Keras's
    convention: momentum is the old value's share, unlike torch's). At inference, and whenever
    the layer is not trainable (Keras 3's rule), the moving statistics are used.

    Args:
        axis: the feature axis (default -1, channels_last).
        momentum: default 0.99. epsilon: default 1e-3. center / scale: use beta / gamma.
        beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint: as for ``Dense``.
        synchronized: Keras's cross-device statistics; plait trains in one process, where it
            changes nothing (with ``torch.distributed`` running it is refused).
        renorm, renorm_clipping, renorm_momentum: batch renormalization, not supported: only
            Keras's defaults (False, None) are accepted.

    Weights: ``gamma``, ``beta`` (trainable), ``moving_mean``, ``moving_variance`` (not trainable).

    Example:
        >>> import torch, plait
        >>> plait.layers.BatchNormalization()(torch.ones(2, 3)).shape
        torch.Size([2, 3])
    """

    supports_masking = True

    def __init__(
        self,
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        synchronized=False,
        renorm=False,
        renorm_clipping=None,
        renorm_momentum=0.99,
        **kwargs,
    ):
        super().__init__(**kwargs)
        who = f"BatchNormalization layer '{self.name}'"
        for key, value, default in (("renorm", renorm, False), ("renorm_clipping", renorm_clipping, None)):
            if value != default:
                raise ValueError(f"{who}: batch renormalization is not supported. Received: {key}={value!r}")
        if synchronized and torch.distributed.is_available() and torch.distributed.is_initialized():
            raise ValueError(
                f"{who}: `synchronized=True` across processes is not supported. Received: synchronized=True"
            )
        self.synchronized, self.renorm_momentum = bool(synchronized), float(renorm_momentum)
        self.weight_options = _gamma_beta_options(
            beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint
        )
        self.axis, self.momentum, self.epsilon = int(axis), float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.inits = {
            name: initializers.get(init)
            for name, init in (
                ("beta", beta_initializer),
                ("gamma", gamma_initializer),
                ("moving_mean", moving_mean_initializer),
                ("moving_variance", moving_variance_initializer),
            )
        }

    def build(self, input_shape):
        channels = input_shape[self.axis]
        if channels is None:
            raise ValueError(f"Layer '{self.name}' needs a known size on axis {self.axis}. Received: {input_shape}")
        options = self.weight_options
        self.gamma = (
            self.add_weight("gamma", (channels,), self.inits["gamma"], **options("gamma")) if self.scale else None
        )
        self.beta = self.add_weight("beta", (channels,), self.inits["beta"], **options("beta")) if self.center else None
        self.add_weight("moving_mean", (channels,), self.inits["moving_mean"], trainable=False)
        self.add_weight("moving_variance", (channels,), self.inits["moving_variance"], trainable=False)

    def call(self, inputs):
        if self.training and self.trainable:
            dims = [d for d in range(inputs.dim()) if d != self.axis % inputs.dim()]
            if collectives.data_group() is not None:  # the global batch's moments, as Keras's
                var, mean = collectives.global_moments(inputs, dims)
            else:
                var, mean = torch.var_mean(inputs, dim=dims, correction=0)
            with torch.no_grad():
                self.moving_mean.mul_(self.momentum).add_(mean.detach(), alpha=1 - self.momentum)
                self.moving_variance.mul_(self.momentum).add_(var.detach(), alpha=1 - self.momentum)
        else:
            mean, var = self.moving_mean, self.moving_variance
        shape = [1] * inputs.dim()
        shape[self.axis % inputs.dim()] = -1
        y = (inputs - mean.reshape(shape)) * torch.rsqrt(var + self.epsilon).reshape(shape)
        return _scale_and_shift(y, self.gamma, self.beta, shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            **{f"{k}_initializer": initializers.serialize(v) for k, v in self.inits.items()},
            **self.weight_options.get_config(),
            "synchronized": self.synchronized,
            "renorm": False,
            "renorm_clipping": None,
            "renorm_momentum": self.renorm_momentum,
        }


class LayerNormalization(Layer):
    """Normalizes each sample over ``axis`` (default the last): ``gamma * (x - mean) /
    sqrt(var + epsilon) + beta``, Keras's epsilon 1e-3.

    Args:
        axis: int or list of ints. epsilon: default 1e-3. center / scale: use beta / gamma.
        rms_scaling: Keras's deprecated variant ``gamma * x / sqrt(var + epsilon)`` (no beta;
            Keras documents it as scaling by the variance, not the root mean square), computed
            as Keras computes it.
        beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint: as for ``Dense``.
    """

    supports_masking = True

    def __init__(
        self,
        axis=-1,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        rms_scaling=False,
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.axis = axis if isinstance(axis, int) else list(axis)
        self.epsilon, self.center, self.scale = float(epsilon), bool(center), bool(scale)
        self.rms_scaling = bool(rms_scaling)
        self.weight_options = _gamma_beta_options(
            beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint
        )
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)

    def build(self, input_shape):
        axes = _axes(self.axis, len(input_shape))
        shape = tuple(input_shape[a] for a in axes)
        if None in shape:
            raise ValueError(f"Layer '{self.name}' needs known sizes on axes {self.axis}. Received: {input_shape}")
        options = self.weight_options
        with_gamma, with_beta = self.scale or self.rms_scaling, self.center and not self.rms_scaling
        self.gamma = self.add_weight("gamma", shape, self.gamma_initializer, **options("gamma")) if with_gamma else None
        self.beta = self.add_weight("beta", shape, self.beta_initializer, **options("beta")) if with_beta else None

    def call(self, inputs):
        axes = _axes(self.axis, inputs.dim())
        if self.rms_scaling:
            shape = [inputs.shape[d] if d in axes else 1 for d in range(inputs.dim())]
            var = torch.var(inputs, dim=axes, keepdim=True, correction=0)
            return _scale_and_shift(inputs * torch.rsqrt(var + self.epsilon), self.gamma, None, shape)
        if axes == list(range(inputs.dim() - len(axes), inputs.dim())):
            return F.layer_norm(inputs, inputs.shape[-len(axes) :], self.gamma, self.beta, self.epsilon)
        shape = [inputs.shape[d] if d in axes else 1 for d in range(inputs.dim())]
        var, mean = torch.var_mean(inputs, dim=axes, keepdim=True, correction=0)
        return _scale_and_shift((inputs - mean) * torch.rsqrt(var + self.epsilon), self.gamma, self.beta, shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "rms_scaling": self.rms_scaling,
            **self.weight_options.get_config(),
        }


class _SameShape(Layer):
    supports_masking = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


class GroupNormalization(_SameShape):
    """Normalize channel groups (Wu & He 2018); channels last, Keras's epsilon 1e-3.

    Args:
        groups: number of groups (default 32; must divide the channels). epsilon, center, scale,
        beta_initializer, gamma_initializer, beta_regularizer, gamma_regularizer, beta_constraint,
        gamma_constraint: as in ``LayerNormalization``.
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
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.weight_options = _gamma_beta_options(
            beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint
        )
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
        options = self.weight_options
        self.gamma = (
            self.add_weight("gamma", (channels,), self.gamma_initializer, **options("gamma")) if self.scale else None
        )
        self.beta = (
            self.add_weight("beta", (channels,), self.beta_initializer, **options("beta")) if self.center else None
        )

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
            **self.weight_options.get_config(),
        }


class UnitNormalization(_SameShape):
    """Scale each sample to unit L2 norm along ``axis`` (default -1)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs):
        return F.normalize(inputs, p=2.0, dim=self.axis, eps=1e-12)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class RMSNormalization(_SameShape):
    """Root-mean-square normalization (Zhang & Sennrich 2019): ``x / sqrt(mean(x**2) + epsilon) *
    scale`` over ``axis``, on torch's ``rms_norm`` (no centering, unlike ``LayerNormalization``).

    Args:
        axis: int or list of ints, the axes normalized together (default -1).
        epsilon: added to the mean square (default 1e-6, Keras's).

    Weights: ``scale`` of the normalized axes' sizes, initialized to ones.

    Example:
        >>> import torch, plait
        >>> y = plait.layers.RMSNormalization()(torch.tensor([[3.0, 4.0]]))
        >>> [round(v, 4) for v in y[0].tolist()]  # 3 and 4 over sqrt((9 + 16) / 2)
        [0.8485, 1.1314]
    """

    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.axis, self.epsilon = axis, float(epsilon)

    def _axes(self, rank):
        axes = self.axis if isinstance(self.axis, (list, tuple)) else [self.axis]
        for a in axes:
            if not -rank <= a < rank:
                raise ValueError(f"Layer '{self.name}': axis {a} is out of bounds for inputs of rank {rank}.")
        return sorted(a % rank for a in axes)

    def build(self, input_shape):
        sizes = tuple(input_shape[a] for a in self._axes(len(input_shape)))
        if None in sizes:
            raise ValueError(f"Layer '{self.name}' needs known sizes on axis={self.axis}. Received: {input_shape}")
        self.add_weight("scale", sizes, "ones")

    def call(self, inputs):
        axes, rank = self._axes(inputs.dim()), inputs.dim()
        trailing = list(range(rank - len(axes), rank))
        if axes == trailing:
            return F.rms_norm(inputs, tuple(inputs.shape[rank - len(axes) :]), self.scale, self.epsilon)
        # torch's rms_norm normalizes the trailing axes: move the chosen ones there (and back).
        moved = inputs.movedim(axes, trailing)
        return F.rms_norm(moved, tuple(moved.shape[rank - len(axes) :]), self.scale, self.epsilon).movedim(
            trailing, axes
        )

    def compute_output_shape(self, input_shape):
        self._axes(len(input_shape))
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}


class SpectralNormalization(Wrapper):
    """Divides the wrapped layer's ``kernel`` (or ``embeddings``) by its largest singular value
    (Miyato et al. 2018), estimated by power iteration, as Keras does it: in training, each call
    runs ``power_iterations`` steps from the stored vector ``u``, then writes the normalized
    kernel into the layer (the gradient flows to the kernel as used, not through the estimate).
    At inference the layer runs with its kernel as it stands.

    (``torch.nn.utils.parametrizations.spectral_norm`` keeps the raw weight and differentiates
    through the estimate: other numbers, so it is not used.)

    Args:
        layer: a layer with a ``kernel`` or ``embeddings`` weight (``Dense``, ``Conv2D``, ...).
        power_iterations: power-iteration steps per training call (default 1).

    Weights: the layer's kernel, then ``vector_u (1, kernel_shape[-1])`` (non-trainable,
    truncated normal with stddev 0.02), then the layer's other weights (Keras's order).

    Example:
        >>> import torch, plait
        >>> sn = plait.layers.SpectralNormalization(plait.layers.Dense(4), power_iterations=50)
        >>> _ = sn(torch.randn(3, 5), training=True)  # the kernel's largest singular value is now 1
        >>> round(float(torch.linalg.matrix_norm(sn.layer.kernel.detach(), ord=2)), 3)
        1.0
    """

    def __init__(self, layer, power_iterations=1, **kwargs):
        super().__init__(layer, **kwargs)
        self.power_iterations = positive_int(
            f"SpectralNormalization '{self.name}'", "power_iterations", power_iterations
        )

    def build(self, input_shape):
        super().build(input_shape)
        entries = {spec.name: spec for layer, spec in self.layer.weight_entries() if layer is self.layer}
        spec = entries.get("kernel") or entries.get("embeddings")
        if spec is None:
            raise ValueError(
                f"SpectralNormalization '{self.name}': the wrapped {type(self.layer).__name__} has no 'kernel' "
                "nor 'embeddings' weight."
            )
        # The kernel is listed as the wrapper's own first weight, as Keras lists it.
        own = copy.copy(spec)
        own.attr = f"layer.{spec.attr}"
        self._weight_specs.append(own)
        self._kernel_spec = own
        self.add_weight(
            "vector_u", (1, spec.keras_shape[-1]), initializers.TruncatedNormal(stddev=0.02), trainable=False
        )

    def _normalize_kernel(self):
        """One update of ``u`` and the kernel, in place (Keras's ``normalized_weights``)."""
        stored = self._kernel_spec.get(self)
        kernel = self._kernel_spec.keras_view(stored)
        w, u = kernel.reshape(-1, kernel.shape[-1]), self.vector_u
        for _ in range(self.power_iterations):
            v = F.normalize((u @ w.T).flatten(), dim=0, eps=1e-12)[None]
            u = F.normalize((v @ w).flatten(), dim=0, eps=1e-12)[None]
        sigma = v @ w @ u.T
        # An all-zero kernel has no direction to estimate: both stay as they are (Keras's rule),
        # chosen with `where` rather than a branch so that compiled graphs do not break.
        nonzero = kernel.any()
        self.vector_u.copy_(torch.where(nonzero, u, self.vector_u))
        kernel.copy_(torch.where(nonzero, kernel / sigma, kernel))

    def call(self, inputs):
        if self.training:
            with torch.no_grad():
                self._normalize_kernel()
        return self.layer(inputs)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations}
