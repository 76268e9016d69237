"""One pass over the data: adapters, validation split, class and sample weights, device transfer,
and chunks of ``steps_per_execution`` batches.

Example:
    >>> import numpy as np, plait
    >>> model = plait.Sequential([plait.layers.Dense(1, input_shape=(3,))])
    >>> it = EpochIterator(model, np.zeros((10, 3)), np.zeros((10, 1)), batch_size=4, steps_per_execution=2)
    >>> [(begin, end, len(chunk)) for begin, end, chunk in it]
    [(0, 1, 2), (2, 2, 1)]
"""

import warnings

import torch

from plait.distribution import collectives
from plait.training import checks, distributed
from plait.training import data as data_module
from plait.utils import settings
from plait.utils.py_dataset import PyDataset, PyDatasetEpochs


class EpochIterator:
    """Iterate an epoch as ``(begin_step, end_step, [Batch, ...])`` executions (Keras's
    epoch iterator): each execution holds ``steps_per_execution`` batches, the last one fewer.

    Args:
        model: the plait model (its input and output names structure the data).
        x, y, sample_weight: what ``fit``/``evaluate``/``predict`` were given.
        batch_size: batch size for arrays and map-style datasets (default 32).
        steps_per_epoch: stop after this many batches (None: when the data ends).
        shuffle: shuffle arrays (and map-style datasets) each epoch.
        class_weight: ``{class: weight}``, turned into sample weights of the one output.
        steps_per_execution: batches per execution.
        device: where batches go (default: the model's device).
        distribute: split global batches across processes (False for data already a part).
        source_name: what error messages call the data (``"validation_data"``'s for validation).
    """

    def __init__(
        self,
        model,
        x=None,
        y=None,
        sample_weight=None,
        batch_size=None,
        steps_per_epoch=None,
        shuffle=False,
        class_weight=None,
        steps_per_execution=1,
        device=None,
        distribute=True,
        source_name="The input data",
    ):
        if x is None:
            raise ValueError(
                f"{source_name} is missing: pass the model's inputs as `x` (arrays, a dict of arrays, a "
                "DataLoader, a dataset or a generator). Received: x=None"
            )
        self.model = model
        # Under a distribution each process keeps its part of every global batch (see
        # plait.training.distributed); ``distribute=False`` for data that is already a part.
        self._shards = collectives.data_shards() if distribute else (1, 0)
        self._presharded = self._shards[0] == 1
        if (
            settings.get("max_steps_per_epoch")
            and settings.cap("max_steps_per_epoch", steps_per_epoch) != steps_per_epoch
        ):
            # plait.config.set_max_steps_per_epoch: a debugging cap, warned as in Keras.
            steps_per_epoch = settings.cap("max_steps_per_epoch", steps_per_epoch)
            warnings.warn(f"Limiting steps_per_epoch to {steps_per_epoch}", stacklevel=3)
        self.steps_per_epoch, self.steps_per_execution = steps_per_epoch, steps_per_execution
        self.device = device if device is not None else model.device
        self._class_weight = class_weight
        self._py_dataset = None  # a PyDataset, whose on_epoch_begin/on_epoch_end run per epoch
        self._pass, self._pass_seen = None, 0  # the pass over the data that epochs carry on
        self.epoch_rng_state, self.epoch_offset = None, 0
        self.loader_workers = _loader_workers(x)  # worker processes taking cores from the step's threads
        if data_module.is_iterable_source(x):
            if y is not None:
                raise ValueError("`y` must be None when `x` is a dataset, loader or generator (it yields the targets).")
            if sample_weight is not None:
                raise ValueError(
                    "`sample_weight` must be None when `x` is a dataset, loader or generator "
                    "(it yields (x, y, sample_weight))."
                )
            source = x
            if isinstance(x, PyDataset):  # its batches by index (shuffled as Keras does); its epoch hooks: below
                keep = x.keeps_its_order  # as Keras iterates a tf.data.Dataset
                source, self._py_dataset = PyDatasetEpochs(_WithoutHooks(x), shuffle and not keep), x
            if isinstance(x, torch.utils.data.Dataset) and not isinstance(x, torch.utils.data.IterableDataset):
                source = torch.utils.data.DataLoader(x, batch_size=batch_size or 32, shuffle=shuffle)
                if not self._presharded:  # each process loads only its own samples
                    distributed.check_global_batch(batch_size or 32, self._shards[0], len(x))
                    sampler = distributed.ShardedBatchSampler(len(x), batch_size or 32, shuffle, *self._shards)
                    source, self._presharded = torch.utils.data.DataLoader(x, batch_sampler=sampler), True
            self.batches = data_module.IterableBatches(model, source)
            self.num_samples = None
            if not self._presharded:
                distributed.check_global_batch(getattr(source, "batch_size", None), self._shards[0])
                collectives.check_same(self.num_batches or -1, "The number of batches per epoch")
        else:
            model.ensure_built(x)
            xs = data_module.structure_inputs(model, x)
            ys = data_module.structure_targets(model, y)
            sws = data_module.structure_sample_weights(model, sample_weight)
            self.num_samples = data_module.check_sample_counts(xs, ys, sws, model.input_names, model.output_names)
            checks.check_not_empty(xs, source_name)
            xs = checks.conform_inputs(model, xs)  # once, here: Keras's dtype cast and a clear shape error
            ys = [match_target_rank(model, i, t) for i, t in enumerate(ys)]
            checks.check_targets(model, ys, sws)
            if class_weight is not None:
                checks.check_class_weight(class_weight, model, ys)
                sws = class_weights_to_sample_weights(class_weight, ys, sws)
            kinds = data_module.structure_kinds(model, x, y, sample_weight, weighted=class_weight is not None)
            self.batches = data_module.ArrayBatches(
                xs, ys, sws, batch_size or 32, shuffle, kinds, (model.input_names, model.output_names)
            )
            if not self._presharded:
                collectives.check_same(self.num_samples, "The number of samples")
                distributed.check_global_batch(batch_size or 32, self._shards[0], self.num_samples)

    def set_epoch(self, epoch):
        """Called before each epoch: keeps torch's random state as it is before the epoch's pass
        draws its shuffled order, and how far into that pass the epoch starts (``epoch_offset``:
        0, unless ``steps_per_epoch`` is shorter than the data and the epoch carries on a pass).
        ``BackupAndRestore`` saves both to redraw the same order when it resumes a fit."""
        self.epoch = epoch
        if self._pass is None:  # a new pass draws its order in this epoch
            self.epoch_rng_state, self.epoch_offset = torch.get_rng_state(), 0
        else:  # the pass goes on from the last epoch
            self.epoch_offset = self._pass_seen

    @property
    def carried_batches(self):
        """How many batches of an unfinished pass the next epoch starts after (0 when it starts
        a new pass)."""
        return self._pass_seen if self._pass is not None else 0

    def resume(self, offset):
        """Resume a fit whose epoch started ``offset`` batches into a pass (``steps_per_epoch``
        shorter than the data): redraw the pass from torch's random state now (the state the pass
        was drawn from, restored by ``BackupAndRestore``) and skip those batches."""
        if not offset or self.steps_per_epoch is None:
            return
        self.epoch_rng_state = torch.get_rng_state()
        self._pass, self._pass_seen = iter(self.batches), 0
        while self._pass_seen < offset and next(self._pass, None) is not None:
            self._pass_seen += 1

    @property
    def num_batches(self):
        """Batches per epoch (``steps_per_epoch`` when given, as Keras), or None when unknown (a
        generator without ``steps_per_epoch``)."""
        if self.steps_per_epoch is not None:
            return self.steps_per_epoch
        return self.batches.num_batches

    def reset(self):
        """Start the data again at the next epoch (Keras's ``reset``: every evaluation starts at
        the first batch, also with ``validation_steps``)."""
        self._pass, self._pass_seen = None, 0

    def _epoch_batches(self):
        """This epoch's batches. Without ``steps_per_epoch``: one pass over the data. With it,
        as Keras: each epoch takes ``steps_per_epoch`` batches and the next epoch carries on
        where it stopped; at the end of the data the epoch ends early, with a warning if short,
        and the next epoch starts a new pass (reshuffled). A generator cannot start again: its
        later epochs are empty, with the warning."""
        steps = self.steps_per_epoch
        if steps is None:
            yield from self.batches
            return
        n = self.batches.num_batches
        if self._pass is None:
            self._pass, self._pass_seen = iter(self.batches), 0
        for step in range(steps):
            batch = None if n is not None and self._pass_seen >= n else next(self._pass, None)
            if batch is None:
                self._pass = None
                warnings.warn(
                    f"Your input ran out of data after {step} of steps_per_epoch={steps} batches in this epoch; "
                    "the next epoch starts the data again (a generator that cannot restart yields nothing more). "
                    "Make sure that your dataset or generator can generate at least `steps_per_epoch * epochs` "
                    "batches.",
                    stacklevel=4,
                )
                return
            self._pass_seen += 1
            yield batch
        if n is not None and self._pass_seen >= n:
            self._pass = None  # the data ended with the epoch: the next one starts a new pass

    def __iter__(self):
        dataset = self._py_dataset
        if dataset is not None:
            dataset.on_epoch_begin()
        try:
            yield from self._chunks()
        finally:
            if dataset is not None:
                dataset.on_epoch_end()

    def _chunks(self):
        chunk, begin, step = [], 0, 0
        for batch in self._epoch_batches():
            if self._class_weight is not None and isinstance(self.batches, data_module.IterableBatches):
                batch.sws = class_weights_to_sample_weights(self._class_weight, batch.ys, batch.sws)
            if not self._presharded:
                batch = distributed.shard_batch(batch, *self._shards)
            chunk.append(batch.to(self.device))
            step += 1
            if len(chunk) == self.steps_per_execution:
                yield begin, step - 1, chunk
                chunk, begin = [], step
        if chunk:
            yield begin, step - 1, chunk


