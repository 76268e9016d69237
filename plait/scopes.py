"""Keras 3's scopes, on torch: ``name_scope``, ``device``, ``StatelessScope``, ``SymbolicScope``,
``RematScope`` and ``remat``.

Each scope is a ``with`` block whose state lives on a per-thread stack, as Keras keeps it:

- :class:`name_scope` prefixes the ``path`` of the weights created inside it
  (``outer/dense/kernel``); :func:`current_path` reads the prefix.
- :func:`device` makes torch create tensors, and so weights, on a device: torch's own
  default-device context (``with torch.device(...)``), with Keras's names (``"gpu:0"``).
- :class:`StatelessScope` lets nothing write to a weight: ``assign`` and every in-place torch
  update of a weight land in the scope, which also stands its values in for the weights it
  maps while the block runs (a ``TorchFunctionMode``, so any torch code sees them).
- :class:`SymbolicScope` marks shape inference (plait enters it while a layer runs on
  ``meta`` tensors to learn its output shape); :func:`in_symbolic_scope` tells a ``call``.
- :class:`RematScope` gives the layers created inside it a rematerialization mode and
  :func:`remat` wraps a function in ``torch.utils.checkpoint``: activations are recomputed
  in the backward pass instead of kept.

This module imports nothing of plait, so every part of plait may read these scopes.

Example:
    >>> import plait
    >>> with plait.name_scope("encoder"):
    ...     layer = plait.layers.Dense(2, name="proj")
    ...     layer.build((None, 3))
    >>> layer.kernel.path
    'encoder/proj/kernel'
"""

import collections
import contextlib
import threading

import torch
from torch.overrides import TorchFunctionMode
from torch.utils.checkpoint import checkpoint

_LOCAL = threading.local()


def _stack(kind):
    """This thread's stack of open scopes of one kind."""
    stacks = _LOCAL.__dict__.setdefault("stacks", {})
    return stacks.setdefault(kind, [])


def _top(kind):
    stack = _stack(kind)
    return stack[-1] if stack else None


# ---------------------------------------------------------------------- name_scope
class name_scope:
    """A level in the paths of the weights created inside it (Keras's ``keras.name_scope``).

    Args:
        name: the level's name, a string without ``/``.
        caller: the object opening the scope (a layer); re-entering the innermost scope with the
            same ``caller`` and ``name`` adds no level, when ``deduplicate``.
        deduplicate: see ``caller`` (default True).
        override_parent: an absolute path replacing the enclosing scopes' path.

    Example:
        >>> import plait
        >>> with plait.name_scope("block"):
        ...     with plait.name_scope("attention"):
        ...         plait.Variable(1.0, name="scale").path
        'block/attention/scale'
    """

    def __init__(self, name, caller=None, deduplicate=True, override_parent=None):
        if not isinstance(name, str) or "/" in name:
            raise ValueError(
                f"name_scope: `name` must be a string without '/' (open one scope per level). Received: name={name!r}"
            )
        self.name, self.caller = name, caller
        self.deduplicate, self.override_parent = deduplicate, override_parent
        self._pushed = False

    def __enter__(self):
        top = _top("name")
        same_caller = top is not None and self.caller is not None and top.caller is self.caller
        if not (self.deduplicate and same_caller and top.name == self.name):
            _stack("name").append(self)
            self._pushed = True
        return self

    def __exit__(self, *exc):
        if self._pushed:
            _stack("name").pop()
            self._pushed = False

    def __repr__(self):
        return f"name_scope({self.name!r})"


def current_path():
    """The path the open name scopes make (``""`` outside any)."""
    parts = []
    for scope in _stack("name"):
        if scope.override_parent is not None:
            parts = [part for part in scope.override_parent.split("/") if part]
        parts.append(scope.name)
    return "/".join(parts)


def scoped(name):
    """``name`` below the open name scopes (``"outer/name"``), or ``name`` outside any."""
    prefix = current_path()
    return f"{prefix}/{name}" if prefix else name


