"""Core ops (casts, scatter, slicing, control flow): the implementations behind
:mod:`plait.ops.core`.

Ported from Keras 3.15 (``keras/src/backend/torch/core.py`` and the front ends in
``keras/src/ops/core.py``; Apache-2.0, the Keras authors).
"""

import builtins

import numpy as np
import torch

from plait.ops._backend import (
    cast as _cast,
)
from plait.ops._backend import (
    convert_to_numpy as _convert_to_numpy,
)
from plait.ops._backend import (
    convert_to_tensor as _convert_to_tensor,
)
from plait.ops._backend import (
    get_device,
    slice_along_axis,
    standardize_dtype,
    to_torch_dtype,
)
from plait.utils import nest


def cast(x, dtype):
    return _cast(x, standardize_dtype(dtype))


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    dtype = None if dtype is None else standardize_dtype(dtype)
    return _convert_to_tensor(x, dtype=dtype, sparse=sparse, ragged=ragged)


def convert_to_numpy(x):
    return _convert_to_numpy(x)


def shape(x):
    return tuple(x.shape)


def dtype(x):
    return standardize_dtype(x.dtype)


def saturate_cast(x, dtype):
    """Cast, clipping to the target dtype's range first (no wrap-around): Keras's rule."""
    dtype = standardize_dtype(dtype)
    x = _convert_to_tensor(x)
    in_dtype = standardize_dtype(x.dtype)
    in_min, in_max = _dtype_min_max(in_dtype)
    out_min, out_max = _dtype_min_max(dtype)
    # The bounds must be representable in the input dtype: nudge them inwards if they round out.
    np_in = "float32" if in_dtype == "bfloat16" else in_dtype
    min_limit = np.maximum(in_min, out_min).astype(np_in)
    if min_limit < out_min:
        min_limit = np.nextafter(min_limit, 0, dtype=np_in)
    max_limit = np.minimum(in_max, out_max).astype(np_in)
    if max_limit > out_max:
        max_limit = np.nextafter(max_limit, 0, dtype=np_in)
    return _cast(torch.clip(x, min_limit.item(), max_limit.item()), dtype)


def _dtype_min_max(dtype):
    if dtype == "bool":
        return 0, 1
    info = torch.iinfo(to_torch_dtype(dtype)) if "int" in dtype else torch.finfo(to_torch_dtype(dtype))
    return info.min, info.max


def _on_meta(*values):
    """Whether this call is a shape-inference run (meta tensors have no values to branch on)."""
    return any(isinstance(v, torch.Tensor) and v.device.type == "meta" for v in nest.flatten(values))


def cond(pred, true_fn, false_fn):
    if _on_meta(pred):
        # Shape inference: Keras's torch backend takes the true branch (both must match).
        return true_fn()
    if pred:
        return true_fn()
    return false_fn()


def switch(index, branches, *operands):
    if isinstance(index, int):
        index = max(0, min(index, len(branches) - 1))
    else:
        index = torch.clamp(_convert_to_tensor(index, "int32"), 0, len(branches) - 1)
    return branches[index](*operands)


def vectorized_map(function, elements):
    return torch.vmap(function)(elements)


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    # Ref: jax.lax.scan
    if not callable(f):
        raise TypeError(f"`f` should be a callable. Received: f={f}")
    if not isinstance(unroll, bool) and (not isinstance(unroll, int) or unroll < 1):
        raise ValueError(f"`unroll` must be an positive integer or boolean. Received: unroll={unroll}")
    if xs is None and length is None:
        raise ValueError("Got no `xs` to scan over and `length` not provided.")
    input_is_sequence = isinstance(xs, (list, tuple, dict))
    output_is_sequence = isinstance(init, (list, tuple, dict))

    def pack_input(x):
        return _pack_as(xs, x) if input_is_sequence else x[0]

    def pack_output(x):
        return _pack_as(init, x) if output_is_sequence else x[0]

    if xs is None:
        xs_flat, n = [], int(length)
    else:
        xs_flat = [_convert_to_tensor(e) for e in nest.flatten(xs)]
        n = int(length) if length is not None else xs_flat[0].shape[0]
    init_flat = [_convert_to_tensor(e) for e in nest.flatten(init)]
    carry = pack_output(init_flat)
    dummy_y = [torch.zeros_like(e) for e in init_flat]
    ys = []
    order = reversed(range(n)) if reverse else range(n)
    for i in order:
        xs_slice = [x[i] for x in xs_flat]
        carry, y = f(carry, pack_input(xs_slice) if xs_slice else None)
        ys.append(y if y is not None else dummy_y)
    if reverse:
        ys = ys[::-1]
    return carry, _stack_structures(ys)


