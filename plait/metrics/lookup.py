"""``get``: a metric from a Keras name (``"accuracy"``, ``"mae"``, ...), an instance or a function."""

import re

from plait.metrics import confusion, correlation, f_score, hinges, iou, probabilistic, reduction, regression
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
from plait.utils import custom_objects
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
    confusion.PrecisionAtRecall,
    confusion.RecallAtPrecision,
    confusion.SensitivityAtSpecificity,
    confusion.SpecificityAtSensitivity,
    probabilistic.KLDivergence,
    probabilistic.Poisson,
    hinges.Hinge,
    hinges.SquaredHinge,
    hinges.CategoricalHinge,
    regression.CosineSimilarity,
    regression.LogCoshError,
    correlation.PearsonCorrelation,
    correlation.ConcordanceCorrelation,
    f_score.FBetaScore,
    iou.IoU,
    iou.BinaryIoU,
    iou.MeanIoU,
    iou.OneHotIoU,
    iou.OneHotMeanIoU,
    reduction.Mean,
    reduction.Sum,
)
_SHORT = {
    "mse": regression.MeanSquaredError,
    "mae": regression.MeanAbsoluteError,
    "mape": regression.MeanAbsolutePercentageError,
    "msle": regression.MeanSquaredLogarithmicError,
    "bce": probabilistic.BinaryCrossentropy,
    # Names with a digit, which the snake-case rule does not split.
    "f1_score": f_score.F1Score,
    "r2_score": regression.R2Score,
}
_BY_NAME = with_class_names({**{_snake(cls.__name__): cls for cls in _CLASSES}, **_SHORT})
_BY_NAME.update(MSE=regression.MeanSquaredError, MAE=regression.MeanAbsoluteError, BCE=probabilistic.BinaryCrossentropy)
_BY_NAME.update(MAPE=regression.MeanAbsolutePercentageError, MSLE=regression.MeanSquaredLogarithmicError)


def get(identifier):
    """A :class:`Metric` from a name, a Metric, or a function ``(y_true, y_pred)``."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        found = by_name(_BY_NAME, identifier, "metric", extra_known=("acc",))
        return found() if isinstance(found, type) else get(found)  # a registered custom metric function
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()  # a class, as Keras: its default instance
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(f"Could not interpret metric identifier: {identifier!r}")


def serialize(metric):
    """Keras's config of a metric (``keras.metrics.deserialize`` reads it).

    Example:
        >>> import plait
        >>> serialize(plait.metrics.F1Score(average="macro"))["class_name"]
        'F1Score'
    """
    registered = custom_objects.registered_name(type(metric))
    return {
        "module": "keras.metrics" if registered is None else None,
        "class_name": registered or type(metric).__name__,
        "config": metric.get_config(),
        "registered_name": registered,
    }


def deserialize(config, custom_objects=None):
    """The metric a Keras config (or name) describes; ``custom_objects`` maps extra names to
    classes.

    Example:
        >>> deserialize({"class_name": "R2Score", "config": {"class_aggregation": None}}).class_aggregation is None
        True
    """
    extra = custom_objects or {}
    if isinstance(config, str):
        return extra[config]() if config in extra else get(config)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            f"Could not deserialize metric: expected a name or a dict with 'class_name'. Received: {config!r}"
        )
    cls = extra.get(config["class_name"]) or by_name(_BY_NAME, config["class_name"], "metric")
    return cls.from_config(config.get("config", {}))
