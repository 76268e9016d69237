"""The seed MLP's training step on a quiet CPU and with one competing busy process, and the time
``import plait`` adds to ``import torch``.

Configurations alternate within each round, each in its own process (so each starts with
torch's own thread settings):
- ``plait``: ``fit`` with its defaults, which measure torch's thread count on the fit's steps
  (``plait.training.threads``);
- ``plait, torch's threads``: the same with ``PLAIT_NUM_THREADS=off`` (torch's count, as before);
- ``torch loop``: a hand-written torch loop (same layers, RMSprop, softmax cross-entropy) with
  torch's thread count.

"Busy" runs each one while another process spins on one core (``while True: pass``), as a
second job, a notebook or a data-loading worker would. The table gives the median milliseconds
per step over the rounds and the busy/quiet ratio.

    python benchmarks/busy_cpu.py --rounds 3
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

STEPS, BATCH = 100, 128

CHILD = r"""
import os, sys, time
import numpy as np
import torch
kind = sys.argv[1]
rng = np.random.default_rng(0)
x = rng.normal(size=(STEPS * BATCH, 64)).astype("float32")
y = np.eye(10, dtype="float32")[(x @ rng.normal(size=(64, 10))).argmax(-1)]
if kind == "torch":
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32), torch.nn.ReLU(),
                                torch.nn.Linear(32, 10))
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).argmax(-1)
    def epoch():
        for i in range(STEPS):
            part = slice(i * BATCH, (i + 1) * BATCH)
            loss = torch.nn.functional.cross_entropy(model(xt[part]), yt[part])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
else:
    import plait
    inputs = plait.Input(shape=(64,))
    h = plait.layers.Dense(32, activation="relu")(inputs)
    h = plait.layers.Dense(32, activation="relu")(h)
    model = plait.Model(inputs, plait.layers.Dense(10, activation="softmax")(h))
    model.compile("rmsprop", "categorical_crossentropy", jit_compile=False)
    def epoch():
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
epoch()  # warm up
start = time.perf_counter()
epoch()
print((time.perf_counter() - start) / STEPS * 1e3)
""".replace("STEPS", str(STEPS)).replace("BATCH", str(BATCH))

CONFIGS = {
    "plait": ("plait", {}),
    "plait, torch's threads": ("plait", {"PLAIT_NUM_THREADS": "off"}),
    "torch loop": ("torch", {}),
}


def step_ms(config, busy):
    kind, extra = CONFIGS[config]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env.update(extra)
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        out = subprocess.run([sys.executable, "-c", CHILD, kind], env=env, capture_output=True, text=True, check=True)
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    return float(out.stdout.strip().splitlines()[-1])


def import_seconds(code):
    """Seconds of ``code`` in a fresh interpreter whose bytecode is cached (a second run)."""
    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        timer = f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
        runs = []
        for _ in range(4):
            out = subprocess.run([sys.executable, "-c", timer], env=env, capture_output=True, text=True, check=True)
            runs.append(float(out.stdout.strip().splitlines()[-1]))
        return statistics.median(runs[1:])  # the first run writes the bytecode cache


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    load = os.getloadavg()
    times = {(c, b): [] for c in CONFIGS for b in (False, True)}
    imports = {"torch": [], "torch + plait": []}
    for _ in range(args.rounds):
        for busy in (False, True):
            for config in CONFIGS:
                times[config, busy].append(step_ms(config, busy))
        imports["torch"].append(import_seconds("import torch"))
        imports["torch + plait"].append(import_seconds("import torch; import plait"))
    print(f"load average before the run: {load[0]:.1f} (cores: {os.cpu_count()})")
    print("| configuration | quiet ms/step | busy ms/step | busy / quiet |")
    print("|---|---|---|---|")
    rows = {}
    for config in CONFIGS:
        quiet, busy = statistics.median(times[config, False]), statistics.median(times[config, True])
        rows[config] = {"quiet_ms": quiet, "busy_ms": busy, "runs": [times[config, False], times[config, True]]}
        print(f"| {config} | {quiet:.2f} | {busy:.2f} | {busy / quiet:.2f}x |")
    torch_s, both_s = statistics.median(imports["torch"]), statistics.median(imports["torch + plait"])
    print(f"import torch: {torch_s:.2f} s; import torch + plait: {both_s:.2f} s (plait adds {both_s - torch_s:.2f} s)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"load_average": load, "steps": rows, "import_s": imports}, f, indent=1)


if __name__ == "__main__":
    main()
