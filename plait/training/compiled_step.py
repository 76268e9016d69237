"""``compile(jit_compile=True)``: the whole training step as one ``torch.compile`` graph.

A small model's eager step is mostly per-op overhead: Python, dispatch, and one kernel launch
for every forward op, backward op and optimizer op. Here the forward pass, the losses, the
gradients and the optimizer update are traced together into one graph. Inductor then fuses
them into a few kernels.

How the step is traced:
- ``torch.func.grad`` takes the gradients inside the traced function. A ``.backward()`` call
  would break the graph in two.
- The model's parameters are swapped for the function's inputs with
  ``torch.nn.utils.stateless._reparametrize_module``, as ``torch.func.functional_call`` does.
- The optimizer's update, the constraints and the metrics' updates then run in place on the
  real parameters, optimizer state and metric state.
- The host computes the learning rate, the bias corrections and the loss weights, and passes
  them as 0-dim tensors. So a schedule, the step count or a reassigned loss weight never
  recompiles.
- On a GPU the graph is also captured as a CUDA graph (``mode="reduce-overhead"``): one launch
  per call.
- ``steps_per_execution`` batches go to one call, which runs one step per batch.

What stays on the host: the callbacks, the progress bar, and reading the metrics.

The step checks what it needs before it is built (:func:`unsupported`). Where a model needs
more, ``train_step`` keeps the eager step. See ``Trainer.compile`` for what each
``jit_compile`` value does.
"""

import copy
import threading
import time
import types
import warnings

import torch
from torch.nn.utils import stateless

from plait.distribution import collectives, sharding
from plait.losses import balancing
from plait.training import threads
from plait.training.step import StepOutput, batch_size_of


def unsupported(model, step_fn):
    """Why the whole step cannot be compiled for ``model`` (a sentence), or None if it can."""
    if not isinstance(model.loss_balancer, balancing.FixedWeights):
        return f"the loss balancer {type(model.loss_balancer).__name__} takes its own steps between the losses"
    if getattr(model.optimizer, "use_ema", False) or getattr(model.optimizer, "gradient_accumulation_steps", None):
        return "the optimizer's EMA or gradient accumulation runs eagerly"
    if getattr(model.optimizer, "loss_scale_factor", None) is not None:
        return "the optimizer's loss_scale_factor runs eagerly"
    if getattr(model.optimizer, "dynamic_loss_scaling", False):
        return "mixed_float16 loss scaling skips steps on a host-side check"
    if not getattr(model.optimizer, "traceable", True):
        return f"the optimizer {type(model.optimizer).__name__} runs its steps eagerly"
    if step_fn.activity_layers:
        return "activity regularizers collect their penalties as a side effect of the forward pass"
    for module in model.modules():
        if getattr(module, "stateful", False):
            return f"layer '{getattr(module, 'name', module)}' is stateful (it carries states between calls)"
    return None


