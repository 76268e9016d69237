"""Torch functions and plain ``torch.nn.Module``s applied to symbolic tensors.

``SymbolicTensor.__torch_function__`` sends every torch call that touches a symbolic tensor
here. Two cases:

* The call happens inside the ``forward`` of a plain module the user called on symbolic
  tensors (``nn.GELU()(x)``, ``nn.TransformerEncoderLayer(...)(x)``). Torch offers no hook
  that could answer such a call before its forward runs without patching torch for every
  module in the process. So the first torch op inside that forward looks up the stack for the
  outermost module call that received symbolic tensors. It records one node for the *whole
  module*: a ``TorchModuleWrapper``, with its output shape taken from a meta-device run.
  The rest of the forward then really runs, on the meta device: each op returns a
  :class:`GhostTensor`, a meta tensor that converts the module's own parameters to meta as it
  meets them. So a forward that unpacks, slices or inspects its intermediate values still
  runs to its end. When the module's call returns, a profile hook (set for the length of
  that call only) maps each ghost it returned to the matching output of the node. From then on
  the ghost acts as that symbolic tensor. At run time the module's real ``forward`` runs, in
  whatever train/eval mode it is in.
* Anywhere else (``x + y``, ``torch.cat([x, y], -1)``, ``x.mean(-1)``), the call becomes a
  ``TorchOp`` node that calls the same function on real tensors.
"""

import sys

import torch

from plait.graph.infer import PLACEHOLDERS, symbolic_to_meta
from plait.graph.node import SymbolicTensor
from plait.utils import nest

# Module calls already answered: id(frame of Module._call_impl) -> (frame, output).
_answered = {}


def is_symbolic(value):
    """Whether ``value`` is a symbolic tensor, or a returned ghost that stands for one."""
    return isinstance(value, SymbolicTensor) or _stands_for_symbolic(value)


def _stands_for_symbolic(value):
    return isinstance(value, GhostTensor) and value.symbolic is not None


def _outermost_module_call(depth=2):
    """The frame of the outermost ``nn.Module._call_impl`` that received symbolic tensors."""
    target = torch.nn.Module._call_impl.__code__
    frame, found = sys._getframe(depth), None
    while frame is not None:
        if frame.f_code is target:
            local = frame.f_locals
            if any(is_symbolic(v) for v in nest.flatten((local.get("args", ()), local.get("kwargs", {})))):
                found = frame
        frame = frame.f_back
    return found


def in_plain_module_call():
    """Whether a plain module's forward, called on symbolic tensors, is running now."""
    return _outermost_module_call(depth=3) is not None


def symbolic_torch_function(func, args, kwargs):
    if func in (torch.Tensor.size, torch.Tensor.dim) or getattr(func, "__name__", "") in ("size", "dim"):
        return (
            func(*args, **kwargs)
            if not is_symbolic(args[0])
            else (args[0].size(*args[1:], **kwargs) if func is not torch.Tensor.dim else args[0].dim())
        )
    frame = _outermost_module_call()
    if frame is None:
        from plait.layers.torch_module import TorchOp

        return TorchOp(func)(*args, **kwargs)

    # Forget frames that have finished (they are no longer on the stack).
    live = set()
    f = frame
    while f is not None:
        live.add(id(f))
        f = f.f_back
    for key in [k for k in _answered if k not in live]:
        del _answered[key]
    if id(frame) not in _answered:
        from plait.layers.torch_module import wrap_module

        local = frame.f_locals
        module = local["self"]
        outputs = wrap_module(module)(*local.get("args", ()), **local.get("kwargs", {}))
        _answered[id(frame)] = (frame, outputs)
        _resolve_on_return(frame, outputs)
    return _on_meta(func, args, kwargs)


PLACEHOLDER = PLACEHOLDERS[0]  # the size of unknown dims in the ghost run


class GhostTensor(torch.Tensor):
    """A value computed inside a plain module's forward called on symbolic tensors.

    It is a meta tensor (shape and dtype, no storage), so the forward can inspect, unpack and
    slice it; its torch ops run on the meta device, with the module's parameters converted to
    meta as they are met. Once the module's call has returned, a ghost it returned stands for
    one output of the module's node (``ghost.symbolic``) and acts as that symbolic tensor.
    """

    symbolic = None

    @staticmethod
    def __new__(cls, meta):
        return torch.Tensor._make_subclass(cls, meta)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if any(_stands_for_symbolic(v) for v in nest.flatten((args, kwargs))):
            args, kwargs = resolve((args, kwargs))
            return symbolic_torch_function(func, args, kwargs)
        return _on_meta(func, args, kwargs)

    @property
    def shape(self):
        return self.symbolic.shape if self.symbolic is not None else super().shape

    def __repr__(self, **kwargs):
        if self.symbolic is not None:
            return repr(self.symbolic)
        return f"<GhostTensor shape={tuple(super().shape)} dtype={self.dtype}>"


def resolve(value):
    """``value`` with each returned ghost replaced by the symbolic tensor it stands for."""
    return nest.map_structure(lambda v: v.symbolic if _stands_for_symbolic(v) else v, value)


def _to_meta(value):
    value = resolve(value)
    if isinstance(value, SymbolicTensor):
        return symbolic_to_meta(value, PLACEHOLDER)
    if isinstance(value, GhostTensor):
        return value.as_subclass(torch.Tensor)
    if isinstance(value, torch.Tensor) and value.device.type != "meta":
        return torch.empty_like(value, device="meta")
    return value


def _on_meta(func, args, kwargs):
    args, kwargs = nest.map_structure(_to_meta, (args, kwargs))
    with torch._C.DisableTorchFunctionSubclass():
        out = func(*args, **kwargs)
    return nest.map_structure(
        lambda v: GhostTensor(v) if isinstance(v, torch.Tensor) and v.device.type == "meta" else v, out
    )


def _resolve_on_return(frame, outputs):
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


def pending_module():
    """The plain module whose forward is being answered now, if any (for error messages)."""
    frame = sys._getframe(1)
    while frame is not None:
        if id(frame) in _answered:
            return frame.f_locals.get("self")
        frame = frame.f_back
    return None
