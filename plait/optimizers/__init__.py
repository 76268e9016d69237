"""Optimizers with Keras 3's names, defaults and update rules.

Example:
    >>> import plait
    >>> plait.optimizers.get("rmsprop")
    RMSprop(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-07, centered=False)
"""

from plait.optimizers import schedules
from plait.optimizers.adafactor import Adafactor
from plait.optimizers.base import Optimizer
from plait.optimizers.ftrl import Ftrl
from plait.optimizers.lamb import Lamb
from plait.optimizers.lion import Lion
from plait.optimizers.muon import Muon
from plait.optimizers.rules import SGD, Adadelta, Adagrad, Adam, Adamax, AdamW, Nadam, RMSprop
from plait.optimizers.schedule_free import ScheduleFreeAdamW
from plait.utils.registry import by_name

_BY_NAME = {
    "sgd": SGD,
    "rmsprop": RMSprop,
    "adam": Adam,
    "adamw": AdamW,
    "adagrad": Adagrad,
    "adadelta": Adadelta,
    "adamax": Adamax,
    "nadam": Nadam,
    "lion": Lion,
    "lamb": Lamb,
    "ftrl": Ftrl,
    "adafactor": Adafactor,
    "schedulefreeadamw": ScheduleFreeAdamW,
    "muon": Muon,
}


def get(identifier):
    """An optimizer from a name (``"rmsprop"``), a config dict, or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        return by_name(_BY_NAME, identifier.lower(), "optimizer")()
    if isinstance(identifier, dict):
        return get(identifier["class_name"]).__class__(**identifier.get("config", {}))
    raise TypeError(f"Could not interpret optimizer identifier: {identifier!r}")


__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Lion",
    "Nadam",
    "Optimizer",
    "RMSprop",
    "get",
    "schedules",
]
