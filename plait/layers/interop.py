"""Plain ``torch.nn.Module``s and torch functions called on symbolic tensors.

The graph core hands every torch call that touches a symbolic tensor to the handler that
:mod:`plait.layers.torch_module` installs (``symbolic_torch_function``). Two cases:

* The call happens inside the ``forward`` of a plain module the user called on symbolic
  tensors (``nn.GELU()(x)``, ``nn.TransformerEncoderLayer(...)(x)``). Torch offers no hook
  that could answer such a call before its forward runs without patching torch for every
  module in the process. So the first torch op inside that forward looks up the stack for the
  outermost module call that received symbolic tensors (:func:`outermost_module_call`). It
  records one node for the *whole module*: a ``TorchModuleWrapper``, with its output shape
  taken from a meta-device run. The rest of the forward then really runs, on the meta device
  (the *ghost run*): each op returns a :class:`GhostTensor`, a meta tensor that converts the
  module's own parameters to meta as it meets them. So a forward that unpacks, slices or
  inspects its intermediate values still runs to its end. When the module's call returns, a
  profile hook (set for the length of that call only) maps each ghost it returned to the
  matching output of the node. From then on the ghost stands for that symbolic tensor. At run
  time the module's real ``forward`` runs, in whatever train/eval mode it is in.
* Anywhere else (``x + y``, ``torch.cat([x, y], -1)``, ``x.mean(-1)``), the call becomes a
  ``TorchOp`` node that calls the same function on real tensors.

Unknown dims inside a plain module's forward. A forward may build sizes from its symbolic
input's shape before its first op (``hidden.shape[:-1]``, as HuggingFace blocks do) and pass
them to ``view``; torch's argument parser refuses a ``None`` size before any
``__torch_function__`` could see it. So the graph core asks :func:`unknown_dim_size` (installed
with the torch-function handler) what an unknown dim reads as: inside such a forward, the ghost
run's placeholder size; everywhere else ``None``. That question needs the call stack; it is
asked only for shapes with unknown dims, and only here.
"""

import sys

import torch

from plait.graph.infer import PLACEHOLDERS, symbolic_to_meta
from plait.graph.infer import infer_outputs as _infer_outputs
from plait.graph.node import SymbolicTensor
from plait.graph.ops import StandIn, is_symbolic, resolve, stands_for_symbolic
from plait.utils import nest

PLACEHOLDER = PLACEHOLDERS[0]  # the size of unknown dims in the ghost run

# Module calls already answered: id(frame of Module._call_impl) -> (frame, output).
answered = {}


def outermost_module_call(depth=2):
    """The frame of the outermost ``nn.Module._call_impl`` that received symbolic tensors."""
    # torch's private _call_impl is the one frame every module call passes through; torch has no
    # public way to find the module calls under way.
    target = torch.nn.Module._call_impl.__code__
    frame, found = sys._getframe(depth), None
    while frame is not None:
        if frame.f_code is target:
            local = frame.f_locals
            if any(is_symbolic(v) for v in nest.flatten((local.get("args", ()), local.get("kwargs", {})))):
                found = frame
        frame = frame.f_back
    return found


def forget_finished_calls(frame):
    """Drop the answered module calls that are no longer on the stack under ``frame``."""
    live = set()
    f = frame
    while f is not None:
        live.add(id(f))
        f = f.f_back
    for key in [k for k in answered if k not in live]:
        del answered[key]


class GhostTensor(StandIn):
    """A value computed inside a plain module's forward called on symbolic tensors.

    It is a meta tensor (shape and dtype, no storage), so the forward can inspect, unpack and
    slice it; its torch ops run on the meta device, with the module's parameters converted to
    meta as they are met. Once the module's call has returned, a ghost it returned stands for
    one output of the module's node (``ghost.symbolic``) and acts as that symbolic tensor.
    """

    @staticmethod
    def __new__(cls, meta):
        return torch.Tensor._make_subclass(cls, meta)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if any(stands_for_symbolic(v) for v in nest.flatten((args, kwargs))):
            return SymbolicTensor.__torch_function__(func, types, *resolve((args, kwargs)))
        return on_meta(func, args, kwargs)

    @property
    def shape(self):
        return self.symbolic.shape if self.symbolic is not None else super().shape

    def __repr__(self, **kwargs):
        if self.symbolic is not None:
            return repr(self.symbolic)
        return f"<GhostTensor shape={tuple(super().shape)} dtype={self.dtype}>"


