"""The ``Layer`` base class: a ``torch.nn.Module`` with Keras's contract.

A layer's life:

* ``__init__`` validates and stores settings (no weights yet, as in Keras);
* ``build(input_shape)`` creates weights once the input shape is known, with
  :meth:`Layer.add_weight` (Keras shape and initializer; stored in whatever layout the torch
  kernel wants);
* ``call(inputs, ...)`` holds the math; it is also the module's ``forward``;
* ``compute_output_shape(input_shape)`` gives the output shape without compute, so calling a
  layer on symbolic tensors is free. A layer that does not define it gets its shape from a
  ``meta``-device run (see :mod:`plait.graph.infer`).

Calling a layer on :class:`~plait.graph.node.SymbolicTensor` records a node in the graph;
calling it on torch tensors or numpy arrays computes.
"""

import functools
import inspect
import threading
import weakref
from functools import reduce

import numpy as np
import torch
from torch import nn

from plait import initializers, scopes
from plait.distribution import sharding
from plait.graph import node as graph_node
from plait.graph.node import Node, SymbolicTensor, keras_dtype, torch_dtype
from plait.graph.ops import is_symbolic, resolve
from plait.layers import call_args, keras_config, remat
from plait.layers.interop import infer_outputs, meta_weight
from plait.layers.variables import Variable
from plait.utils import array_to_tensor, nest
from plait.utils.naming import to_snake_case, unique_name, validate_name


class InputSpec:
    """What a built layer accepts: a rank and fixed sizes on some axes.

    Args:
        ndim: exact rank, or None.
        min_ndim: minimum rank, or None.
        axes: ``{axis: size}`` that must match (negative axes count from the end).
    """

    def __init__(self, ndim=None, min_ndim=None, axes=None):
        self.ndim, self.min_ndim, self.axes = ndim, min_ndim, dict(axes or {})

    def check(self, layer, shape, index=0):
        shape = tuple(shape)
        where = f"Input {index} of layer '{layer.name}' is incompatible with the layer"
        if self.ndim is not None and len(shape) != self.ndim:
            raise ValueError(
                f"{where}: expected ndim={self.ndim}, found ndim={len(shape)}. Full shape received: {_fmt(shape)}"
            )
        if self.min_ndim is not None and len(shape) < self.min_ndim:
            raise ValueError(
                f"{where}: expected min_ndim={self.min_ndim}, found ndim={len(shape)}. "
                f"Full shape received: {_fmt(shape)}"
            )
        for axis, size in self.axes.items():
            if -len(shape) <= axis < len(shape):
                got = shape[axis]
                if got is not None and size is not None and got != size:
                    raise ValueError(
                        f"{where}: expected axis {axis} of input shape to have value {size}, "
                        f"but received input with shape {_fmt(shape)}"
                    )


