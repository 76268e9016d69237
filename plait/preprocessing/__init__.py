"""``plait.preprocessing``: Keras 3's ``keras.preprocessing`` namespace (re-exports of
``plait.utils``): ``image``, ``sequence``, ``image_dataset_from_directory``,
``text_dataset_from_directory`` and ``timeseries_dataset_from_array``.

Example:
    >>> import plait
    >>> plait.preprocessing.sequence.pad_sequences([[1, 2], [3]], maxlen=2).tolist()
    [[1, 2], [0, 3]]
"""

from plait.preprocessing import image, sequence
from plait.utils.dataset_utils import timeseries_dataset_from_array
from plait.utils.directory_datasets import image_dataset_from_directory, text_dataset_from_directory

__all__ = [
    "image",
    "image_dataset_from_directory",
    "sequence",
    "text_dataset_from_directory",
    "timeseries_dataset_from_array",
]
