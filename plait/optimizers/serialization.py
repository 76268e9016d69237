"""Optimizers to and from Keras's config dicts (``keras.optimizers.serialize`` / ``deserialize``)."""

from plait.mixed_precision import LossScaleOptimizer
from plait.optimizers.base import Optimizer
from plait.utils import custom_objects as registry
from plait.utils.registry import by_name


def builtin_classes():
    """plait's optimizer classes by lowercase name (Keras's lookup is case-insensitive)."""
    found, stack = {"lossscaleoptimizer": LossScaleOptimizer}, [Optimizer]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith("plait.optimizers."):
            found[cls.__name__.lower()] = cls
    return found


def serialize(optimizer):
    """Keras's config of an optimizer: ``{"module", "class_name", "config", "registered_name"}``,
    which ``keras.optimizers.deserialize`` reads (a registered custom class by its name).

    Example:
        >>> from plait.optimizers import Adam
        >>> serialize(Adam(learning_rate=0.01))["config"]["learning_rate"]
        0.01
    """
    if isinstance(optimizer, LossScaleOptimizer):
        config = {
            "name": "loss_scale_optimizer",
            "inner_optimizer": serialize(optimizer.inner_optimizer),
            "initial_scale": optimizer.initial_scale,
            "dynamic_growth_steps": optimizer.dynamic_growth_steps,
        }
    elif isinstance(optimizer, Optimizer):
        config = optimizer.get_config()
    else:
        raise TypeError(f"Expected a plait optimizer. Received: {optimizer!r}")
    cls = type(optimizer)
    if builtin_classes().get(cls.__name__.lower()) is cls:
        return {"module": "keras.optimizers", "class_name": cls.__name__, "config": config, "registered_name": None}
    registered = registry.registered_name(cls)
    if registered is None:
        raise ValueError(
            f"Cannot serialize the optimizer {cls.__name__}: register its class with "
            "`plait.saving.register_keras_serializable()` so that it can be found again."
        )
    return {"module": cls.__module__, "class_name": registered, "config": config, "registered_name": registered}


def deserialize(config, custom_objects=None):
    """The optimizer a config (Keras's or plait's, or a name) describes; built-in names match
    in any case, ``custom_objects`` maps more names to classes.

    Example:
        >>> deserialize({"class_name": "SGD", "config": {"learning_rate": 0.1, "momentum": 0.9}})
        SGD(learning_rate=0.1, momentum=0.9, nesterov=False)
    """
    if isinstance(config, str):
        config = {"class_name": config, "config": {}}
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            f"Could not deserialize an optimizer: expected a name or a dict with 'class_name'. Received: {config!r}"
        )
    name = config["class_name"]
    cls = registry.lookup(name, custom_objects) or by_name(builtin_classes(), name.lower(), "optimizer")
    args = dict(config.get("config") or {})
    if cls is LossScaleOptimizer:
        if "inner_optimizer" not in args:
            raise ValueError("A LossScaleOptimizer config needs its 'inner_optimizer'.")
        inner = deserialize(args.pop("inner_optimizer"), custom_objects)
        args.pop("name", None)
        return LossScaleOptimizer(inner, **args)
    if isinstance(cls, type) and issubclass(cls, Optimizer):
        return cls.from_config(args, custom_objects)
    return cls.from_config(args)