# ---------------------------------------------------------------------- device
@contextlib.contextmanager
def device(device_name):
    """Create tensors and weights on ``device_name`` inside the block (Keras's ``keras.device``).

    torch's default-device context does the work: every torch factory (``torch.zeros``,
    ``torch.empty``, an initializer's draw) called without a ``device=`` places its result
    there, so layers built inside the block have their weights there.

    Args:
        device_name: ``"cpu"``, ``"gpu"``/``"gpu:1"`` (Keras's spelling of ``"cuda:1"``),
            ``"cuda:0"``, or any torch device name such as ``"meta"``.

    Yields:
        the ``torch.device``.

    Example:
        >>> import plait, torch
        >>> with plait.device("meta"):
        ...     layer = plait.layers.Dense(4)
        ...     layer.build((None, 2))
        ...     zeros = torch.zeros(3)
        >>> layer.kernel.device.type, zeros.device.type
        ('meta', 'meta')
    """
    if not isinstance(device_name, str):
        raise ValueError(
            "device: `device_name` must be a string such as 'cpu', 'gpu:0' or 'cuda:0'. "
            f"Received: device_name={device_name!r}"
        )
    name = device_name.lower().replace("gpu", "cuda")
    try:
        target = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"device: {device_name!r} is not a device torch knows ({error}).") from None
    _stack("device").append(target)
    try:
        with target:
            yield target
    finally:
        _stack("device").pop()


def current_device():
    """The device of the innermost open :func:`device` block, or None."""
    return _top("device")


# ---------------------------------------------------------------------- StatelessScope
_IN_PLACE_DUNDERS = {"__setitem__", "__iadd__", "__isub__", "__imul__", "__itruediv__", "__ifloordiv__", "__ipow__"}


def _writes_first_argument(func):
    name = getattr(func, "__name__", "")
    return name in _IN_PLACE_DUNDERS or (name.endswith("_") and not name.startswith("__"))


def _is_state(tensor):
    """A tensor that holds state across calls: a weight (a Parameter, a Variable, a buffer
    Variable), or a leaf tensor that is not a view (a plain buffer such as BatchNormalization's
    moving statistics; an activation computed with gradients is never a leaf)."""
    if isinstance(tensor, torch.nn.Parameter) or hasattr(tensor, "assign"):
        return True
    return tensor.is_leaf and tensor._base is None and not tensor.requires_grad


class _Shadows(TorchFunctionMode):
    """Stands each shadowed tensor's scope value in for it in every torch call, and turns an
    in-place update of a state tensor into an update of its shadow (made on first write)."""

    def __init__(self, scope):
        super().__init__()
        self.scope = scope

    def _swap(self, value):
        if isinstance(value, torch.Tensor):
            entry = self.scope._shadows.get(id(value))
            return value if entry is None or entry[0] is not value else entry[1]
        if isinstance(value, (list, tuple)):
            swapped = [self._swap(v) for v in value]
            return type(value)(swapped) if isinstance(value, list) else tuple(swapped)
        if isinstance(value, dict):
            return {k: self._swap(v) for k, v in value.items()}
        return value

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if args and _writes_first_argument(func):
            targets = args[0] if isinstance(args[0], (list, tuple)) else [args[0]]
            for target in targets:
                if not isinstance(target, torch.Tensor) or id(target) in self.scope._shadows:
                    continue
                if id(target) not in self.scope._shadow_ids and _is_state(target):
                    with torch.no_grad():
                        shadow = target.detach().clone()
                    self.scope._shadows[id(target)] = (target, shadow)
                    self.scope._shadow_ids.add(id(shadow))  # ``a.mul_(b).add_(c)`` goes on with the shadow
        return func(*self._swap(args), **self._swap(kwargs))


