"""Keras 3.15's losses on plait: every name, the new losses' numbers against Keras itself, their
configs, and the loss contract (shapes, names, masks) as Keras computes it."""

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import plait  # noqa: E402
from plait import losses  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

rng = np.random.default_rng(0)
BIN_T = rng.integers(0, 2, size=(6, 3)).astype(np.float32)
BIN_P = rng.uniform(0.02, 0.98, size=(6, 3)).astype(np.float32)
LOGITS = rng.normal(size=(6, 4)).astype(np.float32) * 2
ONE_HOT = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 6)]
PROBS = np.exp(LOGITS) / np.exp(LOGITS).sum(-1, keepdims=True)
LABELS = ONE_HOT.argmax(-1)
WEIGHTS = np.array([1.0, 0.5, 0.0, 2.0, 1.0, 3.0], np.float32)
MASKS_T = rng.integers(0, 2, size=(2, 5, 5, 1)).astype(np.float32)
MASKS_P = rng.uniform(0, 1, size=(2, 5, 5, 1)).astype(np.float32)
EMB = rng.normal(size=(8, 5)).astype(np.float32)
EMB /= np.linalg.norm(EMB, axis=1, keepdims=True)
EMB_LABELS = np.array([0, 1, 0, 2, 1, 0, 2, 1])


def _np(t):
    return keras.ops.convert_to_numpy(t)


def test_every_keras_loss_name_exists():
    assert [n for n in dir(keras.losses) if not n.startswith("_") and not hasattr(losses, n)] == []


# (class, constructor kwargs, y_true, y_pred): the same in Keras and plait.
CASES = [
    ("BinaryFocalCrossentropy", {}, BIN_T, BIN_P),
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "alpha": 0.4, "gamma": 1.5}, BIN_T, BIN_P),
    ("BinaryFocalCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, BIN_T, LOGITS[:, :3]),
    ("CategoricalFocalCrossentropy", {}, ONE_HOT, PROBS),
    ("CategoricalFocalCrossentropy", {"alpha": 0.5, "gamma": 3.0, "label_smoothing": 0.2}, ONE_HOT, PROBS),
    ("CategoricalFocalCrossentropy", {"from_logits": True}, ONE_HOT, LOGITS),
    ("CategoricalGeneralizedCrossEntropy", {}, LABELS, PROBS),
    ("CategoricalGeneralizedCrossEntropy", {"q": 0.2}, LABELS, PROBS),
    ("Dice", {}, MASKS_T, MASKS_P),
    ("Dice", {"axis": (1, 2, 3)}, MASKS_T, MASKS_P),
    ("Tversky", {}, MASKS_T, MASKS_P),
    ("Tversky", {"alpha": 0.7, "beta": 0.3, "axis": (1, 2)}, MASKS_T, MASKS_P),
    ("Circle", {}, EMB_LABELS, EMB),
    ("Circle", {"gamma": 10.0, "margin": 0.25, "remove_diagonal": False}, EMB_LABELS, EMB),
    ("SparseCategoricalCrossentropy", {"ignore_class": 2}, LABELS, PROBS),
    ("SparseCategoricalCrossentropy", {"ignore_class": 1, "from_logits": True}, LABELS[:, None], LOGITS),
]


def _pair(cls_name, kwargs):
    return getattr(losses, cls_name)(**kwargs), getattr(keras.losses, cls_name)(**kwargs)


@pytest.mark.parametrize("cls_name, kwargs, y_true, y_pred", CASES)
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none", "mean_with_sample_weight"])
def test_new_losses_match_keras(cls_name, kwargs, y_true, y_pred, reduction):
    ours, theirs = _pair(cls_name, {**kwargs, "reduction": reduction})
    # Tolerance 1e-5 relative: float32 rounding of the same formulas (Circle's gamma=80
    # exponents amplify the last bit, hence its atol).
    tol = {"rtol": 1e-5, "atol": 1e-4 if cls_name == "Circle" else 1e-6}
    np.testing.assert_allclose(ours(y_true, y_pred).numpy(), _np(theirs(y_true, y_pred)), **tol)
    if cls_name not in ("Dice", "Tversky") or "axis" in kwargs:  # per-sample values take weights
        weights = WEIGHTS[: len(y_true)] if len(y_true) <= len(WEIGHTS) else np.ones(len(y_true), np.float32)
        got = ours(torch.from_numpy(np.asarray(y_true)), torch.from_numpy(y_pred), torch.from_numpy(weights))
        np.testing.assert_allclose(got.numpy(), _np(theirs(y_true, y_pred, sample_weight=weights)), **tol)


