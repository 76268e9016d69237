"""Shape inference for any ``torch.nn.Module`` called on symbolic tensors, without compute.

plait's own layers compute their output shape analytically. For everything else (``nn.GELU()``,
``nn.TransformerEncoderLayer``, a user's module) the module is run on PyTorch's ``meta`` device:
tensors with a shape and dtype but no storage, so no memory is used and no arithmetic is done.
The module's own parameters stay where they are; meta stand-ins are swapped in through
``torch.func.functional_call``.

Unknown dims (``None``) need a concrete size on the meta device. The module runs twice, with
two different placeholder sizes; an output dim that differs between the runs depends on an
unknown input dim, so it is unknown (``None``) too.
"""

import torch

from plait.graph.node import SymbolicTensor
from plait.scopes import SymbolicScope
from plait.utils import nest

# Two distinct sizes, large enough for strided convs and pooling stacks, prime so that an
# output dim equal to one of them by coincidence is unlikely. Meta tensors cost nothing.
PLACEHOLDERS = (2039, 3067)


def symbolic_to_meta(tensor, placeholder):
    """A meta tensor of ``tensor``'s shape, unknown dims of size ``placeholder``."""
    shape = [placeholder if d is None else d for d in tensor.declared_shape]
    return torch.empty(shape, dtype=tensor.torch_dtype, device="meta")


def _empty_meta(weight):
    return torch.empty_like(weight, device="meta")


def infer_outputs(module, args, kwargs, to_meta=symbolic_to_meta, weight_to_meta=_empty_meta):
    """Return a structure of ``(shape, dtype)`` pairs for ``module(*args, **kwargs)``.

    Args:
        module: any ``torch.nn.Module``.
        args, kwargs: the call's arguments; they may hold symbolic tensors.
        to_meta: ``(symbolic_tensor, placeholder) -> meta tensor``, how a symbolic argument
            enters the meta run (plait's layers pass meta tensors that convert parameters
            met on the way, see :mod:`plait.layers.interop`).
        weight_to_meta: ``(parameter or buffer) -> meta tensor`` that stands in for it during the
            run (plait's layers keep their Variable class, so ``self.kernel.assign`` still works).

    The result mirrors the module's output structure (a tensor, or a list/tuple/dict of tensors).

    Example:
        >>> import torch
        >>> from plait.graph.node import SymbolicTensor
        >>> infer_outputs(torch.nn.Linear(3, 5), (SymbolicTensor((None, 3), torch.float32, "x"),), {})
        ((None, 5), torch.float32)
    """
    state = {
        name: weight_to_meta(value) for name, value in list(module.named_parameters()) + list(module.named_buffers())
    }
    runs = []
    for placeholder in PLACEHOLDERS:
        meta_args = nest.map_structure(
            lambda v, p=placeholder: to_meta(v, p) if isinstance(v, SymbolicTensor) else v, (args, kwargs)
        )
        try:
            with torch.no_grad(), SymbolicScope():  # a call can tell it runs on shapes only
                out = torch.func.functional_call(module, state, meta_args[0], meta_args[1])
        except Exception as error:
            raise ValueError(
                f"Could not infer the output shape of {type(module).__name__} on inputs "
                f"{[t.shape for t in nest.flatten((args, kwargs)) if isinstance(t, SymbolicTensor)]}: "
                f"{type(error).__name__}: {error}"
            ) from error
        runs.append(out)

    def merge(first, second):
        if not isinstance(first, torch.Tensor):
            return first
        first, second = (t.as_subclass(torch.Tensor) for t in (first, second))
        shape = tuple(a if a == b else None for a, b in zip(first.shape, second.shape))
        return (shape, first.dtype)

    return _zip_map(merge, runs[0], runs[1])


def _zip_map(fn, a, b):
    if isinstance(a, (list, tuple)):
        return type(a)(_zip_map(fn, x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return {k: _zip_map(fn, a[k], b[k]) for k in a}
    return fn(a, b)
