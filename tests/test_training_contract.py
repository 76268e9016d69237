"""Keras's public training contract: the step methods' data, compute_loss / compute_metrics,
model.metrics, the weights' Variable API, and every fit/evaluate/predict argument honoured."""

import os
import warnings

import numpy as np
import pytest
import torch

import plait
from plait import Input, Model, layers
from plait.utils import unpack_x_y_sample_weight

os.environ.setdefault("KERAS_BACKEND", "torch")  # the Keras reference runs on torch

RNG = np.random.RandomState(0)
X = RNG.randn(40, 4).astype("float32")
Y_REG = RNG.randn(40, 1).astype("float32")
LABELS = RNG.randint(0, 3, size=40)
Y_CAT = np.eye(3, dtype="float32")[LABELS]


def regression():
    inputs = Input(shape=(4,))
    return Model(inputs, layers.Dense(1)(layers.Dense(8, activation="relu")(inputs)))


def softmax():
    inputs = Input(shape=(4,))
    return Model(inputs, layers.Dense(3, activation="softmax")(inputs))


def two_outputs():
    inputs = Input(shape=(4,), name="x")
    h = layers.Dense(8, activation="relu")(inputs)
    return Model(
        inputs, {"age": layers.Dense(1, name="age")(h), "kind": layers.Dense(3, activation="softmax", name="kind")(h)}
    )


# ---------------------------------------------------------------------- compute_loss
@pytest.mark.parametrize(
    "build, compile_args, y",
    [
        (regression, dict(loss="mse"), Y_REG),
        (softmax, dict(loss="categorical_crossentropy"), Y_CAT),
        (
            two_outputs,
            dict(loss={"age": "mse", "kind": "categorical_crossentropy"}, loss_weights={"age": 0.5, "kind": 2.0}),
            {"age": Y_REG, "kind": Y_CAT},
        ),
    ],
    ids=["regression", "softmax", "multi-output"],
)
def test_compute_loss_equals_evaluate(build, compile_args, y):
    model = build()
    model.compile("sgd", **compile_args)
    expected = model.evaluate(X, y, batch_size=40, verbose=0, return_dict=True)["loss"]
    y_pred = model(X)
    ys = {k: torch.tensor(v) for k, v in y.items()} if isinstance(y, dict) else torch.tensor(y)
    loss = model.compute_loss(x=X, y=ys, y_pred=y_pred, training=False)
    assert loss.dim() == 0
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)


def test_compute_loss_adds_regularization_and_needs_y_pred():
    inputs = Input(shape=(4,))
    model = Model(inputs, layers.Dense(1, kernel_regularizer=plait.regularizers.L2(0.1))(inputs))
    model.compile("sgd", "mse")
    y_pred = model(X)
    plain = torch.mean((y_pred - torch.tensor(Y_REG)) ** 2)
    penalty = 0.1 * (model.layers[1].kernel ** 2).sum()
    loss = model.compute_loss(y=torch.tensor(Y_REG), y_pred=y_pred)
    assert float(loss.detach()) == pytest.approx(float((plain + penalty).detach()), rel=1e-5)
    with pytest.raises(ValueError, match="needs `y_pred`"):
        model.compute_loss(y=torch.tensor(Y_REG))


def test_metrics_are_keras_s_list_and_compute_metrics_returns_logs():
    model = two_outputs()
    assert model.metrics == []
    model.compile("sgd", loss={"age": "mse", "kind": "categorical_crossentropy"}, metrics={"kind": ["accuracy"]})
    model.fit(X, {"age": Y_REG, "kind": Y_CAT}, epochs=1, verbose=0)
    assert model.metrics_names == ["loss", "compile_metrics", "age_loss", "kind_loss"]
    logs = model.compute_metrics(X, {"age": torch.tensor(Y_REG), "kind": torch.tensor(Y_CAT)}, model(X))
    assert set(logs) == {"loss", "kind_accuracy", "age_loss", "kind_loss"}


