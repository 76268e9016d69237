"""The symbolic graph: tensors that carry only shape and dtype, and the nodes that link them.

A functional model is a DAG. Each edge is a :class:`SymbolicTensor` (shape with ``None`` for
unknown dims, a dtype, a name); each vertex is a :class:`Node`: one call of one layer on some
symbolic tensors, producing others. A tensor remembers the node that made it
(``tensor.node``) and its position among that node's outputs, so walking backwards from a
model's outputs to its inputs recovers the whole graph. A layer called several times (a shared
layer) owns several nodes, numbered in call order: ``dense[1][0]`` is output 0 of the second
call of ``dense``.

Nothing here runs real compute. :mod:`plait.graph.codegen` turns the DAG into a plain
``forward`` once, when the model is built.
"""

import torch

from plait.utils import nest


class SymbolicTensor:
    """An immutable placeholder for a tensor in a model being built.

    Attributes:
        shape: tuple of ints, ``None`` for the batch dim and any dim unknown until run time.
        dtype: a ``torch.dtype``.
        name: a readable name (the producing layer's name, with an index for multi-output).
        node: the :class:`Node` that produced this tensor.
        index: position of this tensor among ``node.outputs``.
        has_mask: whether a Keras mask travels with this tensor (``Embedding(mask_zero=True)``,
            ``Masking``, and the layers that pass a mask on); known when the graph is built.

    Example:
        >>> import plait
        >>> x = plait.Input(shape=(None,), dtype="int32", name="text")
        >>> x
        <SymbolicTensor name=text shape=(None, None) dtype=torch.int32>
    """

    __slots__ = ("_shape", "dtype", "name", "node", "index", "has_mask")

    def __init__(self, shape, dtype, name, node=None, index=0, has_mask=False):
        for attr, value in (
            ("_shape", tuple(None if d is None else int(d) for d in shape)),
            ("dtype", dtype),
            ("name", name),
            ("node", node),
            ("index", index),
            ("has_mask", bool(has_mask)),
        ):
            object.__setattr__(self, attr, value)

    def __setattr__(self, name, value):
        raise AttributeError("SymbolicTensor is immutable")

    def __reduce__(self):
        # copy/deepcopy/pickle rebuild through the constructor (the object is immutable).
        return (SymbolicTensor, (self._shape, self.dtype, self.name, self.node, self.index, self.has_mask))

    @property
    def shape(self):
        """The shape, ``None`` where unknown. Read inside the forward of a plain module called on
        this tensor (``hidden.shape[:-1]`` before its first op, as HuggingFace blocks do), the
        unknown dims read as the placeholder size that the module's meta run uses, so that
        sizes built from them are ints (see :mod:`plait.graph.ops`)."""
        if None in self._shape and not torch.compiler.is_compiling():
            from plait.graph.ops import PLACEHOLDER, in_plain_module_call

            if in_plain_module_call():
                return tuple(PLACEHOLDER if d is None else d for d in self._shape)
        return self._shape

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def layer(self):
        return self.node.layer

    def __repr__(self):
        return f"<SymbolicTensor name={self.name} shape={self.shape} dtype={self.dtype}>"

    # --- torch interop: `x + y`, `torch.cat([x, y])`, `x.transpose(1, 2)` and plain
    # `torch.nn.Module`s called on symbolic tensors all become graph nodes (see plait.graph.ops).
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        from plait.graph.ops import symbolic_torch_function

        return symbolic_torch_function(func, args, kwargs or {})

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def dim(self):
        return len(self.shape)

    def __getattr__(self, name):
        method = getattr(torch.Tensor, name, None)
        if method is None or name.startswith("_") or name in SymbolicTensor.__slots__:
            raise AttributeError(f"'SymbolicTensor' object has no attribute '{name}'")
        if not callable(method):
            # A tensor property (is_nested, requires_grad, device, ...): answer as a meta
            # tensor of this shape would, unknown dims standing in as 1.
            meta = torch.empty([1 if d is None else d for d in self._shape], dtype=self.dtype, device="meta")
            return getattr(meta, name)
        return lambda *args, **kwargs: SymbolicTensor.__torch_function__(method, (), (self, *args), kwargs)

    def __add__(self, *args):
        return self.__torch_function__(torch.Tensor.__add__, (), (self, *args))

    def __radd__(self, *args):
        return self.__torch_function__(torch.Tensor.__radd__, (), (self, *args))

    def __sub__(self, *args):
        return self.__torch_function__(torch.Tensor.__sub__, (), (self, *args))

    def __rsub__(self, *args):
        return self.__torch_function__(torch.Tensor.__rsub__, (), (self, *args))

    def __mul__(self, *args):
        return self.__torch_function__(torch.Tensor.__mul__, (), (self, *args))

    def __rmul__(self, *args):
        return self.__torch_function__(torch.Tensor.__rmul__, (), (self, *args))

    def __truediv__(self, *args):
        return self.__torch_function__(torch.Tensor.__truediv__, (), (self, *args))

    def __rtruediv__(self, *args):
        return self.__torch_function__(torch.Tensor.__rtruediv__, (), (self, *args))

    def __floordiv__(self, *args):
        return self.__torch_function__(torch.Tensor.__floordiv__, (), (self, *args))

    def __matmul__(self, *args):
        return self.__torch_function__(torch.Tensor.__matmul__, (), (self, *args))

    def __rmatmul__(self, *args):
        return self.__torch_function__(torch.Tensor.__rmatmul__, (), (self, *args))

    def __pow__(self, *args):
        return self.__torch_function__(torch.Tensor.__pow__, (), (self, *args))

    def __rpow__(self, *args):
        return self.__torch_function__(torch.Tensor.__rpow__, (), (self, *args))

    def __neg__(self, *args):
        return self.__torch_function__(torch.Tensor.__neg__, (), (self, *args))

    def __abs__(self, *args):
        return self.__torch_function__(torch.Tensor.__abs__, (), (self, *args))

    def __getitem__(self, *args):
        return self.__torch_function__(torch.Tensor.__getitem__, (), (self, *args))

    def __lt__(self, *args):
        return self.__torch_function__(torch.Tensor.__lt__, (), (self, *args))

    def __le__(self, *args):
        return self.__torch_function__(torch.Tensor.__le__, (), (self, *args))

    def __gt__(self, *args):
        return self.__torch_function__(torch.Tensor.__gt__, (), (self, *args))

    def __ge__(self, *args):
        return self.__torch_function__(torch.Tensor.__ge__, (), (self, *args))

    def __and__(self, *args):
        return self.__torch_function__(torch.Tensor.__and__, (), (self, *args))

    def __or__(self, *args):
        return self.__torch_function__(torch.Tensor.__or__, (), (self, *args))

    def __invert__(self, *args):
        return self.__torch_function__(torch.Tensor.__invert__, (), (self, *args))

    def __mod__(self, *args):
        return self.__torch_function__(torch.Tensor.__mod__, (), (self, *args))

    __hash__ = object.__hash__

    def _in_module_forward(self):
        from plait.graph.ops import pending_module

        module = pending_module()
        if module is not None:
            raise TypeError(
                f"{type(module).__name__}'s forward cannot run on symbolic tensors op by op (it "
                "inspects intermediate values). Wrap it instead: "
                "`plait.layers.TorchModuleWrapper(module)(inputs)` runs it on the meta device."
            )

    def __bool__(self):
        self._in_module_forward()
        raise TypeError(
            "A symbolic tensor has no value: it cannot be used in a Python condition. "
            "Call the model on real data, or move the condition inside a layer's call()."
        )

    def __len__(self):
        self._in_module_forward()
        raise TypeError("A symbolic tensor has no length; use `tensor.shape`.")

    def __iter__(self):
        self._in_module_forward()
        raise TypeError("A symbolic tensor cannot be iterated; use `tensor.shape`.")


