"""``EarlyStopping``: stop training when a monitored value stops improving."""

import copy
import warnings

from plait.callbacks.callback import Callback
from plait.callbacks.monitor import is_better


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
        self.better = is_better(mode, monitor)

    def on_train_begin(self, logs=None):
        # Keras's public state: epochs waited, where it stopped, the best value, epoch and weights.
        self.wait, self.stopped_epoch = 0, 0
        self.best, self.best_epoch, self.best_weights = None, 0, None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:  # Keras warns and does nothing: the callback cannot act
            warnings.warn(
                f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(logs)}",
                stacklevel=2,
            )
            return
        if epoch < self.start_from_epoch:
            return
        self.wait += 1
        # As in Keras the baseline is not a first "best": the first watched epoch always improves
        # (so its weights are kept), and only beating the baseline too restarts the patience count.
        improved = self.best is None or self.better(value, self.best, self.min_delta)
        if improved:
            self.best, self.best_epoch = value, epoch
            if self.baseline is None or self.better(value, self.baseline, 0):
                self.wait = 0
            if self.restore_best_weights:
                self.best_weights = copy.deepcopy(self.model.state_dict())
        if not improved and epoch > 0 and self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        restore = self.restore_best_weights and self.best_weights is not None
        if self.verbose and self.stopped_epoch:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.verbose and restore:
            print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
        if restore:
            self.model.load_state_dict(self.best_weights)