# ---------------------------------------------------------------------- the step contract
def test_train_step_receives_keras_data_structures():
    seen = []

    class Spy(Model):
        def train_step(self, data):
            seen.append(data)
            return super().train_step(data)

    inputs = [Input(shape=(4,), name="a"), Input(shape=(2,), name="b")]
    base = Model(inputs, layers.Dense(1)(layers.concatenate(inputs)))
    model = Spy(base.inputs, base.outputs)
    model.compile("sgd", "mse")
    b = np.ones((40, 2), "float32")
    model.fit({"a": X, "b": b}, Y_REG, batch_size=20, epochs=1, verbose=0)
    x, y = seen[-1]
    assert isinstance(x, dict) and set(x) == {"a", "b"} and x["a"].shape == (20, 4)
    assert isinstance(y, torch.Tensor) and y.shape == (20, 1)
    seen.clear()
    model.fit([X, b], Y_REG, sample_weight=np.ones(40), batch_size=40, epochs=1, verbose=0)
    x, y, sw = seen[-1]
    assert isinstance(x, list) and len(x) == 2 and sw.shape == (40,)
    assert unpack_x_y_sample_weight(seen[-1])[2] is sw


def test_default_train_step_called_directly_returns_logs():
    model = regression()
    model.compile("sgd", "mse", metrics=["mae"])
    logs = model.train_step((torch.tensor(X), torch.tensor(Y_REG)))
    assert set(logs) == {"loss", "mae"}


def test_weights_answer_keras_variable_api():
    inputs = Input(shape=(4,))
    conv = layers.Conv1D(2, 3)(layers.Reshape((4, 1))(inputs))
    model = Model(inputs, conv)
    kernel = model.trainable_weights[0]
    assert isinstance(kernel, torch.nn.Parameter)
    assert kernel.name == "kernel" and kernel.path.endswith("/kernel") and kernel.value is kernel
    assert kernel.numpy().shape == (3, 1, 2) == kernel.keras_shape  # Keras's layout, whatever the storage
    kernel.assign(np.full((3, 1, 2), 0.5, "float32"))
    np.testing.assert_array_equal(model.get_weights()[0], np.full((3, 1, 2), 0.5))
    kernel.assign_add(np.ones((3, 1, 2), "float32"))
    assert float(kernel.numpy().mean()) == pytest.approx(1.5)
    kernel.trainable = False
    assert not kernel.requires_grad
    with pytest.raises(ValueError, match="shape"):
        kernel.assign(np.zeros((2, 2)))


def test_optimizer_apply_on_other_variables_builds_for_them():
    a, b = regression(), regression()
    opt = plait.optimizers.SGD(0.5)
    for model in (a, b):
        grads = [torch.ones_like(v) for v in model.trainable_weights]
        before = [v.detach().clone() for v in model.trainable_weights]
        opt.apply(grads, model.trainable_weights)
        for v, w in zip(model.trainable_weights, before):
            torch.testing.assert_close(v.detach(), w - 0.5)
    opt.apply_gradients(zip([torch.ones_like(v) for v in a.trainable_weights], a.trainable_weights))
    with pytest.raises(ValueError, match="gradients for"):
        opt.apply([None], a.trainable_weights)


def test_custom_step_must_return_a_dict():
    class Bad(Model):
        def train_step(self, data):
            return 1.0

    base = regression()
    model = Bad(base.inputs, base.outputs)
    model.compile("sgd", "mse")
    with pytest.raises(TypeError, match="must return a dict"):
        model.fit(X, Y_REG, epochs=1, verbose=0)


def test_steps_per_execution_with_a_custom_step_runs_every_batch():
    calls, batch_ends = [], []

    class Count(Model):
        def train_step(self, data):
            calls.append(1)
            return super().train_step(data)

    base = regression()
    model = Count(base.inputs, base.outputs)
    model.compile("sgd", "mse", steps_per_execution=3)
    end = plait.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: batch_ends.append(batch))
    model.fit(X, Y_REG, batch_size=5, epochs=1, verbose=0, callbacks=[end])
    assert len(calls) == 8 and batch_ends == [2, 5, 7]


# ---------------------------------------------------------------------- arguments honoured
def test_run_eagerly_never_compiles():
    model = regression()
    model.compile("sgd", "mse", run_eagerly=True, jit_compile=True)
    assert model.run_eagerly and model.jit_compile is False
    model.fit(X, Y_REG, epochs=2, verbose=0)
    assert model._jit._whole is None and not model._jit.compile_loss


