"""Random ops (Keras 3's ``keras.random``) on torch.

``seed`` is ``None``, an int or a :class:`SeedGenerator`, as in Keras:

* an int gives the same numbers on every call (a stateless op);
* a ``SeedGenerator`` gives new numbers on each call, reproducibly: its state advances;
* ``None`` draws a fresh seed from torch's global generator, so
  ``plait.utils.set_random_seed(s)`` makes a whole program's draws repeat.

A seed becomes a ``torch.Generator`` seeded with ``(seed + counter) & 0xFFFFFFFF``, as Keras's
torch backend seeds one, and each op draws with the same torch sampler Keras uses, so an int
seed gives the same numbers as Keras on the torch backend (``tests/test_random.py`` checks).

Example:
    >>> import plait
    >>> gen = plait.random.SeedGenerator(42)
    >>> a = plait.random.normal((2,), seed=gen)
    >>> b = plait.random.normal((2,), seed=gen)
    >>> bool((a != b).all()), plait.random.normal((2,), seed=7).equal(plait.random.normal((2,), seed=7))
    (True, True)
"""

import functools
import random as python_random

import torch

from plait.ops._backend import (
    _as_int32,
    convert_to_tensor,
    device_of,
    draw_seed,
    floatx,
    get_device,
    is_float_dtype,
    is_int_dtype,
    torch_generator,
)
from plait.ops._backend import (
    in_shape_inference as _in_shape_inference,
)
from plait.ops._backend import to_torch_dtype as _to_torch_dtype
from plait.utils import nest
from plait.utils.naming import to_snake_case, unique_name


