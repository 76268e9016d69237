"""The seed tutorial's model-building cells, run with `keras` replaced by `plait`."""

import numpy as np

from plait import Input
from plait.layers import *  # noqa: F403 - the seed's own import
from plait.models import Model, Sequential


def lines_of(model):
    out = []
    model.summary(print_fn=out.append)
    return out


def row(lines, name):
    return next(line for line in lines if line.startswith(name + " "))


def test_sequential_and_functional_mlp():
    seq_model = Sequential()
    seq_model.add(Dense(32, activation="relu", input_shape=(64,)))  # noqa: F405
    seq_model.add(Dense(32, activation="relu"))  # noqa: F405
    seq_model.add(Dense(10, activation="softmax"))  # noqa: F405
    lines = lines_of(seq_model)
    assert lines[2] == "Layer (type)                 Output Shape              Param #   "
    assert row(lines, "dense") == "dense (Dense)                (None, 32)                2080      "
    assert row(lines, "dense_1") == "dense_1 (Dense)              (None, 32)                1056      "
    assert row(lines, "dense_2") == "dense_2 (Dense)              (None, 10)                330       "
    assert "Total params: 3,466 (13.54 KB)" in lines and "Non-trainable params: 0 (0.00 B)" in lines
    assert not any("InputLayer" in line for line in lines)

    input_tensor = Input(shape=(64,))
    x = Dense(32, activation="relu")(input_tensor)  # noqa: F405
    x = Dense(32, activation="relu")(x)  # noqa: F405
    output_tensor = Dense(10, activation="softmax")(x)  # noqa: F405
    functional_model = Model(input_tensor, output_tensor)
    lines = lines_of(functional_model)
    # The Sequential above made its own InputLayer first, so this one is input_layer_1 (as in Keras 3).
    assert row(lines, "input_layer_1") == "input_layer_1 (InputLayer)   (None, 64)                0         "
    assert "Total params: 3,466 (13.54 KB)" in lines and "Trainable params: 3,466 (13.54 KB)" in lines


def build_qa():
    text_input = Input(shape=(None,), dtype="int32", name="text")
    embedded_text = Embedding(input_dim=10000, output_dim=64)(text_input)  # noqa: F405
    encoded_text = LSTM(32)(embedded_text)  # noqa: F405
    question_input = Input(shape=(None,), dtype="int32", name="question")
    embedded_question = Embedding(input_dim=10000, output_dim=32)(question_input)  # noqa: F405
    encoded_question = LSTM(16)(embedded_question)  # noqa: F405
    concatenated = concatenate([encoded_text, encoded_question], axis=-1)  # noqa: F405
    answer = Dense(500, activation="softmax")(concatenated)  # noqa: F405
    return Model([text_input, question_input], answer)


def test_question_answering_model():
    model = build_qa()
    lines = lines_of(model)
    assert lines[2].startswith("Layer (type)                    Output Shape         Param #     Connected to")
    assert row(lines, "text").startswith("text (InputLayer)               (None, None)         0")
    assert row(lines, "embedding") == (
        "embedding (Embedding)           (None, None, 64)     640000      text[0][0]                       "
    )
    assert row(lines, "embedding_1").startswith(
        "embedding_1 (Embedding)         (None, None, 32)     320000      question[0][0]"
    )
    assert row(lines, "lstm").startswith(
        "lstm (LSTM)                     (None, 32)           12416       embedding[0][0]"
    )
    assert row(lines, "lstm_1").startswith(
        "lstm_1 (LSTM)                   (None, 16)           3136        embedding_1[0][0]"
    )
    concat = lines.index(row(lines, "concatenate"))
    assert lines[concat].startswith("concatenate (Concatenate)       (None, 48)           0           lstm[0][0]")
    assert lines[concat + 1].strip() == "lstm_1[0][0]"
    assert row(lines, "dense").startswith(
        "dense (Dense)                   (None, 500)          24500       concatenate[0][0]"
    )
    assert "Total params: 1,000,052 (3.81 MB)" in lines
    names = [line.split(" ")[0] for line in lines if "(" in line and "[" in line or "InputLayer" in line]
    assert names == ["text", "question", "embedding", "embedding_1", "lstm", "lstm_1", "concatenate", "dense"]
    out = model.predict([np.random.randint(1, 10000, (3, 100)), np.random.randint(1, 10000, (3, 100))])
    assert out.shape == (3, 500)
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)


