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
    variables = [keras.Variable(w, name=f"v{i}") for i, w in enumerate(w0)]
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


# ---------------------------------------------------------------- Lamb, Ftrl
@pytest.mark.parametrize("kwargs", [{}, {"learning_rate": 0.01, "beta_1": 0.8, "epsilon": 1e-3}, {"weight_decay": 0.1}])
def test_lamb_matches_keras(kwargs):
    assert_same_steps("Lamb", kwargs)


def test_lamb_trust_ratio_is_one_for_zero_weights():
    w0, grads = (
        [np.zeros((2, 3), "float32"), np.ones(3, "float32")],
        [[np.ones((2, 3), "float32"), np.zeros(3, "float32")]],
    )
    ours = run_plait(optimizers.Lamb(learning_rate=0.1), w0, grads)
    theirs = run_keras(keras.optimizers.Lamb(learning_rate=0.1), w0, grads)
    for a, b in zip(ours, theirs):  # Keras's bias corrections are float32 powers: rtol 1e-5
        np.testing.assert_allclose(a, b, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"learning_rate": 0.05, "learning_rate_power": -0.3, "initial_accumulator_value": 0.5},
        {"learning_rate": 0.05, "l1_regularization_strength": 0.01, "l2_regularization_strength": 0.02},
        {"learning_rate": 0.05, "l2_shrinkage_regularization_strength": 0.1, "beta": 0.5},
        {"learning_rate": 0.05, "learning_rate_power": 0.0, "clipvalue": 0.5},
    ],
)
def test_ftrl_matches_keras(kwargs):
    assert_same_steps("Ftrl", kwargs, rtol=2e-5, atol=1e-6)


def test_lamb_ftrl_configs_and_errors():
    assert_config_round_trip("Lamb", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-6})
    assert_config_round_trip(
        "Ftrl", {"learning_rate_power": -0.25, "l1_regularization_strength": 0.1, "beta": 0.2, "clipnorm": 1.0}
    )
    with pytest.raises(ValueError, match="l1_regularization_strength.*Received: l1_regularization_strength=-1"):
        optimizers.Ftrl(l1_regularization_strength=-1)
    with pytest.raises(ValueError, match="learning_rate_power.*Received: learning_rate_power=0.5"):
        optimizers.Ftrl(learning_rate_power=0.5)


# ---------------------------------------------------------------- Adafactor
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"learning_rate": 0.5},  # capped by 1/sqrt(t) (relative_step)
        {"learning_rate": 0.5, "relative_step": False, "clip_threshold": 0.5, "beta_2_decay": -0.5},
        {"learning_rate": 0.01, "epsilon_2": 10.0, "weight_decay": 0.1},
    ],
)
def test_adafactor_matches_keras(kwargs):
    assert_same_steps("Adafactor", kwargs, data={"shapes": [(4, 3), (3,), (2, 3, 5), ()]})


def test_adafactor_with_a_schedule_and_config():
    schedule = {
        "class_name": "ExponentialDecay",
        "config": {"initial_learning_rate": 0.9, "decay_steps": 2, "decay_rate": 0.5},
    }
    w0, grads = weights_and_grads(4)
    ours = run_plait(optimizers.Adafactor(learning_rate=optimizers.schedules.deserialize(schedule)), w0, grads)
    theirs = run_keras(
        keras.optimizers.Adafactor(learning_rate=keras.optimizers.schedules.deserialize(schedule)), w0, grads
    )
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert_config_round_trip("Adafactor", {"beta_2_decay": -0.6, "epsilon_2": 1e-2, "relative_step": False})


# ---------------------------------------------------------------- ScheduleFreeAdamW
# Keras's update reads the momentum's value before updating it; on the torch backend that
# value is the variable's own tensor, which the update changes in place, so Keras's eager torch
# path uses the new momentum where its formula (and the JAX/TensorFlow backends, and the paper)
# uses the old one. Keras's stateless path reads the old value on torch too: plait is compared
# with that, and the eager torch path is checked to differ exactly by that aliasing.
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"learning_rate": 0.01, "beta_1": 0.5, "epsilon": 1e-3}, {"warmup_steps": 3}, {"weight_decay": 0.1}],
)
def test_schedule_free_adamw_matches_keras(kwargs):
    assert_same_steps("ScheduleFreeAdamW", kwargs, stateless=True)


def test_schedule_free_adamw_keras_eager_torch_path_uses_the_updated_momentum():
    w0, grads = weights_and_grads(1)  # one step: both readings agree
    ours = run_plait(optimizers.ScheduleFreeAdamW(learning_rate=0.01), w0, grads)
    theirs = run_keras(keras.optimizers.ScheduleFreeAdamW(learning_rate=0.01), w0, grads)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    w0, grads = weights_and_grads(3)
    eager = run_keras(keras.optimizers.ScheduleFreeAdamW(learning_rate=0.01), w0, grads)
    ours = run_plait(optimizers.ScheduleFreeAdamW(learning_rate=0.01), w0, grads)
    assert max(np.abs(a - b).max() for a, b in zip(ours, eager)) > 1e-4


def test_schedule_free_adamw_config():
    assert_config_round_trip("ScheduleFreeAdamW", {"beta_1": 0.95, "epsilon": 1e-6, "warmup_steps": 10})


# ---------------------------------------------------------------- Muon
MUON_PATHS = {
    0: "dense/kernel",
    1: "dense/bias",
    2: "conv/kernel",
    3: "embedding/embeddings",
    4: "head/kernel",
    5: "mid/kernel",
}
MUON_SHAPES = [(4, 3), (3,), (2, 3, 5), (6, 4), (3, 2), (4, 3)]


# The Newton-Schulz iterations amplify float32 rounding: rtol 1e-4.
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"learning_rate": 0.01, "exclude_layers": ["head"], "nesterov": False, "rms_rate": None},
        {"learning_rate": 0.01, "exclude_embeddings": False, "adam_lr_ratio": 0.1, "ns_steps": 3, "momentum": 0.9},
        {"weight_decay": 0.1, "adam_weight_decay": 0.2, "learning_rate": 0.02},
    ],
)
def test_muon_matches_keras(kwargs):
    assert_same_steps("Muon", kwargs, rtol=1e-4, atol=1e-5, paths=MUON_PATHS, data={"shapes": MUON_SHAPES})


def test_muon_chooses_adam_by_rank_and_path_and_config():
    opt = optimizers.Muon(exclude_layers=["head"])
    params = [torch.nn.Parameter(torch.zeros(s)) for s in MUON_SHAPES]
    for p, path in zip(params, MUON_PATHS.values()):
        p.path = path
    assert [opt.uses_adam(p) for p in params] == [False, True, True, True, True, False]
    assert_config_round_trip("Muon", {"exclude_layers": ["head"], "ns_steps": 4, "rms_rate": None, "momentum": 0.9})
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        opt.orthogonalize(torch.zeros(3))
