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

import numpy as np
import torch

from plait.utils import custom_objects
from plait.utils.dtypes import to_torch_dtype as torch_dtype
from plait.utils.registry import by_name, with_class_names


def compute_fans(shape, input_axes=None, output_axes=None):
    """``(fan_in, fan_out)`` as Keras computes them (conv kernels: ``(..., in, out)``), or the
    products of the sizes on ``input_axes`` / ``output_axes`` when both are given."""
    if input_axes is not None and output_axes is not None:
        return math.prod(shape[a] for a in input_axes), math.prod(shape[a] for a in output_axes)
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base class: ``initializer(shape, dtype=None)`` returns a new tensor of ``shape``.

    Subclasses implement :meth:`draw` with a tuple shape and a torch dtype; ``__call__`` reads
    Keras's spellings of both (a list or ``torch.Size``; ``"float32"``, a numpy or torch dtype).
    A Keras-style subclass that overrides ``__call__`` itself works too.
    """

    def __call__(self, shape, dtype=None):
        return self.draw(tuple(int(d) for d in shape), torch_dtype(dtype))

    def draw(self, shape, dtype):
        raise NotImplementedError(f"{type(self).__name__} must implement draw(shape, dtype) or __call__.")

    def get_config(self):
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def clone(self):
        return type(self).from_config(self.get_config())

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class _RandomInitializer(Initializer):
    """An initializer that draws random numbers.

    As Keras documents, an instance gives the same values on every call, seeded or not. An
    unseeded one draws its first values from torch's global generator (so
    ``plait.utils.set_random_seed`` makes them reproducible, and the global stream advances as
    for any torch draw) and keeps that generator's state, from which later calls draw again;
    ``get_config`` keeps ``seed=None``.
    """

    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"`seed` of {type(self).__name__} must be an integer or None. Received: seed={seed!r}")
        self.seed = seed
        self._replay = None  # the global generator's state before the first unseeded draw

    def _generator(self):
        if self.seed is not None:
            return torch.Generator().manual_seed(int(self.seed))
        if self._replay is None:
            self._replay = torch.get_rng_state()
            return None  # the first draw: the global generator itself
        generator = torch.Generator()
        generator.set_state(self._replay)
        return generator

    def _sample(self, shape, dtype, fill):
        """``fill(tensor, generator)`` on a new tensor of the default device; the numbers are
        drawn on the CPU (a CPU generator cannot fill a GPU tensor)."""
        device = torch.get_default_device()
        out = torch.empty(shape, dtype=dtype, device="cpu" if device.type != "meta" else device)
        fill(out, self._generator())
        return out.to(device)


class Zeros(Initializer):
    """All zeros."""

    def draw(self, shape, dtype):
        return torch.zeros(shape, dtype=dtype)


class Ones(Initializer):
    """All ones."""

    def draw(self, shape, dtype):
        return torch.ones(shape, dtype=dtype)


class Constant(Initializer):
    """A constant ``value``: a number, or an array broadcast to the requested shape.

    Example:
        >>> Constant([1.0, 2.0])((2, 2), dtype="float32")
        tensor([[1., 2.],
                [1., 2.]])
    """

    def __init__(self, value=0.0):
        if isinstance(value, dict) and value.get("class_name") == "__numpy__":  # Keras's array config
            value = np.asarray(value["config"]["value"], dtype=value["config"]["dtype"])
        self.value = value

    def draw(self, shape, dtype):
        value = torch.as_tensor(np.asarray(self.value) if not torch.is_tensor(self.value) else self.value)
        try:
            return value.to(dtype).broadcast_to(shape).clone()
        except RuntimeError as error:
            raise ValueError(
                f"Constant initializer: the value of shape {tuple(value.shape)} does not broadcast to the "
                f"requested shape {shape}."
            ) from error

    def get_config(self):
        value = self.value
        if torch.is_tensor(value):
            value = value.detach().cpu().numpy()
        if isinstance(value, np.ndarray):  # the form Keras writes, so Keras reads it back
            return {
                "value": {"class_name": "__numpy__", "config": {"value": value.tolist(), "dtype": str(value.dtype)}}
            }
        return {"value": value}


class RandomUniform(_RandomInitializer):
    """Uniform values in ``[minval, maxval)`` (default ``[-0.05, 0.05)``)."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def draw(self, shape, dtype):
        return self._sample(shape, dtype, lambda out, gen: out.uniform_(self.minval, self.maxval, generator=gen))