class SeedGenerator:
    """A random state that advances on each draw (Keras's ``SeedGenerator``).

    Args:
        seed: the initial seed (an int); default: one drawn from Python's ``random``, so
            ``plait.utils.set_random_seed`` makes it repeat.
        name: a name, for printing.

    Attributes:
        state: an int32 tensor ``[seed, counter]``; each draw uses it, then adds 1 to the counter.

    Example:
        >>> import plait
        >>> gen = plait.random.SeedGenerator(seed=1337)
        >>> plait.random.uniform((3,), seed=gen).shape
        torch.Size([3])
        >>> gen.state
        tensor([1337,    1], dtype=torch.int32)
    """

    # What a layer's ``variables`` looks for among its attributes (layers cannot import this module).
    is_seed_generator = True

    def __init__(self, seed=None, name=None, **kwargs):
        if kwargs:
            raise ValueError(f"Unrecognized keyword arguments: {kwargs}")
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self._initial_seed = seed
        if seed is None:
            seed = python_random.randint(1, int(1e9))
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"Argument `seed` must be an integer. Received: seed={seed!r}")
        self.state = torch.tensor([_as_int32(seed), 0], dtype=torch.int32)

    def next(self, ordered=True):
        """The current ``[seed, counter]``; the state then advances (the counter by one, or
        Keras's unordered scramble)."""
        drawn = self.state.clone()
        if ordered:
            self.state = self.state + torch.tensor([0, 1], dtype=torch.int32)
        else:
            self.state = (self.state + 1) * 5387 % 933199
        return drawn

    def get_config(self):
        return {"seed": self._initial_seed, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<SeedGenerator name={self.name} state={self.state.tolist()}>"


def _sampling(seed, dtype):
    """The keywords every torch sampler below takes: a generator seeded from ``seed`` (None on
    the meta device: nothing is drawn), the dtype and the current device."""
    device = get_device()
    return {"generator": torch_generator(seed, device), "dtype": _to_torch_dtype(dtype), "device": device}


def _random_op(fn):
    """Put new tensors on the device of the tensor arguments (else torch's default)."""

    @functools.wraps(fn)
    def on_device(*args, **kwargs):
        leaves = nest.flatten((args, kwargs))
        if _in_shape_inference() and not any(isinstance(v, torch.Tensor) for v in leaves):
            # Drawn inside a layer's call while the graph infers shapes (a VAE's sampling
            # layer): answer on the meta device, without drawing or advancing a SeedGenerator.
            leaves = [torch.empty(0, device="meta")]
        with device_of(leaves):
            return fn(*args, **kwargs)

    return on_device


def _shape(shape):
    return (shape,) if isinstance(shape, int) else tuple(int(d) for d in shape)


@_random_op
def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Samples from a normal distribution: ``shape``, float ``dtype`` (default float32)."""
    return torch.normal(mean, stddev, size=_shape(shape), **_sampling(seed, dtype or floatx()))


@_random_op
def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Samples uniformly from ``[minval, maxval)``."""
    if dtype and not is_float_dtype(dtype):
        raise ValueError(f"`plait.random.uniform` requires a floating point `dtype`. Received: dtype={dtype} ")
    size = _shape(shape)
    # A scalar is the first of one drawn value, so its number is Keras's too.
    unit = torch.rand(size or (1,), **_sampling(seed, dtype or floatx()))
    scaled = minval + (maxval - minval) * unit
    return scaled if size else scaled[0]


@_random_op
def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Samples integers uniformly from ``[minval, maxval)``."""
    if dtype and not is_int_dtype(dtype):
        raise ValueError(f"`plait.random.randint` requires an integer `dtype`. Received: dtype={dtype} ")
    return torch.randint(minval, maxval, _shape(shape), **_sampling(seed, dtype))


@_random_op
def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Samples from a normal distribution, values more than 2 stddevs from the mean redrawn."""
    # Four standard-normal candidates per value; the first one inside (-2, 2) is kept (Keras's
    # rule, so the numbers match; a value with none inside keeps its first candidate).
    candidates = normal((*_shape(shape), 4), dtype=dtype, seed=seed)
    first_inside = (candidates.abs() < 2).to(torch.uint8).argmax(-1, keepdim=True)
    return candidates.gather(-1, first_inside).squeeze(-1) * stddev + mean


@_random_op
def categorical(logits, num_samples, dtype="int32", seed=None):
    """Draws ``num_samples`` class indices per row of ``logits`` (shape ``(batch, classes)``)."""
    logits = convert_to_tensor(logits)
    if logits.ndim != 2:
        raise ValueError(
            f"`logits` should be a 2-D tensor with shape [batch_size, num_classes]. Received: logits={logits}"
        )
    generator = torch_generator(seed, get_device())
    drawn = torch.multinomial(logits.softmax(-1), num_samples, replacement=True, generator=generator)
    return drawn.to(_to_torch_dtype(dtype))


@_random_op
def dropout(inputs, rate, noise_shape=None, seed=None):
    """Zeroes entries with probability ``rate`` and scales the rest by ``1 / (1 - rate)``.

    ``noise_shape`` broadcasts one mask over some axes (``None`` entries take ``inputs``' size).
    """
    inputs = convert_to_tensor(inputs)
    if rate in (0.0, 1.0):
        return inputs if rate == 0.0 else torch.zeros_like(inputs)
    # A SeedGenerator made without a seed counts as unseeded, as in Keras.
    unseeded = seed is None or (isinstance(seed, SeedGenerator) and seed.get_config()["seed"] is None)
    if unseeded and noise_shape is None:
        # torch's fused dropout, on the global generator (as Keras's torch backend does).
        return torch.nn.functional.dropout(inputs, p=rate, training=True)
    keep = 1.0 - rate
    size = tuple(inputs.shape) if noise_shape is None else tuple(noise_shape)
    size = tuple(d if n is None else n for d, n in zip(inputs.shape, size))  # None: the input's size
    odds = torch.full(size, keep, device=inputs.device)
    kept = torch.bernoulli(odds, generator=torch_generator(seed, get_device())).bool().expand(inputs.shape)
    return torch.where(kept, inputs / keep, torch.zeros_like(inputs))


@_random_op
def shuffle(x, axis=0, seed=None):
    """``x`` with its entries permuted along ``axis`` (one permutation per leading index)."""
    x = convert_to_tensor(x)
    axis = axis % x.ndim
    # Sorting uniform noise gives a random permutation along ``axis`` for each leading index;
    # the same permutation then moves every trailing entry.
    noise = torch.rand(x.shape[: axis + 1], generator=torch_generator(seed, get_device()), device=x.device)
    order = noise.argsort(axis)
    order = order.reshape(*order.shape, *[1] * (x.ndim - axis - 1)).expand(x.shape)
    return x.gather(axis, order)


def _under_global_seed(seed, sample):
    """``sample()`` with torch's global RNG seeded as a generator would be from ``seed``, then
    restored: torch's gamma, binomial and beta samplers take no generator."""
    if torch.device(get_device()).type == "meta":
        return sample()  # shape inference: nothing is drawn, the seed's state stays put
    first, second = draw_seed(seed)
    saved = torch.random.get_rng_state()
    torch.manual_seed(int(first + second) & 0xFFFFFFFF)
    try:
        return sample()
    finally:
        torch.random.set_rng_state(saved)


def _filled(value, shape):
    return torch.broadcast_to(convert_to_tensor(value, "float32"), shape)


def _sample(distribution, seed, dtype):
    return _under_global_seed(seed, distribution.sample).to(_to_torch_dtype(dtype or floatx()))


@_random_op
def gamma(shape, alpha, dtype=None, seed=None):
    """Samples from a gamma distribution of concentration ``alpha`` (rate 1)."""
    concentration = _filled(alpha, _shape(shape))
    rate = torch.ones_like(concentration)
    return _sample(torch.distributions.Gamma(concentration, rate), seed, dtype)


@_random_op
def binomial(shape, counts, probabilities, dtype=None, seed=None):
    """Samples the number of successes in ``counts`` trials of probability ``probabilities``."""
    size = _shape(shape)
    distribution = torch.distributions.Binomial(_filled(counts, size), probs=_filled(probabilities, size))
    return _sample(distribution, seed, dtype)


@_random_op
def beta(shape, alpha, beta, dtype=None, seed=None):
    """Samples from a beta distribution with concentrations ``alpha`` and ``beta``."""
    size = _shape(shape)
    return _sample(torch.distributions.Beta(_filled(alpha, size), _filled(beta, size)), seed, dtype)


__all__ = [
    "SeedGenerator",
    "beta",
    "binomial",
    "categorical",
    "dropout",
    "gamma",
    "normal",
    "randint",
    "shuffle",
    "truncated_normal",
    "uniform",
]
