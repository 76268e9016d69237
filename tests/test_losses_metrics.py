"""Losses and metrics against Keras 3's formulas written independently in numpy."""

import numpy as np
import pytest
import torch

from plait import losses, metrics

EPS = 1e-7
rng = np.random.default_rng(0)
YT = rng.uniform(0.1, 2.0, size=(6, 4)).astype(np.float32)
YP = rng.uniform(0.1, 2.0, size=(6, 4)).astype(np.float32)
PROBS_T = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 6)]
LOGITS = rng.normal(size=(6, 4)).astype(np.float32)
PROBS_P = np.exp(LOGITS) / np.exp(LOGITS).sum(-1, keepdims=True)
BIN_T = rng.integers(0, 2, size=(6, 1)).astype(np.float32)
BIN_P = rng.uniform(0.01, 0.99, size=(6, 1)).astype(np.float32)


def softplus(x):
    return np.log1p(np.exp(x))


REFERENCES = {
    "mse": (YT, YP, lambda t, p: ((p - t) ** 2).mean(-1)),
    "mae": (YT, YP, lambda t, p: np.abs(p - t).mean(-1)),
    "mape": (YT, YP, lambda t, p: 100 * np.abs((t - p) / np.maximum(np.abs(t), EPS)).mean(-1)),
    "msle": (YT, YP, lambda t, p: ((np.log(np.maximum(p, EPS) + 1) - np.log(np.maximum(t, EPS) + 1)) ** 2).mean(-1)),
    "huber": (YT, YP, lambda t, p: np.where(np.abs(p - t) <= 1, 0.5 * (p - t) ** 2, np.abs(p - t) - 0.5).mean(-1)),
    "log_cosh": (YT, YP, lambda t, p: np.log(np.cosh(p - t)).mean(-1)),
    "binary_crossentropy": (BIN_T, BIN_P, lambda t, p: -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(-1)),
    "categorical_crossentropy": (PROBS_T, PROBS_P, lambda t, p: -(t * np.log(p / p.sum(-1, keepdims=True))).sum(-1)),
    "kl_divergence": (
        PROBS_T,
        PROBS_P,
        lambda t, p: (np.clip(t, EPS, 1) * np.log(np.clip(t, EPS, 1) / np.clip(p, EPS, 1))).sum(-1),
    ),
    "poisson": (YT, YP, lambda t, p: (p - t * np.log(p + EPS)).mean(-1)),
    "hinge": (BIN_T, YP[:, :1] - 1, lambda t, p: np.maximum(1 - (2 * t - 1) * p, 0).mean(-1)),
    "squared_hinge": (BIN_T, YP[:, :1] - 1, lambda t, p: (np.maximum(1 - (2 * t - 1) * p, 0) ** 2).mean(-1)),
    "categorical_hinge": (PROBS_T, YP, lambda t, p: np.maximum(((1 - t) * p).max(-1) - (t * p).sum(-1) + 1, 0)),
    "cosine_similarity": (
        YT,
        YP,
        lambda t, p: (
            -((t / np.linalg.norm(t, axis=-1, keepdims=True)) * (p / np.linalg.norm(p, axis=-1, keepdims=True))).sum(-1)
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_loss_matches_keras_formula(name):
    y_true, y_pred, fn = REFERENCES[name]
    loss = losses.resolve(name)
    expected = fn(y_true.astype(np.float64), y_pred.astype(np.float64))
    value = loss(torch.from_numpy(y_true), torch.from_numpy(y_pred))
    np.testing.assert_allclose(value.item(), expected.mean(), rtol=1e-5)
    weights = np.arange(6, dtype=np.float32)
    weighted = loss(torch.from_numpy(y_true), torch.from_numpy(y_pred), torch.from_numpy(weights))
    # sum_over_batch_size: divide by the number of values, not by the sum of the weights.
    np.testing.assert_allclose(weighted.item(), (expected * weights).sum() / 6, rtol=1e-5)


def test_crossentropy_variants():
    labels = PROBS_T.argmax(-1)
    sparse = losses.SparseCategoricalCrossentropy()(torch.from_numpy(labels), torch.from_numpy(PROBS_P))
    dense = losses.CategoricalCrossentropy()(torch.from_numpy(PROBS_T), torch.from_numpy(PROBS_P))
    np.testing.assert_allclose(sparse.item(), dense.item(), rtol=1e-6)
    from_logits = losses.CategoricalCrossentropy(from_logits=True)(torch.from_numpy(PROBS_T), torch.from_numpy(LOGITS))
    np.testing.assert_allclose(from_logits.item(), dense.item(), rtol=1e-5)
    smoothed = losses.CategoricalCrossentropy(label_smoothing=0.1)(torch.from_numpy(PROBS_T), torch.from_numpy(PROBS_P))
    t = PROBS_T * 0.9 + 0.1 / 4
    np.testing.assert_allclose(smoothed.item(), -(t * np.log(PROBS_P)).sum(-1).mean(), rtol=1e-5)
    bce_logits = losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.2)
    z = np.log(BIN_P / (1 - BIN_P))
    t = BIN_T * 0.8 + 0.1
    expected = -(t * np.log(BIN_P) + (1 - t) * np.log(1 - BIN_P)).mean()
    np.testing.assert_allclose(bce_logits(torch.from_numpy(BIN_T), torch.from_numpy(z)).item(), expected, rtol=1e-5)
    # Probabilities are clipped to [1e-7, 1 - 1e-7] as Keras does.
    clipped = losses.BinaryCrossentropy()(torch.ones(1, 1), torch.zeros(1, 1))
    np.testing.assert_allclose(clipped.item(), -np.log(1e-7), rtol=1e-4)
    assert losses.resolve("mse").name == "mean_squared_error" and losses.get("mse") is losses.mean_squared_error
    with pytest.raises(ValueError, match="Unknown loss function: 'msee'"):
        losses.get("msee")


def test_streaming_accuracy_metrics():
    acc = metrics.CategoricalAccuracy()
    acc.update_state(torch.from_numpy(PROBS_T[:3]), torch.from_numpy(PROBS_P[:3]))
    acc.update_state(torch.from_numpy(PROBS_T[3:]), torch.from_numpy(PROBS_P[3:]))
    np.testing.assert_allclose(float(acc.result()), (PROBS_T.argmax(-1) == PROBS_P.argmax(-1)).mean())
    acc.reset_state()
    assert float(acc.result()) == 0.0
    sparse = metrics.SparseCategoricalAccuracy()
    sparse.update_state(torch.from_numpy(PROBS_T.argmax(-1)[:, None]), torch.from_numpy(PROBS_P))
    np.testing.assert_allclose(float(sparse.result()), (PROBS_T.argmax(-1) == PROBS_P.argmax(-1)).mean())
    binary = metrics.BinaryAccuracy()
    w = np.array([1, 2, 0, 1, 1, 3], dtype=np.float32)
    binary.update_state(torch.from_numpy(BIN_T), torch.from_numpy(BIN_P), torch.from_numpy(w))
    hits = ((BIN_P > 0.5) == BIN_T)[:, 0]
    np.testing.assert_allclose(float(binary.result()), (hits * w).sum() / w.sum(), rtol=1e-6)
    top = metrics.TopKCategoricalAccuracy(k=2)
    top.update_state(torch.from_numpy(PROBS_T), torch.from_numpy(PROBS_P))
    top2 = np.argsort(-PROBS_P, -1)[:, :2]
    np.testing.assert_allclose(float(top.result()), np.mean([PROBS_T.argmax(-1)[i] in top2[i] for i in range(6)]))
    mae = metrics.get("mae")
    mae.update_state(torch.from_numpy(YT), torch.from_numpy(YP))
    np.testing.assert_allclose(float(mae.result()), np.abs(YT - YP).mean(), rtol=1e-6)


def test_precision_recall_auc_and_iou():
    y = np.array([1, 1, 0, 0, 1, 0, 1, 0], dtype=np.float32)
    p = np.array([0.9, 0.4, 0.6, 0.1, 0.8, 0.3, 0.7, 0.2], dtype=np.float32)
    precision, recall = metrics.Precision(), metrics.Recall()
    precision.update_state(torch.from_numpy(y), torch.from_numpy(p))
    recall.update_state(torch.from_numpy(y), torch.from_numpy(p))
    assert float(precision.result()) == pytest.approx(3 / 4) and float(recall.result()) == pytest.approx(3 / 4)
    auc = metrics.AUC(num_thresholds=1000)
    auc.update_state(torch.from_numpy(y), torch.from_numpy(p))
    pos, neg = p[y == 1], p[y == 0]
    exact = np.mean([a > b for a in pos for b in neg])
    assert float(auc.result()) == pytest.approx(exact, abs=2e-3)
    iou = metrics.MeanIoU(num_classes=2)
    iou.update_state(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 1, 1]))
    assert float(iou.result()) == pytest.approx((1 / 2 + 2 / 3) / 2)
    with pytest.raises(ValueError, match="Unknown metric: 'accuracyy'"):
        metrics.get("accuracyy")
