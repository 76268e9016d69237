"""The optimizer base: Keras 3's API and update order, torch's multi-tensor kernels.

Keras's rules differ from ``torch.optim``'s in small ways that change the numbers (epsilon
inside the square root for RMSprop; Adam's "epsilon hat"; momentum stored as ``-lr * buf``),
so plait writes each rule as Keras does, with ``torch._foreach_*`` ops: one kernel launch per
op for all parameters, as torch's own ``foreach`` optimizers do.

Per step, as in Keras's ``BaseOptimizer.apply``: divide the gradients by ``loss_scale_factor``,
clip them (``clipnorm``, else ``global_clipnorm``, else ``clipvalue``), decay weights
(``w -= w * weight_decay * lr``), apply the update rule with the learning rate at the current
iteration, move the EMA of the weights (``use_ema``), then count the iteration. With
``gradient_accumulation_steps=n`` only every n-th call updates, with the mean of the n
gradients; the others add theirs to an accumulator.

The per-step numbers of a rule (the learning rate, Adam's bias corrections) are computed on the
host by ``_step_scalars`` and handed to ``_update``: Python floats in an eager step, 0-dim
tensors in a compiled whole step (``compile(jit_compile=True)``), so that a learning-rate
schedule or the step count never triggers a recompilation.
"""

import torch

from plait.optimizers import schedules

# Keras's base-optimizer arguments beyond clipping and decay, with their defaults (which leave
# them off): ``repr`` leaves them out at these values.
EXTRA_DEFAULTS = {
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}


def scale_add_(xs, ys, a):
    """``xs += a * ys`` for a float or a 0-dim tensor ``a`` (``alpha=`` takes only floats)."""
    if isinstance(a, torch.Tensor):
        torch._foreach_add_(xs, torch._foreach_mul(ys, a))
    else:
        torch._foreach_add_(xs, ys, alpha=a)


def scale_addcdiv_(xs, num, den, a):
    """``xs += a * num / den`` for a float or a 0-dim tensor ``a``."""
    if isinstance(a, torch.Tensor):
        q = torch._foreach_div(num, den)
        torch._foreach_mul_(q, a)
        torch._foreach_add_(xs, q)
    else:
        torch._foreach_addcdiv_(xs, num, den, value=a)


def gradients_finite(grads):
    """Whether every gradient is finite: torch's fused check (``GradScaler``'s, with a scale of
    1, so the gradients keep their values), one host read per device."""
    found = {}
    for g in grads:
        if g.is_floating_point():
            found.setdefault(g.device, []).append(g)
    for device, tensors in found.items():
        flag = torch.zeros((), device=device)
        torch._amp_foreach_non_finite_check_and_unscale_(tensors, flag, torch.ones((), device=device))
        if flag.item():
            return False
    return True


