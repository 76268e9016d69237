"""Core ops on torch: the implementations behind :mod:`plait.ops.core`.

Casts and conversions are ``_backend``'s with Keras's dtype names. Control flow (``cond``,
``while_loop``, ``scan``, ...) is plain Python over eager tensors, which ``torch.compile`` traces
and unrolls; during shape inference (tensors on ``meta``, no values) a branch or loop that
depends on values takes Keras's symbolic rule instead: ``cond`` takes the true branch, a loop
keeps its variables' shapes. Scatters and slices are one indexing kernel each.
"""

import builtins
import functools

import torch

from plait.ops import _backend
from plait.ops._backend import get_device, standardize_dtype, to_torch_dtype
from plait.utils import nest


# ----------------------------------------------------------------------------- conversions
def cast(x, dtype):
    """``x`` in ``dtype`` (a Keras name such as ``"int32"``, a torch or numpy dtype).

    Example:
        >>> from plait.ops import core
        >>> core.cast([1.7, -1.7], "int32")
        tensor([ 1, -1], dtype=torch.int32)
    """
    return _backend.cast(x, standardize_dtype(dtype))


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    """``x`` (array, tensor, Python number or nested list) as a torch tensor, in ``dtype`` if given
    (Python floats become float32, ints int32, as in Keras).

    Example:
        >>> from plait.ops import core
        >>> core.convert_to_tensor([1, 2])
        tensor([1, 2], dtype=torch.int32)
    """
    dtype = None if dtype is None else standardize_dtype(dtype)
    return _backend.convert_to_tensor(x, dtype=dtype, sparse=sparse, ragged=ragged)


def convert_to_numpy(x):
    """``x`` as a numpy array (moved to the CPU, detached from autograd)."""
    return _backend.convert_to_numpy(x)


def is_tensor(x):
    """Whether ``x`` is a torch tensor (a numpy array is not).

    Example:
        >>> import torch
        >>> from plait.ops import core
        >>> core.is_tensor(torch.ones(2)), core.is_tensor([1.0])
        (True, False)
    """
    return isinstance(x, torch.Tensor)


def _limits(dtype):
    if dtype == torch.bool:
        return 0, 1
    info = torch.finfo(dtype) if dtype.is_floating_point else torch.iinfo(dtype)
    return info.min, info.max


def saturate_cast(x, dtype):
    """Cast with values clipped to the target dtype's range first (no wrap-around, no overflow).

    Example:
        >>> from plait.ops import core
        >>> core.saturate_cast([-5, 300], "uint8")
        tensor([  0, 255], dtype=torch.uint8)
    """
    x = _backend.convert_to_tensor(x)
    target = to_torch_dtype(standardize_dtype(dtype))
    (in_low, in_high), (out_low, out_high) = _limits(x.dtype), _limits(target)
    bounds = []
    for bound, limit in ((max(in_low, out_low), out_low), (min(in_high, out_high), out_high)):
        # The bound as the input dtype holds it; one step towards zero if rounding carried it out
        # of the target's range (float32 cannot hold int32's maximum, rounds it up to 2^31).
        held = torch.tensor(bound, dtype=x.dtype)
        if held.is_floating_point() and abs(held.item()) > abs(limit):
            held = torch.nextafter(held, torch.zeros_like(held))
        bounds.append(held.item())
    return x.clamp(*bounds).to(target)


def stop_gradient(variable):
    """``variable``'s value with no gradient flowing back through it.

    Example:
        >>> import torch
        >>> from plait.ops import core
        >>> core.stop_gradient(torch.ones(2, requires_grad=True)).requires_grad
        False
    """
    # detach, not requires_grad_(False): the input need not be a leaf.
    return _backend.convert_to_tensor(variable).detach()


def unstack(x, num=None, axis=0):
    """The slices of ``x`` along ``axis``, as a list.

    Example:
        >>> from plait.ops import core
        >>> core.unstack([[1, 2], [3, 4]], axis=1)
        [tensor([1, 3], dtype=torch.int32), tensor([2, 4], dtype=torch.int32)]
    """
    return list(_backend.convert_to_tensor(x).unbind(axis))


