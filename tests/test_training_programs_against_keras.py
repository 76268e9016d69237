"""Training with the built-in loops, run on plait and on Keras 3 from the same weights and data:
compile with objects or names, fit with validation data, evaluate and predict; a loss function
and a Loss subclass; a Metric subclass with its own state; losses added by layers (with and
without a compiled loss); validation_split, class and sample weights; PyDataset and DataLoader
inputs; several inputs and outputs with nested and per-output losses, metrics and loss weights;
early stopping, per-batch logs, checkpoints (best only, every N batches, restored), a
learning-rate schedule, and TensorBoard's construction. History, evaluation, predictions and
file names must agree with Keras's."""

import contextlib
import io
import os

import numpy as np
import pytest
import torch
from twins import assert_close, copy_weights, copy_weights_by_layer, keras_or_skip

import plait

keras = keras_or_skip()
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
LIBS = (plait, keras)
RNG = np.random.default_rng(21)
X = RNG.normal(size=(120, 12)).astype("float32")
LABELS = (np.abs(X[:, :4]).argmax(axis=1) + (X[:, 4] > 1)).astype("int64")  # 5 classes, learnable
X_VAL, LABELS_VAL = X[:30] + 0.1, LABELS[:30]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def classifier(lib, activation="softmax"):
    inputs = lib.Input(shape=(12,), name="features")
    h = lib.layers.Dense(16, activation="relu", name="hidden")(inputs)
    return lib.Model(inputs, lib.layers.Dense(5, activation=activation, name="classes")(h))


def twins(build=classifier, **kwargs):
    models = {lib: build(lib, **kwargs) for lib in LIBS}
    copy_weights(models[plait], models[keras])
    return models


