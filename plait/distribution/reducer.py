"""DataParallel's gradient all-reduce, overlapped with the backward pass (as torch's DDP does).

Each parameter gets a post-accumulate-grad hook. The parameters are grouped into buckets of
about ``bucket_mb`` megabytes in reverse order (backward produces the last layers' gradients
first); when every gradient of a bucket is ready, its gradients are flattened into one buffer
and an asynchronous ``all_reduce`` starts, while backward goes on with the earlier layers.
Buckets start in a fixed order on every process (a bucket whose gradients are ready waits for
the ones before it), as collectives must be issued in the same order everywhere.
:meth:`GradientReducer.finish` waits for them, starts any bucket a parameter without a gradient
held back, and returns the summed gradients: the same numbers as one all-reduce of all the
gradients (each element is the same sum over the processes).
"""

import math

import torch
import torch.distributed as dist


def buckets(sizes, bucket_mb=25.0):
    """Group tensors of ``sizes`` bytes (in the optimizer's order) into buckets of about
    ``bucket_mb`` megabytes, in reverse order: backward makes the last layers' gradients first.
    Returns lists of indices, the first bucket's first.

    Example:
        >>> buckets([4, 4, 4], bucket_mb=8 / 2**20)
        [[2, 1], [0]]
    """
    limit = bucket_mb * 2**20
    out, current, size = [], [], 0
    for i in reversed(range(len(sizes))):
        current.append(i)
        size += sizes[i]
        if size >= limit:
            out.append(current)
            current, size = [], 0
    if current:
        out.append(current)
    return out


class GradientReducer:
    """Sums the gradients of ``params`` over the processes of ``group`` while backward runs.

    Args:
        params: the parameters, in the optimizer's order.
        group: the process group (None: all processes).
        bucket_mb: the size of a bucket in megabytes (torch's DDP uses 25).

    Usage, around one backward pass: ``reducer.arm()``, ``loss.backward()``, then
    ``grads, finite = reducer.finish()``.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.ones(3))
        >>> reducer = GradientReducer([w], group=None)  # without a process group: plain gradients
        >>> reducer.arm(); (w * 2).sum().backward()
        >>> grads, finite = reducer.finish(); grads[0].tolist(), finite
        ([2.0, 2.0, 2.0], True)
    """

    def __init__(self, params, group=None, bucket_mb=25.0):
        self.params, self.group = list(params), group
        self.buckets = buckets([p.numel() * p.element_size() for p in self.params], bucket_mb)
        self._bucket_of = {i: b for b, members in enumerate(self.buckets) for i in members}
        self._armed = self._poison = False
        self._ready, self._started, self._next = [], {}, 0
        self._hooks = [p.register_post_accumulate_grad_hook(self._hook(i)) for i, p in enumerate(self.params)]

    def arm(self, poison=False):
        """The next backward pass starts the buckets as their gradients become ready.
        ``poison``: this process's loss was not finite: its first bucket carries a NaN, so that
        every process finds the summed gradients not finite and skips the step alike."""
        self._armed, self._poison = True, poison
        self._ready, self._started, self._next = [0] * len(self.buckets), {}, 0

    @property
    def buckets_started(self):
        """How many buckets' all-reduces have started in this backward pass."""
        return len(self._started)

    def _hook(self, index):
        def ready(param):
            if not self._armed:
                return
            bucket = self._bucket_of[index]
            self._ready[bucket] += 1
            while self._next < len(self.buckets) and self._ready[self._next] == len(self.buckets[self._next]):
                self._start(self._next)
                self._next += 1

        return ready

    def _start(self, bucket):
        grads = [self.params[i].grad for i in self.buckets[bucket]]
        present = [g for g in grads if g is not None]
        if not present:
            self._started[bucket] = (None, None)
            return
        flat = torch.cat([g.reshape(-1) for g in present])
        if self._poison:
            flat[0] = float("nan")
            self._poison = False
        work = dist.all_reduce(flat, group=self.group, async_op=True) if dist.is_initialized() else None
        self._started[bucket] = (flat, work)

    def finish(self):
        """Wait for the buckets; returns ``(grads, finite)``: the summed gradients in ``params``
        order (None where a parameter got none) and whether they are all finite (the same answer
        on every process)."""
        self._armed = False
        for bucket in range(self._next, len(self.buckets)):  # held back by a missing gradient
            self._start(bucket)
        self._next = len(self.buckets)
        out = [None] * len(self.params)
        total = 0.0
        for bucket, members in enumerate(self.buckets):
            flat, work = self._started[bucket]
            if flat is None:
                continue
            if work is not None:
                work.wait()
            total += flat.sum()
            offset = 0
            for i in members:
                g = self.params[i].grad
                if g is None:
                    continue
                out[i] = flat[offset : offset + g.numel()].view_as(g)
                offset += g.numel()
        finite = math.isfinite(float(total))
        return out, finite

    def remove(self):
        """Take the hooks off the parameters."""
        for handle in self._hooks:
            handle.remove()
        self._hooks = []