# ----------------------------------------------------------------------------- scatter and slices
def scatter(indices, values, shape):
    """A zero tensor of ``shape`` with ``values`` added at ``indices`` (repeats add up).

    Args:
        indices: ``(..., k)``: each row indexes the first ``k`` axes of ``shape``.
        values: ``(..., *shape[k:])``, one per index row.
        shape: the output's shape.

    Example:
        >>> from plait.ops import core
        >>> core.scatter([[1], [3], [1]], [1.0, 2.0, 3.0], (5,))
        tensor([0., 4., 0., 2., 0.])
    """
    indices, values = _backend.convert_to_tensor(indices), _backend.convert_to_tensor(values)
    shape = tuple(shape)
    depth = indices.shape[-1]
    rows = indices.reshape(-1, depth).long().unbind(-1)
    out = torch.zeros(shape, dtype=values.dtype, device=get_device())
    return out.index_put_(rows, values.reshape(-1, *shape[depth:]), accumulate=True)


# scatter_update's reductions as scatter_reduce names.
_REDUCTIONS = {"add": "sum", "mul": "prod", "max": "amax", "min": "amin"}


def scatter_update(inputs, indices, updates, reduction=None):
    """A copy of ``inputs`` with ``updates`` written (or combined) at ``indices``.

    Args:
        inputs: tensor to update.
        indices: ``(n, k)``: each row indexes the first ``k`` axes of ``inputs``.
        updates: ``(n, *inputs.shape[k:])``.
        reduction: ``None`` (replace), ``"add"``, ``"mul"``, ``"max"`` or ``"min"`` (combine with
            what is there; repeated indices combine in turn).

    Example:
        >>> from plait.ops import core
        >>> core.scatter_update([1.0, 1.0, 1.0], [[0], [2], [2]], [5.0, 2.0, 3.0], reduction="add")
        tensor([6., 1., 6.])
    """
    if reduction is not None and str(reduction).lower() not in _REDUCTIONS:
        raise ValueError(
            f"ops.scatter_update: `reduction` must be None, 'add', 'mul', 'max' or 'min'. Received: {reduction!r}"
        )
    inputs = _backend.convert_to_tensor(inputs)
    indices = _backend.convert_to_tensor(indices, dtype="int64")
    updates = _backend.convert_to_tensor(updates, dtype=standardize_dtype(inputs.dtype))
    rows = tuple(indices.unbind(-1))
    if reduction is None:
        return inputs.index_put(rows, updates)
    # One scatter_reduce over the indexed axes flattened into one: (positions, *rest).
    depth = indices.shape[-1]
    flat = inputs.reshape(-1, *inputs.shape[depth:]).clone()
    position = torch.zeros_like(rows[0])
    for row, size in zip(rows, inputs.shape[:depth]):
        position = position * size + row
    index = position.reshape(-1, *(1,) * (flat.ndim - 1)).expand(updates.shape)
    return flat.scatter_reduce_(0, index, updates, _REDUCTIONS[reduction.lower()]).reshape(inputs.shape)


def _static(values):
    return isinstance(values, (list, tuple)) and all(isinstance(v, (int, torch.SymInt)) for v in values)


def slice(inputs, start_indices, shape):  # noqa: A001 - Keras's name
    """The block of ``inputs`` of ``shape`` that starts at ``start_indices``.

    Example:
        >>> from plait.ops import core
        >>> core.slice([[1, 2, 3], [4, 5, 6]], (0, 1), (2, 2))
        tensor([[2, 3],
                [5, 6]], dtype=torch.int32)
    """
    inputs = _backend.convert_to_tensor(inputs)
    if _static(start_indices) and _static(shape):
        # Python ints: plain slicing, which torch.export traces without data-dependent sizes.
        return inputs[tuple(builtins.slice(s, s + n) for s, n in zip(start_indices, shape))]
    starts = _backend.convert_to_tensor(start_indices).long()
    sizes = _backend.convert_to_tensor(shape).long()
    for axis in range(starts.shape[0]):
        inputs = inputs.narrow(axis, starts[axis], sizes[axis])
    return inputs


def slice_update(inputs, start_indices, updates):
    """A copy of ``inputs`` with the block at ``start_indices`` replaced by ``updates``.

    Example:
        >>> from plait.ops import core
        >>> core.slice_update([0, 0, 0, 0], (1,), [7, 8])
        tensor([0, 7, 8, 0], dtype=torch.int32)
    """
    inputs, updates = _backend.convert_to_tensor(inputs), _backend.convert_to_tensor(updates)
    out = inputs.clone()
    if _static(start_indices):
        out[tuple(builtins.slice(s, s + n) for s, n in zip(start_indices, updates.shape))] = updates
        return out
    starts = _backend.convert_to_tensor(start_indices).long()
    block = out
    for axis, size in enumerate(updates.shape):
        block = block.narrow(axis, starts[axis], size)
    block.copy_(updates)  # narrow is a view: the copy writes into out
    return out