def _fmt(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


class _WeightSpec:
    """Where a Keras weight lives: attribute ``attr`` of the layer, stored permuted by ``perm``."""

    __slots__ = ("name", "attr", "keras_shape", "perm", "trainable", "created_trainable", "regularizer", "constraint")

    def __init__(self, name, attr, keras_shape, perm, trainable, regularizer=None, constraint=None):
        self.name, self.attr, self.keras_shape = name, attr, tuple(keras_shape)
        self.perm, self.trainable = perm, trainable
        # Keras lists a weight by how it was created, even once frozen (LoRA's kernel).
        self.created_trainable = trainable
        self.regularizer, self.constraint = regularizer, constraint

    def get(self, layer):
        """The stored tensor (``attr`` may be a dotted path into a wrapped module)."""
        return reduce(getattr, self.attr.split("."), layer)

    def keras_view(self, stored):
        """The stored tensor seen in Keras's layout (a view; gradients flow through it)."""
        if self.perm is None:
            return stored
        return stored.permute([self.perm.index(i) for i in range(len(self.perm))])

    def to_keras(self, stored):
        return self.keras_view(stored.detach())

    def to_storage(self, keras_value):
        value = torch.as_tensor(keras_value)
        return value.permute(self.perm).contiguous() if self.perm is not None else value

    def constrain_(self, stored):
        """Apply the constraint to ``stored`` (the stored tensor, or a view of it) in place."""
        stored.copy_(self.to_storage(self.constraint(self.keras_view(stored))))


class BufferVariable(torch.Tensor):
    """A non-trainable weight a Keras user adds (``add_weight(..., trainable=False)``): a buffer
    (not a parameter, so optimizers never see it) with Keras's Variable API (``assign_add``,
    ``numpy()``, ``name``, ``path``), as :class:`~plait.layers.variables.Variable` has it."""

    # Results of torch ops on it are plain tensors, as for nn.Parameter.
    __torch_function__ = torch._C._disabled_torch_function_impl

    @staticmethod
    def wrap(data, name, layer_name, spec):
        variable = torch.Tensor._make_subclass(BufferVariable, data.detach(), False)
        variable._keras_name, variable._layer_name, variable._spec = name, layer_name, spec
        return variable

    trainable = False
    name = Variable.name
    path = Variable.path
    keras_shape = Variable.keras_shape
    value = Variable.value
    dtype_name = Variable.dtype_name
    _keras_view = Variable._keras_view
    numpy = Variable.numpy

    def __array__(self, dtype=None, copy=None):
        array = self.numpy().copy()  # numpy() shares the buffer's memory; np.array(v) must not
        return array if dtype is None else array.astype(dtype)

    assign = Variable.assign
    assign_add = Variable.assign_add
    assign_sub = Variable.assign_sub
    __repr__ = Variable.__repr__

    def with_data(self, data):
        """A variable over ``data`` with this one's name, layer and layout (what a buffer moved by
        ``.to(device)`` becomes again)."""
        return BufferVariable.wrap(data, self._keras_name, self._layer_name, self._spec)

    def meta_copy(self):
        """This variable on the ``meta`` device, same name and layout (see ``Variable.meta_copy``)."""
        meta = torch.empty_like(self, device="meta").as_subclass(torch.Tensor)
        return BufferVariable.wrap(meta, self._keras_name, self._layer_name, self._spec)

    def __deepcopy__(self, memo):
        if id(self) not in memo:
            memo[id(self)] = BufferVariable.wrap(self.detach().clone(), self._keras_name, self._layer_name, self._spec)
        return memo[id(self)]

    def __reduce_ex__(self, protocol):
        # torch.save / state_dict copies: a plain tensor (nothing of plait's class is stored).
        return torch.Tensor.__reduce_ex__(self.detach().as_subclass(torch.Tensor), protocol)


def _forward_with_training(call, position):
    """``call`` with ``training`` filled from the module's mode when the caller gives none."""

    @functools.wraps(call)
    def forward(self, *args, **kwargs):
        if len(args) <= position and kwargs.get("training") is None:
            kwargs["training"] = self.training
        return call(self, *args, **kwargs)

    return forward


# How deep in nested layer calls this thread is: only the outermost call starts the losses
# afresh. Per thread, because a background compile calls a model's copy while the fit's thread
# calls the model: a shared count would keep the fit's outermost calls from clearing.
_CALLS = threading.local()


def _call_depth():
    return getattr(_CALLS, "depth", 0)  # getattr, not a class default: dynamo guards on this form


def _clear_losses(layer):
    for module in layer.modules():
        penalties = getattr(module, "_activity_penalties", None)
        if penalties:
            penalties.clear()


def _has_symbolic(args, kwargs):
    # A GhostTensor that a plain module returned stands for a symbolic tensor (plait.layers.interop).
    return any(is_symbolic(t) for t in nest.flatten((args, kwargs)))


def _constructor_arguments(cls, args, kwargs):
    """The arguments a layer was made with, when all are plain JSON values (else None): what a
    custom layer without ``get_config`` saves, as Keras's auto-config."""
    if not args and not kwargs:
        return {}
    try:
        signature = inspect.signature(cls.__init__)
        arguments = dict(signature.bind(None, *args, **kwargs).arguments)
    except (TypeError, ValueError):
        return None
    arguments.pop(next(iter(arguments)))  # self
    for name, param in signature.parameters.items():
        if param.kind is param.VAR_POSITIONAL and arguments.get(name):
            return None
        if param.kind is param.VAR_KEYWORD:
            arguments.update(arguments.pop(name, {}))
        elif param.kind is param.VAR_POSITIONAL:
            arguments.pop(name, None)
    return arguments if nest.is_plain(arguments) else None


def _on_meta(inputs):
    return any(isinstance(t, torch.Tensor) and t.device.type == "meta" for t in nest.flatten(inputs))


def _mask_stand_in(tensor):
    """What a symbolic tensor's Keras mask looks like during shape inference: a bool tensor of its
    leading dims (``(batch, steps)`` for ``(batch, steps, features)``), or None without a mask."""
    if not isinstance(tensor, SymbolicTensor) or not tensor.has_mask:
        return None
    shape = tensor.shape[:-1] if len(tensor.shape) > 2 else tensor.shape
    return SymbolicTensor(shape, torch.bool, f"{tensor.name}_mask")


def _as_variable(layer, spec):
    """A weight with Keras's Variable API: trainable weights are Variables already; a plain buffer
    (plait's own non-trainable weights) is seen through a BufferVariable sharing its storage."""
    stored = spec.get(layer)
    if isinstance(stored, (Variable, BufferVariable)):
        return stored
    return BufferVariable.wrap(stored, spec.name, layer.name, spec)


def _keras_masks(inputs):
    """The masks that ``inputs`` carry as ``_keras_mask`` (Keras's eager mask): one mask, or a
    list for a list of inputs; None when none carries one."""
    if isinstance(inputs, torch.Tensor):
        return getattr(inputs, "_keras_mask", None)
    if isinstance(inputs, (list, tuple)):
        masks = [getattr(t, "_keras_mask", None) if isinstance(t, torch.Tensor) else None for t in inputs]
        return masks if any(m is not None for m in masks) else None
    return None


def _attach_masks(outputs, mask):
    """Set ``_keras_mask`` on the outputs that have none (one mask, or one per output)."""
    if mask is None:
        return
    outs = nest.flatten(outputs)
    masks = list(mask) if isinstance(mask, (list, tuple)) else [mask] * len(outs)
    for out, m in zip(outs, masks):
        if isinstance(out, torch.Tensor) and m is not None and getattr(out, "_keras_mask", None) is None:
            out._keras_mask = m


def _check_tensor_leaves(layer, inputs):
    """Layers compute on tensors: a string, None or other object fails here, naming the layer."""
    for leaf in nest.flatten(inputs):
        if isinstance(leaf, (str, bytes)) or leaf is None:
            raise TypeError(
                f"Layer '{layer.name}' ({type(layer).__name__}) must be called on tensors (a torch.Tensor, a numpy "
                f"array or plait.Input). Received: inputs={leaf!r:.60} (of type {type(leaf).__name__})"
            )


def _to_tensor(value):
    if isinstance(value, np.ndarray):
        tensor = array_to_tensor(value)
        return tensor.float() if tensor.is_floating_point() else tensor
    return value


class _NodeAttribute:
    """``layer.input`` / ``output`` / ``input_shape`` / ``output_shape``: read from the layer's
    first call on symbolic tensors, as Keras's. A non-data descriptor, so a layer may still set an
    attribute of that name itself (``Lambda.output_shape``)."""

    def __init__(self, what, shape=False):
        self.what, self.shape = what, shape

    def __get__(self, layer, owner=None):
        if layer is None:
            return self
        nodes = layer.__dict__.get("_inbound_nodes") or []
        if not nodes:
            raise AttributeError(
                f"The layer '{layer.name}' has never been called on symbolic tensors (plait.Input) and thus has "
                f"no defined {self.what}{'_shape' if self.shape else ''}."
            )
        node = nodes[0]
        values = list(node.input_tensors) if self.what == "input" else nest.flatten(node.outputs)
        if self.shape:
            values = [tuple(v.shape) for v in values]
        return values[0] if len(values) == 1 else values


def _all_modules(values):
    return bool(values) and all(isinstance(v, nn.Module) for v in values)


class _PendingList(list):
    """An empty list set as a public attribute of a user's layer (``self.blocks = []``): the
    first layer appended to it turns the attribute into an ``nn.ModuleList``, so layers built up
    in a loop are tracked (trained, saved), as a Keras layer tracks its lists."""

    __slots__ = ("_owner", "_name")

    def __init__(self, owner, name):
        super().__init__()
        self._owner, self._name = weakref.ref(owner), name

    def __reduce__(self):
        # Pickled and copied as the plain list it is (its owner is a weak reference).
        return (list, (list(self),))

    def _grow(self, method, *args):
        getattr(list, method)(self, *args)
        owner = self._owner() if self._owner is not None else None
        if owner is not None and _all_modules(self) and owner.__dict__.get(self._name) is self:
            del owner.__dict__[self._name]
            nn.Module.__setattr__(owner, self._name, nn.ModuleList(self))

    def append(self, value):
        self._grow("append", value)

    def extend(self, values):
        self._grow("extend", list(values))

    def insert(self, index, value):
        self._grow("insert", index, value)

    def __iadd__(self, values):
        self._grow("extend", list(values))
        return self


# The build wrappers made by ``_marking_built`` (a subclass's inherited one is not wrapped again).
_MARKING_BUILDS = weakref.WeakSet()


def _marking_built(build):
    signature = inspect.signature(build)

    @functools.wraps(build)
    def build_and_mark(self, *args, **kwargs):
        # Keras's build config records what build() was given (shapes, or a user's own arguments).
        try:
            given = dict(signature.bind(self, *args, **kwargs).arguments)
            given.pop(next(iter(signature.parameters)))
            self.__dict__["_build_args"] = given
        except TypeError:
            pass  # build itself reports the mistake
        result = build(self, *args, **kwargs)
        self.built = True
        return result

    _MARKING_BUILDS.add(build_and_mark)
    return build_and_mark


def child_layers(module):
    """The layers directly held by ``module``: its ``Layer`` children and the layers in its
    ``nn.ModuleList``/``nn.ModuleDict`` children (what Keras's lists and dicts of layers become)."""
    found = []
    for child in module.children():
        if isinstance(child, Layer):
            found.append(child)
        elif isinstance(child, (nn.ModuleList, nn.ModuleDict)):
            found += child_layers(child)
    return found


def _tracked(layer, name, value):
    """What ``layer.<name> = value`` stores. Keras tracks the layers a layer holds in lists and
    dicts; torch only tracks ``nn.ModuleList``/``nn.ModuleDict``. So a list or tuple made only of
    modules becomes an ``nn.ModuleList``, a dict of them (str keys) an ``nn.ModuleDict``, and an
    empty list on a user's layer waits for its first layer; otherwise their weights would be
    neither trained nor saved. Private names (``_x``) and plait's own layers' lists are left as is.
    """
    if name.startswith("_"):
        return value
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple) and _all_modules(value):
        return nn.ModuleList(value)
    if isinstance(value, dict) and type(value) is dict and _all_modules(list(value.values())):
        if all(isinstance(k, str) and k and "." not in k for k in value):
            return nn.ModuleDict(value)
    if type(value) is list and not value and not type(layer).__module__.startswith("plait."):
        return _PendingList(layer, name)
    return value