FUNCTIONS = [
    ("binary_focal_crossentropy", {"gamma": 1.0}, BIN_T, BIN_P),
    ("categorical_focal_crossentropy", {"alpha": 0.3}, ONE_HOT, PROBS),
    ("categorical_generalized_cross_entropy", {"q": 0.7}, LABELS, PROBS),
    ("dice", {}, MASKS_T, MASKS_P),
    ("dice", {"axis": (1, 2)}, MASKS_T, MASKS_P),
    ("tversky", {"alpha": 0.2, "beta": 0.8}, MASKS_T, MASKS_P),
    ("circle", {}, EMB_LABELS, EMB),
    ("circle", {"ref_labels": EMB_LABELS[:4], "ref_embeddings": EMB[:4]}, EMB_LABELS, EMB),
]


@pytest.mark.parametrize("name, kwargs, y_true, y_pred", FUNCTIONS)
def test_loss_functions_match_keras(name, kwargs, y_true, y_pred):
    ours = getattr(losses, name)(torch.as_tensor(y_true), torch.as_tensor(y_pred), **kwargs)
    theirs = getattr(keras.losses, name)(
        keras.ops.convert_to_tensor(y_true), keras.ops.convert_to_tensor(y_pred), **kwargs
    )
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(ours.numpy(), _np(theirs), rtol=1e-5, atol=1e-4 if name == "circle" else 1e-6)


def _ctc_batch():
    labels = np.array([[1, 2, 2, 0], [3, 1, 0, 0], [2, 0, 0, 0]], np.int32)
    logits = rng.normal(size=(3, 7, 4)).astype(np.float32)
    return labels, logits


def test_ctc_matches_keras():
    labels, logits = _ctc_batch()
    ours = losses.ctc(torch.as_tensor(labels), torch.as_tensor(logits))
    theirs = keras.losses.ctc(keras.ops.convert_to_tensor(labels), keras.ops.convert_to_tensor(logits))
    np.testing.assert_allclose(ours.numpy(), _np(theirs), rtol=1e-5)  # float32 rounding
    weights = np.array([1.0, 2.0, 0.5], np.float32)
    np.testing.assert_allclose(
        losses.CTC()(labels, logits, weights).numpy(),
        _np(keras.losses.CTC()(labels, logits, sample_weight=weights)),
        rtol=1e-5,
    )
    with pytest.raises(ValueError, match="y_pred"):
        losses.ctc(torch.as_tensor(labels), torch.zeros(3, 7))


def test_ctc_trains_and_decodes():
    # Each step's input names the class a best path emits there; a Dense layer learns to read
    # it, and greedy decoding of its output gives the labels back (as Keras's decoding does).
    labels, _ = _ctc_batch()
    paths = np.array([[1, 1, 2, 0, 2, 0, 0], [3, 3, 1, 1, 0, 0, 0], [0, 2, 2, 0, 0, 0, 0]])
    x = np.eye(5, dtype=np.float32)[paths]
    inputs = plait.Input((7, 5))
    model = plait.Model(inputs, plait.layers.Dense(4)(inputs))
    model.compile(plait.optimizers.Adam(0.1), loss="ctc")
    history = model.fit(x, labels, epochs=60, verbose=0)
    assert history.history["loss"][-1] < 0.2 * history.history["loss"][0]
    if not hasattr(plait.ops, "ctc_decode"):
        pytest.skip("plait.ops.ctc_decode is not there")
    predictions = model.predict(x, verbose=0)
    decoded, _ = plait.ops.ctc_decode(predictions, np.full((3,), 7), strategy="greedy")
    expected, _ = keras.ops.ctc_decode(predictions, np.full((3,), 7), strategy="greedy")
    np.testing.assert_array_equal(_np(decoded), _np(expected))
    np.testing.assert_array_equal(_np(decoded)[0][:, :3], np.where(labels[:, :3] == 0, -1, labels[:, :3]))


