"""``Variable``: a layer's trainable weight, a ``torch.nn.Parameter`` that also answers Keras's
Variable API.

A plait weight must stay an ``nn.Parameter`` (a plait model is an ``nn.Module``: optimizers,
``state_dict``, DDP and ``torch.compile`` see plain parameters). Keras code reads weights
through ``keras.Variable``'s API instead: ``v.value.grad`` in a custom ``train_step``,
``v.name``, ``v.path``, ``v.numpy()``, ``v.assign(...)``. ``Variable`` subclasses
``nn.Parameter`` with exactly those extra attributes and nothing else: torch functions on it
return plain tensors, as they do on a ``Parameter``, so it costs nothing in the forward pass.

Where the two APIs clash, torch wins, since every torch function reads these attributes:
``v.dtype`` is a ``torch.dtype`` and ``v.shape`` is the stored shape (a weight stored in the
layout a torch kernel wants, such as a Conv2D kernel, has Keras's shape in
``v.keras_shape``; ``v.numpy()`` and ``v.assign`` use Keras's layout). ``v.dtype_name`` spells
the dtype as Keras does (``"float32"``).

Example:
    >>> import plait
    >>> layer = plait.layers.Dense(3, name="proj")
    >>> _ = layer(plait.Input(shape=(4,)))
    >>> kernel = layer.trainable_weights[0]
    >>> kernel.name, kernel.path, kernel.numpy().shape, kernel.dtype_name
    ('kernel', 'proj/kernel', (4, 3), 'float32')
"""

import numpy as np
import torch
from torch import nn

from plait import scopes
from plait.graph.node import keras_dtype, torch_dtype


