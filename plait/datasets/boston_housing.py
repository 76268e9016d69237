"""Boston housing prices, as Keras's ``keras.datasets.boston_housing`` (Keras warns of the
data set's ethical problem with its "B" feature; so does plait).

Example:
    >>> from plait.datasets import boston_housing
    >>> boston_housing.ORIGIN.endswith("boston_housing.npz")
    True
"""

from plait.datasets import _housing

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/boston_housing.npz"
FILE_HASH = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"


def load_data(path="boston_housing.npz", test_split=0.2, seed=113):
    """``(x_train, y_train), (x_test, y_test)``: 13 features per house and its price,
    shuffled with ``seed`` and split at ``1 - test_split`` as Keras's."""
    return _housing.load(path, ORIGIN, FILE_HASH, test_split, seed)
