"""Training speed of the seed's three models: plait against Keras 3 (jax, torch and tensorflow
backends) and a hand-written PyTorch loop, side by side in one run.

Each configuration trains in its own process, with ``fit`` on the same synthetic data of the
seed's shapes and RMSprop. The configurations alternate within each round, and the table
takes the median over rounds. For each it reports:
- the median time per training step, from the epochs after the first;
- the ratio to the best peer (Keras or torch);
- the first epoch's time, which includes tracing and compilation;
- the peak memory (the process's resident set on CPU, ``max_memory_allocated`` on CUDA);
- the final training loss. Plait and Keras start from the same weights, so equal learning
  shows as equal losses; the hand-written torch loop starts from torch's initialisation.

It also measures this machine's sgemm rate (float32 matrix products) and the conv model's
arithmetic rate against it.

Keras's backends each run in their own virtual environment under ``benchmarks/.envs``. The
benchmark creates it with pip when it is missing, or uses the current interpreter when it
already has Keras and that backend. A backend that cannot be installed is skipped with a note.

    python benchmarks/step_time.py                       # everything; writes docs/benchmarks.json
    python benchmarks/step_time.py --models mlp --rounds 1 --no-install   # a quick look
    python benchmarks/step_time.py --device cuda --out docs/benchmarks-gpu.json   # on a GPU
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
KERAS_VERSION = "3.15.1"
BACKEND_PACKAGES = {"jax": ["jax[cpu]"], "tensorflow": ["tensorflow-cpu"], "torch": []}

# name -> (batch size, steps per epoch, epochs)
MODELS = {"mlp": (128, 60, 4), "qa": (128, 10, 3), "conv": (64, 4, 3)}
PLAIT_CONFIGS = {
    "plait": {},  # the defaults: jit_compile="auto", steps_per_execution=1
    "plait jit": {"jit_compile": True},
    # Several steps per call pay where per-call overhead dominates: the MLP. (For the others the
    # unrolled graph only multiplies compile time; the QA model's LSTMs stay eager anyway.)
    "plait jit spe=4": {"jit_compile": True, "steps_per_execution": 4},
}
ONLY = {"plait jit spe=4": ("mlp",)}


# --------------------------------------------------------------------------- the models
def build(lib, name):
    """The seed's models, with the library's own layers (plait or keras)."""
    L = lib.layers
    if name == "mlp":
        inputs = lib.Input(shape=(64,))
        x = L.Dense(32, activation="relu")(inputs)
        x = L.Dense(32, activation="relu")(x)
        return lib.Model(inputs, L.Dense(10, activation="softmax")(x))
    if name == "qa":
        text = lib.Input(shape=(None,), dtype="int32", name="text")
        question = lib.Input(shape=(None,), dtype="int32", name="question")
        a = L.LSTM(32)(L.Embedding(10000, 64)(text))
        b = L.LSTM(16)(L.Embedding(10000, 32)(question))
        return lib.Model([text, question], L.Dense(500, activation="softmax")(L.concatenate([a, b], axis=-1)))
    posts = lib.Input(shape=(None,), dtype="int32", name="posts")
    x = L.Embedding(50000, 256)(posts)
    x = L.Conv1D(128, 5, activation="relu")(x)
    x = L.MaxPooling1D(5)(x)
    x = L.Conv1D(256, 5, activation="relu")(x)
    x = L.Conv1D(256, 5, activation="relu")(x)
    x = L.MaxPooling1D(5)(x)
    x = L.Conv1D(256, 5, activation="relu")(x)
    x = L.Conv1D(256, 5, activation="relu")(x)
    x = L.GlobalMaxPooling1D()(x)
    x = L.Dense(128, activation="relu")(x)
    heads = [
        L.Dense(1, name="age")(x),
        L.Dense(1, activation="sigmoid", name="sex")(x),
        L.Dense(10, activation="softmax", name="income")(x),
    ]
    return lib.Model(posts, heads)


COMPILE = {
    "mlp": dict(loss="categorical_crossentropy"),
    "qa": dict(loss="categorical_crossentropy"),
    "conv": dict(loss=["mse", "binary_crossentropy", "categorical_crossentropy"], loss_weights=[0.25, 10.0, 1.0]),
}


def data(name):
    """Synthetic data of the seed's shapes; the MLP's labels come from a fixed linear teacher,
    so that its loss falls and equal learning shows in the final loss."""
    import numpy as np

    batch, steps, _ = MODELS[name]
    n = batch * steps
    rng = np.random.default_rng(0)
    if name == "mlp":
        x = rng.normal(size=(n, 64)).astype("float32")
        labels = (x @ rng.normal(size=(64, 10))).argmax(-1)
        return x, np.eye(10, dtype="float32")[labels]
    if name == "qa":
        xs = [rng.integers(1, 10000, (n, 100)).astype("int32") for _ in range(2)]
        return xs, np.eye(500, dtype="float32")[rng.integers(0, 500, n)]
    x = rng.integers(1, 50000, (n, 500)).astype("int32")
    age = rng.uniform(18, 70, (n, 1)).astype("float32")
    sex = rng.integers(0, 2, (n, 1)).astype("float32")
    return x, [age, sex, np.eye(10, dtype="float32")[rng.integers(0, 10, n)]]


def conv_gflop_per_step():
    """Multiply-adds x 2 of the conv model's forward pass, x 3 for forward and backward."""
    batch, length, flops = 64, 500, 0
    channels = 256
    for filters, pool in ((128, 5), (256, 1), (256, 5), (256, 1), (256, 1)):
        length -= 4  # kernel 5, padding "valid"
        flops += 2 * batch * length * 5 * channels * filters
        channels = filters
        length //= pool
    return 3 * flops / 1e9


