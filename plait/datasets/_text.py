"""Word-index sequences as Keras's imdb and reuters give them: shuffled, shifted by
``index_from`` behind a start mark, cut by length, rare or frequent words mapped to the
out-of-vocabulary mark (or dropped)."""

import json

import numpy as np

from plait.datasets import _files

BASE = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def shuffled(rng, x, y):
    order = np.arange(len(x))
    rng.shuffle(order)
    return x[order], y[order]


def encode(sequences, labels, maxlen, start_char, index_from):
    """Shift ids by ``index_from`` after a ``start_char`` mark, then keep the sequences shorter
    than ``maxlen`` (Keras keeps ``len < maxlen``)."""
    head = [] if start_char is None else [start_char]
    shift = index_from or 0
    sequences = [head + [int(word) + shift for word in sequence] for sequence in sequences]
    if maxlen:
        kept = [i for i, sequence in enumerate(sequences) if len(sequence) < maxlen]
        sequences, labels = [sequences[i] for i in kept], [labels[i] for i in kept]
    return sequences, list(labels)


def limit_vocabulary(sequences, num_words, skip_top, oov_char):
    """Words outside ``[skip_top, num_words)`` become ``oov_char``, or are dropped if it is None."""
    if not num_words:
        num_words = max(max(sequence) for sequence in sequences if sequence)
    inside = lambda word: skip_top <= word < num_words  # noqa: E731
    if oov_char is None:
        return [[w for w in sequence if inside(w)] for sequence in sequences]
    return [[w if inside(w) else oov_char for w in sequence] for sequence in sequences]


def ragged(sequences):
    """Keras's object array of lists (one list per sample)."""
    out = np.empty(len(sequences), dtype="object")
    out[:] = sequences
    return out


def word_index(path, origin, file_hash):
    with open(_files.fetch(path, origin, file_hash)) as file:
        return json.load(file)
