"""Keras 3.15's other optimizers, schedules and serialization on plait, against Keras itself:
the same weights and gradients through several steps of both libraries' optimizers."""

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import plait  # noqa: E402
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


# ---------------------------------------------------------------- schedules
@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 10}),
        ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 7, "power": 2.0, "cycle": True}),
        ("PolynomialDecay", {"initial_learning_rate": 1.0, "decay_steps": 5, "end_learning_rate": 0.2, "power": 0.5}),
        ("CosineDecayRestarts", {"initial_learning_rate": 1.0, "first_decay_steps": 4}),
        ("CosineDecayRestarts", {"initial_learning_rate": 0.5, "first_decay_steps": 3, "t_mul": 1.0, "m_mul": 0.7}),
        ("CosineDecayRestarts", {"initial_learning_rate": 0.5, "first_decay_steps": 5, "t_mul": 1.5, "alpha": 0.1}),
    ],
)
def test_schedules_match_keras(name, kwargs):
    ours, theirs = getattr(optimizers.schedules, name)(**kwargs), getattr(keras.optimizers.schedules, name)(**kwargs)
    steps = range(0, 40)
    # Keras computes in float32: rtol 1e-5.
    np.testing.assert_allclose([ours(s) for s in steps], [float(theirs(s)) for s in steps], rtol=1e-5, atol=1e-7)
    config = optimizers.schedules.serialize(ours)
    assert config == keras.optimizers.schedules.serialize(theirs)
    assert keras.optimizers.schedules.deserialize(config).get_config() == ours.get_config()
    assert (
        optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(theirs)).get_config() == ours.get_config()
    )


def test_schedule_errors():
    with pytest.raises(ValueError, match="decay_steps.*Received: decay_steps=0"):
        optimizers.schedules.PolynomialDecay(0.1, 0)
    with pytest.raises(ValueError, match="first_decay_steps.*Received: first_decay_steps=-1"):
        optimizers.schedules.CosineDecayRestarts(0.1, -1)
    with pytest.raises(ValueError, match="Unknown learning-rate schedule"):
        optimizers.schedules.deserialize({"class_name": "Nope", "config": {}})


# ---------------------------------------------------------------- serialize / deserialize, get, compile by name
NEW = ["Adafactor", "Ftrl", "Lamb", "Lion", "Muon", "ScheduleFreeAdamW"]


@pytest.mark.parametrize("name", NEW + ["SGD", "Adam", "RMSprop"])
def test_serialize_round_trips_through_keras(name):
    schedule = optimizers.schedules.PolynomialDecay(0.1, 100, power=2.0)
    ours = getattr(optimizers, name)(learning_rate=schedule)
    config = optimizers.serialize(ours)
    if name == "Lamb":  # Keras 3.15 leaves Lamb out of its lookup table: its own round trip gives a str
        assert {k: v for k, v in keras.optimizers.serialize(keras.optimizers.Lamb()).items() if k != "config"} == {
            k: v for k, v in config.items() if k != "config"
        }
        theirs = keras.optimizers.Lamb.from_config(config["config"])
    else:
        theirs = keras.optimizers.deserialize(config)
    assert type(theirs).__name__ == name
    assert theirs.learning_rate.dtype is not None and isinstance(
        theirs._learning_rate, keras.optimizers.schedules.PolynomialDecay
    )
    back = optimizers.deserialize(keras.optimizers.serialize(theirs))
    assert type(back) is type(ours) and back.get_config().keys() == ours.get_config().keys()
    for key, value in back.get_config().items():  # Keras keeps floats in float32
        assert value == (
            pytest.approx(ours.get_config()[key], rel=1e-7) if isinstance(value, float) else ours.get_config()[key]
        )
    assert optimizers.get(name.lower()).__class__ is type(ours)  # Keras's names, any case


