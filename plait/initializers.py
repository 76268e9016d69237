"""Weight initializers with Keras 3's names, defaults and fan rules.

Each initializer is a callable ``(shape, dtype) -> torch.Tensor`` taking the *Keras* shape of a
weight (a Dense kernel is ``(in, out)``, a Conv1D kernel ``(k, in, out)``), so fans are counted
exactly as Keras counts them. Random numbers come from torch's global generator
(``plait.utils.set_random_seed`` seeds it) or, with ``seed=``, from a private one.

Example:
    >>> import plait
    >>> plait.initializers.get("glorot_uniform")((64, 32)).shape
    torch.Size([64, 32])
"""

import math

import torch

from plait.utils import custom_objects
from plait.utils.registry import by_name, with_class_names


def compute_fans(shape):
    """``(fan_in, fan_out)`` as Keras computes them (conv kernels: ``(..., in, out)``)."""
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base class: subclasses implement ``__call__(shape, dtype)``."""

    def __init__(self, seed=None):
        self.seed = seed

    def _generator(self):
        if self.seed is None:
            return None
        return torch.Generator().manual_seed(int(self.seed))

    def get_config(self):
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    def __init__(self):
        super().__init__()
        del self.seed

    def __call__(self, shape, dtype=torch.float32):
        return torch.zeros(shape, dtype=dtype)


class Ones(Zeros):
    def __call__(self, shape, dtype=torch.float32):
        return torch.ones(shape, dtype=dtype)


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=torch.float32):
        return torch.full(shape, float(self.value), dtype=dtype)


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype=torch.float32):
        out = torch.empty(shape, dtype=dtype)
        return out.uniform_(self.minval, self.maxval, generator=self._generator())


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype=torch.float32):
        return torch.empty(shape, dtype=dtype).normal_(self.mean, self.stddev, generator=self._generator())


class TruncatedNormal(RandomNormal):
    """Normal values redrawn beyond two standard deviations (Keras's rule)."""

    def __call__(self, shape, dtype=torch.float32):
        out = torch.empty(shape, dtype=dtype)
        torch.nn.init.trunc_normal_(
            out, self.mean, self.stddev, -2 * self.stddev, 2 * self.stddev, generator=self._generator()
        )
        return out


class VarianceScaling(Initializer):
    """Keras's VarianceScaling: ``scale / fan`` variance, uniform or truncated normal."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        if scale <= 0.0:
            raise ValueError(f"Argument `scale` must be positive float. Received: scale={scale}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"Invalid `mode` argument: expected fan_in, fan_out or fan_avg. Received: mode={mode}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in ("uniform", "truncated_normal", "untruncated_normal"):
            raise ValueError(f"Invalid `distribution` argument. Received: distribution={distribution}")
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def __call__(self, shape, dtype=torch.float32):
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, fan)
        out = torch.empty(shape, dtype=dtype)
        gen = self._generator()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return out.uniform_(-limit, limit, generator=gen)
        if self.distribution == "untruncated_normal":
            return out.normal_(0.0, math.sqrt(variance), generator=gen)
        # 0.879... is the stddev of a unit normal truncated to [-2, 2] (Keras's constant).
        stddev = math.sqrt(variance) / 0.87962566103423978
        torch.nn.init.trunc_normal_(out, 0.0, stddev, -2 * stddev, 2 * stddev, generator=gen)
        return out


def _variance_scaling(name, scale, mode, distribution):
    class _Init(VarianceScaling):
        def __init__(self, seed=None):
            super().__init__(scale, mode, distribution, seed)

        def get_config(self):
            return {"seed": self.seed}

    _Init.__name__ = _Init.__qualname__ = name
    return _Init


GlorotUniform = _variance_scaling("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _variance_scaling("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _variance_scaling("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _variance_scaling("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _variance_scaling("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _variance_scaling("LecunNormal", 1.0, "fan_in", "truncated_normal")


class Orthogonal(Initializer):
    """Orthogonal matrix from the QR decomposition of a normal one (Keras's algorithm)."""

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = gain

    def __call__(self, shape, dtype=torch.float32):
        if len(shape) < 2:
            raise ValueError(f"The tensor to initialize must be at least two-dimensional. Received: shape={shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = torch.empty(max(rows, cols), min(rows, cols), dtype=torch.float32).normal_(generator=self._generator())
        q, r = torch.linalg.qr(a)
        q = q * torch.sign(torch.diagonal(r))
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).to(dtype)


class Identity(Initializer):
    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=torch.float32):
        if len(shape) != 2:
            raise ValueError(f"Identity matrix initializer can only be used for 2D matrices. Received: shape={shape}")
        return self.gain * torch.eye(*shape, dtype=dtype)


_ALIASES = {
    "zeros": Zeros,
    "ones": Ones,
    "constant": Constant,
    "random_uniform": RandomUniform,
    "random_normal": RandomNormal,
    "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform,
    "he_normal": HeNormal,
    "lecun_uniform": LecunUniform,
    "lecun_normal": LecunNormal,
    "orthogonal": Orthogonal,
    "identity": Identity,
}
with_class_names(_ALIASES)


def get(identifier):
    """An initializer from a name (``"glorot_uniform"``), an instance, or a callable."""
    if isinstance(identifier, str):
        found = by_name(_ALIASES, identifier, "initializer")
        return found() if isinstance(found, type) else found  # a registered custom initializer function
    if isinstance(identifier, dict):
        # Keras 3.15 writes `input_axes`/`output_axes` (None unless set); plait uses Keras's
        # default fan axes, so only None is accepted there.
        config = {
            k: v
            for k, v in identifier.get("config", {}).items()
            if not (k in ("input_axes", "output_axes") and v is None)
        }
        return by_name(_ALIASES, identifier["class_name"], "initializer").from_config(config)
    if callable(identifier):
        return identifier
    raise TypeError(f"Could not interpret initializer: {identifier!r}")


def serialize(initializer):
    registered = custom_objects.registered_name(type(initializer)) or custom_objects.registered_name(initializer)
    if hasattr(initializer, "get_config"):
        return {"class_name": registered or type(initializer).__name__, "config": initializer.get_config()}
    if registered is not None:
        return registered
    raise TypeError(f"Cannot serialize initializer {initializer!r}")
