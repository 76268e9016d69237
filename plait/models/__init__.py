"""Models: ``Model`` (functional or subclassed) and ``Sequential``."""

from plait.models.functional import Functional, Model
from plait.models.sequential import Sequential

__all__ = ["Functional", "Model", "Sequential"]
