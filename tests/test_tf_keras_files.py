"""tf-keras 2 ``.h5`` files, written by tf-keras 2.21 (scripts/make_tf_keras_fixtures.py), load into
plait with tf-keras's own predictions. No TensorFlow is needed to run these tests."""

from pathlib import Path

import numpy as np
import pytest

import plait

DATA = Path(__file__).parent / "data"


def expected(name):
    saved = np.load(DATA / f"tf_keras_{name}_expected.npz")
    xs = [saved[k] for k in sorted(k for k in saved if k.startswith("x"))]
    ys = [saved[k] for k in sorted(k for k in saved if k.startswith("y"))]
    return (xs if len(xs) > 1 else xs[0]), ys


@pytest.mark.parametrize("name,kind", [("seq", "Sequential"), ("qa", "Functional"), ("multi", "Functional")])
def test_tf_keras_full_model_files(name, kind):
    model = plait.models.load_model(DATA / f"tf_keras_{name}.h5")
    assert type(model).__name__ == kind
    x, ys = expected(name)
    out = model.predict(x)
    for got, want in zip(out if isinstance(out, list) else [out], ys):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_tf_keras_weights_file_into_a_plait_model():
    from plait import Input, layers

    text, question = (
        Input(shape=(None,), dtype="int32", name="text"),
        Input(shape=(None,), dtype="int32", name="question"),
    )
    a = layers.LSTM(8, name="lstm")(layers.Embedding(100, 6, name="embedding")(text))
    b = layers.LSTM(4, name="lstm_1")(layers.Embedding(100, 5, name="embedding_1")(question))
    out = layers.Dense(20, activation="softmax", name="dense_3")(layers.concatenate([a, b], axis=-1))
    model = plait.Model([text, question], out)
    model.load_weights(DATA / "tf_keras_qa.weights.h5")
    x, ys = expected("qa")
    np.testing.assert_allclose(model.predict(x), ys[0], rtol=1e-5, atol=1e-6)