class Node:
    """One call of ``layer`` on symbolic inputs.

    Args:
        layer: the layer (any ``torch.nn.Module``) that was called.
        args, kwargs: the call's arguments, symbolic tensors left in place; other values
            (ints, strings, ...) are constants of the call.

    ``outputs`` (set once the output spec is known) is the structure of symbolic tensors the
    call returned: a tensor, or a flat list/tuple of them.
    """

    def __init__(self, layer, args, kwargs):
        self.layer = layer
        self.args = args
        self.kwargs = kwargs
        self.outputs = None
        self.output_tensors = []
        self.input_tensors = [t for t in nest.flatten((args, kwargs)) if isinstance(t, SymbolicTensor)]

    def set_outputs(self, outputs):
        self.outputs = outputs
        self.output_tensors = nest.flatten(outputs)

    @property
    def parent_nodes(self):
        return [t.node for t in self.input_tensors]

    def __repr__(self):
        return f"<Node layer={getattr(self.layer, 'name', type(self.layer).__name__)}>"


def torch_dtype(dtype):
    """Accept ``"int32"``, ``"float32"``, ``torch.float32``, numpy dtypes; return a torch dtype."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    name = getattr(dtype, "name", None) or getattr(dtype, "__name__", None) or str(dtype)
    resolved = getattr(torch, str(name).replace("torch.", ""), None)
    if not isinstance(resolved, torch.dtype):
        raise TypeError(f"Unknown dtype. Expected e.g. 'float32' or 'int32'. Received: dtype={dtype!r}")
    return resolved
