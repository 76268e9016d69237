"""``Function``: a graph of symbolic tensors, called again on new inputs (Keras's ``keras.Function``).

A :class:`Function` is what a functional ``Model`` is without the model: no weights of its own,
no ``fit``, no ``Layer`` API. It orders the graph's nodes once (``plait.graph.traverse``) and
turns them into straight-line code (``plait.graph.codegen``), so a call on tensors costs the
layers' own calls. Called on symbolic tensors, it calls the same layers on them, and the
results join the caller's graph; :meth:`Function.compute_output_spec` infers the output
shapes without adding anything to any graph.

Example:
    >>> import numpy as np, plait
    >>> a, b = plait.Input(shape=(3,)), plait.Input(shape=(3,))
    >>> fn = plait.Function(inputs=[a, b], outputs=plait.ops.sigmoid(a + b))
    >>> fn([np.zeros((2, 3)), np.zeros((2, 3))]).tolist()
    [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]
"""

import numpy as np
import torch

from plait import tree
from plait.graph.codegen import generate_forward
from plait.graph.node import SymbolicTensor
from plait.graph.traverse import map_graph
from plait.utils import array_to_tensor, nest
from plait.utils.naming import to_snake_case, unique_name


def _as_tensor(value):
    if isinstance(value, (np.ndarray, np.generic, list, float, int)):
        tensor = array_to_tensor(np.asarray(value))
        return tensor.float() if tensor.is_floating_point() else tensor  # Keras's floatx
    return value


def _spec_tensors(spec):
    """A layer's ``compute_output_spec`` result (``(shape, dtype)`` pairs) as symbolic tensors."""
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], torch.dtype):
        return SymbolicTensor(spec[0], spec[1], "spec")
    return type(spec)(_spec_tensors(item) for item in spec)


