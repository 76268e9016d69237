"""``get``: a metric from a Keras name (``"accuracy"``, ``"mae"``, ...), an instance or a function."""

import re

from plait.metrics import confusion, probabilistic, regression
from plait.metrics.accuracy import (  # (plait.metrics.accuracy is also the name of a function)
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
)
from plait.metrics.metric import Metric
from plait.metrics.reduction import MeanMetricWrapper
from plait.utils.registry import by_name, with_class_names


def _snake(class_name):
    """``"SparseTopKCategoricalAccuracy"`` -> ``"sparse_top_k_categorical_accuracy"``; an
    acronym stays one word (``"AUC"`` -> ``"auc"``)."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", class_name).lower()


# The metrics compile() accepts by name: each under its class name in snake case (Keras's
# string names), plus Keras's short aliases.
_CLASSES = (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    regression.MeanSquaredError,
    regression.MeanAbsoluteError,
    regression.MeanAbsolutePercentageError,
    regression.MeanSquaredLogarithmicError,
    regression.RootMeanSquaredError,
    probabilistic.BinaryCrossentropy,
    probabilistic.CategoricalCrossentropy,
    probabilistic.SparseCategoricalCrossentropy,
    confusion.AUC,
    confusion.Precision,
    confusion.Recall,
    confusion.TruePositives,
    confusion.FalsePositives,
    confusion.TrueNegatives,
    confusion.FalseNegatives,
)
_SHORT = {
    "mse": regression.MeanSquaredError,
    "mae": regression.MeanAbsoluteError,
    "mape": regression.MeanAbsolutePercentageError,
    "msle": regression.MeanSquaredLogarithmicError,
}
_BY_NAME = with_class_names({**{_snake(cls.__name__): cls for cls in _CLASSES}, **_SHORT})


def get(identifier):
    """A :class:`Metric` from a name, a Metric, or a function ``(y_true, y_pred)``."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        found = by_name(_BY_NAME, identifier, "metric", extra_known=("acc",))
        return found() if isinstance(found, type) else get(found)  # a registered custom metric function
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(f"Could not interpret metric identifier: {identifier!r}")
