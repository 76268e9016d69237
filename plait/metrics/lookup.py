"""``get``: a metric from a Keras name (``"accuracy"``, ``"mae"``, ...), an instance or a function."""

from plait.metrics.accuracy import (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
)
from plait.metrics.confusion import (
    AUC,
    FalseNegatives,
    FalsePositives,
    Precision,
    Recall,
    TrueNegatives,
    TruePositives,
)
from plait.metrics.metric import Metric
from plait.metrics.probabilistic import BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy
from plait.metrics.reduction import MeanMetricWrapper
from plait.metrics.regression import (
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    RootMeanSquaredError,
)
from plait.utils.registry import by_name, with_class_names

_BY_NAME = {
    "accuracy": Accuracy,
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "mape": MeanAbsolutePercentageError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "root_mean_squared_error": RootMeanSquaredError,
    "auc": AUC,
    "precision": Precision,
    "recall": Recall,
    "true_positives": TruePositives,
    "false_positives": FalsePositives,
    "true_negatives": TrueNegatives,
    "false_negatives": FalseNegatives,
}
with_class_names(_BY_NAME)


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
