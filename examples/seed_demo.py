"""The seed tutorial's three models, built with plait, summarised, and trained on real tasks.

1. The Sequential / functional MLP (64-32-32-10) on scikit-learn's bundled 8x8 digits.
2. The two-input question-answering model on a generated story/question task.
3. The multi-output model (age / sex / income from posts) on generated posts.

Run: ``./scripts/demo.sh`` (sets up .venv first) or ``python examples/seed_demo.py``.
"""

import time

import numpy as np

import plait
from plait import Input, datasets
from plait.layers import (
    LSTM,
    Conv1D,
    Dense,
    Embedding,
    GlobalMaxPooling1D,
    MaxPooling1D,
    concatenate,
)
from plait.models import Model, Sequential
from plait.utils import to_categorical


def section(title):
    print("\n" + "#" * 78 + f"\n# {title}\n" + "#" * 78)


def mlp_on_digits():
    from sklearn.datasets import load_digits

    section("1. Sequential and functional MLP on the 8x8 digits (64 features)")
    seq_model = Sequential()
    seq_model.add(Dense(32, activation="relu", input_shape=(64,)))
    seq_model.add(Dense(32, activation="relu"))
    seq_model.add(Dense(10, activation="softmax"))
    seq_model.summary()

    input_tensor = Input(shape=(64,))
    x = Dense(32, activation="relu")(input_tensor)
    x = Dense(32, activation="relu")(x)
    output_tensor = Dense(10, activation="softmax")(x)
    functional_model = Model(input_tensor, output_tensor)
    functional_model.summary()

    digits = load_digits()
    x, y = (digits.data / 16.0).astype("float32"), to_categorical(digits.target, 10)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    functional_model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["acc"])
    history = functional_model.fit(x, y, epochs=30, batch_size=32, validation_split=0.2, verbose=2)
    print(f"digits: validation accuracy {history.history['val_acc'][-1]:.3f}")


def question_answering():
    section("2. Multi-input question-answering model")
    text_vocabulary_size = 10000
    question_vocabulary_size = 10000
    answer_vocabulary_size = 500

    text_input = Input(shape=(None,), dtype="int32", name="text")
    embedded_text = Embedding(input_dim=text_vocabulary_size, output_dim=64)(text_input)
    encoded_text = LSTM(32)(embedded_text)
    question_input = Input(shape=(None,), dtype="int32", name="question")
    embedded_question = Embedding(input_dim=question_vocabulary_size, output_dim=32)(question_input)
    encoded_question = LSTM(16)(embedded_question)
    concatenated = concatenate([encoded_text, encoded_question], axis=-1)
    answer = Dense(answer_vocabulary_size, activation="softmax")(concatenated)
    model = Model([text_input, question_input], answer)
    model.summary()

    # The seed's random-data cell, both input forms (its dict cell, fixed: a positional argument
    # cannot follow a keyword one in Python).
    num_samples, max_length = 1000, 100
    text = np.random.randint(1, text_vocabulary_size, size=(num_samples, max_length))
    question = np.random.randint(1, question_vocabulary_size, size=(num_samples, max_length))
    answers = to_categorical(np.random.randint(0, answer_vocabulary_size, size=num_samples))
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["acc"])
    model.fit(x=[text, question], y=answers, epochs=1, batch_size=128)
    model.fit(x={"text": text, "question": question}, y=answers, epochs=1, batch_size=128)

    # A task the architecture can represent: where is the place, what is the object.
    (text, question), answers = datasets.question_answering(10000, max_length=max_length, seed=1)
    (val_text, val_question), val_answers = datasets.question_answering(1000, max_length=max_length, seed=2)
    model.compile(optimizer=plait.optimizers.RMSprop(0.005), loss="categorical_crossentropy", metrics=["acc"])
    history = model.fit(
        [text, question],
        to_categorical(answers, answer_vocabulary_size),
        epochs=16,
        batch_size=128,
        verbose=2,
        validation_data=([val_text, val_question], to_categorical(val_answers, answer_vocabulary_size)),
    )
    print(f"question answering: validation accuracy {history.history['val_acc'][-1]:.3f}")


def build_multi_output_model():
    """The seed's multi-output model, exactly as the tutorial builds it."""
    vocabulary_size = 50000
    num_income_groups = 10
    posts_input = Input(shape=(None,), dtype="int32", name="posts")
    embedded_posts = Embedding(input_dim=vocabulary_size, output_dim=256)(posts_input)
    x = Conv1D(filters=128, kernel_size=5, activation="relu")(embedded_posts)
    x = MaxPooling1D(5)(x)
    x = Conv1D(256, 5, activation="relu")(x)
    x = Conv1D(256, 5, activation="relu")(x)
    x = MaxPooling1D(5)(x)
    x = Conv1D(256, 5, activation="relu")(x)
    x = Conv1D(256, 5, activation="relu")(x)
    x = GlobalMaxPooling1D()(x)
    x = Dense(128, activation="relu")(x)
    age_prediction = Dense(1, name="age")(x)
    sex_prediction = Dense(1, activation="sigmoid", name="sex")(x)
    income_prediction = Dense(num_income_groups, activation="softmax", name="income")(x)
    return Model(posts_input, [age_prediction, sex_prediction, income_prediction])


def multi_output(length=300, samples=3000, epochs=12, optimizer="adam", loss_weights=None):
    section("3. Multi-output model: age, sex and income group from posts")
    num_income_groups = 10
    model = build_multi_output_model()
    model.compile(
        optimizer=optimizer,
        loss={"age": "mse", "sex": "binary_crossentropy", "income": "categorical_crossentropy"},
        # The seed's {"age": 0.25, "sex": 10.0, "income": 1.0} suits an age MSE of 3 to 5; on a
        # standardised age (below) every loss starts near 1, so equal weights balance them.
        loss_weights=loss_weights or {"age": 1.0, "sex": 1.0, "income": 1.0},
        metrics={"age": ["mae"], "sex": ["acc"], "income": ["acc"]},
    )
    model.summary()

    posts, (age, sex, income) = datasets.posts(samples, length=length, seed=3)
    val_posts, (val_age, val_sex, val_income) = datasets.posts(500, length=length, seed=4)
    # Ages are learned standardised: in raw years the MSE (hundreds) drowns the other losses --
    # the very problem the seed's last section describes -- and a target far from zero makes the
    # age head inflate the shared features. Predictions convert back to years.
    mean, std = age.mean(), age.std()
    history = model.fit(
        posts,
        [(age - mean) / std, sex, to_categorical(income, num_income_groups)],
        epochs=epochs,
        batch_size=64,
        verbose=1,
        validation_data=(val_posts, [(val_age - mean) / std, val_sex, to_categorical(val_income, 10)]),
    )
    h = history.history
    h["val_age_mae_years"] = [std * v for v in h["val_age_mae"]]
    print(
        f"posts: validation age MAE {h['val_age_mae_years'][-1]:.2f} years (predicting the mean: "
        f"{np.abs(val_age - mean).mean():.2f}), sex accuracy {h['val_sex_acc'][-1]:.3f} (chance 0.5), "
        f"income accuracy {h['val_income_acc'][-1]:.3f} (chance 0.1)"
    )
    return h


if __name__ == "__main__":
    plait.utils.set_random_seed(0)
    start = time.perf_counter()
    mlp_on_digits()
    question_answering()
    multi_output()
    print(f"\nDemo finished in {time.perf_counter() - start:.0f}s")
