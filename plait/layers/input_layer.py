"""``Input`` and ``InputLayer``: where a functional graph starts."""

from plait.graph.node import Node, SymbolicTensor, keras_dtype, torch_dtype
from plait.layers.base import Layer


class InputLayer(Layer):
    """The layer behind ``Input``: no weights; its one node makes the input tensor.

    Args:
        shape: shape without the batch dim; ``None`` for unknown dims.
        batch_size: fixed batch size, or None.
        dtype: the input's dtype (``"float32"``, ``"int32"``, ...).
        name: the input's name, used as a key when data is passed as a dict.
    """

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, batch_shape=None, **kwargs):
        super().__init__(name=name or None, **kwargs)
        if batch_shape is None:
            if shape is None:
                raise ValueError("Input needs a `shape` (without the batch dim), e.g. Input(shape=(64,)).")
            if isinstance(shape, int):
                shape = (shape,)
            batch_shape = (batch_size, *tuple(shape))
        for d in batch_shape:
            if d is not None and (not isinstance(d, int) or d < 0):
                raise ValueError(
                    f"Input shape dims must be non-negative ints or None. Received: shape={tuple(batch_shape[1:])}"
                )
        self.batch_shape = tuple(batch_shape)
        self.input_dtype = torch_dtype(dtype)
        self.built = True
        node = Node(self, (), {})
        node.set_outputs(SymbolicTensor(self.batch_shape, self.input_dtype, self.name, node, 0))
        self._inbound_nodes.append(node)
        self.output = node.outputs

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return self.batch_shape

    def get_config(self):
        return {
            "batch_shape": list(self.batch_shape),
            "dtype": keras_dtype(self.input_dtype),
            "name": self.name,
        }


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None):
    """Start a functional model: a symbolic tensor of the given shape.

    Args:
        shape: shape tuple without the batch dim, ``None`` for dims unknown until run time
            (e.g. ``(None,)`` for variable-length sequences).
        batch_size: optional fixed batch size.
        dtype: ``"float32"`` (default), ``"int32"``, ``"int64"``, ... or a torch dtype.
        name: name of the input (unique within a model); data may then be passed as a dict.
        batch_shape: shape including the batch dim (alternative to ``shape``).

    Returns:
        A :class:`~plait.graph.node.SymbolicTensor`.

    Example:
        >>> import plait
        >>> plait.Input(shape=(64,)).shape
        (None, 64)
    """
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name, batch_shape=batch_shape)
    return layer.output


class _SymbolicKind(type):
    """``isinstance(x, KerasTensor)`` is true of every symbolic tensor of a model being built."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, SymbolicTensor)

    def __subclasscheck__(cls, subclass):
        return issubclass(subclass, SymbolicTensor)


class KerasTensor(metaclass=_SymbolicKind):
    """Keras's ``KerasTensor``: the symbolic tensor of a model being built. Made by hand, it is
    an input of a graph (``plait.Function``, ``plait.Model``), as ``Input(batch_shape=shape)``.

    Args:
        shape: the full shape, batch dimension included (None where unknown).
        dtype: the dtype's name (default ``"float32"``).
        sparse, ragged: Keras's flags; torch models take dense tensors, so only False.
        record_history: taken, as Keras's (a hand-made tensor starts a graph either way).
        name: the input's name (default: made unique).

    Example:
        >>> import plait
        >>> x = plait.KerasTensor(shape=(None, 3))
        >>> isinstance(x, plait.KerasTensor), x.shape, x.dtype
        (True, (None, 3), 'float32')
    """

    def __new__(cls, shape, dtype="float32", sparse=False, ragged=False, record_history=True, name=None):
        for flag, value in (("sparse", sparse), ("ragged", ragged)):
            if value:
                raise ValueError(
                    f"KerasTensor({flag}=True) is not supported: plait's models take dense torch tensors "
                    f"(pad ragged data, or densify sparse data). Received: {flag}={value!r}"
                )
        return Input(batch_shape=tuple(shape), dtype=dtype, name=name)
