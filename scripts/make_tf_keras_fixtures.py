"""Writes tests/data/tf_keras_*.h5: tf-keras 2 full-model files of the seed's three models (small
sizes) and a weights file, with inputs and tf-keras's predictions, for plait's reader tests.

Needs TensorFlow and tf_keras (not plait's dependencies), e.g. in a separate venv:
``python -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu tf_keras``, then
``/tmp/tfenv/bin/python scripts/make_tf_keras_fixtures.py tests/data``.
"""

import sys

import numpy as np
import tf_keras as keras

out = sys.argv[1]
L = keras.layers
rng = np.random.default_rng(0)
keras.utils.set_random_seed(0)
seq = keras.Sequential(
    [
        L.Dense(32, activation="relu", input_shape=(64,)),
        L.Dense(32, activation="relu"),
        L.Dense(10, activation="softmax"),
    ]
)
text = keras.Input(shape=(None,), dtype="int32", name="text")
q = keras.Input(shape=(None,), dtype="int32", name="question")
a = L.LSTM(8)(L.Embedding(100, 6)(text))
b = L.LSTM(4)(L.Embedding(100, 5)(q))
qa = keras.Model([text, q], L.Dense(20, activation="softmax")(L.concatenate([a, b], axis=-1)))
posts = keras.Input(shape=(None,), dtype="int32", name="posts")
x = L.Embedding(200, 8)(posts)
x = L.Conv1D(8, 5, activation="relu")(x)
x = L.MaxPooling1D(5)(x)
x = L.Conv1D(8, 5, activation="relu")(x)
x = L.Conv1D(8, 5, activation="relu")(x)
x = L.MaxPooling1D(5)(x)
x = L.Conv1D(8, 5, activation="relu")(x)
x = L.Conv1D(8, 5, activation="relu")(x)
x = L.GlobalMaxPooling1D()(x)
x = L.Dense(16, activation="relu")(x)
multi = keras.Model(
    posts,
    [
        L.Dense(1, name="age")(x),
        L.Dense(1, activation="sigmoid", name="sex")(x),
        L.Dense(10, activation="softmax", name="income")(x),
    ],
)
inputs = {
    "seq": [rng.normal(size=(3, 64)).astype("float32")],
    "qa": [rng.integers(1, 100, (3, 9)).astype("int32"), rng.integers(1, 100, (3, 4)).astype("int32")],
    "multi": [rng.integers(1, 200, (3, 300)).astype("int32")],
}
for name, model in (("seq", seq), ("qa", qa), ("multi", multi)):
    model.save(f"{out}/tf_keras_{name}.h5")
    preds = model.predict(inputs[name] if len(inputs[name]) > 1 else inputs[name][0], verbose=0)
    preds = preds if isinstance(preds, list) else [preds]
    np.savez(
        f"{out}/tf_keras_{name}_expected.npz",
        **{f"x{i}": v for i, v in enumerate(inputs[name])},
        **{f"y{i}": p for i, p in enumerate(preds)},
    )

qa.save_weights(f"{out}/tf_keras_qa.weights.h5")
print(keras.__version__)
