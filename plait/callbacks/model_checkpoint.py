"""``ModelCheckpoint``: save the model or its weights after epochs."""

import os

from plait.callbacks.callback import Callback
from plait.callbacks.monitor import is_better


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
        self.better = is_better(mode, monitor)
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
