"""``Sequential``: a plain stack of layers, each feeding the next."""

import torch
from torch import nn

from plait.graph.node import SymbolicTensor
from plait.layers.base import Layer
from plait.layers.input_layer import Input, InputLayer
from plait.layers.torch_module import wrap_module
from plait.models.functional import Functional, layer_dict, put_layer
from plait.training.trainer import Trainer
from plait.utils import array_to_tensor


class Sequential(Functional):
    """A linear stack of layers.

    The input shape comes from an ``Input`` given first, or from ``input_shape=`` on the first
    layer; without either, the model is built on the first batch of data it sees (as in Keras).
    Plain ``torch.nn.Module``s may be added too.

    Args:
        layers: optional list of layers (an ``Input`` tensor may come first).
        name: the model's name (default ``sequential``, ``sequential_1``, ...).

    Example:
        >>> import plait
        >>> from plait.layers import Dense
        >>> model = plait.Sequential([Dense(32, activation="relu", input_shape=(64,)), Dense(10)])
        >>> model.count_params()
        2410
    """

    layer_stack = True  # summary() prints it as a stack: no "Connected to" column

    def __init__(self, layers=None, name=None, trainable=True, **kwargs):
        Layer.__init__(self, name=name, trainable=trainable, **kwargs)
        Trainer.__init__(self)
        self._stack = []
        self._input_layer = None
        self.by_name = layer_dict()
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        """Append a layer (or an ``Input``, first only)."""
        if isinstance(layer, SymbolicTensor) and isinstance(layer.node.layer, InputLayer):
            layer = layer.node.layer
        if isinstance(layer, InputLayer):
            if self._stack or self._input_layer is not None:
                raise ValueError(f"Sequential model '{self.name}': an Input can only be the first layer.")
            self._input_layer = layer
        else:
            if not isinstance(layer, nn.Module):
                raise TypeError(
                    f"Sequential model '{self.name}' can only add layers or torch.nn.Modules. "
                    f"Received: {layer!r} of type {type(layer).__name__}"
                )
            layer = wrap_module(layer)
            if any(other.name == layer.name for other in self._stack):
                raise ValueError(
                    f"The name '{layer.name}' is used by 2 layers in model '{self.name}'. "
                    "All layer names should be unique."
                )
            self._stack.append(layer)
            put_layer(self.by_name, layer)
        # Built as soon as the input shape is known (as Keras does), so parameters() and
        # state_dict() hold every weight; otherwise on the first data.
        self.built = False
        self.ensure_graph()

    def pop(self):
        """Remove and return the last layer."""
        if not self._stack:
            raise ValueError(f"Sequential model '{self.name}' has no layers to pop.")
        layer = self._stack.pop()
        del self.by_name[layer.name]
        self.built = False
        self.ensure_graph()
        return layer

    @property
    def input_batch_shape(self):
        """The inputs' batch shape as declared (batch dim first): the ``Input``'s, or the first
        layer's ``input_shape=``; None when neither was given (the model builds on its first data).

        Example:
            >>> import plait
            >>> plait.Sequential([plait.layers.Dense(2, input_shape=(3,))]).input_batch_shape
            (None, 3)
        """
        if self._input_layer is not None:
            return self._input_layer.batch_shape
        if self._stack and self._stack[0].batch_input_shape is not None:
            return self._stack[0].batch_input_shape
        return None

    @property
    def input_dtype(self):
        """The ``torch.dtype`` of the declared ``Input`` (``torch.float32`` without one)."""
        return self._input_dtype()

    def _input_dtype(self, default=torch.float32):
        return self._input_layer.input_dtype if self._input_layer is not None else default

    def ensure_built(self, x):
        """Build the graph from the shape of input data ``x`` (an array, a tensor, or a list
        holding one) when no input shape was given, as Keras builds on the first batch."""
        if self.ensure_graph() or x is None:
            return
        sample = x[0] if isinstance(x, (list, tuple)) and x and hasattr(x[0], "shape") else x
        if hasattr(sample, "to_numpy") and not isinstance(sample, torch.Tensor):
            sample = sample.to_numpy()
        if hasattr(sample, "shape") and len(sample.shape):
            self(sample[:1])

    def ensure_graph(self):
        """Build the graph now if the input shape is known and the graph is out of date (layers
        were added or popped); return whether the model is built.

        Example:
            >>> import plait
            >>> model = plait.Sequential([plait.layers.Dense(2)])
            >>> model.ensure_graph()
            False
            >>> model.build((None, 3))
            >>> model.ensure_graph()
            True
        """
        shape = self.input_batch_shape
        if not self.built and shape is not None and self._stack:
            self._build_graph(shape, self._input_dtype())
        return self.built

    def _build_graph(self, batch_shape, dtype):
        if not self._stack:
            return
        if self._input_layer is not None:
            x = self._input_layer.output
        else:
            # One automatic Input per shape, reused when layers are added (no new names).
            key = (tuple(batch_shape), dtype)
            if getattr(self, "_auto_input_key", None) != key:
                self._auto_input, self._auto_input_key = Input(batch_shape=batch_shape, dtype=dtype), key
            x = self._auto_input
        y = x
        for layer in self._stack:
            y = layer(y)
        self._init_graph(x, y)

    def build(self, input_shape=None):
        """Build for inputs of ``input_shape`` (batch dim included)."""
        shape = input_shape if input_shape is not None else self.input_batch_shape
        if shape is None:
            raise ValueError(
                f"Sequential model '{self.name}' cannot be built: its input shape is unknown. "
                "Give an Input first, `input_shape=` on the first layer, or call build(shape)."
            )
        self._build_graph((None, *tuple(shape)[1:]), self._input_dtype())

    def __call__(self, *args, **kwargs):
        self.ensure_graph()
        if not self.built and len(args) == 1 and isinstance(args[0], dict):
            # As Keras's: a dict (images with their bounding boxes, a FeatureSpace's features)
            # makes no graph; the layers run one after the other on it.
            data = args[0]
            for layer in self._stack:
                data = layer(data, **kwargs)
            return data
        if not self.built and args and not isinstance(args[0], SymbolicTensor):
            data = args[0]
            data = array_to_tensor(data) if not isinstance(data, torch.Tensor) else data
            dtype = data.dtype if not data.is_floating_point() else torch.float32
            self._build_graph((None, *data.shape[1:]), self._input_dtype(dtype))
        if not self.built and args and isinstance(args[0], SymbolicTensor):
            self._build_graph((None, *args[0].shape[1:]), args[0].torch_dtype)
        return super().__call__(*args, **kwargs)

    def accepts_input_shape(self, shape):
        """Check data of ``shape`` (batch first) against the layers, not the Input: as Keras's
        Sequential, data of other sizes than the model was built for (a later sequence length)
        passes where every layer accepts it. Raises the first layer's ValueError otherwise. The
        layers' shape inference runs once per shape (no compute, no new nodes)."""
        shape = (None, *tuple(shape)[1:])
        accepted = self.__dict__.setdefault("_accepted_shapes", set())
        if shape in accepted:
            return
        x = SymbolicTensor(shape, self.inputs[0].torch_dtype, "data")
        for layer in self._stack:
            if isinstance(layer, Layer):
                layer.check_input_shape(x)
            spec = layer.compute_output_spec(x)
            x = SymbolicTensor(spec[0], spec[1], "data") if isinstance(spec, tuple) else x
        accepted.add(shape)

    @property
    def layers(self):
        return list(self._stack)

    @property
    def input_names(self):
        if not self.ensure_graph():
            raise ValueError(f"Sequential model '{self.name}' has no inputs until it is built.")
        return super().input_names

    @property
    def output_names(self):
        # Known before the graph is: a Sequential's one output is its last layer's.
        if self.ensure_graph():
            return super().output_names
        return [self._stack[-1].name] if self._stack else []

    def _sublayers(self):
        self.ensure_graph()
        return list(self._stack)