class Optimizer:
    """Base class. Subclasses define ``_slots`` (state names), ``_update(...)`` and, when the
    rule needs more per-step numbers than the learning rate, ``_step_scalars``.

    Args:
        learning_rate: a float or a ``LearningRateSchedule`` (or any ``step -> lr`` callable).
        weight_decay: decoupled weight decay, applied as Keras does before the update.
        clipnorm: clip each gradient to this L2 norm.
        clipvalue: clip each gradient element to ``[-clipvalue, clipvalue]``.
        global_clipnorm: clip all gradients together to this global L2 norm.
        use_ema: keep an exponential moving average of the weights (Keras's ``<name>_average``
            optimizer variables); ``finalize_variable_values`` (called at the end of ``fit``)
            writes it into the weights.
        ema_momentum: the average's momentum: ``avg = m * avg + (1 - m) * w`` after each step
            (``m = 0`` on the first, so the average starts at the weights).
        ema_overwrite_frequency: with ``use_ema``, overwrite the weights with their average
            every this many (accumulated) iterations; None never does.
        loss_scale_factor: ``fit`` multiplies the loss by it (``scale_loss``) and ``apply``
            divides the gradients by it, against float16 underflow.
        gradient_accumulation_steps: an int >= 2: update every this many calls of ``apply``
            with the mean of their gradients. ``iterations`` then counts updates, while
            learning-rate schedules see the calls (Keras's rule).
        name: a name for ``repr`` and configs.

    Attributes:
        iterations: number of steps applied so far (updates, under gradient accumulation).

    Example:
        >>> import torch
        >>> from plait.optimizers import SGD
        >>> w = torch.nn.Parameter(torch.zeros(2))
        >>> opt = SGD(1.0, use_ema=True, ema_momentum=0.5, gradient_accumulation_steps=2)
        >>> for g in ([1.0, 1.0], [3.0, 3.0]):  # one update with the mean gradient, 2
        ...     opt.apply([torch.tensor(g)], [w])
        >>> w.tolist(), opt.iterations
        ([-2.0, -2.0], 1)
        >>> opt.finalize_variable_values([w]); w.tolist()  # the average, started at the weights
        [-2.0, -2.0]
    """

    _slots = ()
    # Raw count of ``apply`` calls (Keras's ``_iterations``); read through ``iterations``.
    _iterations = 0
    use_ema = False
    gradient_accumulation_steps = None
    loss_scale_factor = None
    # True for mixed_float16's LossScaleOptimizer only: it checks the scaled gradients itself
    # and skips a step that overflows (the training loop then checks no gradients of its own).
    dynamic_loss_scaling = False

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name=None,
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        **kwargs,
    ):
        if kwargs:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword argument(s) {sorted(kwargs)}")
        if sum(v is not None for v in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set.")
        self._check_extras(use_ema, ema_momentum, ema_overwrite_frequency, gradient_accumulation_steps)
        self.use_ema, self.ema_momentum = bool(use_ema), ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.gradient_accumulation_steps = gradient_accumulation_steps or None
        self.loss_scale_factor = loss_scale_factor
        if not callable(learning_rate) and (not isinstance(learning_rate, (int, float)) or learning_rate < 0):
            raise ValueError(
                "Argument `learning_rate` must be a non-negative float or a schedule. "
                f"Received: learning_rate={learning_rate!r}"
            )
        self._learning_rate = learning_rate
        self.weight_decay, self.clipnorm, self.clipvalue = weight_decay, clipnorm, clipvalue
        self.global_clipnorm = global_clipnorm
        self.name = name or type(self).__name__.lower()
        self._iterations = 0
        self._params = None
        self._state = {}
        # ``fit`` sets this around a user's own ``train_step`` when it checks for non-finite
        # steps: ``apply`` then skips gradients that are not finite (see :meth:`apply`).
        self.skip_nonfinite = False
        self.skipped = None  # the names of the variables whose gradients were not finite, last skip

    @staticmethod
    def _check_extras(use_ema, ema_momentum, ema_overwrite_frequency, steps):
        """Keras's checks of its EMA and accumulation arguments (the same messages)."""
        if steps and (not isinstance(steps, int) or isinstance(steps, bool) or steps < 2):
            raise ValueError(
                f"`gradient_accumulation_steps` must be an integer >= 2. Received: gradient_accumulation_steps={steps}"
            )
        if not use_ema:
            return
        if not isinstance(ema_momentum, (int, float)) or not 0 <= ema_momentum <= 1:
            raise ValueError(f"`ema_momentum` must be in the range [0, 1]. Received: ema_momentum={ema_momentum}")
        if ema_overwrite_frequency and (not isinstance(ema_overwrite_frequency, int) or ema_overwrite_frequency < 1):
            raise ValueError(
                "`ema_overwrite_frequency` must be an integer >= 1 or None. "
                f"Received: ema_overwrite_frequency={ema_overwrite_frequency}"
            )

    @property
    def iterations(self):
        """Steps applied so far; under gradient accumulation, updates (calls // steps)."""
        if self.gradient_accumulation_steps:
            return self._iterations // self.gradient_accumulation_steps
        return self._iterations

    @iterations.setter
    def iterations(self, value):
        # The raw count of calls, as Keras's ``iteration`` variable holds (and files store).
        self._iterations = int(value)

    @property
    def apply_calls(self):
        """Calls of ``apply`` so far: ``iterations``, or under gradient accumulation the calls
        that only accumulated too (Keras's ``iteration`` variable, which files store)."""
        return self._iterations

    @property
    def moving_averages(self):
        """With ``use_ema``, the weights' moving averages (one tensor per built weight, updated
        in place); None otherwise or before the optimizer is built."""
        return self._state.get("average") if self.use_ema else None

    @property
    def extra_slots(self):
        """Keras's base-optimizer variables per parameter, in its order: the EMA, then the
        gradient accumulators (before the rule's own slots)."""
        return (("average",) if self.use_ema else ()) + (
            ("gradient_accumulator",) if self.gradient_accumulation_steps else ()
        )

    def scale_loss(self, loss):
        """The loss to differentiate: ``loss * loss_scale_factor``, or ``loss`` without one
        (Keras's ``scale_loss``; ``apply`` divides the gradients back).

        Example:
            >>> import torch
            >>> from plait.optimizers import SGD
            >>> SGD(loss_scale_factor=8.0).scale_loss(torch.tensor(0.5)), SGD().scale_loss(torch.tensor(0.5))
            (tensor(4.), tensor(0.5000))
        """
        return loss if self.loss_scale_factor is None else loss * self.loss_scale_factor

    # Keras exposes the current rate; assigning a float replaces a schedule. A schedule sees
    # the raw count of calls (Keras's rule, also under gradient accumulation).
    @property
    def learning_rate(self):
        lr = self._learning_rate
        return float(lr(self._iterations)) if callable(lr) else float(lr)

    @learning_rate.setter
    def learning_rate(self, value):
        self._learning_rate = value

    @property
    def learning_rate_schedule(self):
        """The schedule the learning rate follows (a ``LearningRateSchedule`` or any ``step -> lr``
        callable), or None when the rate is a number.

        Example:
            >>> from plait.optimizers import SGD, schedules
            >>> SGD(0.1).learning_rate_schedule is None
            True
            >>> schedule = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
            >>> SGD(schedule).learning_rate_schedule is schedule
            True
        """
        return self._learning_rate if callable(self._learning_rate) else None

    @property
    def params(self):
        """The parameters the optimizer was built for (None before ``build``)."""
        return self._params

    def build(self, params):
        """Create the state (one tensor per parameter per slot) for ``params``."""
        self._params = list(params)
        self._state = {slot: [self._init_slot(slot, p) for p in self._params] for slot in self._slots}
        for slot in self.extra_slots:  # zeros (Keras's too: the first step sets the average)
            self._state[slot] = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self._params]

    def _init_slot(self, slot, param):
        return torch.zeros_like(param, memory_format=torch.preserve_format)

    def _clip(self, grads):
        if self.clipnorm:
            norms = torch._foreach_norm(grads)
            return [g * (self.clipnorm / torch.clamp(n, min=self.clipnorm)) for g, n in zip(grads, norms)]
        if self.global_clipnorm:
            norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
            scale = self.global_clipnorm * torch.minimum(1.0 / norm, torch.tensor(1.0 / self.global_clipnorm))
            return torch._foreach_mul(grads, scale)
        if self.clipvalue:
            return [g.clamp(-self.clipvalue, self.clipvalue) for g in grads]
        return grads

    @torch.no_grad()
    def apply(self, grads, params=None):
        """Apply ``grads`` to ``params`` — one Keras step (``optimizer.apply(grads, variables)``).

        Args:
            grads: one gradient (or None: skipped) per parameter.
            params: the parameters (default: those of the last ``build``); a different list
                builds the optimizer for it, as Keras builds on the first ``apply``.

        With ``skip_nonfinite`` (set by ``fit`` around a custom ``train_step`` when it checks
        for non-finite steps: always on the CPU, with ``TerminateOnNaN`` on an accelerator),
        gradients with a NaN or inf are not applied: the parameters, the slots and
        ``iterations`` stay as they were, and ``skipped`` names the variables. The check is
        torch's fused non-finite check (``GradScaler``'s): one pass over the gradients, one
        host read.
        """
        grads = list(grads)
        if params is not None:
            params = list(params)
            if len(grads) != len(params):
                raise ValueError(
                    f"Optimizer '{self.name}' got {len(grads)} gradients for {len(params)} variables; "
                    "pass one gradient (or None) per variable."
                )
            if (
                self._params is None
                or len(params) != len(self._params)
                or any(a is not b for a, b in zip(params, self._params))
            ):
                self.build(params)
        elif self._params is None:
            raise ValueError(f"Optimizer '{self.name}' was never built: pass the variables, `apply(grads, variables)`.")
        params = self._params
        pairs = [(i, g) for i, g in enumerate(grads) if g is not None]
        if not pairs:
            self._iterations += 1
            return
        if self.skip_nonfinite and not gradients_finite([g for _, g in pairs]):
            bad = [i for i, g in pairs if not torch.isfinite(g).all()]
            self.skipped = [getattr(params[i], "path", None) or f"variable {i}" for i in bad]
            return
        index = [i for i, _ in pairs]
        grads = [g for _, g in pairs]
        if self.loss_scale_factor is not None:
            grads = torch._foreach_div(grads, self.loss_scale_factor)
        before = self.iterations  # what the EMA reads: the count before this call
        if self.gradient_accumulation_steps:
            self._accumulate_or_apply(index, grads)
        else:
            self._apply_rule([params[i] for i in index], grads, self.slots_for(index), self.next_step_scalars())
        if self.use_ema:
            self._move_average(before)

    def _accumulate_or_apply(self, index, grads):
        """Add ``grads`` to their accumulators, or on every n-th call update with the mean of
        the n gradients and empty the accumulators (Keras's order: clip and decay the mean)."""
        steps = self.gradient_accumulation_steps
        acc = [self._state["gradient_accumulator"][i] for i in index]
        if (self._iterations + 1) % steps:
            torch._foreach_add_(acc, grads)
            self._iterations += 1
            return
        mean = torch._foreach_add(grads, acc)
        torch._foreach_div_(mean, steps)
        params = [self._params[i] for i in index]
        self._apply_rule(params, mean, self.slots_for(index), self.next_step_scalars())
        torch._foreach_zero_(self._state["gradient_accumulator"])

    def _move_average(self, before):
        """``avg = m * avg + (1 - m) * w`` over all built weights (``m = 0`` while ``before``, the
        count before the step, is 0); every ``ema_overwrite_frequency`` iterations the weights
        take their averages."""
        average = self._state["average"]
        momentum = self.ema_momentum if before else 0.0
        torch._foreach_mul_(average, momentum)
        torch._foreach_add_(average, self._params, alpha=1 - momentum)
        frequency = self.ema_overwrite_frequency
        if frequency and (before + 1) % frequency == 0:
            torch._foreach_copy_(self._params, average)

    @torch.no_grad()
    def finalize_variable_values(self, var_list=None):
        """With ``use_ema``, write the moving averages into the weights (``fit`` calls it at its
        end, as Keras's does); otherwise nothing.

        Args:
            var_list: the weights, in the order the optimizer was built with (default: those).
        """
        if not self.use_ema or self._params is None:
            return
        var_list = self._params if var_list is None else list(var_list)
        if len(var_list) != len(self._params):
            raise ValueError(
                f"The length of model variables ({len(var_list)}) to override does not match the length of "
                f"model variables stored in the optimizer ({len(self._params)}). Please check if the optimizer "
                "was called on your model."
            )
        torch._foreach_copy_(var_list, self._state["average"])

    def next_step_scalars(self):
        """The per-step numbers of the next step, as floats; counts the iteration."""
        scalars = self._step_scalars(self.learning_rate, self.iterations + 1)
        self._iterations += 1
        return scalars

    def slots_for(self, indices):
        """The state tensors of the built parameters at ``indices``: ``{slot: [tensor, ...]}``."""
        return {slot: [self._state[slot][i] for i in indices] for slot in (*self._slots, *self.extra_slots)}

    def apply_rule(self, params, grads, state, scalars):
        """Clip, decay and update ``params`` in place with ``state`` (from :meth:`slots_for`) and
        the step's ``scalars`` (from :meth:`next_step_scalars`; 0-dim tensors in a compiled step).
        No counting: what the compiled whole step calls inside its graph."""
        self._apply_rule(params, grads, state, scalars)

    def _apply_rule(self, params, grads, state, scalars):
        """Clip, decay and update ``params`` in place (no counting; ``scalars`` may be tensors)."""
        grads = self._clip(grads)
        if self.weight_decay:
            torch._foreach_mul_(params, 1 - self.weight_decay * scalars["lr"])
        self._update(params, grads, state, scalars)

    def _step_scalars(self, lr, t):
        """Per-step numbers of the rule at step ``t`` (1-based) with learning rate ``lr``."""
        return {"lr": lr}

    def apply_gradients(self, grads_and_vars):
        """Keras's ``apply_gradients(zip(grads, vars))``."""
        grads, params = zip(*grads_and_vars)
        if self._params is None or [id(p) for p in self._params] != [id(p) for p in params]:
            self.build(params)
        self.apply(list(grads))

    def step(self):
        """torch-style: apply each built parameter's ``.grad``."""
        self.apply([p.grad for p in self._params])

    def _update(self, params, grads, state, scalars):
        raise NotImplementedError

    # ---- state, for checkpoints
    def state_dict(self):
        return {
            "iterations": self._iterations,
            **{f"{slot}.{i}": t for slot, ts in self._state.items() for i, t in enumerate(ts)},
        }

    def load_state_dict(self, state):
        self._iterations = int(state["iterations"])
        if not any(key.startswith(f"{slot}.") for key in state for slot in self._state):
            return  # saved before its first step: the state is still all initial values
        with torch.no_grad():
            for slot, ts in self._state.items():
                for i, t in enumerate(ts):
                    t.copy_(state[f"{slot}.{i}"])

    def get_config(self):
        lr = self._learning_rate
        config = {
            "name": self.name,
            "learning_rate": schedules.serialize(lr) if isinstance(lr, schedules.LearningRateSchedule) else lr,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "clipvalue": self.clipvalue,
            "global_clipnorm": self.global_clipnorm,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """The optimizer a config describes: plait's ``get_config`` or Keras's; a schedule given
        as a config dict is rebuilt.

        Example:
            >>> from plait.optimizers import SGD
            >>> SGD.from_config({"learning_rate": 0.1, "momentum": 0.9, "use_ema": True})
            SGD(learning_rate=0.1, use_ema=True, momentum=0.9, nesterov=False)
        """
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"], custom_objects)
        return cls(**config)

    def __repr__(self):
        extra = {
            k: v
            for k, v in self.get_config().items()
            if v is not None and k != "name" and (k not in EXTRA_DEFAULTS or v != EXTRA_DEFAULTS[k])
        }
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in extra.items())})"
