"""Knowledge distillation (Keras 3's ``keras.distillation``): train a small student model on its
labels and on what a large, frozen teacher model outputs.

Example:
    >>> import plait
    >>> plait.distillation.LogitsDistillation(temperature=4.0)
    LogitsDistillation(temperature=4.0)
"""

from plait.distillation.distiller import Distiller
from plait.distillation.losses import DistillationLoss, FeatureDistillation, LogitsDistillation

__all__ = ["DistillationLoss", "Distiller", "FeatureDistillation", "LogitsDistillation"]