def test_evaluate_steps_and_validation_steps_batch_size_freq():
    model = regression()
    model.compile("sgd", "mse")
    batches = []
    spy = plait.callbacks.LambdaCallback(on_test_batch_end=lambda batch, logs: batches.append(batch))
    model.evaluate(X, Y_REG, batch_size=10, steps=2, verbose=0, callbacks=[spy])
    assert batches == [0, 1]
    batches.clear()
    history = model.fit(
        X,
        Y_REG,
        epochs=4,
        verbose=0,
        validation_data=(X, Y_REG),
        validation_steps=1,
        validation_batch_size=8,
        validation_freq=2,
        callbacks=[spy],
    )
    assert batches == [0, 0]  # one validation batch, at epochs 2 and 4 only
    assert len(history.history["loss"]) == 4 and len(history.history["val_loss"]) == 2
    # The validation loss of one batch of 8 samples.
    expected = model.evaluate(X[:8], Y_REG[:8], verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="validation_freq"):
        model.fit(X, Y_REG, validation_freq=0, verbose=0)


def test_initial_epoch_resumes_the_epoch_count():
    model = regression()
    model.compile("sgd", "mse")
    epochs = []
    spy = plait.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: epochs.append(epoch))
    history = model.fit(X, Y_REG, epochs=5, initial_epoch=3, verbose=0, callbacks=[spy])
    assert epochs == [3, 4] and history.epoch == [3, 4]


def test_class_weight_weighs_the_loss_and_only_weighted_metrics():
    model = softmax()
    model.compile("sgd", "categorical_crossentropy", metrics=["accuracy"], weighted_metrics=["accuracy"])
    weights = {0: 0.0, 1: 1.0, 2: 3.0}
    logs = model.evaluate(X, Y_CAT, verbose=0, return_dict=True)
    model.fit(X, Y_CAT, class_weight=weights, epochs=1, batch_size=40, verbose=0, shuffle=False)
    # The same weights as sample weights, by hand, before the step (SGD changed the weights since).
    assert set(logs) == {"loss", "accuracy", "weighted_accuracy"}
    pred = model.predict(X, verbose=0)
    sw = np.array([weights[c] for c in LABELS], "float32")
    logs = model.evaluate(X, Y_CAT, sample_weight=sw, verbose=0, return_dict=True)
    correct = (pred.argmax(-1) == LABELS).astype("float32")
    assert logs["accuracy"] == pytest.approx(correct.mean(), abs=1e-6)  # unweighted, as Keras's
    assert logs["weighted_accuracy"] == pytest.approx((correct * sw).sum() / sw.sum(), abs=1e-6)
    ce = -(Y_CAT * np.log(np.clip(pred, 1e-7, 1))).sum(-1)
    assert logs["loss"] == pytest.approx((ce * sw).mean(), rel=1e-4)


def test_class_weight_in_fit_equals_sample_weights():
    def run(**kwargs):
        plait.utils.set_random_seed(0)
        model = softmax()
        model.compile("sgd", "categorical_crossentropy")
        model.fit(X, Y_CAT, epochs=2, batch_size=8, verbose=0, shuffle=False, **kwargs)
        return model.get_weights()

    weights = {0: 0.5, 1: 2.0, 2: 1.0}
    by_class = run(class_weight=weights)
    by_sample = run(sample_weight=np.array([weights[c] for c in LABELS], "float32"))
    for a, b in zip(by_class, by_sample):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    with pytest.raises(ValueError, match="cannot be specified at the same time"):
        run(class_weight=weights, sample_weight=np.ones(40))


def test_predict_runs_its_callbacks_and_progress_bar(capsys):
    model = regression()
    events = []

    class Spy(plait.callbacks.Callback):
        def on_predict_begin(self, logs=None):
            events.append(("begin", logs))

        def on_predict_batch_end(self, batch, logs=None):
            events.append((batch, logs["outputs"].shape))

        def on_predict_end(self, logs=None):
            events.append(("end", logs))

    out = model.predict(X, batch_size=16, callbacks=[Spy()], verbose=2)
    assert out.shape == (40, 1)
    assert events == [("begin", {}), (0, (16, 1)), (1, (16, 1)), (2, (8, 1)), ("end", {})]
    assert capsys.readouterr().out.startswith("3/3")