# --------------------------------------------------------------------------- one run, in its own process
def peak_memory_mb(device, config):
    import resource

    if device == "cuda" and config == "keras (jax)":
        import jax

        return jax.devices()[0].memory_stats()["peak_bytes_in_use"] / 2**20
    if device == "cuda" and config != "keras (tensorflow)":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_weights(model, path):
    import numpy as np

    with np.load(path) as saved:
        model.set_weights([saved[f"arr_{i}"] for i in range(len(saved.files))])


def run_library(config, name, device, weights):
    if config.startswith("keras"):
        import keras as lib

        compile_kwargs = {}
    else:
        import plait as lib

        compile_kwargs = PLAIT_CONFIGS[config]
    lib.utils.set_random_seed(0)
    model = build(lib, name)
    load_weights(model, weights)  # plait and every Keras backend start from the same weights
    if config.startswith("plait") and device == "cuda":
        model.to("cuda")
    model.compile(optimizer="rmsprop", **COMPILE[name], **compile_kwargs)
    x, y = data(name)
    batch, _, epochs = MODELS[name]
    times = []

    class Timer(lib.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    history = model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=False, verbose=0, callbacks=[Timer()])
    return times, history.history["loss"][-1]


def run_torch(name, device):
    """The hand-written PyTorch loop: torch.nn modules, torch.optim.RMSprop with Keras's
    epsilon and rho, the log-softmax form of cross-entropy, and slices of device tensors."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.manual_seed(0)
    if name == "mlp":
        model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10))
        forward = model
    elif name == "qa":
        e1, l1 = nn.Embedding(10000, 64), nn.LSTM(64, 32, batch_first=True)
        e2, l2 = nn.Embedding(10000, 32), nn.LSTM(32, 16, batch_first=True)
        answer = nn.Linear(48, 500)
        model = nn.ModuleList([e1, l1, e2, l2, answer])

        def forward(text, question):
            _, (h1, _) = l1(e1(text))
            _, (h2, _) = l2(e2(question))
            return answer(torch.cat([h1[0], h2[0]], -1))
    else:
        convs = nn.ModuleList([nn.Conv1d(256, 128, 5)] + [nn.Conv1d(c, 256, 5) for c in (128, 256, 256, 256)])
        emb, dense, heads = nn.Embedding(50000, 256), nn.Linear(256, 128), nn.Linear(128, 12)
        model = nn.ModuleList([emb, convs, dense, heads])

        def forward(posts):
            h = emb(posts).transpose(1, 2)
            for i, conv in enumerate(convs):
                h = F.relu(conv(h))
                if i in (0, 2):
                    h = F.max_pool1d(h, 5)
            out = heads(F.relu(dense(h.amax(-1))))
            return out[:, :1], out[:, 1:2], out[:, 2:]

    model.to(device)
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7, foreach=True)
    x, y = data(name)
    xs = [torch.as_tensor(v, device=device).long() for v in x] if name == "qa" else [torch.as_tensor(x, device=device)]
    if name == "conv":
        xs = [xs[0].long()]
    ys = [torch.as_tensor(v, device=device) for v in (y if isinstance(y, list) else [y])]
    batch, steps, epochs = MODELS[name]

    def loss_fn(out, targets):
        if name != "conv":
            return F.cross_entropy(out, targets[0])
        age, sex, income = out
        return (
            0.25 * F.mse_loss(age, targets[0])
            + 10 * F.binary_cross_entropy_with_logits(sex, targets[1])
            + F.cross_entropy(income, targets[2])
        )

    times, loss = [], None
    for _ in range(epochs):
        start = time.perf_counter()
        total = torch.zeros((), device=device)
        for s in range(steps):
            part = slice(s * batch, (s + 1) * batch)
            out = forward(*[t[part] for t in xs])
            loss = loss_fn(out, [t[part] for t in ys])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach()
        final = float(total) / steps  # one read per epoch, as a progress bar would
        times.append(time.perf_counter() - start)
    return times, final


def worker(args):
    if args.device == "cuda" and not args.config.startswith("keras"):
        import torch

        torch.set_default_device("cuda")
    if args.config == "torch":
        times, loss = run_torch(args.model, args.device)
    else:
        times, loss = run_library(args.config, args.model, args.device, args.weights)
    steps = MODELS[args.model][1]
    print(
        "RESULT "
        + json.dumps(
            {
                "step_ms": 1e3 * statistics.median(t / steps for t in times[1:]),
                "first_epoch_s": times[0],
                "peak_mb": peak_memory_mb(args.device, args.config),
                "loss": float(loss),
            }
        )
    )


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


def run_config(config, model, python, device, weights):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if config.startswith("keras"):
        env["KERAS_BACKEND"] = config.split()[1].strip("()")
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # peak memory, not a preallocation
        if device == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""
    command = [python, __file__, "--worker", "--config", config, "--model", model, "--device", device]
    command += ["--weights", weights]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
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


# --------------------------------------------------------------------------- the table
PEERS = ("keras (jax)", "keras (torch)", "keras (tensorflow)", "torch")


def summarize(results):
    """Median over rounds of each configuration's numbers."""
    table = {}
    for (model, config), runs in results.items():
        good = [r for r in runs if "error" not in r]
        if not good:
            table.setdefault(model, {})[config] = {"error": runs[-1]["error"]}
            continue
        table.setdefault(model, {})[config] = {k: statistics.median(r[k] for r in good) for k in good[0]}
    return table


