"""Keras's guide "Writing your own callbacks", run on plait.

Ported from keras-team/keras-io, guides/keras_core/writing_your_own_callbacks.py (Apache License
2.0, authors Rick Chao and fchollet): each section's code is the guide's with ``keras`` renamed
(here: the ``keras`` argument, which is plait or Keras 3 itself) and 1000 synthetic MNIST-like
samples instead of the download. The guide prints what its callbacks see; every section runs on
both libraries and the printed lines must agree: exactly where they show log keys, and with the
numbers masked where they show losses (the two libraries draw different initial weights and
shuffles). ``np.Inf`` is written ``np.inf`` (numpy 2 removed the alias).
"""

# ruff: noqa: UP032  (the guide's own str.format calls are kept as written)
import contextlib
import io
import os
import re

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
x_train = (rng.random((1000, 784)) < 0.2).astype("float32")
y_train = rng.integers(0, 10, 1000)
x_test = (rng.random((1000, 784)) < 0.2).astype("float32")
y_test = rng.integers(0, 10, 1000)


def get_model(keras):
    model = keras.Sequential()
    model.add(keras.layers.Dense(1))
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=0.1),
        loss="mean_squared_error",
        metrics=["mean_absolute_error"],
    )
    return model


def custom_callback_cls(keras):
    class CustomCallback(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            keys = list(logs.keys())
            print("Starting training; got log keys: {}".format(keys))

        def on_train_end(self, logs=None):
            keys = list(logs.keys())
            print("Stop training; got log keys: {}".format(keys))

        def on_epoch_begin(self, epoch, logs=None):
            keys = list(logs.keys())
            print("Start epoch {} of training; got log keys: {}".format(epoch, keys))

        def on_epoch_end(self, epoch, logs=None):
            keys = list(logs.keys())
            print("End epoch {} of training; got log keys: {}".format(epoch, keys))

        def on_test_begin(self, logs=None):
            keys = list(logs.keys())
            print("Start testing; got log keys: {}".format(keys))

        def on_test_end(self, logs=None):
            keys = list(logs.keys())
            print("Stop testing; got log keys: {}".format(keys))

        def on_predict_begin(self, logs=None):
            keys = list(logs.keys())
            print("Start predicting; got log keys: {}".format(keys))

        def on_predict_end(self, logs=None):
            keys = list(logs.keys())
            print("Stop predicting; got log keys: {}".format(keys))

        def on_train_batch_begin(self, batch, logs=None):
            keys = list(logs.keys())
            print("...Training: start of batch {}; got log keys: {}".format(batch, keys))

        def on_train_batch_end(self, batch, logs=None):
            keys = list(logs.keys())
            print("...Training: end of batch {}; got log keys: {}".format(batch, keys))

        def on_test_batch_begin(self, batch, logs=None):
            keys = list(logs.keys())
            print("...Evaluating: start of batch {}; got log keys: {}".format(batch, keys))

        def on_test_batch_end(self, batch, logs=None):
            keys = list(logs.keys())
            print("...Evaluating: end of batch {}; got log keys: {}".format(batch, keys))

        def on_predict_batch_begin(self, batch, logs=None):
            keys = list(logs.keys())
            print("...Predicting: start of batch {}; got log keys: {}".format(batch, keys))

        def on_predict_batch_end(self, batch, logs=None):
            keys = list(logs.keys())
            print("...Predicting: end of batch {}; got log keys: {}".format(batch, keys))

    return CustomCallback


def loss_printing_cls(keras):
    class LossAndErrorPrintingCallback(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            print("Up to batch {}, the average loss is {:7.2f}.".format(batch, logs["loss"]))

        def on_test_batch_end(self, batch, logs=None):
            print("Up to batch {}, the average loss is {:7.2f}.".format(batch, logs["loss"]))

        def on_epoch_end(self, epoch, logs=None):
            print(
                "The average loss for epoch {} is {:7.2f} and mean absolute error is {:7.2f}.".format(
                    epoch, logs["loss"], logs["mean_absolute_error"]
                )
            )

    return LossAndErrorPrintingCallback


def basic_example(keras):
    CustomCallback = custom_callback_cls(keras)
    model = get_model(keras)
    model.fit(
        x_train,
        y_train,
        batch_size=128,
        epochs=1,
        verbose=0,
        validation_split=0.5,
        callbacks=[CustomCallback()],
    )

    res = model.evaluate(x_test, y_test, batch_size=128, verbose=0, callbacks=[CustomCallback()])

    res = model.predict(x_test, batch_size=128, callbacks=[CustomCallback()], verbose=0)  # verbose: no progress bar
    return res


def logs_dict(keras):
    LossAndErrorPrintingCallback = loss_printing_cls(keras)
    model = get_model(keras)
    model.fit(
        x_train,
        y_train,
        batch_size=128,
        epochs=2,
        verbose=0,
        callbacks=[LossAndErrorPrintingCallback()],
    )

    res = model.evaluate(
        x_test,
        y_test,
        batch_size=128,
        verbose=0,
        callbacks=[LossAndErrorPrintingCallback()],
    )
    return res


def early_stopping(keras):
    LossAndErrorPrintingCallback = loss_printing_cls(keras)

    class EarlyStoppingAtMinLoss(keras.callbacks.Callback):
        """Stop training when the loss is at its min, i.e. the loss stops decreasing.

        Arguments:
            patience: Number of epochs to wait after min has been hit. After this
            number of no improvement, training stops.
        """

        def __init__(self, patience=0):
            super().__init__()
            self.patience = patience
            # best_weights to store the weights at which the minimum loss occurs.
            self.best_weights = None

        def on_train_begin(self, logs=None):
            # The number of epoch it has waited when loss is no longer minimum.
            self.wait = 0
            # The epoch the training stops at.
            self.stopped_epoch = 0
            # Initialize the best as infinity.
            self.best = np.inf

        def on_epoch_end(self, epoch, logs=None):
            current = logs.get("loss")
            if np.less(current, self.best):
                self.best = current
                self.wait = 0
                # Record the best weights if current results is better (less).
                self.best_weights = self.model.get_weights()
            else:
                self.wait += 1
                if self.wait >= self.patience:
                    self.stopped_epoch = epoch
                    self.model.stop_training = True
                    print("Restoring model weights from the end of the best epoch.")
                    self.model.set_weights(self.best_weights)

        def on_train_end(self, logs=None):
            if self.stopped_epoch > 0:
                print(f"Epoch {self.stopped_epoch + 1}: early stopping")

    stopper = EarlyStoppingAtMinLoss()
    model = get_model(keras)
    model.fit(
        x_train,
        y_train,
        batch_size=64,
        epochs=30,
        verbose=0,
        callbacks=[LossAndErrorPrintingCallback(), stopper],
    )
    return model, stopper


LR_SCHEDULE = [
    # (epoch to start, learning rate) tuples
    (3, 0.05),
    (6, 0.01),
    (9, 0.005),
    (12, 0.001),
]


def lr_schedule(epoch, lr):
    """Helper function to retrieve the scheduled learning rate based on epoch."""
    if epoch < LR_SCHEDULE[0][0] or epoch > LR_SCHEDULE[-1][0]:
        return lr
    for i in range(len(LR_SCHEDULE)):
        if epoch == LR_SCHEDULE[i][0]:
            return LR_SCHEDULE[i][1]
    return lr


def lr_scheduling(keras):
    LossAndErrorPrintingCallback = loss_printing_cls(keras)

    class CustomLearningRateScheduler(keras.callbacks.Callback):
        """Learning rate scheduler which sets the learning rate according to schedule.

        Arguments:
            schedule: a function that takes an epoch index
                (integer, indexed from 0) and current learning rate
                as inputs and returns a new learning rate as output (float).
        """

        def __init__(self, schedule):
            super().__init__()
            self.schedule = schedule

        def on_epoch_begin(self, epoch, logs=None):
            if not hasattr(self.model.optimizer, "learning_rate"):
                raise ValueError('Optimizer must have a "learning_rate" attribute.')
            # Get the current learning rate from model's optimizer.
            lr = self.model.optimizer.learning_rate
            # Call schedule function to get the scheduled learning rate.
            scheduled_lr = self.schedule(epoch, lr)
            # Set the value back to the optimizer before this epoch starts
            self.model.optimizer.learning_rate = scheduled_lr
            print(f"\nEpoch {epoch}: Learning rate is {float(np.array(scheduled_lr))}.")

    model = get_model(keras)
    model.fit(
        x_train,
        y_train,
        batch_size=64,
        epochs=15,
        verbose=0,
        callbacks=[
            LossAndErrorPrintingCallback(),
            CustomLearningRateScheduler(lr_schedule),
        ],
    )
    return model


def printed(section, lib):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = section(lib)
    return out.getvalue().splitlines(), result


def masked(lines):
    return [re.sub(r" *(-?\d+\.\d+|nan|inf)", " #", line) for line in lines]


def test_basic_example_hooks_and_log_keys_match_keras():
    ours, res = printed(basic_example, plait)
    theirs, k_res = printed(basic_example, keras_lib)
    assert ours == theirs
    # fit: 4 training and 4 validation batches, 2 lines each, and 6 begin/end lines; evaluate and
    # predict: 8 batches, 2 lines each, and begin/end.
    assert len(ours) == (2 * 8 + 6) + 2 * (2 * 8 + 2)
    assert res.shape == k_res.shape == (1000, 1)


def test_logs_dict_section_matches_keras():
    ours, res = printed(logs_dict, plait)
    theirs, k_res = printed(logs_dict, keras_lib)
    assert masked(ours) == masked(theirs)
    assert len(res) == len(k_res) == 2  # [loss, mean_absolute_error]


def test_early_stopping_at_min_loss():
    ours, (model, stopper) = printed(early_stopping, plait)
    theirs, (k_model, k_stopper) = printed(early_stopping, keras_lib)
    digits = lambda lines: {re.sub(r"\d+", "#", line) for line in masked(lines)}  # noqa: E731
    assert digits(ours) == digits(theirs)  # the same kinds of lines (the stopping epoch differs)
    templates = set(masked(ours))
    assert "Restoring model weights from the end of the best epoch." in templates
    assert {"Up to batch #, the average loss is #."} <= {re.sub(r"batch \d+", "batch #", t) for t in templates}
    # Stopped at the first epoch whose loss did not improve; the best epoch's weights are back.
    assert 0 < stopper.stopped_epoch < 30 and 0 < k_stopper.stopped_epoch < 30
    for a, b in zip(model.get_weights(), stopper.best_weights):
        np.testing.assert_array_equal(a, b)


def test_learning_rate_scheduling_matches_keras():
    ours, model = printed(lr_scheduling, plait)
    theirs, k_model = printed(lr_scheduling, keras_lib)
    assert masked(ours) == masked(theirs)
    # Keras's learning rate is a float32 variable, so it prints 0.10000000149011612 where plait
    # prints 0.1: the same float32 value.
    rates = [[float(line.split()[-1][:-1]) for line in lines if "Learning rate is" in line] for lines in (ours, theirs)]
    np.testing.assert_array_equal(np.float32(rates[0]), np.float32(rates[1]))
    assert rates[0][3] == 0.05 and rates[0][-1] == 0.001 and len(rates[0]) == 15
    assert float(model.optimizer.learning_rate) == pytest.approx(float(k_model.optimizer.learning_rate))
