"""Keras 3.15's metrics on plait: every name, each new class's state over several updates and
its result against Keras itself (same inputs and sample weights), configs through Keras, the
functions' shapes, and metrics named in ``compile``."""

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import plait  # noqa: E402
from plait import metrics  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

rng = np.random.default_rng(1)
N = 12
BIN_T = rng.integers(0, 2, size=(N, 3)).astype(np.float32)
SCORES = rng.uniform(0.01, 0.99, size=(N, 3)).astype(np.float32)
ONE_HOT = np.eye(4, dtype=np.float32)[rng.integers(0, 4, N)]
PROBS = rng.dirichlet(np.ones(4), N).astype(np.float32)
REG_T = rng.normal(size=(N, 3)).astype(np.float32)
REG_P = (REG_T + rng.normal(scale=0.5, size=(N, 3))).astype(np.float32)
POS = rng.uniform(0.1, 3.0, size=(N, 3)).astype(np.float32)
LABELS = rng.integers(0, 4, size=(N,))
PRED_LABELS = np.where(rng.uniform(size=N) < 0.6, LABELS, rng.integers(0, 4, size=N))
WEIGHTS = rng.uniform(0.0, 2.0, size=(N,)).astype(np.float32)


def _np(t):
    return keras.ops.convert_to_numpy(t)


def test_every_keras_metric_name_exists():
    assert [n for n in dir(keras.metrics) if not n.startswith("_") and not hasattr(metrics, n)] == []


