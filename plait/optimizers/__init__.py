"""Optimizers with Keras 3's names, defaults and update rules.

A ``torch.optim.Optimizer`` works too: ``model.compile(optimizer=torch.optim.SGD(...))``
(see :class:`TorchOptimizer`).

Example:
    >>> import plait
    >>> plait.optimizers.get("rmsprop")
    RMSprop(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-07, centered=False)
"""

import torch

from plait.mixed_precision import LossScaleOptimizer
from plait.optimizers import legacy, schedules
from plait.optimizers.adafactor import Adafactor
from plait.optimizers.base import Optimizer
from plait.optimizers.ftrl import Ftrl
from plait.optimizers.lamb import Lamb
from plait.optimizers.lion import Lion
from plait.optimizers.multi import MultiOptimizer, OptimizerMap
from plait.optimizers.muon import Muon
from plait.optimizers.rules import SGD, Adadelta, Adagrad, Adam, Adamax, AdamW, Nadam, RMSprop
from plait.optimizers.schedule_free import ScheduleFreeAdamW
from plait.optimizers.serialization import deserialize, serialize
from plait.optimizers.torch_optimizer import TorchOptimizer


def get(identifier):
    """An optimizer from a name (``"rmsprop"``, any case), a config dict, an instance, or a
    ``torch.optim.Optimizer`` (wrapped in :class:`TorchOptimizer`).

    Example:
        >>> get({"class_name": "Lion", "config": {"learning_rate": 0.0003}})
        Lion(learning_rate=0.0003, beta_1=0.9, beta_2=0.99)
    """
    if isinstance(identifier, (Optimizer, LossScaleOptimizer)):
        return identifier
    if isinstance(identifier, torch.optim.Optimizer):
        return TorchOptimizer(identifier)
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    raise TypeError(
        "Could not interpret optimizer identifier: expected a name, a config dict, a plait optimizer or a "
        f"torch.optim.Optimizer. Received: {identifier!r}"
    )


__all__ = [
    "SGD",
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Ftrl",
    "Lamb",
    "Lion",
    "LossScaleOptimizer",
    "MultiOptimizer",
    "Muon",
    "Nadam",
    "Optimizer",
    "OptimizerMap",
    "RMSprop",
    "ScheduleFreeAdamW",
    "TorchOptimizer",
    "deserialize",
    "get",
    "legacy",
    "schedules",
    "serialize",
]
