"""The callbacks contract against Keras 3 itself: the hooks fit/evaluate/predict call, in order,
with dicts of logs; the on_batch_* aliases; CallbackList; ModelCheckpoint's save_freq, file
name templates and save_best_only decisions."""

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import plait  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
if keras.backend.backend() != "torch":
    pytest.skip("Keras was imported with another backend", allow_module_level=True)

X = np.random.default_rng(0).random((10, 3)).astype("float32")
Y = np.random.default_rng(1).integers(0, 2, 10)
HOOKS_NO_INDEX = [
    "on_train_begin",
    "on_train_end",
    "on_test_begin",
    "on_test_end",
    "on_predict_begin",
    "on_predict_end",
]
HOOKS_INDEX = [
    "on_epoch_begin",
    "on_epoch_end",
    "on_batch_begin",
    "on_batch_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def recorder(lib, seen):
    """A callback class recording (hook, index, sorted log keys), overriding the aliases
    on_batch_begin/on_batch_end rather than on_train_batch_*."""
    attrs = {}
    for name in HOOKS_NO_INDEX:
        attrs[name] = lambda self, logs=None, n=name: seen.append((n, None, sorted(logs)))
    for name in HOOKS_INDEX:
        attrs[name] = lambda self, i, logs=None, n=name: seen.append((n, i, sorted(logs)))
    return type("Recorder", (lib.callbacks.Callback,), attrs)


def small_model(lib):
    model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def hook_trace(lib, steps_per_execution=1):
    seen = []
    cb = recorder(lib, seen)()
    model = small_model(lib)
    model.compile(
        "sgd", "sparse_categorical_crossentropy", metrics=["accuracy"], steps_per_execution=steps_per_execution
    )
    history = model.fit(X, Y, batch_size=2, epochs=2, validation_data=(X[:6], Y[:6]), callbacks=[cb], verbose=0)
    params = dict(cb.params)
    model.evaluate(X, Y, batch_size=5, callbacks=[cb], verbose=0)
    model.predict(X, batch_size=5, callbacks=[cb], verbose=0)
    return seen, params, cb, model, history


def test_hooks_order_indices_and_log_keys_match_keras():
    ours, params, cb, model, history = hook_trace(plait)
    theirs, k_params, *_ = hook_trace(keras)
    assert ours == theirs
    assert params == k_params == {"epochs": 2, "steps": 5, "verbose": 0}
    assert cb.model is model and model.history is history


def test_batch_hooks_once_per_execution():
    # Keras's torch backend refuses steps_per_execution > 1; its other backends call the batch
    # hooks once per execution with the first and the last batch index, as plait does.
    seen, *_ = hook_trace(plait, steps_per_execution=2)
    train = [(hook, i) for hook, i, _ in seen if hook in ("on_batch_begin", "on_batch_end")]
    assert train[:6] == [("on_batch_begin", 0), ("on_batch_end", 1), ("on_batch_begin", 2)] + [
        ("on_batch_end", 3),
        ("on_batch_begin", 4),
        ("on_batch_end", 4),
    ]


def test_callbacks_argument_forms():
    model = small_model(plait)
    assert model.fit(X, Y, callbacks=None, verbose=0).history.keys() == {"loss", "accuracy"}
    seen = []
    cbs = plait.callbacks.CallbackList([recorder(plait, seen)()])
    model.fit(X, Y, epochs=1, callbacks=cbs, verbose=0)
    assert seen[0] == ("on_train_begin", None, []) and seen[-1][0] == "on_train_end"
    # A History in the list is the one fit fills and returns (Keras's).
    mine = plait.callbacks.History()
    assert model.fit(X, Y, epochs=2, callbacks=[[mine]], verbose=0) is mine and len(mine.history["loss"]) == 2
    with pytest.raises(TypeError, match="must be `plait.callbacks.Callback` instances"):
        model.fit(X, Y, callbacks=[lambda: None], verbose=0)


def test_callback_list_api_matches_keras():
    for lib in (plait, keras):
        model = small_model(lib)
        seen = []
        cb = recorder(lib, seen)()
        cbs = lib.callbacks.CallbackList([cb], add_history=True, model=model, epochs=3, steps=1, verbose=0)
        assert isinstance(cbs, lib.callbacks.Callback) and isinstance(cbs.callbacks[-1], lib.callbacks.History)
        assert model.history is cbs.callbacks[-1] and cb.model is model and cb.params["epochs"] == 3
        cbs.on_train_begin()
        cbs.on_epoch_begin(0)
        cbs.on_train_batch_end(0, {"loss": 1.0})
        cbs.on_epoch_end(0, {"loss": 0.5})
        assert seen == [("on_train_begin", None, []), ("on_epoch_begin", 0, []), ("on_batch_end", 0, ["loss"])] + [
            ("on_epoch_end", 0, ["loss"])
        ]
        assert model.history.history == {"loss": [0.5]}


def test_lambda_callback_takes_keras_arguments():
    ends, tests = [], []
    cb = plait.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: ends.append(batch),
        on_test_end=lambda logs: tests.append(sorted(logs)),  # any hook, by keyword (Keras's **kwargs)
    )
    model = small_model(plait)
    model.fit(X, Y, batch_size=5, epochs=1, validation_data=(X, Y), callbacks=[cb], verbose=0)
    assert ends == [0, 1] and tests == [["accuracy", "loss"]]