def test_broadcastable_shapes_as_keras():
    # (8, 1) targets against (8, 10) predictions broadcast, as in Keras.
    y_true, y_pred = rng.normal(size=(8, 1)).astype(np.float32), rng.normal(size=(8, 10)).astype(np.float32)
    for name in ("MeanSquaredError", "MeanAbsoluteError", "Huber", "LogCosh"):
        ours, theirs = _pair(name, {})
        np.testing.assert_allclose(ours(y_true, y_pred).numpy(), _np(theirs(y_true, y_pred)), rtol=1e-6)
        np.testing.assert_allclose(ours(y_pred, y_true).numpy(), _np(theirs(y_pred, y_true)), rtol=1e-6)
    # (batch,) targets meet (batch, 1) predictions sample by sample.
    np.testing.assert_allclose(
        losses.mean_squared_error(torch.as_tensor(y_true[:, 0]), torch.as_tensor(y_pred[:, :1])).numpy(),
        _np(keras.losses.mean_squared_error(y_true[:, 0], y_pred[:, :1])),
        rtol=1e-6,
    )


def test_get_returns_what_keras_returns():
    for name in ("mse", "mae", "huber", "binary_crossentropy", "categorical_focal_crossentropy", "ctc", "dice", "kld"):
        ours, theirs = losses.get(name), keras.losses.get(name)
        assert callable(ours) and not isinstance(ours, losses.Loss)
        assert ours.__name__ == theirs.__name__
    for name in ("MeanSquaredError", "Huber", "Circle", "BinaryFocalCrossentropy"):
        assert type(losses.get(name)).__name__ == type(keras.losses.get(name)).__name__
        assert losses.get(name).name == keras.losses.get(name).name
    assert losses.get(None) is None
    assert isinstance(losses.resolve("dice"), losses.Dice)
    with pytest.raises(ValueError, match="no_such_loss"):
        losses.get("no_such_loss")


def test_default_names_and_positional_arguments_as_keras():
    for name in dir(keras.losses):
        cls = getattr(keras.losses, name)
        if isinstance(cls, type) and issubclass(cls, keras.losses.Loss) and name not in ("Loss", "LossFunctionWrapper"):
            assert getattr(losses, name)().name == cls().name, name
    assert losses.Huber(2.5).delta == 2.5
    assert losses.Tversky(0.3, 0.7).get_config()["beta"] == 0.7
    assert losses.BinaryFocalCrossentropy(True, 0.4).apply_class_balancing is True
    assert losses.CategoricalGeneralizedCrossEntropy(0.3).q == 0.3
    with pytest.raises(ValueError, match="q"):
        losses.CategoricalGeneralizedCrossEntropy(q=1.5)
    with pytest.raises(TypeError, match="Dice"):
        losses.Dice(gamma=2.0)


@pytest.mark.parametrize(
    "keras_loss",
    [
        keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.3, gamma=1.0, name="bfc"),
        keras.losses.CategoricalFocalCrossentropy(alpha=0.4, from_logits=True),
        keras.losses.CategoricalGeneralizedCrossEntropy(q=0.3, reduction="sum"),
        keras.losses.Dice(axis=(1, 2)),
        keras.losses.Tversky(alpha=0.2, beta=0.8),
        keras.losses.Circle(gamma=20.0, margin=0.3),
        keras.losses.CTC(),
        keras.losses.SparseCategoricalCrossentropy(ignore_class=0),
    ],
    ids=lambda loss: type(loss).__name__,
)
def test_configs_round_trip_with_keras(keras_loss):
    ours = losses.deserialize(keras.losses.serialize(keras_loss))
    assert type(ours).__name__ == type(keras_loss).__name__
    expected = keras_loss.get_config()
    assert {k: ours.get_config()[k] for k in expected} == expected
    if not isinstance(keras_loss, keras.losses.CategoricalGeneralizedCrossEntropy):
        # (Keras 3.15's deserialize cannot read its own CategoricalGeneralizedCrossEntropy.)
        back = keras.losses.deserialize(losses.serialize(ours))
        assert back.get_config() == expected


