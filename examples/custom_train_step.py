"""A custom training step: fit() with your own step, here a denoising autoencoder.

The model overrides ``train_step``: it corrupts each batch with noise, reconstructs the clean
input, computes the loss with torch, and applies the gradients with the compiled optimizer;
``fit`` still runs the epochs, callbacks, validation and progress bar. ``test_step`` scores the
reconstruction of noisy inputs the same way, so the validation numbers are comparable.

Run: ``python examples/custom_train_step.py`` (under a minute on a 2-core CPU); ``--small``
trains briefly on a few samples (what the docs test runs).
"""

import gzip
import sys
from pathlib import Path

import numpy as np
import torch

import plait
from plait.layers import Dense

SMALL = "--small" in sys.argv
EPOCHS = 2 if SMALL else 30
NOISE = 0.3


class DenoisingAutoencoder(plait.Model):
    def train_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        noisy = x + NOISE * torch.randn_like(x)
        self.zero_grad()
        loss = torch.nn.functional.mse_loss(self(noisy, training=True), x)
        loss.backward()
        weights = list(self.trainable_weights)
        with torch.no_grad():
            self.optimizer.apply([w.value.grad for w in weights], weights)
        return {"reconstruction_mse": loss.detach()}

    def test_step(self, data):
        x = data[0]  # (x, x): the input is its own target
        generator = torch.Generator().manual_seed(1)  # the same noise at every evaluation
        noisy = x + NOISE * torch.randn(x.shape, generator=generator).to(x.device)
        return {"reconstruction_mse": torch.nn.functional.mse_loss(self(noisy), x)}


with gzip.open(Path(__file__).resolve().parent / "data" / "digits.csv.gz", "rt") as f:
    digits = (np.loadtxt(f, delimiter=",")[:, :64] / 16.0).astype("float32")
train, test = (digits[:256], digits[1500:]) if SMALL else (digits[:1500], digits[1500:])

plait.utils.set_random_seed(0)
inputs = plait.Input(shape=(64,))
code = Dense(16, activation="relu")(Dense(32, activation="relu")(inputs))
outputs = Dense(64, activation="sigmoid")(Dense(32, activation="relu")(code))
model = DenoisingAutoencoder(inputs, outputs)
model.compile(optimizer=plait.optimizers.Adam(3e-3))
history = model.fit(train, epochs=EPOCHS, batch_size=32, validation_data=(test, test), verbose=2)

baseline = ((test - train.mean(axis=0)) ** 2).mean()  # predicting the average digit
print(
    f"validation reconstruction MSE: {history.history['val_reconstruction_mse'][-1]:.4f} "
    f"(the average digit: {baseline:.4f})"
)
