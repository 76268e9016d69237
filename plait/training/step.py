"""The training step: one loss function, run eagerly or inside the compiled whole step.

:class:`StepFunction` is the single place where a step's math lives:

    batch ``(xs, ys, sample_weights)`` -> forward -> per-output losses -> weighted total
    (+ regularization) -> :class:`StepOutput` ``(total, per_output, y_pred, masks)``

It reads the model's current parameters and buffers, so it is pure in them: the eager step
(:func:`eager_train_step`) calls it and then ``backward()`` and the optimizer; the compiled
whole step (:mod:`plait.training.compiled_step`) swaps the parameters for its inputs and wraps
the same call in ``torch.func.grad_and_value``. How the per-output losses are weighed is the
caller's ``weigh`` argument: the loss balancer (which may take its own step) eagerly, a tensor
of fixed weights in the compiled graph.

When an output layer ends in softmax (or sigmoid) and its loss is categorical (or binary)
cross-entropy on probabilities, the step asks the layer for its logits and uses the
log-softmax form of the loss: the same value away from Keras's 1e-7 clipping, numerically
stable, and cheaper. Metrics then see the activation applied to the logits.
"""

import math
from typing import NamedTuple

import torch

from plait.distribution import collectives, sharding
from plait.training import checks


class StepOutput(NamedTuple):
    """What one step computes. ``per_output`` and ``masks`` are lists in output order (None
    where an output has no loss, no target or no mask; ``masks`` itself may be None)."""

    total: torch.Tensor
    per_output: list
    y_pred: list
    masks: list


class StepFunction:
    """The forward pass and losses of a compiled model's training and test steps.

    Args:
        model: a compiled plait model.
        heads: its :class:`~plait.training.heads.OutputHead` list (resolved).
        fuse_logits: feed softmax/sigmoid outputs' losses with logits (see the module doc).
    """

    def __init__(self, model, heads, fuse_logits=True):
        self.model, self.heads = model, heads
        if fuse_logits:
            for i, head in enumerate(heads):
                activation = model.output_activation(i)
                if activation is not None and head.fuses_with(activation):
                    head.use_logits(activation)
        self.logits_outputs = tuple(i for i, h in enumerate(heads) if h.logits_activation is not None)
        # Under ModelParallel the forward takes DTensor inputs and returns plain outputs.
        self.forward = sharding.wrap_forward(model, model.training_forward(logits_outputs=self.logits_outputs))
        self.loss_indices = [i for i, h in enumerate(heads) if h.loss is not None]
        # Regularizers add to the loss; constraints run after each update (Keras's order).
        entries = model.weight_entries()
        self.regularized = [(layer, spec) for layer, spec in entries if spec.regularizer is not None]
        self.constrained = [(layer, spec) for layer, spec in entries if spec.constraint is not None]
        self.has_buffers = any(True for _ in model.buffers())
        # Layers whose forward may add losses: activity regularizers, and user code (``add_loss``).
        self.activity_layers = [
            m
            for m in model.modules()
            if getattr(m, "activity_regularizer", None) is not None or (hasattr(m, "add_loss") and _user_code(type(m)))
        ]

    def terms(self, xs, ys, sws):
        """Forward pass, per-output losses and the regularization penalty (None if none)."""
        for layer in self.activity_layers:
            layer.activity_losses.clear()
        y_pred, masks = self.forward(xs)
        per_output = self.output_losses(ys, y_pred, sws, masks, logits=True)
        return y_pred, masks, per_output, self.penalty()

    def __call__(self, xs, ys, sws, weigh):
        """One step's :class:`StepOutput`; ``weigh(per_output losses of the heads with a loss)``
        returns their weighted sum."""
        y_pred, masks, per_output, penalty = self.terms(xs, ys, sws)
        return StepOutput(self.combine(per_output, penalty, weigh), per_output, y_pred, masks)

    def combine(self, per_output, penalty, weigh):
        if not self.loss_indices:  # compiled without a loss: the model's add_loss terms alone, as Keras
            if penalty is None:
                raise ValueError(
                    f"Model '{self.model.name}' has no loss to minimize: compile() got no `loss`, and its "
                    "layers added none with add_loss() in this forward pass."
                )
            return penalty
        total = weigh([per_output[i] for i in self.loss_indices])
        return total if penalty is None else total + penalty

    def output_losses(self, ys, y_pred, sws, masks=None, logits=False):
        """Per-output losses (None where an output has no loss or no target). ``logits``: the
        predictions of fused outputs are logits."""
        per_output = []
        for i, head in enumerate(self.heads):
            if head.loss is None or ys[i] is None:
                per_output.append(None)
                continue
            loss_fn = head.train_loss if logits else head.loss
            mask = masks[i] if masks is not None else None
            try:
                per_output.append(loss_fn(ys[i], y_pred[i], None if sws is None else sws[i], mask=mask))
            except (IndexError, RuntimeError) as error:  # a kernel's index check: say which labels
                bad = checks.label_range_error(head, ys[i], y_pred[i].shape[-1])
                if bad is None:
                    raise
                raise bad from error
        if all(v is None for v in per_output) and (self.loss_indices or not self.activity_layers):
            raise ValueError(
                f"No output of model '{self.model.name}' has both a loss and a target; nothing to train on. "
                f"Outputs with a loss: {[self.heads[i].name for i in self.loss_indices]}"
            )
        return per_output

    def penalty(self):
        """Weight regularization, and the activity penalties and ``add_loss`` terms of the last
        forward pass (None if none)."""
        penalties = [s.regularizer(s.keras_view(s.get(layer))) for layer, s in self.regularized]
        for layer in self.activity_layers:
            penalties += [p.float().sum() if p.dim() else p.float() for p in layer.activity_losses]
        return torch.stack(penalties).sum() if penalties else None

    @torch.no_grad()
    def apply_constraints(self):
        for layer, spec in self.constrained:
            spec.constrain_(spec.get(layer))

    def probabilities(self, y_pred):
        """Predictions as the model returns them (the activation applied to fused logits)."""
        return [h.logits_activation(p) if h.logits_activation is not None else p for h, p in zip(self.heads, y_pred)]


