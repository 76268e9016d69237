"""Preprocessing layers (Keras 3's): numbers, images, categories and text.

Layers that work on tensors run inside a model like any layer. ``StringLookup`` and
``TextVectorization`` take strings, which torch tensors cannot hold: use them on the data
(NumPy arrays of strings) before ``fit``, as Keras lets you do with ``tf.data``.
"""

from plait.layers.preprocessing.augmentation import (
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)
from plait.layers.preprocessing.categorical import CategoryEncoding
from plait.layers.preprocessing.hashing import Hashing
from plait.layers.preprocessing.image import CenterCrop, Resizing
from plait.layers.preprocessing.lookup import IntegerLookup, StringLookup
from plait.layers.preprocessing.numerical import Discretization, Normalization, Rescaling
from plait.layers.preprocessing.text import TextVectorization

__all__ = [
    "CategoryEncoding",
    "CenterCrop",
    "Discretization",
    "Hashing",
    "IntegerLookup",
    "Normalization",
    "RandomContrast",
    "RandomCrop",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "Rescaling",
    "Resizing",
    "StringLookup",
    "TextVectorization",
]
