"""The plumbing of ``benchmarks/step_time.py``: its numbers from timings, its targets, its
data-parallel sharding and its flags. Nothing here times anything (no timed assertions): the
inputs are made-up timings with known answers."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import step_time  # noqa: E402
import step_time_parallel  # noqa: E402
import step_time_report  # noqa: E402
import step_time_runs  # noqa: E402


def test_stats_from_epoch_and_step_times():
    # 2 epochs of 3 steps; the fit's first step (2 s) is left out of the median and the maximum
    got = step_time_runs.stats([2.3, 0.6], [2.0, 0.1, 0.2, 0.1, 0.4, 0.1], fit_s=3.0, steps_per_epoch=3)
    assert got["steady_ms"] == pytest.approx(200.0)  # the second epoch's 0.6 s over 3 steps
    assert got["median_step_ms"] == pytest.approx(100.0)
    assert got["max_step_ms"] == pytest.approx(400.0)
    assert got["max_step_at"] == 4
    assert (got["first_epoch_s"], got["fit_s"], got["steps"]) == (2.3, 3.0, 6)


@pytest.mark.parametrize(
    "max_ms, median_ms, ok",
    [(240, 1, True), (260, 1, False), (490, 100, True), (510, 100, False)],
)
def test_stall_limit_is_five_medians_or_a_quarter_second(max_ms, median_ms, ok):
    assert step_time_report.stall_ok({"max_step_ms": max_ms, "median_step_ms": median_ms}) is ok


def _run(fit_s, steady_ms, max_ms=1.0, median_ms=1.0):
    return {
        "fit_s": fit_s,
        "steady_ms": steady_ms,
        "max_step_ms": max_ms,
        "median_step_ms": median_ms,
        "first_epoch_s": fit_s / 3,
        "peak_mb": 100.0,
        "loss": 1.0,
    }


def test_targets_are_ratios_to_keras_jax():
    results = {
        ("short", "mlp", "plait"): [_run(1.0, 1.0), _run(3.0, 1.0)],  # median over rounds: 2.0 s
        ("short", "mlp", "keras (jax)"): [_run(10.0, 0.5)],
        ("long", "mlp", "plait"): [_run(5.0, 0.3, max_ms=300.0, median_ms=0.3)],  # a stall
        ("long", "mlp", "keras (jax)"): [_run(10.0, 0.5)],
        ("busy", "mlp", "plait"): [_run(1.0, 3.0)],
        ("busy", "mlp", "keras (jax)"): [_run(10.0, 1.0)],
    }
    imports = {"torch": [3.0, 4.0], "plait after torch": [0.4, 0.8]}
    dp = {("plait", 1): [{"samples_per_s": 10.0}], ("plait", 2): [{"samples_per_s": 17.0}]}
    summary = step_time_report.summarize(results, imports, dp)
    met = {
        (scope, target.split(" ")[0]): (measured, ok)
        for scope, target, measured, ok in step_time_report.targets(summary, sgemm=100.0)
    }
    assert met["mlp", "long"] == ("0.50x", True)  # 5 s over 10 s, at most 0.6x
    assert met["mlp", "3-epoch"] == ("0.20x", False)  # 2 s over 10 s, today's 0.18x
    assert met["mlp", "busy"] == ("3.00x busy / 2.00x quiet", False)  # 1.5 times the quiet ratio, over 1.2
    assert met["all", "`import"] == ("0.60 s", False)
    assert met["dp", "2-process"] == ("1.70x", True)
    stalls = [ok for scope, target, _, ok in step_time_report.targets(summary, 100.0) if "stall" in target]
    assert stalls == [False, True]  # the long fit's 300 ms step over max(5 x 0.3 ms, 250 ms)
    text = step_time_report.markdown(summary, _meta())
    assert "| plait | 5.00 | 0.50x | 0.3 | 300 / 0.3 | **no** |" in text


def _meta():
    return {
        "machine": "x86_64, 2 cores",
        "torch": "2",
        "device": "cpu",
        "sgemm_gflops": 100.0,
        "rounds": 1,
        "long_epochs": {"mlp": 256},
        "dp": {"model": "conv", "batch": 64, "steps": 3},
    }


def test_each_process_gets_its_part_of_every_global_batch():
    x = np.arange(12)[:, None] * np.ones((1, 2))  # 3 global batches of 2 processes x 2 rows
    rank0, rank1 = (step_time_parallel.shard([x], world=2, rank=r, batch=2)[0] for r in (0, 1))
    np.testing.assert_array_equal(rank0[:, 0], [0, 1, 4, 5, 8, 9])
    np.testing.assert_array_equal(rank1[:, 0], [2, 3, 6, 7, 10, 11])


def test_long_steps_flag():
    assert step_time.long_epochs("", ["mlp", "qa", "conv"]) == {"mlp": 256, "qa": 26, "conv": 8}
    assert step_time.long_epochs("mlp=600,conv=1", ["mlp", "conv"]) == {"mlp": 10, "conv": 1}
    with pytest.raises(SystemExit, match="model=steps"):
        step_time.long_epochs("cnn=5", ["mlp"])
