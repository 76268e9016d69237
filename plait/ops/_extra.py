"""``vectorize`` (NumPy's generalized ufuncs on ``torch.vmap``) and ``rearrange`` (einops patterns).

Ported from Keras 3.15 (``keras/src/backend/common/backend_utils.py`` ``vectorize_impl``, itself
adapted from JAX and NumPy, and ``keras/src/ops/einops.py``; Apache-2.0, the Keras authors).
"""

import functools
import math
import re

import torch

from plait.ops._backend import convert_to_tensor

# ---------------------------------------------------------------------------- vectorize
# See http://docs.scipy.org/doc/numpy/reference/c-api.generalized-ufuncs.html
_DIMENSION_NAME = r"\w+"
_CORE_DIMENSION_LIST = f"(?:{_DIMENSION_NAME}(?:,{_DIMENSION_NAME})*)?"
_ARGUMENT = rf"\({_CORE_DIMENSION_LIST}\)"
_ARGUMENT_LIST = f"{_ARGUMENT}(?:,{_ARGUMENT})*"
_SIGNATURE = f"^{_ARGUMENT_LIST}->{_ARGUMENT_LIST}$"


def _parse_signature(signature):
    if not re.match(_SIGNATURE, signature):
        raise ValueError(f"not a valid gufunc signature: {signature}")
    return (
        [tuple(re.findall(_DIMENSION_NAME, arg)) for arg in re.findall(_ARGUMENT, arg_list)]
        for arg_list in signature.split("->")
    )


def _update_dim_sizes(dim_sizes, shape, core_dims, is_input=True):
    if is_input and len(shape) < len(core_dims):
        raise ValueError(
            f"input with shape {shape} does not have enough dimensions for all core dimensions {core_dims}"
        )
    if not is_input and len(shape) != len(core_dims):
        raise ValueError(f"output shape {shape} does not match core dimensions {core_dims}")
    core_shape = shape[-len(core_dims) :] if core_dims else ()
    for dim, size in zip(core_dims, core_shape):
        if dim in dim_sizes and size != dim_sizes[dim]:
            raise ValueError(f"inconsistent size for core dimension {dim}: {size} vs {dim_sizes[dim]}")
        dim_sizes.setdefault(dim, size)


def _apply_excluded(func, excluded, args, kwargs):
    if not excluded:
        return func, args, kwargs
    dynamic_args = [arg for i, arg in enumerate(args) if i not in excluded]
    dynamic_kwargs = {k: v for k, v in kwargs.items() if k not in excluded}
    static_args = [(i, args[i]) for i in sorted(e for e in excluded if isinstance(e, int)) if i < len(args)]
    static_kwargs = {k: v for k, v in kwargs.items() if k in excluded}

    def new_func(*args, **kwargs):
        args = list(args)
        for i, arg in static_args:
            args.insert(i, arg)
        return func(*args, **kwargs, **static_kwargs)

    return new_func, dynamic_args, dynamic_kwargs