def test_validation_runs_test_hooks_inside_fit():
    model = regression()
    model.compile("sgd", "mse")
    hooks = []

    class Spy(plait.callbacks.Callback):
        def on_test_begin(self, logs=None):
            hooks.append("test_begin")

        def on_test_end(self, logs=None):
            hooks.append(("test_end", sorted(logs)))

    model.fit(X, Y_REG, epochs=1, verbose=0, validation_split=0.25, callbacks=[Spy()])
    assert hooks == ["test_begin", ("test_end", ["loss"])]


def test_loss_tracker_weighs_batches_by_size_as_keras():
    model = regression()
    model.compile("sgd", "mse")
    model.fit(X, Y_REG, epochs=1, batch_size=40, verbose=0)  # settle the weights' first step
    values = []
    spy = plait.callbacks.LambdaCallback(on_test_batch_end=lambda batch, logs: values.append(logs["loss"]))
    total = model.evaluate(X, Y_REG, batch_size=30, verbose=0, callbacks=[spy])
    # Batch 1 holds 30 samples, batch 2 holds 10: the running mean after batch 2 weighs them so.
    first = model.evaluate(X[:30], Y_REG[:30], verbose=0)
    second = model.evaluate(X[30:], Y_REG[30:], verbose=0)
    assert total == pytest.approx((30 * first + 10 * second) / 40, rel=1e-5)
    assert values[0] == pytest.approx(first, rel=1e-5)


# ---------------------------------------------------------------------- exceptions
def test_an_exception_in_fit_restores_inference_mode_and_applies_nothing():
    inputs = Input(shape=(4,))
    model = Model(inputs, layers.Dense(1)(layers.Dropout(0.5)(inputs)))
    model.compile("sgd", "mse")
    before = [w.copy() for w in model.get_weights()]

    def broken():
        yield X[:8], Y_REG[:8]
        raise RuntimeError("the data source broke")

    with pytest.raises(RuntimeError, match="broke"):
        model.fit(broken(), epochs=1, verbose=0)
    assert not model.training and not any(m.training for m in model.modules())
    out = model(torch.tensor(X))
    torch.testing.assert_close(out, model(torch.tensor(X)))  # dropout is off
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # the good step applied

    class Exploding(Model):
        def train_step(self, data):
            raise ValueError("bad step")

    model = Exploding(inputs, model.outputs)
    model.compile("sgd", "mse")
    model.train()
    with pytest.raises(ValueError, match="bad step"):
        model.fit(X, Y_REG, verbose=0)
    assert model.training  # restored to what it was


def test_metrics_must_be_a_list_or_dict():
    model = regression()
    with pytest.raises(TypeError, match="`metrics` must be a list or a dict"):
        model.compile("sgd", "mse", metrics="mae")


def test_jit_compile_refuses_a_custom_train_step_and_run_eagerly_allows_it():
    class Custom(Model):
        def train_step(self, data):
            x, y = data
            self.zero_grad()
            loss = self.compute_loss(y=y, y_pred=self(x, training=True))
            loss.backward()
            with torch.no_grad():
                self.optimizer.apply([v.value.grad for v in self.trainable_weights], self.trainable_weights)
            return {"loss": loss.detach()}

    base = regression()
    model = Custom(base.inputs, base.outputs)
    model.compile("sgd", "mse", jit_compile=True)
    with pytest.raises(ValueError, match="custom `train_step` is not compiled"):
        model.fit(X, Y_REG, epochs=1, verbose=0)
    model.compile("sgd", "mse")  # "auto": eager
    assert len(model.fit(X, Y_REG, epochs=1, verbose=0).history["loss"]) == 1


