"""Time-series forecasting: predict the next hour of a noisy daily cycle.

A generated temperature-like signal (a daily and a weekly cycle, a slow trend, noise) is cut
into windows of the last 48 hours with ``timeseries_dataset_from_array``; a Conv1D and an LSTM
forecast the next value. The error is compared with the naive forecast "same as the last hour".

Run: ``python examples/time_series.py`` (about a minute on a 2-core CPU); ``--small`` trains
briefly on a short series (what the docs test runs).
"""

import sys

import numpy as np

import plait
from plait.layers import LSTM, Conv1D, Dense

SMALL = "--small" in sys.argv
EPOCHS, HOURS = (1, 600) if SMALL else (8, 6000)
WINDOW = 48

rng = np.random.default_rng(0)
t = np.arange(HOURS, dtype="float32")
series = (
    10 * np.sin(2 * np.pi * t / 24) + 3 * np.sin(2 * np.pi * t / (24 * 7)) + 0.001 * t + rng.normal(0, 1, HOURS)
).astype("float32")
mean, std = series[: HOURS * 7 // 10].mean(), series[: HOURS * 7 // 10].std()
scaled = (series - mean) / std  # statistics of the training part only


def windows(start, stop, shuffle):
    """(last 48 hours, next hour) pairs whose target lies in [start + WINDOW, stop)."""
    return plait.utils.timeseries_dataset_from_array(
        scaled[start : stop - 1, None],
        scaled[start + WINDOW : stop],
        sequence_length=WINDOW,
        batch_size=64,
        shuffle=shuffle,
        seed=0,
    )


split = HOURS * 7 // 10
train, test = windows(0, split, shuffle=True), windows(split, HOURS, shuffle=False)

plait.utils.set_random_seed(0)
model = plait.Sequential(
    [
        plait.Input(shape=(WINDOW, 1)),
        Conv1D(16, 5, activation="relu"),
        LSTM(32),
        Dense(1),
    ]
)
model.summary()
model.compile(optimizer="adam", loss="mse", metrics=["mae"])
model.fit(train, epochs=EPOCHS, verbose=2)

_, mae = model.evaluate(test, verbose=0)
naive = np.abs(np.diff(scaled[split + WINDOW - 1 :])).mean()  # "the next hour is the last one"
print(f"test MAE: {mae * std:.2f} degrees (the naive last-hour forecast: {naive * std:.2f})")
