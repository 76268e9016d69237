"""One configuration's timed ``fit``, run in its own process by ``step_time.py --worker``.

A run trains one of the seed's models for a number of epochs and prints one ``RESULT {json}``
line with:
- ``steady_ms``: the median over the epochs after the first of the epoch's time per step;
- ``median_step_ms`` / ``max_step_ms``: the median and the longest single step after the fit's
  first (timed between consecutive ``on_train_batch_begin`` calls, the last step of an epoch
  until ``on_epoch_end``), and ``max_step_at``, the longest step's index;
- ``fit_s``: the whole ``fit`` call (the torch loop: the whole loop, tensors made included);
- ``first_epoch_s``, ``peak_mb`` (the process's peak resident set on the CPU; on CUDA torch's
  ``max_memory_allocated`` or jax's ``peak_bytes_in_use``) and the final training ``loss``.

Keras runs it in the Keras environment, which has no torch: nothing here imports torch at the
top.
"""

import json
import os
import statistics
import subprocess
import time

from step_time_models import COMPILE, MODELS, build, data, torch_net, torch_tensors

PLAIT_CONFIGS = {
    "plait": {},  # the defaults: jit_compile="auto", steps_per_execution=1
    "plait jit": {"jit_compile": True},
    # Several steps per call pay where per-call overhead dominates: the MLP. (For the others the
    # unrolled graph only multiplies compile time; the QA model's LSTMs stay eager anyway.)
    "plait jit spe=4": {"jit_compile": True, "steps_per_execution": 4},
}


def peak_memory_mb(device, config):
    import resource

    if device == "cuda" and config == "keras (jax)":
        import jax

        return jax.devices()[0].memory_stats()["peak_bytes_in_use"] / 2**20
    if device == "cuda" and config != "keras (tensorflow)":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    try:  # this process's own high-water mark: ru_maxrss also counts the parent's size at fork
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_weights(model, path):
    import numpy as np

    with np.load(path) as saved:
        model.set_weights([saved[f"arr_{i}"] for i in range(len(saved.files))])


def stats(epoch_s, step_s, fit_s, steps_per_epoch):
    """The RESULT numbers from the epochs' and the single steps' seconds."""
    steady = [t / steps_per_epoch for t in epoch_s[1:]] or [epoch_s[0] / steps_per_epoch]
    later = step_s[1:] or step_s
    worst = max(range(len(later)), key=later.__getitem__)
    return {
        "steady_ms": 1e3 * statistics.median(steady),
        "median_step_ms": 1e3 * statistics.median(later),
        "max_step_ms": 1e3 * later[worst],
        "max_step_at": worst + (len(step_s) > 1),
        "fit_s": fit_s,
        "first_epoch_s": epoch_s[0],
        "steps": len(step_s),
    }


def run_library(config, name, device, weights, epochs):
    """``fit`` of plait (``config`` names a PLAIT_CONFIGS entry) or Keras on the model ``name``."""
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
    batch, steps, _ = MODELS[name]
    epoch_s, step_s = [], []

    class Clock(lib.callbacks.Callback):
        """Epoch times, and each step's time from one batch's start to the next's. (Only
        ``on_train_batch_begin``: it gets no logs, so the fit reads no metric values for it.)"""

        def on_epoch_begin(self, epoch, logs=None):
            self.marks = []
            self.start = time.perf_counter()

        def on_train_batch_begin(self, batch, logs=None):
            self.marks.append((batch, time.perf_counter()))

        def on_epoch_end(self, epoch, logs=None):
            end = time.perf_counter()
            epoch_s.append(end - self.start)
            bounds = self.marks + [(steps, end)]
            for (first, t0), (after, t1) in zip(bounds, bounds[1:]):
                n = max(after - first, 1)  # steps_per_execution runs n steps between two marks
                step_s.extend([(t1 - t0) / n] * n)

    start = time.perf_counter()
    history = model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=False, verbose=0, callbacks=[Clock()])
    fit_s = time.perf_counter() - start
    return {**stats(epoch_s, step_s, fit_s, steps), "loss": float(history.history["loss"][-1])}


def run_torch(name, device, epochs):
    """The hand-written PyTorch loop: torch.nn modules, torch.optim.RMSprop with Keras's
    epsilon and rho, the log-softmax form of cross-entropy, and slices of device tensors."""
    import torch

    torch.manual_seed(0)
    model, loss_fn = torch_net(name)
    model.to(device)
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7, foreach=True)
    batch, steps, _ = MODELS[name]
    arrays = data(name)
    start = time.perf_counter()  # as fit's time: from the numpy arrays on
    xs, ys = torch_tensors(name, *arrays, device)
    epoch_s, step_s, final = [], [], None
    for _ in range(epochs):
        epoch_start = last = time.perf_counter()
        total = torch.zeros((), device=device)
        for s in range(steps):
            part = slice(s * batch, (s + 1) * batch)
            loss = loss_fn(model(*[t[part] for t in xs]), [t[part] for t in ys])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach()
            now = time.perf_counter()
            step_s.append(now - last)
            last = now
        final = float(total) / steps  # one read per epoch, as a progress bar would
        epoch_s.append(time.perf_counter() - epoch_start)
    fit_s = time.perf_counter() - start
    return {**stats(epoch_s, step_s, fit_s, steps), "loss": final}


def worker(args):
    """The ``--worker`` process: one run, its RESULT line on stdout."""
    if args.device == "cuda" and not args.config.startswith("keras"):
        import torch

        torch.set_default_device("cuda")
    if args.config == "torch":
        result = run_torch(args.model, args.device, args.epochs)
    else:
        result = run_library(args.config, args.model, args.device, args.weights, args.epochs)
    result["peak_mb"] = peak_memory_mb(args.device, args.config)
    print("RESULT " + json.dumps(result), flush=True)


def import_seconds(python, base, library, env):
    """``import base``'s seconds, then ``import library``'s after it, in one fresh ``python``
    (whose bytecode cache ``env`` names). Both in one process: the library's share is not
    drowned in the spread of the base's import time between processes."""
    timer = (
        f"import time; t0 = time.perf_counter(); import {base}; t1 = time.perf_counter(); import {library}; "
        "print(t1 - t0, time.perf_counter() - t1)"
    )
    done = subprocess.run([python, "-c", timer], env=env, capture_output=True, text=True, timeout=300)
    if done.returncode:
        raise RuntimeError(done.stderr.strip().splitlines()[-1])
    return [float(v) for v in done.stdout.strip().splitlines()[-1].split()]


def import_env(cache, backend=None):
    """The environment of an import timing: bytecode written to and read from ``cache``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache
    if backend:
        env["KERAS_BACKEND"] = backend
    return env


# library -> (what it is timed after, whose interpreter: "plait" or a Keras backend)
IMPORTS = {"plait": ("torch", "plait"), "keras": ("jax", "jax")}