class Variable(nn.Parameter):
    """A trainable weight: an ``nn.Parameter`` with Keras's Variable API.

    Made by :meth:`plait.layers.Layer.add_weight`, or by hand as Keras's ``keras.Variable``:

    Args:
        initializer: the initial value (a tensor, an array, a number) or an initializer (a name
            such as ``"zeros"``, an instance or a callable ``(shape, dtype)``), which then needs
            ``shape``.
        requires_grad: torch's name for ``trainable`` (``nn.Parameter``'s second argument).
        name: the weight's name.
        shape, dtype, trainable: as Keras's (``dtype`` defaults to ``"float32"`` for float
            values and initializers).

    Attributes:
        name: the weight's name in its layer (``"kernel"``, ``"bias"``).
        path: ``"<layer name>/<weight name>"``, as Keras's ``variable.path``.
        keras_shape: the weight's shape in Keras's layout.
    """

    def __new__(
        cls,
        initializer=None,
        requires_grad=True,
        name=None,
        layer_name=None,
        spec=None,
        *,
        shape=None,
        dtype=None,
        trainable=None,
    ):
        data = _initial_value(initializer, shape, dtype)
        return super().__new__(cls, data, requires_grad if trainable is None else bool(trainable))

    def __init__(self, initializer=None, requires_grad=True, name=None, layer_name=None, spec=None, **keras_args):
        # (``__new__`` made the tensor from ``initializer`` and Keras's ``shape``/``dtype``/``trainable``.)
        self._keras_name = name if name is not None else "variable"  # Keras's default name
        # A Variable made by hand takes the open name scopes as its path's prefix, as Keras's.
        self._layer_name = layer_name if layer_name is not None else (scopes.current_path() or None)
        self._spec = spec

    # ``torch.Tensor`` defines ``name`` (for named tensors' dims it is always None here).
    @property
    def name(self):
        return self._keras_name

    @property
    def path(self):
        return f"{self._layer_name}/{self._keras_name}" if self._layer_name else self._keras_name

    @property
    def keras_shape(self):
        return self._spec.keras_shape if self._spec is not None else tuple(self.shape)

    @property
    def value(self):
        """The stored tensor itself (Keras's ``variable.value``): ``v.value.grad`` is the
        gradient of the last ``backward()``."""
        return self

    @property
    def trainable(self):
        return self.requires_grad

    @trainable.setter
    def trainable(self, value):
        self.requires_grad_(bool(value))

    @property
    def dtype_name(self):
        """The dtype as Keras spells it (``"float32"``)."""
        return keras_dtype(self.dtype)

    def _keras_view(self):
        data = self.detach()
        return self._spec.keras_view(data) if self._spec is not None else data

    def numpy(self, *, force=None):
        """The value as a numpy array in Keras's layout (works while gradients are on).

        With ``force`` (torch's own argument, which torch's exporters pass), the stored tensor as
        ``torch.Tensor.numpy`` returns it: torch code expects its own layout."""
        if force is not None:
            return torch.Tensor.numpy(self.detach(), force=force)
        return self._keras_view().cpu().numpy()

    def __array__(self, dtype=None, copy=None):
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def assign(self, value):
        """Set the value (in Keras's layout); returns the variable."""
        value = _as_tensor(value)
        expected = tuple(self.keras_shape)
        if tuple(value.shape) != expected:
            raise ValueError(
                f"Variable '{self.path}' has shape {expected}, but the value assigned has shape {tuple(value.shape)}."
            )
        stored = self._spec.to_storage(value) if self._spec is not None else value
        with torch.no_grad():
            self.copy_(stored.to(device=self.device, dtype=self.dtype))
        return self

    def assign_add(self, value):
        """``v += value`` (Keras's layout); returns the variable."""
        return self.assign(self._keras_view() + _as_tensor(value))

    def assign_sub(self, value):
        """``v -= value`` (Keras's layout); returns the variable."""
        return self.assign(self._keras_view() - _as_tensor(value))

    def __repr__(self):
        return f"<Variable path={self.path}, shape={tuple(self.keras_shape)}, dtype={self.dtype_name}>"

    def meta_copy(self):
        """This variable on the ``meta`` device (no storage), with the same name and layout: what a
        layer's ``call`` sees while plait infers its output shape, so ``self.kernel.assign(...)``
        and ``self.kernel.value`` work there as they do on real data."""
        meta = torch.empty_like(self, device="meta").as_subclass(torch.Tensor)
        return Variable(meta, self.requires_grad, self._keras_name, self._layer_name, self._spec)

    def __deepcopy__(self, memo):
        # copy.deepcopy (clone_model, EarlyStopping's best weights): nn.Parameter's own copy
        # would drop the Keras attributes.
        if id(self) not in memo:
            memo[id(self)] = Variable(
                self.detach().clone(memory_format=torch.preserve_format),
                self.requires_grad,
                self._keras_name,
                self._layer_name,
                self._spec,
            )
        return memo[id(self)]


def _initial_value(initializer, shape, dtype):
    """The tensor a Variable starts from: a value as given, or an initializer's draw."""
    from plait import initializers

    if isinstance(initializer, torch.Tensor):
        value = initializer.detach()
        return value if dtype is None else value.to(torch_dtype(dtype))
    if isinstance(initializer, str) or (callable(initializer) and not isinstance(initializer, np.ndarray)):
        if shape is None:
            raise ValueError(
                f"A Variable made from an initializer ({initializer!r}) needs `shape`. Received: shape=None"
            )
        value = initializers.get(initializer)(tuple(shape), dtype=torch_dtype(dtype or "float32"))
        return value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
    if initializer is None:
        raise ValueError("A Variable needs an initial value or an initializer. Received: initializer=None")
    array = np.asarray(initializer)
    if dtype is None and array.dtype.kind == "f":
        dtype = "float32"  # Keras's floatx, as keras.Variable(np.zeros(3)) gives
    value = torch.as_tensor(array)
    value = value if dtype is None else value.to(torch_dtype(dtype))
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise ValueError(f"The Variable's value has shape {tuple(value.shape)}, but shape={tuple(shape)} was given.")
    return value


def _as_tensor(value):
    return value.detach() if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
