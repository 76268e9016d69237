"""``PyDataset``: Keras's batch-indexed Python dataset, and the epochs ``fit`` reads from it.

A ``PyDataset`` returns whole batches from ``__getitem__(index)`` and their number from
``__len__``. ``fit``/``evaluate``/``predict`` read one epoch with :func:`epoch_batches`:
``on_epoch_begin()``, the batches in index order (shuffled by ``fit(shuffle=True)``, as Keras
shuffles them), then ``on_epoch_end()``. With ``workers > 1`` the batches are loaded ahead by a
thread pool, or by a process pool with ``use_multiprocessing=True`` (the dataset is then sent
to each worker process once, so it must be picklable, as in Keras); at most
``max_queue_size`` batches wait, and they arrive in order.
"""

import concurrent.futures
import itertools
import random
import warnings


class PyDataset:
    """Base class for a dataset of batches written in Python (Keras's ``keras.utils.PyDataset``).

    ``fit(shuffle=True)`` shuffles the order of its batches each epoch, as Keras does; a subclass
    that stands for what Keras returns as a ``tf.data.Dataset`` (plait's timeseries and folder
    datasets) sets ``keeps_its_order = True``: ``fit`` iterates it as given, as Keras iterates a
    ``tf.data.Dataset``.

    Implement ``__getitem__(index)`` (a whole batch: ``x``, ``(x,)``, ``(x, y)`` or
    ``(x, y, sample_weight)``) and ``__len__`` (the number of batches); optionally
    ``on_epoch_begin``/``on_epoch_end``. Pass the arguments below through
    ``super().__init__(**kwargs)``.

    Args:
        workers: how many batches load at once (default 1: in the training loop's thread).
        use_multiprocessing: load them in worker processes instead of threads (for CPU-bound
            Python code; the dataset must be picklable).
        max_queue_size: the most batches loaded ahead (default 10).

    Example:
        >>> import math, numpy as np
        >>> class Batches(PyDataset):
        ...     def __init__(self, x, y, batch_size, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.x, self.y, self.batch_size = x, y, batch_size
        ...     def __len__(self):
        ...         return math.ceil(len(self.x) / self.batch_size)
        ...     def __getitem__(self, idx):
        ...         low = idx * self.batch_size
        ...         return self.x[low : low + self.batch_size], self.y[low : low + self.batch_size]
        >>> data = Batches(np.zeros((10, 3)), np.zeros((10, 1)), batch_size=4, workers=2)
        >>> print(*[len(x) for x, y in data])
        4 4 2
    """

    keeps_its_order = False  # see the class docstring

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    def _warn_if_super_not_called(self):
        missing = [a for a in ("_workers", "_use_multiprocessing", "_max_queue_size") if not hasattr(self, a)]
        if missing:
            self._workers = getattr(self, "_workers", 1)
            self._use_multiprocessing = getattr(self, "_use_multiprocessing", False)
            self._max_queue_size = getattr(self, "_max_queue_size", 10)
            warnings.warn(
                "Your `PyDataset` class should call `super().__init__(**kwargs)` in its constructor. "
                "`**kwargs` can include `workers`, `use_multiprocessing`, `max_queue_size`. Do not pass "
                "these arguments to `fit()`, as they will be ignored.",
                stacklevel=3,
            )

    @property
    def workers(self):
        self._warn_if_super_not_called()
        return self._workers

    @workers.setter
    def workers(self, value):
        self._workers = value

    @property
    def use_multiprocessing(self):
        self._warn_if_super_not_called()
        return self._use_multiprocessing

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = value

    @property
    def max_queue_size(self):
        self._warn_if_super_not_called()
        return self._max_queue_size

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = value

    def __getitem__(self, index):
        """The batch at position ``index``."""
        raise NotImplementedError(f"{type(self).__name__} must implement `__getitem__(index)`, returning a batch.")

    def __iter__(self):
        # Plain iteration, in order and without workers (Keras's).
        n = self.num_batches
        for index in itertools.count() if n is None else range(n):
            yield self[index]

    @property
    def num_batches(self):
        """The number of batches (``len(self)``), or None for an endless dataset."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(
            "You need to implement the `num_batches` property:\n\n@property\ndef num_batches(self):\n  return ..."
        )

    def on_epoch_begin(self):
        """Called at the start of every epoch."""

    def on_epoch_end(self):
        """Called at the end of every epoch."""


class PyDatasetEpochs:
    """What the training loop iterates for a :class:`PyDataset`: each ``iter()`` is one epoch
    (see :func:`epoch_batches`); ``len()`` is the number of batches."""

    def __init__(self, dataset, shuffle=False):
        self.dataset, self.shuffle = dataset, shuffle

    def __len__(self):
        n = self.dataset.num_batches
        if n is None:
            raise TypeError("An endless PyDataset has no length.")
        return n

    def __iter__(self):
        return epoch_batches(self.dataset, self.shuffle)


def epoch_batches(dataset, shuffle=False):
    """One epoch of ``dataset``'s batches: ``on_epoch_begin()``, the batches (in index order,
    or shuffled), ``on_epoch_end()`` (also when the loop stops early).

    Example:
        >>> class Squares(PyDataset):
        ...     def __len__(self):
        ...         return 3
        ...     def __getitem__(self, i):
        ...         return i * i
        >>> list(epoch_batches(Squares(workers=2)))
        [0, 1, 4]
    """
    n = dataset.num_batches
    indices = itertools.count() if n is None else list(range(n))
    if shuffle and n is not None:
        random.shuffle(indices)  # Keras shuffles the batch order with Python's random
    dataset.on_epoch_begin()
    try:
        workers = dataset.workers
        if workers > 1 or (workers > 0 and dataset.use_multiprocessing):
            yield from _parallel(dataset, indices, workers, dataset.use_multiprocessing, dataset.max_queue_size)
        else:
            for index in indices:
                yield dataset[index]
    finally:
        dataset.on_epoch_end()


def _parallel(dataset, indices, workers, use_multiprocessing, max_queue_size):
    # Keep up to max_queue_size batches in flight; hand them out in order.
    if use_multiprocessing:
        pool = concurrent.futures.ProcessPoolExecutor(workers, initializer=_set_worker_dataset, initargs=(dataset,))
        fetch = _worker_getitem
    else:
        pool = concurrent.futures.ThreadPoolExecutor(workers)
        fetch = dataset.__getitem__
    pending = []
    try:
        indices = iter(indices)
        for index in itertools.islice(indices, max(1, max_queue_size)):
            pending.append(pool.submit(fetch, index))
        while pending:
            batch = pending.pop(0).result()
            for index in itertools.islice(indices, 1):
                pending.append(pool.submit(fetch, index))
            yield batch
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


_WORKER_DATASET = None  # the dataset, in a worker process


def _set_worker_dataset(dataset):
    global _WORKER_DATASET
    import torch  # (only in a worker process)

    torch.set_num_threads(1)  # as torch's DataLoader workers: a worker takes one core, not the trainer's
    _WORKER_DATASET = dataset


def _worker_getitem(index):
    return _WORKER_DATASET[index]