def _stack_structures(items):
    first = items[0]
    if isinstance(first, (list, tuple)):
        return type(first)(_stack_structures([it[i] for it in items]) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: _stack_structures([it[k] for it in items]) for k in first}
    return torch.stack(items)


def _pack_as(structure, flat):
    flat = list(flat)

    def take(_):
        return flat.pop(0)

    return nest.map_structure(take, structure)


def map(f, xs):  # noqa: A001 - Keras's name
    def g(_, x):
        return (), f(x)

    _, ys = scan(g, (), xs)
    return ys


def associative_scan(f, elems, reverse=False, axis=0):
    # Ref: jax.lax.associative_scan (ported from Keras's torch backend).
    if not callable(f):
        raise TypeError(f"`f` should be a callable. Received: f={f}")
    elems_flat = [_convert_to_tensor(e) for e in nest.flatten(elems)]
    if reverse:
        elems_flat = [torch.flip(e, (axis,)) for e in elems_flat]

    def combine(a_flat, b_flat):
        return nest.flatten(f(_pack_as(elems, a_flat), _pack_as(elems, b_flat)))

    num_elems = int(elems_flat[0].shape[axis])
    if not all(int(e.shape[axis]) == num_elems for e in elems_flat[1:]):
        raise ValueError(
            "Array inputs to associative_scan must have the same first dimension. "
            f"(saw: {[e.shape for e in elems_flat]})"
        )

    def interleave(a, b):
        a_shape, b_shape = list(a.shape), list(b.shape)
        a_shape[axis], b_shape[axis] = a.shape[axis] * 2 - 1, b.shape[axis] * 2 - 1
        a_dil = torch.zeros(a_shape, dtype=a.dtype, device=a.device)
        slice_along_axis(a_dil, 0, None, 2, axis).copy_(a)
        b_dil = torch.zeros(b_shape, dtype=b.dtype, device=b.device)
        slice_along_axis(b_dil, 0, None, 2, axis).copy_(b)
        a_pad = [[0, 0] for _ in range(a.dim())]
        a_pad[axis][-1] = 1 if a.shape[axis] == b.shape[axis] else 0
        b_pad = [[0, 0] for _ in range(b.dim())]
        b_pad[axis] = [1, 0] if a.shape[axis] == b.shape[axis] else [1, 1]
        a_pad, b_pad = nest.flatten(a_pad[::-1]), nest.flatten(b_pad[::-1])
        op = torch.bitwise_or if a.dtype == torch.bool else torch.add
        return op(torch.nn.functional.pad(a_dil, a_pad), torch.nn.functional.pad(b_dil, b_pad))

    def scan_(elems):
        num = elems[0].shape[axis]
        if num < 2:
            return elems
        reduced = combine(
            [slice_along_axis(e, 0, -1, step=2, axis=axis) for e in elems],
            [slice_along_axis(e, 1, None, step=2, axis=axis) for e in elems],
        )
        odd = scan_(reduced)
        if num % 2 == 0:
            even = combine(
                [slice_along_axis(e, 0, -1, axis=axis) for e in odd],
                [slice_along_axis(e, 2, None, step=2, axis=axis) for e in elems],
            )
        else:
            even = combine(odd, [slice_along_axis(e, 2, None, step=2, axis=axis) for e in elems])
        even = [torch.cat([slice_along_axis(e, 0, 1, axis=axis), r], dim=axis) for e, r in zip(elems, even)]
        return [interleave(e, o) for e, o in zip(even, odd)]

    scans = scan_(elems_flat)
    if reverse:
        scans = [torch.flip(s, (axis,)) for s in scans]
    return _pack_as(elems, scans)


def scatter(indices, values, shape):
    indices = _convert_to_tensor(indices)
    values = _convert_to_tensor(values)
    zeros = torch.zeros(tuple(shape), dtype=values.dtype, device=get_device())
    index_length = indices.shape[-1]
    value_shape = tuple(shape)[index_length:]
    indices = torch.reshape(indices, [-1, index_length]).long()
    values = torch.reshape(values, [-1, *value_shape])
    # index_put_ with accumulate adds duplicates, as Keras's loop does.
    zeros.index_put_(tuple(indices.T), values, accumulate=True)
    return zeros


