"""compile / fit / evaluate / predict: data forms, logs, callbacks, custom steps, errors."""

import contextlib
import csv
import io

import numpy as np
import pandas as pd
import pytest
import torch

import plait
from plait import Input, callbacks, layers
from plait.models import Model, Sequential
from plait.utils import to_categorical


def two_input_model():
    a, b = Input(shape=(3,), name="a"), Input(shape=(2,), name="b")
    h = layers.Dense(8, activation="relu")(layers.concatenate([a, b]))
    return Model([a, b], layers.Dense(3, activation="softmax", name="out")(h))


def multi_output_model():
    x = Input(shape=(4,), name="x")
    h = layers.Dense(8, activation="relu")(x)
    return Model(
        x,
        [
            layers.Dense(1, name="age")(h),
            layers.Dense(1, activation="sigmoid", name="sex")(h),
            layers.Dense(3, activation="softmax", name="income")(h),
        ],
    )


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, 3)).astype("float32"), rng.normal(size=(n, 2)).astype("float32")
    y = to_categorical(rng.integers(0, 3, n), 3)
    return a, b, y


def test_fit_with_list_and_dict_inputs_gives_the_same_training():
    a, b, y = data()
    results = []
    for form in ("list", "dict"):
        plait.utils.clear_session()
        plait.utils.set_random_seed(1)
        model = two_input_model()
        model.compile("rmsprop", "categorical_crossentropy", metrics=["acc"])
        x = [a, b] if form == "list" else {"a": a, "b": b}
        history = model.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
        assert set(history.history) == {"loss", "acc"} and len(history.history["loss"]) == 2
        results.append(history.history["loss"])
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6)


def test_one_step_equals_plain_torch_math():
    """A fit step is forward, Keras loss, backward, Keras RMSprop: check against torch by hand."""
    a, b, y = data(16)
    model = two_input_model()
    model.compile("rmsprop", "categorical_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    model.fit([a, b], y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    k1, b1, k2, b2 = [torch.tensor(w, requires_grad=True) for w in before]
    x = torch.cat([torch.from_numpy(a), torch.from_numpy(b)], -1)
    p = torch.softmax(torch.relu(x @ k1 + b1) @ k2 + b2, -1)
    loss = -(torch.from_numpy(y) * torch.log(p)).sum(-1).mean()
    grads = torch.autograd.grad(loss, [k1, b1, k2, b2])
    expected = [w.detach() - 0.001 * g / torch.sqrt(0.1 * g**2 + 1e-7) for w, g in zip([k1, b1, k2, b2], grads)]
    for got, want in zip(model.get_weights(), expected):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-6)


def test_multi_output_losses_weights_and_logs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype("float32")
    age, sex, income = rng.normal(40, 10, 40).astype("float32"), rng.integers(0, 2, 40), rng.integers(0, 3, 40)
    model = multi_output_model()
    model.compile(
        optimizer="rmsprop",
        loss={"age": "mse", "sex": "binary_crossentropy", "income": "sparse_categorical_crossentropy"},
        loss_weights={"age": 0.25, "sex": 10.0, "income": 1.0},
        metrics={"sex": ["acc"], "income": ["acc"]},
    )
    history = model.fit(x, [age, sex, income], epochs=2, batch_size=8, verbose=0, validation_split=0.25)
    assert set(history.history) == {
        "loss",
        "age_loss",
        "sex_loss",
        "income_loss",
        "sex_acc",
        "income_acc",
        "val_loss",
        "val_age_loss",
        "val_sex_loss",
        "val_income_loss",
        "val_sex_acc",
        "val_income_acc",
    }
    logs = model.evaluate(x, {"age": age, "sex": sex, "income": income}, verbose=0, return_dict=True)
    np.testing.assert_allclose(
        logs["loss"], 0.25 * logs["age_loss"] + 10 * logs["sex_loss"] + logs["income_loss"], rtol=1e-5
    )
    preds = model.predict(x[:5])
    p_age, p_sex, p_income = (torch.from_numpy(v) for v in preds)
    mse = ((p_age[:, 0] - torch.from_numpy(age[:5])) ** 2).mean()
    single = model.evaluate(x[:5], [age[:5], sex[:5], income[:5]], verbose=0, return_dict=True, batch_size=5)
    np.testing.assert_allclose(single["age_loss"], mse.item(), rtol=1e-5)


