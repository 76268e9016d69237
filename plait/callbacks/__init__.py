"""Callbacks with Keras's hook API (``on_epoch_end(epoch, logs)``, ``self.model``, ...).

Example:
    >>> import plait
    >>> stop = plait.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
"""

from plait.callbacks.backup_and_restore import BackupAndRestore
from plait.callbacks.callback import Callback
from plait.callbacks.callback_list import CallbackList
from plait.callbacks.csv_logger import CSVLogger
from plait.callbacks.early_stopping import EarlyStopping
from plait.callbacks.history import History
from plait.callbacks.lambda_callback import LambdaCallback
from plait.callbacks.learning_rate_scheduler import LearningRateScheduler
from plait.callbacks.loss_weight_scheduler import LossWeightScheduler
from plait.callbacks.model_checkpoint import ModelCheckpoint
from plait.callbacks.progbar_logger import ProgbarLogger
from plait.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau
from plait.callbacks.remote_monitor import RemoteMonitor
from plait.callbacks.swap_ema_weights import SwapEMAWeights
from plait.callbacks.tensorboard import TensorBoard
from plait.callbacks.terminate_on_nan import TerminateOnNaN
from plait.callbacks.unsupported import OrbaxCheckpoint

__all__ = [
    "BackupAndRestore",
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "LossWeightScheduler",
    "ModelCheckpoint",
    "OrbaxCheckpoint",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "RemoteMonitor",
    "SwapEMAWeights",
    "TensorBoard",
    "TerminateOnNaN",
]
