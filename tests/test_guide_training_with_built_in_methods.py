"""Keras's guide "Training & evaluation with the built-in methods", run on plait.

Ported from keras-team/keras-io, guides/keras_core/training_with_built_in_methods.py (Apache
License 2.0, author fchollet): each section's code is the guide's with ``keras`` renamed (here:
the ``keras`` argument, which is plait or Keras 3 itself), small synthetic MNIST-like arrays
instead of the download, and files written to a temporary directory. The TensorFlow-only
``tf.data`` parts are left out (marked below). Every section also runs on Keras 3 (torch
backend), and what it returns must agree with Keras's own: History keys, ``evaluate``'s
results, prediction shapes, metric names, checkpoint files.
"""

import contextlib
import io
import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras_lib = pytest.importorskip("keras")

import plait  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

if keras_lib.backend.backend() != "torch":
    pytest.skip("Keras was imported with another backend", allow_module_level=True)


@pytest.fixture(autouse=True)
def one_thread():
    """The models here are small: a second intra-op thread only waits on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


rng = np.random.default_rng(0)
x_train = rng.random((256, 784)).astype("float32")
y_train = rng.integers(0, 10, 256).astype("float32")
x_val, y_val = rng.random((64, 784)).astype("float32"), rng.integers(0, 10, 64).astype("float32")
x_test, y_test = rng.random((64, 784)).astype("float32"), rng.integers(0, 10, 64).astype("float32")


def get_uncompiled_model(keras):
    layers = keras.layers
    inputs = keras.Input(shape=(784,), name="digits")
    x = layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    return model


def get_compiled_model(keras):
    model = get_uncompiled_model(keras)
    model.compile(
        optimizer="rmsprop",
        loss="sparse_categorical_crossentropy",
        metrics=["sparse_categorical_accuracy"],
    )
    return model


def end_to_end(keras):
    model = get_uncompiled_model(keras)
    model.compile(
        optimizer=keras.optimizers.RMSprop(),  # Optimizer
        # Loss function to minimize
        loss=keras.losses.SparseCategoricalCrossentropy(),
        # List of metrics to monitor
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    print("Fit model on training data")
    history = model.fit(
        x_train,
        y_train,
        batch_size=64,
        epochs=2,
        # We pass some validation for
        # monitoring validation loss and metrics
        # at the end of each epoch
        validation_data=(x_val, y_val),
    )
    print("Evaluate on test data")
    results = model.evaluate(x_test, y_test, batch_size=128)
    print("test loss, test acc:", results)
    print("Generate predictions for 3 samples")
    predictions = model.predict(x_test[:3])
    print("predictions shape:", predictions.shape)
    # The compile() variants of the next section.
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    model.compile(
        optimizer="rmsprop",
        loss="sparse_categorical_crossentropy",
        metrics=["sparse_categorical_accuracy"],
    )
    return {"history": sorted(history.history), "results": len(results), "predictions": predictions.shape}


def custom_losses(keras):
    ops = keras.ops

    def custom_mean_squared_error(y_true, y_pred):
        return ops.mean(ops.square(y_true - y_pred), axis=-1)

    model = get_uncompiled_model(keras)
    model.compile(optimizer=keras.optimizers.Adam(), loss=custom_mean_squared_error)

    # We need to one-hot encode the labels to use MSE
    y_train_one_hot = ops.one_hot(y_train, num_classes=10)
    h1 = model.fit(x_train, y_train_one_hot, batch_size=64, epochs=1)

    class CustomMSE(keras.losses.Loss):
        def __init__(self, regularization_factor=0.1, name="custom_mse"):
            super().__init__(name=name)
            self.regularization_factor = regularization_factor

        def call(self, y_true, y_pred):
            mse = ops.mean(ops.square(y_true - y_pred), axis=-1)
            reg = ops.mean(ops.square(0.5 - y_pred), axis=-1)
            return mse + reg * self.regularization_factor

    model = get_uncompiled_model(keras)
    model.compile(optimizer=keras.optimizers.Adam(), loss=CustomMSE())

    y_train_one_hot = ops.one_hot(y_train, num_classes=10)
    h2 = model.fit(x_train, y_train_one_hot, batch_size=64, epochs=1)
    return {"history": [sorted(h1.history), sorted(h2.history)]}


def custom_metrics(keras):
    ops = keras.ops

    class CategoricalTruePositives(keras.metrics.Metric):
        def __init__(self, name="categorical_true_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_pred = ops.reshape(ops.argmax(y_pred, axis=1), (-1, 1))
            values = ops.cast(y_true, "int32") == ops.cast(y_pred, "int32")
            values = ops.cast(values, "float32")
            if sample_weight is not None:
                sample_weight = ops.cast(sample_weight, "float32")
                values = ops.multiply(values, sample_weight)
            self.true_positives.assign_add(ops.sum(values))

        def result(self):
            return self.true_positives

        def reset_state(self):
            # The state of the metric will be reset at the start of each epoch.
            self.true_positives.assign(0.0)

    model = get_uncompiled_model(keras)
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[CategoricalTruePositives()],
    )
    history = model.fit(x_train, y_train, batch_size=64, epochs=3)
    return {"history": sorted(history.history)}


def add_loss_layers(keras):
    layers, ops = keras.layers, keras.ops

    class ActivityRegularizationLayer(layers.Layer):
        def call(self, inputs):
            self.add_loss(ops.sum(inputs) * 0.1)
            return inputs  # Pass-through layer.

    inputs = keras.Input(shape=(784,), name="digits")
    x = layers.Dense(64, activation="relu", name="dense_1")(inputs)

    # Insert activity regularization as a layer
    x = ActivityRegularizationLayer()(x)

    x = layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = layers.Dense(10, name="predictions")(x)

    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )

    # The displayed loss will be much higher than before
    # due to the regularization component.
    h1 = model.fit(x_train, y_train, batch_size=64, epochs=1)

    class LogisticEndpoint(keras.layers.Layer):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

        def call(self, targets, logits, sample_weights=None):
            # Compute the training-time loss value and add it
            # to the layer using `self.add_loss()`.
            loss = self.loss_fn(targets, logits, sample_weights)
            self.add_loss(loss)

            # Return the inference-time prediction tensor (for `.predict()`).
            return ops.softmax(logits)

    inputs = keras.Input(shape=(3,), name="inputs")
    targets = keras.Input(shape=(10,), name="targets")
    logits = keras.layers.Dense(10)(inputs)
    predictions = LogisticEndpoint(name="predictions")(targets, logits)

    model = keras.Model(inputs=[inputs, targets], outputs=predictions)
    model.compile(optimizer="adam")  # No loss argument!

    data = {
        "inputs": np.random.random((3, 3)),
        "targets": np.random.random((3, 10)),
    }
    h2 = model.fit(data)
    return {"history": [sorted(h1.history), sorted(h2.history)], "big_loss": h1.history["loss"][0] > 10}


def validation_split(keras):
    model = get_compiled_model(keras)
    history = model.fit(x_train, y_train, batch_size=64, validation_split=0.2, epochs=1)
    return {"history": sorted(history.history)}


# "Training & evaluation using tf.data Datasets" and the tf.data example of sample weights are
# TensorFlow-only (tf.data.Dataset.from_tensor_slices); they are left out.


def py_datasets(keras):
    class ExamplePyDataset(keras.utils.PyDataset):
        def __init__(self, x, y, batch_size, **kwargs):
            super().__init__(**kwargs)
            self.x = x
            self.y = y
            self.batch_size = batch_size

        def __len__(self):
            return int(np.ceil(len(self.x) / float(self.batch_size)))

        def __getitem__(self, idx):
            batch_x = self.x[idx * self.batch_size : (idx + 1) * self.batch_size]
            batch_y = self.y[idx * self.batch_size : (idx + 1) * self.batch_size]
            return batch_x, batch_y

    train_py_dataset = ExamplePyDataset(x_train, y_train, batch_size=32)
    val_py_dataset = ExamplePyDataset(x_val, y_val, batch_size=32)

    model = get_compiled_model(keras)
    h1 = model.fit(train_py_dataset, batch_size=64, validation_data=val_py_dataset, epochs=1)
    r1 = model.evaluate(val_py_dataset)

    train_py_dataset = ExamplePyDataset(x_train, y_train, batch_size=32, workers=4)
    val_py_dataset = ExamplePyDataset(x_val, y_val, batch_size=32, workers=4)

    model = get_compiled_model(keras)
    h2 = model.fit(train_py_dataset, batch_size=64, validation_data=val_py_dataset, epochs=1)
    return {"history": [sorted(h1.history), sorted(h2.history)], "results": len(r1)}


def torch_data_loaders(keras):
    class ExampleTorchDataset(torch.utils.data.Dataset):
        def __init__(self, x, y):
            self.x = x
            self.y = y

        def __len__(self):
            return len(self.x)

        def __getitem__(self, idx):
            return self.x[idx], self.y[idx]

    train_torch_dataset = ExampleTorchDataset(x_train, y_train)
    val_torch_dataset = ExampleTorchDataset(x_val, y_val)

    train_dataloader = torch.utils.data.DataLoader(train_torch_dataset, batch_size=32, shuffle=True)
    val_dataloader = torch.utils.data.DataLoader(val_torch_dataset, batch_size=32, shuffle=True)

    model = get_compiled_model(keras)
    history = model.fit(train_dataloader, batch_size=64, validation_data=val_dataloader, epochs=1)
    results = model.evaluate(val_dataloader)
    return {"history": sorted(history.history), "results": len(results)}


def class_and_sample_weights(keras):
    class_weight = {
        0: 1.0,
        1: 1.0,
        2: 1.0,
        3: 1.0,
        4: 1.0,
        # Set weight "2" for class "5",
        # making this class 2x more important
        5: 2.0,
        6: 1.0,
        7: 1.0,
        8: 1.0,
        9: 1.0,
    }

    print("Fit with class weight")
    model = get_compiled_model(keras)
    h1 = model.fit(x_train, y_train, class_weight=class_weight, batch_size=64, epochs=1)

    sample_weight = np.ones(shape=(len(y_train),))
    sample_weight[y_train == 5] = 2.0

    print("Fit with sample weight")
    model = get_compiled_model(keras)
    h2 = model.fit(x_train, y_train, sample_weight=sample_weight, batch_size=64, epochs=1)
    return {"history": [sorted(h1.history), sorted(h2.history)]}


def multi_input_output(keras, tmp_path):
    layers = keras.layers
    image_input = keras.Input(shape=(32, 32, 3), name="img_input")
    timeseries_input = keras.Input(shape=(None, 10), name="ts_input")

    x1 = layers.Conv2D(3, 3)(image_input)
    x1 = layers.GlobalMaxPooling2D()(x1)

    x2 = layers.Conv1D(3, 3)(timeseries_input)
    x2 = layers.GlobalMaxPooling1D()(x2)

    x = layers.concatenate([x1, x2])

    score_output = layers.Dense(1, name="score_output")(x)
    class_output = layers.Dense(5, name="class_output")(x)

    model = keras.Model(inputs=[image_input, timeseries_input], outputs=[score_output, class_output])
    if keras is plait:  # Keras draws with pydot, which is not installed here; plait has its own drawing
        keras.utils.plot_model(model, str(tmp_path / "multi_input_and_output_model.png"), show_shapes=True)

    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=[
            keras.losses.MeanSquaredError(),
            keras.losses.CategoricalCrossentropy(),
        ],
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=[
            keras.losses.MeanSquaredError(),
            keras.losses.CategoricalCrossentropy(),
        ],
        metrics=[
            [
                keras.metrics.MeanAbsolutePercentageError(),
                keras.metrics.MeanAbsoluteError(),
            ],
            [keras.metrics.CategoricalAccuracy()],
        ],
    )
    img_data = np.random.random_sample(size=(100, 32, 32, 3))
    ts_data = np.random.random_sample(size=(100, 20, 10))
    score_targets = np.random.random_sample(size=(100, 1))
    class_targets = np.random.random_sample(size=(100, 5))
    h_metrics = model.fit([img_data, ts_data], [score_targets, class_targets], batch_size=32, epochs=1)
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss={
            "score_output": keras.losses.MeanSquaredError(),
            "class_output": keras.losses.CategoricalCrossentropy(),
        },
        metrics={
            "score_output": [
                keras.metrics.MeanAbsolutePercentageError(),
                keras.metrics.MeanAbsoluteError(),
            ],
            "class_output": [keras.metrics.CategoricalAccuracy()],
        },
        loss_weights={"score_output": 2.0, "class_output": 1.0},
    )
    h_weighted = model.fit([img_data, ts_data], [score_targets, class_targets], batch_size=32, epochs=1)
    # List loss version
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=[None, keras.losses.CategoricalCrossentropy()],
    )
    h_list_none = model.fit([img_data, ts_data], [score_targets, class_targets], batch_size=32, epochs=1)
    # Or dict loss version
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss={"class_output": keras.losses.CategoricalCrossentropy()},
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=[
            keras.losses.MeanSquaredError(),
            keras.losses.CategoricalCrossentropy(),
        ],
    )
    # Fit on lists
    h_lists = model.fit([img_data, ts_data], [score_targets, class_targets], batch_size=32, epochs=1)

    # Alternatively, fit on dicts
    h_dicts = model.fit(
        {"img_input": img_data, "ts_input": ts_data},
        {"score_output": score_targets, "class_output": class_targets},
        batch_size=32,
        epochs=1,
    )
    # The tf.data version of this fit is TensorFlow-only; left out.
    return {
        "history": [sorted(h.history) for h in (h_metrics, h_weighted, h_list_none, h_lists, h_dicts)],
        "metrics_names": model.metrics_names,
    }


def callbacks_section(keras, tmp_path):
    model = get_compiled_model(keras)

    callbacks = [
        keras.callbacks.EarlyStopping(
            # Stop training when `val_loss` is no longer improving
            monitor="val_loss",
            # "no longer improving" being defined as "no better than 1e-2 less"
            min_delta=1e-2,
            # "no longer improving" being further defined as "for at least 2 epochs"
            patience=2,
            verbose=1,
        )
    ]
    h1 = model.fit(
        x_train,
        y_train,
        epochs=20,
        batch_size=64,
        callbacks=callbacks,
        validation_split=0.2,
    )

    class LossHistory(keras.callbacks.Callback):
        def on_train_begin(self, logs):
            self.per_batch_losses = []

        def on_batch_end(self, batch, logs):
            self.per_batch_losses.append(logs.get("loss"))

    loss_history = LossHistory()  # the guide defines it; here it also runs
    model.fit(x_train, y_train, batch_size=64, epochs=1, callbacks=[loss_history])

    model = get_compiled_model(keras)

    callbacks = [
        keras.callbacks.ModelCheckpoint(
            # Path where to save the model
            # The two parameters below mean that we will overwrite
            # the current checkpoint if and only if
            # the `val_loss` score has improved.
            # The saved model name will include the current epoch.
            filepath=str(tmp_path / "mymodel_{epoch}.keras"),
            save_best_only=True,  # Only save a model if `val_loss` has improved.
            monitor="val_loss",
            verbose=1,
        )
    ]
    model.fit(
        x_train,
        y_train,
        epochs=2,
        batch_size=64,
        callbacks=callbacks,
        validation_split=0.2,
    )

    # Prepare a directory to store all the checkpoints.
    checkpoint_dir = str(tmp_path / "ckpt")
    if not os.path.exists(checkpoint_dir):
        os.makedirs(checkpoint_dir)

    def make_or_restore_model():
        # Either restore the latest model, or create a fresh one
        # if there is no checkpoint available.
        checkpoints = [checkpoint_dir + "/" + name for name in os.listdir(checkpoint_dir)]
        if checkpoints:
            latest_checkpoint = max(checkpoints, key=os.path.getctime)
            print("Restoring from", latest_checkpoint)
            return keras.models.load_model(latest_checkpoint)
        print("Creating a new model")
        return get_compiled_model(keras)

    model = make_or_restore_model()
    callbacks = [
        # This callback saves the model every 100 batches.
        # We include the training loss in the saved model name.
        keras.callbacks.ModelCheckpoint(filepath=checkpoint_dir + "/model-loss={loss:.2f}.keras", save_freq=2)
    ]
    model.fit(x_train, y_train, epochs=1, callbacks=callbacks)  # 8 batches: saved after batches 2, 4, 6, 8
    restored = make_or_restore_model()
    np.testing.assert_allclose(restored.predict(x_test, verbose=0), model.predict(x_test, verbose=0), rtol=1e-5)

    initial_learning_rate = 0.1
    lr_schedule = keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate, decay_steps=100000, decay_rate=0.96, staircase=True
    )
    optimizer = keras.optimizers.RMSprop(learning_rate=lr_schedule)
    assert optimizer is not None

    keras.callbacks.TensorBoard(
        log_dir=str(tmp_path / "full_path_to_your_logs"),
        histogram_freq=0,  # How often to log histogram visualizations
        embeddings_freq=0,  # How often to log embedding visualizations
        update_freq="epoch",
    )  # How often to write logs (default: once per epoch)
    return {
        "history": sorted(h1.history),
        "batches": len(loss_history.per_batch_losses),
        "best_files": sorted(p.name for p in tmp_path.glob("mymodel_*.keras")) != [],
        "ckpts": len(os.listdir(checkpoint_dir)),
    }


def run(section, lib, *args):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        result = section(lib, *args)
    return result, out.getvalue()


@pytest.mark.parametrize(
    "section",
    [
        end_to_end,
        custom_losses,
        custom_metrics,
        add_loss_layers,
        validation_split,
        py_datasets,
        torch_data_loaders,
        class_and_sample_weights,
    ],
)
# Keras warns that fit(shuffle=True) does not shuffle a DataLoader.
@pytest.mark.filterwarnings("ignore:`shuffle=True` was passed, but will be ignored")
def test_section_matches_keras(section):
    ours, printed = run(section, plait)
    theirs, _ = run(section, keras_lib)
    assert ours == theirs
    assert "Epoch 1/" in printed  # the guide's fits print their progress bars


# Keras warns that loss=[None, ...] leaves the first output's weights without gradients.
@pytest.mark.filterwarnings("ignore:Gradients do not exist for variables")
def test_multi_input_output_matches_keras(tmp_path):
    (tmp_path / "plait").mkdir()
    ours, _ = run(multi_input_output, plait, tmp_path / "plait")
    theirs, _ = run(multi_input_output, keras_lib, tmp_path)
    assert ours["metrics_names"] == theirs["metrics_names"]
    assert ours["history"][:2] == theirs["history"][:2]  # with the compiled metrics
    # Recompiled without metrics, Keras 3.15 still reports the metrics of the earlier compile
    # (its old metric objects stay tracked); plait reports what the last compile asked for.
    stale = {
        "class_output_categorical_accuracy",
        "score_output_mean_absolute_error",
        "score_output_mean_absolute_percentage_error",
    }
    for ours_keys, keras_keys in zip(ours["history"][2:], theirs["history"][2:]):
        assert set(keras_keys) == set(ours_keys) | stale and not stale & set(ours_keys)
    assert (tmp_path / "plait" / "multi_input_and_output_model.png").stat().st_size > 0


def test_callbacks_and_checkpoints_match_keras(tmp_path):
    (tmp_path / "plait").mkdir()
    (tmp_path / "keras").mkdir()
    ours, printed = run(callbacks_section, plait, tmp_path / "plait")
    theirs, k_printed = run(callbacks_section, keras_lib, tmp_path / "keras")
    # Saved after batches 2, 4, 6 and 8; two saves with equal rounded losses share a file name.
    assert 1 <= ours.pop("ckpts") <= 4 and 1 <= theirs.pop("ckpts") <= 4
    assert ours == theirs and ours["batches"] == 4
    assert "val_loss improved from None to" in printed and "Restoring from" in printed