# ----------------------------------------------------------------------------- control flow
def _on_meta(*values):
    """Whether this is a shape-inference run (meta tensors carry no values to branch on)."""
    return get_device().type == "meta" or any(
        isinstance(v, torch.Tensor) and v.device.type == "meta" for v in nest.flatten(values)
    )


def cond(pred, true_fn, false_fn):
    """``true_fn()`` if ``pred`` else ``false_fn()`` (both take no arguments).

    Example:
        >>> from plait.ops import core
        >>> core.cond(False, lambda: "yes", lambda: "no")
        'no'
    """
    if _on_meta(pred):
        return true_fn()  # Keras's symbolic rule: both branches must give the same shapes
    return true_fn() if bool(pred) else false_fn()


def switch(index, branches, *operands):
    """``branches[index](*operands)``, the index clipped into ``[0, len(branches) - 1]``.

    Example:
        >>> from plait.ops import core
        >>> core.switch(5, [lambda x: x + 1, lambda x: x * 10], 3)
        30
    """
    return branches[min(max(int(index), 0), len(branches) - 1)](*operands)


def while_loop(cond, body, loop_vars, maximum_iterations=None):
    """Run ``loop_vars = body(*loop_vars)`` while ``cond(*loop_vars)`` (at most
    ``maximum_iterations`` times).

    Args:
        cond, body: functions of the loop variables; ``body`` returns new ones of the same structure.
        loop_vars: a tensor, or a tuple / list of them.

    Example:
        >>> from plait.ops import core
        >>> core.while_loop(lambda i, s: i < 4, lambda i, s: (i + 1, s + i), (0, 0))
        (tensor(4, dtype=torch.int32), tensor(6, dtype=torch.int32))
    """
    single = not isinstance(loop_vars, (tuple, list))
    state = nest.map_structure(_backend.convert_to_tensor, (loop_vars,) if single else tuple(loop_vars))
    if not _on_meta(state):
        steps = 0
        while (maximum_iterations is None or steps < maximum_iterations) and cond(*state):
            state = body(*state)
            state = tuple(state) if isinstance(state, (tuple, list)) else (state,)
            steps += 1
    return state[0] if single else state


def fori_loop(lower, upper, body_fun, init_val):
    """``val = body_fun(i, val)`` for ``i`` in ``range(lower, upper)``, from ``init_val``.

    Example:
        >>> from plait.ops import core
        >>> core.fori_loop(0, 4, lambda i, total: total + i, 0)
        6
    """
    if _on_meta(lower, upper, init_val):
        return init_val  # shape inference: the value keeps its shape
    value = init_val
    for i in range(int(lower), int(upper)):
        value = body_fun(i, value)
    return value


def _pack(structure, leaves):
    """``leaves`` (in ``nest.flatten`` order) in the shape of ``structure``."""
    leaves = iter(leaves)
    return nest.map_structure(lambda _: next(leaves), structure)


def _stack(items):
    """Stack a list of same-structured outputs leaf by leaf along a new first axis."""
    columns = zip(*(nest.flatten(item) for item in items))
    return _pack(items[0], [torch.stack(column) for column in columns])


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """Loop ``carry, y = f(carry, x)`` over the leading axis of ``xs`` (``jax.lax.scan``).

    Args:
        f: ``(carry, x) -> (carry, y)``; ``x`` is ``None`` when there is no ``xs``.
        init: the first carry (a tensor or a structure of them).
        xs: tensors (or a structure of them) to scan over their first axis.
        length: the number of steps when ``xs`` is None.
        reverse: scan from the last item to the first (``ys`` still in ``xs``' order).
        unroll: accepted for Keras's signature; the loop is Python's.

    Returns:
        ``(final carry, ys stacked along a new first axis)``.

    Example:
        >>> import torch
        >>> from plait.ops import core
        >>> core.scan(lambda c, x: (c + x, c * x), 0.0, torch.tensor([1.0, 2.0, 3.0]))
        (tensor(6.), tensor([0., 2., 9.]))
    """
    if not callable(f):
        raise TypeError(f"ops.scan: `f` must be a callable. Received: f={f!r}")
    if not isinstance(unroll, bool) and not (isinstance(unroll, int) and unroll >= 1):
        raise ValueError(f"ops.scan: `unroll` must be a positive int or a bool. Received: unroll={unroll!r}")
    if xs is None and length is None:
        raise ValueError("ops.scan: give `xs` to scan over, or `length` when there is none.")
    if xs is not None:
        xs = nest.map_structure(_backend.convert_to_tensor, xs)
        steps = int(length) if length is not None else nest.flatten(xs)[0].shape[0]
    else:
        steps = int(length)
    carry = nest.map_structure(_backend.convert_to_tensor, init)
    ys = [None] * steps
    for i in reversed(range(steps)) if reverse else range(steps):
        x = None if xs is None else nest.map_structure(lambda leaf, i=i: leaf[i], xs)
        carry, y = f(carry, x)
        # A step without an output stacks zeros shaped like the carry (Keras's rule).
        ys[i] = y if y is not None else [torch.zeros_like(leaf) for leaf in nest.flatten(carry)]
    return carry, _stack(ys)