def _to_meta(value):
    value = resolve(value)
    if isinstance(value, SymbolicTensor):
        return symbolic_to_meta(value, PLACEHOLDER)
    if isinstance(value, GhostTensor):
        return value.as_subclass(torch.Tensor)
    if isinstance(value, torch.Tensor) and value.device.type != "meta":
        return torch.empty_like(value, device="meta")
    return value


def on_meta(func, args, kwargs):
    """Run ``func`` on the meta device (the ghost run): its tensor results are ghosts."""
    args, kwargs = nest.map_structure(_to_meta, (args, kwargs))
    with torch._C.DisableTorchFunctionSubclass():
        out = func(*args, **kwargs)
    return nest.map_structure(
        lambda v: GhostTensor(v) if isinstance(v, torch.Tensor) and v.device.type == "meta" else v, out
    )


def resolve_on_return(frame, outputs):
    """When the module call in ``frame`` returns, point each ghost it returns at the matching
    output of its node. A profile hook, set for the length of this one call, sees the return."""
    previous = sys.getprofile()

    def hook(f, event, arg):
        if previous is not None:
            previous(f, event, arg)
        if f is frame and event == "return":
            sys.setprofile(previous)
            returned = nest.flatten(arg)
            symbolic = nest.flatten(outputs)
            if len(returned) == len(symbolic):
                for ghost, tensor in zip(returned, symbolic):
                    if isinstance(ghost, GhostTensor):
                        ghost.symbolic = tensor

    sys.setprofile(hook)


def unknown_dim_size():
    """What an unknown dim of a symbolic shape reads as now: the ghost run's placeholder size
    inside the forward of a plain module called on symbolic tensors, else ``None``."""
    if torch.compiler.is_compiling() or outermost_module_call(depth=3) is None:
        return None
    return PLACEHOLDER


def pending_module():
    """The plain module whose forward is being answered now, if any (for error messages)."""
    frame = sys._getframe(1)
    while frame is not None:
        if id(frame) in answered:
            return frame.f_locals.get("self")
        frame = frame.f_back
    return None


def check_use():
    """Before a symbolic tensor refuses ``bool``/``len``/``iter``: inside a plain module's forward,
    say that the module must be wrapped instead."""
    module = pending_module()
    if module is not None:
        raise TypeError(
            f"{type(module).__name__}'s forward cannot run on symbolic tensors op by op (it "
            "inspects intermediate values). Wrap it instead: "
            "`plait.layers.TorchModuleWrapper(module)(inputs)` runs it on the meta device."
        )


def _ghost_meta(tensor, placeholder):
    # A ghost: a parameter the run meets that functional_call did not swap (a plait layer
    # inside the module, built on this first call) is converted to meta on the fly.
    return GhostTensor(symbolic_to_meta(tensor, placeholder))


def meta_weight(weight):
    """The meta stand-in of a weight during shape inference: of the weight's own class where it
    has one (a Keras-style Variable keeps ``assign``, ``value``, ``name``), else a plain meta tensor."""
    copy = getattr(weight, "meta_copy", None)
    return copy() if copy is not None else torch.empty_like(weight, device="meta")


def infer_outputs(module, args, kwargs):
    """:func:`plait.graph.infer.infer_outputs` with stand-ins resolved, symbolic arguments
    entering the meta run as ghosts and weights keeping their Variable API."""
    return _infer_outputs(module, *resolve((args, kwargs)), to_meta=_ghost_meta, weight_to_meta=meta_weight)
