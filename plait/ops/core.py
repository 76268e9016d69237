"""Core ops (Keras 3's ``keras.ops.core``) on torch: casts, scatter, slicing, control flow.

Example:
    >>> import plait
    >>> plait.ops.core.scatter([[0], [2]], [1.0, 2.0], (4,))
    tensor([1., 0., 2., 0.])
"""

from plait.graph.ops import is_symbolic as _is_symbolic
from plait.ops import _core as _impl
from plait.ops._op import op as _op


def _core(fn):
    return _op(fn, "core")


associative_scan = _core(_impl.associative_scan)
cast = _core(_impl.cast)
cond = _core(_impl.cond)
convert_to_tensor = _core(_impl.convert_to_tensor)
fori_loop = _core(_impl.fori_loop)
map = _core(_impl.map)
saturate_cast = _core(_impl.saturate_cast)
scan = _core(_impl.scan)
scatter = _core(_impl.scatter)
scatter_update = _core(_impl.scatter_update)
slice = _core(_impl.slice)
slice_update = _core(_impl.slice_update)
stop_gradient = _core(_impl.stop_gradient)
switch = _core(_impl.switch)
unstack = _core(_impl.unstack)
vectorized_map = _core(_impl.vectorized_map)
while_loop = _core(_impl.while_loop)

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

# Questions about a tensor, answered directly (for a symbolic tensor too), and a decorator.
is_tensor = _op(_impl.is_tensor, "core", symbolic=False)


def custom_gradient(f):
    """Decorator: ``f(*args)`` returns ``(output, grad_fn)``; ``grad_fn(*args, upstream=g)`` returns
    the gradients of ``args`` (Keras's ``ops.custom_gradient``)."""
    return _impl.custom_gradient(f)


def shape(x):
    """``x``'s shape as a tuple (``None`` for a symbolic tensor's unknown dims)."""
    return tuple(x.shape)


def dtype(x):
    """``x``'s dtype as Keras names it (``"float32"``)."""
    return _impl.standardize_dtype(x.dtype)


def convert_to_numpy(x):
    """``x`` as a numpy array (moved to the CPU, detached)."""
    if _is_symbolic(x):
        raise TypeError(
            "A symbolic tensor has no value: convert_to_numpy needs real data. Call the model on data first."
        )
    return _impl.convert_to_numpy(x)