# (class, kwargs, y_true, y_pred): three update_state calls on thirds of the data, with and
# without sample weights, must give Keras's result after each.
CASES = [
    ("Hinge", {}, BIN_T, REG_P),
    ("SquaredHinge", {}, BIN_T, REG_P),
    ("CategoricalHinge", {}, ONE_HOT, PROBS),
    ("KLDivergence", {}, ONE_HOT, PROBS),
    ("Poisson", {}, POS, POS[::-1].copy()),
    ("CosineSimilarity", {}, REG_T, REG_P),
    ("CosineSimilarity", {"axis": 0}, REG_T, REG_P),
    ("LogCoshError", {}, REG_T, REG_P),
    ("PearsonCorrelation", {}, REG_T, REG_P),
    ("ConcordanceCorrelation", {}, REG_T, REG_P),
    ("R2Score", {}, REG_T, REG_P),
    ("R2Score", {"class_aggregation": None}, REG_T, REG_P),
    ("R2Score", {"class_aggregation": "variance_weighted_average", "num_regressors": 2}, REG_T, REG_P),
    ("F1Score", {}, BIN_T, SCORES),
    ("F1Score", {"average": "macro", "threshold": 0.4}, BIN_T, SCORES),
    ("FBetaScore", {"beta": 2.0, "average": "weighted", "threshold": 0.5}, BIN_T, SCORES),
    ("FBetaScore", {"beta": 0.5, "average": "micro"}, ONE_HOT, PROBS),
    ("IoU", {"num_classes": 4, "target_class_ids": [0, 2]}, LABELS, PRED_LABELS),
    ("IoU", {"num_classes": 4, "target_class_ids": [1], "ignore_class": 3}, LABELS, PRED_LABELS),
    ("MeanIoU", {"num_classes": 4}, LABELS, PRED_LABELS),
    ("MeanIoU", {"num_classes": 4, "sparse_y_pred": False}, LABELS, PROBS),
    ("OneHotIoU", {"num_classes": 4, "target_class_ids": [0, 1, 3]}, ONE_HOT, PROBS),
    ("OneHotMeanIoU", {"num_classes": 4}, ONE_HOT, PROBS),
    ("BinaryIoU", {}, BIN_T, SCORES),
    ("BinaryIoU", {"target_class_ids": [1], "threshold": 0.3}, BIN_T, SCORES),
    ("PrecisionAtRecall", {"recall": 0.6}, BIN_T, SCORES),
    ("PrecisionAtRecall", {"recall": 0.5, "num_thresholds": 7, "class_id": 1}, BIN_T, SCORES),
    ("RecallAtPrecision", {"precision": 0.5}, BIN_T, SCORES),
    ("SensitivityAtSpecificity", {"specificity": 0.4}, BIN_T, SCORES),
    ("SpecificityAtSensitivity", {"sensitivity": 0.7, "num_thresholds": 1}, BIN_T, SCORES),
    ("Precision", {"top_k": 2}, BIN_T, SCORES),
    ("Recall", {"class_id": 2, "thresholds": [0.3, 0.6]}, BIN_T, SCORES),
    ("Precision", {"top_k": 1, "class_id": 0}, ONE_HOT, PROBS),
    ("AUC", {"multi_label": True}, BIN_T, SCORES),
    ("AUC", {"multi_label": True, "label_weights": [1.0, 0.0, 2.0], "curve": "PR"}, BIN_T, SCORES),
    ("AUC", {"label_weights": [0.5, 1.0, 2.0], "num_thresholds": 50}, BIN_T, SCORES),
]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("cls_name, kwargs, y_true, y_pred", CASES)
def test_metric_state_over_updates_matches_keras(cls_name, kwargs, y_true, y_pred, weighted):
    if weighted and kwargs.get("axis") == 0:
        pytest.skip("values along the batch axis take no per-sample weights")
    ours, theirs = getattr(metrics, cls_name)(**kwargs), getattr(keras.metrics, cls_name)(**kwargs)
    # Keras's IoU metrics count in int32 and warn on float weights: give them whole numbers.
    weights = (WEIGHTS * 2).astype(np.int32) if "IoU" in cls_name else WEIGHTS
    for part in np.array_split(np.arange(N), 3):
        w = weights[part] if weighted else None
        if w is not None and cls_name == "BinaryIoU":  # Keras's IoU takes one weight per entry
            w = np.repeat(w[:, None], y_true.shape[1], axis=1)
        # numpy for plait (metrics take numpy arrays), Keras tensors for Keras.
        ours.update_state(y_true[part], y_pred[part], sample_weight=w)
        theirs.update_state(
            keras.ops.convert_to_tensor(y_true[part]),
            keras.ops.convert_to_tensor(y_pred[part]),
            sample_weight=None if w is None else keras.ops.convert_to_tensor(w),
        )
        # Tolerance: float32 rounding of the same sums (1e-5 relative, 1e-6 absolute).
        np.testing.assert_allclose(np.asarray(ours.result()), _np(theirs.result()), rtol=1e-5, atol=1e-6)
    ours.reset_state()
    theirs.reset_state()
    ours.update_state(torch.as_tensor(y_true[:4]), torch.as_tensor(y_pred[:4]))
    theirs.update_state(keras.ops.convert_to_tensor(y_true[:4]), keras.ops.convert_to_tensor(y_pred[:4]))
    np.testing.assert_allclose(np.asarray(ours.result()), _np(theirs.result()), rtol=1e-5, atol=1e-6)


def test_sum_matches_keras():
    ours, theirs = metrics.Sum(), keras.metrics.Sum()
    for part in np.array_split(np.arange(N), 3):
        ours.update_state(REG_T[part, 0], sample_weight=WEIGHTS[part])
        theirs.update_state(REG_T[part, 0], sample_weight=WEIGHTS[part])
    np.testing.assert_allclose(float(ours.result()), float(_np(theirs.result())), rtol=1e-6)


