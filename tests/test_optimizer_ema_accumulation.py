"""Keras 3's base-optimizer arguments on plait, against Keras itself: ``use_ema`` (with and
without ``ema_overwrite_frequency``), ``gradient_accumulation_steps``, ``loss_scale_factor``,
the ``SwapEMAWeights`` callback, configs, bad values and ``.keras`` files with the EMA.

Twins: the same weights, data and batches in both libraries; weights compared after ``fit``
(which ends with ``finalize_variable_values``) and after bare ``apply`` steps (before it)."""

import numpy as np
import pytest
import torch

from tests.twins import keras_or_skip

keras = keras_or_skip()

import plait  # noqa: E402
from plait import optimizers  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

RTOL, ATOL = 1e-5, 1e-6  # float32 through ~10 steps of the same arithmetic in another order


def data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 5)).astype("float32"), rng.normal(size=(n, 2)).astype("float32")


def twins(plait_opt, keras_opt):
    """The same two-layer model in both libraries, compiled with the optimizers given."""
    ours = plait.Sequential([plait.Input((5,)), plait.layers.Dense(4, activation="tanh"), plait.layers.Dense(2)])
    theirs = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(2)])
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    ours.compile(plait_opt, "mse")
    theirs.compile(keras_opt, "mse")
    return ours, theirs


def assert_weights_close(ours, theirs, rtol=RTOL, atol=ATOL):
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


def fit_both(name, kwargs, epochs=2, batch_size=4, callbacks=(), **fit_kwargs):
    ours, theirs = twins(getattr(optimizers, name)(**kwargs), getattr(keras.optimizers, name)(**kwargs))
    x, y = data()
    kw = dict(epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0, **fit_kwargs)
    h1 = ours.fit(x, y, callbacks=[c() for c in callbacks], **kw)
    h2 = theirs.fit(x, y, callbacks=[c(keras) for c in callbacks], **kw)
    return ours, theirs, h1, h2


CASES = [
    ("SGD", {"learning_rate": 0.1, "use_ema": True}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "use_ema": True, "ema_momentum": 0.8}),
    ("Adam", {"learning_rate": 0.01, "use_ema": True, "ema_overwrite_frequency": 3}),
    ("AdamW", {"learning_rate": 0.01, "use_ema": True, "ema_momentum": 0.9, "ema_overwrite_frequency": 4}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.5, "gradient_accumulation_steps": 2}),
    ("Adam", {"learning_rate": 0.01, "gradient_accumulation_steps": 3}),
    ("AdamW", {"learning_rate": 0.01, "gradient_accumulation_steps": 2, "clipnorm": 0.1}),
    ("Adam", {"learning_rate": 0.01, "gradient_accumulation_steps": 2, "use_ema": True, "ema_overwrite_frequency": 2}),
    ("SGD", {"learning_rate": 0.1, "loss_scale_factor": 128.0}),
    ("Adam", {"learning_rate": 0.01, "loss_scale_factor": 3.0, "use_ema": True}),
    ("RMSprop", {"learning_rate": 0.01, "use_ema": True, "gradient_accumulation_steps": 3}),
]


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[f"{n}-{sorted(k)}" for n, k in CASES])
def test_fit_matches_keras(name, kwargs):
    ours, theirs, h1, h2 = fit_both(name, kwargs)
    assert_weights_close(ours, theirs)
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=RTOL)
    assert int(ours.optimizer.iterations) == int(theirs.optimizer.iterations)


def test_accumulation_with_a_schedule_sees_the_calls():
    # Keras: a schedule reads the count of calls; Adam's bias correction the count of updates.
    def schedule(lib):
        return lib.optimizers.schedules.ExponentialDecay(0.05, decay_steps=2, decay_rate=0.5)

    for name in ("SGD", "Adam"):
        ours, theirs = twins(
            getattr(optimizers, name)(schedule(plait), gradient_accumulation_steps=3, clipnorm=0.5),
            getattr(keras.optimizers, name)(schedule(keras), gradient_accumulation_steps=3, clipnorm=0.5),
        )
        x, y = data()
        ours.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
        theirs.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
        assert_weights_close(ours, theirs)
        assert ours.optimizer.learning_rate == pytest.approx(float(theirs.optimizer.learning_rate), rel=1e-6)


