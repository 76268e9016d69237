"""Models: ``Model`` (functional or subclassed) and ``Sequential``."""

from plait.models import serialization  # noqa: F401  (installs how models are saved; keep before saving)
from plait.models.functional import Functional, Model
from plait.models.sequential import Sequential
from plait.saving import load_model

__all__ = ["Functional", "Model", "Sequential", "load_model"]