class NonFiniteLoss(Exception):
    """Raised by :func:`eager_train_step` (with ``finite_check``) before a non-finite loss
    updates anything; ``out`` is the step's :class:`StepOutput`."""

    def __init__(self, out):
        super().__init__("non-finite loss")
        self.out = out


def eager_train_step(model, step_fn, data, params, terms=None, finite_check=None):
    """One eager training step on ``data = (xs, ys, sws)`` lists: the step function, then
    ``backward()``, the optimizer's update of ``params`` (the optimizer's built list) and the
    constraints. ``terms`` replaces
    ``step_fn.terms`` (the compiled forward of ``jit_compile`` models that cannot compile the
    whole step). Returns the :class:`StepOutput`. Nothing is applied if any part raises; with
    ``finite_check`` (``loss -> bool``: :func:`~plait.training.nonfinite.loss_is_finite`, or
    ``collectives.all_finite`` under DataParallel; a
    :class:`~plait.training.nonfinite.ReducedGradientCheck` decides on the all-reduced gradients
    instead), a non-finite step raises :class:`NonFiniteLoss` before the update, with the
    moving statistics its forward pass changed put back."""
    xs, ys, sws = data
    balancer = model.loss_balancer
    weigh = lambda losses: balancer.combine(losses, True, batch_size_of(xs))  # noqa: E731
    # The forward pass updates moving statistics in place; a skipped step restores them.
    kept = [(b, b.clone()) for b in model.buffers()] if finite_check and step_fn.has_buffers else None
    if terms is None:
        out = step_fn(xs, ys, sws, weigh)
    else:
        y_pred, masks, per_output, penalty = terms(xs, ys, sws)
        out = StepOutput(step_fn.combine(per_output, penalty, weigh), per_output, y_pred, masks)
    if finite_check is not None and not finite_check(out.total):
        _skip(out, kept)
    for p in params:
        p.grad = None
    scale_loss = getattr(model.optimizer, "scale_loss", None)  # loss_scale_factor, or mixed_float16's scaling
    # Under DataParallel each process differentiates its part's mean over N processes; the
    # all-reduce weighs them into the global batch's gradients (see plait.distribution.collectives).
    n_local = batch_size_of(xs)
    total = out.total * collectives.loss_scale(n_local)
    # (float16 loss scaling skips steps with overflowing gradients itself, and lowers its scale.)
    on_gradients = getattr(finite_check, "on_gradients", False) and not getattr(
        model.optimizer, "dynamic_loss_scaling", False
    )
    # Under DataParallel the gradients are summed in buckets while backward runs.
    reducer = collectives.gradient_reducer(params)
    if reducer is not None:
        reducer.arm(poison=on_gradients and not math.isfinite(out.total.item()))
    if total.requires_grad:  # a model without trainable weights (Keras's fit runs it all the same)
        (total if scale_loss is None else scale_loss(total)).backward()
    grads = [p.grad for p in params]
    if reducer is not None:
        grads, finite = reducer.finish()
        finite = finite or not on_gradients
    elif on_gradients:
        if not math.isfinite(out.total.item()):  # the reduced gradients must say so on every process
            first = next((g for g in grads if g is not None), None)
            if first is not None:
                first.fill_(float("nan"))
        grads, finite = collectives.average_gradients(grads, n_local, check_finite=True)
    else:
        grads, finite = collectives.average_gradients(grads, n_local), True
    if not finite:
        _skip(out, kept)
    model.optimizer.apply(grads)
    step_fn.apply_constraints()
    return out


def _skip(out, kept):
    """Skip a non-finite step: the buffers its forward pass changed get their values back."""
    if kept:
        with torch.no_grad():
            torch._foreach_copy_([b for b, _ in kept], [old for _, old in kept])
    raise NonFiniteLoss(out)


def _user_code(cls):
    """Whether a layer class's ``call`` is a user's (not plait's own layers'), so may ``add_loss``."""
    call = getattr(cls, "call", None)
    return call is not None and not getattr(call, "__module__", "plait.").startswith("plait.")


def batch_size_of(xs):
    """The number of samples in a batch (Keras weighs the loss trackers by it)."""
    for x in xs:
        if x is not None:
            return x.shape[0]
    return 1
