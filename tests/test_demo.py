"""The README's demo (examples/seed_demo.py), run as a newcomer runs it with its output piped
to a file: it says what each model trains and how long it should take, prints a line at least
every 10 seconds, and ends with a table of what each model learned. ``--tiny`` is the same
program on a few samples."""

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_demo_piped(*args):
    """The demo's lines, each with the seconds since start at which it arrived."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "error"}
    start = time.perf_counter()
    with subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "seed_demo.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    ) as process:
        lines = [(time.perf_counter() - start, line.rstrip("\n")) for line in process.stdout]
        assert process.wait(timeout=900) == 0, "\n".join(line for _, line in lines[-40:])
    return lines


def test_demo_talks_while_it_trains_and_ends_with_a_table():
    lines = run_demo_piped("--tiny")
    text = "\n".join(line for _, line in lines)
    times = [0.0] + [t for t, _ in lines]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert max(gaps) <= 10.0, f"silent for {max(gaps):.1f} s before: {lines[gaps.index(max(gaps))][1]!r}"
    # Each section says what it trains and about how long it takes.
    for title in ("# 1. Sequential and functional MLP", "# 2. Multi-input question-answering", "# 3. Multi-output"):
        assert title in text
    assert text.count("on an idle 2-core CPU") == 3
    # The seed's summaries, with Keras 3's closing lines.
    assert "Total params: 3,466 (13.54 KB)" in text and "Total params: 14,146,316 (53.96 MB)" in text
    # The closing table: one row per result, with what guessing gets.
    table = text[text.index("| Model") :]
    for row in ("1. MLP", "2. Question answering", "3. Multi-output: age", "Multi-output: sex", "Multi-output: income"):
        assert row in table
    assert "Guessing gets" in table and "Demo finished in" in text
    assert "--full" in text  # a quick run says how to get the long one


def test_demo_help_names_the_full_run():
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "seed_demo.py"), "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0 and "--full" in result.stdout and "--tiny" not in result.stdout
