"""Training speed of the seed's three models: plait, Keras 3 on jax and a hand-written torch loop.

Side by side in one run (Keras's torch and tensorflow backends too, with ``--backends``).

Each configuration runs in its own process, on the same synthetic data of the seed's shapes
with RMSprop; configurations alternate within each round (in a rotated order each round), and
the tables take the median over rounds. Per model it measures:
- **short fit** (3 epochs), every configuration: the steady step (median over the epochs after
  the first of the epoch's time per step), the whole ``fit``, the first epoch (tracing and
  compilation included), the longest and the median single step after the first, the peak
  memory and the final loss (plait and Keras start from the same weights);
- **long fit** (``--long-steps``: thousands of MLP steps, hundreds of QA steps, tens of conv
  steps, as epochs of the short fit's data), plait's defaults, the torch loop and Keras-jax:
  the whole ``fit``, its steady step, and the compile-stall check (no step after the first
  over 5x the median step or 0.25 s);
- **busy**: the short fit again while one other process spins on a core (``while True: pass``).

Once per round, with no model:
- **import**: ``import torch`` and ``import torch; import plait`` (and jax / jax + keras) in fresh
  interpreters with a warm bytecode cache;
- **dp**: two-process data-parallel scaling on the CPU, one thread per process
  (``step_time_parallel.py``).

It also measures this machine's sgemm rate (float32 matrix products), the conv model's
arithmetic rate against it, and marks issue 24's targets met or missed. The modules beside it:
``step_time_models.py`` (models and data), ``step_time_runs.py`` (one timed run),
``step_time_parallel.py`` (data parallel), ``step_time_report.py`` (tables and targets).

Keras's backends each run in their own virtual environment under ``benchmarks/.envs``. The
benchmark creates it with pip when it is missing, or uses the current interpreter when it
already has Keras and that backend. A backend that cannot be installed is skipped with a note.

    python benchmarks/step_time.py                # everything; writes docs/benchmarks.json
    python benchmarks/step_time.py --models mlp --rounds 1 --long-steps mlp=600 --measures short,long
    python benchmarks/step_time.py --device cuda --out docs/benchmarks-gpu.json   # on a GPU
    python benchmarks/step_time.py --render docs/benchmarks.json                  # the tables again
"""

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

# the seed models' definitions, also read by check_overhead.py through this module
from step_time_models import COMPILE, LONG_STEPS, MODELS, build, conv_gflop_per_step, data  # noqa: E402,F401
from step_time_parallel import DP_CONFIGS, dp_worker, launch  # noqa: E402
from step_time_report import markdown, summarize  # noqa: E402
from step_time_runs import IMPORTS, PLAIT_CONFIGS, import_env, import_seconds, worker  # noqa: E402

KERAS_VERSION = "3.15.1"
BACKEND_PACKAGES = {"jax": ["jax[cpu]"], "tensorflow": ["tensorflow-cpu"], "torch": []}
ONLY = {"plait jit spe=4": ("mlp",)}
# the configurations of the long fit and the busy-CPU fit: plait's defaults and the two peers
PEERS = ("plait", "torch", "keras (jax)")
MEASURES = ("short", "long", "busy", "import", "dp")


# --------------------------------------------------------------------------- environments
def keras_python(backend, install):
    """The interpreter that runs Keras with ``backend``, or (None, why)."""
    env = os.path.join(HERE, ".envs", f"keras-{backend}")
    python = os.path.join(env, "bin", "python")
    if os.path.exists(python):
        return python, None
    check = f"import keras; import {'tensorflow' if backend == 'tensorflow' else backend}"
    ok = subprocess.run(
        [sys.executable, "-c", check], env={**os.environ, "KERAS_BACKEND": backend}, capture_output=True
    )
    if ok.returncode == 0:
        return sys.executable, None
    if not install:
        return None, "not installed (run without --no-install to create benchmarks/.envs)"
    print(f"creating {env} (keras {KERAS_VERSION}, {backend}) ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", env], check=True)
        packages = [f"keras=={KERAS_VERSION}", "numpy"] + BACKEND_PACKAGES[backend]
        if backend == "torch":  # the CPU build this project pins
            packages.append(_torch_requirement())
        subprocess.run([python, "-m", "pip", "install", "-q", *packages], check=True)
    except subprocess.CalledProcessError as error:
        return None, f"could not be installed ({error})"
    return python, None


def _torch_requirement():
    import torch

    return f"torch=={torch.__version__.split('+')[0]}"


