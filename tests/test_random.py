"""``plait.random`` against ``keras.random``: int seeds give Keras's own numbers (same torch
generator seeding); SeedGenerators advance; ``plait.utils.set_random_seed`` makes unseeded draws
repeat; moments, bounds, shapes and dtypes of each distribution."""

import os

import numpy as np
import pytest
import torch

import plait
from plait import random

os.environ.setdefault("KERAS_BACKEND", "torch")

# Keras's own Variable.__array__ predates numpy 2's `copy` keyword; that warning is Keras's.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


@pytest.fixture(scope="module")
def keras():
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("Keras was imported with another backend")
    return keras


SEEDED = [
    ("normal", ((3, 4),), {"mean": 1.0, "stddev": 2.0}),
    ("uniform", ((3, 4),), {"minval": -1.0, "maxval": 3.0}),
    ("uniform", ((),), {}),
    ("randint", ((3, 4), 0, 10), {}),
    ("truncated_normal", ((50,),), {"stddev": 0.5}),
    ("categorical", (np.log(np.array([[0.2, 0.8], [0.5, 0.5]], "float32")), 6), {}),
    ("shuffle", (np.arange(12, dtype="float32").reshape(6, 2),), {}),
    ("dropout", (torch.ones(4, 5), 0.5), {}),
    ("gamma", ((20,), 2.0), {}),
    ("binomial", ((20,), 10, 0.3), {}),
    ("beta", ((20,), 2.0, 3.0), {}),
]


@pytest.mark.parametrize("name,args,kwargs", SEEDED, ids=[c[0] for c in SEEDED])
def test_int_seed_gives_keras_numbers(keras, name, args, kwargs):
    ours = getattr(random, name)(*args, seed=1234, **kwargs)
    theirs = getattr(keras.random, name)(*args, seed=1234, **kwargs)
    assert ours.dtype == theirs.dtype and tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(ours.numpy(), keras.ops.convert_to_numpy(theirs), rtol=1e-6)
    torch.testing.assert_close(getattr(random, name)(*args, seed=1234, **kwargs), ours)  # stateless


def test_seed_generator_advances_like_keras(keras):
    ours, theirs = random.SeedGenerator(42), keras.random.SeedGenerator(42)
    for _ in range(3):
        a = random.normal((4,), seed=ours)
        b = keras.random.normal((4,), seed=theirs)
        np.testing.assert_allclose(a.numpy(), keras.ops.convert_to_numpy(b), rtol=1e-6)
    assert ours.state.tolist() == [42, 3]
    assert not torch.equal(random.normal((4,), seed=ours), a)


def test_seed_generator_config_and_errors():
    gen = random.SeedGenerator(7, name="gen")
    assert gen.get_config() == {"seed": 7, "name": "gen"}
    again = random.SeedGenerator.from_config(gen.get_config())
    torch.testing.assert_close(random.uniform((3,), seed=gen), random.uniform((3,), seed=again))
    with pytest.raises(ValueError, match="must be an integer"):
        random.SeedGenerator(seed=1.5)
    with pytest.raises(ValueError, match="either an integer or an instance of `SeedGenerator`"):
        random.normal((2,), seed="abc")
    with pytest.raises(ValueError, match="requires a floating point `dtype`"):
        random.uniform((2,), dtype="int32")
    with pytest.raises(ValueError, match="requires an integer `dtype`"):
        random.randint((2,), 0, 3, dtype="float32")
    with pytest.raises(ValueError, match="2-D tensor"):
        random.categorical([0.0, 1.0], 2)


def test_set_random_seed_makes_unseeded_draws_repeat():
    def draws():
        gen = random.SeedGenerator()  # its seed comes from Python's random
        return [
            random.normal((5,)),
            random.uniform((5,)),
            random.dropout(torch.ones(10), 0.5),
            random.shuffle(torch.arange(10)),
            random.gamma((5,), 1.5),
            random.normal((5,), seed=gen),
        ]

    plait.utils.set_random_seed(3)
    first = draws()
    plait.utils.set_random_seed(3)
    second = draws()
    plait.utils.set_random_seed(4)
    third = draws()
    for a, b, c in zip(first, second, third):
        torch.testing.assert_close(a, b)
        assert not torch.equal(a, c)
    assert not torch.equal(first[0], random.normal((5,)))  # successive unseeded draws differ


