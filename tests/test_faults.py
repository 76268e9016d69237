"""Faults with real processes: a fit killed with SIGKILL (mid-epoch, mid-save) and restarted
with BackupAndRestore ends exactly where an uninterrupted fit ends; a ModelCheckpoint save
killed before its rename leaves the previous file whole, and the next save cleans up.

The worker is tests/fault_worker.py; the processes are forked from a server that imported plait.
"""

import json
import multiprocessing
import os
import random
import signal
import sys
import time

import numpy as np
import pytest
from safetensors.numpy import load_file

import plait

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")


@pytest.fixture(scope="module")
def context():
    """Processes forked from one server that imported plait once (a fresh interpreter would spend
    most of each run importing torch)."""
    sys.path.insert(0, os.path.dirname(__file__))
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["plait"])  # the server has no sys.path for tests/ yet: plait is what costs
    yield ctx
    sys.path.remove(os.path.dirname(__file__))


def start(ctx, mode, folder):
    import fault_worker

    ours, theirs = ctx.Pipe()
    proc = ctx.Process(target=fault_worker.run, args=(mode, str(folder), theirs))
    proc.start()
    theirs.close()
    return proc, ours


def drive(proc, conn, kill_at=None, delay=0.0):
    """Answer the worker's ``batch <n>`` messages (it waits for each answer, so it never runs
    ahead of this process); at ``kill_at`` answer, wait ``delay`` seconds (the worker is then in
    its next batch, or its backup) and SIGKILL it. Without ``kill_at``: until it is done."""
    while True:
        try:
            message = conn.recv()
        except EOFError:
            raise AssertionError(f"the worker ended (exit code {proc.exitcode}) before {kill_at!r}") from None
        if message.startswith("batch"):
            conn.send("go")
        if kill_at is not None and message == kill_at:
            time.sleep(delay)
            os.kill(proc.pid, signal.SIGKILL)
            proc.join(timeout=30)
            assert proc.exitcode == -signal.SIGKILL
            break
        if message == "done":
            proc.join(timeout=120)
            assert proc.exitcode == 0, f"the worker failed with exit code {proc.exitcode}"
            break
    conn.close()


def run(ctx, mode, folder):
    drive(*start(ctx, mode, folder))


def kill_after(proc, conn, line, delay):
    drive(proc, conn, kill_at=line, delay=delay)


def results(folder, mode):
    weights = load_file(os.path.join(folder, f"{mode}.safetensors"))
    with open(os.path.join(folder, f"{mode}.json")) as f:
        return weights, json.load(f)


def test_sigkill_at_five_random_points_then_restart_gives_the_uninterrupted_weights_and_history(context, tmp_path):
    run(context, "plain", tmp_path)
    # 4 epochs of 72 training samples in batches of 8: 9 batches an epoch, 36 in all, with a
    # backup after every batch. Each (re)started process is killed a random 0-10 ms after its
    # 1st to 3rd batch (so 5 kills fit in the 36): in its next batch or mid-backup. It resumes
    # from the last backup that completed.
    draw = random.Random(0)
    for _ in range(5):
        kill_after(*start(context, "backup", tmp_path), f"batch {draw.randint(1, 3)}", draw.random() * 0.01)
        assert os.path.isdir(tmp_path / "backup")
    run(context, "backup", tmp_path)
    expected_weights, expected = results(tmp_path, "plain")
    weights, got = results(tmp_path, "backup")
    assert list(weights) == list(expected_weights)
    for name in expected_weights:
        np.testing.assert_array_equal(weights[name], expected_weights[name], err_msg=name)
    assert got == expected  # the History, bit for bit (JSON floats round-trip exactly)
    assert not (tmp_path / "backup").exists()  # delete_checkpoint removed it at the end
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]


def test_a_killed_checkpoint_save_keeps_the_previous_file_and_the_next_save_cleans_up(context, tmp_path):
    kill_after(
        *start(context, "checkpoint", tmp_path), "saving", 0.0
    )  # killed after writing the temporary file, before its rename
    litter = [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]
    assert litter, "the kill should have left the temporary file of the interrupted save"
    model = plait.models.load_model(str(tmp_path / "model.keras"))  # the previous save, whole
    assert model.predict(np.zeros((2, 6), "float32"), verbose=0).shape == (2, 3)
    run(context, "checkpoint-once", tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["model.keras"]


class _Crash(Exception):
    pass


@pytest.mark.filterwarnings("ignore:Your input ran out of data")
def test_resume_with_steps_per_epoch_shorter_than_the_data_carries_the_pass_on(tmp_path):
    """Epochs that carry a pass over the data on (steps_per_epoch shorter than the data, as
    Keras 3.15): a fit interrupted mid-epoch and between epochs, then resumed with
    BackupAndRestore, ends with the uninterrupted weights and History, shuffling included."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 5)).astype("float32"), rng.normal(size=(40, 1)).astype("float32")

    def fit(crash_at=None, backup=None):
        plait.utils.set_random_seed(3)
        model = plait.Sequential([plait.Input((5,)), plait.layers.Dense(4), plait.layers.Dense(1)])
        model.compile("adam", "mse")
        seen = []

        class Stop(plait.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                seen.append(batch)
                if len(seen) == crash_at:
                    raise _Crash

        extra = [plait.callbacks.BackupAndRestore(backup, save_freq=1)] if backup else []
        # 5 batches of 8 per pass, 3 steps per epoch: the passes straddle the epochs.
        history = model.fit(
            x, y, batch_size=8, epochs=4, steps_per_epoch=3, shuffle=True, verbose=0, callbacks=extra + [Stop()]
        )
        return model.get_weights(), history.history

    expected_weights, expected_history = fit()
    for crash_at in (4, 6):  # mid-epoch (one batch into epoch 2), and at an epoch's last batch
        backup = tmp_path / f"backup_{crash_at}"
        with pytest.raises(_Crash):
            fit(crash_at, backup)
        weights, history = fit(backup=backup)
        assert history == expected_history, crash_at
        for a, b in zip(weights, expected_weights):
            np.testing.assert_array_equal(a, b)
