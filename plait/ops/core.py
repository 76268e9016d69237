"""Core ops (Keras 3's ``keras.ops.core``) on torch: casts, scatter, slicing, control flow.

Example:
    >>> import plait
    >>> plait.ops.core.scatter([[0], [2]], [1.0, 2.0], (4,))
    tensor([1., 0., 2., 0.])
"""

from plait.graph.ops import is_symbolic as _is_symbolic
from plait.ops import _core as _impl
from plait.ops._op import op as _op

__all__ = [
    "associative_scan",
    "cast",
    "cond",
    "convert_to_numpy",
    "convert_to_tensor",
    "custom_gradient",
    "dtype",
    "fori_loop",
    "is_tensor",
    "map",
    "saturate_cast",
    "scan",
    "scatter",
    "scatter_update",
    "shape",
    "slice",
    "slice_update",
    "stop_gradient",
    "switch",
    "unstack",
    "vectorized_map",
    "while_loop",
]

associative_scan = _op(_impl.associative_scan, "core")
cast = _op(_impl.cast, "core")
cond = _op(_impl.cond, "core")
convert_to_tensor = _op(_impl.convert_to_tensor, "core")
fori_loop = _op(_impl.fori_loop, "core")
map = _op(_impl.map, "core")
saturate_cast = _op(_impl.saturate_cast, "core")
scan = _op(_impl.scan, "core")
scatter = _op(_impl.scatter, "core")
scatter_update = _op(_impl.scatter_update, "core")
slice = _op(_impl.slice, "core")
slice_update = _op(_impl.slice_update, "core")
stop_gradient = _op(_impl.stop_gradient, "core")
switch = _op(_impl.switch, "core")
unstack = _op(_impl.unstack, "core")
vectorized_map = _op(_impl.vectorized_map, "core")
while_loop = _op(_impl.while_loop, "core")
# Questions about a tensor, answered directly (for a symbolic tensor too), and a decorator.
is_tensor = _op(_impl.is_tensor, "core", symbolic=False)
custom_gradient = _impl.custom_gradient


def shape(x):
    """``x``'s shape as a tuple (``None`` for a symbolic tensor's unknown dims).

    Example:
        >>> import plait
        >>> plait.ops.core.shape(plait.Input(shape=(3,)))
        (None, 3)
    """
    return tuple(x.shape)


def dtype(x):
    """``x``'s dtype as Keras names it (``"float32"``).

    Example:
        >>> import torch, plait
        >>> plait.ops.core.dtype(torch.ones(2))
        'float32'
    """
    return _impl.standardize_dtype(x.dtype)


def convert_to_numpy(x):
    """``x`` as a numpy array (moved to the CPU, detached); a symbolic tensor has no value.

    Example:
        >>> import plait
        >>> plait.ops.core.convert_to_numpy([1.0, 2.0])
        array([1., 2.])
    """
    if _is_symbolic(x):
        raise TypeError(
            "A symbolic tensor has no value: convert_to_numpy needs real data. Call the model on data first."
        )
    return _impl.convert_to_numpy(x)