def _best(rows, names):
    times = [r["step_ms"] for c, r in rows.items() if c in names and "step_ms" in r]
    return min(times) if times else None


def markdown(table, meta):
    lines = [
        f"{meta['machine']}; torch {meta['torch']}; device {meta['device']}; "
        f"sgemm {meta['sgemm_gflops']:.0f} GFLOP/s; {meta['rounds']} rounds.",
        "",
    ]
    for model, rows in table.items():
        batch, steps, epochs = MODELS[model]
        lines += [
            f"**{model}** (batch {batch}, {steps} steps x {epochs} epochs)",
            "",
            "| configuration | step (ms) | vs best Keras | vs best peer | first epoch (s) | peak memory (MB) "
            "| final loss |",
            "|---|---|---|---|---|---|---|",
        ]
        best = _best(rows, PEERS)
        best_keras = _best(rows, [p for p in PEERS if p.startswith("keras")])
        for config, r in rows.items():
            if "error" in r:
                lines.append(f"| {config} | skipped: {r['error'][:150]} | | | | | |")
                continue
            ratios = [f"{r['step_ms'] / b:.2f}x" if b else "" for b in (best_keras, best)]
            lines.append(
                f"| {config} | {r['step_ms']:.3g} | {ratios[0]} | {ratios[1]} | {r['first_epoch_s']:.2f} | "
                f"{r['peak_mb']:.0f} | {r['loss']:.4g} |"
            )
        if model == "conv":
            for config in ("plait", "plait jit"):
                if "step_ms" in rows.get(config, {}):
                    rate = conv_gflop_per_step() / (rows[config]["step_ms"] / 1e3)
                    lines.append(
                        f"\n{config}: {conv_gflop_per_step():.1f} GFLOP per step at {rate:.0f} GFLOP/s, "
                        f"{100 * rate / meta['sgemm_gflops']:.0f}% of sgemm."
                    )
        lines.append("")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--weights", help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--models", default="mlp,qa,conv")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--backends", default="jax,torch,tensorflow", help="Keras backends to compare")
    parser.add_argument("--no-install", action="store_true", help="never create a Keras environment")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.json"))
    parser.add_argument("--render", metavar="JSON", help="print the tables of an earlier run's JSON file")
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if args.render:
        with open(args.render) as f:
            saved = json.load(f)
        return print(markdown(saved["table"], saved["meta"]))

    import torch

    configs = {name: sys.executable for name in PLAIT_CONFIGS}
    configs["torch"] = sys.executable
    notes = []
    for backend in args.backends.split(","):
        python, why = keras_python(backend, install=not args.no_install)
        if python is None:
            notes.append(f"keras ({backend}) skipped: {why}")
        else:
            configs[f"keras ({backend})"] = python
    models = args.models.split(",")
    weights = initial_weights(models, tempfile.mkdtemp(prefix="plait-bench-"))
    results = {}
    for round_ in range(args.rounds):
        for model in models:
            # alternate the configurations, in a rotated order each round
            order = list(configs)
            order = order[round_ % len(order) :] + order[: round_ % len(order)]
            for config in order:
                if model not in ONLY.get(config, (model,)):
                    continue
                result = run_config(config, model, configs[config], args.device, weights[model])
                results.setdefault((model, config), []).append(result)
                shown = {k: round(v, 4) for k, v in result.items() if k != "error"} or result
                print(f"round {round_ + 1} {model:5s} {config:20s} {shown}", flush=True)
    table = summarize(results)
    meta = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        "sgemm_gflops": sgemm_gflops(args.device),
        "conv_gflop_per_step": conv_gflop_per_step(),
        "rounds": args.rounds,
        "notes": notes,
        "command": "python benchmarks/step_time.py " + " ".join(sys.argv[1:]),
    }
    text = markdown(table, meta)
    print("\n" + text + "\n" + "\n".join(notes))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"meta": meta, "table": table, "markdown": text}, f, indent=1)


if __name__ == "__main__":
    main()