class RandomNormal(_RandomInitializer):
    """Normal values of ``mean`` (default 0) and ``stddev`` (default 0.05)."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def draw(self, shape, dtype):
        return self._sample(shape, dtype, lambda out, gen: out.normal_(self.mean, self.stddev, generator=gen))


def _truncated_normal(mean, stddev):
    """A fill that draws normal values within two standard deviations of ``mean`` (Keras's rule)."""
    low, high = mean - 2 * stddev, mean + 2 * stddev
    return lambda out, gen: torch.nn.init.trunc_normal_(out, mean, stddev, low, high, generator=gen)


class TruncatedNormal(RandomNormal):
    """Normal values of ``mean`` and ``stddev``, redrawn beyond two standard deviations of the mean."""

    def draw(self, shape, dtype):
        return self._sample(shape, dtype, _truncated_normal(self.mean, self.stddev))


class VarianceScaling(_RandomInitializer):
    """Keras's VarianceScaling: ``scale / fan`` variance, uniform or truncated normal."""

    def __init__(
        self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None, input_axes=None, output_axes=None
    ):
        super().__init__(seed)
        # Keras 3.15: the kernel axes that count as inputs and outputs (an EinsumDense kernel's).
        self.input_axes = None if input_axes is None else list(input_axes)
        self.output_axes = None if output_axes is None else list(output_axes)
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

    def draw(self, shape, dtype):
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, fan)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return self._sample(shape, dtype, lambda out, gen: out.uniform_(-limit, limit, generator=gen))
        if self.distribution == "untruncated_normal":
            return self._sample(shape, dtype, lambda out, gen: out.normal_(0.0, math.sqrt(variance), generator=gen))
        # 0.879... is the stddev of a unit normal truncated to [-2, 2] (Keras's constant).
        return self._sample(shape, dtype, _truncated_normal(0.0, math.sqrt(variance) / 0.87962566103423978))


def _variance_scaling(name, scale, mode, distribution):
    class _Init(VarianceScaling):
        def __init__(self, seed=None, input_axes=None, output_axes=None):
            super().__init__(scale, mode, distribution, seed, input_axes, output_axes)

        def get_config(self):
            return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}

    _Init.__name__ = _Init.__qualname__ = name
    return _Init


