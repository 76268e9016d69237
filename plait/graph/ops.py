"""Torch functions and plain ``torch.nn.Module``s applied to symbolic tensors.

``SymbolicTensor.__torch_function__`` sends every torch call that touches a symbolic tensor
here. Two cases:

* The call happens inside the ``forward`` of a plain module the user called on symbolic
  tensors (``nn.GELU()(x)``). Torch offers no hook that could answer such a call before its
  forward runs without patching torch for every module in the process, so the first torch op
  inside that forward looks up the stack for the outermost module call that received symbolic
  tensors, records one node for the *whole module* (wrapped in a ``TorchModuleWrapper``, its
  output shape taken from a meta-device run), and answers this op and every later op of that
  forward with the node's output. The forward thus returns the node's output. At run time the
  module's real ``forward`` runs, in whatever train/eval mode it is in.
* Anywhere else (``x + y``, ``torch.cat([x, y], -1)``, ``x.mean(-1)``), the call becomes a
  ``TorchOp`` node that calls the same function on real tensors.
"""

import sys

import torch

from plait.utils import nest

# Module calls already answered: id(frame of Module._call_impl) -> (frame, output).
_answered = {}


def _is_symbolic(value):
    from plait.graph.node import SymbolicTensor

    return isinstance(value, SymbolicTensor)


def _outermost_module_call():
    """The frame of the outermost ``nn.Module._call_impl`` that received symbolic tensors."""
    target = torch.nn.Module._call_impl.__code__
    frame, found = sys._getframe(2), None
    while frame is not None:
        if frame.f_code is target:
            local = frame.f_locals
            if any(_is_symbolic(v) for v in nest.flatten((local.get("args", ()), local.get("kwargs", {})))):
                found = frame
        frame = frame.f_back
    return found


def symbolic_torch_function(func, args, kwargs):
    if func in (torch.Tensor.size, torch.Tensor.dim) or getattr(func, "__name__", "") in ("size", "dim"):
        return (
            func(*args, **kwargs)
            if not _is_symbolic(args[0])
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
    outputs = _answered[id(frame)][1]
    if not _is_symbolic(outputs):
        raise TypeError(
            f"{type(frame.f_locals['self']).__name__} returns several tensors; called directly on "
            "symbolic tensors plait cannot tell which is which. Wrap it: "
            "`plait.layers.TorchModuleWrapper(module)(inputs)` returns them in order."
        )
    return outputs


def pending_module():
    """The plain module whose forward is being answered now, if any (for error messages)."""
    frame = sys._getframe(1)
    while frame is not None:
        if id(frame) in _answered:
            return frame.f_locals.get("self")
        frame = frame.f_back
    return None