class Layer(nn.Module):
    """Base class of all plait layers (and models).

    Args:
        name: the layer's name; a unique one (``dense``, ``dense_1``, ...) is made if omitted.
        trainable: whether its weights are trained.
        dtype: the dtype of its weights (default ``float32``).
        input_shape: shape without the batch dim; only meaningful for the first layer of a
            ``Sequential`` (Keras 2 style; an ``Input`` first is the Keras 3 style).
        batch_size: with ``input_shape``, a fixed batch size.

    Layers start in inference mode (``layer.training`` is False), as a Keras layer called
    without ``training=`` behaves; ``fit`` switches to training mode for its steps, and
    ``layer(x, training=True)`` or ``module.train()`` do so too.

    Example:
        >>> import torch, plait
        >>> class Scale(plait.layers.Layer):
        ...     def build(self, input_shape):
        ...         self.w = self.add_weight("w", (input_shape[-1],), "ones")
        ...     def call(self, x):
        ...         return x * self.w
        >>> Scale()(torch.ones(2, 3)).shape
        torch.Size([2, 3])
    """

    _call_takes_training = False
    _call_takes_mask = False
    _call_signature = None  # inspect.Signature of the class's ``call`` (self included)
    _call_takes_arg_masks = False  # whether ``call`` has ``<arg>_mask`` parameters (``query_mask``)
    input = _NodeAttribute("input")
    output = _NodeAttribute("output")
    input_shape = _NodeAttribute("input", shape=True)
    output_shape = _NodeAttribute("output", shape=True)
    # Keras's flag: a layer that supports masking passes its input's mask on unchanged.
    supports_masking = False
    # An op node of a functional graph (a ``plait.ops`` call, ``x + y``): Keras lists it in
    # ``model.operations`` and the summary, not in ``model.layers``.
    is_operation = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # A Keras user writes `call`; torch runs `forward`. Alias them so neither is a wrapper.
        call = cls.__dict__.get("call")
        if call is not None:
            cls._call_signature = inspect.signature(call)
            params = list(cls._call_signature.parameters)
            cls._call_takes_training = "training" in params
            cls._call_takes_mask = "mask" in params
            cls._call_takes_arg_masks = any(p.endswith("_mask") and p != "mask" for p in params)
            if "forward" not in cls.__dict__:
                takes = cls._call_takes_training and not cls.__module__.startswith("plait.")
                # A user's `call(..., training=None)` gets the mode (fit: True, predict: False), as
                # Keras passes it, also when a functional graph calls the layer as a module.
                cls.forward = _forward_with_training(call, params.index("training") - 1) if takes else call
        # As Keras's: `layer.build(shape)` called by hand leaves the layer built, so its first
        # call keeps the weights that build made.
        build = cls.__dict__.get("build")
        if build is not None and build not in _MARKING_BUILDS:
            cls.build = _marking_built(build)

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        object.__setattr__(self, "_auto_config", _constructor_arguments(cls, args, kwargs))
        return self

    def __init__(
        self,
        name=None,
        trainable=True,
        dtype=None,
        input_shape=None,
        input_dim=None,
        batch_size=None,
        activity_regularizer=None,
        **kwargs,
    ):
        super().__init__()
        if kwargs:
            raise TypeError(
                f"{type(self).__name__}() got unexpected keyword argument(s) "
                f"{sorted(kwargs)}. Check the spelling against Keras's signature."
            )
        self.name = validate_name(name) if name is not None else unique_name(to_snake_case(type(self).__name__))
        self.built = False
        from plait import mixed_precision

        if isinstance(dtype, dict):  # a DTypePolicy as Keras serializes it
            dtype = keras_config.plain_dtype(dtype, f"Layer '{self.name}'")
        if dtype is None or isinstance(dtype, mixed_precision.DTypePolicy) or str(dtype).startswith("mixed_"):
            # A policy (the global one by default): float32 weights, maybe low-precision compute.
            self.dtype_policy = mixed_precision.DTypePolicy(dtype or mixed_precision.global_policy())
            self.torch_dtype = self.dtype_policy.variable_dtype
        else:
            self.torch_dtype, self.dtype_policy = torch_dtype(dtype), mixed_precision.DTypePolicy("float32")
        self._trainable = bool(trainable)
        self._weight_specs = []
        self._auto_named = {}  # id(weight) -> attribute, for weights added without a name
        self._inbound_nodes = []
        self.input_spec = None
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        self._batch_input_shape = (batch_size, *tuple(input_shape)) if input_shape is not None else None
        self.training = False
        from plait import regularizers

        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._activity_penalties = []
        if self.activity_regularizer is not None:
            self.register_forward_hook(_record_activity_penalty)
        remat.attach(self)  # an open RematScope's mode, as Keras's layers take it when made

    # ----------------------------------------------------------------- weights
    def add_weight(
        self,
        shape=None,
        initializer=None,
        dtype=None,
        trainable=True,
        autocast=True,
        regularizer=None,
        constraint=None,
        aggregation="none",
        overwrite_with_gradient=False,
        name=None,
        *,
        perm=None,
    ):
        """Create a weight of Keras shape ``shape``, initialised as Keras does (Keras's signature).

        Args:
            shape: the Keras shape (e.g. Dense kernel ``(in, out)``); ``()`` if None.
            initializer: name, instance or callable ``(shape, dtype) -> tensor``; default
                ``"glorot_uniform"`` (``"zeros"`` for integer and bool dtypes), as Keras.
            dtype: the weight's dtype (default: the layer's).
            trainable: trainable weights are ``nn.Parameter``; non-trainable ones are buffers.
            autocast, aggregation, overwrite_with_gradient: accepted for Keras compatibility.
            regularizer: a penalty on the weight added to the training loss (``"l2"``, ...).
            constraint: applied to the weight after each optimizer step (``"max_norm"``, ...).
            name: the Keras weight name; ``variable``, ``variable_1``, ... if omitted. Assigning the
                weight to an attribute (``self.w = self.add_weight(...)``) registers it under that
                attribute (the ``state_dict`` key).
            perm: (plait) storage layout as a permutation of the Keras shape (``(1, 0)`` stores a
                Dense kernel as torch's ``(out, in)``), or None to store as Keras does.

        plait's own layers call ``add_weight(name, shape, initializer, ...)`` positionally (a
        string first); that form is kept.

        Returns:
            the stored weight (a :class:`~plait.layers.variables.Variable`, or a buffer).

        Example:
            >>> import plait
            >>> layer = plait.layers.Layer()
            >>> w = layer.add_weight(shape=(2, 3), initializer="ones")
            >>> w.name, w.keras_shape, w.dtype_name
            ('variable', (2, 3), 'float32')
        """
        keras_style = not isinstance(shape, str)
        if not keras_style:  # plait's positional form (name, shape, initializer), other arguments by keyword
            name, shape, initializer, dtype = shape, initializer, dtype if dtype is not None else "glorot_uniform", None
        from plait import constraints, regularizers

        shape = tuple(shape) if shape is not None else ()
        weight_dtype = torch_dtype(dtype) if dtype is not None else self.torch_dtype
        if initializer is None:
            is_float = weight_dtype.is_floating_point or weight_dtype.is_complex
            initializer = "glorot_uniform" if is_float else "zeros"
        attr = name
        if name is None:
            attr = name = self._auto_weight_name()
        elif keras_style and (name in self._parameters or name in self._buffers or not name.isidentifier()):
            attr = self._auto_weight_name()  # a Keras name need not be an attribute name, nor unique
        value = initializers.get(initializer)(shape, dtype=weight_dtype)
        if isinstance(value, torch.Tensor) and value.dtype != weight_dtype:
            value = value.to(weight_dtype)
        spec = _WeightSpec(
            name,
            attr,
            shape,
            tuple(perm) if perm else None,
            trainable,
            regularizers.get(regularizer),
            constraints.get(constraint),
        )
        stored = spec.to_storage(value)
        if trainable:
            variable = Variable(stored, self._trainable, name=name, layer_name=scopes.scoped(self.name), spec=spec)
            nn.Module.__setattr__(self, attr, variable)
        elif keras_style:
            # A Keras user's non-trainable weight is a Variable too (``assign_add``), kept a buffer.
            self.register_buffer(attr, BufferVariable.wrap(stored, name, scopes.scoped(self.name), spec))
        else:
            self.register_buffer(attr, stored)
        if keras_style:
            self._auto_named[id(getattr(self, attr))] = attr
        self._weight_specs.append(spec)
        return getattr(self, attr)

    def _auto_weight_name(self):
        taken = (
            {s.attr for s in self._weight_specs}
            | {s.name for s in self._weight_specs}
            | set(self._parameters)
            | set(self._buffers)
        )
        name, i = "variable", 0
        while name in taken:
            i += 1
            name = f"variable_{i}"
        return name

    def __setattr__(self, name, value):
        # ``self.w = self.add_weight(...)``: the weight moves to attribute ``w`` (one state_dict
        # key), as Keras tracks a weight by the attribute that holds it.
        auto = self.__dict__.get("_auto_named")
        if auto and isinstance(value, torch.Tensor) and id(value) in auto and auto[id(value)] != name:
            old = auto.pop(id(value))
            is_buffer = old in self._buffers
            self._parameters.pop(old, None)
            self._buffers.pop(old, None)
            for spec in self._weight_specs:
                if spec.attr == old:
                    spec.attr = name
            if is_buffer:
                self.register_buffer(name, value)
                return
        super().__setattr__(name, _tracked(self, name, value))

    def _apply(self, fn, *args, **kwargs):
        # ``.to(device)`` makes buffers plain tensors again: keep Keras-style buffer Variables.
        wrapped = {k: b for k, b in self._buffers.items() if isinstance(b, BufferVariable)}
        out = super()._apply(fn, *args, **kwargs)
        for key, old in wrapped.items():
            new = self._buffers.get(key)
            if new is not None and not isinstance(new, BufferVariable):
                self._buffers[key] = old.with_data(new)
                self._auto_named.pop(id(old), None)
        return out

    # ----------------------------------------------------------------- losses
    def add_loss(self, loss):
        """Add a loss tensor to ``layer.losses`` (Keras's ``add_loss``): ``fit`` adds the losses
        of the last forward pass to the training loss. Losses are kept from the last call of the
        outermost layer only (each outer call starts them afresh), as in Keras.

        Example:
            >>> import torch, plait
            >>> class Penalised(plait.layers.Layer):
            ...     def call(self, x):
            ...         self.add_loss(x.abs().mean())
            ...         return x
            >>> layer = Penalised()
            >>> _ = layer(torch.tensor([[1.0, -3.0]]))
            >>> layer.losses
            [tensor(2.)]
        """
        for value in nest.flatten(loss):
            if is_symbolic(value) or (isinstance(value, torch.Tensor) and value.device.type == "meta"):
                continue  # a symbolic call (building a functional model) records no loss, as Keras
            value = value if isinstance(value, torch.Tensor) else torch.as_tensor(value, dtype=torch.float32)
            scope = scopes.get_stateless_scope()
            if scope is not None:  # as Keras: a stateless call keeps no loss; its scope may collect it
                if scope.collect_losses:
                    scope.add_loss(value)
                continue
            self._activity_penalties.append(value)

    def _sublayers(self):
        return child_layers(self)

    @property
    def inbound_nodes(self):
        """The nodes of the layer's calls on symbolic tensors, in call order (Keras 2's
        ``layer.inbound_nodes``): a new list, so changing it leaves the layer as it is.

        Example:
            >>> import plait
            >>> dense = plait.layers.Dense(2)
            >>> y = dense(dense(plait.Input(shape=(2,))))
            >>> len(dense.inbound_nodes)
            2
        """
        return list(self._inbound_nodes)

    def record_node(self, node):
        """Record ``node``, a call of this layer made by the graph (a model built from tensors
        in the middle of another graph repeats the calls after them), as the layer's next
        inbound node, as if the layer had been called."""
        if node.layer is not self:
            raise ValueError(f"Layer '{self.name}' cannot record a node of layer '{node.layer.name}'.")
        self._inbound_nodes.append(node)

    @property
    def batch_input_shape(self):
        """The batch shape given when the layer was made (``input_shape=`` and ``batch_size=``,
        Keras 2 style), or None: where a ``Sequential`` without an ``Input`` starts.

        Example:
            >>> import plait
            >>> plait.layers.Dense(2, input_shape=(3,)).batch_input_shape
            (None, 3)
        """
        return self._batch_input_shape

    def type_name(self):
        """The layer's type as ``summary()`` and ``repr`` show it: its class name, or what
        stands for it (an op node's function, ``Add`` for ``plait.ops.add``).

        Example:
            >>> import plait
            >>> plait.layers.Dense(2).type_name()
            'Dense'
        """
        return self._get_name()

    @property
    def compute_dtype(self):
        """Keras's name of the dtype the layer computes in (``"bfloat16"`` under ``mixed_bfloat16``)."""
        policy = self.dtype_policy
        return keras_dtype(policy.compute_dtype if policy.is_mixed else self.torch_dtype)

    @property
    def variable_dtype(self):
        """Keras's name of the dtype of the layer's weights (``"float32"``)."""
        return keras_dtype(self.torch_dtype)

    @property
    def dtype(self):
        """Keras's name of the weights' dtype (``"float32"``, Keras's ``layer.dtype``); the
        ``torch.dtype`` is ``layer.torch_dtype``."""
        return keras_dtype(self.torch_dtype)

    @dtype.setter
    def dtype(self, value):
        self.torch_dtype = torch_dtype(value)

    def weight_entries(self):
        """``(layer, spec)`` pairs in Keras 3 order: own trainable weights, own non-trainable
        weights, then each sublayer's, recursively; a weight shared twice is listed once.
        ``spec`` tells where the weight is stored (``spec.get(layer)``), its Keras shape and
        layout, and its regularizer and constraint (what the training step applies)."""
        return self._weight_entries()

    @property
    def activity_losses(self):
        """The activity regularizer's penalties recorded by forward passes since the list was
        last cleared (the training step clears it before each forward)."""
        return self._activity_penalties

    def _weight_entries(self):
        """See :meth:`weight_entries`."""
        own = sorted(self._weight_specs, key=lambda s: not (s.created_trainable and self._trainable))
        entries = [(self, s) for s in own]
        for layer in self._sublayers():
            entries += layer.weight_entries()
        seen, unique = set(), []
        for layer, spec in entries:
            if id(spec.get(layer)) not in seen:
                seen.add(id(spec.get(layer)))
                unique.append((layer, spec))
        return unique

    @staticmethod
    def _is_trainable(layer, spec):
        return spec.trainable and layer.trainable

    @property
    def weights(self):
        """All weights (parameters and buffers) in Keras order, in storage layout."""
        return [s.get(layer) for layer, s in self._weight_entries()]

    @property
    def trainable_weights(self):
        return [s.get(layer) for layer, s in self._weight_entries() if self._is_trainable(layer, s)]

    @property
    def non_trainable_weights(self):
        return [s.get(layer) for layer, s in self._weight_entries() if not self._is_trainable(layer, s)]

    @property
    def variables(self):
        """Keras's ``layer.variables``: every weight in Keras order, then the states of the random
        seed generators the layer and its sublayers hold (``plait.random.SeedGenerator``).
        ``parameters()``/``state_dict()`` stay torch's."""
        return [_as_variable(layer, s) for layer, s in self._weight_entries()] + self._seed_states()

    @property
    def trainable_variables(self):
        """Keras's ``layer.trainable_variables``: the trainable weights."""
        return self.trainable_weights

    @property
    def non_trainable_variables(self):
        """Keras's ``layer.non_trainable_variables``: non-trainable weights (BatchNormalization's
        moving statistics, frozen weights), then seed generator states."""
        entries = [(layer, s) for layer, s in self._weight_entries() if not self._is_trainable(layer, s)]
        return [_as_variable(layer, s) for layer, s in entries] + self._seed_states()

    def _seed_states(self):
        states = []
        for module in self.modules():
            for value in vars(module).values():
                if getattr(type(value), "is_seed_generator", False):
                    states.append(BufferVariable.wrap(value.state, "seed_generator_state", value.name, None))
        return states

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for layer in self.modules():
            if isinstance(layer, Layer):
                layer._trainable = bool(value)
                # As Keras's, the flag reaches every weight created trainable, a frozen one too
                # (LoRA's base kernel).
                for spec in layer._weight_specs:
                    spec.trainable = spec.trainable or (spec.created_trainable and bool(value))
        for p in self.parameters():
            p.requires_grad_(bool(value))

    def count_params(self):
        """Number of scalars in all weights (Keras counts non-trainable ones too)."""
        return int(sum(w.numel() for w in self.weights))

    def get_weights(self):
        """Weights as numpy arrays in Keras 3's shapes and order."""
        # Copies, as Keras's: a CPU tensor's numpy() would share memory with the live weight.
        # ``full``: a weight sharded under ModelParallel is gathered whole (a collective).
        return [s.to_keras(sharding.full(s.get(layer))).cpu().numpy().copy() for layer, s in self._weight_entries()]

    def set_weights(self, weights):
        """Load numpy arrays in Keras 3's shapes and order (as ``get_weights`` returns)."""
        entries = self._weight_entries()
        weights = list(weights)
        if len(weights) != len(entries):
            raise ValueError(
                f"Layer '{self.name}' expects {len(entries)} weights "
                f"({[f'{lay.name}/{s.name}' for lay, s in entries]}), but received {len(weights)}."
            )
        for (layer, spec), value in zip(entries, weights):
            value = np.asarray(value)
            current = spec.get(layer)
            expected = tuple(spec.to_keras(current).shape)
            if tuple(value.shape) != expected:
                raise ValueError(
                    f"Weight '{layer.name}/{spec.name}' has shape {expected}, "
                    f"but the value given has shape {tuple(value.shape)}."
                )
        with torch.no_grad():
            for (layer, spec), value in zip(entries, weights):
                current = spec.get(layer)
                current.copy_(spec.to_storage(np.asarray(value)).to(current.dtype))

    # ----------------------------------------------------------------- saving hooks
    def save_own_variables(self, store):
        """Write the layer's own weights (not its sublayers') into ``store`` as ``"0"``, ``"1"``, ...
        in Keras's layout: what ``.keras`` saving calls, and what a user's override extends
        (``super().save_own_variables(store); store["vocab"] = ...``)."""
        for i, (layer, spec) in enumerate(self._own_entries()):
            store[str(i)] = spec.to_keras(sharding.full(spec.get(layer))).cpu().numpy()

    def load_own_variables(self, store):
        """Read the layer's own weights back from ``store`` (see :meth:`save_own_variables`);
        raises ValueError when the store holds another number of them, as Keras's."""
        entries = self._own_entries()
        if len(store.keys()) != len(entries):
            raise ValueError(
                f"Layer '{self.name}' expected {len(entries)} variables, but received {len(store.keys())} "
                f"variables during loading. Expected: {[spec.name for _, spec in entries]}"
            )
        with torch.no_grad():
            for i, (layer, spec) in enumerate(entries):
                current = spec.get(layer)
                current.copy_(spec.to_storage(np.asarray(store[str(i)])).to(current.dtype))

    def _own_entries(self):
        return [(layer, spec) for layer, spec in self._weight_entries() if layer is self]

    # ----------------------------------------------------------------- quantization
    @property
    def quantization_mode(self):
        """Keras's ``layer.quantization_mode``: ``"int8"``, ``"int4"``, ``"float8"``... or None."""
        return self.dtype_policy.quantization_mode

    def quantize(self, mode=None, type_check=True, config=None):
        """Keras's ``layer.quantize``: the layers with a quantized form override it (see
        :mod:`plait.layers.quantized`); any other layer raises a NotImplementedError naming it."""
        raise NotImplementedError(
            f"Layer '{self.name}' ({type(self).__name__}) does not have a `quantize` method implemented: plait "
            "quantizes Dense, EinsumDense, Embedding and ReversibleEmbedding (and models holding them)."
        )

    # ----------------------------------------------------------------- building
    def build(self, input_shape):
        """Create weights for inputs of ``input_shape`` (batch dim included, may be None)."""

    def _build_for_call(self, args, kwargs):
        """Build from a call's arguments, by Keras's rules (:mod:`plait.layers.call_args`):
        ``build()``, ``build(input_shape)`` or ``build(query_shape, value_shape, ...)``."""
        if self.built:
            return
        signature = self._call_signature
        shapes = {k: _shapes(v) for k, v in call_args.tensor_arguments(signature, args, kwargs).items()}
        names = list(signature.parameters)[1:] if signature is not None else None
        build_args, build_kwargs = call_args.build_arguments(self.build, shapes, names, self)
        self.__dict__["_first_shape"] = next(iter(shapes.values()), None)
        self.build(*build_args, **build_kwargs)
        self.built = True

    def maybe_build(self, input_shape):
        """Build for inputs of ``input_shape`` (batch dim included) unless the layer is built: what
        a wrapper (``TimeDistributed``, ``Bidirectional``, an RNN's cell) calls on its inner layer.

        Example:
            >>> import plait
            >>> layer = plait.layers.Dense(4)
            >>> layer.maybe_build((None, 3))
            >>> layer.built, layer.count_params()
            (True, 16)
        """
        if not self.built:
            self.__dict__["_first_shape"] = input_shape
            self.build(*call_args.build_arguments(self.build, {"input": input_shape}, None, self)[0])
            self.built = True

    def get_build_config(self):
        """Keras's build config: what ``build`` was given, ``{"input_shape": shape}`` for one
        argument or ``{"shapes_dict": {"query_shape": ..., "value_shape": ...}}`` for several;
        None before the layer is built."""
        if not self.built:
            return None
        given = self.__dict__.get("_build_args") or {}
        if len(given) > 1:
            return {"shapes_dict": {k: _as_lists(v) for k, v in given.items()}}
        shape = next(iter(given.values())) if given else self.__dict__.get("_first_shape")
        return None if shape is None else {"input_shape": _as_lists(shape)}

    def build_from_config(self, config):
        """Build from :meth:`get_build_config`'s dict (what Keras does when it loads a layer)."""
        if not config or self.built:
            return
        if "input_shape" in config:
            self.maybe_build(_as_tuples(config["input_shape"]))
        elif "shapes_dict" in config:
            self.build(**{k: _as_tuples(v) for k, v in config["shapes_dict"].items()})
            self.built = True

    def compute_output_shape(self, input_shape):
        """Output shape for ``input_shape``; layers override this for free shape inference."""
        raise NotImplementedError

    @property
    def _has_shape_formula(self):
        return type(self).compute_output_shape is not Layer.compute_output_shape

    def compute_output_spec(self, *args, **kwargs):
        """Structure of ``(shape, dtype)`` for a call on symbolic tensors."""
        if self._has_shape_formula:
            shape = self.compute_output_shape(_shapes(args[0]))
            if isinstance(shape, list):
                return [(s, self.torch_dtype) for s in shape]
            return (shape, self.torch_dtype)
        return infer_outputs(self, args, kwargs)

    # ----------------------------------------------------------------- calling
    def __call__(self, *args, **kwargs):
        # Keras's rule: the inputs are call()'s first argument, by position or by its name.
        args, kwargs = call_args.inputs_first(self._call_signature, args, kwargs)
        if _has_symbolic(args, kwargs):
            if args:
                _check_tensor_leaves(self, args[0])
            return self._symbolic_call(*resolve((args, kwargs)))
        if not args:
            raise TypeError(
                f"Layer '{self.name}' was called without inputs: pass them first, or by the name of call()'s "
                f"first argument. Received keyword arguments {sorted(kwargs)}."
            )
        # NumPy arrays anywhere among the arguments become tensors, as Keras converts them.
        args = nest.map_structure(_to_tensor, args)
        if kwargs:
            kwargs = {k: nest.map_structure(_to_tensor, v) for k, v in kwargs.items()}
        _check_tensor_leaves(self, args[0])
        self._build_for_call(args, kwargs)
        self._check_inputs(args[0])
        if _on_meta(args[0]) and not self.__dict__.get("_meta_running"):
            # A layer built inside another layer's shape inference: its new weights are real, the
            # inputs meta stand-ins; compute with meta copies of the weights.
            return self._meta_call(args, kwargs)
        masks = _keras_masks(args[0])
        if masks is not None or len(args) + len(kwargs) > 1:
            kwargs = self._fill_masks(args, kwargs, masks)
        outputs = self._call_with_mode(args, kwargs)
        if self._makes_masks or (masks is not None and self.supports_masking):
            # As Keras: the mask goes on through layers that support masking; others drop it.
            _attach_masks(outputs, self.compute_mask(args[0], masks))
        return outputs

    def _fill_masks(self, args, kwargs, masks):
        """The eager call's arguments with the masks the inputs carry (``tensor._keras_mask``)
        filled in by :meth:`mask_sources`."""
        for param, source in self.mask_sources(args, kwargs).items():
            found = masks if param == "mask" else _keras_masks(source)
            if found is not None:
                kwargs = {**kwargs, param: found}
        return kwargs

    def mask_sources(self, args, kwargs):
        """Which inputs' masks a call receives, by Keras's rule: ``{parameter: inputs}``. A ``call``
        that takes ``mask`` gets the first argument's masks; one that takes ``<arg>_mask`` gets
        those of its argument ``<arg>`` (MultiHeadAttention's ``query_mask``, ``value_mask``);
        masks the caller gave are kept. Used for eager calls and by the graph's generated code."""
        sources = {}
        if self._call_takes_mask and kwargs.get("mask") is None and args:
            sources["mask"] = args[0]
        signature = self._call_signature
        if signature is None or not self._call_takes_arg_masks:  # read once per class, not per call
            return sources
        for name, value in call_args.tensor_arguments(signature, args, kwargs).items():
            param = f"{name}_mask"
            if param in signature.parameters and kwargs.get(param) is None:
                sources[param] = value
        return sources

    @property
    def _makes_masks(self):
        # A layer whose compute_mask is its own may make a mask from unmasked inputs (Embedding).
        return type(self).compute_mask is not Layer.compute_mask

    def _call_with_mode(self, args, kwargs):
        training = kwargs.get("training") if self._call_takes_training else kwargs.pop("training", None)
        # Plain try/finally rather than generator context managers: torch.compile traces a
        # compiled custom train_step through this call, and dynamo loses generator-based
        # context managers across its graph breaks.
        depth = _call_depth()
        if depth == 0:
            _clear_losses(self)
        _CALLS.depth = depth + 1
        switch = training is not None and bool(training) != self.training
        previous = [(m, m.training) for m in self.modules()] if switch else ()
        if switch:
            self.train(bool(training))
        try:
            policy = getattr(self, "dtype_policy", None)
            if policy is not None and policy.is_mixed:
                # A mixed policy computes in low precision, as Keras's layers do. A functional
                # model already runs its whole graph under autocast; a subclassed model's layers
                # (or a layer called alone) enter it here.
                device = next((t.device.type for t in nest.flatten(args) if isinstance(t, torch.Tensor)), "cpu")
                if not torch.is_autocast_enabled(device):
                    with torch.autocast(device, dtype=policy.compute_dtype):
                        return super().__call__(*args, **kwargs)
            return super().__call__(*args, **kwargs)
        finally:
            _CALLS.depth = _call_depth() - 1
            for m, flag in previous:
                m.training = flag

    def _meta_call(self, args, kwargs):
        state = {
            name: meta_weight(value)
            for name, value in [*self.named_parameters(), *self.named_buffers()]
            if value.device.type != "meta"
        }
        self.__dict__["_meta_running"] = True
        try:
            if not state:
                return self(*args, **kwargs)
            return torch.func.functional_call(self, state, args, kwargs, strict=False)
        finally:
            self.__dict__["_meta_running"] = False

    def check_input_shape(self, inputs):
        """Raise Keras's ValueError when ``inputs`` (tensors or symbolic tensors) do not fit the
        layer's ``input_spec`` (rank, fixed sizes); nothing when they do or it has none."""
        self._check_inputs(inputs)

    def _check_inputs(self, inputs):
        if self.input_spec is None:
            return
        specs = self.input_spec if isinstance(self.input_spec, list) else [self.input_spec]
        tensors = nest.flatten(inputs)
        for i, (spec, tensor) in enumerate(zip(specs, tensors)):
            if spec is not None and hasattr(tensor, "shape"):
                spec.check(self, tuple(tensor.shape), i)

    def _symbolic_call(self, args, kwargs):
        if not self._call_takes_training:
            kwargs = {k: v for k, v in kwargs.items() if k != "training"}
        first = args[0] if args else next(iter(kwargs.values()))
        self._build_for_call(args, kwargs)
        self._check_inputs(first)
        inference_kwargs = kwargs
        if type(self).compute_output_spec is Layer.compute_output_spec and not self._has_shape_formula:
            # As Keras's symbolic call: a call that takes masks sees them while its shape is inferred.
            sources = self.mask_sources(args, kwargs)
            masks = {param: nest.map_structure(_mask_stand_in, source) for param, source in sources.items()}
            inference_kwargs = {
                **kwargs,
                **{p: m for p, m in masks.items() if any(v is not None for v in nest.flatten(m))},
            }
        spec = self.compute_output_spec(*args, **inference_kwargs)
        node = Node(self, args, kwargs)
        index = len(self._inbound_nodes)
        base = self.name if index == 0 else f"{self.name}_{index}"
        leaves = []

        def make(pair):
            shape, dtype = pair
            leaves.append(None)
            index = len(leaves) - 1  # only the first output (an RNN's sequence) carries a mask
            return SymbolicTensor(shape, dtype, f"{base}_{index}", node, index, has_mask and index == 0)

        has_mask = self.produces_mask([t.has_mask for t in node.input_tensors])
        if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], torch.dtype):
            outputs = SymbolicTensor(spec[0], spec[1], base, node, 0, has_mask)
        else:
            outputs = type(spec)(make(p) for p in spec) if isinstance(spec, (list, tuple)) else None
            if outputs is None:
                raise TypeError(f"Layer '{self.name}' returned an unsupported output structure.")
        node.set_outputs(outputs)
        self._inbound_nodes.append(node)
        return outputs

    # ----------------------------------------------------------------- regularization
    @property
    def losses(self):
        """Regularization penalties now: weight regularizers, and activity regularizers of the
        last forward pass (Keras's ``layer.losses``)."""
        out = [s.regularizer(s.keras_view(s.get(layer))) for layer, s in self._weight_entries() if s.regularizer]
        for module in self.modules():
            out += getattr(module, "_activity_penalties", [])
        return out

    # ----------------------------------------------------------------- masking
    def produces_mask(self, input_masks):
        """Whether the output carries a mask, given which inputs do (graph-build time). As Keras:
        a layer whose class has its own ``compute_mask`` may make one from unmasked inputs (its
        ``compute_mask`` runs with the graph and may return None)."""
        return self._makes_masks or (self.supports_masking and any(input_masks))

    def compute_mask(self, inputs, mask=None):
        """The output mask for ``inputs`` carrying ``mask`` (Keras's ``compute_mask``)."""
        if isinstance(mask, (list, tuple)):
            masks = [m for m in mask if m is not None]
            return functools.reduce(torch.logical_and, masks) if masks else None
        return mask

    # ----------------------------------------------------------------- config
    def get_config(self):
        """The constructor arguments, JSON-serialisable (Keras's ``get_config``)."""
        from plait import regularizers

        dtype = self.dtype_policy.name if self.dtype_policy.is_mixed else self.dtype
        config = {"name": self.name, "trainable": self.trainable, "dtype": dtype}
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        auto = self.__dict__.get("_auto_config")
        if auto is not None and type(self).get_config is Layer.get_config:
            # A custom layer without get_config: its constructor's plain arguments, as Keras records.
            params = inspect.signature(type(self).__init__).parameters
            config = {**config, **auto}
            if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
                # As Keras: `name` goes if __init__ cannot take it; trainable and dtype stay.
                config = {k: v for k, v in config.items() if k in params or k in ("trainable", "dtype")}
        return config

    @classmethod
    def from_config(cls, config):
        """The layer a config describes (plait's, or one Keras wrote: see
        :func:`plait.layers.keras_config.layer_arguments`)."""
        config = keras_config.layer_arguments(cls, config)
        params = inspect.signature(cls.__init__).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            # A custom __init__ without **kwargs: the base keys it cannot take are left out (Keras's).
            config = {k: v for k, v in config.items() if k in params or k not in ("trainable", "dtype", "name")}
        batch_input_shape = config.pop("batch_input_shape", None)
        if batch_input_shape is not None:
            config["input_shape"] = tuple(batch_input_shape[1:])
            config["batch_size"] = batch_input_shape[0]
        return cls(**config)

    def extra_repr(self):
        config = self.get_config()
        shown = {k: v for k, v in config.items() if k not in ("trainable", "dtype")}
        return ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in shown.items())

    # torch's repr shows this name: the class alone, as Keras names layer types.
    def _get_name(self):
        return type(self).__name__