def match_target_rank(model, i, y):
    """Keras expands ``(N,)`` targets to ``(N, 1)`` for an output of shape ``(N, 1)``."""
    shapes = model.output_shapes
    if y is None or shapes is None:
        return y
    shape = shapes[i]
    if y.dim() == len(shape) - 1 and shape[-1] == 1:
        return y.unsqueeze(-1)
    return y


def class_weights_to_sample_weights(class_weight, ys, sws):
    """Keras's ``class_weight``: each sample weighs its class's weight (times its sample weight)."""
    if len(ys) != 1:
        raise ValueError("`class_weight` is only supported for models with a single output.")
    y = ys[0]
    if y is None:
        return sws
    labels = y.argmax(-1) if y.dim() > 1 and y.shape[-1] > 1 else y.reshape(len(y), -1)[:, 0].round().long()
    top = int(labels.max()) if labels.numel() else 0
    table = torch.ones(max(max(int(k) for k in class_weight), top) + 1)
    for k, w in class_weight.items():
        table[int(k)] = float(w)
    weights = table[labels.long().cpu()].to(y.device)
    return [weights if sws[0] is None else sws[0] * weights]


def train_validation_split(model, x, y, sample_weight, fraction):
    """Keras's ``validation_split``: the last ``fraction`` of the samples, before shuffling.
    Returns ``(x, y, sample_weight)`` for training and ``validation_data``."""
    if data_module.is_iterable_source(x):
        raise ValueError("`validation_split` is only supported for arrays, not datasets or generators.")
    model.ensure_built(x)  # a Sequential without an input shape learns it from the data
    xs = data_module.structure_inputs(model, x)
    ys = data_module.structure_targets(model, y)
    sws = data_module.structure_sample_weights(model, sample_weight)
    n = data_module.check_sample_counts(xs, ys, sws, model.input_names, model.output_names)
    cut = int(n * (1 - fraction))
    if cut == 0 or cut == n:
        raise ValueError(f"validation_split={fraction} leaves no training or no validation samples of {n}.")

    def part(kind, ts, names, piece):
        # Keep the user's structure (a dict stays a dict), so a custom step sees it unchanged.
        if kind is None or all(t is None for t in ts):
            return None
        return data_module.pack_structure(kind, [None if t is None else t[piece] for t in ts], names)

    head, tail = slice(0, cut), slice(cut, None)
    x_kind, y_kind, sw_kind = data_module.structure_kinds(model, x, y, sample_weight)
    ins, outs = model.input_names, model.output_names
    train = (part(x_kind, xs, ins, head), part(y_kind, ys, outs, head), part(sw_kind, sws, outs, head))
    val_sw = part(sw_kind, sws, outs, tail)
    val = (part(x_kind, xs, ins, tail), part(y_kind, ys, outs, tail)) + (() if val_sw is None else (val_sw,))
    return train, val


def _loader_workers(x):
    """How many worker processes load ``x``'s batches: a ``DataLoader``'s ``num_workers``, a
    ``PyDataset``'s ``workers`` with ``use_multiprocessing`` (threads count too when several:
    they run numpy and torch code outside the GIL)."""
    if isinstance(x, torch.utils.data.DataLoader):
        return x.num_workers
    if isinstance(x, PyDataset):
        return x.workers if x.use_multiprocessing or x.workers > 1 else 0
    return 0


class _WithoutHooks:
    """A PyDataset's batches without its epoch hooks: the :class:`EpochIterator` calls them once
    per epoch, while a pass over the batches may span epochs (``steps_per_epoch``)."""

    def __init__(self, dataset):
        self.dataset = dataset
        self.workers, self.use_multiprocessing = dataset.workers, dataset.use_multiprocessing
        self.max_queue_size = dataset.max_queue_size

    @property
    def num_batches(self):
        return self.dataset.num_batches

    def __getitem__(self, index):
        return self.dataset[index]

    def on_epoch_begin(self):
        pass

    def on_epoch_end(self):
        pass
