"""Data-parallel training on several GPUs (or CPU processes) with fit.

One process per device, started by torchrun; each builds the same model under a
``DataParallel`` distribution and calls ``fit`` with the *global* batch: every process trains
on its share, gradients are averaged, and all processes end with the same weights and the
numbers one process would give. Only rank 0 prints.

Run:
    torchrun --standalone --nproc_per_node=2 examples/multi_gpu.py   # two GPUs (or two CPU processes)
    python examples/multi_gpu.py                                     # one process: the same program

On GPUs the processes use NCCL, on CPUs gloo. ``--small`` trains briefly (what the docs test
runs, with two CPU processes).
"""

import os
import sys

import numpy as np

import plait
from plait import distribution
from plait.layers import BatchNormalization, Dense, Dropout

SMALL = "--small" in sys.argv
EPOCHS, SAMPLES = (1, 512) if SMALL else (10, 20000)

if "WORLD_SIZE" in os.environ:  # launched by torchrun (or SLURM): join the process group
    distribution.initialize()
distribution.set_distribution(distribution.DataParallel())
rank = int(os.environ.get("RANK", 0))

# Every process generates the same data; DataParallel gives each its part of every batch.
rng = np.random.default_rng(0)
x = rng.normal(size=(SAMPLES, 32)).astype("float32")
y = (x[:, :8].sum(axis=1) > 0).astype("int64") + 2 * (x[:, 8:16].sum(axis=1) > 0)  # four classes

plait.utils.set_random_seed(0)  # the same initial weights on every process
model = plait.Sequential(
    [
        plait.Input(shape=(32,)),
        Dense(128, activation="relu"),
        BatchNormalization(),
        Dropout(0.1),
        Dense(4, activation="softmax"),
    ]
)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x, y, batch_size=256, epochs=EPOCHS, validation_split=0.1, verbose=2 if rank == 0 else 0)
devices = distribution.list_devices()
if rank == 0:
    print(
        f"trained on {len(devices)} device(s) {devices}: validation accuracy {history.history['val_accuracy'][-1]:.3f}"
    )