def vectorize(pyfunc, *, excluded=None, signature=None):
    """``pyfunc`` mapped over the leading (non-core) dims of its arguments, with broadcasting."""
    excluded = set()  # as in Keras: `excluded` is accepted and ignored

    @functools.wraps(pyfunc)
    def wrapped(*args, **kwargs):
        func, args, kwargs = _apply_excluded(pyfunc, excluded, args, kwargs)
        if signature is not None:
            input_core_dims, output_core_dims = _parse_signature(signature)
        else:
            input_core_dims, output_core_dims = [()] * len(args), None
        none_args = {i for i, arg in enumerate(args) if arg is None}
        if none_args:
            if any(input_core_dims[i] != () for i in none_args):
                raise ValueError(f"Cannot pass None at locations {none_args} with signature={signature}")
            func, args, _ = _apply_excluded(func, none_args, args, {})
            input_core_dims = [d for i, d in enumerate(input_core_dims) if i not in none_args]
        args = tuple(convert_to_tensor(a) for a in args)
        if len(args) != len(input_core_dims):
            raise TypeError(f"wrong number of positional arguments: expected {len(input_core_dims)}, got {len(args)}")
        dim_sizes, shapes = {}, []
        for arg, core_dims in zip(args, input_core_dims):
            _update_dim_sizes(dim_sizes, tuple(arg.shape), core_dims)
            shapes.append(tuple(arg.shape[: arg.ndim - len(core_dims)]))
        broadcast_shape = tuple(torch.broadcast_shapes(*shapes)) if shapes else ()

        def checked(*inner):
            out = func(*inner)
            out_shapes = [tuple(o.shape) for o in out] if isinstance(out, (list, tuple)) else [tuple(out.shape)]
            core = [()] * len(out_shapes) if output_core_dims is None else output_core_dims
            if output_core_dims is not None:
                if len(core) > 1 and not isinstance(out, tuple):
                    raise TypeError(f"output must be a tuple when multiple outputs are expected, got: {out}")
                if len(out_shapes) != len(core):
                    raise TypeError(f"wrong number of output arguments: expected {len(core)}, got {len(out_shapes)}")
            sizes = dict(dim_sizes)
            for shape, core_dims in zip(out_shapes, core):
                _update_dim_sizes(sizes, shape, core_dims, is_input=False)
            return out

        squeezed, rev_filled = [], []
        for arg, core_dims in zip(args, input_core_dims):
            noncore = tuple(arg.shape[: arg.ndim - len(core_dims)])
            rev_filled.append(((1,) * (len(broadcast_shape) - len(noncore)) + noncore)[::-1])
            ones = tuple(i for i, size in enumerate(noncore) if size == 1)
            squeezed.append(arg.squeeze(ones) if ones else arg)
        vectorized, dims_to_expand = checked, []
        for negdim, axis_sizes in enumerate(zip(*rev_filled)):
            in_axes = tuple(None if size == 1 else 0 for size in axis_sizes)
            if all(axis is None for axis in in_axes):
                dims_to_expand.append(len(broadcast_shape) - 1 - negdim)
            else:
                vectorized = torch.vmap(vectorized, in_axes)
        result = vectorized(*squeezed)
        if not dims_to_expand:
            return result

        def expand(r):
            for axis in sorted(dims_to_expand):
                r = r.unsqueeze(axis)
            return r

        return tuple(expand(r) for r in result) if isinstance(result, tuple) else expand(result)

    return wrapped


# ---------------------------------------------------------------------------- rearrange
def _axes_map(axes, input_shape, axes_lengths):
    axes_map = {}
    for axis, dim in zip(axes, input_shape):
        grouped = re.match(r"\(([\w\s]+)\)", axis)
        if grouped:
            inner = grouped.group(1).split()
            known = [a for a in inner if a in axes_lengths]
            inferred = [a for a in inner if a not in axes_lengths]
            if inferred:
                axes_lengths[inferred[0]] = dim // math.prod(axes_lengths[a] for a in known)
            axes_map.update({a: axes_lengths[a] for a in inner})
        else:
            axes_map[axis] = dim
    return axes_map


def _grouped(axes):
    out = []
    for axis in axes:
        grouped = re.match(r"\(([\w\s]+)\)", axis)
        out.append(grouped.group(1).split() if grouped else [axis])
    return out


def rearrange(tensor, pattern, **axes_lengths):
    """einops-style ``"b (h w) c -> b h w c"`` reshapes and transposes."""
    tensor = convert_to_tensor(tensor)
    input_pattern, output_pattern = re.split(r"\s*->\s*", pattern)
    input_axes = re.findall(r"\w+|\(.*?\)", input_pattern)
    output_axes = re.findall(r"\w+|\(.*?\)", output_pattern)
    axes_map = _axes_map(input_axes, tuple(tensor.shape), axes_lengths)
    grouped_output = _grouped(output_axes)
    flat_output = [a for group in grouped_output for a in group]
    # 1. Decompose grouped input axes.
    decomposed, names = [], []
    for axis in input_axes:
        if "(" in axis:
            inner = re.findall(r"\w+", axis)
            decomposed += [axes_lengths[a] for a in inner]
            names += inner
        else:
            decomposed.append(axes_map[axis])
            names.append(axis)
    if tuple(decomposed) != tuple(tensor.shape):
        tensor = tensor.reshape(decomposed)
    # 2. Transpose to the output order, 3. merge the output groups.
    tensor = tensor.permute([names.index(a) for a in flat_output])
    return tensor.reshape([math.prod(axes_map[a] for a in group) for group in grouped_output])
