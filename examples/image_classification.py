"""Image classification: a small convolutional network reads 8x8 handwritten digits.

The 1,797 digits of UCI's "Optical Recognition of Handwritten Digits" (shipped in
examples/data/) as 8x8x1 images; two Conv2D blocks, global average pooling, dropout and a
softmax layer; trained with validation, early stopping on the validation loss, then scored on
held-out images.

Run: ``python examples/image_classification.py`` (about a minute on a 2-core CPU);
``--small`` trains briefly on a few images (what the docs test runs).
"""

import gzip
import sys
from pathlib import Path

import numpy as np

import plait
from plait.layers import Conv2D, Dense, Dropout, GlobalAveragePooling2D, MaxPooling2D

SMALL = "--small" in sys.argv
EPOCHS, TRAIN = (2, 256) if SMALL else (40, 1400)

with gzip.open(Path(__file__).resolve().parent / "data" / "digits.csv.gz", "rt") as f:
    table = np.loadtxt(f, delimiter=",")
images = (table[:, :64] / 16.0).reshape(-1, 8, 8, 1).astype("float32")  # channels last, as in Keras
labels = table[:, 64].astype("int64")
order = np.random.default_rng(0).permutation(len(images))
train, test = order[:TRAIN], order[1400:]

plait.utils.set_random_seed(0)
model = plait.Sequential(
    [
        plait.Input(shape=(8, 8, 1)),
        Conv2D(16, 3, padding="same", activation="relu"),
        MaxPooling2D(2),
        Conv2D(32, 3, padding="same", activation="relu"),
        GlobalAveragePooling2D(),
        Dropout(0.2),
        Dense(10, activation="softmax"),
    ]
)
model.summary()
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(
    images[train],
    labels[train],
    epochs=EPOCHS,
    batch_size=32,
    validation_split=0.15,
    callbacks=[plait.callbacks.EarlyStopping(patience=5, restore_best_weights=True)],
    verbose=2,
)
loss, accuracy = model.evaluate(images[test], labels[test], verbose=0)
print(f"test accuracy: {accuracy:.3f} on {len(test)} images (chance: 0.1)")
