"""``compile(jit_compile=...)``: the compiled whole step gives the eager step's numbers, does not
recompile for schedules, step counts or new lengths, and ``"auto"`` decides by measurement."""

import numpy as np
import pytest
import torch

import plait
from plait import Input, Model, layers, optimizers
from plait.training import compiled_step
from plait.utils import to_categorical


def graphs():
    return torch._dynamo.utils.counters["stats"]["unique_graphs"]


@pytest.fixture(autouse=True)
def fixed_thread_count(monkeypatch):
    """The jit policy times its steps after fit has chosen its thread count; these tests pin the
    count so that their short fits reach the policy's decisions (plait.training.threads)."""
    monkeypatch.setenv("PLAIT_NUM_THREADS", "off")


def mlp(seed=2, **dense_kwargs):
    plait.utils.set_random_seed(seed)
    inputs = Input(shape=(8,))
    h = layers.Dense(16, activation="relu", **dense_kwargs)(inputs)
    return Model(inputs, layers.Dense(3, activation="softmax")(h))


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 8)).astype("float32"), to_categorical(rng.integers(0, 3, n), 3)


def fit_both(build, compile_kwargs, x, y, **fit_kwargs):
    """Train the same model eagerly and compiled; return both (history, weights) and how many
    graphs the compiled run made."""
    out = []
    for jit in (False, True):
        model = build()
        kwargs = compile_kwargs() if callable(compile_kwargs) else compile_kwargs
        model.compile(**kwargs, jit_compile=jit)
        before = graphs()
        history = model.fit(x, y, shuffle=False, verbose=0, **fit_kwargs).history
        out.append((history, model.get_weights(), graphs() - before, model))
    return out


def assert_same(eager, compiled, rtol=1e-5):
    (eh, ew, _, _), (ch, cw, _, _) = eager, compiled
    assert eh.keys() == ch.keys()
    for key in eh:
        np.testing.assert_allclose(ch[key], eh[key], rtol=rtol, atol=1e-7, err_msg=key)
    for a, b in zip(ew, cw):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)


SCHEDULE = optimizers.schedules.ExponentialDecay(0.01, decay_steps=2, decay_rate=0.5)
OPTIMIZERS = [
    lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    lambda: optimizers.RMSprop(SCHEDULE, momentum=0.5, centered=True),
    lambda: optimizers.Adam(SCHEDULE, amsgrad=True, clipnorm=0.1),
    lambda: optimizers.AdamW(0.01, global_clipnorm=0.5),
    lambda: optimizers.Adagrad(0.05, clipvalue=0.01),
    lambda: optimizers.Adadelta(1.0),
    lambda: optimizers.Adamax(0.01),
    lambda: optimizers.Nadam(0.01),
]


@pytest.mark.parametrize("make_optimizer", OPTIMIZERS, ids=lambda f: type(f()).__name__)
def test_compiled_step_matches_eager_for_every_optimizer_without_recompiling(make_optimizer):
    x, y = data()
    eager, compiled = fit_both(
        mlp, lambda: dict(optimizer=make_optimizer(), loss="categorical_crossentropy", metrics=["acc"]), x, y,
        epochs=2, batch_size=16,
    )  # fmt: skip
    assert_same(eager, compiled)
    # One graph for 8 steps: the learning rate schedule and the step count are tensors.
    assert compiled[2] == 1
    assert compiled[3].optimizer.iterations == eager[3].optimizer.iterations == 8


def test_compiled_step_with_regularizers_constraints_batchnorm_sample_weights_and_two_outputs():
    x, y = data(48)
    sw = np.random.default_rng(1).uniform(size=48).astype("float32")

    def build():
        plait.utils.set_random_seed(3)
        inputs = Input(shape=(8,))
        # No bias before BatchNormalization: its gradient is rounding noise, which Adam amplifies.
        h = layers.Dense(16, use_bias=False, kernel_regularizer="l2", kernel_constraint="max_norm")(inputs)
        h = layers.BatchNormalization()(h)
        return Model(inputs, [layers.Dense(3, activation="softmax", name="a")(h), layers.Dense(1, name="b")(h)])

    eager, compiled = fit_both(
        build,
        dict(
            optimizer="adam",
            loss=["categorical_crossentropy", "mse"],
            loss_weights=[1.0, 0.3],
            metrics=[["acc"], ["mae"]],
        ),
        x,
        [y, y[:, :1]],
        epochs=2,
        batch_size=16,
        sample_weight=sw,
    )
    assert_same(eager, compiled)
    assert compiled[2] == 1
    # The moving statistics are updated in place by the compiled forward pass too.
    bn = compiled[3].layers[2]
    assert not torch.equal(bn.moving_mean, torch.zeros(16))


