"""Two-process data-parallel scaling on the CPU, for ``step_time.py``.

Each configuration trains the same model once in one process at a per-process batch ``B``,
and once in two processes at the global batch ``2B`` (each process one torch or XLA thread,
gloo between them on this machine's loopback). The scaling is the samples per second of the
two processes over those of the one: 2.0 is perfect, 1.0 no gain.

- ``plait``: ``distribution.initialize`` and ``distribution.DataParallel().scope()``, ``fit`` on
  the global arrays with ``batch_size=2B`` (each process reads its half of every batch);
- ``torch``: the hand-written loop under ``torch.nn.parallel.DistributedDataParallel``, each
  process slicing its half of every global batch;
- ``keras (jax)``: ``keras.distribution.initialize`` (jax's gloo CPU collectives) and
  ``DataParallel(auto_shard_dataset=False)``, each process fitting its own half at batch ``B``.

Samples per second come from the median epoch time after the first, on rank 0; the same from
rank 0's CPU time gives the scaling each process would see with a core of its own.
"""

import json
import socket
import statistics
import subprocess
import time

from step_time_models import COMPILE, build, data, torch_net, torch_tensors

DP_CONFIGS = ("plait", "torch", "keras (jax)")
ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PLAIT_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}


def shard(arrays, world, rank, batch):
    """Process ``rank``'s part of every global batch of ``world * batch`` rows."""
    if isinstance(arrays, list):
        return [shard(a, world, rank, batch) for a in arrays]
    steps = len(arrays) // (world * batch)
    return arrays.reshape(steps, world, batch, *arrays.shape[1:])[:, rank].reshape(steps * batch, *arrays.shape[1:])


def _epoch_clock(lib, epoch_s, cpu_s):
    class Clock(lib.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start, self.cpu = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            epoch_s.append(time.perf_counter() - self.start)
            cpu_s.append(time.process_time() - self.cpu)

    return Clock()


def run_plait(name, world, rank, port, batch, steps, epochs):
    import torch

    import plait
    from plait import distribution

    torch.set_num_threads(1)
    x, y = data(name, steps, world * batch)
    epoch_s, cpu_s = [], []
    clock = _epoch_clock(plait, epoch_s, cpu_s)
    fit = dict(batch_size=world * batch, epochs=epochs, shuffle=False, verbose=0, callbacks=[clock])
    plait.utils.set_random_seed(0)
    if world == 1:
        model = build(plait, name)
        model.compile(optimizer="rmsprop", **COMPILE[name])
        history = model.fit(x, y, **fit)
    else:
        distribution.initialize(job_addresses=f"127.0.0.1:{port}", num_processes=world, process_id=rank)
        with distribution.DataParallel().scope():
            model = build(plait, name)
            model.compile(optimizer="rmsprop", **COMPILE[name])
            history = model.fit(x, y, **fit)
    return epoch_s, cpu_s, history.history["loss"][-1]


def run_torch(name, world, rank, port, batch, steps, epochs):
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model, loss_fn = torch_net(name)
    if world > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
        model = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7, foreach=True)
    x, y = data(name, steps, world * batch)
    xs, ys = torch_tensors(name, shard(x, world, rank, batch), shard(y, world, rank, batch), "cpu")
    epoch_s, cpu_s = [], []
    for _ in range(epochs):
        start, cpu = time.perf_counter(), time.process_time()
        total = torch.zeros(())
        for s in range(steps):
            part = slice(s * batch, (s + 1) * batch)
            loss = loss_fn(model(*[t[part] for t in xs]), [t[part] for t in ys])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach()
        final = float(total) / steps
        epoch_s.append(time.perf_counter() - start)
        cpu_s.append(time.process_time() - cpu)
    if world > 1:
        dist.destroy_process_group()
    return epoch_s, cpu_s, final


def run_keras(name, world, rank, port, batch, steps, epochs):
    import jax

    if world > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    import keras

    x, y = data(name, steps, world * batch)
    x, y = shard(x, world, rank, batch), shard(y, world, rank, batch)
    epoch_s, cpu_s = [], []
    clock = _epoch_clock(keras, epoch_s, cpu_s)
    fit = dict(batch_size=batch, epochs=epochs, shuffle=False, verbose=0, callbacks=[clock])
    keras.utils.set_random_seed(0)
    if world > 1:
        keras.distribution.initialize(job_addresses=f"127.0.0.1:{port}", num_processes=world, process_id=rank)
        # each process passes its own half: Keras assembles the global batch of world * batch
        keras.distribution.set_distribution(keras.distribution.DataParallel(auto_shard_dataset=False))
    model = build(keras, name)
    model.compile(optimizer="rmsprop", **COMPILE[name])
    history = model.fit(x, y, **fit)
    return epoch_s, cpu_s, history.history["loss"][-1]


RUNNERS = {"plait": run_plait, "torch": run_torch, "keras (jax)": run_keras}


def dp_worker(args):
    """The ``--dp-worker`` process: one rank of one configuration, its RESULT line on stdout.

    Besides samples per second, ``cpu_samples_per_s`` counts the process's CPU time instead of
    the wall clock (gloo waits without spinning): the rate if every process had a core of its
    own, which a machine busy with other work hides from the wall clock.
    """
    runner = RUNNERS[args.config]
    epoch_s, cpu_s, loss = runner(args.model, args.world, args.rank, args.port, args.batch, args.steps, args.epochs)
    samples = args.world * args.batch * args.steps
    result = {
        "samples_per_s": samples / statistics.median(epoch_s[1:] or epoch_s),
        "cpu_samples_per_s": samples / statistics.median(cpu_s[1:] or cpu_s),
        "epoch_s": epoch_s,
        "cpu_s": cpu_s,
        "loss": float(loss),
    }
    print("RESULT " + json.dumps(result), flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(script, python, config, world, model, batch, steps, epochs, env, timeout=900):
    """Run ``world`` processes of ``config``; rank 0's result (or ``{"error": ...}``)."""
    env = {**env, **ONE_THREAD}
    if config.startswith("keras"):
        env["KERAS_BACKEND"] = "jax"
        env["CUDA_VISIBLE_DEVICES"] = ""
    port = str(free_port())
    common = ["--config", config, "--model", model, "--world", str(world), "--port", port]
    common += ["--batch", str(batch), "--steps", str(steps), "--epochs", str(epochs)]
    procs = [
        subprocess.Popen(
            [python, script, "--dp-worker", "--rank", str(rank), *common],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(world)
    ]
    outputs = []
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            outputs.append(proc.communicate(timeout=max(deadline - time.monotonic(), 1)))
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            return {"error": f"timed out after {timeout} s"}
    for line in outputs[0][0].splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    failed = next((err for (_, err), p in zip(outputs, procs) if p.returncode), outputs[0][1])
    return {"error": " | ".join(failed.strip().splitlines()[-3:])}
