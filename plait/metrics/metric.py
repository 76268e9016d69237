"""The ``Metric`` base class: Keras 3's ``update_state`` / ``result`` / ``reset_state`` contract.

A Keras-style subclass creates its state in ``__init__`` with :meth:`Metric.add_variable` (after
``super().__init__(...)``), accumulates in ``update_state`` (``v.assign_add(...)``), reads it in
``result`` and may override ``reset_state`` (by default every variable goes back to zeros, as in
Keras). plait's own metrics keep their state as plain tensors made by ``reset_state``.
"""

import inspect

import numpy as np
import torch

from plait.utils import nest
from plait.utils.dtypes import to_torch_dtype
from plait.utils.naming import to_snake_case


class MetricVariable(torch.Tensor):
    """A metric's state variable (what :meth:`Metric.add_variable` returns): a tensor with Keras's
    Variable API (``assign``, ``assign_add``, ``assign_sub``, ``numpy()``, ``value``, ``name``)."""

    # Results of torch ops on it are plain tensors, as for nn.Parameter.
    __torch_function__ = torch._C._disabled_torch_function_impl

    @staticmethod
    def make(value, name, aggregation="sum"):
        variable = torch.Tensor._make_subclass(MetricVariable, value.detach(), False)
        variable._keras_name, variable.aggregation = name, aggregation
        return variable

    @property
    def name(self):
        return self._keras_name

    @property
    def path(self):
        return self._keras_name

    @property
    def value(self):
        return self

    @property
    def trainable(self):
        return False

    def numpy(self):
        return torch.Tensor.numpy(self.detach().cpu()).copy()

    def __array__(self, dtype=None, copy=None):
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def assign(self, value):
        with torch.no_grad():
            value = value.detach() if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
            self.copy_(value.to(device=self.device, dtype=self.dtype).expand_as(self))
        return self

    def assign_add(self, value):
        return self.assign(
            self.detach() + (value.detach() if isinstance(value, torch.Tensor) else torch.as_tensor(value))
        )

    def assign_sub(self, value):
        return self.assign(
            self.detach() - (value.detach() if isinstance(value, torch.Tensor) else torch.as_tensor(value))
        )

    def __repr__(self):
        return f"<MetricVariable name={self.name}, shape={tuple(self.shape)}, value={self.numpy()}>"

    def __deepcopy__(self, memo):
        if id(self) not in memo:
            memo[id(self)] = MetricVariable.make(self.detach().clone(), self._keras_name, self.aggregation)
        return memo[id(self)]


class Metric:
    """Base class of streaming metrics (Keras 3's signature: ``Metric(dtype=None, name=None)``).

    Args:
        dtype: the dtype of the state variables (default ``float32``).
        name: the key under which the metric is logged (default: the class name in snake case).

    Example:
        >>> import torch, plait
        >>> class Total(plait.metrics.Metric):
        ...     def __init__(self, name="total", **kwargs):
        ...         super().__init__(name=name, **kwargs)
        ...         self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        ...     def update_state(self, values, sample_weight=None):
        ...         self.total.assign_add(values.sum())
        ...     def result(self):
        ...         return self.total.value
        >>> m = Total()
        >>> m.update_state(torch.tensor([1.0, 2.0])); float(m.result())
        3.0
        >>> m.reset_state(); float(m.result())
        0.0
    """

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        # Keras records the constructor's arguments: a subclass without get_config still saves.
        try:
            bound = inspect.signature(cls.__init__).bind(None, *args, **kwargs)
            arguments = dict(bound.arguments)
            arguments.pop(next(iter(arguments)))  # self
            extra = arguments.pop("kwargs", {}) if "kwargs" in inspect.signature(cls.__init__).parameters else {}
            arguments.update(extra)
            self._auto_config = arguments if nest.is_plain(arguments) else None
        except TypeError:
            self._auto_config = None
        return self

    def __init__(self, dtype=None, name=None):
        self.name = name or to_snake_case(type(self).__name__)
        self._dtype = torch.float32 if dtype is None else to_torch_dtype(dtype)
        self._variables = []
        # plait's own metrics make their state in reset_state; a Keras-style subclass makes it
        # after this __init__ returns (add_variable), so it must not be reset here.
        if _defined_by_plait(type(self).reset_state):
            self.reset_state()

    @property
    def dtype(self):
        """The state's dtype as Keras spells it (``"float32"``)."""
        return str(getattr(self, "_dtype", torch.float32)).replace("torch.", "")

    @property
    def variables(self):
        """The state variables made by :meth:`add_variable` (Keras's ``metric.variables``)."""
        return list(self.__dict__.get("_variables", []))

    def add_variable(self, shape, initializer, dtype=None, aggregation="sum", name=None):
        """A state variable of ``shape`` (Keras's ``add_variable``).

        Args:
            shape: its shape (``()`` for a scalar).
            initializer: a name (``"zeros"``) or an initializer (plait.initializers' names).
            dtype: default the metric's dtype.
            aggregation: how replicas combine it (``"sum"``, ``"mean"``); recorded.
            name: its name.
        """
        from plait import initializers

        if "_variables" not in self.__dict__:
            raise RuntimeError(
                f"Metric '{type(self).__name__}': call super().__init__() before add_variable(), as in Keras."
            )
        dtype = self._dtype if dtype is None else to_torch_dtype(dtype)
        value = initializers.get(initializer)(tuple(shape) if shape is not None else (), dtype=dtype)
        variable = MetricVariable.make(torch.as_tensor(value, dtype=dtype), name or f"variable_{len(self._variables)}")
        variable.aggregation = aggregation
        self._variables.append(variable)
        return variable

    def add_weight(self, shape=(), initializer=None, dtype=None, name=None):
        """Keras's older name for :meth:`add_variable`."""
        return self.add_variable(shape, initializer or "zeros", dtype=dtype, name=name)

    def reset_state(self):
        """Every state variable back to zeros (Keras's default)."""
        for variable in self.variables:
            variable.assign(torch.zeros(variable.shape, dtype=variable.dtype))

    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"Metric '{type(self).__name__}' must implement update_state().")

    def result(self):
        raise NotImplementedError(f"Metric '{type(self).__name__}' must implement result().")

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        """``name`` and ``dtype``; for a subclass without its own ``get_config``, also the
        constructor's arguments when they are plain values (as Keras)."""
        config = {"name": self.name, "dtype": self.dtype}
        auto = getattr(self, "_auto_config", None)
        if auto is not None and type(self).get_config is Metric.get_config:
            config = {**auto, **config}
            params = inspect.signature(type(self).__init__).parameters
            if "kwargs" not in params:
                config = {k: v for k, v in config.items() if k in params}
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


def as_tensors(*values, dtype=None):
    """Metric inputs as detached tensors on the first tensor's device (numpy arrays, lists and
    numbers too, as Keras's metrics take them); ``dtype`` casts floating ones, None passes."""
    device = next((v.device for v in values if isinstance(v, torch.Tensor)), None)
    out = []
    for value in values:
        if value is None:
            out.append(None)
            continue
        if not isinstance(value, torch.Tensor):
            value = torch.as_tensor(np.asarray(value), device=device)
        value = value.detach()
        if dtype is not None and (value.is_floating_point() or value.dtype == torch.bool):
            value = value.to(dtype)
        out.append(value)
    return out


def _defined_by_plait(fn):
    return getattr(fn, "__module__", "").startswith("plait.")