class Inject:
    """Sets logs[key] to the next value of a fixed sequence, so both libraries' checkpoints see
    the same monitored numbers."""

    def __new__(cls, lib, key, values):
        def on_epoch_end(self, epoch, logs=None):
            logs[key] = values[epoch]

        return type("Inject", (lib.callbacks.Callback,), {"on_epoch_end": on_epoch_end})()


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(save_best_only=True),
        dict(save_best_only=True, mode="max", monitor="val_score"),
        dict(save_best_only=True, initial_value_threshold=0.5),
        dict(save_best_only=False),
    ],
)
def test_model_checkpoint_decisions_and_names_match_keras(tmp_path, kwargs):
    values = [0.9, 0.4, 0.6, 0.3, 0.35, 0.8]
    names = {}
    for lib in (plait, keras):
        folder = tmp_path / lib.__name__
        monitor = kwargs.get("monitor", "val_loss")
        ckpt = lib.callbacks.ModelCheckpoint(
            str(folder / ("w.{epoch:02d}-{" + monitor + ":.2f}.weights.h5")), save_weights_only=True, **kwargs
        )
        small_model(lib).fit(X, Y, epochs=6, callbacks=[Inject(lib, monitor, values), ckpt], verbose=0)
        names[lib] = sorted(os.listdir(folder))
    assert names[plait] == names[keras] and names[plait]
    if kwargs.get("initial_value_threshold"):
        assert names[plait] == ["w.02-0.40.weights.h5", "w.04-0.30.weights.h5"]


def checkpoint_names(lib, folder, steps_per_execution=1):
    ckpt = lib.callbacks.ModelCheckpoint(
        str(folder / "m-{epoch}-{batch:03d}.weights.h5"), save_weights_only=True, save_freq=3
    )
    model = small_model(lib)
    model.compile("sgd", "sparse_categorical_crossentropy", steps_per_execution=steps_per_execution)
    model.fit(X, Y, batch_size=2, epochs=2, callbacks=[ckpt], verbose=0)
    return sorted(os.listdir(folder))


def test_model_checkpoint_save_freq_in_batches_matches_keras(tmp_path):
    # Every 3 batches, counted across epochs; {batch} is 1-based.
    expected = ["m-1-003.weights.h5", "m-2-001.weights.h5", "m-2-004.weights.h5"]
    assert checkpoint_names(plait, tmp_path / "plait") == checkpoint_names(keras, tmp_path / "keras") == expected
    # With 2 steps per execution the count advances 2 at a time (Keras's rule).
    assert checkpoint_names(plait, tmp_path / "spe", 2) == ["m-1-004.weights.h5", "m-2-002.weights.h5"] + [
        "m-2-005.weights.h5"
    ]
    # The saved weights load back.
    model = small_model(plait)
    model.load_weights(str(tmp_path / "spe" / "m-2-005.weights.h5"))


def test_model_checkpoint_errors_and_warnings(tmp_path):
    with pytest.raises(ValueError, match="Unrecognized save_freq"):
        plait.callbacks.ModelCheckpoint(str(tmp_path / "m.keras"), save_freq="batch")
    ckpt = plait.callbacks.ModelCheckpoint(str(tmp_path / "m-{val_acc}.weights.h5"), save_weights_only=True)
    with pytest.raises(KeyError, match="Failed to format this callback filepath"):
        small_model(plait).fit(X, Y, epochs=1, callbacks=[ckpt], verbose=0)
    best = plait.callbacks.ModelCheckpoint(str(tmp_path / "b.weights.h5"), save_weights_only=True, save_best_only=True)
    with pytest.warns(UserWarning, match="Can save best model only with val_loss available"):
        small_model(plait).fit(X, Y, epochs=1, callbacks=[best], verbose=0)
    assert (tmp_path / "b.weights.h5").exists()


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(patience=1),
        dict(patience=2, min_delta=0.05),
        dict(patience=1, mode="max", monitor="val_score"),
        dict(patience=2, baseline=0.5),
        dict(patience=1, baseline=0.1),
        dict(patience=0, start_from_epoch=3),
        dict(patience=2, restore_best_weights=True),
    ],
)
def test_early_stopping_decisions_match_keras(kwargs):
    # The same monitored numbers for both libraries: the epoch it stops at and its public state
    # (wait, best, best_epoch, stopped_epoch) must agree, and restore_best_weights must bring back
    # the best epoch's weights.
    values = [0.9, 0.45, 0.6, 0.44, 0.3, 0.5, 0.7, 0.8, 0.2, 0.9]
    state = {}
    for lib in (plait, keras):
        monitor = kwargs.get("monitor", "val_loss")
        stopper = lib.callbacks.EarlyStopping(**kwargs)
        weights, model = [], small_model(lib)
        keep = lib.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs, w=weights, m=model: w.append(m.get_weights())
        )
        history = model.fit(
            X, Y, epochs=len(values), callbacks=[Inject(lib, monitor, values), keep, stopper], verbose=0
        )
        state[lib] = (len(history.epoch), stopper.wait, stopper.best, stopper.best_epoch, stopper.stopped_epoch)
        if kwargs.get("restore_best_weights"):
            for now, best in zip(model.get_weights(), weights[stopper.best_epoch]):
                np.testing.assert_array_equal(np.asarray(now), np.asarray(best))
    assert state[plait] == state[keras]