class StatelessScope:
    """A block that changes no weight (Keras's ``keras.StatelessScope``).

    Inside it, ``variable.assign(...)`` (and ``assign_add``/``assign_sub``) and in-place torch
    updates of weights and buffers (BatchNormalization's moving statistics) write to the scope
    instead; read the values they would have written with :meth:`get_current_value`. The
    weights in ``state_mapping`` take the given values for the block's computations (every
    torch function sees them), as Keras's layers compute with the mapped values.

    Args:
        state_mapping: ``[(variable, value), ...]``: values (in Keras's shape) to use for these
            weights inside the block.
        collect_losses: keep the losses layers add inside the block (``add_loss``) in
            :attr:`losses`; layers keep none of them, as in Keras.
        initialize_variables: accepted for Keras's signature (plait's weights are made
            initialized).

    Example:
        >>> import plait, torch
        >>> layer = plait.layers.Dense(1, use_bias=False, kernel_initializer="ones")
        >>> layer.build((None, 2))
        >>> x = torch.ones(1, 2)
        >>> with plait.StatelessScope([(layer.kernel, torch.full((2, 1), 3.0))]) as scope:
        ...     y = layer(x)
        ...     _ = layer.kernel.assign(torch.zeros(2, 1))
        >>> y.tolist(), layer.kernel.numpy().ravel().tolist()
        ([[6.0]], [1.0, 1.0])
        >>> scope.get_current_value(layer.kernel).ravel().tolist()
        [0.0, 0.0]
    """

    def __init__(self, state_mapping=None, collect_losses=False, initialize_variables=True):
        self.collect_losses, self.initialize_variables = collect_losses, initialize_variables
        self.losses = []
        self._shadows = {}  # id(tensor) -> (tensor, its value inside the scope, in its stored layout)
        self._shadow_ids = set()
        self._mode = None
        for variable, value in state_mapping or ():
            if not isinstance(variable, torch.Tensor) or not hasattr(variable, "assign"):
                raise ValueError(
                    "StatelessScope: every key of `state_mapping` must be a Variable (a layer's weight). "
                    f"Received: {type(variable).__name__}"
                )
            self.add_update((variable, value))

    def _run(self, function, *args):
        # Writes reach the shadows only under this scope's mode; open it for one operation.
        if self._mode is not None:
            return function(*args)
        with _Shadows(self):
            return function(*args)

    def add_update(self, update):
        """Record ``(variable, value)`` (Keras's shape) as the variable's value in the scope."""
        variable, value = update
        if not isinstance(value, torch.Tensor):
            value = torch.as_tensor(value)
        self._run(variable.assign, value)

    def add_loss(self, loss):
        """Keep ``loss`` in :attr:`losses` (Keras's method)."""
        self.losses.append(loss)

    def get_current_value(self, variable):
        """The value ``variable`` has inside the scope (Keras's shape), or None if nothing in
        the scope mapped or wrote it."""
        entry = self._shadows.get(id(variable))
        if entry is None or entry[0] is not variable:
            return None
        if hasattr(variable, "numpy"):  # a Variable: its Keras view of the shadow
            array = self._run(lambda: variable.numpy())
            return torch.as_tensor(array, device=entry[1].device)
        return entry[1]

    def __enter__(self):
        _stack("stateless").append(self)
        self._mode = _Shadows(self)
        self._mode.__enter__()
        return self

    def __exit__(self, *exc):
        mode, self._mode = self._mode, None
        mode.__exit__(*exc)
        _stack("stateless").pop()


def in_stateless_scope():
    """Whether a :class:`StatelessScope` is open."""
    return _top("stateless") is not None


def get_stateless_scope():
    """The innermost open :class:`StatelessScope`, or None."""
    return _top("stateless")


# ---------------------------------------------------------------------- SymbolicScope
class SymbolicScope:
    """Marks the symbolic stage (Keras's ``keras.SymbolicScope``): plait opens one while it
    runs a layer on ``meta`` tensors to infer its output shape, so a ``call`` can tell
    (:func:`in_symbolic_scope`) that its inputs carry shapes, not values.

    Example:
        >>> import plait
        >>> from plait.scopes import in_symbolic_scope
        >>> with plait.SymbolicScope():
        ...     in_symbolic_scope()
        True
        >>> in_symbolic_scope()
        False
    """

    def __enter__(self):
        _stack("symbolic").append(self)
        return self

    def __exit__(self, *exc):
        _stack("symbolic").pop()