@pytest.mark.parametrize(
    "name, y_true, y_pred",
    [
        ("binary_crossentropy", BIN_T, SCORES),
        ("binary_focal_crossentropy", BIN_T, SCORES),
        ("categorical_crossentropy", ONE_HOT, PROBS),
        ("categorical_focal_crossentropy", ONE_HOT, PROBS),
        ("sparse_categorical_crossentropy", LABELS, PROBS),
        ("hinge", BIN_T, REG_P),
        ("squared_hinge", BIN_T, REG_P),
        ("categorical_hinge", ONE_HOT, PROBS),
        ("huber", REG_T, REG_P),
        ("kl_divergence", ONE_HOT, PROBS),
        ("log_cosh", REG_T, REG_P),
        ("mean_absolute_error", REG_T, REG_P),
        ("mean_absolute_percentage_error", POS, REG_P),
        ("mean_squared_error", REG_T, REG_P),
        ("mean_squared_logarithmic_error", POS, POS[::-1].copy()),
        ("poisson", POS, POS[::-1].copy()),
        ("pearson_correlation", REG_T, REG_P),
        ("concordance_correlation", REG_T, REG_P),
        ("binary_accuracy", BIN_T, SCORES),
        ("binary_accuracy", BIN_T[:, :1], SCORES[:, 0]),
        ("binary_accuracy", BIN_T[:, 0], SCORES[:, :1]),
        ("categorical_accuracy", ONE_HOT, PROBS),
        ("sparse_categorical_accuracy", LABELS[:, None], PROBS),
        ("top_k_categorical_accuracy", ONE_HOT, PROBS),
        ("sparse_top_k_categorical_accuracy", LABELS[:, None], PROBS),
        ("sparse_top_k_categorical_accuracy", LABELS, PROBS),
    ],
)
def test_metric_functions_match_keras_values_and_shapes(name, y_true, y_pred):
    kwargs = {"k": 2} if "top_k" in name else {}
    ours = getattr(metrics, name)(torch.as_tensor(y_true), torch.as_tensor(y_pred), **kwargs)
    theirs = getattr(keras.metrics, name)(
        keras.ops.convert_to_tensor(y_true), keras.ops.convert_to_tensor(y_pred), **kwargs
    )
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(ours.numpy(), _np(theirs), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "keras_metric",
    [
        keras.metrics.F1Score(average="macro", threshold=0.4),
        keras.metrics.FBetaScore(beta=2.0),
        keras.metrics.R2Score(class_aggregation=None, num_regressors=1),
        keras.metrics.PearsonCorrelation(axis=0),
        keras.metrics.IoU(num_classes=3, target_class_ids=[1, 2], ignore_class=0),
        keras.metrics.MeanIoU(num_classes=3, sparse_y_pred=False),
        keras.metrics.OneHotMeanIoU(num_classes=3),
        keras.metrics.BinaryIoU(target_class_ids=[1], threshold=0.2),
        keras.metrics.PrecisionAtRecall(0.7, num_thresholds=20, class_id=1),
        keras.metrics.SpecificityAtSensitivity(0.4),
        keras.metrics.Precision(top_k=2, class_id=1),
        keras.metrics.AUC(multi_label=True, label_weights=[1.0, 2.0]),
        keras.metrics.CosineSimilarity(axis=0),
        keras.metrics.LogCoshError(),
        keras.metrics.Sum(),
        keras.metrics.Hinge(),
    ],
    ids=lambda m: type(m).__name__,
)
def test_configs_round_trip_with_keras(keras_metric):
    ours = metrics.deserialize(keras.metrics.serialize(keras_metric))
    assert type(ours).__name__ == type(keras_metric).__name__
    expected = _plain(keras_metric.get_config())
    got = _plain(ours.get_config())
    assert {k: got[k] for k in expected} == expected  # (plait's may say more: CosineSimilarity's axis)
    back = keras.metrics.deserialize(metrics.serialize(ours))
    assert type(back) is type(keras_metric)
    assert _plain(back.get_config()) == expected


def _plain(config):
    """A config with tensors and tuples as lists and floats rounded (float32 values differ in
    their last digits once they went through a float32 tensor)."""
    if isinstance(config, dict):
        return {k: _plain(v) for k, v in config.items()}
    if hasattr(config, "shape") and not isinstance(config, (int, float)):
        return _plain(np.asarray(_np(config)).tolist())
    if isinstance(config, (list, tuple)):
        return [_plain(v) for v in config]
    return round(config, 6) if isinstance(config, float) else config


