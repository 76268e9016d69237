"""MNIST digits, as Keras's ``keras.datasets.mnist``.

Example:
    >>> from plait.datasets import mnist
    >>> mnist.ORIGIN.endswith("mnist.npz")
    True
"""

from plait.datasets import _files

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
FILE_HASH = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


def load_data(path="mnist.npz"):
    """``(x_train, y_train), (x_test, y_test)``: uint8 images ``(60000, 28, 28)`` and
    ``(10000, 28, 28)`` with uint8 labels, downloaded once into ``~/.keras/datasets``.

    Args:
        path: the file's name in the cache.
    """
    arrays = _files.load_npz(_files.fetch(path, ORIGIN, FILE_HASH))
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
