"""``Model``: a graph of layers (functional API) or a subclass with its own ``call``."""

import json
import warnings

import numpy as np
import torch
from torch import nn

from plait import mixed_precision
from plait.graph.codegen import generate_forward
from plait.graph.node import SymbolicTensor
from plait.graph.ops import resolve
from plait.graph.traverse import map_graph, repeat_calls
from plait.layers import serialization as layer_serialization
from plait.layers.base import Layer, child_layers
from plait.layers.input_layer import Input, InputLayer
from plait.models.summary import print_summary
from plait.training.checks import conform_input
from plait.training.trainer import Trainer
from plait.utils import array_to_tensor, nest
from plait.utils.custom_objects import custom_object_scope


def layer_dict(layers=()):
    """A ``ModuleDict`` of layers by name (see :func:`put_layer`)."""
    table = nn.ModuleDict()
    for layer in layers:
        put_layer(table, layer)
    return table


def put_layer(table, layer):
    """Put ``layer`` into the ``ModuleDict`` ``table`` under its name (``del table[name]`` takes
    it out). The entry goes straight into torch's private ``_modules``: torch's public setters
    (``table[name] = ...``, ``add_module``) refuse a name that is an ``nn.Module`` attribute, and
    a Keras name may be one (``double``, ``train``); such a layer is reached as
    ``by_name["double"]``."""
    table._modules[layer.name] = layer


