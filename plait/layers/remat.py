"""Rematerialized layers: what a :class:`plait.RematScope` does to the layers created in it.

A layer created inside a ``RematScope`` keeps the scope's mode (``layer.remat_mode``), as
Keras's layers do, and its forward becomes a :class:`RematForward`: while gradients are on,
the forward runs under ``torch.utils.checkpoint`` when the mode selects the layer, so only its
inputs are kept for the backward pass. Being the module's ``forward``, it applies however the
layer is called: eagerly, from a functional model's generated code, or under ``torch.compile``.
"""

import math

import torch

from plait import scopes
from plait.graph.node import SymbolicTensor
from plait.utils import nest


def attach(layer):
    """Give ``layer`` the open ``RematScope``'s mode (called when a layer is created)."""
    mode = scopes.current_remat_mode()
    layer.__dict__["remat_mode"] = mode
    if mode is not None and mode.mode is not None:
        layer.__dict__["forward"] = RematForward(layer, mode)


class RematForward:
    """A layer's forward, rematerialized where its ``RematMode`` says so.

    Args:
        layer: the layer.
        mode: its ``RematMode`` (``mode``, ``output_size_threshold``, ``layer_names``).
    """

    def __init__(self, layer, mode):
        self.layer, self.mode = layer, mode
        self._sizes = {}  # input shapes -> output element count, for "larger_than"

    def _plain(self):
        return type(self.layer).forward.__get__(self.layer)

    def __call__(self, *args, **kwargs):
        forward = self._plain()
        if not torch.is_grad_enabled() or self.__dict__.get("_measuring"):
            return forward(*args, **kwargs)
        kind = self.mode.mode
        if kind == "activations":
            return self._with_remat_activation(forward, args, kwargs)
        chosen = (
            kind == "full"
            or (kind == "list_of_layers" and self.layer.name in self.mode.layer_names)
            or (kind == "larger_than" and self._output_size(args, kwargs) > self.mode.output_size_threshold)
        )
        return scopes.remat(forward)(*args, **kwargs) if chosen else forward(*args, **kwargs)

    def _with_remat_activation(self, forward, args, kwargs):
        activation = getattr(self.layer, "activation", None)
        if activation is None:
            return forward(*args, **kwargs)
        # Swapped in the instance's dict for the call (an activation held as a module stays
        # registered where it is; the dict entry only shadows it meanwhile).
        had = "activation" in self.layer.__dict__
        self.layer.__dict__["activation"] = scopes.remat(activation)
        try:
            return forward(*args, **kwargs)
        finally:
            if had:
                self.layer.__dict__["activation"] = activation
            else:
                del self.layer.__dict__["activation"]

    def _output_size(self, args, kwargs):
        """The output's element count (unknown dims as 1, as Keras counts), inferred from the
        inputs' shapes without compute and kept per input shapes."""
        tensors = [t for t in nest.flatten((args, kwargs)) if isinstance(t, torch.Tensor)]
        key = tuple((tuple(t.shape), t.dtype) for t in tensors)
        if key not in self._sizes:

            def symbolic(value):
                if isinstance(value, torch.Tensor):
                    return SymbolicTensor(tuple(value.shape), value.dtype, "remat_probe")
                return value

            probe_args, probe_kwargs = nest.map_structure(symbolic, (args, kwargs))
            self._measuring = True
            try:
                spec = self.layer.compute_output_spec(*probe_args, **probe_kwargs)
            finally:
                self._measuring = False
            shapes = [s for s in _shapes(spec)]
            self._sizes[key] = sum(math.prod(d or 1 for d in shape) for shape in shapes)
        return self._sizes[key]


def _shapes(spec):
    """The shapes in a ``compute_output_spec`` result (``(shape, dtype)`` pairs, nested)."""
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], torch.dtype):
        return [spec[0]]
    if isinstance(spec, (list, tuple)):
        return [shape for item in spec for shape in _shapes(item)]
    if isinstance(spec, dict):
        return [shape for item in spec.values() for shape in _shapes(item)]
    return []