# ---------------------------------------------------------------------- steps_per_epoch across epochs
def _epochs_seen(lib, make_data, steps_per_epoch, epochs):
    """The batches each epoch trains on (each batch's x holds its index) with a PyDataset's
    on_epoch_begin/on_epoch_end calls ("b", "e"), under ``lib`` (plait or keras), and how many
    "ran out of data" warnings the fit gave."""
    events = []

    class Recorder(lib.Model):
        def train_step(self, data):
            events.append(int(np.asarray(data[0].detach().cpu())[0, 0]))
            return super().train_step(data)

    class Callback(lib.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            events.append("E")

    inputs = lib.Input((3,))
    model = Recorder(inputs, lib.layers.Dense(1)(inputs))
    model.compile("sgd", "mse")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(
            **make_data(lib, events),
            steps_per_epoch=steps_per_epoch,
            epochs=epochs,
            shuffle=False,
            verbose=0,
            callbacks=[Callback()],
        )
    seen = "".join(str(e) for e in events)
    ran_out = sum("ran out of data" in str(w.message) for w in caught)
    return seen[seen.index("E") :].split("E")[1:], ran_out


def _py_dataset(n):
    def make(lib, events):
        class Data(lib.utils.PyDataset):
            def __len__(self):
                return n

            def __getitem__(self, i):
                return np.full((2, 3), i, "float32"), np.zeros((2, 1), "float32")

            def on_epoch_begin(self):
                events.append("b")

            def on_epoch_end(self):
                events.append("e")

        return {"x": Data()}

    return make


def _generator(n):
    return lambda lib, events: {"x": ((np.full((2, 3), i, "float32"), np.zeros((2, 1), "float32")) for i in range(n))}


def _arrays(n):
    x = np.repeat(np.arange(n, dtype="float32"), 2)[:, None] * np.ones((1, 3), "float32")
    return lambda lib, events: {"x": x, "y": np.zeros((2 * n, 1), "float32"), "batch_size": 2}


@pytest.mark.parametrize(
    "make_data, steps_per_epoch, epochs",
    [
        (_py_dataset(5), 2, 4),  # epochs carry on through the data: 0 1 | 2 3 | 4 (short) | 0 1
        (_py_dataset(5), 3, 4),
        (_py_dataset(4), 2, 3),  # the data ends with an epoch: no warning
        (_py_dataset(3), 5, 3),  # more steps than data: every epoch is one pass, with a warning
        (_arrays(5), 2, 4),
        (_arrays(3), 5, 2),
        (_generator(5), 2, 3),  # a generator cannot restart: its later epochs are empty
    ],
)
def test_steps_per_epoch_carries_on_through_the_data_as_keras(make_data, steps_per_epoch, epochs):
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("the Keras reference runs on its torch backend")
    expected = _epochs_seen(keras, make_data, steps_per_epoch, epochs)
    assert _epochs_seen(plait, make_data, steps_per_epoch, epochs) == expected


def test_fit_and_evaluate_call_an_overridden_compute_loss_as_keras():
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("the Keras reference runs on its torch backend")

    def run(lib):
        class Doubled(lib.Model):
            def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
                return 2.0 * super().compute_loss(x, y, y_pred, sample_weight, training)

        inputs = lib.Input((4,))
        model = Doubled(inputs, lib.layers.Dense(1)(inputs))
        model.set_weights([np.full((4, 1), 0.1, "float32"), np.zeros(1, "float32")])
        model.compile(lib.optimizers.SGD(0.05), "mse")
        history = model.fit(X[:16], Y_REG[:16], batch_size=4, epochs=2, shuffle=False, verbose=0).history
        return history["loss"], model.evaluate(X[16:24], Y_REG[16:24], verbose=0), model.get_weights()

    plait_loss, plait_eval, plait_w = run(plait)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Keras's own numpy 2 copy= notice
        keras_loss, keras_eval, keras_w = run(keras)
    np.testing.assert_allclose(plait_loss, keras_loss, rtol=1e-5)
    np.testing.assert_allclose(plait_eval, keras_eval, rtol=1e-5)
    for a, b in zip(plait_w, keras_w):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_model_loss_and_targets_for_the_outputs_that_have_a_loss():
    """Keras's ``model.loss``; one target for a two-output model whose second output has no
    loss goes to the first (Keras's CompileLoss matches targets to the outputs with a loss)."""
    inputs = plait.Input(shape=(4,))
    hidden = plait.layers.Dense(3, name="hidden")(inputs)
    model = plait.Model(inputs, [plait.layers.Dense(2, name="head")(hidden), hidden])
    assert model.loss is None and model.loss_output_names == ["head", "hidden"]
    model.compile("sgd", loss=["mse", None])
    assert model.loss == ["mse", None] and model.loss_output_names == ["head"]
    x, y = np.ones((8, 4), "float32"), np.zeros((8, 2), "float32")
    single = model.fit(x, y, epochs=1, verbose=0, shuffle=False).history
    assert sorted(single) == ["loss"]
    assert model.evaluate(x, [y], verbose=0) == pytest.approx(model.evaluate(x, [y, None], verbose=0))
