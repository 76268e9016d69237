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

A torch call on a symbolic tensor (``x + y``, ``torch.cat``, a plain ``nn.Module``) must become a
node whose layer calls that function or module; layers sit above the graph, so the graph core
cannot build them. It hands such calls to one handler, which :mod:`plait.layers` installs when it
is imported (:func:`set_torch_function_handler`).
"""

import torch

from plait.utils import nest

# The layers' answers to torch calls on symbolic tensors (see set_torch_function_handler).
_handlers = {"torch_function": None, "check_use": None, "unknown_dim_size": None, "mask_of": None}


def set_mask_handler(mask_of):
    """Install what ``tensor._keras_mask`` becomes for a symbolic tensor that carries a mask:
    ``mask_of(tensor) -> SymbolicTensor`` (a node computing the mask; layers know how)."""
    _handlers["mask_of"] = mask_of


def set_torch_function_handler(torch_function, check_use=None, unknown_dim_size=None):
    """Install what torch calls on symbolic tensors become: the graph core's one hook upwards.

    Args:
        torch_function: ``(func, args, kwargs) -> result``, called for every torch function or
            ``torch.Tensor`` method applied to a symbolic tensor (its ``__torch_function__``).
        check_use: ``() -> None``, called before a symbolic tensor refuses a Python-level use
            (``bool``, ``len``, ``iter``), so that the handler may raise a more precise error.
        unknown_dim_size: ``() -> int | None``, what an unknown dim of ``SymbolicTensor.shape``
            reads as now (``None`` unless the handler runs a plain module's forward on
            placeholder sizes, see :mod:`plait.layers.interop`).

    Returns the previous ``(torch_function, check_use, unknown_dim_size)``.

    Example:
        >>> import torch
        >>> from plait.graph.node import SymbolicTensor, set_torch_function_handler
        >>> previous = set_torch_function_handler(lambda func, args, kwargs: func.__name__)
        >>> torch.relu(SymbolicTensor((None, 3), torch.float32, "x"))
        'relu'
        >>> _ = set_torch_function_handler(*previous)
    """
    previous = (_handlers["torch_function"], _handlers["check_use"], _handlers["unknown_dim_size"])
    _handlers.update(torch_function=torch_function, check_use=check_use, unknown_dim_size=unknown_dim_size)
    return previous


class SymbolicTensor:
    """An immutable placeholder for a tensor in a model being built.

    Attributes:
        shape: tuple of ints, ``None`` for the batch dim and any dim unknown until run time.
        dtype: Keras's name of the dtype (``"float32"``), as a Keras tensor's; inside the forward
            of a plain torch module called on this tensor it reads as the ``torch.dtype``, which
            torch code there passes on to torch functions.
        torch_dtype: the ``torch.dtype`` (what the graph code reads).
        name: a readable name (the producing layer's name, with an index for multi-output).
        node: the :class:`Node` that produced this tensor.
        index: position of this tensor among ``node.outputs``.
        has_mask: whether a Keras mask travels with this tensor (``Embedding(mask_zero=True)``,
            ``Masking``, and the layers that pass a mask on); known when the graph is built.

    Example:
        >>> import plait
        >>> x = plait.Input(shape=(None,), dtype="int32", name="text")
        >>> x
        <SymbolicTensor name=text shape=(None, None) dtype=int32>
        >>> x.dtype, x.torch_dtype
        ('int32', torch.int32)
    """

    __slots__ = ("_shape", "torch_dtype", "name", "node", "index", "has_mask")

    def __init__(self, shape, dtype, name, node=None, index=0, has_mask=False):
        for attr, value in (
            ("_shape", tuple(None if d is None else int(d) for d in shape)),
            ("torch_dtype", torch_dtype(dtype)),
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
        return (SymbolicTensor, (self._shape, self.torch_dtype, self.name, self.node, self.index, self.has_mask))

    @property
    def shape(self):
        """The shape, ``None`` where unknown. One exception, decided by the installed handler's
        ``unknown_dim_size``: inside the forward of a plain module called on this tensor, where
        code such as ``x.view(*x.shape[:-1], -1, 8)`` needs ints, unknown dims read as the size
        of the module's meta run (see :mod:`plait.layers.interop`)."""
        if None in self._shape and _handlers["unknown_dim_size"] is not None:
            size = _handlers["unknown_dim_size"]()
            if size is not None:
                return tuple(size if d is None else d for d in self._shape)
        return self._shape

    @property
    def declared_shape(self):
        """The shape with ``None`` where unknown, always (also inside a plain module's forward,
        where :attr:`shape` reads unknown dims as the meta run's size).

        Example:
            >>> from plait.graph.node import SymbolicTensor
            >>> SymbolicTensor((None, 3), "float32", "x").declared_shape
            (None, 3)
        """
        return self._shape

    @property
    def dtype(self):
        """Keras's dtype name (``"float32"``); the ``torch.dtype`` inside a plain module's forward."""
        if _handlers["unknown_dim_size"] is not None and _handlers["unknown_dim_size"]() is not None:
            return self.torch_dtype
        return keras_dtype(self.torch_dtype)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def _keras_mask(self):
        """Keras's mask of this tensor (a symbolic bool tensor), or None when it carries none."""
        if not self.has_mask or _handlers["mask_of"] is None:
            return None
        return _handlers["mask_of"](self)

    @property
    def layer(self):
        return self.node.layer

    def __repr__(self):
        return f"<SymbolicTensor name={self.name} shape={self.shape} dtype={keras_dtype(self.torch_dtype)}>"

    # --- torch interop: `x + y`, `torch.cat([x, y])`, `x.transpose(1, 2)` and plain
    # `torch.nn.Module`s called on symbolic tensors all become graph nodes, made by the handler
    # that plait.layers installs (set_torch_function_handler).
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        handler = _handlers["torch_function"]
        if handler is None:
            raise TypeError(
                f"Torch function {getattr(func, '__name__', func)!r} called on a symbolic tensor, but no handler "
                "is installed; import plait.layers first."
            )
        return handler(func, args, kwargs or {})

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
            meta = torch.empty([1 if d is None else d for d in self._shape], dtype=self.torch_dtype, device="meta")
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
        # Inside a plain module's forward the handler names the module in its error.
        if _handlers["check_use"] is not None:
            _handlers["check_use"]()

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


def keras_dtype(dtype):
    """Keras's name of a torch dtype: ``torch.float32`` -> ``"float32"``."""
    return str(dtype).replace("torch.", "")


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
