"""``ModelCheckpoint``: save the model or its weights after epochs or every N batches."""

import os
import warnings

import numpy as np
import torch

from plait.callbacks.callback import Callback
from plait.callbacks.monitor import is_better


class ModelCheckpoint(Callback):
    """Save the model (or its weights) after every epoch or every ``save_freq`` batches,
    optionally only when ``monitor`` improves (Keras's ``ModelCheckpoint``).

    Args:
        filepath: where to save; may hold format fields filled with ``epoch`` (1-based),
            ``batch`` (1-based, with an integer ``save_freq``) and the logs' keys, with
            Python format specs: ``"w.{epoch:02d}-{val_loss:.2f}.weights.h5"``. The name picks
            the format as ``save``/``save_weights`` do (``.keras``, ``.weights.h5``,
            ``.safetensors``, ``.plait``).
        monitor: log key compared with ``save_best_only`` (default ``"val_loss"``).
        verbose: 1 prints a line when saving (or not improving).
        save_best_only: save only when ``monitor`` improves on the best so far.
        save_weights_only: ``model.save_weights`` instead of ``model.save``.
        mode: ``"auto"``/``"min"``/``"max"``: whether smaller or larger is better (auto:
            larger for accuracy-like names).
        save_freq: ``"epoch"``, or an integer: save after every that many training batches
            (counted across epochs, checked once per ``steps_per_execution``).
        initial_value_threshold: the best value to beat at the start (``save_best_only``).

    Files are written atomically (a temporary file, then a rename), so an interrupted save
    never destroys the previous checkpoint.

    Example:
        >>> ckpt = ModelCheckpoint("w.{epoch:02d}-{val_loss:.2f}.weights.h5", save_weights_only=True)
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
        if save_freq != "epoch" and (not isinstance(save_freq, int) or isinstance(save_freq, bool) or save_freq < 1):
            raise ValueError(
                f"Unrecognized save_freq: {save_freq!r}. Expected save_freq are 'epoch' or positive integer values"
            )
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"ModelCheckpoint mode '{mode}' is unknown, fallback to auto mode.", stacklevel=2)
            mode = "auto"
        self.filepath, self.monitor, self.verbose = os.fspath(filepath), monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.mode, self.save_freq = mode, save_freq
        self.better = is_better(mode, monitor)
        self.best = initial_value_threshold
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = None
        self._current_epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs)

    def _should_save_on_batch(self, batch):
        # Batch indices restart each epoch and advance by steps_per_execution (Keras's count).
        if self.save_freq == "epoch":
            return False
        if self._last_batch_seen is None or batch <= self._last_batch_seen:
            added = batch + 1
        else:
            added = batch - self._last_batch_seen
        self._batches_seen_since_last_saving += added
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _save_model(self, epoch, batch, logs):
        logs = logs or {}
        path = self._get_file_path(epoch, batch, logs)
        if not self._should_save(epoch, logs, path):
            return
        dirname = os.path.dirname(path)
        if dirname:
            os.makedirs(dirname, exist_ok=True)
        if os.path.isdir(path):
            raise OSError(
                "Please specify a non-directory filepath for ModelCheckpoint. "
                f"Filepath used is an existing directory: {path}"
            )
        if self.save_weights_only:
            self.model.save_weights(path, overwrite=True)
        else:
            self.model.save(path, overwrite=True)

    def _should_save(self, epoch, logs, path):
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {path}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=3)
            return True
        if isinstance(current, (np.ndarray, torch.Tensor)) and current.ndim > 0:
            warnings.warn(
                f"Can save best model only when `monitor` is a scalar value. Received: {current}. "
                "Falling back to `save_best_only=False`.",
                stacklevel=3,
            )
            return True
        best_str = "None" if self.best is None else f"{self.best:.5f}"
        if self.best is None or self.better(current, self.best, 0):
            if self.verbose > 0:
                print(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {best_str} to {current:.5f}, "
                    f"saving model to {path}"
                )
            self.best = current
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best_str}")
        return False

    def _get_file_path(self, epoch, batch, logs):
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as e:
            raise KeyError(
                f'Failed to format this callback filepath: "{self.filepath}". Reason: {e} is not in the logs. '
                f"Available keys: {['epoch', 'batch'] + list(logs)}"
            ) from None