def test_missing_loss_key_means_no_loss_for_that_output():
    x = np.random.randn(16, 4).astype("float32")
    model = multi_output_model()
    model.compile("sgd", loss={"age": "mse"})
    history = model.fit(x, {"age": np.ones(16, "float32")}, epochs=1, verbose=0)
    # Keras 3 tracks per-output losses only when more than one output has a loss.
    assert set(history.history) == {"loss"}


def test_fused_softmax_crossentropy_equals_keras_probability_form():
    a, b, y = data(32)
    model = two_input_model()
    model.compile("sgd", "categorical_crossentropy")
    fused = model.evaluate([a, b], y, verbose=0)
    probs = model.predict([a, b])
    reference = -(y * np.log(np.clip(probs / probs.sum(-1, keepdims=True), 1e-7, 1 - 1e-7))).sum(-1).mean()
    np.testing.assert_allclose(fused, reference, rtol=1e-5)


@pytest.mark.parametrize("source", ["dataframe", "tensor", "dataset", "loader", "generator"])
def test_data_sources(source):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype("float32")
    y = (x.sum(-1, keepdims=True) > 0).astype("float32")

    def build():
        plait.utils.set_random_seed(0)
        model = Sequential([Input(shape=(3,)), layers.Dense(1, activation="sigmoid")])
        model.compile("adam", "binary_crossentropy", metrics=["acc"])
        return model

    # The reference: numpy arrays in the same order and batches.
    reference = build()
    expected = reference.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    model = build()
    if source == "dataframe":
        kwargs = {"x": pd.DataFrame(x, columns=list("abc")), "y": pd.Series(y[:, 0])}
    elif source == "tensor":
        kwargs = {"x": torch.from_numpy(x), "y": torch.from_numpy(y)}
    elif source in ("dataset", "loader"):
        ds = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
        kwargs = {"x": ds if source == "dataset" else torch.utils.data.DataLoader(ds, batch_size=8)}
    else:

        def gen():
            while True:
                for i in range(0, 32, 8):
                    yield x[i : i + 8], y[i : i + 8]

        kwargs = {"x": gen(), "steps_per_epoch": 4}
    history = model.fit(**kwargs, batch_size=None if source == "loader" else 8, epochs=2, shuffle=False, verbose=0)
    assert history.history.keys() == expected.keys()
    for key, values in expected.items():
        np.testing.assert_allclose(history.history[key], values, rtol=1e-6, err_msg=key)
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_sample_and_class_weights():
    x = np.random.randn(20, 3).astype("float32")
    y = np.random.randint(0, 2, (20, 1)).astype("float32")
    model = Sequential([Input(shape=(3,)), layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy")
    w = np.where(y[:, 0] == 1, 3.0, 0.5).astype("float32")
    by_sample = model.test_on_batch(x, y, sample_weight=w)
    probs = model.predict(x)
    per_sample = -(y * np.log(probs) + (1 - y) * np.log(1 - probs))[:, 0]
    np.testing.assert_allclose(by_sample, (per_sample * w).mean(), rtol=1e-5)
    before = model.get_weights()
    model.fit(x, y, class_weight={0: 0.5, 1: 3.0}, epochs=1, batch_size=20, verbose=0, shuffle=False)
    after_class = model.get_weights()
    model.set_weights(before)
    model.compile("sgd", "binary_crossentropy")
    model.fit(x, y, sample_weight=w, epochs=1, batch_size=20, verbose=0, shuffle=False)
    for p, q in zip(after_class, model.get_weights()):
        np.testing.assert_allclose(p, q, rtol=1e-6)


def test_batch_methods_and_evaluate_return_forms():
    a, b, y = data(16)
    model = two_input_model()
    model.compile("adam", "categorical_crossentropy", metrics=["acc", "mae"])
    loss, acc, mae = model.train_on_batch([a, b], y)
    assert np.isfinite(loss) and 0 <= acc <= 1
    assert isinstance(model.evaluate([a, b], y, verbose=0), list)
    assert set(model.test_on_batch([a, b], y, return_dict=True)) == {"loss", "acc", "mae"}
    assert model.predict_on_batch([a, b]).shape == (16, 3)
    model.compile("adam", "categorical_crossentropy")
    assert isinstance(model.evaluate([a, b], y, verbose=0), float)


def test_callbacks_early_stopping_checkpoint_csv_lr(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32")
    model = Sequential([Input(shape=(3,)), layers.Dense(1)])
    model.compile(plait.optimizers.SGD(0.05), "mse")
    seen = []
    stopper = callbacks.EarlyStopping(monitor="loss", patience=1, restore_best_weights=True)
    history = model.fit(
        x,
        y,
        epochs=30,
        verbose=0,
        callbacks=[
            stopper,
            callbacks.ModelCheckpoint(
                tmp_path / "best.safetensors", monitor="loss", save_best_only=True, save_weights_only=True
            ),
            callbacks.LearningRateScheduler(lambda epoch, lr: 0.05 if epoch < 3 else 0.5),
            callbacks.CSVLogger(tmp_path / "log.csv"),
            callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append((epoch, model.get_weights()))),
        ],
    )
    epochs_run = len(history.history["loss"])
    assert epochs_run < 30 and [epoch for epoch, _ in seen] == list(range(epochs_run))
    # The weights at the end of the best epoch are restored, exactly.
    best_epoch = int(np.argmin(history.history["loss"]))
    best_weights = seen[best_epoch][1]
    for a, b in zip(model.get_weights(), best_weights):
        np.testing.assert_array_equal(a, b)
    with open(tmp_path / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == epochs_run and "learning_rate" in rows[0]
    clone = Sequential([Input(shape=(3,)), layers.Dense(1)])
    clone.load_weights(tmp_path / "best.safetensors")  # save_best_only wrote the best epoch's weights
    for a, b in zip(clone.get_weights(), best_weights):
        np.testing.assert_array_equal(a, b)


def test_reduce_lr_on_plateau_and_terminate_on_nan():
    x = np.ones((8, 2), "float32")
    model = Sequential([Input(shape=(2,)), layers.Dense(1)])
    model.compile(plait.optimizers.SGD(1e-9), "mse")
    reduce = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=1e9)
    history = model.fit(x, np.ones((8, 1), "float32"), epochs=3, verbose=0, callbacks=[reduce])
    # Epoch 1 sets the best; epochs 2 and 3 "fail to improve" by min_delta and halve the rate.
    assert history.history["learning_rate"] == [1e-9, 1e-9, 5e-10]
    assert model.optimizer.learning_rate == pytest.approx(2.5e-10)
    model.compile(plait.optimizers.SGD(1e30), "mse")
    history = model.fit(
        x, np.full((8, 1), 1e20, "float32"), epochs=5, batch_size=1, verbose=0, callbacks=[callbacks.TerminateOnNaN()]
    )
    assert len(history.history["loss"]) == 1


def test_custom_train_step_and_subclassed_model():
    class MyModel(Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(1)

        def call(self, x):
            return self.dense(x)

        def train_step(self, data):
            x, y = data  # Keras's contract: what fit was given, as (x, y)
            pred = self(x)
            loss = ((pred - y) ** 2).mean()
            self.zero_grad()
            loss.backward()
            self.optimizer.apply([v.value.grad for v in self.trainable_weights], self.trainable_weights)
            return {"my_loss": loss.detach()}  # a tensor: History holds floats

    model = MyModel()
    model(torch.zeros(1, 2))
    model.compile("sgd", "mse")
    history = model.fit(np.ones((8, 2), "float32"), np.ones((8, 1), "float32"), epochs=3, verbose=0)
    assert all(type(v) is float for v in history.history["my_loss"])
    assert history.history["my_loss"][2] < history.history["my_loss"][0]
    lines = []
    model.summary(print_fn=lines.append)
    assert any(line.startswith("dense (Dense)") for line in lines)


def test_progress_bar_formats(monkeypatch):
    x, y = np.ones((64, 2), "float32"), np.ones((64, 1), "float32")
    model = Sequential([Input(shape=(2,)), layers.Dense(1)])
    model.compile("sgd", "mse")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        model.fit(x, y, epochs=2, batch_size=8, verbose=1)
    text = out.getvalue()
    # Not a terminal: only each epoch's final line, no carriage returns.
    assert "\r" not in text and text.count("Epoch ") == 2
    assert "8/8 [==============================] - " in text and "/step - loss: " in text
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        model.fit(x, y, epochs=1, batch_size=8, verbose=2)
    assert out.getvalue().splitlines()[1].startswith("8/8 - ")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        model.fit(x, y, epochs=1, verbose=0)
    assert out.getvalue() == ""
    monkeypatch.setenv("PLAIT_FORCE_TTY", "1")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        model.fit(x, y, epochs=1, batch_size=1, verbose=1)
    assert "\r" in out.getvalue() and out.getvalue().endswith("\n")


def test_errors_before_training():
    a, b, y = data(16)
    model = two_input_model()
    with pytest.raises(RuntimeError, match="compile"):
        model.fit([a, b], y)
    model.compile("rmsprop", "categorical_crossentropy")
    with pytest.raises(ValueError, match=r"expects 2 input array\(s\) \['a', 'b'\], but received 3"):
        model.fit([a, b, b], y, verbose=0)
    with pytest.raises(ValueError, match=r"keys \['c'\] match no input.*Valid input names: \['a', 'b'\]"):
        model.fit({"a": a, "c": b}, y, verbose=0)
    with pytest.raises(ValueError, match="input 'a': 16, input 'b': 15"):
        model.fit([a, b[:15]], y, verbose=0)
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        model.fit([a, b], np.zeros(16, "int64"), verbose=0)
    with pytest.raises(ValueError, match=r"validation_split.*\[0, 1\)"):
        model.fit([a, b], y, validation_split=1.5, verbose=0)
    with pytest.raises(ValueError, match="Unknown optimizer"):
        model.compile("rmsprob", "mse")
    with pytest.raises(ValueError, match="Unknown loss function"):
        model.compile("rmsprop", "mean_squared_eror")
    with pytest.raises(ValueError, match="Unknown metric"):
        model.compile("rmsprop", "mse", metrics=["acuracy"])
    with pytest.raises(ValueError, match=r"`loss_weights` names \['age'\].*Valid output names: \['out'\]"):
        model.compile("rmsprop", "mse", loss_weights={"age": 1.0})
    model.compile("rmsprop", "mse")

    def gen():
        yield [a, b], y

    with pytest.raises(ValueError, match="validation_split"):
        model.fit(gen(), validation_split=0.2, verbose=0)


def test_jit_compile_gives_the_same_steps_as_eager():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 8)).astype("float32"), to_categorical(rng.integers(0, 3, 64), 3)
    results = []
    for jit in (False, True):
        plait.utils.clear_session()
        plait.utils.set_random_seed(2)
        inputs = Input(shape=(8,))
        h = layers.Dense(16, activation="relu", kernel_regularizer="l2")(inputs)
        model = Model(inputs, layers.Dense(3, activation="softmax")(h))
        model.compile("adam", "categorical_crossentropy", metrics=["acc"], jit_compile=jit)
        history = model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
        results.append((history.history, model.get_weights()))
    (eager_hist, eager_w), (jit_hist, jit_w) = results
    np.testing.assert_allclose(jit_hist["loss"], eager_hist["loss"], rtol=1e-5)
    np.testing.assert_allclose(jit_hist["acc"], eager_hist["acc"], rtol=1e-6)
    for a, b in zip(eager_w, jit_w):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="jit_compile"):
        model.compile("adam", "mse", jit_compile="xla")


def test_model_subclass_built_from_inputs_and_outputs_is_functional():
    # Keras's "customize fit" pattern: a Model subclass with its own train_step, constructed
    # from inputs and outputs (directly, or through super().__init__ in its own __init__).
    class Counting(plait.Model):
        steps = 0

        def train_step(self, data):
            Counting.steps += 1
            return super().train_step(data)

    class Wrapped(Counting):
        def __init__(self, units):
            x = plait.Input(shape=(3,))
            super().__init__(x, layers.Dense(units)(x), name="wrapped")

    x = plait.Input(shape=(3,))
    direct = Counting(x, layers.Dense(2)(x))
    built_inside = Wrapped(4)
    for model, units in ((direct, 2), (built_inside, 4)):
        assert isinstance(model, Counting) and model.outputs[0].shape == (None, units)
        model.compile("sgd", "mse")
        model.fit(np.ones((8, 3), "float32"), np.ones((8, units), "float32"), batch_size=4, verbose=0)
    assert Counting.steps == 4 and built_inside.name == "wrapped"
    assert "def forward" in direct.graph_source
