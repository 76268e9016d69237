"""``plait.preprocessing.sequence``: Keras 3's ``keras.preprocessing.sequence`` (``pad_sequences``)."""

from plait.utils.sequence_utils import pad_sequences

__all__ = ["pad_sequences"]
