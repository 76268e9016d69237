"""Models: ``Model`` (functional or subclassed) and ``Sequential``."""

from plait.models import serialization  # noqa: F401  (installs how models are saved; keep before saving)
from plait.models.functional import Functional, Model
from plait.models.sequential import Sequential
from plait.models.serialization import clone_model, model_from_json
from plait.saving import load_model, save_model

__all__ = ["Functional", "Model", "Sequential", "clone_model", "load_model", "model_from_json", "save_model"]
