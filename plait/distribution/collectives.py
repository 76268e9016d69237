"""What the training loop, the layers and the writers ask of the distribution.

Each helper is a no-op (or the identity) in one process, so callers need no ``if``. With a
:class:`~plait.distribution.DataParallel` distribution over N processes:

- every global batch is cut into N contiguous pieces (:func:`shard_bounds`), one per process;
- the loss each process differentiates is its piece's mean times the piece's share of the
  global batch (:func:`loss_scale`), so every sample's gradient has the size it has in one
  process (what float16 loss scaling's overflow check sees); the gradients, summed over the
  processes, are those of the global batch's mean (:func:`average_gradients`), also for a last
  batch that does not split evenly;
- BatchNormalization's batch moments are the global batch's (:func:`global_moments`), through
  an all-reduce whose backward is an all-reduce, so the gradients through the moments are exact;
- the metrics' states (``total``/``count``, true/false positives, confusion matrices) are
  summed before their result is read (:func:`reduce_metrics`);
- only process 0 writes files and prints (:func:`is_writer`, :func:`writer`).
"""

import contextlib
import math

import torch
import torch.distributed as dist

from plait.distribution import distribution_lib

# The states of plait's metrics that add up across processes.
SUM_STATES = ("total", "count", "tp", "fp", "tn", "fn", "confusion")


def active():
    """The distribution, when it spans more than one process (else None)."""
    d = distribution_lib.distribution()
    return d if d is not None and dist.is_initialized() and dist.get_world_size() > 1 else None


def data_parallel():
    """The active distribution when the processes hold replicas that each read a part of the
    batch and average their gradients (DataParallel); None otherwise."""
    d = active()
    return d if isinstance(d, distribution_lib.DataParallel) else None


def data_group():
    """``(group,)`` of the processes that split each batch and sum their gradients and metrics:
    ``(None,)`` (the default group, all processes) under DataParallel, the mesh's batch-axis
    group under a ModelParallel whose batch axis has size > 1 (the processes that hold the
    same weight shards); None when nothing is split."""
    d = active()
    if isinstance(d, distribution_lib.DataParallel):
        return (None,)
    if isinstance(d, distribution_lib.ModelParallel) and d.num_model_replicas > 1:
        return (d.device_mesh.backend_mesh.get_group(d.batch_dim_name),)
    return None


def fully_sharded():
    """The active distribution when it is a FullyShardedDataParallel (FSDP reduces the
    gradients itself); None otherwise."""
    d = data_parallel()
    return d if isinstance(d, distribution_lib.FullyShardedDataParallel) else None


def data_shards():
    """``(shards, shard_id)``: how many pieces each global batch is cut into and which one this
    process reads; ``(1, 0)`` when nothing is split."""
    d = active()
    if d is None or not d.auto_shard_dataset or d.num_model_replicas == 1:
        return 1, 0
    return d.num_model_replicas, d.data_shard_id


def shard_bounds(n, shards, shard_id):
    """``(start, end)`` of this shard in a batch of ``n`` samples: contiguous pieces whose sizes
    differ by at most one (a global batch of 8 over 2 processes: rows 0-3 and 4-7)."""
    base, extra = divmod(n, shards)
    start = shard_id * base + min(shard_id, extra)
    return start, start + base + (1 if shard_id < extra else 0)


def is_writer():
    """Whether this process writes files and prints (process 0, or the only one)."""
    return not dist.is_initialized() or dist.get_rank() == 0


def barrier():
    if active() is not None:
        dist.barrier()


@contextlib.contextmanager
def writer():
    """``with writer() as write:`` — ``write`` is True on process 0 only; every process then
    waits at a barrier, so no process reads a file before it is complete."""
    try:
        yield is_writer()
    finally:
        barrier()