class Model(Trainer, Layer):
    """A trainable model; also a ``torch.nn.Module``.

    ``Model(inputs, outputs)`` builds a functional model from symbolic tensors; subclassing
    ``Model`` and defining ``call`` builds a model from Python code, as in Keras.

    Args:
        inputs: an ``Input`` tensor, a list of them, or a dict ``{name: tensor}``.
        outputs: a symbolic tensor, a list of them, or a dict ``{name: tensor}``.
        name: the model's name (default ``functional``, ``functional_1``, ...).

    Example:
        >>> import plait
        >>> inputs = plait.Input(shape=(64,))
        >>> x = plait.layers.Dense(32, activation="relu")(inputs)
        >>> model = plait.Model(inputs, plait.layers.Dense(10, activation="softmax")(x))
        >>> model.count_params()
        2410
    """

    # Data given to the model must match its Inputs' sizes (Keras's functional check); a
    # Sequential sets this to a method that asks its layers instead.
    accepts_input_shape = None

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            return super().__new__(Functional)
        return super().__new__(cls)

    def __init__(self, *args, name=None, trainable=True, **kwargs):
        if args or "inputs" in kwargs or "outputs" in kwargs:
            # As in Keras: a subclass built from inputs and outputs (`CustomModel(inputs, outputs)`,
            # or `super().__init__(inputs, outputs)`) is a functional model with the subclass's
            # methods, e.g. its own train_step.
            self.__class__ = _functional_subclass(type(self))
            Functional.__init__(self, *args, name=name, trainable=trainable, **kwargs)
            return
        # A subclassed model: its layers are attributes set in the subclass's __init__.
        Layer.__init__(self, name=name, trainable=trainable, **kwargs)
        Trainer.__init__(self)
        self.built = True

    def _sublayers(self):
        return child_layers(self)

    def _build_for_call(self, args, kwargs):
        # A subclassed model remembers the shapes of its first call: Keras's build config.
        if not self.has_graph and self.__dict__.get("_first_call_shapes") is None and args:
            if all(isinstance(t, torch.Tensor) for t in nest.flatten(args[0])):
                self._first_call_shapes = nest.map_structure(lambda t: list(t.shape), args[0])
        Layer._build_for_call(self, args, kwargs)

    def get_build_config(self):
        """Keras's build config of a subclassed model: ``{"input_shape": ...}``, the shapes of its
        first call (None before it); a graph model's inputs say it already."""
        shapes = self.__dict__.get("_first_call_shapes")
        return None if shapes is None or self.has_graph else {"input_shape": shapes}

    def build_from_config(self, config):
        """Build a subclassed model from :meth:`get_build_config`'s dict, as Keras does when it
        loads one: a call on zeros of those shapes (creates the weights the call creates)."""
        shapes = (config or {}).get("input_shape")
        if shapes is None or self.has_graph:
            return
        is_shape = lambda s: isinstance(s, (list, tuple)) and all(d is None or isinstance(d, int) for d in s)  # noqa: E731
        zeros = _map_shapes(lambda s: torch.zeros([1 if d is None else d for d in s]), shapes, is_shape)
        with torch.no_grad():
            self(zeros)

    # ---- what the trainer reads (a subclassed model has no graph: its ``call`` is the forward)
    @property
    def has_graph(self):
        """Whether the model is a graph of layers (functional or Sequential)."""
        return False

    @property
    def output_shapes(self):
        """The outputs' shapes (None for unknown dims), or None when not known before a call."""
        return None

    @property
    def device(self):
        """The device of the model's first parameter (CPU for a model without any)."""
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    def ensure_built(self, x):
        """Build the model for input data ``x`` if it is not built yet (a Sequential without an
        input shape builds from the data's shape). A subclassed model builds on its first call."""

    def output_activation(self, index):
        """The activation the layer producing output ``index`` applies to its logits, when that
        layer can also return the logits (``call_logits``); None otherwise."""
        return None

    def training_forward(self, logits_outputs=()):
        """The forward pass the training step runs: ``forward(xs) -> (outputs, masks)`` with
        ``xs`` a list in input order, ``outputs`` a list in output order in float32 (losses and
        metrics run in float32 under mixed precision, as Keras's) and ``masks`` a list (or None)
        of the outputs' masks. ``logits_outputs``: indices of outputs returned as logits (only
        where :meth:`output_activation` is not None)."""
        if logits_outputs:
            raise ValueError(f"Model '{self.name}' has no graph; its outputs cannot be returned as logits.")
        autocast = mixed_precision.autocast_dtype(self)

        def forward(xs):
            out = self(*xs) if len(xs) > 1 else self(xs[0])
            out = (
                list(out)
                if isinstance(out, (list, tuple))
                else (list(out.values()) if isinstance(out, dict) else [out])
            )
            return _float32(out) if autocast is not None else out, None

        return forward

    # ---- quantization
    def quantize(self, mode=None, config=None, filters=None, type_check=True):
        """Quantize the weights of the model's Dense, EinsumDense, Embedding and
        ReversibleEmbedding layers in place, as Keras's ``model.quantize``.

        Args:
            mode: ``"int8"``, ``"int4"`` or ``"float8"`` (optional when ``config`` is given).
            config: a ``plait.quantizers.QuantizationConfig`` (default: the mode's).
            filters: a regex, a list of them (searched in the layer names) or a callable
                ``layer -> bool``: only the selected layers are quantized.

        Other layers are skipped (a warning names those with no quantized form). See
        :mod:`plait.layers.quantized`.
        """
        from plait.layers.quantized import quantize_model

        if quantize_model(self, mode, config, filters, type_check):
            self._step_fn = self._builtin = None  # the training step is made again for the new weights

    # ---- saving
    def save(self, filepath, overwrite=True):
        """Write the whole model (architecture, weights, optimizer state) to one safe file;
        read it back with ``plait.models.load_model``."""
        from plait.saving import save_model

        save_model(self, filepath, overwrite)

    def save_weights(self, filepath, overwrite=True):
        """Write all weights, atomically: Keras's HDF5 layout for ``*.weights.h5`` (Keras reads
        it), safetensors for any other name (``*.safetensors``)."""
        from plait.saving.weights_file import save_weights

        save_weights(self, filepath, overwrite)

    def load_weights(self, filepath, skip_mismatch=False):
        """Read weights written by ``save_weights``, by Keras (``.weights.h5``, ``.keras``) or
        by tf-keras 2 (``.h5``); ``skip_mismatch`` skips the layers whose weights do not fit.
        The file's content is checked against its name first."""
        from plait.saving.weights_file import load_weights

        load_weights(self, filepath, skip_mismatch)

    @property
    def input_names(self):
        return ["input"]

    @property
    def output_names(self):
        return ["output"]

    @property
    def layers(self):
        """The model's layers, in Keras's order; op nodes (``plait.ops`` calls, ``x + y``) are
        left out, as Keras leaves them out (they are in :attr:`operations`)."""
        return [layer for layer in self._sublayers() if not layer.is_operation]

    @property
    def operations(self):
        """Every callable of the model: its layers and its op nodes, in the summary's order."""
        return self._sublayers()

    def reset_states(self):
        """Reset the carried states of every stateful layer."""
        for module in self.modules():
            if module is not self and hasattr(module, "reset_states"):
                module.reset_states()

    def get_layer(self, name=None, index=None):
        """A layer by ``name`` or by position ``index`` in ``model.layers``."""
        if (name is None) == (index is None):
            raise ValueError("Provide exactly one of `name` or `index` to get_layer().")
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(
                    f"Was asked to retrieve layer at index {index} but model only has {len(layers)} layers."
                )
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: {[lay.name for lay in layers]}.")

    # ---- configs (Keras's get_config / from_config / to_json)
    def get_config(self):
        """A graph model's config is its graph (layers and nodes); a subclassed model's is what
        its own ``get_config`` returns (the base one: name, trainable, dtype)."""
        if self.has_graph:
            return layer_serialization._graphs["to_config"](self)
        return Layer.get_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """The model a config describes; ``custom_objects`` names the custom classes and functions
        it uses (or register them, or load inside ``plait.saving.custom_object_scope``)."""
        with custom_object_scope(custom_objects or {}):
            if isinstance(config, dict) and ("graph" in config or ("layers" in config and "name" in config)):
                target = cls if cls.__name__ == "Sequential" or ("graph" not in config) else None
                return layer_serialization._graphs["from_config"](config, custom_objects, target)
            return Layer.from_config.__func__(cls, config)

    def to_json(self, **kwargs):
        """The model's architecture as a JSON string (``plait.models.model_from_json`` reads it);
        ``kwargs`` go to ``json.dumps``."""
        return json.dumps(layer_serialization.serialize_layer(self), **kwargs)

    def summary(
        self,
        line_length=None,
        positions=None,
        print_fn=None,
        expand_nested=False,
        show_trainable=False,
        layer_range=None,
    ):
        """Print the classic Keras table: layers, output shapes, parameter counts, then Keras 3's
        totals with their memory (and the optimizer's state once it has any).

        Args:
            line_length: total width (default 65, or 98 with the "Connected to" column).
            positions: column ends, as fractions of ``line_length`` or absolute positions.
            print_fn: function taking one line (default ``print``).
            expand_nested: also list the layers inside nested models.
            show_trainable: add a column saying whether each layer is trainable.
            layer_range: two layer names (or ``re.match`` patterns), the first and the last
                layer to list; default all.
        """
        print_summary(self, line_length, positions, print_fn, expand_nested, show_trainable, layer_range)

    def _get_name(self):
        return type(self).__name__


