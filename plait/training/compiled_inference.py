"""``evaluate`` and ``predict`` compiled as the training step is: at once with
``jit_compile=True``, in the background when a long run pays for it with ``"auto"``.

An inference step changes nothing in the model (no gradients, layers in inference mode), so
the compilation traces the model itself, in a thread, while the loop goes on eagerly; at a
batch boundary after it is ready the loop switches to it, times it, and keeps it only when it
is at least 10% faster. Only batches of the shape it was compiled for run compiled (the last,
shorter batch of the data stays eager rather than compile again).
"""

import threading
import time

import torch

from plait.training.compiled_step import background_pays, own_code
from plait.utils import nest


class InferenceJit:
    """Runs ``fn(*tensors)`` (an inference step: no gradients, no state changes) eagerly or
    compiled, for ``compile(jit_compile=mode)``.

    Args:
        fn: a bound method computing the step.
        mode: ``True`` (compile on the first batch, in the loop's thread), ``False`` (never) or
            ``"auto"`` (compile in a background thread when the loop's projected eager time
            left exceeds ``background_seconds`` and its batches are not too short to share
            the GIL with a compiling thread, ``compiled_step.background_pays``; CPU only, as
            for training).

    ``background_seconds`` (class attribute, 10 s) is that threshold.

    Call :meth:`plan` with the number of batches of each run (None: unknown); a reason the
    compiled step is not used is kept in ``reason``.

    Example:
        >>> import torch
        >>> class Double(torch.nn.Module):
        ...     def step(self, x):
        ...         return x * 2
        >>> jit = InferenceJit(Double().step, mode=False)
        >>> jit.plan(3)
        >>> jit(torch.ones(2))
        tensor([2., 2.])
    """

    warmup, window = 3, 10
    background_seconds = 10.0

    def __init__(self, fn, mode):
        self.fn, self.mode = fn, mode
        self.reason = None
        self._compiled = None  # the compiled function, once adopted
        self._key = None  # the shapes it was compiled for
        self._thread = None
        self._phase = "first" if mode is True else ("measure" if mode == "auto" else "eager")
        self._remaining = None
        self._done = 0
        self._t0 = self._t0_done = self._eager_s = None

    def plan(self, batches):
        """A run of ``batches`` batches starts (None: unknown)."""
        self._remaining = batches
        self._t0 = None
        if self._phase == "trial":  # a trial cut short by the last run's end: time it afresh
            self._done = 0

    def __call__(self, *args):
        key = _shapes(args)
        if self._remaining is not None:
            self._remaining -= 1
        phase = self._phase
        if phase == "first":
            self._compiled, self._key, self._phase = self._compile(), key, "compiled"
            phase = "compiled"
        elif phase == "measure":
            self._measure_eager(args)
        elif phase == "background" and not self._thread.is_alive():
            self._adopt()
        phase = self._phase
        if phase in ("trial", "compiled") and key == self._key:
            out = self._compiled(*args)
            if phase == "trial":
                self._measure_compiled()
            return out
        return self.fn(*args)

    def join(self, timeout=None):
        """Wait for a background compilation under way (tests)."""
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def phase(self):
        """``"eager"``, ``"measure"``, ``"background"``, ``"trial"`` or ``"compiled"``."""
        return self._phase

    def _compile(self):
        return torch.compile(own_code(self.fn))

    def _window(self, start):
        """Seconds per batch over ``window`` batches from ``start`` done; None before."""
        done = self._done
        self._done += 1
        if done >= start and self._t0 is None:
            self._t0, self._t0_done = time.perf_counter(), done
        elif self._t0 is not None and done - self._t0_done >= self.window:
            seconds = (time.perf_counter() - self._t0) / (done - self._t0_done)
            self._t0 = None
            return seconds
        return None

    def _measure_eager(self, args):
        self._eager_s = self._window(self.warmup)
        if self._eager_s is None:
            return
        if self._remaining is None or self._remaining * self._eager_s <= self.background_seconds:
            return  # keep measuring: a longer run may pay
        if not background_pays(self._eager_s):
            self._phase = "eager"
            self.reason = f"its eager batches ({self._eager_s * 1e3:.3g} ms) would lose more to a compiling thread"
            return
        tensors = [t for t in nest.flatten(args) if isinstance(t, torch.Tensor)]
        if tensors and tensors[0].device.type != "cpu":
            self._phase, self.reason = "eager", "background compilation runs on the CPU only"
            return
        self._key = _shapes(args)
        sample = nest.map_structure(lambda t: t.detach().clone() if isinstance(t, torch.Tensor) else t, list(args))
        self._phase = "background"
        self._thread = threading.Thread(target=self._run, args=(sample, torch.get_num_threads()), daemon=True)
        self._thread.name = "plait-compile-inference"
        self._thread.start()

    def _run(self, sample, thread_count):
        try:
            torch.get_num_threads()  # see BackgroundCompile._run: read first, then set
            torch.set_num_threads(thread_count)
            fn = self._compile()
            with torch.no_grad():
                fn(*sample)
            self._ready = fn
        except Exception as error:  # the loop goes on eagerly, and says why
            self.reason = f"compiling the inference step failed: {type(error).__name__}: {error}"
            self._ready = None

    def _adopt(self):
        self._thread, fn = None, getattr(self, "_ready", None)
        if fn is None:
            self._phase = "eager"
            return
        self._compiled, self._phase, self._done, self._t0 = fn, "trial", 0, None

    def _measure_compiled(self):
        compiled_s = self._window(1)
        if compiled_s is None:
            return
        if compiled_s > 0.9 * self._eager_s:
            self._phase, self._compiled = "eager", None
            self.reason = f"compiled batches took {compiled_s * 1e3:.3g} ms, eager {self._eager_s * 1e3:.3g} ms"
        else:
            self._phase = "compiled"


def _shapes(args):
    """The shapes and dtypes of the tensors in ``args`` (nested lists), None for the rest."""
    return tuple((tuple(t.shape), t.dtype) if isinstance(t, torch.Tensor) else None for t in nest.flatten(args))
