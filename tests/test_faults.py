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

    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=fault_worker.run, args=(mode, str(folder), send))
    proc.start()
    send.close()
    return proc, receive


def run(ctx, mode, folder):
    proc, receive = start(ctx, mode, folder)
    proc.join(timeout=120)
    assert proc.exitcode == 0, f"the worker ({mode}) failed with exit code {proc.exitcode}"
    receive.close()


def kill_after(proc, receive, line, extra_delay):
    """Read the worker's messages until ``line``, wait ``extra_delay`` seconds, then SIGKILL it."""
    while True:
        try:
            message = receive.recv()
        except EOFError:
            raise AssertionError(f"the worker ended (exit code {proc.exitcode}) before sending {line!r}") from None
        if message == line:
            break
    time.sleep(extra_delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(timeout=30)
    assert proc.exitcode == -signal.SIGKILL
    receive.close()


def results(folder, mode):
    weights = load_file(os.path.join(folder, f"{mode}.safetensors"))
    with open(os.path.join(folder, f"{mode}.json")) as f:
        return weights, json.load(f)


def test_sigkill_at_five_random_points_then_restart_gives_the_uninterrupted_weights_and_history(context, tmp_path):
    run(context, "plain", tmp_path)
    # 4 epochs of 72 training samples in batches of 16: 5 batches an epoch, 20 in all, with a
    # backup after every batch. Each (re)started process is killed after a random number of its
    # own batches, at a random moment after that batch's backup began (often mid-save); it
    # resumes from the last backup that completed.
    draw = random.Random(0)
    for _ in range(5):
        kill_after(*start(context, "backup", tmp_path), f"batch {draw.randint(1, 4)}", draw.random() * 0.02)
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
