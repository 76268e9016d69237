"""CIFAR-10, as Keras's ``keras.datasets.cifar10``.

Example:
    >>> from plait.datasets import cifar10
    >>> cifar10.ORIGIN.endswith("cifar-10-python.tar.gz")
    True
"""

from plait.datasets import _cifar

ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
FILE_HASH = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"


def load_data():
    """``(x_train, y_train), (x_test, y_test)``: uint8 images ``(N, 32, 32, 3)`` (channels
    last, plait's image format) and uint8 labels ``(N, 1)``."""
    train_files = [f"data_batch_{i}" for i in range(1, 6)]
    return _cifar.load(
        "cifar-10-batches-py-target", ORIGIN, FILE_HASH, "cifar-10-batches-py", train_files, "test_batch"
    )