class KerasMask(Layer):
    """The Keras mask of another layer's output as a graph node: what ``tensor._keras_mask``
    gives for a symbolic tensor that carries a mask. It calls the source layer's
    ``compute_mask`` on that layer's inputs and their masks.

    Args:
        source: the layer whose output's mask this computes (not owned: no weights of its own).
    """

    is_operation = True

    def __init__(self, source, **kwargs):
        super().__init__(**kwargs)
        self.__dict__["source"] = source  # a reference, not a sublayer (its weights stay its own)

    def call(self, inputs, mask=None):
        return self.__dict__["source"].compute_mask(inputs, mask)


def _mask_of(tensor):
    node = tensor.node
    return KerasMask(node.layer, name=f"{tensor.name}_keras_mask")(node.args[0])


graph_node.set_mask_handler(_mask_of)


class WeightOptions:
    """Keras's per-weight ``<weight>_regularizer`` / ``<weight>_constraint`` arguments, resolved
    once and serialized back (shared by Dense, Conv, Embedding and the RNNs)."""

    def __init__(self, **options):
        from plait import constraints, regularizers

        self.options = {
            key: (regularizers.get(value) if key.endswith("_regularizer") else constraints.get(value))
            for key, value in options.items()
        }

    def __call__(self, weight):
        return {
            "regularizer": self.options.get(f"{weight}_regularizer"),
            "constraint": self.options.get(f"{weight}_constraint"),
        }

    def get_config(self):
        from plait import constraints, regularizers

        return {
            key: (regularizers.serialize(v) if key.endswith("_regularizer") else constraints.serialize(v))
            for key, v in self.options.items()
        }


