"""How a layer call's arguments are read: Keras's rules, for every layer.

* The inputs are the first argument of ``call``: given positionally, or by that parameter's
  name (``mha(query=q, value=v)``, ``dense(inputs=x)``). :func:`inputs_first` moves a keyword
  first argument into the first position, so the rest of plait sees one form.
* Every tensor among a call's arguments is an input of the call (``value``, ``key``,
  ``attention_mask``, ``initial_state``): the graph node lists them all, which
  :class:`~plait.graph.node.Node` does by flattening args and kwargs. :func:`tensor_arguments`
  names them, for ``build``.
* ``build`` is called with what it asks for (:func:`build_arguments`): nothing when it takes no
  argument; the first tensor argument's shape when it takes one (whatever its name); and when it
  takes several, one shape per ``<arg>_shape`` parameter, matched by name to ``call``'s arguments
  (``build(self, query_shape, value_shape)``).

Example:
    >>> import inspect
    >>> def call(self, query, value, key=None, mask=None): ...
    >>> inputs_first(inspect.signature(call), (), {"query": 1, "value": 2})
    ((1,), {'value': 2})
"""

import inspect

import numpy as np
import torch

from plait.graph.node import SymbolicTensor
from plait.utils import nest

# Call arguments that are never inputs to build from.
_NOT_INPUTS = ("mask", "training")
_SLOTS = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _named_parameters(signature):
    """The parameters after ``self`` that can be passed by name or position."""
    params = list(signature.parameters.values())[1:]
    return [p for p in params if p.kind in _SLOTS]


def inputs_first(signature, args, kwargs):
    """``(args, kwargs)`` with ``call``'s first parameter given positionally.

    Args:
        signature: ``inspect.signature`` of the layer class's ``call`` (with ``self``), or None.
        args, kwargs: the arguments the layer was called with.
    """
    if args or signature is None:
        return args, kwargs
    params = _named_parameters(signature)
    if params and params[0].name in kwargs and params[0].kind is not inspect.Parameter.KEYWORD_ONLY:
        kwargs = dict(kwargs)
        return (kwargs.pop(params[0].name),), kwargs
    return args, kwargs


def is_tensor(value):
    return isinstance(value, (torch.Tensor, SymbolicTensor, np.ndarray))


def tensor_arguments(signature, args, kwargs):
    """``{name: value}`` of the call's tensor arguments (a tensor, or a list/dict of tensors), in
    ``call``'s order; the mask and training flags are left out. Without a usable signature, the
    first argument alone, as ``"inputs"``."""
    bound = None
    if signature is not None:
        try:
            bound = signature.bind(None, *args, **kwargs).arguments
        except TypeError:
            bound = None
    if bound is None:
        return {"inputs": args[0]} if args else {}
    params = signature.parameters
    found = {}
    for name, value in list(bound.items())[1:]:
        kind = params[name].kind
        if name in _NOT_INPUTS or kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        leaves = nest.flatten(value)
        if leaves and all(is_tensor(v) or v is None for v in leaves) and any(is_tensor(v) for v in leaves):
            found[name] = value
    if not found and args:
        found["inputs"] = args[0]
    return found


def build_arguments(build, shapes, call_names, layer):
    """``(args, kwargs)`` for ``build`` given the call's input ``shapes`` (``{name: shape}``).

    Args:
        build: the layer's bound ``build`` method.
        shapes: the shapes of the call's tensor arguments, in ``call``'s order.
        call_names: the names of ``call``'s parameters (None when unknown).
        layer: the layer, for error messages.
    """
    params = [p for p in inspect.signature(build).parameters.values() if p.kind in _SLOTS]
    if not params:
        return (), {}
    first = next(iter(shapes.values()), None)
    if len(params) == 1:
        return (first,), {}
    kwargs = {}
    for param in params:
        arg = param.name[: -len("_shape")] if param.name.endswith("_shape") else None
        if arg is None or (call_names is not None and arg not in call_names):
            raise ValueError(
                f"Layer '{layer.name}' ({type(layer).__name__}): a build() with several parameters takes one "
                "`<arg>_shape` per tensor argument of call(), e.g. build(self, query_shape, value_shape) for "
                f"call(self, query, value). Received build() parameter '{param.name}'"
                + ("." if arg is None else f", but call() has no argument '{arg}'.")
            )
        if arg in shapes:
            kwargs[param.name] = shapes[arg]
        elif param.default is inspect.Parameter.empty:
            kwargs[param.name] = None  # an optional call argument left out (Keras passes None too)
    return (), kwargs