def test_loss_scale_optimizer_is_mixed_precisions_and_serializes_as_keras():
    assert optimizers.LossScaleOptimizer is plait.mixed_precision.LossScaleOptimizer
    ours = optimizers.LossScaleOptimizer(optimizers.SGD(learning_rate=0.5), initial_scale=128.0, dynamic_growth_steps=3)
    config = optimizers.serialize(ours)
    theirs = keras.optimizers.deserialize(config)
    assert (theirs.initial_scale, theirs.dynamic_growth_steps, type(theirs.inner_optimizer).__name__) == (
        128.0,
        3,
        "SGD",
    )
    back = optimizers.deserialize(keras.optimizers.serialize(theirs))
    assert isinstance(back, optimizers.LossScaleOptimizer) and back.dynamic_growth_steps == 3
    assert back.inner_optimizer.learning_rate == pytest.approx(0.5) and optimizers.get(back) is back


def test_get_and_deserialize_errors():
    with pytest.raises(ValueError, match="Unknown optimizer"):
        optimizers.deserialize({"class_name": "Adamz", "config": {}})
    with pytest.raises(TypeError, match="Could not interpret optimizer identifier.*Received: 3"):
        optimizers.get(3)
    with pytest.raises(ValueError, match="ema_momentum"):
        optimizers.Adam.from_config({"use_ema": True, "ema_momentum": 2.0})
    with pytest.raises(ImportError, match="Keras 2's"):
        optimizers.legacy.SGD()


@pytest.mark.parametrize("name", ["lion", "lamb", "ftrl", "adafactor", "muon", "schedulefreeadamw"])
def test_compile_by_name_trains_as_keras(name):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(16, 4)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")
    ours = plait.Sequential([plait.Input((4,)), plait.layers.Dense(3, activation="tanh"), plait.layers.Dense(2)])
    theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(2)])
    theirs.set_weights(ours.get_weights())
    ours.compile(optimizer=name, loss="mse")
    theirs.compile(optimizer=keras.optimizers.Lamb() if name == "lamb" else name, loss="mse")  # Keras lacks "lamb"
    assert type(ours.optimizer).__name__.lower() == name
    ours.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    stateless = name == "schedulefreeadamw"  # see test_schedule_free_adamw_matches_keras
    if stateless:
        return
    theirs.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)  # four steps of float32 training


# ---------------------------------------------------------------- MultiOptimizer
def test_multi_optimizer_matches_keras():
    w0, grads = weights_and_grads(4)
    paths = {0: "encoder/dense/kernel", 1: "encoder/dense/bias", 2: "head/kernel"}

    def build(lib):
        o = lib.optimizers
        routes = o.OptimizerMap(o.SGD(learning_rate=0.1, momentum=0.9), {"encoder/.*": o.Adam(learning_rate=0.01)})
        return o.MultiOptimizer(routes)

    ours_opt = build(plait)
    ours = run_plait(ours_opt, w0, grads, paths)
    theirs = run_keras(build(keras), w0, grads, paths)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert [o.iterations for o in ours_opt.optimizers] == [4, 4] and ours_opt.iterations == 4
    with pytest.raises(AttributeError, match="no single learning rate"):
        ours_opt.learning_rate  # noqa: B018
    config = optimizers.serialize(ours_opt)
    assert keras.optimizers.deserialize(config).get_config()["optimizer_map"]["class_name"] == "OptimizerMap"
    back = optimizers.deserialize(keras.optimizers.serialize(keras.optimizers.deserialize(config)))
    assert back.optimizers[1].get_config()["momentum"] == pytest.approx(0.9)


def test_multi_optimizer_in_fit_eager_and_compiled_step_and_state():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(16, 4)).astype("float32"), rng.normal(size=(16, 1)).astype("float32")
    results = []
    for eager in (False, True):  # the built-in step and Keras's own step (run_eagerly)
        torch.manual_seed(0)
        model = plait.Sequential(
            [plait.Input((4,)), plait.layers.Dense(3, name="encoder"), plait.layers.Dense(1, name="head")]
        )
        routes = optimizers.OptimizerMap(optimizers.SGD(learning_rate=0.05), {"encoder/.*": optimizers.Lion(0.01)})
        model.compile(optimizer=optimizers.MultiOptimizer(routes), loss="mse", run_eagerly=eager)
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        results.append(model.get_weights())
        state = model.optimizer.state_dict()
        assert state["iterations"] == 8 and state["0/iterations"] == 8 and "0/momentum.0" in state
    for a, b in zip(*results):  # the same rules either way: rtol 1e-5
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="LossScaleOptimizer cannot be used inside"):
        optimizers.OptimizerMap(optimizers.SGD(), {"a": optimizers.LossScaleOptimizer(optimizers.SGD())})