def test_compiled_step_with_masked_sequence_outputs_and_variable_lengths():
    rng = np.random.default_rng(0)

    def build():
        plait.utils.set_random_seed(4)
        inputs = Input(shape=(None,), dtype="int32")
        h = layers.Embedding(30, 8, mask_zero=True)(inputs)
        return Model(inputs, layers.Dense(1)(h))  # a masked sequence output: a masked loss

    results = []
    for jit in (False, True):
        torch._dynamo.reset()
        model = build()
        model.compile("rmsprop", "mse", metrics=["mae"], jit_compile=jit)
        before = graphs()
        for length in (4, 6, 8, 10, 12, 14) * 2:
            x = rng.integers(0, 30, (8, length))
            x[:, -2:] = 0  # padding
            y = rng.normal(size=(8, length, 1)).astype("float32")
            logs = model.train_on_batch(x, y, return_dict=True)
        rng = np.random.default_rng(0)
        results.append((logs, model.get_weights(), graphs() - before))
    whole = model._jit._whole
    (eager_logs, eager_w, _), (jit_logs, jit_w, jit_graphs) = results
    assert jit_logs == pytest.approx(eager_logs, rel=1e-5)
    for a, b in zip(eager_w, jit_w):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
    # A length compiles when it comes back, up to max_shapes lengths; the others run eagerly.
    assert len(whole._compiled) == whole.max_shapes == 4
    assert jit_graphs <= whole.max_shapes


def test_loss_balancers_and_recurrent_models_fall_back():
    x, y = data(32)
    model = mlp()
    model.compile("sgd", "categorical_crossentropy", jit_compile=True)
    model.fit(x, y, batch_size=16, verbose=0)
    assert model._jit.reason is None and model._jit._whole is not None

    plait.utils.set_random_seed(0)
    inputs = Input(shape=(8,))
    h = layers.Dense(4)(inputs)
    two = Model(inputs, [layers.Dense(1, name="a")(h), layers.Dense(1, name="b")(h)])
    two.compile("sgd", "mse", loss_weights="uncertainty", jit_compile=True)
    two.fit(x, [y[:, :1], y[:, 1:2]], batch_size=16, epochs=2, verbose=0)
    assert "UncertaintyWeighting" in two._jit.reason and two._jit.compile_loss

    inputs = Input(shape=(5, 3))
    rnn = Model(inputs, layers.Dense(1)(layers.LSTM(4)(inputs)))
    rnn.compile("sgd", "mse", jit_compile=True)
    xs = np.zeros((8, 5, 3), "float32")
    with pytest.warns(UserWarning, match="trains eagerly: recurrent layers"):
        rnn.fit(xs, np.zeros((8, 1), "float32"), batch_size=4, verbose=0)
    assert rnn._jit._whole is None


class FakeClock:
    """Stands in for the policy's timer: eager steps take ``eager`` seconds, compiled ones
    ``compiled``."""

    def __init__(self, policy, eager, compiled):
        self.now, self.policy, self.eager, self.compiled = 0.0, policy, eager, compiled
        self.last = 0

    def __call__(self, model):
        steps = self.policy._steps
        elapsed = steps - self.last if steps >= self.last else steps  # the trial restarts the count
        self.now += elapsed * (self.compiled if self.policy._phase == "trial" else self.eager)
        self.last = steps
        return self.now