def check_same(value, what):
    """Raise the same ValueError on every process when ``value`` (an int) differs between
    them: data of different sizes would leave some processes waiting for the others."""
    if active() is None:
        return
    mine = torch.tensor([int(value)], dtype=torch.int64)
    values = [torch.zeros_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(values, mine)
    values = [int(v) for v in values]
    if len(set(values)) > 1:
        raise ValueError(
            f"{what} differs between the processes: {values} (process i has values[i]). Under a distribution every "
            "process must pass the same data (each reads its own part of every global batch)."
        )


# ---------------------------------------------------------------------- gradients and moments
class _AllSum(torch.autograd.Function):
    """Sum over the processes of ``group`` (None: all); its backward sums the gradients the same
    way. Written with ``setup_context`` and the functional collective so it also runs under
    ``torch.func.grad`` inside a compiled whole step."""

    @staticmethod
    def forward(x, group):
        import torch.distributed._functional_collectives as funcol

        with torch.no_grad():  # the functional op's own autograd does not support torch.func
            return funcol.all_reduce(x, "sum", dist.group.WORLD if group is None else group)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.group = inputs[1]

    @staticmethod
    def backward(ctx, grad):
        return _AllSum.apply(grad, ctx.group), None


def all_sum(x):
    """``x`` summed over the processes that split the batch (:func:`data_group`; differentiable;
    the identity in one process). A DTensor (ModelParallel) sums its local values."""
    group = data_group()
    if group is None:
        return x
    if hasattr(x, "to_local"):
        from torch.distributed.tensor import DTensor

        summed = _AllSum.apply(x.to_local(), group[0])
        return DTensor.from_local(summed, x.device_mesh, x.placements, run_check=False)
    return _AllSum.apply(x, group[0])


def global_moments(inputs, dims):
    """``(var, mean)`` (biased variance) over ``dims`` of the global batch that ``inputs`` is
    this process's part of, as ``torch.var_mean(..., correction=0)`` of the whole batch."""
    count = all_sum(torch.tensor(float(inputs.numel() // _channels(inputs, dims)), device=inputs.device))
    mean = all_sum(inputs.sum(dim=dims)) / count
    shape = [1 if d in dims else -1 for d in range(inputs.dim())]
    var = all_sum(((inputs - mean.reshape(shape)) ** 2).sum(dim=dims)) / count
    return var, mean


def _channels(inputs, dims):
    n = 1
    for d in range(inputs.dim()):
        if d not in dims:
            n *= inputs.shape[d]
    return n


def loss_scale(n_local):
    """The factor on this process's loss before ``backward``: its share of the global batch,
    ``n_local / n_global`` (1 in one process; the global count is one all-reduce of a number,
    traceable in the compiled whole step). Every sample's gradient then has the size it has in
    one process, ``1/n_global`` of its loss's (float16's loss scaling overflows on the same
    steps), and the gradients of all processes just add up (:func:`average_gradients`), also
    through BatchNormalization's cross-process moments and for a last batch that does not split
    evenly. FSDP averages over the N processes instead of adding: N times the share."""
    group = data_group()
    if group is None:
        return 1
    import torch.distributed._functional_collectives as funcol

    mine = torch.full((1,), float(n_local), device=_count_device())
    count = funcol.all_reduce(mine, "sum", dist.group.WORLD if group[0] is None else group[0]).reshape(())
    share = float(n_local) / count
    return share * _shards() if fully_sharded() is not None else share


def _count_device():
    # Read once, outside any traced step (the eager first step comes before the compiled ones).
    if "device" not in _CACHE:
        nccl = dist.get_backend() == "nccl"
        _CACHE["device"] = torch.device("cuda", torch.cuda.current_device()) if nccl else torch.device("cpu")
    return _CACHE["device"]


_CACHE = {}


def _shards():
    return max(data_shards()[0], 1)


def average_gradients(grads, n_local=None, check_finite=False):
    """The global batch's gradients from each process's gradients of its loss times
    :func:`loss_scale`: summed over the processes in one all-reduce (eager, in place with
    ``torch.distributed.all_reduce``); None entries are kept. ``n_local`` is not needed (the
    weighting is in :func:`loss_scale`). With ``check_finite``, returns ``(grads, finite)``:
    whether the reduced gradients are all finite, read from the sum of the reduced buffer (a NaN
    or inf anywhere makes it non-finite; one pass, a few microseconds), the same answer on every
    process without a collective of its own."""
    group = data_group()
    if group is None or fully_sharded() is not None:  # FSDP reduced them in backward
        if check_finite:
            present = [_local(g) for g in grads if g is not None]
            return grads, not present or math.isfinite(sum(g.sum() for g in present).item())
        return grads
    # Under ModelParallel the gradients are DTensors: each process sums its own shards with the
    # processes holding the same shards (the batch-axis group).
    present = [_local(g) for g in grads if g is not None]
    flat = torch.cat([g.reshape(-1) for g in present])
    dist.all_reduce(flat, group=group[0])
    out, offset = [], 0
    for g in grads:
        if g is None:
            out.append(None)
            continue
        piece = flat[offset : offset + g.numel() // _replication(g)]
        out.append(_like(piece, g))
        offset += piece.numel()
    return (out, math.isfinite(flat.sum().item())) if check_finite else out


def gradient_reducer(params):
    """The :class:`~plait.distribution.reducer.GradientReducer` that sums ``params``' gradients
    over DataParallel's processes while backward runs, or None where gradients are reduced
    otherwise (no DataParallel, FSDP, ModelParallel's sharded weights)."""
    global _reducer
    if data_group() != (None,) or fully_sharded() is not None or not dist.is_initialized():
        return None
    if any(hasattr(p, "to_local") for p in params):
        return None
    if (
        _reducer is None
        or len(_reducer.params) != len(params)
        or any(a is not b for a, b in zip(_reducer.params, params))
    ):
        from plait.distribution.reducer import GradientReducer

        if _reducer is not None:
            _reducer.remove()
        _reducer = GradientReducer(params)
    return _reducer


_reducer = None  # the reducer of the last parameters trained under DataParallel


def _local(g):
    return g.to_local() if hasattr(g, "to_local") else g


def _replication(g):
    """How many times larger a DTensor's global size is than its local shard (1 for a tensor)."""
    return g.numel() // g.to_local().numel() if hasattr(g, "to_local") else 1


def _like(piece, g):
    if not hasattr(g, "to_local"):
        return piece.view_as(g)
    from torch.distributed.tensor import DTensor

    local = g.to_local()
    return DTensor.from_local(piece.view_as(local), g.device_mesh, g.placements, run_check=False)


def global_mean(values, n_local):
    """The mean of ``values`` (a 1-D tensor of per-sample means, e.g. per-output losses) over the
    global batch: each process's values weighted by its number of samples ``n_local``, in one
    all-reduce; ``values`` itself in one process. Every process gets the same numbers."""
    group = data_group()
    if group is None:
        return values
    flat = torch.cat([values.reshape(-1) * float(n_local), values.new_full((1,), float(n_local))])
    dist.all_reduce(flat, group=group[0])
    return (flat[:-1] / flat[-1]).view_as(values)


def average_gradients_traced(grads, n_local=None, bucket_mb=25.0):
    """:func:`average_gradients` with the functional all-reduce, for the compiled whole step:
    one all-reduce per bucket of about ``bucket_mb`` megabytes, in the order backward makes
    the gradients (the last layers' first), so that the compiler can start each while the
    backward of the earlier layers still runs (``overlap_options``)."""
    if data_parallel() is None:
        return grads
    import torch.distributed._functional_collectives as funcol

    from plait.distribution.reducer import buckets

    out = list(grads)
    for members in buckets([g.numel() * g.element_size() for g in grads], bucket_mb):
        parts = [grads[i] for i in members]
        flat = funcol.all_reduce(torch.cat([g.reshape(-1) for g in parts]), "sum", dist.group.WORLD)
        for i, piece in zip(members, torch.split(flat, [g.numel() for g in parts])):
            out[i] = piece.view_as(grads[i])
    return out


def overlap_options():
    """Inductor's options for a compiled step with collectives: the all-reduces issued as early
    as their inputs allow and waited on as late as their outputs allow, so communication
    overlaps the backward pass (None without DataParallel)."""
    if data_parallel() is None:
        return None
    return {
        "reorder_for_compute_comm_overlap": True,
        "reorder_for_compute_comm_overlap_passes": ["sink_waits", "raise_comms"],
    }


# ---------------------------------------------------------------------- metrics and outputs
def metric_states(metrics):
    """The summable state tensors of ``metrics`` (nested ``metrics`` lists included)."""
    states = []
    for m in metrics:
        inner = getattr(m, "metrics", None)
        if isinstance(inner, (list, tuple)):
            states += metric_states(inner)
        names = getattr(m, "distributed_states", SUM_STATES)
        states += [getattr(m, n) for n in names if isinstance(getattr(m, n, None), torch.Tensor)]
    return states


def reduce_metrics(metrics):
    """Sum the metrics' states over the processes, in place: every process then reads the
    global result. Call at the same point on every process (the end of an epoch or of an
    evaluation), once per accumulation."""
    group = data_group()
    if group is None:
        return
    for state in metric_states(metrics):
        if state.is_floating_point():
            dist.all_reduce(state, group=group[0])
        else:
            as_float = state.double()
            dist.all_reduce(as_float, group=group[0])
            state.copy_(as_float.round().to(state.dtype))


def gather_rows(local, sizes):
    """Outputs of all processes in the global order: ``local`` is this process's outputs of
    every batch concatenated, ``sizes`` its rows per batch; batch ``j`` of the result is
    process 0's rows of batch ``j``, then process 1's, ... (the order of the data). Gathered
    over :func:`data_group` (under a data x model mesh, the processes of one model replica's
    shard index hold the data shards in order)."""
    group = (data_group() or (None,))[0]
    world = dist.get_world_size(group)
    mine = torch.tensor(sizes, dtype=torch.int64)
    all_sizes = [torch.zeros_like(mine) for _ in range(world)]
    dist.all_gather(all_sizes, mine, group=group)
    longest = max(int(s.sum()) for s in all_sizes)
    padded = torch.zeros((longest, *local.shape[1:]), dtype=local.dtype, device=local.device)
    padded[: len(local)] = local
    pieces = [torch.zeros_like(padded) for _ in range(world)]
    dist.all_gather(pieces, padded.contiguous(), group=group)
    starts = [torch.cat([torch.zeros(1, dtype=torch.int64), s.cumsum(0)]) for s in all_sizes]
    rows = []
    for j in range(len(sizes)):
        for r in range(world):
            rows.append(pieces[r][int(starts[r][j]) : int(starts[r][j + 1])])
    return torch.cat(rows)


def same_on_all(tensor):
    """``tensor`` as process 0 has it (a shuffle's permutation), on every process."""
    if active() is not None:
        dist.broadcast(tensor, 0)
    return tensor


def all_finite(value):
    """Whether ``value`` is finite on every process (one read on the host): a step skipped for a
    non-finite loss is skipped by all processes together."""
    ok = torch.isfinite(value).all()
    if data_parallel() is None:
        return bool(ok.item())
    flag = ok.to(torch.float32).reshape(1)
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())
