"""What ``fit`` does with a step whose loss or gradients are not finite: one policy for every
way a step runs.

``fit`` never applies such a step: the weights, the optimizer's slots and the moving statistics
stay those of the last finite step. How each step finds out differs (the eager step reads its
loss before ``backward``, the compiled step selects the old values in its graph and returns a
flag, a custom ``train_step`` has its optimizer refuse non-finite gradients), but each reports
the same thing, a :class:`StepReport`, and this policy turns the first skipped step of an
execution into one message: a warning, or the reason ``TerminateOnNaN`` prints as it stops.
"""

import contextlib
import math
import warnings
from typing import NamedTuple

from plait import callbacks as callbacks_module
from plait.distribution import collectives


class StepReport(NamedTuple):
    """Whether one training step was applied, and why not (a phrase) when it was not."""

    applied: bool
    reason: str | None = None


APPLIED = StepReport(True)


class ReducedGradientCheck:
    """DataParallel's finite check in the eager step, decided on the all-reduced gradients: they
    are the same on every process, so every process skips the same steps without a collective of
    its own (a process whose loss is not finite makes its gradients NaN before the all-reduce).
    Called on a loss (as the other checks are) it answers True: nothing is read before backward."""

    on_gradients = True

    def __call__(self, loss):
        return True


def loss_is_finite(loss):
    """Whether the scalar ``loss`` is finite, in one process: one host read (a few microseconds
    between a step's kernels). Under DataParallel ``fit`` uses ``collectives.all_finite``
    instead, which decides alike on every process (an all-reduce)."""
    return math.isfinite(loss.item())


class NonFinitePolicy:
    """How a fit checks its steps, and what it says about a skipped one.

    Args:
        check: ``loss -> bool`` run before each update (:func:`loss_is_finite`,
            ``collectives.all_finite``, a :class:`ReducedGradientCheck`), or None: no check.
        terminate: whether ``TerminateOnNaN`` is among the callbacks (it prints the message and
            stops; otherwise the message is a ``RuntimeWarning`` and training goes on).

    Example:
        >>> policy = NonFinitePolicy(loss_is_finite, terminate=True)
        >>> policy.after_execution(4, [APPLIED, StepReport(False, "the loss is not finite")])
        'Batch 5: the loss is not finite; the update was not applied, so the weights are those of the last finite step.'
    """

    def __init__(self, check=None, terminate=False):
        self.check, self.terminate = check, terminate
        self.message = None  # the last execution's, for TerminateOnNaN
        self._note = None

    @classmethod
    def for_fit(cls, model, callbacks):
        """The policy for a fit of ``model`` with ``callbacks``: a host read of the loss per
        step on the CPU, where it costs a few microseconds; on an accelerator only with
        ``TerminateOnNaN`` (there it is a sync per step). Under DataParallel every process
        must decide alike: on the CPU the eager step decides on the all-reduced gradients,
        on accelerators (with ``TerminateOnNaN``) it all-reduces the decision; other
        distributions (FSDP's sharded gradients, model-parallel meshes) do not check, since
        one process skipping would leave the others waiting."""
        terminate = any(isinstance(c, callbacks_module.TerminateOnNaN) for c in callbacks)
        if collectives.data_shards()[0] > 1:
            if collectives.data_parallel() is None or collectives.fully_sharded() is not None:
                return cls(None, terminate)
            if model.device.type == "cpu":
                return cls(ReducedGradientCheck(), terminate)
            return cls(collectives.all_finite if terminate else None, terminate)
        return cls(loss_is_finite if model.device.type == "cpu" or terminate else None, terminate)

    @property
    def on_gradients(self):
        """Whether the check is made on the all-reduced gradients (the built-in eager step's)."""
        return getattr(self.check, "on_gradients", False)

    @contextlib.contextmanager
    def guard(self, optimizer):
        """Around a custom ``train_step``, which applies its own update: the optimizer skips
        gradients that are not finite. Yields a function giving the step's report."""
        on = (
            self.check is not None
            and not self.on_gradients
            and optimizer is not None
            and not getattr(optimizer, "dynamic_loss_scaling", False)  # float16 loss scaling skips them itself
        )
        if on:
            optimizer.skip_nonfinite, optimizer.skipped = True, None

        def report():
            if on and optimizer.skipped:
                return StepReport(
                    False,
                    f"the gradients of variable(s) {optimizer.skipped} passed to the optimizer are not finite "
                    "(NaN or inf)",
                )
            return APPLIED

        try:
            yield report
        finally:
            if on:
                optimizer.skip_nonfinite = False

    def note(self, report):
        """Record the report of a step that plait ran inside a user's ``train_step`` (Keras's
        own step, or ``super().train_step``); the first of a batch counts."""
        if self._note is None and not report.applied:
            self._note = report

    def take_note(self):
        """The report noted since the last call (None if none)."""
        report, self._note = self._note, None
        return report

    def after_execution(self, begin, reports):
        """Say what the first skipped step of an execution starting at batch ``begin`` was
        (None when every step was applied): a ``RuntimeWarning``, unless ``TerminateOnNaN``
        will stop the fit with it. Returns the message (also kept as ``message``)."""
        self.message = None
        for position, report in enumerate(reports):
            if not report.applied:
                self.message = (
                    f"Batch {begin + position}: {report.reason}; the update was not applied, so the weights are "
                    "those of the last finite step."
                )
                if not self.terminate:
                    warnings.warn(self.message, RuntimeWarning, stacklevel=4)
                break
        return self.message


def loss_phrase(names):
    """The reason for a skipped step whose losses of outputs ``names`` were not finite."""
    return f"the loss of output(s) {names} is not finite (NaN or inf)"


def unnamed_outputs():
    """What to blame when every output's loss was finite: the regularization penalty, or
    (under DataParallel) another process's part of the batch."""
    if collectives.data_parallel() is not None:
        return ["regularization penalty, or another process's part of the batch"]
    return ["regularization penalty"]
