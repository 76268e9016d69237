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
        self._epoch = 0
        self._index = -1  # the last training batch index seen this epoch
        self._pending = 0  # training batches run since the last save (an integer save_freq)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._index = epoch, -1

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        # The loop reports the last batch of each execution (indices step by steps_per_execution),
        # so the batches run are the distance from the previous index; as in Keras the count
        # restarts at zero after a save rather than carrying the excess over.
        self._pending += batch - self._index
        self._index = batch
        if self._pending >= self.save_freq:
            self._pending = 0
            self._checkpoint(self._epoch, batch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._checkpoint(epoch, None, logs or {})

    def _checkpoint(self, epoch, batch, logs):
        path = self._format_path(epoch, batch, logs)
        if not self._worth_saving(epoch, logs, path):
            return
        if os.path.isdir(path):
            raise OSError(
                "Please specify a non-directory filepath for ModelCheckpoint. "
                f"Filepath used is an existing directory: {path}"
            )
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        write = self.model.save_weights if self.save_weights_only else self.model.save
        write(path, overwrite=True)

    def _worth_saving(self, epoch, logs, path):
        say = print if self.verbose > 0 else (lambda *_: None)
        if not self.save_best_only:
            say(f"\nEpoch {epoch + 1}: saving model to {path}")
            return True
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=3)
            return True
        if isinstance(value, (np.ndarray, torch.Tensor)) and value.ndim > 0:
            warnings.warn(
                f"Can save best model only when `monitor` is a scalar value. Received: {value}. "
                "Falling back to `save_best_only=False`.",
                stacklevel=3,
            )
            return True
        previous = "None" if self.best is None else f"{self.best:.5f}"
        if self.best is not None and not self.better(value, self.best, 0):
            say(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {previous}")
            return False
        say(f"\nEpoch {epoch + 1}: {self.monitor} improved from {previous} to {value:.5f}, saving model to {path}")
        self.best = value
        return True

    def _format_path(self, epoch, batch, logs):
        # epoch and batch are 1-based in file names; a "batch" key in the logs wins over ours.
        fields = {"epoch": epoch + 1}
        if batch is not None:
            fields["batch"] = batch + 1
        fields.update(logs)
        try:
            return self.filepath.format(**fields)
        except KeyError as e:
            raise KeyError(
                f'Failed to format this callback filepath: "{self.filepath}". Reason: {e} is not in the logs. '
                f"Available keys: {['epoch', 'batch'] + list(logs)}"
            ) from None
