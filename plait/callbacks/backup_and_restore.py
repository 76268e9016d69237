"""``BackupAndRestore``: resume a fit that was killed, to exactly the weights and History of an
uninterrupted one.

One file, ``<backup_dir>/backup.safetensors``, holds everything a restart needs: the weights and
buffers, the optimizer's state, the loss balancer's state, the metrics' running state (for a
backup taken mid-epoch), the random generators (Python, numpy, torch, CUDA), the epoch and step,
the random state before the epoch drew its shuffled order, and the History so far. It is written atomically (a temporary
file, then a rename), so a kill at any point, even mid-save, leaves the previous backup whole.
"""

import json
import os
import random
import shutil

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from plait.callbacks.callback import Callback
from plait.distribution import collectives, sharding
from plait.utils.file_utils import atomic_write

_FILE = "backup.safetensors"


class BackupAndRestore(Callback):
    """Back up the training state, and restore it when a fit restarts (Keras's callback, plus
    mid-epoch resumption with the same data order and random draws).

    Args:
        backup_dir: the folder of the backup (created if missing; keep it for this fit only:
            ``delete_checkpoint`` removes the whole folder, as Keras does).
        save_freq: ``"epoch"`` (after every epoch) or an integer: after every that many
            training batches (counted across epochs, checked once per ``steps_per_execution``).
        delete_checkpoint: remove the backup when the fit completes.

    A fit restarted with the same model, ``compile`` and ``fit`` arguments (and this callback)
    continues where the backup was taken; it ends with bit-identical weights and the same
    History as a fit that was never interrupted, shuffling and dropout included. The model
    must be built before ``fit`` (give it an ``Input``).

    Example:
        >>> import numpy as np, plait, tempfile
        >>> model = plait.Sequential([plait.Input((3,)), plait.layers.Dense(1)])
        >>> model.compile("sgd", "mse")
        >>> backup = plait.callbacks.BackupAndRestore(tempfile.mkdtemp(), save_freq=2)
        >>> history = model.fit(np.ones((8, 3)), np.ones((8, 1)), batch_size=2, epochs=2, verbose=0,
        ...                     callbacks=[backup])
        >>> len(history.history["loss"])
        2
    """

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError(f"Empty `backup_dir` argument passed. Received: backup_dir={backup_dir!r}")
        if save_freq != "epoch" and (not isinstance(save_freq, int) or isinstance(save_freq, bool) or save_freq < 1):
            raise ValueError(
                "Invalid value for argument `save_freq`. Expected either 'epoch' or a positive integer. "
                f"Received: save_freq={save_freq!r}"
            )
        self.backup_dir, self.save_freq, self.delete_checkpoint = os.fspath(backup_dir), save_freq, delete_checkpoint
        self.path = os.path.join(self.backup_dir, _FILE)
        if os.path.exists(self.backup_dir) and not os.path.isdir(self.backup_dir):
            raise NotADirectoryError(f"`backup_dir` must be a folder. Received: backup_dir={self.backup_dir!r}, a file")
        self._epoch, self._seen, self._last_batch = 0, 0, None

    # ------------------------------------------------------------------ restore
    def on_train_begin(self, logs=None):
        self._epoch, self._seen, self._last_batch = 0, 0, None
        if os.path.exists(self.path):
            self.model.fit_state.resume_from(_Resume(self.path, self.model))

    # ------------------------------------------------------------------ back up
    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._last_batch = epoch, None

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        added = batch + 1 if self._last_batch is None or batch <= self._last_batch else batch - self._last_batch
        self._last_batch = batch
        self._seen += added
        if self._seen >= self.save_freq:
            self._seen = 0
            self._save(self._epoch, batch + 1, None)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch + 1, 0, logs)

    def on_train_end(self, logs=None):
        with collectives.writer() as writes:  # under a distribution: process 0 deletes, all wait
            if writes and self.delete_checkpoint and os.path.isdir(self.backup_dir):
                shutil.rmtree(self.backup_dir)  # as Keras: the folder is this fit's alone

    def _save(self, epoch, step, epoch_logs):
        model = self.model
        history = getattr(model, "history", None)
        records = {k: list(v) for k, v in (history.history if history is not None else {}).items()}
        epochs = list(history.epoch) if history is not None else []
        if epoch_logs is not None:  # History records this epoch after the user's callbacks
            epochs.append(epoch - 1)
            for key, value in epoch_logs.items():
                records.setdefault(key, []).append(value)
        tensors = {f"weights.{k}": v for k, v in model.state_dict().items()}
        optimizer = model.optimizer
        meta = {"epoch": epoch, "step": step, "history": records, "history_epochs": epochs}
        meta["weights_order"] = list(model.state_dict())  # safetensors sorts its keys
        if optimizer is not None and optimizer.params is not None:
            for key, value in optimizer.state_dict().items():
                if torch.is_tensor(value):
                    tensors[f"optimizer.{key}"] = value
                else:
                    meta.setdefault("optimizer", {})[key] = value
            if getattr(optimizer, "learning_rate_schedule", True) is None:  # a number, not a schedule
                meta["learning_rate"] = float(optimizer.learning_rate)
        balancer = getattr(model, "loss_balancer", None)
        if balancer is not None and hasattr(balancer, "state_dict"):
            tensors.update({f"balancer.{k}": v for k, v in balancer.state_dict().items()})
        if step:  # mid-epoch: the metrics' running totals
            for i, metric in enumerate(_leaf_metrics(model)):
                for name, value in vars(metric).items():
                    if torch.is_tensor(value):
                        tensors[f"metric.{i}.{name}"] = value
        state = getattr(model, "fit_state", None)
        iterator = state.iterator if state is not None else None
        # The state this epoch's pass drew its shuffled order from, and how far into that pass
        # the epoch to resume starts (steps_per_epoch shorter than the data: epochs carry on a pass).
        offset = (iterator.epoch_offset if step else iterator.carried_batches) if iterator is not None else 0
        if (step or offset) and getattr(iterator, "epoch_rng_state", None) is not None:
            tensors["rng.epoch_torch"] = iterator.epoch_rng_state
            meta["epoch_offset"] = int(offset)
        tensors["rng.torch"] = torch.get_rng_state()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            tensors["rng.cuda"] = torch.stack(torch.cuda.get_rng_state_all())
        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        tensors["rng.numpy"] = torch.from_numpy(keys.astype(np.int64))
        meta["rng_numpy"] = [kind, int(pos), int(has_gauss), float(gauss)]
        version, state, gauss_next = random.getstate()
        meta["rng_python"] = [version, list(state), gauss_next]
        # ``full``: weights sharded under ModelParallel are gathered whole (every process calls this).
        tensors = {k: sharding.full(v.detach()).contiguous().cpu() for k, v in tensors.items()}
        with collectives.writer() as writes:  # process 0 writes; the others wait until it is complete
            if writes:
                os.makedirs(self.backup_dir, exist_ok=True)
                metadata = {"plait_backup": json.dumps(meta)}
                atomic_write(self.path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


class _Resume:
    """A backup read back: what ``fit`` needs to continue (``epoch``, ``step``) and to put the
    model, optimizer, random generators, data order, History and metrics where they were."""

    def __init__(self, path, model):
        self.path = path
        try:
            with safe_open(path, "pt") as f:
                self.meta = json.loads(f.metadata()["plait_backup"])
                self.tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
        except Exception as error:  # noqa: BLE001 (any unreadable file is the same error for the user)
            raise ValueError(f"The backup '{path}' cannot be read ({error}); delete it to start afresh.") from None
        self.epoch, self.step = int(self.meta["epoch"]), int(self.meta["step"])
        self._restore_model(model)

    def _ordered_weights(self):
        return [self.tensors[f"weights.{k}"] for k in self.meta["weights_order"]]

    def _part(self, prefix):
        return {k[len(prefix) :]: v for k, v in self.tensors.items() if k.startswith(prefix)}

    def _restore_model(self, model):
        weights = self._part("weights.")
        own = model.state_dict()
        if set(weights) != set(own):  # automatic layer names differ: match in order, as load_weights does
            weights = dict(zip(own, self._ordered_weights()))
        if len(weights) != len(own) or any(tuple(own[k].shape) != tuple(v.shape) for k, v in weights.items()):
            raise ValueError(
                f"The backup '{self.path}' does not fit model '{model.name}': it holds {len(weights)} weights "
                f"{[tuple(v.shape) for v in weights.values()][:4]}..., the model {len(own)} "
                f"{[tuple(v.shape) for v in own.values()][:4]}.... Use a new backup_dir for another model."
            )
        with torch.no_grad():
            for key, value in weights.items():
                own[key].copy_(value)
        optimizer = model.optimizer
        state = self._part("optimizer.")
        if optimizer is not None and (state or "optimizer" in self.meta):
            model.prepare_optimizer()  # built now, so the first step does not build it afresh
            optimizer.load_state_dict({**self.meta.get("optimizer", {}), **state})
            if "learning_rate" in self.meta:
                optimizer.learning_rate = self.meta["learning_rate"]
        balancer = getattr(model, "loss_balancer", None)
        balancer_state = self._part("balancer.")
        if balancer is not None and balancer_state and hasattr(balancer, "load_state_dict"):
            balancer.load_state_dict(balancer_state)

    def apply(self, model, epoch_iterator):
        """After ``on_train_begin``: the History so far and the random state."""
        if model.history is not None:
            model.history.history = {k: list(v) for k, v in self.meta["history"].items()}
            model.history.epoch = list(self.meta["history_epochs"])
        offset = self.meta.get("epoch_offset", 0)
        if (self.step or offset) and "rng.epoch_torch" in self.tensors:
            # The state the epoch's pass drew its order from; the state at the backup comes back
            # once the batches that already ran are skipped (restore_epoch_state, or at once
            # when the backup was taken between epochs).
            torch.set_rng_state(self.tensors["rng.epoch_torch"])
            epoch_iterator.resume(offset)
            if not self.step:
                self._restore_rng()
        else:
            self._restore_rng()

    def _restore_rng(self):
        torch.set_rng_state(self.tensors["rng.torch"])
        if "rng.cuda" in self.tensors and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(list(self.tensors["rng.cuda"]))
        kind, pos, has_gauss, gauss = self.meta["rng_numpy"]
        np.random.set_state((kind, self.tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, gauss))
        version, state, gauss_next = self.meta["rng_python"]
        random.setstate((version, tuple(state), gauss_next))

    def restore_epoch_state(self, model):
        """At the first batch after those skipped in a resumed epoch: the random state and the
        metrics' running totals."""
        self._restore_rng()
        for i, metric in enumerate(_leaf_metrics(model)):
            for name, value in self._part(f"metric.{i}.").items():
                current = getattr(metric, name, None)
                setattr(metric, name, value.to(current.device) if torch.is_tensor(current) else value)


def _leaf_metrics(model):
    out = []
    for metric in model.metrics:
        inner = getattr(metric, "metrics", None)
        out += list(inner) if isinstance(inner, list) else [metric]
    return out