def keras_apply_steps(opt, w0, grads):
    variables = [keras.Variable(w) for w in w0]
    for g in grads:
        opt.apply([None if x is None else torch.from_numpy(x) for x in g], variables)
    return [v.numpy() for v in variables], opt


def plait_apply_steps(opt, w0, grads):
    params = [torch.nn.Parameter(torch.from_numpy(w.copy())) for w in w0]
    for g in grads:
        opt.apply([None if x is None else torch.from_numpy(x) for x in g], params)
    return [p.detach().numpy() for p in params], opt


@pytest.mark.filterwarnings("ignore:Gradients do not exist for variables")  # Keras's, for the None
@pytest.mark.parametrize(
    "kwargs",
    [
        {"use_ema": True},
        {"use_ema": True, "ema_overwrite_frequency": 2, "gradient_accumulation_steps": 2},
        {"use_ema": True, "gradient_accumulation_steps": 3, "weight_decay": 0.1},
    ],
)
def test_apply_keeps_keras_averages_and_variables(kwargs):
    # Before any finalize: the weights and every optimizer variable (averages, accumulators,
    # moments) in Keras's order, with the steps' gradients including a None.
    rng = np.random.default_rng(1)
    w0 = [rng.normal(size=s).astype("float32") for s in ((3, 2), (2,))]
    grads = [[rng.normal(size=w.shape).astype("float32") for w in w0] for _ in range(7)]
    grads[4][1] = None  # one step without the bias's gradient: skipped, its average moves on
    ours, opt = plait_apply_steps(optimizers.Adam(0.05, **kwargs), w0, grads)
    theirs, kopt = keras_apply_steps(keras.optimizers.Adam(0.05, **kwargs), w0, grads)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    slots = [*opt.extra_slots, "momentum", "velocity"]
    by_name = {v.path.split("/")[-1]: v.numpy() for v in kopt.variables[2:]}
    for slot in slots:
        for i, tensor in enumerate(opt._state[slot]):
            key = [k for k in by_name if k.endswith(slot)][i]
            np.testing.assert_allclose(tensor.numpy(), by_name[key], rtol=RTOL, atol=ATOL)
    assert opt.iterations == int(kopt.iterations)
    opt.finalize_variable_values()
    kvars = [keras.Variable(w) for w in ours]
    kopt.finalize_variable_values(kvars)  # only the averages matter here
    for p, v in zip(opt.params, kvars):
        np.testing.assert_allclose(p.detach().numpy(), v.numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.filterwarnings("ignore:Gradients do not exist for variables")
@pytest.mark.parametrize(
    "name", ["Adagrad", "Adadelta", "Adamax", "Nadam", "Lion", "Lamb", "Ftrl", "Adafactor", "Muon"]
)
@pytest.mark.parametrize(
    "kwargs", [{"use_ema": True, "ema_overwrite_frequency": 3}, {"use_ema": True, "gradient_accumulation_steps": 2}]
)
def test_every_rule_takes_the_base_arguments(name, kwargs):
    # Measured: at most 1.1e-6 apart after 7 steps (Muon's Newton-Schulz iteration the most).
    rng = np.random.default_rng(1)
    w0 = [rng.normal(size=s).astype("float32") for s in ((3, 2), (2,))]
    grads = [[rng.normal(size=w.shape).astype("float32") for w in w0] for _ in range(7)]
    ours, _ = plait_apply_steps(getattr(optimizers, name)(0.05, **kwargs), w0, grads)
    theirs, _ = keras_apply_steps(getattr(keras.optimizers, name)(0.05, **kwargs), w0, grads)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=5e-6)


