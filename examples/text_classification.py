"""Text classification: is a short review positive or negative?

Reviews are generated: filler words around a few opinion words, some of them negated
("not good"), so that word order matters a little. TextVectorization learns the vocabulary and
turns the strings into word ids (as a preprocessing step, before the model: plait's inputs are
tensors); an Embedding, a bidirectional LSTM and a sigmoid unit classify them.

Run: ``python examples/text_classification.py`` (about a minute on a 2-core CPU);
``--small`` trains briefly on a few reviews (what the docs test runs).
"""

import sys

import numpy as np

import plait
from plait.layers import LSTM, Bidirectional, Dense, Embedding, TextVectorization

SMALL = "--small" in sys.argv
EPOCHS, SAMPLES = (1, 200) if SMALL else (6, 4000)

POSITIVE = ["good", "great", "fun", "moving", "brilliant", "clever"]
NEGATIVE = ["bad", "dull", "boring", "awful", "clumsy", "weak"]
FILLER = "the a film story plot actors music it was and very with this of scenes ending".split()


def reviews(n, rng):
    """``n`` reviews and their labels (1: positive). A negated opinion ("not good") counts as
    its opposite."""
    texts, labels = [], []
    for _ in range(n):
        label = int(rng.integers(0, 2))
        words = list(rng.choice(FILLER, int(rng.integers(6, 14))))
        for _ in range(int(rng.integers(1, 3))):
            negated = rng.random() < 0.3
            pool = POSITIVE if (label == 1) != negated else NEGATIVE
            opinion = ["not", rng.choice(pool)] if negated else [rng.choice(pool)]
            at = int(rng.integers(0, len(words) + 1))
            words[at:at] = opinion
        texts.append(" ".join(words))
        labels.append(label)
    return np.array(texts), np.array(labels, dtype="float32")


rng = np.random.default_rng(0)
train_texts, train_labels = reviews(SAMPLES, rng)
test_texts, test_labels = reviews(500, rng)

plait.utils.set_random_seed(0)
vectorize = TextVectorization(max_tokens=100, output_sequence_length=20)
vectorize.adapt(train_texts)  # learns the vocabulary from the training reviews
print("vocabulary:", vectorize.get_vocabulary()[:8], "...")

inputs = plait.Input(shape=(20,), dtype="int32")
x = Embedding(input_dim=100, output_dim=16, mask_zero=True)(inputs)
x = Bidirectional(LSTM(16))(x)
outputs = Dense(1, activation="sigmoid")(x)
model = plait.Model(inputs, outputs)
model.summary()
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(vectorize(train_texts), train_labels, epochs=EPOCHS, batch_size=32, validation_split=0.1, verbose=2)

loss, accuracy = model.evaluate(vectorize(test_texts), test_labels, verbose=0)
print(f"test accuracy: {accuracy:.3f} on 500 new reviews (chance: 0.5)")
for text in ["a very good film", "the plot was not good", "dull and boring"]:
    print(f"{text!r}: {float(model.predict(vectorize(np.array([text])), verbose=0)[0, 0]):.2f}")