GlorotUniform = _variance_scaling("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _variance_scaling("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _variance_scaling("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _variance_scaling("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _variance_scaling("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _variance_scaling("LecunNormal", 1.0, "fan_in", "truncated_normal")


class Orthogonal(_RandomInitializer):
    """Orthogonal matrix from the QR decomposition of a normal one (Keras's algorithm)."""

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = gain

    def draw(self, shape, dtype):
        if len(shape) < 2:
            raise ValueError(f"The tensor to initialize must be at least two-dimensional. Received: shape={shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = self._sample((max(rows, cols), min(rows, cols)), torch.float32, lambda out, gen: out.normal_(generator=gen))
        q, r = torch.linalg.qr(a)
        q = q * torch.sign(torch.diagonal(r))  # the sign fix makes the distribution uniform (Haar)
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).to(dtype)


class Identity(Initializer):
    """``gain`` times the identity matrix (2D shapes only; rectangular ones get a partial identity)."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def draw(self, shape, dtype):
        if len(shape) != 2:
            raise ValueError(f"Identity matrix initializer can only be used for 2D matrices. Received: shape={shape}")
        return self.gain * torch.eye(*shape, dtype=dtype)


def _window(name, length, periodic):
    """scipy.signal's window of that name and length (``periodic``: its ``fftbins``), from torch."""
    windows = torch.signal.windows
    makers = {
        "hann": lambda: torch.hann_window(length, periodic=periodic, dtype=torch.float64),
        "hamming": lambda: torch.hamming_window(length, periodic=periodic, dtype=torch.float64),
        "blackman": lambda: torch.blackman_window(length, periodic=periodic, dtype=torch.float64),
        "bartlett": lambda: torch.bartlett_window(length, periodic=periodic, dtype=torch.float64),
        "cosine": lambda: windows.cosine(length, sym=not periodic, dtype=torch.float64),
        "nuttall": lambda: windows.nuttall(length, sym=not periodic, dtype=torch.float64),
        "boxcar": lambda: torch.ones(length, dtype=torch.float64),
    }
    makers.update({"hanning": makers["hann"], "rect": makers["boxcar"], "rectangular": makers["boxcar"]})
    if name not in makers:
        raise ValueError(f"STFT: unknown window {name!r}. Known: {sorted(makers)}, an array, or None.")
    return makers[name]()


class STFT(Initializer):
    """The kernel of a short-time Fourier transform as a convolution (Keras's ``STFT``).

    For a shape ``(frame_length, 1, bins)``, entry ``[t, 0, k]`` is ``cos`` (``side="real"``) or
    ``sin`` (``side="imag"``) of ``-2 pi t k / n_fft`` with ``n_fft = 2 (bins - 1)``, times the
    window at ``t``, divided by the window's ``scaling``.

    Args:
        side: ``"real"`` (default) or ``"imag"``.
        window: a scipy window name (``"hann"``, default; ``"hamming"``, ``"blackman"``,
            ``"bartlett"``, ``"cosine"``, ``"nuttall"``, ``"boxcar"``), the window's values, or None.
        scaling: ``"density"`` (default: divide by the window's L2 norm), ``"spectrum"`` (by
            its sum) or None.
        periodic: whether the window is periodic (default False: symmetric).

    Example:
        >>> STFT(window=None)((4, 1, 3))[:, 0, 1]
        tensor([ 1.0000e+00, -4.3711e-08, -1.0000e+00,  1.1925e-08])
    """

    def __init__(self, side="real", window="hann", scaling="density", periodic=False):
        if side not in ("real", "imag"):
            raise ValueError(f"STFT: `side` must be 'real' or 'imag'. Received: side={side!r}")
        if scaling not in (None, "density", "spectrum"):
            raise ValueError(f"STFT: `scaling` must be None, 'density' or 'spectrum'. Received: scaling={scaling!r}")
        if isinstance(window, str):
            _window(window, 1, periodic)  # an unknown name fails here, not at build time
        self.side, self.window, self.scaling, self.periodic = side, window, scaling, periodic

    def draw(self, shape, dtype):
        if len(shape) != 3:
            raise ValueError(f"STFT initializer takes a shape (frame_length, 1, bins). Received: shape={shape}")
        frames, _, bins = shape
        time = torch.arange(frames, dtype=dtype).reshape(-1, 1, 1)
        freq = torch.arange(bins, dtype=dtype).reshape(1, 1, -1) / ((bins - 1) * 2)
        angle = -2.0 * math.pi * time * freq
        kernel = torch.cos(angle) if self.side == "real" else torch.sin(angle)
        if self.window is None:
            return kernel
        if isinstance(self.window, str):
            win = _window(self.window, frames, self.periodic)
        else:
            win = torch.as_tensor(np.asarray(self.window), dtype=torch.float64)
        if tuple(win.shape) != (frames,):
            raise ValueError(f"STFT: the window must have shape ({frames},). Received: shape={tuple(win.shape)}")
        scale = {"density": lambda: win.square().sum().sqrt(), "spectrum": lambda: win.abs().sum()}
        divisor = scale[self.scaling]() if self.scaling else 1.0
        return (kernel * (win / divisor).to(dtype).reshape(-1, 1, 1)).to(dtype)

    def get_config(self):
        window = self.window
        if not (window is None or isinstance(window, str)):
            window = np.asarray(window).tolist()
        return {"side": self.side, "window": window, "periodic": self.periodic, "scaling": self.scaling}


# Keras's longer names; the snake_case ones (``glorot_uniform(seed=1)``) follow the table below.
IdentityInitializer, OrthogonalInitializer, STFTInitializer = Identity, Orthogonal, STFT


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
    "stft": STFT,
}
with_class_names(_ALIASES)
_ALIASES.update(IdentityInitializer=Identity, OrthogonalInitializer=Orthogonal, STFTInitializer=STFT)
# Keras's short names (Keras 2 programs and RNN-cell examples write kernel_initializer="uniform").
_ALIASES.update(uniform=RandomUniform, normal=RandomNormal, one=Ones, zero=Zeros)
zeros, ones, constant, identity, orthogonal, stft = Zeros, Ones, Constant, Identity, Orthogonal, STFT
random_uniform, random_normal, truncated_normal, variance_scaling = (
    RandomUniform,
    RandomNormal,
    TruncatedNormal,
    VarianceScaling,
)
glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_uniform, lecun_normal = (
    GlorotUniform,
    GlorotNormal,
    HeUniform,
    HeNormal,
    LecunUniform,
    LecunNormal,
)


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
    if isinstance(identifier, type):  # a class, e.g. ``kernel_initializer=initializers.he_normal``
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(f"Could not interpret initializer: {identifier!r}")


def fresh(initializer):
    """A copy of ``initializer`` with its own random stream (plait's initializers; anything else
    is returned as is): what Keras's layers use when one initializer makes several weights, since
    an unseeded instance repeats its values."""
    return initializer.clone() if isinstance(initializer, Initializer) else initializer


def deserialize(config, custom_objects=None):
    """An initializer from Keras's ``{"class_name", "config"}`` dict or a name; ``custom_objects``
    maps extra class names to classes.

    Example:
        >>> deserialize({"class_name": "Constant", "config": {"value": 2.0}})((2,))
        tensor([2., 2.])
    """
    if custom_objects:
        name = config.get("class_name") if isinstance(config, dict) else config
        if name in custom_objects:
            found = custom_objects[name]
            return found.from_config(config.get("config", {})) if isinstance(config, dict) else found()
    return get(config)


def serialize(initializer):
    registered = custom_objects.registered_name(type(initializer)) or custom_objects.registered_name(initializer)
    if hasattr(initializer, "get_config"):
        return {"class_name": registered or type(initializer).__name__, "config": initializer.get_config()}
    if registered is not None:
        return registered
    raise TypeError(f"Cannot serialize initializer {initializer!r}")
