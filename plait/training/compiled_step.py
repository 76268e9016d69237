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
- The optimizer's update then runs in place on the real parameters and state.
- The host computes the learning rate, the bias corrections and the loss weights, and passes
  them as 0-dim tensors. So a schedule, the step count or a reassigned loss weight never
  recompiles.

What stays eager: the metrics, constraints, and everything the step does not own.

The step checks what it needs before it is built (:func:`unsupported`). Where a model needs
more, ``train_step`` keeps the eager step. See ``Trainer.compile`` for what each
``jit_compile`` value does.
"""

import time
import warnings

import torch
from torch.nn.utils import stateless

from plait.losses import balancing


def unsupported(model):
    """Why the whole step cannot be compiled for ``model`` (a sentence), or None if it can."""
    if not isinstance(model._balancer, balancing.FixedWeights):
        return f"the loss balancer {type(model._balancer).__name__} takes its own steps between the losses"
    if hasattr(model.optimizer, "scale_loss"):
        return "mixed_float16 loss scaling skips steps on a host-side check"
    if getattr(model, "_activity_layers", None):
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
        dynamic: passed to ``torch.compile``: None lets torch mark a dimension dynamic the
            second time it changes, so variable lengths and the last short batch of an
            epoch compile at most once more.

    Calling it with ``(xs, ys, sws)`` runs the step and updates the model's metrics, as the
    eager step does.
    """

    def __init__(self, model, dynamic=None):
        self.model = model
        params = [p for p in model._trainable_params if p.grad is not None]
        names = {id(p): n for n, p in model.named_parameters()}
        self.names = [names[id(p)] for p in params]
        self.params = params
        # Buffers (BatchNormalization's moving statistics) are updated in place by the forward
        # pass; torch.func allows that only for its function's own inputs, so they are passed in.
        self.buffer_names = [n for n, _ in model.named_buffers()]
        opt = model.optimizer
        index = [i for i, p in enumerate(opt._params) if p.grad is not None]
        self.state = {slot: [opt._state[slot][i] for i in index] for slot in opt._slots}
        device = params[0].device if params else torch.device("cpu")
        # Host-set numbers live in device tensors updated with fill_ (no sync, no recompile).
        self._scalars = {}
        self._weights = torch.zeros(len(model._loss_heads), device=device)
        self._device = device
        self._fn = torch.compile(self._step, dynamic=dynamic)

    def __call__(self, xs, ys, sws):
        model = self.model
        for key, value in model.optimizer.next_step_scalars().items():
            if key not in self._scalars:
                self._scalars[key] = torch.zeros((), device=self._device)
            self._scalars[key].fill_(value)
        for j, w in enumerate(model._balancer.values):
            self._weights[j].fill_(w)
        buffers = [b for _, b in self.model.named_buffers()]
        return self._fn(
            [p.detach() for p in self.params], buffers, self.state, xs, ys, sws, self._scalars, self._weights
        )

    def _step(self, params, buffers, state, xs, ys, sws, scalars, weights):
        model = self.model

        def loss(values, buffer_values):
            swapped = {**dict(zip(self.names, values)), **dict(zip(self.buffer_names, buffer_values))}
            with stateless._reparametrize_module(model, swapped):
                y_pred, masks = model._forward_outputs(xs)
                per_output = model._output_losses(ys, y_pred, sws, masks=masks)
                penalty = model._penalty()
            terms = [weights[j] * per_output[i] for j, i in enumerate(model._loss_heads) if per_output[i] is not None]
            total = torch.stack(terms).sum() if len(terms) > 1 else terms[0]
            if penalty is not None:
                total = total + penalty
            # The aux outputs of torch.func must be tensors: drop the Nones, put them back below.
            kept_masks = {i: m for i, m in enumerate(masks or ()) if m is not None}
            losses = {i: v.detach() for i, v in enumerate(per_output) if v is not None}
            return total, ([y.detach() for y in y_pred], kept_masks, losses)

        grads, (total, (y_pred, kept_masks, losses)) = torch.func.grad_and_value(loss, has_aux=True)(params, buffers)
        with torch.no_grad():
            # ``params`` are detached views of the parameters: updating them in place updates
            # the parameters, with no aliased graph inputs (which would cost a copy per call).
            model.optimizer._apply_rule(params, list(grads), state, scalars)
        masks = [kept_masks.get(i) for i in range(len(y_pred))] if kept_masks else None
        per_output = [losses.get(i) for i in range(len(ys))]
        model._update_metrics(y_pred, ys, sws, total.detach(), per_output, masks)