def test_metric_bad_input():
    with pytest.raises(ValueError, match="average"):
        metrics.F1Score(average="median")
    with pytest.raises(ValueError, match="beta"):
        metrics.FBetaScore(beta=2)
    with pytest.raises(ValueError, match="class_aggregation"):
        metrics.R2Score(class_aggregation="max")
    with pytest.raises(ValueError, match="target_class_ids"):
        metrics.IoU(num_classes=2, target_class_ids=[2])
    with pytest.raises(ValueError, match="recall"):
        metrics.PrecisionAtRecall(recall=1.5)
    with pytest.raises(ValueError, match="2D"):
        metrics.R2Score().update_state(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="AUC: y_true and y_pred must have the same shape"):
        metrics.AUC().update_state(np.zeros(4), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="class_id"):
        metrics.Precision(class_id=1).update_state(np.zeros(3), np.zeros(3))


def test_get_by_keras_names():
    for name in ("f1_score", "r2_score", "hinge", "kl_divergence", "sum", "log_cosh_error", "mse", "auc"):
        assert type(metrics.get(name)).__name__ == type(keras.metrics.get(name)).__name__, name
    assert isinstance(metrics.get(metrics.F1Score), metrics.F1Score)


@pytest.mark.parametrize(
    "spec, y, units, activation",
    [
        ("f1_score", BIN_T, 3, "sigmoid"),
        ("r2_score", REG_T, 3, None),
        ("hinge", BIN_T, 3, "tanh"),
        ("kl_divergence", ONE_HOT, 4, "softmax"),
        ("log_cosh_error", REG_T, 3, None),
        ("pearson_correlation", REG_T, 3, None),
    ],
)
def test_metrics_in_compile_by_name(spec, y, units, activation):
    x = rng.normal(size=(N, 5)).astype(np.float32)
    inputs = plait.Input((5,))
    model = plait.Model(inputs, plait.layers.Dense(units, activation=activation)(inputs))
    model.compile("sgd", loss="mse", metrics=[spec])
    logs = model.evaluate(x, y, batch_size=N, verbose=0, return_dict=True)
    reference = keras.metrics.get(spec)
    reference.update_state(keras.ops.convert_to_tensor(y), keras.ops.convert_to_tensor(model.predict(x, verbose=0)))
    np.testing.assert_allclose(np.asarray(logs[spec]), _np(reference.result()), rtol=1e-5, atol=1e-6)


def test_metric_objects_in_compile():
    x = rng.normal(size=(N, 5)).astype(np.float32)
    inputs = plait.Input((5,))
    model = plait.Model(inputs, plait.layers.Dense(3, activation="sigmoid")(inputs))
    model.compile(
        "sgd",
        loss="binary_crossentropy",
        metrics=[metrics.PrecisionAtRecall(0.5), metrics.BinaryIoU(), metrics.AUC(multi_label=True)],
    )
    history = model.fit(x, BIN_T, batch_size=4, epochs=2, verbose=0)
    assert {"precision_at_recall", "binary_io_u", "auc"} <= set(history.history)


def test_new_losses_and_metrics_in_keras_files(tmp_path):
    # A Keras model compiled with the new objects loads in plait and evaluates to Keras's
    # numbers; plait's file of it loads back in Keras with the same compile objects.
    x = rng.normal(size=(N, 4)).astype(np.float32)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="sigmoid")])
    model.compile(
        "adam",
        loss=keras.losses.BinaryFocalCrossentropy(gamma=1.5),
        metrics=[keras.metrics.F1Score(average="macro", threshold=0.5), keras.metrics.AUC(multi_label=True)],
    )
    model.fit(x, BIN_T, verbose=0)  # (an unbuilt optimizer's state would not load)
    model.save(tmp_path / "keras.keras")
    ours = plait.models.load_model(tmp_path / "keras.keras")
    expected = model.evaluate(x, BIN_T, verbose=0, return_dict=True)
    got = ours.evaluate(x, BIN_T, verbose=0, return_dict=True)
    assert got.keys() == expected.keys()
    for key in expected:  # float32 rounding of the same sums
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-6)
    ours.save(tmp_path / "plait.keras")
    back = keras.models.load_model(tmp_path / "plait.keras")
    again = back.evaluate(x, BIN_T, verbose=0, return_dict=True)
    for key in expected:
        np.testing.assert_allclose(again[key], expected[key], rtol=1e-5, atol=1e-6)
