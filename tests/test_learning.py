"""Real learning with the seed's architectures on data that needs them (nothing downloaded)."""

import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

import plait
from plait import datasets
from plait.models import Model, Sequential
from plait.utils import to_categorical

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import seed_demo  # noqa: E402 - the README demo's own model builder


def test_seed_mlp_learns_digits():
    from plait.layers import Dense

    model = Sequential()
    model.add(Dense(32, activation="relu", input_shape=(64,)))
    model.add(Dense(32, activation="relu"))
    model.add(Dense(10, activation="softmax"))
    digits = load_digits()
    x, y = (digits.data / 16.0).astype("float32"), to_categorical(digits.target, 10)
    order = np.random.default_rng(0).permutation(len(x))
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["acc"])
    history = model.fit(x[order], y[order], epochs=30, batch_size=32, validation_split=0.2, verbose=0)
    assert history.history["val_acc"][-1] >= 0.95


def test_seed_qa_model_answers_fresh_questions():
    from plait import Input
    from plait.layers import LSTM, Dense, Embedding, concatenate

    text_input = Input(shape=(None,), dtype="int32", name="text")
    encoded_text = LSTM(32)(Embedding(input_dim=10000, output_dim=64)(text_input))
    question_input = Input(shape=(None,), dtype="int32", name="question")
    encoded_question = LSTM(16)(Embedding(input_dim=10000, output_dim=32)(question_input))
    answer = Dense(500, activation="softmax")(concatenate([encoded_text, encoded_question], axis=-1))
    model = Model([text_input, question_input], answer)
    model.compile(optimizer=plait.optimizers.RMSprop(0.005), loss="categorical_crossentropy", metrics=["acc"])
    (text, question), answers = datasets.question_answering(8000, max_length=40, seed=1)
    model.fit({"text": text, "question": question}, to_categorical(answers, 500), epochs=16, batch_size=128, verbose=0)
    (text, question), answers = datasets.question_answering(1000, max_length=40, seed=2)
    predicted = model.predict([text, question]).argmax(-1)
    # Chance is 1/500. The last epochs land between 0.93 and 0.97 depending on the kernels' reduction
    # order (threads), so the bar is 0.9: a model that does not read the question scores ~0.1.
    assert (predicted == answers).mean() >= 0.9


@pytest.mark.slow  # 4-5 minutes (564 steps of the seed's 12.8M-weight model): `pytest -m slow`; the demo runs it too
def test_seed_multi_output_model_learns_all_three_heads():
    plait.utils.set_random_seed(0)
    h = seed_demo.multi_output()  # the seed's architecture, 12 epochs on 3,000 generated posts
    baseline_mae = 14.8  # predicting the mean age on the validation posts
    assert h["val_age_mae_years"][-1] < 0.6 * baseline_mae
    assert h["val_sex_acc"][-1] > 0.9  # chance: 0.5
    assert h["val_income_acc"][-1] > 0.5  # chance: 0.1