def test_function_serialization_and_custom_objects():
    assert keras.losses.deserialize(losses.serialize(losses.dice)) is keras.losses.dice
    assert losses.deserialize(keras.losses.serialize(keras.losses.tversky)) is losses.tversky
    assert losses.deserialize("mine", custom_objects={"mine": abs}) is abs


def test_losses_take_numpy_and_keras_masks():
    np.testing.assert_allclose(
        losses.Dice()(MASKS_T, MASKS_P).numpy(), _np(keras.losses.Dice()(MASKS_T, MASKS_P)), rtol=1e-6
    )
    y_pred = torch.as_tensor(PROBS)
    y_pred._keras_mask = torch.as_tensor(WEIGHTS > 0)
    expected = keras.losses.categorical_crossentropy(ONE_HOT, PROBS)[WEIGHTS > 0].mean()
    np.testing.assert_allclose(losses.CategoricalCrossentropy()(ONE_HOT, y_pred).numpy(), _np(expected), rtol=1e-6)


@pytest.mark.parametrize(
    "loss, y, units, activation",
    [
        ("binary_focal_crossentropy", BIN_T, 3, "sigmoid"),
        ("categorical_focal_crossentropy", ONE_HOT, 4, "softmax"),
        ("categorical_generalized_cross_entropy", LABELS, 4, "softmax"),
        ("dice", BIN_T, 3, "sigmoid"),
        ("tversky", BIN_T, 3, "sigmoid"),
    ],
)
def test_compile_by_name(loss, y, units, activation):
    x = rng.normal(size=(6, 5)).astype(np.float32)
    inputs = plait.Input((5,))
    model = plait.Model(inputs, plait.layers.Dense(units, activation=activation)(inputs))
    model.compile("sgd", loss=loss)
    reported = model.evaluate(x, y, verbose=0)
    # (Keras accepts every name here but categorical_generalized_cross_entropy; plait takes it too.)
    extra = {"q": 0.5} if "generalized" in loss else {}  # the class's default
    y_pred = keras.ops.convert_to_tensor(model.predict(x, verbose=0))
    expected = getattr(keras.losses, loss)(keras.ops.convert_to_tensor(y), y_pred, **extra)
    np.testing.assert_allclose(reported, float(np.mean(_np(expected))), rtol=1e-5)
    model.fit(x, y, epochs=1, verbose=0)


def test_fit_with_broadcast_targets_as_keras():
    # (8, 1) targets for a (8, 10) output: Keras broadcasts them in MSE; so does plait's fit.
    x = rng.normal(size=(8, 4)).astype(np.float32)
    y = rng.normal(size=(8, 1)).astype(np.float32)
    theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(10)])
    ours = plait.Sequential([plait.Input((4,)), plait.layers.Dense(10)])
    ours.set_weights(theirs.get_weights())
    for model in (theirs, ours):
        model.compile("sgd", "mse")
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=1e-6)
    theirs.fit(x, y, batch_size=8, epochs=2, verbose=0)
    ours.fit(x, y, batch_size=8, epochs=2, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # float32 rounding of the same updates


@pytest.mark.parametrize("loss", ["binary_focal_crossentropy", "tversky"])
def test_new_losses_in_the_compiled_step(loss):
    # The compiled whole step trains with the same numbers as the eager one.
    x = rng.normal(size=(16, 5)).astype(np.float32)
    results = []
    for jit in (False, True):
        plait.utils.set_random_seed(0)
        inputs = plait.Input((5,))
        model = plait.Model(inputs, plait.layers.Dense(3, activation="sigmoid")(inputs))
        model.compile("adam", loss=loss, metrics=["f1_score"], jit_compile=jit)
        history = model.fit(x, np.tile(BIN_T, (3, 1))[:16], batch_size=8, epochs=2, verbose=0, shuffle=False)
        results.append((history.history["loss"], model.get_weights()))
    assert results[1][0] == pytest.approx(results[0][0], rel=1e-5)  # float32 rounding
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
