"""California housing prices, as Keras's ``keras.datasets.california_housing``.

Example:
    >>> from plait.datasets import california_housing
    >>> california_housing.ORIGIN.endswith("california_housing.npz")
    True
"""

from plait.datasets import _housing

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/california_housing.npz"
FILE_HASH = "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"


def load_data(version="large", path="california_housing.npz", test_split=0.2, seed=113):
    """``(x_train, y_train), (x_test, y_test)``: 8 features per block and its median house
    value; ``version="small"`` keeps the first 600 rows, as Keras's."""
    if version not in ("large", "small"):
        raise ValueError(f"Argument `version` must be one of 'small', 'large'. Received: version={version!r}")
    return _housing.load(path, ORIGIN, FILE_HASH, test_split, seed, rows=600 if version == "small" else None)
