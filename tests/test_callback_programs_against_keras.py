"""Callbacks a user writes, run on plait and on Keras 3 with the same weights and data: the hooks
that fit (with validation_split), evaluate and predict call and the log keys each one sees; the
running numbers in the logs of every batch and epoch; a callback that stops training and puts the
best weights back through get_weights/set_weights; and one that warms the learning rate up batch
by batch through ``model.optimizer.learning_rate``."""

import numpy as np
import pytest
import torch
from twins import assert_close, copy_weights, keras_or_skip

import plait

keras = keras_or_skip()
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
RNG = np.random.default_rng(3)
X = RNG.normal(size=(90, 5)).astype("float32")
Y = (np.sin(X[:, :1]) + 0.3 * X[:, 1:2]).astype("float32")
ALL_HOOKS = (
    "on_train_begin on_train_end on_epoch_begin on_epoch_end on_test_begin on_test_end on_predict_begin "
    "on_predict_end on_train_batch_begin on_train_batch_end on_test_batch_begin on_test_batch_end "
    "on_predict_batch_begin on_predict_batch_end"
).split()


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def twin_models(optimizer=("sgd", {"learning_rate": 0.05})):
    """The same small regression model on both libraries, with plait's weights copied to Keras."""
    models = {}
    for lib in (plait, keras):
        model = lib.Sequential([lib.Input(shape=(5,)), lib.layers.Dense(6, activation="tanh"), lib.layers.Dense(1)])
        name, kwargs = optimizer
        model.compile(optimizer=lib.optimizers.get({"class_name": name, "config": kwargs}), loss="mse", metrics=["mae"])
        models[lib] = model
    copy_weights(models[plait], models[keras])
    return models


def journal(lib, record):
    """A callback class writing ``record(hook, index, logs)`` for every hook."""

    def hook_method(name, indexed):
        if indexed:
            return lambda self, index, logs=None: record(name, index, logs)
        return lambda self, logs=None: record(name, None, logs)

    methods = {name: hook_method(name, "batch" in name or "epoch" in name) for name in ALL_HOOKS}
    return type("Journal", (lib.callbacks.Callback,), methods)()


def test_hooks_and_log_keys_across_fit_evaluate_predict_match_keras():
    seen = {}
    for lib, model in twin_models().items():
        entries = []
        cb = journal(lib, lambda hook, index, logs, out=entries: out.append((hook, index, sorted(logs or {}))))
        model.fit(X, Y, batch_size=20, epochs=2, validation_split=0.25, callbacks=[cb], verbose=0)
        model.evaluate(X, Y, batch_size=40, callbacks=[cb], verbose=0)
        model.predict(X, batch_size=50, callbacks=[cb], verbose=0)
        seen[lib] = entries
    assert seen[plait] == seen[keras]
    # 68 training rows -> 4 batches of 20, 22 validation rows -> 2 batches; evaluate: 3; predict: 2
    assert sum(hook == "on_train_batch_end" for hook, _, _ in seen[plait]) == 8
    assert ("on_predict_batch_end", 1, ["outputs"]) in seen[plait]


def test_running_numbers_in_every_log_match_keras():
    numbers = {}
    for lib, model in twin_models().items():
        rows = []

        def note(hook, index, logs, out=rows):
            if hook.endswith("_end") and hook != "on_predict_batch_end" and logs:
                out.append((hook, index, {k: float(v) for k, v in logs.items()}))

        cb = journal(lib, note)
        model.fit(
            X, Y, batch_size=16, epochs=3, shuffle=False, validation_data=(X[:30], Y[:30]), callbacks=[cb], verbose=0
        )
        model.evaluate(X[30:], Y[30:], batch_size=25, callbacks=[cb], verbose=0)
        numbers[lib] = rows
    assert [(h, i, sorted(logs)) for h, i, logs in numbers[plait]] == [
        (h, i, sorted(logs)) for h, i, logs in numbers[keras]
    ]
    assert_close([logs for _, _, logs in numbers[plait]], [logs for _, _, logs in numbers[keras]], rtol=2e-5)


def best_weights_keeper(lib):
    class KeepBest(lib.callbacks.Callback):
        """Stops when the validation loss rose ``patience`` epochs in a row and puts the weights of
        the best epoch back."""

        def __init__(self, patience):
            super().__init__()
            self.patience, self.rises, self.best, self.best_weights, self.stopped_at = patience, 0, None, None, None

        def on_epoch_end(self, epoch, logs=None):
            loss = logs["val_loss"]
            if self.best is None or loss < self.best:
                self.best, self.rises, self.best_weights = loss, 0, self.model.get_weights()
                return
            self.rises += 1
            if self.rises >= self.patience:
                self.stopped_at = epoch
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            self.model.set_weights(self.best_weights)

    return KeepBest(patience=2)


def test_a_stopping_callback_restores_the_best_weights_as_in_keras():
    # Twelve noisy training rows: the validation loss falls, then rises as the model overfits.
    noisy = Y[:12] + RNG.normal(size=(12, 1)).astype("float32")
    results = {}
    for lib, model in twin_models(("adam", {"learning_rate": 0.05})).items():
        keeper = best_weights_keeper(lib)
        history = model.fit(
            X[:12], noisy, batch_size=12, epochs=40, validation_data=(X[60:], Y[60:]), callbacks=[keeper], verbose=0
        )
        results[lib] = (keeper.stopped_at, len(history.epoch), model.get_weights(), keeper.best_weights)
    assert results[plait][:2] == results[keras][:2] and results[plait][0] is not None
    assert_close(results[plait][2], results[keras][2], rtol=1e-4, atol=1e-6)
    for now, best in zip(results[plait][2], results[plait][3]):
        np.testing.assert_array_equal(now, best)


def warmup(lib, peak, steps):
    class Warmup(lib.callbacks.Callback):
        """Raises the learning rate linearly to ``peak`` over the first ``steps`` batches."""

        def __init__(self):
            super().__init__()
            self.step, self.rates = 0, []

        def on_train_batch_begin(self, batch, logs=None):
            if self.step < steps:
                self.model.optimizer.learning_rate = peak * (self.step + 1) / steps
            self.step += 1

        def on_epoch_end(self, epoch, logs=None):
            self.rates.append(float(np.asarray(self.model.optimizer.learning_rate)))

    return Warmup()


def test_a_warmup_callback_sets_the_learning_rate_per_batch_as_in_keras():
    outcome = {}
    for lib, model in twin_models(("adam", {"learning_rate": 1e-3})).items():
        cb = warmup(lib, peak=0.02, steps=7)
        history = model.fit(X, Y, batch_size=30, epochs=4, shuffle=False, callbacks=[cb], verbose=0)
        outcome[lib] = (cb.rates, history.history["loss"], model.get_weights())
    np.testing.assert_array_equal(np.float32(outcome[plait][0]), np.float32(outcome[keras][0]))
    assert outcome[plait][0][:2] == pytest.approx([0.02 * 3 / 7, 0.02 * 6 / 7]) and outcome[plait][0][
        -1
    ] == pytest.approx(0.02)
    assert_close(outcome[plait][1:], outcome[keras][1:], rtol=1e-4, atol=1e-6)
