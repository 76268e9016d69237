"""Keras 3.15's other optimizers, schedules and serialization on plait, against Keras itself:
the same weights and gradients through several steps of both libraries' optimizers."""

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from plait import optimizers  # noqa: E402

# Keras's own numpy conversions on torch 2.13 + numpy 2 warn so; not plait's.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

SHAPES = [(4, 3), (3,), (2, 3, 5)]


def weights_and_grads(steps=5, shapes=SHAPES, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    w0 = [rng.normal(size=s).astype("float32") for s in shapes]
    grads = [[rng.normal(scale=scale, size=s).astype("float32") for s in shapes] for _ in range(steps)]
    return w0, grads


def run_keras(opt, w0, grads, paths=None, stateless=False):
    """Keras's optimizer on Keras variables (the torch backend), step by step."""
    variables = [keras.Variable(w, name=(paths or {}).get(i, f"v{i}")) for i, w in enumerate(w0)]
    if paths:
        for i, v in enumerate(variables):
            v._path = paths[i]
    if not stateless:
        for g in grads:
            opt.apply([torch.from_numpy(x) for x in g], variables)
        return [v.numpy() for v in variables]
    # Keras's stateless path: every read sees the values from before the step (as on JAX).
    opt.build(variables)
    values, opt_values = [v.value for v in variables], [v.value for v in opt.variables]
    for g in grads:
        values, opt_values = opt.stateless_apply(opt_values, [torch.from_numpy(x) for x in g], values)
    return [np.asarray(v.detach().cpu()) for v in values]


def run_plait(opt, w0, grads, paths=None):
    params = [torch.nn.Parameter(torch.from_numpy(w.copy())) for w in w0]
    for i, p in enumerate(params):
        p.path = (paths or {}).get(i, f"v{i}")
    for g in grads:
        opt.apply([torch.from_numpy(x) for x in g], params)
    return [p.detach().numpy() for p in params]


def assert_same_steps(name, kwargs, steps=5, rtol=1e-5, atol=1e-6, **options):
    w0, grads = weights_and_grads(steps, **options.pop("data", {}))
    ours = run_plait(getattr(optimizers, name)(**kwargs), w0, grads, options.get("paths"))
    theirs = run_keras(getattr(keras.optimizers, name)(**kwargs), w0, grads, **options)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    return ours


def assert_config_round_trip(name, kwargs):
    """plait's config builds Keras's optimizer with the same config, and back."""
    ours = getattr(optimizers, name)(**kwargs)
    theirs = getattr(keras.optimizers, name).from_config(ours.get_config())
    keras_config = theirs.get_config()
    back = getattr(optimizers, name).from_config(keras_config).get_config()
    assert set(back) == set(ours.get_config())
    for key, value in ours.get_config().items():
        for other in (keras_config[key], back[key]):  # Keras keeps the learning rate in float32
            assert value == (pytest.approx(other, rel=1e-7) if isinstance(value, float) else other), key
    return theirs


# ---------------------------------------------------------------- Lion
# Tolerances: float32 both sides, the same formula in a different op order: rtol 1e-5.
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"learning_rate": 0.01, "beta_1": 0.5, "beta_2": 0.9}, {"weight_decay": 0.1}, {"clipnorm": 0.5}],
)
def test_lion_matches_keras(kwargs):
    assert_same_steps("Lion", kwargs)


def test_lion_config_and_errors():
    assert_config_round_trip("Lion", {"learning_rate": 0.003, "beta_1": 0.8, "beta_2": 0.95, "weight_decay": 0.01})
    with pytest.raises(ValueError, match="beta_1.*Received: beta_1=0"):
        optimizers.Lion(beta_1=0)