class JitPolicy:
    """Which step ``train_step`` runs, for ``compile(jit_compile=mode)``.

    - ``False``: the eager step.
    - ``True``: the first step runs eagerly (it shows which parameters get gradients), then
      the :class:`WholeStep`. A model the whole step does not support (:func:`unsupported`)
      compiles only its forward pass and losses (``compile_loss``). A recurrent model stays
      eager, with a warning: tracing unrolls the fused RNN kernels step by step, which took
      minutes to compile and ran slower than eager on the seed's QA model.
    - ``"auto"``: eager, unless the fit it is in is long. After ``warmup + window`` eager
      steps it projects the fit's remaining eager time; if that exceeds ``min_seconds`` it
      compiles the whole step, times ``window`` compiled steps, and keeps them only if they
      are at least 10% faster than the eager ones. So a fit shorter than ``min_seconds`` runs
      exactly as eager, and a longer one pays at most one compilation to find out.

    Args:
        mode: ``True``, ``False`` or ``"auto"``.
        min_seconds: for ``"auto"``, the projected eager time that pays for a compilation
            (compiling took 2.5 to 15 s for the seed's models on a 2-core CPU).
    """

    warmup, window = 5, 20

    def __init__(self, mode, min_seconds=120.0):
        self.mode, self.min_seconds = mode, min_seconds
        self.compile_loss = False
        self.reason = None  # why the whole step is not used, once decided
        self._whole = None
        self._phase = "first" if mode is True else ("measure" if mode == "auto" else "eager")
        self._steps = 0
        self._remaining = None
        self._eager_s = None

    def plan(self, steps):
        """``fit`` announces its number of steps (None: unknown); ``"auto"`` measures anew."""
        self._remaining = steps
        if self.mode == "auto" and self._phase == "eager" and self._eager_s is None:
            self._phase, self._steps = "measure", 0

    def whole_step(self, model):
        """The compiled step to run now, or None for the eager step."""
        self._steps += 1
        if self._remaining is not None:
            self._remaining -= 1
        phase = self._phase
        if phase == "first":  # jit_compile=True: this step runs eagerly, the next one builds
            self._phase = "build"
            return None
        if phase == "build":
            self._phase = phase = "compiled" if self._build(model, explicit=True) else "eager"
        if phase == "measure":
            return self._measure_eager(model)
        if phase == "trial":
            return self._measure_compiled(model)
        return self._whole if phase == "compiled" else None

    def _build(self, model, explicit):
        if any(isinstance(m, (torch.nn.RNNBase, _recurrent_layer())) for m in model.modules()):
            self.reason = "recurrent layers would be unrolled step by step in the traced graph"
            if explicit:
                warnings.warn(f"jit_compile=True: model '{model.name}' trains eagerly: {self.reason}.", stacklevel=4)
            return False
        self.reason = unsupported(model)
        if self.reason is not None:
            self.compile_loss = explicit
            return False
        self._whole = WholeStep(model)
        for p in model._trainable_params:
            p.grad = None  # the compiled step keeps no .grad; free the eager step's
        return True

    def _tick(self, model):
        if model._device().type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter()

    def _measure_eager(self, model):
        if self._steps == self.warmup:
            self._t0 = self._tick(model)
        elif self._steps == self.warmup + self.window:
            self._eager_s = (self._tick(model) - self._t0) / self.window
            worth = self._remaining is not None and self._remaining * self._eager_s > self.min_seconds
            if worth and self._build(model, explicit=False):
                self._phase, self._steps = "trial", 0
                return self._whole
            self._phase = "eager"
        return None

    def _measure_compiled(self, model):
        # step 1 compiles; steps 2-3 settle (a recompile for a new shape); then a window
        if self._steps == 3:
            self._t0 = self._tick(model)
        elif self._steps == 3 + self.window:
            compiled_s = (self._tick(model) - self._t0) / self.window
            if compiled_s > 0.9 * self._eager_s:
                self._phase, self._whole = "eager", None
                self.reason = f"compiled steps took {compiled_s * 1e3:.3g} ms, eager {self._eager_s * 1e3:.3g} ms"
                return None
            self._phase = "compiled"
        return self._whole


def _recurrent_layer():
    from plait.layers.recurrent import _RNN

    return _RNN