@pytest.mark.parametrize(
    "steps, compiled_time, expected",
    [(100, 0.002, "eager"), (10_000, 0.002, "compiled"), (10_000, 0.019, "eager")],
    ids=["short fit stays eager", "long fit compiles", "compiled not faster: back to eager"],
)
def test_auto_compiles_only_long_fits_and_keeps_only_a_faster_step(steps, compiled_time, expected, monkeypatch):
    model = mlp()
    model.compile("sgd", "categorical_crossentropy")  # jit_compile="auto", the default
    policy = model._jit
    policy.background = False  # the path of accelerators: compile in the fit's thread
    # 20 ms eager steps; min_seconds is 120: 100 steps (2 s) stay eager, 10,000 (200 s) try compiling.
    monkeypatch.setattr(policy, "_tick", FakeClock(policy, 0.02, compiled_time))
    x, y = data(64)
    model.fit(x, y, batch_size=1, epochs=steps // 64 + 1, steps_per_epoch=64, verbose=0)
    assert policy._phase == expected
    assert (policy._whole is not None) == (expected == "compiled")
    if expected == "eager" and steps > 1000:
        assert "compiled steps took" in policy.reason


def test_auto_gives_the_eager_numbers(monkeypatch):
    x, y = data(64)
    model_a, model_b = mlp(), mlp()
    model_a.compile("adam", "categorical_crossentropy", jit_compile=False)
    model_b.compile("adam", "categorical_crossentropy")
    policy = model_b._jit
    policy.background = False  # the path of accelerators: compile in the fit's thread
    policy.min_seconds = 0.0  # compile as soon as the eager steps are measured
    monkeypatch.setattr(policy, "_tick", FakeClock(policy, 0.02, 0.002))  # and keep the faster compiled step
    ha = model_a.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0).history
    hb = model_b.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0).history
    # The policy measured, compiled and kept the compiled step for the rest of the fit.
    assert policy._phase == "compiled" and policy._whole is not None and policy._eager_s is not None
    np.testing.assert_allclose(hb["loss"], ha["loss"], rtol=1e-5)
    for a, b in zip(model_a.get_weights(), model_b.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("switch_at", [0, 11], ids=["at an epoch's start", "mid-epoch"])
def test_auto_compiles_in_the_background_and_gives_the_eager_numbers(switch_at, monkeypatch):
    """On the CPU "auto" compiles on a copy of the model in a thread while the fit goes on
    eagerly, then switches at a step boundary: the numbers stay the eager ones (metrics too,
    across their resets), and the fit's thread never compiles."""
    x, y = data(64)
    eager, auto = mlp(), mlp()
    eager.compile("adam", "categorical_crossentropy", metrics=["accuracy", "mae"], jit_compile=False)
    auto.compile("adam", "categorical_crossentropy", metrics=["accuracy", "mae"])
    policy = auto._jit
    policy.background_seconds = 0.0  # any fit pays (the real rule: 10 s of eager steps ahead)
    monkeypatch.setattr(policy, "_tick", FakeClock(policy, 0.02, 0.002))  # the compiled step measures faster

    class JoinAt(plait.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == switch_at:
                policy.join()  # the compilation is done by this step boundary

    histories = []
    for model, callbacks in ((eager, []), (auto, [JoinAt()])):
        first = model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0).history
        # Measured, then compiling; on an idle machine the compilation may already be done and the
        # compiled step on trial by the end of this short fit.
        assert model is eager or policy._phase in ("background", "trial", "compiled")
        later = model.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0, callbacks=callbacks).history
        histories.append((first, later))
    assert policy._phase == "compiled" and policy.reason is None
    assert policy._whole._fns  # the fit runs the copy's compiled function on the model's tensors
    for (ea, eb), (aa, ab) in [histories]:
        for key in ea:
            np.testing.assert_allclose(aa[key], ea[key], rtol=1e-6, err_msg=key)
            np.testing.assert_allclose(ab[key], eb[key], rtol=1e-5, atol=1e-7, err_msg=key)
    for a, b in zip(eager.get_weights(), auto.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
    # The model's metrics keep counting after the fit (evaluate resets and updates them).
    np.testing.assert_allclose(auto.evaluate(x, y, verbose=0), eager.evaluate(x, y, verbose=0), rtol=1e-5)


def test_background_compile_error_keeps_the_eager_step(monkeypatch):
    x, y = data(64)
    model = mlp()
    model.compile("sgd", "categorical_crossentropy")
    policy = model._jit
    policy.background_seconds = 0.0
    monkeypatch.setattr(compiled_step, "GIL_BOUND_STEP_S", 0.0)  # this tiny model's steps count as long

    def broken(self, batches):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(compiled_step.WholeStep, "__call__", broken)
    model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    policy.join()
    monkeypatch.undo()
    model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert policy._phase == "eager" and "no compiler here" in policy.reason


def test_steps_too_short_to_share_the_gil_never_compile_in_the_background(monkeypatch):
    """A step of a few milliseconds is mostly Python holding the GIL: "auto" would lose more
    to a compiling thread than it gains, so it compiles only where the fit's thread may stall
    (min_seconds of eager time ahead)."""
    x, y = data(64)
    model = mlp()
    model.compile("sgd", "categorical_crossentropy")
    policy = model._jit
    policy.background_seconds = 0.0
    monkeypatch.setattr(policy, "_tick", FakeClock(policy, 0.002, 0.001))  # 2 ms steps, however busy the machine
    model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert policy._compiler is None and policy._phase == "eager"


def test_unsupported_names_the_reason():
    model = mlp(activity_regularizer="l1")
    model.compile("sgd", "categorical_crossentropy")
    x, y = data(8)
    model.fit(x, y, verbose=0)
    assert "activity regularizers" in compiled_step.unsupported(model, model._step_fn)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run where the device tool lends one)")
@pytest.mark.filterwarnings("ignore::UserWarning:torch")  # inductor's performance advice on GPUs
@pytest.mark.parametrize("steps_per_execution", [1, 4])
def test_compiled_step_matches_eager_on_cuda(steps_per_execution):
    x, y = data(128)

    def build():
        model = mlp()
        return model.to("cuda")

    eager, compiled = fit_both(
        build,
        lambda: dict(
            optimizer="adam", loss="categorical_crossentropy", metrics=["acc"], steps_per_execution=steps_per_execution
        ),
        x,
        y,
        epochs=3,
        batch_size=16,
    )
    assert_same(eager, compiled)
    assert compiled[3]._jit._whole is not None


def test_compiled_step_follows_parameters_that_were_moved():
    x, y = data(32)
    model = mlp()
    model.compile("sgd", "categorical_crossentropy", jit_compile=True)
    model.fit(x, y, batch_size=16, verbose=0)
    first = model._jit._whole
    model.to(torch.float64).to(torch.float32)  # swaps every parameter's storage, as .to("cuda") does
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, y, batch_size=16, verbose=0)
    assert model._jit._whole is not first  # rebuilt on the new storage
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