def test_state_dict_carries_the_averages_accumulators_and_calls():
    # What BackupAndRestore keeps: resuming from it continues as the uninterrupted optimizer.
    rng = np.random.default_rng(2)
    w0 = [rng.normal(size=(3, 2)).astype("float32")]
    grads = [[rng.normal(size=(3, 2)).astype("float32")] for _ in range(8)]
    kwargs = {"use_ema": True, "ema_momentum": 0.9, "gradient_accumulation_steps": 3}
    whole, opt = plait_apply_steps(optimizers.Adam(0.05, **kwargs), w0, grads)
    first, half = plait_apply_steps(optimizers.Adam(0.05, **kwargs), w0, grads[:4])
    resumed = optimizers.Adam(0.05, **kwargs)
    params = [torch.nn.Parameter(torch.from_numpy(w.copy())) for w in first]
    resumed.build(params)
    resumed.load_state_dict({k: v.clone() if torch.is_tensor(v) else v for k, v in half.state_dict().items()})
    assert (resumed.iterations, resumed.apply_calls) == (1, 4)
    for g in grads[4:]:
        resumed.apply([torch.from_numpy(x) for x in g])
    np.testing.assert_array_equal(params[0].detach().numpy(), whole[0])
    np.testing.assert_array_equal(resumed.moving_averages[0].numpy(), opt.moving_averages[0].numpy())


def test_loss_scale_factor_scales_the_loss_and_unscales_the_gradients():
    opt = optimizers.SGD(1.0, loss_scale_factor=4.0)
    assert float(opt.scale_loss(torch.tensor(2.0))) == 8.0
    assert float(optimizers.SGD(1.0).scale_loss(torch.tensor(2.0))) == 2.0  # Keras: every optimizer has it
    w = torch.nn.Parameter(torch.zeros(2))
    opt.apply([torch.tensor([4.0, 8.0])], [w])
    assert w.tolist() == [-1.0, -2.0]


def swap_callback(swap_on_epoch):
    return lambda lib=plait: lib.callbacks.SwapEMAWeights(swap_on_epoch=swap_on_epoch)


@pytest.mark.parametrize("swap_on_epoch", [False, True])
def test_swap_ema_weights_matches_keras(swap_on_epoch):
    x, y = data(seed=3)
    kwargs = {"learning_rate": 0.1, "momentum": 0.9, "use_ema": True, "ema_momentum": 0.7}
    ours, theirs, h1, h2 = fit_both(
        "SGD", kwargs, epochs=3, callbacks=[swap_callback(swap_on_epoch)], validation_data=(x, y)
    )
    np.testing.assert_allclose(h1.history["val_loss"], h2.history["val_loss"], rtol=RTOL)
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=RTOL)
    assert_weights_close(ours, theirs)
    # evaluate with the callback: the averages' loss, the weights restored after
    e1 = ours.evaluate(x, y, verbose=0, callbacks=[plait.callbacks.SwapEMAWeights()])
    e2 = theirs.evaluate(x, y, verbose=0, callbacks=[keras.callbacks.SwapEMAWeights()])
    assert e1 == pytest.approx(float(e2), rel=RTOL)
    assert_weights_close(ours, theirs)