def map(f, xs):  # noqa: A001 - Keras's name
    """``f`` applied to each item along the first axis of ``xs``, the results stacked.

    Example:
        >>> import torch
        >>> from plait.ops import core
        >>> core.map(lambda row: row.sum(), torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
        tensor([3., 7.])
    """
    return scan(lambda carry, x: (carry, f(x)), (), xs)[1]


def vectorized_map(function, elements):
    """``function`` applied to each item along the first axis of ``elements``, batched by
    ``torch.vmap`` (one call on the whole batch, not a loop).

    Example:
        >>> import torch
        >>> from plait.ops import core
        >>> core.vectorized_map(lambda row: row @ row, torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
        tensor([ 5., 25.])
    """
    return torch.vmap(function)(elements)


def associative_scan(f, elems, reverse=False, axis=0):
    """Inclusive prefix combination ``f(...f(f(e0, e1), e2)..., ei)`` along ``axis``, for an
    associative ``f`` (``jax.lax.associative_scan``).

    ``f`` is called on whole slices (the axis kept), about ``log2(n)`` times: Hillis and
    Steele's scan, where step ``k`` combines each item with the one ``2^k`` before it.

    Args:
        f: associative function of two tensors (or structures like ``elems``).
        elems: tensor or structure of tensors of one length along ``axis``.
        reverse: combine from the end instead.

    Example:
        >>> import torch
        >>> from plait.ops import core
        >>> core.associative_scan(lambda a, b: a + b, torch.tensor([1.0, 2.0, 3.0, 4.0]))
        tensor([ 1.,  3.,  6., 10.])
    """
    if not callable(f):
        raise TypeError(f"ops.associative_scan: `f` must be a callable. Received: f={f!r}")
    leaves = [_backend.convert_to_tensor(leaf) for leaf in nest.flatten(elems)]
    n = leaves[0].shape[axis]
    if any(leaf.shape[axis] != n for leaf in leaves):
        raise ValueError(
            f"ops.associative_scan: every input must have one length along axis {axis}. "
            f"Received shapes {[tuple(leaf.shape) for leaf in leaves]}."
        )
    if reverse:
        leaves = [leaf.flip(axis) for leaf in leaves]
    shift = 1
    while shift < n:
        earlier = [leaf.narrow(axis, 0, n - shift) for leaf in leaves]
        later = [leaf.narrow(axis, shift, n - shift) for leaf in leaves]
        combined = nest.flatten(f(_pack(elems, earlier), _pack(elems, later)))
        leaves = [torch.cat([leaf.narrow(axis, 0, shift), new], axis) for leaf, new in zip(leaves, combined)]
        shift *= 2
    if reverse:
        leaves = [leaf.flip(axis) for leaf in leaves]
    return _pack(elems, leaves)


# ----------------------------------------------------------------------------- gradients
def custom_gradient(f):
    """Decorator for a function with its own gradient.

    The decorated ``f(*args)`` returns ``(output, grad_fn)``; ``grad_fn(*args, upstream=g)``
    returns the gradients of ``args`` (one, or a tuple) given the output's gradient ``g``.

    Example:
        >>> import torch
        >>> from plait.ops import core
        >>> @core.custom_gradient
        ... def double_grad(x):
        ...     return x * 1.0, lambda x, upstream: 2.0 * upstream
        >>> x = torch.tensor(3.0, requires_grad=True)
        >>> double_grad(x).backward()
        >>> x.grad
        tensor(2.)
    """

    @functools.wraps(f)
    def with_gradient(*args, **kwargs):
        return _CustomGradient.apply(functools.partial(f, **kwargs), *args)

    return with_gradient


class _CustomGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, forward_fn, *args):
        ctx.save_for_backward(*args)
        output, ctx.gradient = forward_fn(*args)
        return output

    @staticmethod
    def backward(ctx, upstream):
        grads = ctx.gradient(*ctx.saved_tensors, upstream=upstream)
        return (None, *(grads if isinstance(grads, tuple) else (grads,)))
