"""Random ops (Keras 3's ``keras.random``) on torch.

``seed`` is ``None``, an int or a :class:`SeedGenerator`, as in Keras:

* an int gives the same numbers on every call (a stateless op);
* a ``SeedGenerator`` gives new numbers on each call, reproducibly: its state advances;
* ``None`` draws a fresh seed from torch's global generator, so
  ``plait.utils.set_random_seed(s)`` makes a whole program's draws repeat.

Seeds become a ``torch.Generator`` the way Keras's torch backend makes them
(``manual_seed((seed + counter) & 0xFFFFFFFF)``), so an int seed gives the same numbers as Keras
on the torch backend. Ported from Keras 3.15 (``keras/src/random/`` and
``keras/src/backend/torch/random.py``; Apache-2.0, the Keras authors).

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
        """The current ``[seed, counter]``; the state then advances."""
        current = self.state.clone()
        if ordered:
            self.state = self.state + torch.tensor([0, 1], dtype=torch.int32)
        else:
            self.state = (self.state + 1) * 5387 % 933199
        return current

    def get_config(self):
        return {"seed": self._initial_seed, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<SeedGenerator name={self.name} state={self.state.tolist()}>"


def _generator(seed):
    return torch_generator(seed, get_device())


def _random_op(fn):
    """Put new tensors on the device of the tensor arguments (else torch's default)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        leaves = nest.flatten((args, kwargs))
        if not any(isinstance(v, torch.Tensor) for v in leaves) and _in_shape_inference():
            # Drawn inside a layer's call while the graph infers shapes (a VAE's sampling
            # layer): answer on the meta device, without drawing or advancing a SeedGenerator.
            leaves = [torch.empty(0, device="meta")]
        with device_of(leaves):
            return fn(*args, **kwargs)

    return wrapper


def _shape(shape):
    return tuple(int(d) for d in shape) if not isinstance(shape, int) else (shape,)


@_random_op
def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Samples from a normal distribution: ``shape``, float ``dtype`` (default float32)."""
    dtype = _to_torch_dtype(dtype or floatx())
    return torch.normal(mean, stddev, size=_shape(shape), generator=_generator(seed), dtype=dtype, device=get_device())


@_random_op
def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Samples uniformly from ``[minval, maxval)``."""
    if dtype and not is_float_dtype(dtype):
        raise ValueError(f"`plait.random.uniform` requires a floating point `dtype`. Received: dtype={dtype} ")
    dtype = _to_torch_dtype(dtype or floatx())
    requested = _shape(shape)
    # Keras draws one value for a scalar shape and takes it (same numbers as Keras).
    rand = torch.rand(size=requested or (1,), generator=_generator(seed), dtype=dtype, device=get_device())
    output = (maxval - minval) * rand + minval
    return output if requested else output[0]


@_random_op
def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Samples integers uniformly from ``[minval, maxval)``."""
    if dtype and not is_int_dtype(dtype):
        raise ValueError(f"`plait.random.randint` requires an integer `dtype`. Received: dtype={dtype} ")
    return torch.randint(
        low=minval,
        high=maxval,
        size=_shape(shape),
        generator=_generator(seed),
        dtype=_to_torch_dtype(dtype),
        device=get_device(),
    )


@_random_op
def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Samples from a normal distribution, values more than 2 stddevs from the mean redrawn."""
    dtype = _to_torch_dtype(dtype)
    shape = _shape(shape)
    # Keras's way: draw 4 candidates per value, keep the first within (-2, 2).
    x = normal(shape + (4,), mean=0, stddev=1, dtype=dtype, seed=seed)
    valid = (x > -2) & (x < 2)
    indexes = valid.max(-1, keepdim=True)[1]
    return x.gather(-1, indexes).squeeze(-1) * stddev + mean


@_random_op
def categorical(logits, num_samples, dtype="int32", seed=None):
    """Draws ``num_samples`` class indices per row of ``logits`` (shape ``(batch, classes)``)."""
    logits = convert_to_tensor(logits)
    if logits.ndim != 2:
        raise ValueError(
            f"`logits` should be a 2-D tensor with shape [batch_size, num_classes]. Received: logits={logits}"
        )
    probs = torch.softmax(logits, dim=-1)
    samples = torch.multinomial(probs, num_samples, replacement=True, generator=_generator(seed))
    return samples.type(_to_torch_dtype(dtype))


@_random_op
def dropout(inputs, rate, noise_shape=None, seed=None):
    """Zeroes entries with probability ``rate`` and scales the rest by ``1 / (1 - rate)``.

    ``noise_shape`` broadcasts one mask over some axes (``None`` entries take ``inputs``' size).
    """
    inputs = convert_to_tensor(inputs)
    if rate == 1.0:
        return torch.zeros_like(inputs)
    if rate == 0.0:
        return inputs
    seeded = seed is not None and not (isinstance(seed, SeedGenerator) and seed._initial_seed is None)
    if seeded or noise_shape is not None:
        keep_prob = 1.0 - rate
        shape = (
            inputs.shape if noise_shape is None else [s if n is None else n for s, n in zip(inputs.shape, noise_shape)]
        )
        keep = torch.full(tuple(shape), keep_prob, device=inputs.device)
        generator = _generator(seed)
        mask = (torch.bernoulli(keep, generator=generator) if generator is not None else torch.bernoulli(keep)).bool()
        mask = torch.broadcast_to(mask, inputs.shape)
        return torch.where(mask, inputs / keep_prob, torch.zeros_like(inputs))
    # Unseeded: torch's fused dropout, on the global generator (as Keras's torch backend does).
    return torch.nn.functional.dropout(inputs, p=rate, training=True)


@_random_op
def shuffle(x, axis=0, seed=None):
    """``x`` with its entries permuted along ``axis`` (one permutation per leading index)."""
    x = convert_to_tensor(x)
    # Ref: https://github.com/pytorch/pytorch/issues/71409 (as Keras does it).
    perm = torch.rand(x.shape[: axis + 1], generator=_generator(seed), device=x.device).argsort(axis)
    for _ in range(x.ndim - axis - 1):
        perm.unsqueeze_(-1)
    perm = perm.repeat(*[1] * (axis + 1), *x.shape[axis + 1 :])
    return x.gather(axis, perm)


def _with_seeded_global_rng(seed, sample):
    """Run ``sample()`` with torch's global RNG seeded from ``seed``, then restore it (Keras's
    way for distributions that take no generator)."""
    if torch.device(get_device()).type == "meta":
        return sample()  # shape inference: nothing is drawn, the seed's state stays put
    first, second = draw_seed(seed)
    state = torch.random.get_rng_state()
    torch.manual_seed(int(first + second) & 0xFFFFFFFF)
    try:
        return sample()
    finally:
        torch.random.set_rng_state(state)


@_random_op
def gamma(shape, alpha, dtype=None, seed=None):
    """Samples from a gamma distribution of concentration ``alpha`` (rate 1)."""
    dtype = _to_torch_dtype(dtype or floatx())
    shape = _shape(shape)
    alpha = torch.broadcast_to(convert_to_tensor(alpha, "float32"), shape)
    dist = torch.distributions.Gamma(alpha, torch.ones(shape, device=alpha.device))
    return _with_seeded_global_rng(seed, dist.sample).type(dtype)


@_random_op
def binomial(shape, counts, probabilities, dtype=None, seed=None):
    """Samples the number of successes in ``counts`` trials of probability ``probabilities``."""
    dtype = _to_torch_dtype(dtype or floatx())
    shape = _shape(shape)
    counts = torch.broadcast_to(convert_to_tensor(counts, "float32"), shape)
    probabilities = torch.broadcast_to(convert_to_tensor(probabilities, "float32"), shape)
    dist = torch.distributions.Binomial(total_count=counts, probs=probabilities)
    return _with_seeded_global_rng(seed, dist.sample).type(dtype)


@_random_op
def beta(shape, alpha, beta, dtype=None, seed=None):
    """Samples from a beta distribution with concentrations ``alpha`` and ``beta``."""
    dtype = _to_torch_dtype(dtype or floatx())
    shape = _shape(shape)
    alpha = torch.broadcast_to(convert_to_tensor(alpha, "float32"), shape)
    beta = torch.broadcast_to(convert_to_tensor(beta, "float32"), shape)
    dist = torch.distributions.Beta(concentration1=alpha, concentration0=beta)
    return _with_seeded_global_rng(seed, dist.sample).type(dtype)


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