_FUNCTIONAL_SUBCLASSES = {}


def _map_shapes(fn, shapes, is_shape):
    """``fn`` over the shapes in a structure of shapes (a dict, or a list of shapes)."""
    if is_shape(shapes):
        return fn(shapes)
    if isinstance(shapes, dict):
        return {k: _map_shapes(fn, v, is_shape) for k, v in shapes.items()}
    return [_map_shapes(fn, v, is_shape) for v in shapes]


def cast_input(x, t):
    """Input ``x`` in the dtype of the model input ``t`` (Keras converts inputs to the Input's
    dtype: integer, ``uint8`` and ``bool`` arrays become floats)."""
    if x.dtype != t.torch_dtype and not x.is_complex():
        return x.to(t.torch_dtype)
    return x


def _float32(outputs):
    return [o.float() if o.dtype in (torch.float16, torch.bfloat16) else o for o in outputs]


def _inputs_at(inputs, outputs):
    """Keras's rule for ``Model(inputs=...)`` given tensors made by layers (a model from the
    middle of a graph): each becomes a new ``Input`` of its shape and dtype, named
    ``<name>CLONE``, and the calls between it and the outputs are repeated on it (the same
    layers, so the same weights; the original graph is unchanged)."""
    replacements = {
        id(t): Input(batch_shape=t.declared_shape, dtype=t.torch_dtype, name=f"{t.name}CLONE")
        for t in nest.flatten(inputs)
        if isinstance(t, SymbolicTensor) and not isinstance(t.node.layer, InputLayer)
    }
    if not replacements:
        return inputs, outputs
    flat_outputs = [t for t in nest.flatten(outputs) if isinstance(t, SymbolicTensor)]
    new_outputs, nodes = repeat_calls(flat_outputs, replacements)
    for node in nodes:
        node.layer.record_node(node)
    swap = {**replacements, **{id(old): new for old, new in zip(flat_outputs, new_outputs)}}
    return (
        nest.map_structure(lambda t: swap.get(id(t), t), inputs),
        nest.map_structure(lambda t: swap.get(id(t), t), outputs),
    )


