"""Callbacks with Keras's hook API (``on_epoch_end(epoch, logs)``, ``self.model``, ...).

Example:
    >>> import plait
    >>> stop = plait.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
"""

import copy
import csv
import math
import os

import numpy as np

from plait.training.progbar import Progbar


class Callback:
    """Base class. Override any ``on_*`` hook; ``self.model`` and ``self.params`` are set by fit."""

    def __init__(self):
        self.model, self.params = None, {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        pass

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass


_HOOKS = [name for name in vars(Callback) if name.startswith("on_")]


class CallbackList:
    """Calls every callback's hook in order. Batch hooks are skipped when no callback defines
    one, so the training loop pays nothing for them."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
        self.batch_hooks = {
            name
            for name in _HOOKS
            if "batch" in name and any(getattr(type(cb), name) is not getattr(Callback, name) for cb in self.callbacks)
        }

    def __getattr__(self, name):
        if name not in _HOOKS:
            raise AttributeError(name)

        def call(*args):
            for cb in self.callbacks:
                getattr(cb, name)(*args)

        return call


class History(Callback):
    """Records every epoch's logs in ``history`` (``{"loss": [...], "val_loss": [...]}``)."""

    def __init__(self):
        super().__init__()
        self.history, self.epoch = {}, []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


class ProgbarLogger(Callback):
    """Prints ``Epoch i/n`` and the progress bar (added by fit for ``verbose`` 1 or 2)."""

    def __init__(self, verbose=1):
        super().__init__()
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        print(f"Epoch {epoch + 1}/{self.params['epochs']}")
        self.bar = Progbar(self.params.get("steps"), verbose=self.verbose)

    def on_epoch_end(self, epoch, logs=None):
        self.bar.update(self.bar_step, logs, finalize=True)

    def update(self, step, values):
        self.bar_step = step
        self.bar.update(step, values, finalize=False)


def _is_better(mode, monitor):
    if mode == "min" or (
        mode == "auto" and not any(k in monitor for k in ("acc", "auc", "precision", "recall", "iou"))
    ):
        return lambda current, best, delta: current < best - delta
    return lambda current, best, delta: current > best + delta


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs.

    Args:
        monitor: log key (default ``val_loss``). min_delta: smallest change that counts.
        patience: epochs without improvement before stopping. mode: ``auto``/``min``/``max``.
        baseline: stop if not better than this. restore_best_weights: reload the best epoch's
            weights at the end. start_from_epoch: epochs to wait before monitoring.
    """

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0,
        patience=0,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=False,
        start_from_epoch=0,
    ):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping mode must be 'auto', 'min' or 'max'. Received: mode={mode!r}")
        self.monitor, self.min_delta, self.patience, self.verbose = monitor, abs(min_delta), patience, verbose
        self.mode, self.baseline, self.restore_best_weights = mode, baseline, restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.better = _is_better(mode, monitor)

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best_epoch, self.best_weights = 0, 0, 0, None
        self.best = None

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = copy.deepcopy(self.model.state_dict())
        self.wait += 1
        reference = self.best if self.best is not None else self.baseline
        if reference is None or self.better(current, reference, self.min_delta):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = copy.deepcopy(self.model.state_dict())
            if self.baseline is None or self.better(current, self.baseline, 0):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.load_state_dict(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model (or its weights) after epochs, optionally only when ``monitor`` improves.

    Args:
        filepath: may hold format fields (``"model_{epoch:02d}_{val_loss:.2f}.safetensors"``).
        monitor: log key to compare with ``save_best_only``. mode: ``auto``/``min``/``max``.
        save_best_only: save only improvements. save_weights_only: weights only (safetensors).
        save_freq: ``"epoch"``.

    Files are written atomically (a temporary file, then a rename), so an interrupted save
    never destroys the previous checkpoint.
    """

    def __init__(
        self,
        filepath,
        monitor="val_loss",
        verbose=0,
        save_best_only=False,
        save_weights_only=False,
        mode="auto",
        save_freq="epoch",
        initial_value_threshold=None,
    ):
        super().__init__()
        if save_freq != "epoch":
            raise ValueError(f"ModelCheckpoint supports save_freq='epoch'. Received: save_freq={save_freq!r}")
        self.filepath, self.monitor, self.verbose = os.fspath(filepath), monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.better = _is_better(mode, monitor)
        self.best = initial_value_threshold

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None or (self.best is not None and not self.better(current, self.best, 0)):
                return
            if self.verbose:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved to {current:.5f}, saving model to {path}")
            self.best = current
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` stops improving.

    Args:
        monitor: default ``val_loss``. factor: default 0.1. patience: default 10.
        mode: ``auto``/``min``/``max``. min_delta: default 1e-4. cooldown: default 0.
        min_lr: lower bound (default 0).
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
    ):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received: factor={factor}")
        self.monitor, self.factor, self.patience, self.verbose = monitor, factor, patience, verbose
        self.min_delta, self.cooldown, self.min_lr = min_delta, cooldown, min_lr
        self.better = _is_better(mode, monitor)
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = self.model.optimizer.learning_rate
        current = logs.get(self.monitor)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.best is None or self.better(current, self.best, self.min_delta):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = self.model.optimizer.learning_rate
                if old > self.min_lr:
                    new = max(old * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new
                    if self.verbose:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0


class LearningRateScheduler(Callback):
    """Set the learning rate at each epoch start to ``schedule(epoch, lr)``."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = self.schedule(epoch, self.model.optimizer.learning_rate)
        if not isinstance(lr, (float, int, np.floating, np.integer)):
            raise ValueError(f'The output of the "schedule" function should be a float. Got: {lr!r}')
        self.model.optimizer.learning_rate = float(lr)
        if self.verbose:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.model.optimizer.learning_rate


class LossWeightScheduler(Callback):
    """Set a multi-output model's loss weights at each epoch start to ``schedule(epoch, weights)``.

    Args:
        schedule: ``(epoch, {output: weight}) -> {output: weight}`` (or a list in output order);
            outputs left out keep their weight.
        verbose: 1 prints the new weights.

    The model must be compiled with fixed ``loss_weights``; the new weights take effect at the
    next step without recompiling (also under ``jit_compile=True``), and History records them
    as ``<output>_loss_weight``.

    Example:
        >>> warm_up = LossWeightScheduler(lambda epoch, w: {**w, "age": min(1.0, 0.1 * (epoch + 1))})
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        weights = self.model.loss_weights
        if weights is None:
            raise RuntimeError("LossWeightScheduler needs a compiled model.")
        new = self.schedule(epoch, dict(weights.items()))
        if not isinstance(new, (dict, list, tuple)):
            raise ValueError(f"The schedule of LossWeightScheduler must return a dict or list of weights. Got: {new!r}")
        weights.update(new)
        if self.verbose:
            print(f"\nEpoch {epoch + 1}: LossWeightScheduler setting loss weights to {dict(weights.items())}.")


class CSVLogger(Callback):
    """Stream each epoch's logs to a CSV file (``append=True`` continues an existing file)."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, append

    def on_train_begin(self, logs=None):
        exists = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self.file = open(self.filename, "a" if self.append else "w", newline="")
        self.writer, self.keys, self.header_written = None, None, exists

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            self.writer = csv.DictWriter(self.file, fieldnames=["epoch"] + self.keys, delimiter=self.sep)
            if not self.header_written:
                self.writer.writeheader()
        self.writer.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in self.keys}})
        self.file.flush()

    def on_train_end(self, logs=None):
        self.file.close()


class TerminateOnNaN(Callback):
    """Stop training as soon as the loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None:
            loss = float(loss() if callable(loss) else loss)
            if math.isnan(loss) or math.isinf(loss):
                print(f"Batch {batch}: Invalid loss, terminating training")
                self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, **hooks):
        super().__init__()
        for name, fn in hooks.items():
            if name not in _HOOKS:
                raise ValueError(f"Unknown callback hook '{name}'. Hooks: {_HOOKS}")
            setattr(self, name, fn)
        # Make CallbackList see the batch hooks given here.
        self.__class__ = type("LambdaCallback", (LambdaCallback,), {n: staticmethod(f) for n, f in hooks.items()})


__all__ = [
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "LossWeightScheduler",
    "ModelCheckpoint",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
]