def build_multi_output():
    posts_input = Input(shape=(None,), dtype="int32", name="posts")
    embedded_posts = Embedding(input_dim=50000, output_dim=256)(posts_input)  # noqa: F405
    x = Conv1D(filters=128, kernel_size=5, activation="relu")(embedded_posts)  # noqa: F405
    x = MaxPooling1D(5)(x)  # noqa: F405
    x = Conv1D(256, 5, activation="relu")(x)  # noqa: F405
    x = Conv1D(256, 5, activation="relu")(x)  # noqa: F405
    x = MaxPooling1D(5)(x)  # noqa: F405
    x = Conv1D(256, 5, activation="relu")(x)  # noqa: F405
    x = Conv1D(256, 5, activation="relu")(x)  # noqa: F405
    x = GlobalMaxPooling1D()(x)  # noqa: F405
    x = Dense(128, activation="relu")(x)  # noqa: F405
    age_prediction = Dense(1, name="age")(x)  # noqa: F405
    sex_prediction = Dense(1, activation="sigmoid", name="sex")(x)  # noqa: F405
    income_prediction = Dense(10, activation="softmax", name="income")(x)  # noqa: F405
    return Model(posts_input, [age_prediction, sex_prediction, income_prediction])


def test_multi_output_model():
    model = build_multi_output()
    model.compile(
        optimizer="rmsprop", loss={"age": "mse", "sex": "binary_crossentropy", "income": "categorical_crossentropy"}
    )
    lines = lines_of(model)
    expected = [
        ("posts (InputLayer)", "(None, None)", "0", ""),
        ("embedding (Embedding)", "(None, None, 256)", "12800000", "posts[0][0]"),
        ("conv1d (Conv1D)", "(None, None, 128)", "163968", "embedding[0][0]"),
        ("max_pooling1d (MaxPooling1D)", "(None, None, 128)", "0", "conv1d[0][0]"),
        ("conv1d_1 (Conv1D)", "(None, None, 256)", "164096", "max_pooling1d[0][0]"),
        ("conv1d_2 (Conv1D)", "(None, None, 256)", "327936", "conv1d_1[0][0]"),
        ("max_pooling1d_1 (MaxPooling1D)", "(None, None, 256)", "0", "conv1d_2[0][0]"),
        ("conv1d_3 (Conv1D)", "(None, None, 256)", "327936", "max_pooling1d_1[0][0]"),
        ("conv1d_4 (Conv1D)", "(None, None, 256)", "327936", "conv1d_3[0][0]"),
        ("global_max_pooling1d (GlobalMax", "(None, 256)", "0", "conv1d_4[0][0]"),
        ("dense (Dense)", "(None, 128)", "32896", "global_max_pooling1d[0][0]"),
        ("age (Dense)", "(None, 1)", "129", "dense[0][0]"),
        ("sex (Dense)", "(None, 1)", "129", "dense[0][0]"),
        ("income (Dense)", "(None, 10)", "1290", "dense[0][0]"),
    ]
    rows = [
        line
        for line in lines
        if line and line[0].isalpha() and not line.startswith(("Layer", "Model", "Total", "Trainable", "Non-"))
    ]
    assert [tuple(r[a:b].strip() for a, b in ((0, 32), (32, 53), (53, 65), (65, 98))) for r in rows] == expected
    assert "Total params: 14,146,316 (53.96 MB)" in lines
    outputs = model.predict(np.random.randint(1, 50000, (2, 500)))
    assert [o.shape for o in outputs] == [(2, 1), (2, 1), (2, 10)]
