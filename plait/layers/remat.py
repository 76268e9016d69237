"""Rematerialized layers: what a :class:`plait.RematScope` does to the layers created in it.

A layer created inside a ``RematScope`` keeps the scope's mode (``layer.remat_mode``), as
Keras's layers do, and its forward becomes :func:`remat_forward` bound to it: while gradients are on,
the forward runs under ``torch.utils.checkpoint`` when the mode selects the layer, so only its
inputs are kept for the backward pass. Being the module's ``forward``, it applies however the
layer is called: eagerly, from a functional model's generated code, under ``torch.compile``
or ``torch.export``.
"""

import math
import types

import torch

from plait import scopes
from plait.graph.node import SymbolicTensor
from plait.utils import nest


def attach(layer):
    """Give ``layer`` the open ``RematScope``'s mode (called when a layer is created)."""
    mode = scopes.current_remat_mode()
    layer.__dict__["remat_mode"] = mode
    if mode is not None and mode.mode is not None:
        # A method bound to the layer (not a closure): copy.deepcopy rebinds it to the copy, and
        # torch.export reads it as it reads any forward.
        layer.__dict__["forward"] = types.MethodType(remat_forward, layer)


def remat_forward(layer, *args, **kwargs):
    """``layer``'s own forward, under ``torch.utils.checkpoint`` where its ``remat_mode`` says."""
    forward = type(layer).forward.__get__(layer)
    if not torch.is_grad_enabled() or layer.__dict__.get("_remat_measuring"):
        return forward(*args, **kwargs)
    mode = layer.remat_mode
    if mode.mode == "activations":
        return _with_remat_activation(layer, forward, args, kwargs)
    chosen = (
        mode.mode == "full"
        or (mode.mode == "list_of_layers" and layer.name in mode.layer_names)
        or (mode.mode == "larger_than" and _output_size(layer, args, kwargs) > mode.output_size_threshold)
    )
    return scopes.remat(forward)(*args, **kwargs) if chosen else forward(*args, **kwargs)


def _with_remat_activation(layer, forward, args, kwargs):
    activation = getattr(layer, "activation", None)
    if activation is None:
        return forward(*args, **kwargs)
    # Swapped in the instance's dict for the call (an activation held as a module stays
    # registered where it is; the dict entry only shadows it meanwhile).
    had = "activation" in layer.__dict__
    layer.__dict__["activation"] = scopes.remat(activation)
    try:
        return forward(*args, **kwargs)
    finally:
        if had:
            layer.__dict__["activation"] = activation
        else:
            del layer.__dict__["activation"]


def _output_size(layer, args, kwargs):
    """The output's element count (unknown dims as 1, as Keras counts), inferred from the inputs'
    shapes without compute and kept per input shapes."""
    tensors = [t for t in nest.flatten((args, kwargs)) if isinstance(t, torch.Tensor)]
    key = tuple((tuple(t.shape), t.dtype) for t in tensors)
    sizes = layer.__dict__.setdefault("_remat_sizes", {})
    if key not in sizes:

        def symbolic(value):
            if isinstance(value, torch.Tensor):
                return SymbolicTensor(tuple(value.shape), value.dtype, "remat_probe")
            return value

        probe_args, probe_kwargs = nest.map_structure(symbolic, (args, kwargs))
        layer.__dict__["_remat_measuring"] = True
        try:
            spec = layer.compute_output_spec(*probe_args, **probe_kwargs)
        finally:
            layer.__dict__["_remat_measuring"] = False
        sizes[key] = sum(math.prod(d or 1 for d in shape) for shape in _shapes(spec))
    return sizes[key]


def _shapes(spec):
    """The shapes in a ``compute_output_spec`` result (``(shape, dtype)`` pairs, nested)."""
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], torch.dtype):
        return [spec[0]]
    if isinstance(spec, (list, tuple)):
        return [shape for item in spec for shape in _shapes(item)]
    if isinstance(spec, dict):
        return [shape for item in spec.values() for shape in _shapes(item)]
    return []
