"""CIFAR-100, as Keras's ``keras.datasets.cifar100``.

Example:
    >>> from plait.datasets import cifar100
    >>> cifar100.ORIGIN.endswith("cifar-100-python.tar.gz")
    True
"""

from plait.datasets import _cifar

ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
FILE_HASH = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"


def load_data(label_mode="fine"):
    """``(x_train, y_train), (x_test, y_test)``: uint8 images ``(N, 32, 32, 3)`` and labels
    ``(N, 1)`` of the 100 ``"fine"`` or 20 ``"coarse"`` classes."""
    if label_mode not in ("fine", "coarse"):
        raise ValueError(f"`label_mode` must be one of 'fine', 'coarse'. Received: label_mode={label_mode!r}")
    return _cifar.load(
        "cifar-100-python-target", ORIGIN, FILE_HASH, "cifar-100-python", ["train"], "test", f"{label_mode}_labels"
    )
