"""Any ``torch.nn.Module``, or torch function, as a layer of a plait graph.

Importing this module installs :func:`symbolic_torch_function` as the graph core's handler of
torch calls on symbolic tensors (see :mod:`plait.layers.interop`).
"""

import weakref
from functools import reduce

import torch
from torch import nn

from plait.graph.node import set_torch_function_handler
from plait.graph.ops import is_symbolic
from plait.layers import interop
from plait.layers.base import Layer, _WeightSpec
from plait.utils.naming import to_snake_case, unique_name


class TorchModuleWrapper(Layer):
    """Use a plain ``torch.nn.Module`` as a layer (same name as Keras 3's wrapper).

    The output shape comes from a meta-device run (no compute); the module's parameters are
    the layer's trainable weights and its persistent buffers the non-trainable ones, counted
    by ``summary()`` and trained by ``fit``. Calling a plain module directly on symbolic
    tensors (``nn.GELU()(x)``) wraps it automatically. The module is put in inference mode
    (``eval()``), like every plait layer; ``fit`` switches it to training mode.

    Args:
        module: the ``torch.nn.Module`` to wrap.
        name: the layer's name (default: the module's class name in snake case).

    Example:
        >>> import plait, torch
        >>> x = plait.Input(shape=(10, 16))
        >>> block = torch.nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)
        >>> y = plait.layers.TorchModuleWrapper(block)(x)
        >>> y.shape
        (None, 10, 16)
    """

    def __init__(self, module, name=None, **kwargs):
        if not isinstance(module, nn.Module):
            raise TypeError(f"TorchModuleWrapper expects a torch.nn.Module. Received: {type(module).__name__}")
        super().__init__(name=name or _auto_name(module), **kwargs)
        self.module = module.eval()
        self._collect_weights()
        self.built = True

    def _collect_weights(self):
        module, self._weight_specs = self.module, []
        for attr, tensor in module.named_parameters():
            self._weight_specs.append(_WeightSpec(attr, "module." + attr, tensor.shape, None, True))
        for attr, tensor in module.named_buffers():
            owner = reduce(getattr, attr.split(".")[:-1], module)
            # torch keeps which buffers are persistent (saved) only in this private set; its public
            # state_dict() says it too, but runs the module's own state_dict hooks.
            if attr.split(".")[-1] not in owner._non_persistent_buffers_set:
                self._weight_specs.append(_WeightSpec(attr, "module." + attr, tensor.shape, None, False))

    def call(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def compute_output_spec(self, *args, **kwargs):
        outputs = interop.infer_outputs(self.module, args, kwargs)
        self._collect_weights()  # plait layers inside the module build on their first call
        return outputs

    def _sublayers(self):
        return []

    def _get_name(self):
        return type(self.module).__name__


def _auto_name(module):
    return unique_name(to_snake_case(type(module).__name__))


_wrappers = weakref.WeakKeyDictionary()


def wrap_module(module):
    """The one ``TorchModuleWrapper`` of ``module`` (so calling it twice shares it)."""
    if isinstance(module, Layer):
        return module
    if module not in _wrappers:
        _wrappers[module] = TorchModuleWrapper(module)
    return _wrappers[module]


class TorchOp(Layer):
    """A torch function applied to symbolic tensors (``x + y``, ``torch.cat``, ``x.mean(-1)``).

    Args:
        func: the torch function or ``torch.Tensor`` method.
    """

    is_operation = True  # Keras's `x + y` is an op node too: not in `model.layers`

    def __init__(self, func, name=None, **kwargs):
        self.func = func
        fname = getattr(func, "__name__", "op").strip("_") or "op"
        super().__init__(name=name or _auto_op_name(fname), **kwargs)
        self.built = True

    def call(self, *args, **kwargs):
        return self.func(*args, **kwargs)

    def get_config(self):
        config = super().get_config()
        config["function"] = (
            f"{getattr(self.func, '__module__', None) or 'torch.Tensor'}."
            f"{getattr(self.func, '__qualname__', self.func)}"
        )
        return config

    def _get_name(self):
        return "TorchOp"


def _auto_op_name(fname):
    return unique_name(fname)


def symbolic_torch_function(func, args, kwargs):
    """What a torch call on symbolic tensors becomes: a ``TorchOp`` node, or, inside a plain
    module's forward, one node for the whole module and a ghost-run step (:mod:`plait.layers.interop`)."""
    if func in (torch.Tensor.size, torch.Tensor.dim) or getattr(func, "__name__", "") in ("size", "dim"):
        return (
            func(*args, **kwargs)
            if not is_symbolic(args[0])
            else (args[0].size(*args[1:], **kwargs) if func is not torch.Tensor.dim else args[0].dim())
        )
    frame = interop.outermost_module_call()
    if frame is None:
        return TorchOp(func)(*args, **kwargs)
    interop.forget_finished_calls(frame)
    if id(frame) not in interop.answered:
        local = frame.f_locals
        outputs = wrap_module(local["self"])(*local.get("args", ()), **local.get("kwargs", {}))
        interop.answered[id(frame)] = (frame, outputs)
        interop.resolve_on_return(frame, outputs)
    return interop.on_meta(func, args, kwargs)


set_torch_function_handler(symbolic_torch_function, interop.check_use, interop.unknown_dim_size)