# ---------------------------------------------------------------- torch.optim in compile
def _two_layer_model():
    torch.manual_seed(0)
    return plait.Sequential(
        [plait.Input((4,)), plait.layers.Dense(3, activation="relu", name="a"), plait.layers.Dense(1, name="b")]
    )


def test_torch_sgd_with_param_groups_and_step_lr_matches_a_torch_loop():
    rng = np.random.default_rng(3)
    x, y = (
        torch.from_numpy(rng.normal(size=(12, 4)).astype("float32")),
        torch.from_numpy(rng.normal(size=(12, 1)).astype("float32")),
    )

    def groups(model):
        a, b = model.get_layer("a"), model.get_layer("b")
        return [
            {"params": list(a.parameters()), "lr": 0.1},
            {"params": list(b.parameters()), "lr": 0.02, "momentum": 0.5},
        ]

    model = _two_layer_model()
    opt = torch.optim.SGD(groups(model), lr=0.01, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    model.compile(optimizer=optimizers.TorchOptimizer(opt, sched), loss="mse")
    model.fit(x, y, batch_size=4, epochs=5, shuffle=False, verbose=0)

    reference = _two_layer_model()  # the same initial weights
    ref_opt = torch.optim.SGD(groups(reference), lr=0.01, momentum=0.9)
    ref_sched = torch.optim.lr_scheduler.StepLR(ref_opt, step_size=2, gamma=0.5)
    for _ in range(5):
        for i in range(0, 12, 4):
            ref_opt.zero_grad()
            torch.nn.functional.mse_loss(reference(x[i : i + 4]), y[i : i + 4]).backward()
            ref_opt.step()
        ref_sched.step()
    for a, b in zip(model.parameters(), reference.parameters()):  # same float32 ops in the same order
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.025, 0.005])
    assert model.optimizer.iterations == 15


def test_torch_optimizer_by_itself_per_step_scheduler_and_errors():
    model = _two_layer_model()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model.compile(optimizer=opt, loss="mse")  # a bare torch optimizer is wrapped
    assert isinstance(model.optimizer, optimizers.TorchOptimizer) and model.optimizer.optimizer is opt
    model.fit(torch.ones(8, 4), torch.ones(8, 1), batch_size=4, epochs=1, verbose=0)
    assert opt.state[next(iter(model.parameters()))]["step"].item() == 2

    model = _two_layer_model()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5**step)
    model.compile(optimizer=optimizers.TorchOptimizer(opt, sched, scheduler_interval="step"), loss="mse")
    model.fit(torch.ones(8, 4), torch.ones(8, 1), batch_size=4, epochs=1, verbose=0)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.25)
    model.optimizer.learning_rate = 0.1  # as a callback sets it
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)

    model = _two_layer_model()
    stray = torch.nn.Parameter(torch.zeros(7))
    model.compile(optimizer=torch.optim.SGD([*model.parameters(), stray], lr=0.1), loss="mse")
    with pytest.raises(ValueError, match=r"holds 1 tensor\(s\) that are not trainable parameters.*shape \(7,\)"):
        model.fit(torch.ones(4, 4), torch.ones(4, 1), verbose=0)
    with pytest.raises(ValueError, match="scheduler_interval"):
        optimizers.TorchOptimizer(torch.optim.SGD([stray], lr=0.1), scheduler_interval="batch")
    with pytest.raises(ValueError, match="no Keras optimizer config"):
        optimizers.TorchOptimizer(torch.optim.SGD([stray], lr=0.1)).get_config()


def test_torch_optimizer_reduce_lr_on_plateau_reads_the_epoch_logs():
    model = _two_layer_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # the loss stays flat
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    opt.param_groups[0]["lr"] = 0.0
    model.compile(optimizer=optimizers.TorchOptimizer(opt, sched), loss="mse")
    model.fit(
        torch.ones(4, 4), torch.ones(4, 1), validation_data=(torch.ones(4, 4), torch.ones(4, 1)), epochs=3, verbose=0
    )
    assert sched.num_bad_epochs == 0 and sched.best == pytest.approx(model.history.history["val_loss"][0])