def scatter_update(inputs, indices, updates, reduction=None):
    if reduction is not None:
        reduction = reduction.lower()
        if reduction not in ("add", "max", "min", "mul"):
            raise ValueError(f"Invalid reduction: {reduction}. Supported values are: None, 'add', 'max', 'min', 'mul'.")
    inputs = _convert_to_tensor(inputs)
    indices = _convert_to_tensor(indices, dtype="int64")
    updates = _convert_to_tensor(updates, dtype=standardize_dtype(inputs.dtype))
    idx = tuple(torch.transpose(indices, 0, 1))
    outputs = torch.clone(inputs)
    if reduction is None:
        outputs[idx] = updates
    elif reduction == "add":
        outputs.index_put_(idx, updates, accumulate=True)
    else:
        combine = {"max": torch.maximum, "min": torch.minimum, "mul": torch.mul}[reduction]
        for i in range(indices.shape[0]):
            where = tuple(indices[i])
            outputs[where] = combine(outputs[where], updates[i])
    return outputs


def slice(inputs, start_indices, shape):  # noqa: A001 - Keras's name
    inputs = _convert_to_tensor(inputs)
    if isinstance(start_indices, (list, tuple)) and isinstance(shape, (list, tuple)):
        if all(isinstance(s, int) for s in start_indices) and all(isinstance(s, int) for s in shape):
            return inputs[tuple(builtins.slice(s, s + n) for s, n in zip(start_indices, shape))]
    start_indices = _convert_to_tensor(start_indices).long()
    shape = _convert_to_tensor(shape).long()
    result = inputs
    for dim in range(start_indices.shape[0]):
        result = torch.narrow(result, dim, start_indices[dim], shape[dim])
    return result


def slice_update(inputs, start_indices, updates):
    inputs = _convert_to_tensor(inputs)
    updates = _convert_to_tensor(updates)
    if isinstance(start_indices, (list, tuple)) and all(isinstance(s, int) for s in start_indices):
        outputs = torch.clone(inputs)
        outputs[tuple(builtins.slice(s, s + n) for s, n in zip(start_indices, updates.shape))] = updates
        return outputs
    start_indices = _convert_to_tensor(start_indices, dtype="int64")
    outputs = inputs.clone()
    ranges = [
        torch.arange(n, dtype=start_indices.dtype, device=start_indices.device) + start_indices[d]
        for d, n in enumerate(updates.shape)
    ]
    grids = torch.meshgrid(*ranges, indexing="ij")
    outputs.index_put_(tuple(g.flatten() for g in grids), updates.flatten())
    return outputs


def while_loop(cond, body, loop_vars, maximum_iterations=None):
    if _on_meta(loop_vars):
        return loop_vars  # shape inference: the loop keeps its variables' shapes (Keras's rule)
    current = 0
    is_tuple = isinstance(loop_vars, (tuple, list))
    loop_vars = tuple(loop_vars) if is_tuple else (loop_vars,)
    loop_vars = nest.map_structure(_convert_to_tensor, loop_vars)
    while cond(*loop_vars) and (maximum_iterations is None or current < maximum_iterations):
        loop_vars = body(*loop_vars)
        loop_vars = tuple(loop_vars) if isinstance(loop_vars, (list, tuple)) else (loop_vars,)
        current += 1
    return loop_vars if is_tuple else loop_vars[0]


def fori_loop(lower, upper, body_fun, init_val):
    if _on_meta(lower, upper, init_val):
        return init_val  # shape inference: the loop keeps its value's shape (Keras's rule)
    val = init_val
    for i in range(int(lower), int(upper)):
        val = body_fun(i, val)
    return val


def stop_gradient(variable):
    # .detach(), not .requires_grad_(False): the input need not be a leaf.
    return _convert_to_tensor(variable).detach()


def unstack(x, num=None, axis=0):
    return list(_convert_to_tensor(x).unbind(axis))


class custom_gradient:  # noqa: N801 - Keras's name
    """Decorator: ``f(*args)`` returns ``(output, grad_fn)``; ``grad_fn(*args, upstream=...)``
    gives the gradients of the args (Keras's ``ops.custom_gradient``)."""

    def __init__(self, forward_fn):
        self.forward_fn = forward_fn

    def __call__(self, *args, **kwargs):
        return _CustomGradientFunction.apply(self.forward_fn, *args, **kwargs)


class _CustomGradientFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, forward_fn, *args, **kwargs):
        ctx.save_for_backward(*args)
        output, ctx.grad_fn = forward_fn(*args, **kwargs)
        return output

    @staticmethod
    def backward(ctx, grad_output):
        grads = ctx.grad_fn(*ctx.saved_tensors, upstream=grad_output)
        return (None,) + (grads if isinstance(grads, tuple) else (grads,))


def is_tensor(x):
    return isinstance(x, torch.Tensor)
