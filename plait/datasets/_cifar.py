"""The CIFAR archives' pickled batches, read as Keras does (channels last)."""

import os

import numpy as np

from plait.datasets import _files


def read_batch(path, label_key="labels"):
    """A batch file's ``(images (N, 32, 32, 3) uint8, labels)``."""
    with open(path, "rb") as file:
        batch = _files.unpickle(file, encoding="bytes")
    batch = {key.decode("utf8") if isinstance(key, bytes) else key: value for key, value in batch.items()}
    images = np.asarray(batch["data"], dtype="uint8").reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, np.reshape(np.asarray(batch[label_key], dtype="uint8"), (-1, 1))


def load(dirname, origin, file_hash, inner, train_files, test_file, label_key="labels"):
    folder = os.path.join(_files.fetch(dirname, origin, file_hash, extract=True), inner)
    train = [read_batch(os.path.join(folder, name), label_key) for name in train_files]
    x_train = np.concatenate([images for images, _ in train])
    y_train = np.concatenate([labels for _, labels in train])
    return (x_train, y_train), read_batch(os.path.join(folder, test_file), label_key)