class Function:
    """The computation from ``inputs`` to ``outputs``, callable on new values.

    Args:
        inputs: a symbolic tensor (``plait.Input``), or a list/tuple/dict of them.
        outputs: symbolic tensors computed from ``inputs``, in any nested structure.
        name: the function's name (default ``"function"``, made unique).

    Calling it (``fn(values)``, or ``fn.call(values)``) takes ``values`` in the structure of
    ``inputs`` (tensors or numpy arrays, dims where the inputs have fixed ones must match) and
    returns tensors in the structure of ``outputs``.

    Attributes:
        inputs, outputs: the flat lists of symbolic tensors.
        operations: the layers and ops the graph runs, in Keras's order.

    Example:
        >>> import torch, plait
        >>> x = plait.Input(shape=(4,), name="x")
        >>> hidden = plait.layers.Dense(2, kernel_initializer="ones", name="hidden")(x)
        >>> fn = plait.Function(x, {"hidden": hidden, "doubled": plait.ops.multiply(hidden, 2.0)})
        >>> fn(torch.ones(1, 4))["doubled"].tolist()
        [[8.0, 8.0]]
        >>> [type(op).__name__ for op in fn.operations]
        ['InputLayer', 'Dense', 'Operation']
        >>> fn.compute_output_shape((5, 4))
        {'doubled': (5, 2), 'hidden': (5, 2)}
    """

    def __init__(self, inputs, outputs, name=None):
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self._inputs_struct, self._outputs_struct = inputs, outputs
        self._inputs, self._outputs = tree.flatten(inputs), tree.flatten(outputs)
        for role, tensors, given in (("inputs", self._inputs, inputs), ("outputs", self._outputs, outputs)):
            if not tensors:
                raise ValueError(f"Function: `{role}` cannot be empty. Received: {role}={given!r}")
            wrong = [type(t).__name__ for t in tensors if not isinstance(t, SymbolicTensor)]
            if wrong:
                raise TypeError(
                    f"Function: `{role}` must be symbolic tensors (plait.Input and the results of calling "
                    f"layers and ops on them). Received: {wrong}"
                )
        self._nodes, self._operations = map_graph(self._inputs, self._outputs)
        self._check_connected()
        self._forward = None

    def _check_connected(self):
        known = {id(t) for t in self._inputs}
        for node in self._nodes:
            if id(node) in {id(t.node) for t in self._inputs}:
                continue
            known.update(id(t) for t in node.output_tensors)
        for path, tensor in tree.flatten_with_path(self._outputs_struct):
            if id(tensor) not in known:
                where = ".".join(str(p) for p in path) or "0"
                raise ValueError(f"Function: output at `{where}` is not connected to `inputs`.")

    inputs = property(lambda self: self._inputs, doc="The flat list of symbolic inputs.")
    outputs = property(lambda self: self._outputs, doc="The flat list of symbolic outputs.")

    @property
    def operations(self):
        """The layers and ops of the graph (input layers first), as Keras lists them."""
        return list(self._operations)

    # ------------------------------------------------------------------ calling
    def __call__(self, inputs):
        return self.call(inputs)

    def call(self, inputs):
        """The outputs for ``inputs`` (values, or symbolic tensors to extend a graph)."""
        values = self._check_inputs(inputs)
        if any(isinstance(v, SymbolicTensor) for v in values):
            return self._run(values, lambda layer, args, kwargs: layer(*args, **kwargs))
        if self._forward is None:
            steps = [n for n in self._nodes if id(n) not in {id(t.node) for t in self._inputs}]
            fn, _, calls, consts = generate_forward(self._inputs, self._outputs, steps, name=self.name)
            self._forward = (fn, calls, consts)
        fn, calls, consts = self._forward
        result = fn(calls, consts, *values)
        flat = list(result) if len(self._outputs) > 1 else [result]
        return tree.pack_sequence_as(self._outputs_struct, flat)

    def compute_output_spec(self, inputs):
        """Symbolic tensors with the shapes and dtypes ``inputs`` would give, inferred without
        compute and without adding to any graph.

        Args:
            inputs: symbolic tensors in the structure of the function's inputs.
        """
        values = self._check_inputs(inputs)

        def infer(layer, args, kwargs):
            return _spec_tensors(layer.compute_output_spec(*args, **kwargs))

        return self._run(values, infer)

    def compute_output_shape(self, input_shape):
        """The output shapes for inputs of ``input_shape`` (in the inputs' structure)."""
        probes = tree.flatten(tree.map_shape_structure(lambda s: SymbolicTensor(s, "float32", "shape"), input_shape))
        specs = [SymbolicTensor(p.shape, ref.torch_dtype, ref.name) for p, ref in zip(probes, self._inputs)]
        out = self.compute_output_spec(tree.pack_sequence_as(self._inputs_struct, specs))
        return tree.map_structure(lambda t: t.shape, out)

    def _run(self, values, apply):
        """Walk the nodes in order, ``apply(layer, args, kwargs)`` at each (the symbolic path)."""
        computed = {id(ref): value for ref, value in zip(self._inputs, values)}
        input_nodes = {id(t.node) for t in self._inputs}
        for node in self._nodes:
            if id(node) in input_nodes:
                continue
            args, kwargs = nest.map_structure(
                lambda v: computed[id(v)] if isinstance(v, SymbolicTensor) else v, (node.args, node.kwargs)
            )
            result = apply(node.layer, list(args), dict(kwargs))
            for ref, value in zip(node.output_tensors, nest.flatten(result)):
                computed[id(ref)] = value
        return tree.pack_sequence_as(self._outputs_struct, [computed[id(t)] for t in self._outputs])

    def _check_inputs(self, inputs):
        try:
            tree.assert_same_structure(inputs, self._inputs_struct)
        except (ValueError, TypeError):
            raise ValueError(
                f"Function '{self.name}' was called with inputs of another structure. Expected the structure of "
                f"{self._inputs_struct!r}. Received: {inputs!r}"
            ) from None
        values = [_as_tensor(v) for v in tree.flatten(inputs)]
        for value, ref in zip(values, self._inputs):
            shape = tuple(value.shape) if hasattr(value, "shape") else None
            fits = shape is not None and len(shape) == len(ref.shape)
            fits = fits and all(r is None or s is None or r == s for s, r in zip(shape, ref.shape))
            if not fits:
                raise ValueError(
                    f"Function '{self.name}' was passed an incompatible input: for input '{ref.name}', expected "
                    f"shape {ref.shape}, but received a value of shape {shape}."
                )
        return values

    def __repr__(self):
        return f"<Function name={self.name}, inputs={[t.name for t in self._inputs]}, outputs={len(self._outputs)}>"


__all__ = ["Function"]
