"""What plait's input checks and non-finite guard cost on the seed models' training steps.

The seed's three models (``benchmarks/step_time.py``'s definitions, data and compile
arguments) train with ``fit`` eagerly, alternately with every check on (the default) and off
(the checks at the door, the per-call tensor check of layers and the non-finite loss guard
patched out). With ``--jit`` the models compile their whole step (``jit_compile=True``), whose
guard (the update selected only when the loss is finite, inside the graph) is then measured
on and off. The table gives the median time per step over the epochs after the first, the
relative difference, the checks' own time per step (timed around each per-step check while
the checked fits run: a measure the machine's load does not drown) and its share of a step,
and the one-off cost of the door checks per ``fit``. On the CPU the time
is the process's CPU time on one thread (``--wall`` for wall-clock time), which a busy shared
machine disturbs far less than wall-clock time.

    python benchmarks/check_overhead.py                     # all three models, 5 rounds
    python benchmarks/check_overhead.py --models mlp --rounds 9
    python benchmarks/check_overhead.py --models mlp conv --jit   # the compiled whole step
    python benchmarks/check_overhead.py --device cuda       # on a GPU (the guard then runs only
                                                            # with TerminateOnNaN: --terminate-on-nan)
"""

import argparse
import contextlib
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import step_time  # noqa: E402 (the seed models' definitions)


@contextlib.contextmanager
def checks_off():
    """Every check of issue 15 patched out: door checks, layer tensor checks, non-finite guard."""
    from plait.layers import base
    from plait.training import checks, compiled_step, nonfinite

    saved = (checks.conform_inputs, checks.check_targets, checks.check_not_empty)
    saved += (base._check_tensor_leaves, nonfinite.NonFinitePolicy.for_fit)
    checks.conform_inputs = lambda model, xs, where="Input": xs
    checks.check_targets = lambda *args, **kwargs: None
    checks.check_not_empty = lambda *args, **kwargs: None
    base._check_tensor_leaves = lambda *args: None
    nonfinite.NonFinitePolicy.for_fit = classmethod(lambda cls, *args: cls())
    compiled_step.WholeStep.guard_nonfinite = False
    try:
        yield
    finally:
        checks.conform_inputs, checks.check_targets, checks.check_not_empty = saved[:3]
        base._check_tensor_leaves, for_fit = saved[3:]
        nonfinite.NonFinitePolicy.for_fit = classmethod(for_fit.__func__)
        compiled_step.WholeStep.guard_nonfinite = True


class CheckTimer:
    """Times the per-step checks themselves while a fit runs (a second, load-proof measure:
    the A/B difference of whole steps drowns in a busy machine's noise, the checks' own time
    does not): the non-finite loss check, the compiled step's flag read, the layers' tensor
    check. ``per_step(steps)``: the median time of a call times the calls per step (the median
    leaves out the odd call that the scheduler interrupts)."""

    def __init__(self):
        from plait.layers import base
        from plait.training import nonfinite, runners

        self.calls = []
        self._patched = [
            (nonfinite, "loss_is_finite"),
            (runners.BuiltinSteps, "read_flags"),
            (base, "_check_tensor_leaves"),
        ]

    def _wrap(self, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.calls.append(time.perf_counter() - start)

        return timed

    def per_step(self, steps):
        return statistics.median(self.calls) * len(self.calls) / steps if self.calls else 0.0

    def __enter__(self):
        self._saved = [getattr(owner, name) for owner, name in self._patched]
        for (owner, name), fn in zip(self._patched, self._saved):
            setattr(owner, name, self._wrap(fn))
        return self

    def __exit__(self, *exc):
        for (owner, name), fn in zip(self._patched, self._saved):
            setattr(owner, name, fn)


def one_fit(name, device, terminate_on_nan, clock, jit=False):
    import plait

    plait.utils.set_random_seed(0)
    model = step_time.build(plait, name)
    if device == "cuda":
        model.to("cuda")
    model.compile(optimizer="rmsprop", jit_compile=jit, **step_time.COMPILE[name])
    x, y = step_time.data(name)
    batch, steps, epochs = step_time.MODELS[name]
    times = []

    class Timer(plait.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if device == "cuda":
                import torch

                torch.cuda.synchronize()
            self.start = clock()

        def on_epoch_end(self, epoch, logs=None):
            if device == "cuda":
                import torch

                torch.cuda.synchronize()
            times.append((clock() - self.start) / steps)

    callbacks = [Timer()] + ([plait.callbacks.TerminateOnNaN()] if terminate_on_nan else [])
    from plait.training.epoch_iterator import EpochIterator

    start = clock()
    EpochIterator(model, x, y, batch_size=batch)  # the door checks' one-off cost, timed alone
    door = clock() - start
    with CheckTimer() as check_timer:
        model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks)
    return statistics.median(times[1:]), door, check_timer.per_step(steps * epochs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(step_time.MODELS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--terminate-on-nan", action="store_true")
    parser.add_argument("--wall", action="store_true", help="wall-clock time (default on CUDA)")
    parser.add_argument("--jit", action="store_true", help="compile the whole step (jit_compile=True)")
    args = parser.parse_args()
    clock = time.perf_counter if args.wall or args.device != "cpu" else time.process_time
    if args.device == "cpu":
        import torch

        torch.set_num_threads(1)
    print(
        f"{'model':6} {'checks on (ms/step)':>20} {'checks off':>11} {'overhead':>9} "
        f"{'checks own time (us/step)':>26} {'of a step':>9} {'door checks (ms/fit)':>21}"
    )
    for name in args.models:
        on, off, door_on, door_off, own = [], [], [], [], []
        for round_ in range(args.rounds):
            for checked in (True, False) if round_ % 2 else (False, True):  # alternate which goes first
                with contextlib.nullcontext() if checked else checks_off():
                    step, door, own_time = one_fit(name, args.device, args.terminate_on_nan, clock, args.jit)
                (on if checked else off).append(step)
                (door_on if checked else door_off).append(door)
                if checked:
                    own.append(own_time)
        a, b = statistics.median(on), statistics.median(off)
        extra = statistics.median(door_on) - statistics.median(door_off)
        mine = statistics.median(own)
        print(
            f"{name:6} {a * 1e3:20.3f} {b * 1e3:11.3f} {100 * (a - b) / b:8.2f}% "
            f"{mine * 1e6:26.2f} {100 * mine / a:8.3f}% {extra * 1e3:21.2f}"
        )


if __name__ == "__main__":
    main()
