"""A fit that tests/test_faults.py kills with SIGKILL and restarts, in processes forked from a
forkserver that imported this module (and plait) once: ``run(mode, folder, conn)``. ``conn``
(one end of a multiprocessing Pipe) receives the progress lines. Modes:

- ``plain``: the reference fit, never interrupted, without BackupAndRestore.
- ``backup``: the same fit with ``BackupAndRestore(FOLDER/backup, save_freq=1)``; sends
  ``batch <n>`` after every batch and waits for an answer (after the backup), so the parent knows where to kill it.
- ``checkpoint``: ``ModelCheckpoint(FOLDER/model.keras, save_freq=1)``; from the second save on,
  the save stops just before its rename (sends ``saving``) until it is killed.
- ``checkpoint-once``: one more save to ``FOLDER/model.keras`` (the next save after a kill).

Both fits write the final weights to ``FOLDER/<mode>.safetensors`` and the History to
``FOLDER/<mode>.json``.
"""

import json
import os
import time

import numpy as np
import torch

import plait
from plait import callbacks, layers


def model_and_data():
    plait.utils.set_random_seed(7)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 6)).astype("float32")
    y = (x[:, :3].sum(1) > 0).astype("int64") + (x[:, 3] > 1)
    model = plait.Sequential(
        [
            plait.Input((6,)),
            layers.Dense(16, activation="relu"),
            layers.Dropout(0.3),  # the random draws must resume where they were
            layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, x, y


class Progress(callbacks.Callback):
    def __init__(self, conn):
        super().__init__()
        self.conn, self.seen = conn, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        self.conn.send(f"batch {self.seen}")
        self.conn.recv()  # the test's answer: the worker never runs ahead of it


def fit(mode, folder, conn):
    model, x, y = model_and_data()
    extra = []
    if mode == "backup":
        extra = [callbacks.BackupAndRestore(os.path.join(folder, "backup"), save_freq=1), Progress(conn)]
    history = model.fit(x, y, batch_size=8, epochs=4, validation_split=0.25, shuffle=True, verbose=0, callbacks=extra)
    model.save_weights(os.path.join(folder, f"{mode}.safetensors"))
    with open(os.path.join(folder, f"{mode}.json"), "w") as f:
        json.dump({"history": history.history, "epoch": history.epoch}, f)


def checkpoint(folder, hang, conn):
    model, x, y = model_and_data()
    if hang:
        saves = []
        real_fsync = os.fsync

        def fsync_then_hang(fd):  # the temporary file is written; the rename has not happened
            real_fsync(fd)
            saves.append(fd)
            if len(saves) >= 2:
                conn.send("saving")
                time.sleep(60)

        os.fsync = fsync_then_hang
        path = os.path.join(folder, "model.keras")
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[callbacks.ModelCheckpoint(path, save_freq=1)])
    else:
        model.save(os.path.join(folder, "model.keras"))


def run(mode, folder, conn):
    torch.set_num_threads(1)
    if mode.startswith("checkpoint"):
        checkpoint(folder, mode == "checkpoint", conn)
    else:
        fit(mode, folder, conn)
    conn.send("done")
