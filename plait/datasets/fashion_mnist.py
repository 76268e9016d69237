"""Fashion-MNIST, as Keras's ``keras.datasets.fashion_mnist`` (four gzipped IDX files).

Example:
    >>> from plait.datasets import fashion_mnist
    >>> len(fashion_mnist.FILES)
    4
"""

import gzip
import os

import numpy as np

from plait.datasets import _files

BASE = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
FILES = (
    "train-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
)


def _idx(path, header):
    # IDX files: a big-endian header (8 bytes for labels, 16 for images), then uint8 data.
    with gzip.open(path, "rb") as file:
        return np.frombuffer(file.read(), np.uint8, offset=header)


def load_data():
    """``(x_train, y_train), (x_test, y_test)``: uint8 images ``(N, 28, 28)`` and uint8
    labels, downloaded once into ``~/.keras/datasets/fashion-mnist``."""
    paths = [
        _files.fetch(name, BASE + name, None, cache_subdir=os.path.join("datasets", "fashion-mnist")) for name in FILES
    ]
    y_train, y_test = _idx(paths[0], 8), _idx(paths[2], 8)
    x_train = _idx(paths[1], 16).reshape(len(y_train), 28, 28)
    x_test = _idx(paths[3], 16).reshape(len(y_test), 28, 28)
    return (x_train, y_train), (x_test, y_test)
