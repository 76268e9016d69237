"""Where a running ``fit`` stands, as one public object: ``model.fit_state``.

Callbacks read it (``BackupAndRestore`` saves the epoch's random state and position from it,
and asks it to resume a fit); ``fit`` keeps in it all that lasts one fit: the data iterator,
the epoch and step, a pending resume point and the non-finite policy. Nothing of a fit lives
in attributes of the model that other modules set.
"""


class FitState:
    """One fit's progress and per-fit objects.

    Args:
        iterator: the fit's :class:`~plait.training.epoch_iterator.EpochIterator` (its
            ``epoch_rng_state``, ``epoch_offset`` and ``carried_batches`` say how the current
            epoch drew its shuffled order and where in the data it started).
        epochs: the ``epochs`` argument of ``fit``.
        initial_epoch: the first epoch it runs.
        nonfinite: the fit's :class:`~plait.training.nonfinite.NonFinitePolicy`.

    Attributes:
        epoch: the epoch running (``initial_epoch`` before the first).
        step: the batches completed in this epoch.
        resume_point: what :meth:`resume_from` received, until ``fit`` uses it.

    Example:
        >>> import numpy as np, plait
        >>> class Where(plait.callbacks.Callback):
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         state = self.model.fit_state
        ...         print(state.epoch, state.step, state.epochs)
        >>> model = plait.Sequential([plait.Input((3,)), plait.layers.Dense(1)])
        >>> model.compile("sgd", "mse")
        >>> _ = model.fit(np.ones((8, 3)), np.ones((8, 1)), batch_size=4, epochs=2, verbose=0,
        ...               callbacks=[Where()])
        0 2 2
        1 2 2
    """

    def __init__(self, iterator, epochs, initial_epoch, nonfinite):
        self.iterator, self.epochs, self.nonfinite = iterator, epochs, nonfinite
        self.initial_epoch = self.epoch = initial_epoch
        self.step = 0
        self.resume_point = None

    def resume_from(self, point):
        """Continue this fit from a saved point (called in ``on_train_begin``). ``point`` has
        ``epoch`` and ``step`` (where to continue), ``apply(model, iterator)`` (put back the
        History and the random state before the epoch) and ``restore_epoch_state(model)``
        (put back the metrics' running totals once the batches already done are skipped)."""
        self.resume_point = point

    def take_resume_point(self):
        """The pending resume point (None if none), handed over once."""
        point, self.resume_point = self.resume_point, None
        return point
