"""Values that stand for symbolic tensors, as the graph core sees them.

While a model is built, a plain ``torch.nn.Module``'s forward may run on meta tensors
(:mod:`plait.layers.interop`). A tensor such a forward returns becomes, once the module's call
has returned, a *stand-in*: a real ``torch.Tensor`` whose ``symbolic`` attribute names the
:class:`~plait.graph.node.SymbolicTensor` it stands for. The graph core only knows the marker
class :class:`StandIn`; :func:`is_symbolic` and :func:`resolve` treat a stand-in as its symbolic
tensor, so layers called on it record graph nodes.
"""

import torch

from plait.graph.node import SymbolicTensor
from plait.utils import nest


class StandIn(torch.Tensor):
    """Marker base of tensors that may stand for a symbolic tensor (``symbolic`` set)."""

    symbolic = None


def is_symbolic(value):
    """Whether ``value`` is a symbolic tensor, or a stand-in for one.

    Example:
        >>> import torch
        >>> from plait.graph.node import SymbolicTensor
        >>> is_symbolic(SymbolicTensor((None, 3), torch.float32, "x")), is_symbolic(torch.zeros(2))
        (True, False)
    """
    return isinstance(value, SymbolicTensor) or stands_for_symbolic(value)


def stands_for_symbolic(value):
    """Whether ``value`` is a stand-in that now stands for a symbolic tensor."""
    return isinstance(value, StandIn) and value.symbolic is not None


def resolve(value):
    """``value`` (any structure) with each stand-in replaced by the symbolic tensor it stands for."""
    return nest.map_structure(lambda v: v.symbolic if stands_for_symbolic(v) else v, value)