class WholeStep:
    """One training step (forward, losses, gradients, optimizer update) as one compiled call.

    Args:
        model: a compiled plait model whose first training step ran eagerly; the parameters
            that received a gradient in that step are the ones this step updates (the eager
            step skips a parameter without a gradient, and so does this one).
        step_fn: the model's :class:`~plait.training.step.StepFunction` (the same math as the
            eager step).
        names: the names of the parameters to update, when rebuilding a step.
        dynamic: passed to ``torch.compile``; each batch shape gets its own graph
            (see :meth:`accepts`).

    Calling it with a list of batches ``[(xs, ys, sws), ...]`` runs one step per batch in one
    compiled call (``steps_per_execution``) and updates the model's metrics, as the eager
    steps do.
    """

    max_shapes = 4
    guard_nonfinite = True  # skip steps whose loss is not finite (benchmarks/check_overhead.py measures it off)

    def __init__(self, model, step_fn, dynamic=False, names=None):
        self.model, self.step_fn, self.dynamic = model, step_fn, dynamic
        named = dict(model.named_parameters())
        if names is None:
            names = [n for n, p in named.items() if p.requires_grad and p.grad is not None]
        self.names = list(names)
        self.params = params = [named[n] for n in self.names]
        self._detached = [p.detach() for p in params]  # views: updating them updates the parameters
        # Buffers (BatchNormalization's moving statistics) are updated in place by the forward
        # pass; torch.func allows that only for its function's own inputs, so they are passed in.
        self.buffer_names, self.buffers = zip(*model.named_buffers()) if list(model.named_buffers()) else ((), ())
        opt = model.optimizer
        chosen = {id(p) for p in params}
        self.state = opt.slots_for([i for i, p in enumerate(opt.params) if id(p) in chosen])
        # Constraints run after each update, inside the step (between the steps of a chunk).
        position = {id(p): i for i, p in enumerate(params)}
        self.constrained = [
            (position[id(s.get(layer))], s) for layer, s in step_fn.constrained if id(s.get(layer)) in position
        ]
        self._device = params[0].device if params else torch.device("cpu")
        # Host-set numbers live in device tensors updated with fill_ (no sync, no recompile).
        self._scalars, self._last = [], []
        self._weights = torch.zeros(len(step_fn.loss_indices), device=self._device)
        self._weight_values = None
        self._seen, self._compiled = set(), set()
        self._fns = {}  # steps per call -> compiled function
        self._before_call = None

    def __call__(self, batches):
        """Run one step per ``(xs, ys, sws)`` in ``batches``, all in one compiled call.

        Returns a bool tensor of shape ``(steps, 1 + outputs with a loss)``, on the device: per
        step, whether its loss was finite (a step whose loss is not is not applied), then whether
        each output's loss was. Reading it is the caller's choice (one host sync)."""
        model = self.model
        for k in range(len(batches)):
            values = model.optimizer.next_step_scalars()
            if k == len(self._scalars):
                self._scalars.append({key: torch.zeros((), device=self._device) for key in values})
                self._last.append({})
            for key, value in values.items():
                if self._last[k].get(key) != value:  # a constant learning rate is filled once
                    self._scalars[k][key].fill_(value)
                    self._last[k][key] = value
        if model.loss_balancer.values != self._weight_values:
            self._weight_values = list(model.loss_balancer.values)
            self._weights.copy_(torch.tensor(self._weight_values))
        fn = self._fns.get(len(batches))
        if fn is None:
            fn = self._fns[len(batches)] = self._compile()
        if self._before_call is not None:
            self._before_call()
        return fn(self._detached, list(self.buffers), self.state, batches, self._scalars[: len(batches)], self._weights)

    def _compile(self):
        if self._device.type != "cuda":
            return torch.compile(own_code(self._steps), dynamic=self.dynamic, options=collectives.overlap_options())
        # On a GPU the step is also captured in a CUDA graph ("reduce-overhead"): one launch per
        # call. The graph may update in place only tensors whose address never changes.
        state = [t for ts in self.state.values() for t in ts]
        metrics = [t for m in self.model.metrics for t in (getattr(m, "total", None), getattr(m, "count", None))]
        scalars = [t for step in self._scalars for t in step.values()]
        for t in [*self._detached, *self.buffers, *state, *scalars, self._weights, *metrics]:
            if isinstance(t, torch.Tensor) and t.is_cuda:
                torch._dynamo.mark_static_address(t)
        return torch.compile(own_code(self._steps), dynamic=self.dynamic, mode="reduce-overhead")

    def stale(self):
        """Whether a parameter was moved since the step was built (``model.to(device)`` swaps
        their storage): the step's views would update the old copies."""
        return any(d.data_ptr() != p.data_ptr() for d, p in zip(self._detached, self.params))

    def compiled_function(self, steps):
        """The compiled function for calls of ``steps`` steps (None before the first such call)."""
        return self._fns.get(steps)

    def adopt(self, steps, fn, key, before_call=None):
        """Use ``fn``, compiled elsewhere for calls of ``steps`` steps on batches of shapes
        ``key`` (:class:`BackgroundCompile`); other shapes run eagerly, never compiling in
        the fit's thread. ``before_call()`` runs before each call."""
        self._fns[steps] = fn
        self._compiled = {key}
        self.max_shapes = 1
        self._before_call = before_call

    def accepts(self, batches):
        """Whether these batches' shapes have a compiled graph, or earn one. A shape first seen
        runs eagerly; it compiles when it comes back, up to ``max_shapes`` shapes. So the last
        short batch of an epoch compiles in the second epoch, and inputs whose length changes
        with every batch keep the eager step instead of recompiling for each length. (Marking
        the length dynamic does not hold: the traced gradients specialise it.)"""
        keys = {tuple(None if t is None else tuple(t.shape) for t in (*xs, *ys, *sws)) for xs, ys, sws in batches}
        if len(keys) != 1:
            return False
        key = (len(batches), keys.pop())
        if key in self._compiled:
            return True
        # The first shape compiles at once: the eager steps before this one had it.
        if (key in self._seen or not self._compiled) and len(self._compiled) < self.max_shapes:
            self._compiled.add(key)
            return True
        self._seen.add(key)
        return False

    def _steps(self, params, buffers, state, batches, scalars, weights):
        flags, applied = [], None
        for k, ((xs, ys, sws), step_scalars) in enumerate(zip(batches, scalars)):
            if applied is not None:
                # A skipped step does not count (as in the eager step): this one takes the numbers
                # (learning rate, bias corrections) of the step after the ones applied so far.
                step_scalars = {key: torch.stack([s[key] for s in scalars[: k + 1]])[applied] for key in step_scalars}
            flags.append(self._step(params, buffers, state, xs, ys, sws, step_scalars, weights))
            if self.guard_nonfinite:
                ok = flags[-1][0].long()
                applied = ok if applied is None else applied + ok
        return torch.stack(flags)

    def _step(self, params, buffers, state, xs, ys, sws, scalars, weights):
        model, step_fn = self.model, self.step_fn

        def weigh(losses):
            terms = [weights[j] * loss for j, loss in enumerate(losses) if loss is not None]
            return torch.stack(terms).sum() if len(terms) > 1 else terms[0]

        def loss(values, buffer_values):
            swapped = {**dict(zip(self.names, values)), **dict(zip(self.buffer_names, buffer_values))}
            with stateless._reparametrize_module(model, swapped):
                out = step_fn(xs, ys, sws, weigh)
            # The aux outputs of torch.func must be tensors: drop the Nones, put them back below.
            kept_masks = {i: m for i, m in enumerate(out.masks or ()) if m is not None}
            losses = {i: v.detach() for i, v in enumerate(out.per_output) if v is not None}
            # Under DataParallel: this part's mean over N processes (the all-reduce below weighs them).
            return out.total * scale, ([y.detach() for y in out.y_pred], kept_masks, losses, out.total.detach())

        n_local = batch_size_of(xs)
        scale = collectives.loss_scale(n_local)
        # The forward pass updates the buffers (moving statistics) in place: keep their values,
        # to restore them if the step's loss is not finite.
        kept_buffers = [b.clone() for b in buffers] if self.guard_nonfinite else ()
        grads, (_, (y_pred, kept_masks, losses, total)) = torch.func.grad_and_value(loss, has_aux=True)(params, buffers)
        grads = list(grads)
        finite = torch.isfinite(total) if self.guard_nonfinite else None
        if finite is not None and grads and collectives.data_parallel() is not None:
            # One decision on every process: a process whose loss is not finite makes its first
            # gradient NaN, and the all-reduce below carries the NaN to every process.
            grads[0] = grads[0] * torch.where(finite, 1.0, float("nan"))
        grads = collectives.average_gradients_traced(grads, n_local)
        if finite is not None and grads and collectives.data_parallel() is not None:
            finite = torch.isfinite(grads[0]).all()
        with torch.no_grad():
            # ``params`` are detached views of the parameters: updating them in place updates
            # the parameters, with no aliased graph inputs (which would cost a copy per call).
            # A step whose loss is not finite keeps the old values of the parameters, optimizer
            # slots and buffers: the update is computed, then not selected (no graph break, and
            # Inductor fuses the selection into the update's kernels).
            slots = [t for ts in state.values() for t in ts]
            kept = [t.clone() for t in (*params, *slots)] if finite is not None else ()
            model.optimizer.apply_rule(params, grads, state, scalars)
            for i, spec in self.constrained:
                spec.constrain_(params[i])
            for t, old in zip((*params, *slots, *buffers), (*kept, *kept_buffers)):
                t.copy_(torch.where(finite, t, old))
        if finite is None:
            finite = torch.ones((), dtype=torch.bool, device=total.device)
        masks = [kept_masks.get(i) for i in range(len(y_pred))] if kept_masks else None
        per_output = [losses.get(i) for i in range(len(ys))]
        model.update_step_metrics(StepOutput(total.detach(), per_output, y_pred, masks), xs, ys, sws)
        return torch.stack([finite, *(torch.isfinite(losses[i]).all() for i in sorted(losses))])


