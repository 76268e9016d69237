"""``vectorize``: a function of single elements (or of core arrays, per a NumPy gufunc signature
such as ``"(n,n),(n)->(n)"``) mapped over the leading dims of its arguments with ``torch.vmap``.

The leading ("loop") dims of every argument broadcast together and are flattened into one
batch dim, so a single ``torch.vmap`` runs the function; the outputs get the loop dims back.

Example:
    >>> import torch
    >>> from plait.ops._vectorize import vectorize
    >>> matvec = vectorize(lambda m, v: m @ v, signature="(n,n),(n)->(n)")
    >>> matvec(torch.ones(4, 2, 3, 3), torch.ones(3)).shape
    torch.Size([4, 2, 3])
"""

import functools
import re

import torch

from plait.ops._backend import convert_to_tensor

_CORE = r"\(([\w\s,]*)\)"  # one argument's core dims: "(m, n)"
_CORES = rf"\s*{_CORE}(?:\s*,\s*{_CORE})*\s*"  # one side of the arrow
_SIGNATURE = re.compile(rf"^{_CORES}->{_CORES}$")


def parse_signature(signature):
    """``"(m,n),(n)->(m)"`` as ``([("m", "n"), ("n",)], [("m",)])``: each argument's core dims."""
    if not _SIGNATURE.match(signature):
        raise ValueError(f"vectorize: not a valid gufunc signature: {signature!r} (expected e.g. '(m,n),(n)->(m)')")
    inputs, outputs = signature.split("->")
    return [_names(core) for core in re.findall(_CORE, inputs)], [_names(core) for core in re.findall(_CORE, outputs)]


def _names(core):
    return tuple(name.strip() for name in core.split(",") if name.strip())


def _bind_sizes(sizes, shape, core, what, exact=False):
    """Record the size of each named core dim (the trailing dims of ``shape``), checking that a
    name means one size everywhere; an output (``exact``) has its core dims only."""
    if len(shape) < len(core) or (exact and len(shape) != len(core)):
        raise ValueError(f"vectorize: {what} has shape {shape}, which does not fit its core dims {core}")
    for name, size in zip(core, shape[len(shape) - len(core) :]):
        if sizes.setdefault(name, size) != size:
            raise ValueError(f"vectorize: core dimension {name!r} is {sizes[name]} and {size} in different places")


def vectorize(pyfunc, *, excluded=None, signature=None):
    """``pyfunc`` mapped over the leading dims of its arguments, which broadcast together.

    Args:
        pyfunc: a function of tensors.
        excluded: accepted for NumPy's signature and ignored (as in Keras).
        signature: a gufunc signature naming the core dims each argument and output keeps, e.g.
            ``"(n,n),(n)->(n)"``; default: every argument is mapped element by element.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> add_one = ops.vectorize(lambda v: v + 1)
        >>> add_one(torch.tensor([1, 2]))
        tensor([2, 3])
    """
    inputs_core, outputs_core = parse_signature(signature) if signature else (None, None)

    @functools.wraps(pyfunc)
    def mapped(*args):
        cores = inputs_core or [()] * len(args)
        if len(args) != len(cores):
            raise TypeError(f"vectorize: {signature} takes {len(cores)} arguments; received {len(args)}")
        # None arguments pass through unmapped (they must have no core dims)
        static = {i for i, a in enumerate(args) if a is None}
        if any(cores[i] for i in static):
            raise ValueError(f"vectorize: None cannot stand for an argument with core dims ({signature})")
        tensors = {i: convert_to_tensor(a) for i, a in enumerate(args) if i not in static}
        sizes = {}
        for i, t in tensors.items():
            _bind_sizes(sizes, tuple(t.shape), cores[i], f"argument {i}")
        loops = {i: tuple(t.shape[: t.ndim - len(cores[i])]) for i, t in tensors.items()}
        loop = tuple(torch.broadcast_shapes(*loops.values())) if loops else ()

        def call(*batch):
            values = list(args)
            for i, v in zip(tensors, batch):
                values[i] = v
            out = pyfunc(*values)
            if outputs_core is not None:
                outs = out if isinstance(out, tuple) else (out,)
                if len(outs) != len(outputs_core):
                    raise TypeError(f"vectorize: {signature} returns {len(outputs_core)} outputs; got {len(outs)}")
                for k, (o, core) in enumerate(zip(outs, outputs_core)):
                    _bind_sizes(dict(sizes), tuple(o.shape), core, f"output {k}", exact=True)
            return out

        if not loop:
            return call(*tensors.values())
        # every argument broadcast to the loop shape, whose dims merge into one batch dim
        flat = []
        for i, t in tensors.items():
            core_shape = t.shape[len(loops[i]) :]
            flat.append(t.expand(loop + core_shape).reshape((-1,) + core_shape))
        result = torch.vmap(call)(*flat)
        restore = lambda r: r.reshape(loop + r.shape[1:])
        return tuple(restore(r) for r in result) if isinstance(result, tuple) else restore(result)

    return mapped