def in_symbolic_scope():
    """Whether a :class:`SymbolicScope` is open."""
    return _top("symbolic") is not None


def get_symbolic_scope():
    """The innermost open :class:`SymbolicScope`, or None."""
    return _top("symbolic")


# ---------------------------------------------------------------------- remat
RematMode = collections.namedtuple("RematMode", ["mode", "output_size_threshold", "layer_names"])
_REMAT_MODES = ("full", "activations", "larger_than", "list_of_layers", None)


class RematScope:
    """Rematerialize the layers created inside the block (Keras's ``keras.RematScope``).

    A rematerialized layer keeps only its inputs for the backward pass and runs its forward
    again there (``torch.utils.checkpoint``): less memory for one more forward.

    Args:
        mode: ``"full"`` (every layer), ``"activations"`` (only the activation function of
            layers that have one), ``"larger_than"`` (layers whose output has more than
            ``output_size_threshold`` elements), ``"list_of_layers"`` (the layers named in
            ``layer_names``), or None (none; an inner scope turns an outer one off).
        output_size_threshold: the element count for ``"larger_than"`` (default 1024).
        layer_names: the names for ``"list_of_layers"``.

    Example:
        >>> import plait, torch
        >>> with plait.RematScope(mode="full"):
        ...     layer = plait.layers.Dense(3, activation="relu")
        >>> x = torch.ones(2, 4, requires_grad=True)
        >>> layer(x).sum().backward()
        >>> layer.remat_mode.mode, x.grad.shape
        ('full', torch.Size([2, 4]))
    """

    def __init__(self, mode="full", output_size_threshold=1024, layer_names=None):
        if mode not in _REMAT_MODES:
            raise ValueError(f"RematScope: `mode` must be one of {list(_REMAT_MODES)}. Received: mode={mode!r}")
        self.mode, self.output_size_threshold = mode, output_size_threshold
        self.layer_names = list(layer_names or [])

    def __enter__(self):
        _stack("remat").append(self)
        return self

    def __exit__(self, *exc):
        _stack("remat").pop()

    def __repr__(self):
        return f"RematScope(mode={self.mode!r})"


def current_remat_mode():
    """The innermost :class:`RematScope`'s settings as a ``RematMode``, or None."""
    scope = _top("remat")
    return None if scope is None else RematMode(scope.mode, scope.output_size_threshold, scope.layer_names)


def remat(f):
    """``f`` rematerialized: its intermediate results are recomputed in the backward pass
    rather than kept (Keras's ``keras.remat``; ``torch.utils.checkpoint`` underneath).

    Args:
        f: a function of tensors, or a layer.

    Returns:
        a function with ``f``'s results and gradients.

    Example:
        >>> import plait, torch
        >>> block = plait.remat(lambda x: torch.sin(x) * 2)
        >>> x = torch.ones(3, requires_grad=True)
        >>> block(x).sum().backward()
        >>> torch.allclose(x.grad, 2 * torch.cos(x.detach()))
        True
    """
    if not callable(f):
        raise TypeError(f"remat expects a function or a layer. Received: {type(f).__name__}")

    def rematerialized(*args, **kwargs):
        if not torch.is_grad_enabled():  # nothing is kept without gradients: just run it
            return f(*args, **kwargs)
        return checkpoint(f, *args, use_reentrant=False, **kwargs)

    rematerialized.__name__ = getattr(f, "__name__", "rematerialized")
    rematerialized.__wrapped__ = f
    return rematerialized


__all__ = [
    "RematScope",
    "StatelessScope",
    "SymbolicScope",
    "current_path",
    "device",
    "in_stateless_scope",
    "in_symbolic_scope",
    "name_scope",
    "remat",
]