def own_code(method):
    """``method`` with a code object of its own. Dynamo keeps its compiled graphs per code
    object, at most ``recompile_limit`` (8) of them, then silently runs eagerly. Every model
    has its own step, so without this the ninth model of a process would train eagerly."""
    fn = method.__func__
    code = fn.__code__.replace()  # an equal but distinct code object
    own = types.FunctionType(code, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    return types.MethodType(own, method.__self__)


# An eager step shorter than this is mostly Python dispatching kernels, with the GIL held. A
# compilation in another thread is Python too, so while it runs (tens of seconds on a small
# CPU) it takes about half of such a fit's time, more than the compiled step gives back: the
# seed MLP's fit of 15,360 steps on 2 cores took 21 s compiling in the background, 10 s eager.
# Longer steps spend their time in kernels that release the GIL, and lose little to it.
GIL_BOUND_STEP_S = 0.02


def background_pays(step_s):
    """Whether compiling in a background thread pays, for an eager step of ``step_s`` seconds
    (see ``GIL_BOUND_STEP_S``).

    Example:
        >>> background_pays(0.0006), background_pays(0.3)
        (False, True)
    """
    return step_s >= GIL_BOUND_STEP_S


class JitPolicy:
    """Which step ``train_step`` runs, for ``compile(jit_compile=mode)``.

    - ``False``: the eager step.
    - ``True``: the first step runs eagerly (it shows which parameters get gradients), then
      the :class:`WholeStep`. A model the whole step does not support (:func:`unsupported`)
      compiles only its forward pass and losses (``compile_loss``). A recurrent model stays
      eager, with a warning: tracing unrolls the fused RNN kernels step by step, which took
      minutes to compile and ran slower than eager on the seed's QA model.
    - ``"auto"``: eager, unless the fit it is in is long. After ``warmup + window`` eager
      steps it projects the fit's remaining eager time. On the CPU, if that exceeds
      ``background_seconds``, a :class:`BackgroundCompile` compiles the whole step on a copy
      of the model in another thread while the fit goes on eagerly; at the first step
      boundary after it is ready the fit switches to it. Elsewhere (an accelerator, a
      distribution, or an eager step so short that a compiling thread would take its GIL,
      :func:`background_pays`) it compiles in the fit's thread if the remaining time exceeds
      ``min_seconds``. Either way it then times ``window`` compiled steps and keeps them only
      if they are at least 10% faster than the eager ones. A short fit runs exactly as eager.

    Args:
        mode: ``True``, ``False`` or ``"auto"``.
        min_seconds: for ``"auto"`` in the fit's thread, the projected eager time that pays for
            the stall of a compilation (2.5 to 15 s for the seed's models on a 2-core CPU).
        background_seconds: for ``"auto"`` on the CPU, the projected eager time that pays for
            compiling in the background (its worker takes CPU time from the fit meanwhile).
    """

    warmup, window = 5, 20
    background = True  # "auto" on the CPU compiles in a thread (tests turn it off to time the stall-path)

    def __init__(self, mode, min_seconds=120.0, background_seconds=10.0):
        self.mode, self.min_seconds, self.background_seconds = mode, min_seconds, background_seconds
        self._compiler = None  # the BackgroundCompile under way
        self.thread_count = None  # torch's thread count the compiled step is traced with (fits keep it)
        self.compile_loss = False
        self.reason = None  # why the whole step is not used, once decided
        self._whole = None
        self._phase = "first" if mode is True else ("measure" if mode == "auto" else "eager")
        self._steps = 0
        self._remaining = None
        self._eager_s = self._t0 = self._t0_done = None
        self._tried = False  # "auto": whether compiling was tried (or found unsupported)

    def plan(self, steps):
        """``fit`` announces its number of steps (None: unknown); ``"auto"`` measures anew."""
        self._remaining = steps
        if self.mode == "auto" and not self._tried and self._phase in ("eager", "measure"):
            self._phase, self._steps, self._t0 = "measure", 0, None  # a longer fit may pay now

    def whole_step(self, model, step_fn, steps=1, batches=None):
        """The compiled step for the next ``steps`` steps (``batches``, when given, are these
        steps' ``(xs, ys, sws)``: a background compilation traces them), or None for the eager
        step."""
        done = self._steps  # steps completed before these
        self._steps += steps
        if self._remaining is not None:
            self._remaining -= steps
        phase = self._phase
        if phase == "first":  # jit_compile=True: this step runs eagerly, the next one builds
            self._phase = "build"
            self.thread_count = threads.pin()  # torch.compile guards on it
            return None
        if phase == "build" or (phase == "compiled" and self._whole.stale()):
            self._phase = phase = "compiled" if self._build(model, step_fn, explicit=True) else "eager"
        if phase == "measure":
            return self._measure_eager(model, step_fn, done, batches)
        if phase == "background":
            return self._adopt(model, step_fn, done)
        if phase == "trial":
            return self._measure_compiled(model, done)
        return self._whole if phase == "compiled" else None

    def join(self, timeout=None):
        """Wait for a background compilation under way (tests; a script about to exit)."""
        if self._compiler is not None:
            self._compiler.thread.join(timeout)

    def _adopt(self, model, step_fn, done):
        compiler = self._compiler
        if compiler.thread.is_alive():
            return None
        self._compiler = None
        self._phase = "eager"
        if compiler.error is not None:
            self.reason = f"compiling the whole step failed: {type(compiler.error).__name__}: {compiler.error}"
            return None
        if not self._build(model, step_fn, explicit=False, names=compiler.names):
            return None
        if not compiler.hand_over(self._whole):
            self._whole = None
            self.reason = "its metrics' state differs from the compiled copy's"
            return None
        self._phase, self._t0 = "trial", None
        return self._measure_compiled(model, done)

    def _background_ok(self, model, batches):
        return (
            self.background
            and batches is not None
            and model.device.type == "cpu"
            and collectives.data_shards()[0] == 1
            and sharding.distribution_of(model) is None
        )

    def _build(self, model, step_fn, explicit, names=None):
        if sharding.mesh_of(model) is not None:
            # ModelParallel's DTensor weights: torch.func's transforms reject DTensor's own autograd
            # Functions (from_local/to_local define no setup_context), so only the forward pass and
            # losses compile; backward and the optimizer run eagerly on the shards.
            self.reason = "its weights are sharded DTensors (ModelParallel): torch.func cannot differentiate them"
            self.compile_loss = explicit
            return False
        if sharding.sharded_by_fsdp(model):
            self.reason = "its weights are sharded by FSDP (FullyShardedDataParallel), which the compiled step lacks"
            if explicit:
                warnings.warn(f"jit_compile=True: model '{model.name}' trains eagerly: {self.reason}.", stacklevel=5)
            return False
        if any(isinstance(m, torch.nn.RNNBase) or getattr(m, "is_recurrent", False) for m in model.modules()):
            self.reason = "recurrent layers would be unrolled step by step in the traced graph"
            if explicit:
                warnings.warn(f"jit_compile=True: model '{model.name}' trains eagerly: {self.reason}.", stacklevel=5)
            return False
        self.reason = unsupported(model, step_fn)
        if self.reason is not None:
            self.compile_loss = explicit
            return False
        if names is None and self._whole is not None:
            names = self._whole.names
        self._whole = WholeStep(model, step_fn, names=names)
        for p in model.optimizer.params:
            p.grad = None  # the compiled step keeps no .grad; free the eager step's
        return True

    def _tick(self, model):
        if model.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter()

    def _window(self, model, done, start):
        """Seconds per step over ``window`` steps from ``start`` completed steps; None before."""
        if done >= start and self._t0 is None:
            self._t0, self._t0_done = self._tick(model), done
        elif self._t0 is not None and done - self._t0_done >= self.window:
            seconds = (self._tick(model) - self._t0) / (done - self._t0_done)
            self._t0 = None
            return seconds
        return None

    def _measure_eager(self, model, step_fn, done, batches):
        if threads.probing():  # the fit is still choosing its thread count: time the steps after
            self._t0 = None
            return None
        self._eager_s = self._window(model, done, self.warmup)
        if self._eager_s is None:
            return None
        remaining = None if self._remaining is None else self._remaining * self._eager_s
        self._phase = "eager"
        if remaining is not None and self._background_ok(model, batches) and background_pays(self._eager_s):
            if remaining > self.background_seconds:
                self._tried = True
                if self._build(model, step_fn, explicit=False):  # the checks only: the step is the copy's
                    names, self._whole = self._whole.names, None
                    self.thread_count = threads.pin()
                    try:
                        self._compiler = BackgroundCompile(model, names, batches, self.thread_count)
                        self._phase = "background"
                    except Exception as error:  # e.g. a layer that cannot be deep-copied: stay eager
                        self.reason = f"the model could not be copied to compile: {type(error).__name__}: {error}"
            return None
        worth = remaining is not None and remaining > self.min_seconds
        if worth:
            self.thread_count = threads.pin()
            self._tried = True
            if self._build(model, step_fn, explicit=False):
                self._phase, self._steps = "trial", 0
                return self._whole
        return None

    def _measure_compiled(self, model, done):
        # The first calls compile (and a recompile for a new shape may follow): skip 3 steps.
        compiled_s = self._window(model, done, 3)
        if compiled_s is not None:
            if compiled_s > 0.9 * self._eager_s:
                self._phase, self._whole = "eager", None
                self.reason = f"compiled steps took {compiled_s * 1e3:.3g} ms, eager {self._eager_s * 1e3:.3g} ms"
                return None
            self._phase = "compiled"
        return self._whole


class BackgroundCompile:
    """Compiles a :class:`WholeStep` in a thread, while the fit trains on eagerly.

    The step is built and compiled on a copy of the model (its own parameters, optimizer,
    metrics and step function), called once on clones of a batch, so the compilation changes
    nothing the fit uses. The compiled function takes the parameters, buffers, optimizer slots
    and host scalars as arguments, so the fit's own :class:`WholeStep` calls it with the real
    ones (:meth:`hand_over`); the metrics' state tensors, which it updates as attributes of the
    copy's metrics, are shared with the model's metrics from then on (``Tensor.set_``).

    A model with random layers draws its first compiled step's random numbers in the thread
    (from torch's global generator), so those of the eager steps meanwhile differ from a fully
    eager run's.

    Args:
        model: the compiled plait model (its first steps ran eagerly).
        names: the names of the parameters the step updates.
        batches: the ``(xs, ys, sws)`` of one call (their shapes are the ones compiled).
        thread_count: torch's thread count in the fit (the compiled step guards on it).
    """

    def __init__(self, model, names, batches, thread_count):
        self.names, self.steps, self.thread_count = list(names), len(batches), thread_count
        self.error = self.fn = None
        self.copy = _copy_for_compile(model)
        self.whole = WholeStep(self.copy, self.copy.step_function(), names=self.names)
        sample = [tuple(_clone(part) for part in batch) for batch in batches]
        self.key = (len(batches), _shapes_key(batches))
        self.thread = threading.Thread(target=self._run, args=(sample,), name="plait-compile", daemon=True)
        self.thread.start()

    def _run(self, sample):
        try:
            # Trace with the fit's thread count (torch.compile guards on it). The read comes
            # first: torch initialises a thread's count lazily from the last count set anywhere,
            # so a later change in the fit's thread must not reach this one.
            torch.get_num_threads()
            torch.set_num_threads(self.thread_count)
            self.whole(sample)
            self.fn = self.whole.compiled_function(self.steps)
        except Exception as error:  # the fit goes on eagerly, and says why (JitPolicy.reason)
            self.error = error

    def hand_over(self, whole):
        """Give the compiled function to the fit's ``whole`` step (for this shape only); the
        model's metric state then lives in the copy's tensors. False if they do not match."""
        shared = SharedMetricState(whole.model.metrics, self.copy.metrics)
        if not shared.matches():
            return False
        whole.adopt(self.steps, self.fn, self.key, before_call=shared.sync)
        return True


class SharedMetricState:
    """The model's metric state tensors sharing storage with those of a copy's metrics, which a
    compiled step updates. A metric that makes new state tensors when it is reset (plait's own
    do, on the CPU) is shared again at the next :meth:`sync`.

    Args:
        metrics: the model's ``metrics``.
        twins: the copy's, in the same order.
    """

    def __init__(self, metrics, twins):
        self.slots, self.twin_slots = _metric_slots(metrics), _metric_slots(twins)
        self._last = [None] * len(self.slots)

    def matches(self):
        """Whether both hold state tensors of the same shapes and dtypes, in the same places."""
        if len(self.slots) != len(self.twin_slots):
            return False
        for slot, twin in zip(self.slots, self.twin_slots):
            a, b = _read(slot), _read(twin)
            if slot[1] != twin[1] or a.shape != b.shape or a.dtype != b.dtype or a.device != b.device:
                return False
        return True

    @torch.no_grad()
    def sync(self):
        """Share any state tensor of the model's metrics made since the last call (a few
        identity checks when none was)."""
        for i, (slot, twin) in enumerate(zip(self.slots, self.twin_slots)):
            tensor = _read(slot)
            if tensor is self._last[i]:
                continue
            mine = _read(twin)
            if tensor.data_ptr() != mine.data_ptr():
                mine.copy_(tensor)
                tensor.set_(mine)
            self._last[i] = tensor


def _read(slot):
    owner, key = slot
    return owner[key] if isinstance(owner, list) else getattr(owner, key)


def _holds_metrics(value):
    """A metric, or one of plait's objects that hold metrics (``compile``'s output heads)."""
    if isinstance(value, (torch.nn.Module, type, types.FunctionType, types.MethodType)):
        return False
    if not hasattr(value, "__dict__"):
        return False
    return hasattr(value, "update_state") or type(value).__module__.startswith("plait.")


def _metric_slots(metrics):
    """``(owner, attribute name or list index)`` of every state tensor of ``metrics`` and the
    metrics inside them, in a fixed order."""
    slots, seen = [], set()

    def walk(owner, key, value):
        if isinstance(value, torch.Tensor):
            slots.append((owner, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(value, index, item)
        elif isinstance(value, (tuple, dict)):
            for item in value.values() if isinstance(value, dict) else value:
                if not isinstance(item, torch.Tensor):
                    walk(None, None, item)
        elif _holds_metrics(value) and id(value) not in seen:
            seen.add(id(value))
            for name, item in vars(value).items():
                walk(value, name, item)

    for metric in metrics:
        walk(None, None, metric)
    return slots


def _copy_for_compile(model):
    """A deep copy of ``model`` with its optimizer and metrics, without the fit's own state
    (data, policy, history) and with a step function of its own."""
    leave = ("_jit", "fit_state", "history", "_step_fn", "_builtin", "_policy")
    memo = {id(value): None for key, value in vars(model).items() if key in leave and value is not None}
    twin = copy.deepcopy(model, memo)
    for key in leave:
        if key in vars(model):
            setattr(twin, key, None)
    return twin


def _clone(values):
    return [None if t is None else t.detach().clone() for t in values]


def _shapes_key(batches):
    return tuple(None if t is None else tuple(t.shape) for xs, ys, sws in batches[:1] for t in (*xs, *ys, *sws))