def _functional_subclass(cls):
    """``cls`` with Functional mixed in (cached, so instances of one subclass share a class)."""
    if issubclass(cls, Functional):
        return cls
    if cls not in _FUNCTIONAL_SUBCLASSES:
        _FUNCTIONAL_SUBCLASSES[cls] = type(cls.__name__, (cls, Functional), {"__module__": cls.__module__})
    return _FUNCTIONAL_SUBCLASSES[cls]


class Functional(Model):
    """A model defined by a graph from ``Input``s to outputs (what ``Model(inputs, outputs)`` makes).

    Its ``forward`` is straight-line code generated once from the graph
    (``model.graph_source`` shows it).
    """

    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        Layer.__init__(self, name=name, trainable=trainable, **kwargs)
        Trainer.__init__(self)
        self._init_graph(inputs, outputs)

    def _init_graph(self, inputs, outputs):
        inputs, outputs = _inputs_at(*resolve((inputs, outputs)))
        self._input_struct, self._output_struct = inputs, outputs
        for key, t in inputs.items() if isinstance(inputs, dict) else ():
            if isinstance(t, SymbolicTensor) and key != t.node.layer.name:
                warnings.warn(  # Keras's warning: data is matched by the key, a file shows the name
                    f"When providing `inputs` as a dict, all keys in the dict must match the names of the "
                    f"corresponding tensors. Received key '{key}' mapping to value {t!r} which has name "
                    f"'{t.node.layer.name}'. Change the tensor name to '{key}' (via `Input(..., name='{key}')`)",
                    stacklevel=3,
                )
        flat_inputs, flat_outputs = nest.flatten(inputs), nest.flatten(outputs)
        for t in flat_inputs:
            if not isinstance(t, SymbolicTensor) or not isinstance(t.node.layer, InputLayer):
                raise TypeError(
                    f"Model inputs must be symbolic tensors: plait.Input() or a layer's output on one. Received: {t!r}"
                )
        for t in flat_outputs:
            if not isinstance(t, SymbolicTensor):
                raise TypeError(f"Model outputs must be symbolic tensors made by layers. Received: {type(t).__name__}")
        seen = set()
        for t in flat_inputs:
            if id(t) in seen:
                raise ValueError(
                    f"The input '{t.name}' is given more than once in `inputs` of model '{self.name or 'model'}'. "
                    f"Each Input may appear once. Received: inputs={[i.name for i in flat_inputs]}"
                )
            seen.add(id(t))
        if not flat_outputs:
            raise ValueError(f"Model '{self.name}' needs at least one output. Received: outputs={outputs!r}")
        nodes, layers = map_graph(flat_inputs, flat_outputs)
        names = {}
        for layer in layers:
            if layer.name in names and names[layer.name] is not layer:
                raise ValueError(
                    f"The name '{layer.name}' is used by 2 layers in model '{self.name}'. "
                    "All layer names should be unique."
                )
            names[layer.name] = layer
        self.inputs, self.outputs = flat_inputs, flat_outputs
        self._nodes = nodes
        self._layer_list = layers
        # Layers are registered by name, so state_dict keys read `by_name.dense.kernel` (Keras's
        # `dense/kernel`) and `model.by_name.dense` is the layer; `model.layers` is Keras's list.
        self.by_name = layer_dict(layers)
        self.built = True
        self._autocast = mixed_precision.autocast_dtype(self)
        self._generate()

    def _generate(self, logits_outputs=(), return_masks=False):
        """(Re)generate the forward; ``logits_outputs`` are output indices returned as logits, and
        ``return_masks`` adds the outputs' masks (both for the training step)."""
        logits_nodes = frozenset(id(self.outputs[i].node) for i in logits_outputs)
        fn, source, calls, consts = generate_forward(
            self.inputs, self.outputs, self._nodes, logits_nodes, return_masks=return_masks
        )
        if logits_outputs or return_masks:
            return fn, calls, consts
        self._graph_fn, self.graph_source = fn, source
        self._graph_calls, self._graph_consts = calls, consts
        return fn, calls, consts

    def _sublayers(self):
        return list(self._layer_list)

    @property
    def has_graph(self):
        return True

    @property
    def graph_nodes(self):
        """The graph's nodes (one per layer call, :class:`~plait.graph.node.Node`) in run order,
        the ``Input`` nodes included; a new list.

        Example:
            >>> import plait
            >>> x = plait.Input(shape=(3,))
            >>> model = plait.Model(x, plait.layers.Dense(2)(x))
            >>> [type(node.layer).__name__ for node in model.graph_nodes]
            ['InputLayer', 'Dense']
        """
        return list(self._nodes)

    @property
    def input_structure(self):
        """The inputs as the model was given them: one symbolic tensor, a list, or a dict
        ``{name: tensor}`` (``inputs`` is always the flat list)."""
        return self._input_struct

    @property
    def output_structure(self):
        """The outputs as the model was given them: one symbolic tensor, a list, or a dict
        ``{name: tensor}`` (what a call returns has this structure; ``outputs`` is the flat list).

        Example:
            >>> import plait
            >>> x = plait.Input(shape=(3,))
            >>> model = plait.Model(x, {"y": plait.layers.Dense(2)(x)})
            >>> list(model.output_structure), len(model.outputs)
            (['y'], 1)
        """
        return self._output_struct

    def graph_call(self, *inputs):
        """Run the generated forward on ``inputs``, tensors in input order, as they are: no
        checks, casts, autocast or repacking. Returns one tensor for one output, else a tuple
        in output order: what exporters trace (``torch.export``, ONNX).

        Example:
            >>> import torch, plait
            >>> x = plait.Input(shape=(3,))
            >>> model = plait.Model(x, [plait.layers.Dense(2)(x), plait.layers.Dense(1)(x)])
            >>> [tuple(y.shape) for y in model.graph_call(torch.ones(4, 3))]
            [(4, 2), (4, 1)]
        """
        return self._graph_fn(self._graph_calls, self._graph_consts, *inputs)

    @property
    def output_shapes(self):
        return [t.shape for t in self.outputs]

    def output_activation(self, index):
        layer = self.outputs[index].node.layer
        if not hasattr(layer, "call_logits") or len(layer.inbound_nodes) != 1:
            return None  # a shared layer's other calls would need their own logits
        return getattr(layer, "activation", None)

    def training_forward(self, logits_outputs=()):
        # Sequence outputs that carry a mask (Embedding(mask_zero=True), Masking) get masked
        # losses and metrics, as in Keras: the training forward also returns the masks.
        masked = any(t.has_mask for t in self.outputs)
        fn, calls, consts = self._generate(logits_outputs=tuple(logits_outputs), return_masks=masked)
        inputs, n_out = self.inputs, len(self.outputs)

        def forward(xs):
            xs = [cast_input(x, t) for x, t in zip(xs, inputs)]
            out, masks = self._run_graph(fn, calls, consts, xs), None
            if masked:  # (outputs, masks), both tuples
                out, masks = out
                out = list(out)
            else:
                out = list(out) if n_out > 1 else [out]
            return (_float32(out) if self._autocast is not None else out), masks

        return forward

    @property
    def input_names(self):
        """The names data is matched by: the keys of ``inputs`` given as a dict (as Keras), else
        the Input layers' names, in the order of :attr:`inputs`."""
        if isinstance(self._input_struct, dict):
            return nest.flatten({key: key for key in self._input_struct})
        return [t.node.layer.name for t in self.inputs]

    @property
    def output_names(self):
        if isinstance(self._output_struct, dict):
            return list(self._output_struct)
        return [t.node.layer.name for t in self.outputs]

    @property
    def input(self):
        return self.inputs[0] if len(self.inputs) == 1 else self.inputs

    @property
    def output(self):
        return self.outputs[0] if len(self.outputs) == 1 else self.outputs

    def export(self, filepath, format=None, example_inputs=None):
        """Write an ONNX file (``.onnx``) or a ``torch.export`` program (``.pt2``). The batch dim
        stays dynamic, and so do other unknown dims wherever the layers allow it."""
        from plait.saving.export import export_model

        return export_model(self, filepath, format, example_inputs)

    def _flatten_inputs(self, args, kwargs):
        """Accept ``model(x)``, ``model(x1, x2)``, ``model([x1, x2])``, ``model({"a": x1})``."""
        names = self.input_names
        if kwargs:
            args = args + (kwargs,)
        if len(args) == 1 and isinstance(args[0], dict):
            data = args[0]
            unknown = [k for k in data if k not in names]
            missing = [n for n in names if n not in data]
            if unknown or missing:
                raise ValueError(
                    f"Model '{self.name}' got inputs keyed {list(data)}; its inputs are {names}."
                    + (f" Unknown: {unknown}." if unknown else "")
                    + (f" Missing: {missing}." if missing else "")
                )
            args = tuple(data[n] for n in names)
        elif len(args) == 1 and isinstance(args[0], (list, tuple)) and (len(names) > 1 or len(args[0]) == 1):
            args = tuple(args[0])  # model([x1, x2]), and model([x]) for one input, as Keras accepts
        if len(args) != len(names):
            raise ValueError(f"Model '{self.name}' expects {len(names)} input(s) {names}, but received {len(args)}.")
        out = []
        weight = next(iter(self.parameters()), None)
        device = weight.device if weight is not None else None
        for value, t in zip(args, self.inputs):
            if isinstance(value, np.ndarray):
                value = array_to_tensor(value)
                value = value.to(device) if device is not None else value  # host data goes to the model
            elif not isinstance(value, torch.Tensor):
                try:
                    value = torch.as_tensor(value, device=device)
                except (TypeError, ValueError, RuntimeError):
                    raise TypeError(
                        f"Input '{t.name}' of model '{self.name}' must be a tensor or an array of numbers. "
                        f"Received: {type(value).__name__} {value!r:.80}"
                    ) from None
            elif device is not None and value.device != device and not torch.compiler.is_compiling():
                # A tensor is the user's to place (as in PyTorch); name both devices, not a kernel's error.
                raise ValueError(
                    f"Input '{t.name}' of model '{self.name}' is on device '{value.device}', but the model's weights "
                    f"are on '{device}'. Move one of them: `x.to('{device}')` or `model.to('{value.device}')`."
                )
            out.append(conform_input(value, t, self.name, accepts=self.accepts_input_shape))
        return out

    def _pack_outputs(self, outputs):
        if isinstance(self._output_struct, dict):
            outputs = outputs if len(self.outputs) > 1 else (outputs,)
            return dict(zip(self._output_struct, outputs))
        if isinstance(self._output_struct, (list, tuple)):
            return list(outputs) if len(self.outputs) > 1 else [outputs]
        return outputs

    def forward(self, *args, **kwargs):
        inputs = self._flatten_inputs(args, kwargs)
        return self._pack_outputs(self._run_graph(self._graph_fn, self._graph_calls, self._graph_consts, inputs))

    def _run_graph(self, fn, calls, consts, inputs):
        """Run a generated forward (the inference or the training variant), under autocast when
        the layers have a mixed precision policy."""
        if self._autocast is None:
            return fn(calls, consts, *inputs)
        with torch.autocast(inputs[0].device.type, dtype=self._autocast):
            return fn(calls, consts, *inputs)

    @property
    def input_shape(self):
        """The inputs' shapes (Keras's ``model.input_shape``): one tuple, or a list of them."""
        shapes = [tuple(t.shape) for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        """The outputs' shapes (Keras's ``model.output_shape``): one tuple, or a list of them."""
        shapes = [tuple(t.shape) for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def _symbolic_call(self, args, kwargs):
        flat = self._flatten_inputs_symbolic(args)
        return super()._symbolic_call((flat if len(flat) > 1 else flat[0],), {})

    def _flatten_inputs_symbolic(self, args):
        data = args[0] if len(args) == 1 else list(args)
        if isinstance(data, dict):
            data = [data[n] for n in self.input_names]
        return nest.flatten(data)

    def compute_output_spec(self, *args, **kwargs):
        from plait.graph.infer import infer_outputs

        spec = infer_outputs(self, args, kwargs)
        return list(spec.values()) if isinstance(spec, dict) else spec

    def __getstate__(self):
        state = self.__dict__.copy()
        for key in ("_graph_fn", "_graph_calls", "_graph_consts"):
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._generate()