def quiet(fn, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        return fn(*args, **kwargs), out.getvalue()


@pytest.mark.parametrize("spelled", ["objects", "names"])
def test_compile_fit_evaluate_predict_match_keras(spelled):
    outcome = {}
    for lib, model in twins().items():
        if spelled == "objects":
            model.compile(
                optimizer=lib.optimizers.RMSprop(1e-3),
                loss=lib.losses.SparseCategoricalCrossentropy(),
                metrics=[lib.metrics.SparseCategoricalAccuracy()],
            )
        else:
            model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history, printed = quiet(
            model.fit, X, LABELS, batch_size=32, epochs=2, shuffle=False, validation_data=(X_VAL, LABELS_VAL)
        )
        assert "Epoch 2/2" in printed  # verbose=1 prints each epoch's progress
        outcome[lib] = (
            history.history,
            model.evaluate(X_VAL, LABELS_VAL, batch_size=64, verbose=0),
            model.predict(X[:3], verbose=0),
        )
    assert sorted(outcome[plait][0]) == sorted(outcome[keras][0])
    assert outcome[plait][2].shape == (3, 5)
    assert_close(outcome[plait], outcome[keras], rtol=1e-5)


def test_a_loss_function_and_a_loss_subclass_match_keras():
    targets = np.eye(5, dtype="float32")[LABELS]
    for make_loss in ("function", "subclass"):
        histories = {}
        for lib, model in twins().items():

            def squared(y_true, y_pred, ops=lib.ops):
                return ops.mean(ops.square(y_true - y_pred), axis=-1)

            class Spread(lib.losses.Loss):
                """Squared error plus a pull of every probability towards 0.2."""

                def __init__(self, pull=0.3, name="spread"):
                    super().__init__(name=name)
                    self.pull = pull

                def call(self, y_true, y_pred, ops=lib.ops):
                    return ops.mean(ops.square(y_true - y_pred) + self.pull * ops.square(0.2 - y_pred), axis=-1)

            model.compile(optimizer=lib.optimizers.Adam(1e-2), loss=squared if make_loss == "function" else Spread())
            histories[lib] = model.fit(X, targets, batch_size=40, epochs=2, shuffle=False, verbose=0).history
        assert_close(histories[plait], histories[keras], rtol=1e-5)


def hits_metric(lib):
    class Hits(lib.metrics.Metric):
        """How many rows' top class is the label, weighted."""

        def __init__(self, name="hits", **kwargs):
            super().__init__(name=name, **kwargs)
            self.count = self.add_variable(shape=(), initializer="zeros", name="count")

        def update_state(self, y_true, y_pred, sample_weight=None):
            ops = lib.ops
            hit = ops.cast(ops.argmax(y_pred, axis=-1) == ops.cast(ops.reshape(y_true, (-1,)), "int32"), "float32")
            if sample_weight is not None:
                hit = hit * ops.cast(ops.reshape(sample_weight, (-1,)), "float32")
            self.count.assign_add(ops.sum(hit))

        def result(self):
            return self.count.value if hasattr(self.count, "value") else self.count

        def reset_state(self):
            self.count.assign(0.0)

    return Hits()


def test_a_metric_subclass_with_its_own_state_matches_keras():
    histories = {}
    for lib, model in twins().items():
        model.compile(
            optimizer=lib.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy", metrics=[hits_metric(lib)]
        )
        histories[lib] = model.fit(X, LABELS, batch_size=50, epochs=3, shuffle=False, verbose=0).history
    assert sorted(histories[plait]) == ["hits", "loss"]
    assert (
        histories[plait]["hits"] == histories[keras]["hits"] and max(histories[plait]["hits"]) <= 120
    )  # reset per epoch
    assert_close(histories[plait]["loss"], histories[keras]["loss"], rtol=1e-5)


def with_added_losses(lib, endpoint):
    L = lib.layers

    class Sparsity(L.Layer):
        def call(self, x):
            self.add_loss(0.05 * lib.ops.mean(lib.ops.abs(x)))
            return x

    class Endpoint(L.Layer):
        """Takes the targets as an input: adds the training loss, returns probabilities."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.xent = lib.losses.CategoricalCrossentropy(from_logits=True)

        def call(self, targets, logits):
            self.add_loss(self.xent(targets, logits))
            return lib.ops.softmax(logits)

    inputs = lib.Input(shape=(12,), name="features")
    logits = L.Dense(5, name="logits")(Sparsity()(L.Dense(16, activation="relu", name="hidden")(inputs)))
    if not endpoint:
        return lib.Model(inputs, logits)
    targets = lib.Input(shape=(5,), name="targets")
    return lib.Model([inputs, targets], Endpoint(name="probabilities")(targets, logits))


@pytest.mark.parametrize("endpoint", [False, True], ids=["compiled_loss", "endpoint_layer"])
def test_losses_added_by_layers_match_keras(endpoint):
    models = twins(with_added_losses, endpoint=endpoint)
    histories = {}
    for lib, model in models.items():
        if endpoint:
            model.compile(optimizer=lib.optimizers.Adam(1e-2))  # no loss: the layers add it
            data = {"features": X, "targets": np.eye(5, dtype="float32")[LABELS]}
            histories[lib] = model.fit(data, batch_size=40, epochs=2, shuffle=False, verbose=0).history
        else:
            model.compile(
                optimizer=lib.optimizers.Adam(1e-2), loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True)
            )
            histories[lib] = model.fit(X, LABELS, batch_size=40, epochs=2, shuffle=False, verbose=0).history
    assert_close(histories[plait], histories[keras], rtol=1e-5)


@pytest.mark.parametrize("weighting", ["validation_split", "class_weight", "sample_weight"])
def test_validation_split_and_weights_match_keras(weighting):
    extra = {
        "validation_split": {"validation_split": 0.25},
        "class_weight": {"class_weight": {0: 1.0, 1: 0.5, 2: 2.0, 3: 1.0, 4: 3.0}},
        "sample_weight": {"sample_weight": np.where(LABELS == 2, 2.5, 1.0)},
    }[weighting]
    histories = {}
    for lib, model in twins().items():
        model.compile(
            optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["sparse_categorical_accuracy"]
        )
        histories[lib] = model.fit(X, LABELS, batch_size=30, epochs=2, shuffle=False, verbose=0, **extra).history
    assert sorted(histories[plait]) == sorted(histories[keras])
    assert_close(histories[plait], histories[keras], rtol=1e-5)


def batches_of(lib, x, y, size, **kwargs):
    class Batches(lib.utils.PyDataset):
        def __init__(self):
            super().__init__(**kwargs)

        def __len__(self):
            return -(-len(x) // size)

        def __getitem__(self, index):
            part = slice(index * size, (index + 1) * size)
            return x[part], y[part]

    return Batches()


@pytest.mark.parametrize("source", ["py_dataset", "py_dataset_workers", "dataloader"])
def test_py_dataset_and_dataloader_inputs_match_keras(source):
    outcome = {}
    for lib, model in twins().items():
        if source == "dataloader":
            train = torch.utils.data.DataLoader(list(zip(X, LABELS)), batch_size=25, shuffle=False)
            val = torch.utils.data.DataLoader(list(zip(X_VAL, LABELS_VAL)), batch_size=25, shuffle=False)
        else:
            # Threads fetch plait's batches in the same order as without them; Keras 3.15's
            # threaded fetching visits the batches in another order, so Keras runs without.
            workers = {"workers": 2} if source.endswith("workers") and lib is plait else {}
            train, val = batches_of(lib, X, LABELS, 25, **workers), batches_of(lib, X_VAL, LABELS_VAL, 25, **workers)
        model.compile(
            optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["sparse_categorical_accuracy"]
        )
        history = model.fit(train, validation_data=val, epochs=2, shuffle=False, verbose=0)
        outcome[lib] = (history.history, model.evaluate(val, verbose=0))
    assert_close(outcome[plait], outcome[keras], rtol=1e-5)


def two_headed(lib):
    L = lib.layers
    grid = lib.Input(shape=(8, 8, 2), name="grid")
    series = lib.Input(shape=(None, 3), name="series")
    a = L.GlobalMaxPooling2D()(L.Conv2D(3, 3, name="grid_conv")(grid))
    b = L.GlobalAveragePooling1D()(L.Conv1D(3, 2, name="series_conv")(series))
    h = L.concatenate([a, b])
    return lib.Model(
        inputs=[grid, series],
        outputs=[L.Dense(1, name="score")(h), L.Dense(4, activation="softmax", name="kind")(h)],
    )


MULTI_COMPILES = {
    "nested_lists": lambda lib: dict(
        loss=[lib.losses.MeanSquaredError(), lib.losses.CategoricalCrossentropy()],
        metrics=[
            [lib.metrics.MeanAbsoluteError(), lib.metrics.MeanAbsolutePercentageError()],
            [lib.metrics.CategoricalAccuracy()],
        ],
    ),
    "dicts_with_weights": lambda lib: dict(
        loss={"score": lib.losses.MeanSquaredError(), "kind": lib.losses.CategoricalCrossentropy()},
        metrics={"score": [lib.metrics.MeanAbsoluteError()], "kind": [lib.metrics.CategoricalAccuracy()]},
        loss_weights={"score": 0.5, "kind": 2.0},
    ),
    "one_loss_is_none": lambda lib: dict(loss=[None, lib.losses.CategoricalCrossentropy()]),
}


# Keras warns that loss=[None, ...] leaves the first output's weights without gradients.
@pytest.mark.filterwarnings("ignore:Gradients do not exist for variables")
@pytest.mark.parametrize("spelling", list(MULTI_COMPILES))
@pytest.mark.parametrize("data_as", ["lists", "dicts"])
def test_several_inputs_and_outputs_match_keras(spelling, data_as, tmp_path):
    n = 40
    grid, series = RNG.random((n, 8, 8, 2)).astype("float32"), RNG.random((n, 6, 3)).astype("float32")
    score, kind = RNG.random((n, 1)).astype("float32"), np.eye(4, dtype="float32")[RNG.integers(0, 4, n)]
    if data_as == "lists":
        x, y = [grid, series], [score, kind]
    else:
        x, y = {"grid": grid, "series": series}, {"score": score, "kind": kind}
    models = {lib: two_headed(lib) for lib in LIBS}
    copy_weights_by_layer(models[plait], models[keras])
    outcome = {}
    for lib, model in models.items():
        model.compile(optimizer=lib.optimizers.RMSprop(1e-3), **MULTI_COMPILES[spelling](lib))
        history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        outcome[lib] = (model.metrics_names, history.history)
    ours = outcome[plait][0]
    if spelling == "one_loss_is_none":  # no metrics compiled: Keras then leaves "compile_metrics" out
        ours = [name for name in ours if name != "compile_metrics"]
    assert ours == outcome[keras][0]
    assert_close(outcome[plait][1], outcome[keras][1], rtol=1e-4)
    plait.utils.plot_model(models[plait], str(tmp_path / "two_headed.png"), show_shapes=True)
    assert (tmp_path / "two_headed.png").stat().st_size > 0


def test_early_stopping_and_per_batch_logs_match_keras():
    outcome = {}
    for lib, model in twins().items():

        class BatchLosses(lib.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.losses = []

            def on_batch_end(self, batch, logs=None):
                self.losses.append(float(logs["loss"]))

        model.compile(optimizer=lib.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
        stopper = lib.callbacks.EarlyStopping(monitor="val_loss", min_delta=1e-2, patience=2, verbose=1)
        per_batch = BatchLosses()
        history, printed = quiet(
            model.fit,
            X,
            LABELS,
            epochs=30,
            batch_size=40,
            shuffle=False,
            validation_split=0.25,
            callbacks=[stopper, per_batch],
            verbose=0,
        )
        outcome[lib] = (len(history.epoch), stopper.stopped_epoch, per_batch.losses, printed.strip())
    assert outcome[plait][:2] == outcome[keras][:2] and outcome[plait][0] < 30
    assert outcome[plait][3] == outcome[keras][3] == f"Epoch {outcome[plait][1] + 1}: early stopping"
    assert_close(outcome[plait][2], outcome[keras][2], rtol=1e-4)


def test_checkpoints_best_only_every_n_batches_and_restored(tmp_path):
    names = {}
    for lib, model in twins().items():
        folder = tmp_path / lib.__name__
        model.compile(optimizer=lib.optimizers.SGD(0.2), loss="sparse_categorical_crossentropy")
        best = lib.callbacks.ModelCheckpoint(
            str(folder / "best_{epoch}.keras"), monitor="val_loss", save_best_only=True
        )
        model.fit(
            X,
            LABELS,
            epochs=4,
            batch_size=40,
            shuffle=False,
            validation_data=(X_VAL, LABELS_VAL),
            callbacks=[best],
            verbose=0,
        )
        every = lib.callbacks.ModelCheckpoint(
            str(folder / "steps" / "at-{epoch}-{batch}-loss={loss:.3f}.keras"), save_freq=2
        )
        model.fit(X, LABELS, epochs=1, batch_size=20, shuffle=False, callbacks=[every], verbose=0)  # 6 batches
        names[lib] = (sorted(p.name for p in folder.glob("best_*.keras")), sorted(os.listdir(folder / "steps")))
        newest = max((folder / "steps").iterdir(), key=os.path.getmtime)
        restored = lib.models.load_model(newest)
        assert_close(restored.predict(X_VAL, verbose=0), model.predict(X_VAL, verbose=0), rtol=1e-5)
    assert names[plait] == names[keras] and len(names[plait][1]) == 3


def test_a_learning_rate_schedule_and_tensorboard(tmp_path):
    histories = {}
    for lib, model in twins().items():
        schedule = lib.optimizers.schedules.ExponentialDecay(0.05, decay_steps=2, decay_rate=0.5, staircase=True)
        model.compile(optimizer=lib.optimizers.RMSprop(learning_rate=schedule), loss="sparse_categorical_crossentropy")
        histories[lib] = model.fit(X, LABELS, epochs=3, batch_size=30, shuffle=False, verbose=0).history
    assert_close(histories[plait], histories[keras], rtol=1e-4)
    board = plait.callbacks.TensorBoard(
        log_dir=str(tmp_path / "logs"), histogram_freq=0, embeddings_freq=0, update_freq="epoch"
    )
    assert board.log_dir == str(tmp_path / "logs") and board.update_freq == "epoch"