@contextlib.contextmanager
def busy_core(on):
    """One other process spinning on a core while the block runs (when ``on``)."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if on else None
    try:
        yield
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()


def run_config(config, model, python, device, weights, epochs, busy=False, timeout=600):
    """One run of ``config`` in its own process: its RESULT, or ``{"error": ...}``."""
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if config.startswith("keras"):
        env["KERAS_BACKEND"] = config.split()[1].strip("()")
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # peak memory, not a preallocation
        if device == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""
    command = [python, __file__, "--worker", "--config", config, "--model", model, "--device", device]
    command += ["--weights", weights, "--epochs", str(epochs)]
    with busy_core(busy):
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout} s"}
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    return {"error": " | ".join(tail)}


def initial_weights(models, folder):
    """One set of initial weights per model (Keras's shapes and order, as ``get_weights``), so
    that the final losses compare learning, not initialisations. The hand-written torch loop
    has torch's own layout and initialisation."""
    import numpy as np

    import plait

    paths = {}
    for name in models:
        plait.utils.set_random_seed(0)
        paths[name] = os.path.join(folder, f"{name}.npz")
        np.savez(paths[name], *build(plait, name).get_weights())
    return paths


def sgemm_gflops(device):
    import torch

    n = 2048
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    for _ in range(3):
        a @ b
    rates = []
    for _ in range(10):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        rates.append(2 * n**3 / (time.perf_counter() - start) / 1e9)
    return statistics.median(rates)


def long_epochs(text, models):
    """``--long-steps`` (``mlp=15360,qa=260``) -> epochs of the short fit's data per model."""
    steps = dict(LONG_STEPS)
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        if name not in MODELS or not value.isdigit():
            raise SystemExit(f"--long-steps takes model=steps pairs of {list(MODELS)}. Received: {item!r}")
        steps[name] = int(value)
    return {name: max(1, math.ceil(steps[name] / MODELS[name][1])) for name in models}


def rotated(items, round_):
    items = list(items)
    return items[round_ % len(items) :] + items[: round_ % len(items)]


def time_imports(pythons, cache, round_, repeats=2):
    """``repeats`` timings of each import of IMPORTS whose interpreter is known: ``{name: [s]}``
    for the base library (``torch``, ``jax``) and for the library after it (``plait``, ``keras``)."""
    out = {}
    for _ in range(repeats):
        for library in rotated(IMPORTS, round_):
            base, owner = IMPORTS[library]
            if owner in pythons:
                env = import_env(cache, backend=None if owner == "plait" else owner)
                base_s, library_s = import_seconds(pythons[owner], base, library, env)
                out.setdefault(base, []).append(base_s)
                out.setdefault(f"{library} after {base}", []).append(library_s)
    return out


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for hidden in ("--config", "--model", "--weights"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dp-worker", action="store_true", help=argparse.SUPPRESS)
    for hidden in ("--epochs", "--world", "--rank", "--port", "--batch", "--steps"):
        parser.add_argument(hidden, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--models", default="mlp,qa,conv")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--measures", default=",".join(MEASURES), help=f"a subset of {','.join(MEASURES)}")
    parser.add_argument(
        "--long-steps", default="", help="the long fit's steps per model, e.g. mlp=15360,qa=260,conv=32 (the defaults)"
    )
    parser.add_argument("--dp-model", default="conv", choices=list(MODELS), help="the data-parallel model")
    parser.add_argument("--dp-batch", type=int, default=64, help="samples per process and step")
    parser.add_argument("--dp-steps", type=int, default=3, help="steps per epoch (3 epochs; the first is not timed)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds one run may take (then: failed)")
    parser.add_argument("--backends", default="jax", help="Keras backends to compare (jax,torch,tensorflow)")
    parser.add_argument("--no-install", action="store_true", help="never create a Keras environment")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.json"))
    parser.add_argument("--render", metavar="JSON", help="print the tables of an earlier run's JSON file")
    return parser.parse_args()


class Benchmark:
    """One run of the benchmark: its configurations, the results of the rounds so far, the report."""

    def __init__(self, args):
        self.args, self.measures = args, args.measures.split(",")
        self.loads = [os.getloadavg()[0]]
        self.sgemm = [sgemm_gflops(args.device)]
        self.configs = {name: sys.executable for name in PLAIT_CONFIGS}
        self.configs["torch"] = sys.executable
        self.notes = []
        for backend in args.backends.split(","):
            python, why = keras_python(backend, install=not args.no_install)
            if python is None:
                self.notes.append(f"keras ({backend}) skipped: {why}")
            else:
                self.configs[f"keras ({backend})"] = python
        self.models = args.models.split(",")
        short = {m: MODELS[m][2] for m in self.models}
        self.epochs = {"short": short, "busy": short, "long": long_epochs(args.long_steps, self.models)}
        self.weights = initial_weights(self.models, tempfile.mkdtemp(prefix="plait-bench-"))
        keras = {c.split()[1].strip("()"): p for c, p in self.configs.items() if c.startswith("keras")}
        self.pythons = {"plait": sys.executable, **keras}
        self.cache = tempfile.mkdtemp(prefix="plait-bench-pycache-")
        if "import" in self.measures:
            time_imports(self.pythons, self.cache, 0, repeats=1)  # writes the bytecode cache
        self.results, self.imports, self.dp = {}, {}, {}

    def round(self, round_):
        """One round: the imports, data parallel, then every fit; the report is rewritten after
        each run, so a run cut short keeps what it measured."""
        print(f"round {round_ + 1}: load average {os.getloadavg()[0]:.1f}", flush=True)
        if "import" in self.measures:
            for name, seconds in time_imports(self.pythons, self.cache, round_).items():
                self.imports.setdefault(name, []).extend(seconds)
                print(f"round {round_ + 1} import {name}: {seconds} s", flush=True)
        if "dp" in self.measures:
            self.data_parallel(round_)
        for measure in [m for m in ("short", "long", "busy") if m in self.measures]:
            names = self.configs if measure == "short" else [c for c in PEERS if c in self.configs]
            for model in self.models:
                for config in rotated(names, round_):
                    if model in ONLY.get(config, (model,)):
                        self.fit(round_, measure, model, config)
                        self.report(round_ + 1, final=False)
        self.loads.append(os.getloadavg()[0])

    def data_parallel(self, round_):
        env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
        env["CUDA_VISIBLE_DEVICES"] = ""  # data parallel on the CPU, whatever --device says
        a = self.args
        for config in rotated([c for c in DP_CONFIGS if c in self.configs], round_):
            for world in (1, 2):
                python = self.configs[config]
                result = launch(__file__, python, config, world, a.dp_model, a.dp_batch, a.dp_steps, 3, env)
                self.dp.setdefault((config, world), []).append(result)
                print(f"round {round_ + 1} dp {config} x{world}: {result}", flush=True)
        self.report(round_ + 1, final=False)

    def fit(self, round_, measure, model, config):
        a = self.args
        python, epochs = self.configs[config], self.epochs[measure][model]
        busy = measure == "busy"
        result = run_config(config, model, python, a.device, self.weights[model], epochs, busy, a.timeout)
        self.results.setdefault((measure, model, config), []).append(result)
        shown = {k: round(v, 4) for k, v in result.items() if k != "error"} or result
        print(f"round {round_ + 1} {measure:5s} {model:4s} {config:16s} {shown}", flush=True)

    def report(self, rounds_done, final):
        """Write the JSON file (``rounds_done``: the rounds begun) and return the Markdown."""
        import torch

        a = self.args
        if final:
            self.sgemm.append(sgemm_gflops(a.device))
        summary = summarize(self.results, self.imports, self.dp)
        meta = {
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "torch": torch.__version__,
            "device": torch.cuda.get_device_name() if a.device == "cuda" else "cpu",
            # the best reading (before and after the run): the machine's rate, less the load's toll
            "sgemm_gflops": max(self.sgemm),
            "sgemm_readings": self.sgemm,
            "conv_gflop_per_step": conv_gflop_per_step(),
            "rounds": rounds_done,
            "load": " / ".join(f"{load:.1f}" for load in self.loads) + " (at the start, after each round)",
            "long_epochs": self.epochs["long"],
            "dp": {"model": a.dp_model, "batch": a.dp_batch, "steps": a.dp_steps},
            "notes": self.notes,
            "command": "python benchmarks/step_time.py " + " ".join(sys.argv[1:]),
        }
        text = markdown(summary, meta)
        raw = {f"{m} | {model} | {c}": runs for (m, model, c), runs in self.results.items()}
        raw.update({f"dp | {c} | {w}": runs for (c, w), runs in self.dp.items()})
        raw.update({f"import | {name}": s for name, s in self.imports.items()})
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as f:
            json.dump({"meta": meta, "summary": summary, "runs": raw, "markdown": text}, f, indent=1)
        return text


def main():
    args = parse_args()
    if args.worker:
        return worker(args)
    if args.dp_worker:
        return dp_worker(args)
    if args.render:
        with open(args.render) as f:
            saved = json.load(f)
        return print(markdown(saved["summary"], saved["meta"]))
    bench = Benchmark(args)
    for round_ in range(args.rounds):
        bench.round(round_)
        text = bench.report(round_ + 1, final=round_ + 1 == args.rounds)
    print("\n" + text + "\n" + "\n".join(bench.notes))


if __name__ == "__main__":
    main()
