"""How ``fit`` runs the training steps of one execution: one interface for every kind of step.

An execution is ``steps_per_execution`` batches. A runner takes them and returns one
:class:`~plait.training.nonfinite.StepReport` per batch (was the step applied, and if not,
why), plus the logs of a user's step:

- :class:`BuiltinSteps`: plait's own step for a model that overrides none of Keras's step
  methods, run eagerly, eagerly with a compiled forward and loss, or as one compiled call for
  the whole execution, as the model's :class:`~plait.training.compiled_step.JitPolicy` decides.
- :class:`CustomSteps`: the user's ``train_step`` (or Keras's own step, for a model that
  overrides ``compute_loss`` or ``compute_metrics``), once per batch.

``fit`` hands the reports to the :class:`~plait.training.nonfinite.NonFinitePolicy`, the one
place that says what a skipped step means.
"""

import torch

from plait.training import checks, compiled_step
from plait.training.nonfinite import APPLIED, StepReport, loss_phrase, unnamed_outputs
from plait.training.step import NonFiniteLoss, eager_train_step


class BuiltinSteps:
    """plait's built-in training step for ``model`` (the same numbers as Keras's step).

    Args:
        model: a compiled plait model, prepared on a first batch.
        step_fn: its :class:`~plait.training.step.StepFunction`.
        output_heads: its :class:`~plait.training.heads.OutputHead` list.
        jit: its :class:`~plait.training.compiled_step.JitPolicy`.
    """

    def __init__(self, model, step_fn, output_heads, jit):
        self.model, self.step_fn, self.heads, self.jit = model, step_fn, output_heads, jit
        self._compiled_terms = None

    def run(self, batches, policy):
        """Train on ``batches`` (``(xs, ys, sws)`` lists): one compiled call for all when the
        whole step is compiled, else one step each. Returns their :class:`StepReport` list."""
        whole = self.jit.whole_step(self.model, self.step_fn, len(batches), batches)
        if whole is not None and whole.accepts(batches):
            return self._compiled(whole, batches, policy)  # it also updates the metrics
        reports = []
        for data in batches:
            if whole is not None and len(batches) > 1 and whole.accepts([data]):
                reports += self._compiled(whole, [data], policy)
            else:
                reports.append(self._eager(data, policy.check))
        return reports

    def _terms(self):
        """The compiled forward pass and losses, for a ``jit_compile`` model whose whole step
        cannot compile (None: the eager ones)."""
        if not self.jit.compile_loss:
            return None
        if self._compiled_terms is None:
            self._compiled_terms = torch.compile(compiled_step.own_code(self.step_fn.terms))
        return self._compiled_terms

    def _eager(self, data, check):
        model = self.model
        try:
            out = eager_train_step(model, self.step_fn, data, model.optimizer.params, self._terms(), check)
            report = APPLIED
        except NonFiniteLoss as bad:  # nothing was applied
            out = bad.out
            names = [
                h.name for h, v in zip(self.heads, out.per_output) if v is not None and not torch.isfinite(v).all()
            ]
            report = StepReport(False, loss_phrase(names or unnamed_outputs()))
        model.update_step_metrics(out, *data)
        return report

    def _compiled(self, whole, batches, policy):
        """The compiled step never applies a step whose loss is not finite; with the policy's
        check on, read its flags (one host read) and count the skipped steps out of the
        optimizer's iterations, as the eager step does not count them."""
        try:
            flags = whole(batches)
        except (IndexError, RuntimeError) as error:  # a kernel's index check: say which labels
            self._raise_label_error(batches, error)
            raise
        if policy.check is None:
            return [APPLIED] * len(batches)
        return self.read_flags(flags, batches)

    def read_flags(self, flags, batches):
        """The compiled call's per-step flags as reports (one host read)."""
        reports = []
        for (ok, *outputs), (_, ys, _) in zip(flags.tolist(), batches):
            if ok:
                reports.append(APPLIED)
                continue
            self.model.optimizer.iterations -= 1  # counted before the call; it was not applied
            with_loss = [h.name for h, y in zip(self.heads, ys) if h.loss is not None and y is not None]
            names = [name for name, good in zip(with_loss, outputs) if not good]
            reports.append(StepReport(False, loss_phrase(names or unnamed_outputs())))
        return reports

    def _raise_label_error(self, batches, error):
        shapes = self.model.output_shapes or []
        for _, ys, _ in batches:
            for head, y, shape in zip(self.heads, ys, shapes):
                bad = None if y is None else checks.label_range_error(head, y, shape[-1])
                if bad is not None:
                    raise bad from error


class CustomSteps:
    """A model's own ``train_step(data)``, once per batch, returning its logs.

    Args:
        step: the bound ``train_step``.
        optimizer: the model's optimizer (a step that applies its own update has it skip
            gradients that are not finite, when the fit checks).
        prepare: called with a batch before a step while the model is not yet prepared
            (returns nothing; ``None`` when nothing needs preparing).
    """

    def __init__(self, step, optimizer, prepare=None):
        self.step, self.optimizer, self.prepare = step, optimizer, prepare

    def run(self, batches, policy):
        """Run the step on each :class:`~plait.training.data.Batch`; returns ``(reports, logs)``
        with the last step's logs. A step skipped by plait's own step inside it (Keras's step,
        or ``super().train_step``) reports through ``policy.note``."""
        reports, logs = [], None
        for batch in batches:
            if self.prepare is not None:
                self.prepare(batch)
            with policy.guard(self.optimizer) as report:
                logs = self.step(batch.data())
            reports.append(policy.take_note() or report())
        return reports, logs