def test_keras_optimizer_names_exist():
    missing = [n for n in dir(keras.optimizers) if not n.startswith("_") and not hasattr(optimizers, n)]
    assert missing == []
    missing = [
        n for n in dir(keras.optimizers.schedules) if not n.startswith("_") and not hasattr(optimizers.schedules, n)
    ]
    assert missing == []


# ---------------------------------------------------------------- saving
@pytest.mark.parametrize("name", ["Lion", "Lamb", "Ftrl", "ScheduleFreeAdamW"])
def test_new_optimizers_state_through_keras_files(tmp_path, name):
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(8, 4)).astype("float32"), rng.normal(size=(8, 1)).astype("float32")
    model = plait.Sequential([plait.Input((4,)), plait.layers.Dense(3), plait.layers.Dense(1)])
    model.compile(optimizer=getattr(optimizers, name)(learning_rate=0.01), loss="mse")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    theirs = keras.saving.load_model(tmp_path / "m.keras")
    assert type(theirs.optimizer).__name__ == name and int(theirs.optimizer.iterations.numpy()) == 2
    ours_state = model.optimizer.state_dict()
    slot = sorted(k for k in ours_state if k != "iterations")[0]  # the first slot of the first weight
    # Keras's variables: iterations, learning rate, then the slots; plait's Dense kernel is torch's (out, in).
    np.testing.assert_allclose(theirs.optimizer.variables[2].numpy(), ours_state[slot].numpy().T, rtol=1e-6)
    back = plait.saving.load_model(tmp_path / "m.keras")
    for key, value in back.optimizer.state_dict().items():
        np.testing.assert_allclose(np.asarray(value), np.asarray(ours_state[key]), rtol=1e-6)
    model.save(tmp_path / "m.plait")
    again = plait.saving.load_model(tmp_path / "m.plait")
    assert type(again.optimizer) is type(model.optimizer) and again.optimizer.iterations == 2


def test_optimizers_keras_files_cannot_hold_are_refused_and_plait_files_keep(tmp_path):
    model = plait.Sequential([plait.Input((4,)), plait.layers.Dense(3, name="encoder"), plait.layers.Dense(1)])
    routes = optimizers.OptimizerMap(optimizers.Adam(), {"encoder/.*": optimizers.Muon(learning_rate=0.01)})
    model.compile(optimizer=optimizers.MultiOptimizer(routes), loss="mse")
    model.fit(np.ones((4, 4), "float32"), np.ones((4, 1), "float32"), verbose=0)
    with pytest.raises(ValueError, match="cannot write the state of optimizer MultiOptimizer into a .keras file"):
        model.save(tmp_path / "m.keras")
    model.save(tmp_path / "m.plait")
    back = plait.saving.load_model(tmp_path / "m.plait")
    assert isinstance(back.optimizer, optimizers.MultiOptimizer) and back.optimizer.iterations == 1
    for key, value in model.optimizer.state_dict().items():
        np.testing.assert_allclose(np.asarray(back.optimizer.state_dict()[key]), np.asarray(value))
    model.compile(optimizer=torch.optim.SGD(model.parameters(), lr=0.1), loss="mse")
    with pytest.raises(ValueError, match="no Keras optimizer config"):
        model.save(tmp_path / "t.plait")


def test_keras_file_compiled_with_adafactor_loads_with_a_fresh_state(tmp_path):
    theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    theirs.compile(optimizer=keras.optimizers.Adafactor(learning_rate=0.01), loss="mse")
    theirs.fit(np.ones((4, 4), "float32"), np.ones((4, 2), "float32"), verbose=0)
    theirs.save(tmp_path / "k.keras")
    with pytest.warns(UserWarning, match="cannot read the state of optimizer Adafactor"):
        ours = plait.saving.load_model(tmp_path / "k.keras")
    assert isinstance(ours.optimizer, optimizers.Adafactor) and ours.optimizer.learning_rate == pytest.approx(0.01)