def _record_activity_penalty(layer, inputs, outputs):
    # Keras 3 divides an activity penalty by the batch size.
    for out in nest.flatten(outputs):
        if torch.is_tensor(out) and out.is_floating_point():
            penalty = layer.activity_regularizer(out)
            layer.activity_losses.append(penalty / out.shape[0] if out.dim() else penalty)


def _shapes(structure):
    def shape_of(t):
        if isinstance(t, SymbolicTensor):
            return t.shape
        if isinstance(t, (torch.Tensor, np.ndarray)):
            return tuple(t.shape)
        return t

    return nest.map_structure(shape_of, structure)


def _as_lists(shape):
    """A shape (or structure of shapes) as JSON lists, as Keras writes build configs."""
    if isinstance(shape, dict):
        return {k: _as_lists(v) for k, v in shape.items()}
    if isinstance(shape, (list, tuple)) and all(d is None or isinstance(d, int) for d in shape):
        return list(shape)
    if isinstance(shape, (list, tuple)):
        return [_as_lists(s) for s in shape]
    return shape


def _as_tuples(shape):
    """A build config's shape (JSON lists) as tuples: one shape, or a list/dict of them."""
    if isinstance(shape, dict):
        return {k: _as_tuples(v) for k, v in shape.items()}
    if isinstance(shape, (list, tuple)) and all(d is None or isinstance(d, int) for d in shape):
        return tuple(shape)
    if isinstance(shape, (list, tuple)):
        return [_as_tuples(s) for s in shape]
    return shape


def shape_str(shape):
    """``(None, 32)`` as Keras prints it."""
    return _fmt(shape)