def test_distributions():
    n = 20000
    x = random.normal((n,), mean=2.0, stddev=3.0, seed=1)
    assert x.dtype == torch.float32 and abs(x.mean() - 2) < 0.1 and abs(x.std() - 3) < 0.1
    u = random.uniform((n,), minval=-2.0, maxval=1.0, dtype="float64", seed=1)
    assert u.dtype == torch.float64 and u.min() >= -2 and u.max() < 1 and abs(u.mean() + 0.5) < 0.05
    i = random.randint((n,), 3, 7, seed=1)
    assert i.dtype == torch.int32 and set(i.unique().tolist()) == {3, 4, 5, 6}
    t = random.truncated_normal((n,), mean=1.0, stddev=0.5, seed=1)
    assert t.min() > 0.0 and t.max() < 2.0 and abs(t.mean() - 1) < 0.02
    c = random.categorical(torch.log(torch.tensor([[0.1, 0.9]])), n, seed=1)
    assert c.shape == (1, n) and c.dtype == torch.int32 and abs(c.float().mean() - 0.9) < 0.02
    g = random.gamma((n,), alpha=3.0, seed=1)
    assert abs(g.mean() - 3) < 0.1 and abs(g.var() - 3) < 0.3
    b = random.binomial((n,), counts=10, probabilities=0.3, seed=1)
    assert abs(b.mean() - 3) < 0.1 and b.min() >= 0 and b.max() <= 10
    be = random.beta((n,), alpha=2.0, beta=3.0, seed=1)
    assert abs(be.mean() - 0.4) < 0.01 and be.min() > 0 and be.max() < 1


def test_dropout_and_shuffle():
    x = torch.ones(2000, 10)
    y = random.dropout(x, 0.25, seed=5)
    kept = y != 0
    assert abs(kept.float().mean() - 0.75) < 0.02 and torch.allclose(y[kept], torch.tensor(1 / 0.75))
    z = random.dropout(x, 0.5, noise_shape=(None, 1), seed=5)  # one decision per row
    assert ((z == 0).all(1) | (z != 0).all(1)).all()
    assert torch.equal(random.dropout(x, 0.0), x) and not random.dropout(x, 1.0).any()
    rows = torch.arange(20.0).reshape(10, 2)
    shuffled = random.shuffle(rows, seed=3)
    assert sorted(shuffled[:, 0].tolist()) == rows[:, 0].tolist() and torch.equal(
        shuffled[:, 1] - shuffled[:, 0], torch.ones(10)
    )


def test_random_follows_the_inputs_device():
    meta = torch.empty(3, 4, device="meta")
    assert random.dropout(meta, 0.5, seed=1).device.type == "meta"
    assert random.shuffle(meta, seed=1).device.type == "meta"


def test_sampling_layer_in_a_functional_model():
    # The keras-io VAE's Sampling layer: shape inference draws nothing and leaves the state alone.
    class Sampling(plait.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = random.SeedGenerator(1337)

        def call(self, inputs):
            z_mean, z_log_var = inputs
            batch, dim = plait.ops.shape(z_mean)
            epsilon = random.normal(shape=(batch, dim), seed=self.seed_generator)
            return z_mean + plait.ops.exp(0.5 * z_log_var) * epsilon

    x = plait.Input(shape=(4,))
    sampling = Sampling()
    z = sampling([plait.layers.Dense(2)(x), plait.layers.Dense(2)(x)])
    assert z.shape == (None, 2) and sampling.seed_generator.state.tolist() == [1337, 0]
    model = plait.Model(x, z)
    data = torch.randn(3, 4)
    first, second = model(data), model(data)
    assert first.shape == (3, 2) and not torch.equal(first, second)
    assert sampling.seed_generator.state.tolist() == [1337, 2]


def test_signatures_match_keras(keras):
    import inspect

    for name in random.__all__:
        ours, theirs = getattr(random, name), getattr(keras.random, name)
        if inspect.isclass(theirs):
            ours, theirs = ours.__init__, theirs.__init__
        assert inspect.signature(ours) == inspect.signature(theirs), name