def test_swap_ema_weights_needs_use_ema():
    model = plait.Sequential([plait.Input((2,)), plait.layers.Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="use_ema=True"):
        model.evaluate(np.ones((2, 2)), np.ones((2, 1)), verbose=0, callbacks=[plait.callbacks.SwapEMAWeights()])


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Nadam"])
def test_configs_round_trip_through_keras(name):
    kwargs = {
        "use_ema": True,
        "ema_momentum": 0.95,
        "ema_overwrite_frequency": 5,
        "loss_scale_factor": 2.0,
        "gradient_accumulation_steps": 4,
    }
    ours = getattr(optimizers, name)(**kwargs)
    theirs = getattr(keras.optimizers, name)(**kwargs)
    ours_config, theirs_config = ours.get_config(), theirs.get_config()
    for key in kwargs:
        assert ours_config[key] == theirs_config[key]
    back = getattr(keras.optimizers, name).from_config(ours_config)
    assert {k: back.get_config()[k] for k in kwargs} == kwargs
    again = getattr(optimizers, name).from_config(theirs_config)
    assert {k: again.get_config()[k] for k in kwargs} == kwargs
    assert "use_ema=True" in repr(again) and "use_ema" not in repr(getattr(optimizers, name)())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"gradient_accumulation_steps": 1}, "gradient_accumulation_steps"),
        ({"gradient_accumulation_steps": 2.5}, "gradient_accumulation_steps"),
        ({"use_ema": True, "ema_momentum": 1.5}, "ema_momentum"),
        ({"use_ema": True, "ema_momentum": -0.1}, "ema_momentum"),
        ({"use_ema": True, "ema_overwrite_frequency": 0.5}, "ema_overwrite_frequency"),
        ({"use_ema": True, "ema_overwrite_frequency": -2}, "ema_overwrite_frequency"),
    ],
)
def test_bad_values_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        optimizers.Adam(**kwargs)
    if kwargs.get("gradient_accumulation_steps") != 2.5:  # Keras takes 2.5 (its check is `>= 2`)
        with pytest.raises(ValueError, match=match):
            keras.optimizers.Adam(**kwargs)


def test_compiled_step_leaves_ema_and_accumulation_eager():
    from plait.training import compiled_step

    for kwargs in ({"use_ema": True}, {"gradient_accumulation_steps": 2}, {"loss_scale_factor": 2.0}):
        model = plait.Sequential([plait.Input((2,)), plait.layers.Dense(1)])
        model.compile(optimizers.SGD(**kwargs), "mse")
        assert compiled_step.unsupported(model, model.step_function()) is not None


@pytest.mark.parametrize(
    "kwargs", [{"use_ema": True, "ema_overwrite_frequency": 3}, {"gradient_accumulation_steps": 2}]
)
def test_jit_compile_true_trains_eagerly_with_keras_numbers(kwargs):
    ours, theirs = twins(optimizers.Adam(0.01, **kwargs), keras.optimizers.Adam(0.01, **kwargs))
    ours.compile(optimizers.Adam(0.01, **kwargs), "mse", jit_compile=True)
    x, y = data()
    ours.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    theirs.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    assert_weights_close(ours, theirs)
    assert "eagerly" in ours._jit.reason


@pytest.mark.parametrize("direction", ["plait_to_keras", "keras_to_plait"])
def test_keras_files_keep_the_averages(tmp_path, direction):
    kwargs = {"learning_rate": 0.01, "use_ema": True, "ema_momentum": 0.9, "gradient_accumulation_steps": 2}
    ours, theirs = twins(optimizers.Adam(**kwargs), keras.optimizers.Adam(**kwargs))
    x, y = data()
    fit = dict(epochs=1, batch_size=4, shuffle=False, verbose=0)
    ours.fit(x[:12], y[:12], **fit)  # 3 calls: an update and a half-filled accumulator
    theirs.fit(x[:12], y[:12], **fit)
    path = str(tmp_path / "m.keras")
    if direction == "plait_to_keras":
        ours.save(path)
        loaded, twin = keras.saving.load_model(path), theirs
    else:
        theirs.save(path)
        loaded, twin = plait.saving.load_model(path), ours
    assert loaded.optimizer.get_config()["use_ema"] is True
    # training on from the file gives what training on the twin gives
    loaded.fit(x[12:], y[12:], **fit)
    twin.fit(x[12:], y[12:], **fit)
    assert_weights_close(loaded, twin)
