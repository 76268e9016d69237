"""How ``fit``/``evaluate``/``predict`` follow a ``plait.distribution`` distribution.

The rule for every data source is the same: each process is given the same data (the global
dataset), and keeps its own contiguous part of every global batch
(:func:`~plait.distribution.collectives.shard_bounds`). So ``batch_size`` is the global
batch, as in Keras, and ``shuffle=False`` visits the samples in the order one process would.

- Arrays (and dicts or lists of them): sliced; a shuffle's permutation is process 0's.
- A map-style ``Dataset``: read through :class:`ShardedBatchSampler`, so each process loads
  only its own samples.
- A ``DataLoader``, an ``IterableDataset`` or a generator: every process iterates it and keeps
  its part of each batch it yields. They must yield the same batches on every process (same
  data, same seed); give ``auto_shard_dataset=False`` to the distribution for sources that
  are already split per process (their batches are then per process).
"""

import math

import torch
import torch.distributed as dist

from plait.distribution import collectives, distribution_lib
from plait.utils import nest


class ShardedBatchSampler(torch.utils.data.Sampler):
    """Batches of dataset indices, the global batches cut to this process's part (like
    ``DistributedSampler``, but keeping the order and batches of one process).

    Args:
        n: the dataset's length. batch_size: the global batch size.
        shuffle: a new permutation every epoch, the same on every process.
        shards, shard_id: the number of parts and this process's.
    """

    def __init__(self, n, batch_size, shuffle, shards, shard_id):
        self.n, self.batch_size, self.shuffle = n, batch_size, shuffle
        self.shards, self.shard_id = shards, shard_id

    def __len__(self):
        return math.ceil(self.n / self.batch_size)

    def __iter__(self):
        order = collectives.same_on_all(torch.randperm(self.n)) if self.shuffle else torch.arange(self.n)
        for start in range(0, self.n, self.batch_size):
            batch = order[start : start + self.batch_size]
            lo, hi = collectives.shard_bounds(len(batch), self.shards, self.shard_id)
            yield batch[lo:hi].tolist()


def check_global_batch(batch_size, shards, num_samples=None):
    """The global batch must split evenly over the processes, and the last batch must give every
    process at least one sample."""
    if shards == 1 or batch_size is None:
        return
    if batch_size % shards:
        raise ValueError(
            f"batch_size={batch_size} is the global batch size under a distribution; it must be divisible by the "
            f"number of data shards ({shards} processes). Received: batch_size={batch_size}"
        )
    last = num_samples % batch_size if num_samples is not None else 0
    if 0 < last < shards:
        raise ValueError(
            f"The last batch of the {num_samples} samples (batch_size={batch_size}) has {last} sample(s), fewer than "
            f"the {shards} processes that share it. Drop or add samples so that it has at least {shards}."
        )


def shard_batch(batch, shards, shard_id):
    """This process's part of a global :class:`~plait.training.data.Batch` (views)."""
    n = len(batch)
    if n < shards:
        raise ValueError(
            f"A batch of {n} sample(s) cannot be shared by {shards} processes: every process needs at least one."
        )
    lo, hi = collectives.shard_bounds(n, shards, shard_id)
    cut = lambda ts: [None if t is None else nest.map_structure(lambda v: v[lo:hi], t) for t in ts]  # noqa: E731
    return type(batch)(cut(batch.xs), cut(batch.ys), cut(batch.sws), batch.kinds, batch.names)


def check_model(model):
    """A model must be built under the distribution it trains with (as in Keras, which lays
    out each variable when it is created)."""
    current = distribution_lib.distribution()
    built_under = getattr(model, "_built_distribution", None)
    if current is not None and built_under is not current and collectives.active() is not None:
        raise ValueError(
            f"Model '{model.name}' was built before the distribution {current} was set. Set the distribution "
            "first (plait.distribution.set_distribution(...) or `with distribution.scope():`), then build the model."
        )
    tensors = [*model.parameters(), *model.buffers()]  # none yet: a Sequential built by its first batch
    if collectives.data_group() is not None and tensors and getattr(model, "_plait_synced", None) is not current:
        # Replicas start from process 0's weights (Keras lays out each variable from one value).
        with torch.no_grad():
            for tensor in tensors:
                dist.broadcast(tensor.data, 0)
        model._plait_synced = current
    if collectives.fully_sharded() is not None and tensors:  # after the broadcast: shards of process 0's weights
        from plait.distribution import sharding

        sharding.fully_shard_model(model, current)
    if isinstance(current, distribution_lib.ModelParallel) and collectives.active() is not None:
        from plait.distribution import sharding

        sharding.distribute_model(model, current)


def gather_predictions(outputs):
    """``predict``'s per-batch outputs of this process -> every process's, in the data's order."""
    if collectives.data_shards()[0] == 1:
        return outputs
    sizes = [len(nest.flatten(o)[0]) for o in outputs]

    def gather(*leaves):
        return collectives.gather_rows(torch.cat(leaves), sizes)

    first = outputs[0]
    if isinstance(first, dict):
        return [{k: gather(*[o[k] for o in outputs]) for k in first}]
    if isinstance(first, (list, tuple)):
        return [[gather(*[o[i] for o in outputs]) for i in range(len(first))]]
    return [gather(*outputs)]


def world():
    return dist.get_world_size() if dist.is_initialized() else 1
