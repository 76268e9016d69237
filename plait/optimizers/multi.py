"""Different optimizers for different weights: ``MultiOptimizer`` and its ``OptimizerMap``."""

import re
from collections.abc import MutableMapping

from plait.mixed_precision import LossScaleOptimizer
from plait.optimizers.base import Optimizer
from plait.optimizers.serialization import deserialize, serialize


def _check_inner(optimizer, where):
    if isinstance(optimizer, LossScaleOptimizer):
        raise ValueError(f"{where}: a LossScaleOptimizer cannot be used inside a MultiOptimizer.")
    if isinstance(optimizer, MultiOptimizer):
        raise ValueError(f"{where}: a MultiOptimizer cannot be used inside a MultiOptimizer.")
    if not isinstance(optimizer, Optimizer):
        raise ValueError(f"{where}: expected a plait Optimizer. Received: {optimizer!r}")


class OptimizerMap(MutableMapping):
    """Weight paths (or regular expressions over them) to optimizers, with a default.

    A path is looked up exactly first, then as a full match of each pattern (``"encoder/.*"``
    for everything under ``encoder``); two matching patterns are an error.

    Args:
        default_optimizer: the optimizer of every weight no key matches.
        optimizer_map: ``{path or pattern: optimizer}``; default empty.

    Example:
        >>> from plait.optimizers import SGD, Adam, OptimizerMap
        >>> routes = OptimizerMap(SGD(), {"encoder/.*": Adam()})
        >>> routes["encoder/dense/kernel"].name, routes["head/kernel"].name
        ('adam', 'sgd')
    """

    def __init__(self, default_optimizer, optimizer_map=None):
        if not isinstance(default_optimizer, Optimizer):
            raise TypeError(f"`default_optimizer` must be a plait Optimizer. Received: {default_optimizer!r}")
        if not isinstance(optimizer_map or {}, dict):
            raise TypeError(f"`optimizer_map` must be a dict. Received: {optimizer_map!r}")
        self._default = default_optimizer
        self._routes = {}
        for key, optimizer in (optimizer_map or {}).items():
            self[key] = optimizer

    @property
    def default_optimizer(self):
        return self._default

    def __getitem__(self, path):
        found = self._routes.get(path)
        if found is not None:
            return found
        matches = [pattern for pattern in self._routes if re.fullmatch(pattern, path)]
        if len(matches) > 1:
            raise ValueError(f"Multiple optimizers assigned to variable {path!r}: patterns {matches}.")
        return self._routes[matches[0]] if matches else self._default

    def __setitem__(self, key, optimizer):
        if not isinstance(key, str):
            raise ValueError(f"OptimizerMap keys must be strings. Received: {key!r}")
        if key in self._routes:
            raise ValueError(f"{key!r} already exists in the OptimizerMap; keys must not repeat.")
        _check_inner(optimizer, f"OptimizerMap[{key!r}]")
        self._routes[key] = optimizer

    def __delitem__(self, path):
        self._routes.pop(path)

    def __len__(self):
        return len(self._routes)

    def __iter__(self):
        return iter(self._routes)

    def __call__(self, variable):
        path = getattr(variable, "path", None)
        if path is None:
            raise ValueError(
                f"OptimizerMap routes weights by their `path`; this tensor has none (shape {tuple(variable.shape)}). "
                "Use a function `weight -> optimizer` with MultiOptimizer instead."
            )
        return self[path]

    def get_config(self):
        return {
            "default_optimizer": serialize(self._default),
            "optimizer_map": {key: serialize(opt) for key, opt in self._routes.items()},
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        routes = {key: deserialize(spec, custom_objects) for key, spec in (config.get("optimizer_map") or {}).items()}
        return cls(deserialize(config["default_optimizer"], custom_objects), routes)

    def __repr__(self):
        return f"OptimizerMap(default={self._default!r}, {self._routes!r})"


class MultiOptimizer(Optimizer):
    """Hands each weight to its own optimizer: each inner optimizer clips, decays and updates
    its weights with its own rule, learning rate and step count, as if alone.

    Args:
        optimizer_map: an :class:`OptimizerMap`, or a function ``weight -> optimizer``.
        loss_scale_factor: Keras's argument; only None (plait scales losses with
            ``LossScaleOptimizer``).
        name: default ``"multi_optimizer"``.

    Attributes:
        optimizers: the inner optimizers.

    ``learning_rate`` is not defined on the whole (the inner optimizers have their own). The
    inner optimizers' state is namespaced ``"<k>/<name>"`` (``k`` the position in
    :attr:`optimizers`) in :meth:`state_dict`. The training step runs eagerly: weights are
    routed by identity, which the compiled whole step's traced tensors do not keep.

    Example:
        >>> import torch
        >>> from plait.optimizers import SGD, Adam, MultiOptimizer, OptimizerMap
        >>> a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
        >>> a.path, b.path = "encoder/kernel", "head/kernel"
        >>> opt = MultiOptimizer(OptimizerMap(SGD(learning_rate=1.0), {"encoder/.*": Adam(learning_rate=0.5)}))
        >>> opt.apply([torch.ones(1), torch.ones(1)], [a, b])
        >>> round(a.item(), 4), b.item()
        (-0.5, -1.0)
    """

    traceable = False  # see above: the compiled whole step is not used

    def __init__(self, optimizer_map, loss_scale_factor=None, name=None):
        if loss_scale_factor is not None:
            raise ValueError(
                "MultiOptimizer: plait does not support `loss_scale_factor` (use mixed_float16's "
                f"LossScaleOptimizer). Received: loss_scale_factor={loss_scale_factor!r}"
            )
        if not callable(optimizer_map):
            raise TypeError(f"`optimizer_map` must be an OptimizerMap or a function. Received: {optimizer_map!r}")
        super().__init__(learning_rate=0.0, name=name or "multi_optimizer")
        self._routes = optimizer_map
        self._inner = []
        for opt in [*getattr(optimizer_map, "values", list)(), getattr(optimizer_map, "default_optimizer", None)]:
            if opt is not None and all(opt is not known for known in self._inner):
                self._inner.append(opt)
        self._owner = []  # per built weight: (position of its optimizer, its index there)

    @property
    def optimizers(self):
        return list(self._inner)

    @property
    def learning_rate(self):
        raise AttributeError("A MultiOptimizer has no single learning rate: read it on its `optimizers`.")

    @learning_rate.setter
    def learning_rate(self, value):
        raise AttributeError("A MultiOptimizer has no single learning rate: set it on its `optimizers`.")

    def build(self, params):
        self._params = list(params)
        groups = [[] for _ in self._inner]
        self._owner = []
        for param in self._params:
            opt = self._routes(param)
            _check_inner(opt, f"The optimizer of weight '{getattr(param, 'path', tuple(param.shape))}'")
            k = next((i for i, known in enumerate(self._inner) if known is opt), None)
            if k is None:
                k = len(self._inner)
                self._inner.append(opt)
                groups.append([])
            self._owner.append((k, len(groups[k])))
            groups[k].append(param)
        for opt, group in zip(self._inner, groups):
            if group:
                opt.build(group)
        self._state = {}

    def _active(self):
        return sorted({k for k, _ in self._owner})

    def next_step_scalars(self):
        self.iterations += 1
        return {
            f"{k}/{key}": value for k in self._active() for key, value in self._inner[k].next_step_scalars().items()
        }

    def slots_for(self, indices):
        state = {}
        for k in self._active():
            mine = [j for i in indices for owner, j in [self._owner[i]] if owner == k]
            for slot, tensors in self._inner[k].slots_for(mine).items():
                state[f"{k}/{slot}"] = tensors
        return state

    def _apply_rule(self, params, grads, state, scalars):
        owner = {id(p): k for p, (k, _) in zip(self._params, self._owner)}
        for k in self._active():
            chosen = [i for i, p in enumerate(params) if owner[id(p)] == k]
            if not chosen:
                continue
            prefix = f"{k}/"
            sub_state = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
            sub_scalars = {key[len(prefix) :]: value for key, value in scalars.items() if key.startswith(prefix)}
            self._inner[k].apply_rule([params[i] for i in chosen], [grads[i] for i in chosen], sub_state, sub_scalars)

    def state_dict(self):
        state = {"iterations": self.iterations}
        for k, opt in enumerate(self._inner):
            state.update({f"{k}/{key}": value for key, value in opt.state_dict().items()})
        return state

    def load_state_dict(self, state):
        self.iterations = int(state["iterations"])
        for k, opt in enumerate(self._inner):
            prefix = f"{k}/"
            mine = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
            if mine:
                opt.load_state_dict(mine)

    def get_config(self):
        if not isinstance(self._routes, OptimizerMap):
            raise ValueError("A MultiOptimizer built on a function has no config: use an OptimizerMap to save it.")
        return {
            "optimizer_map": {
                "module": "keras.optimizers",
                "class_name": "OptimizerMap",
                "config": self._routes.get_config(),
                "registered_name": None,
            },
            "loss_scale_factor": None,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        spec = config.pop("optimizer_map")
        routes = OptimizerMap.from_config(spec.get("config", spec), custom_objects) if isinstance(spec, dict) else spec
        return cls(routes, **config)

    def __repr__(self):
        return f"MultiOptimizer({self._routes!r})"
