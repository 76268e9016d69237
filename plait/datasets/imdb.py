"""IMDB movie-review sentiment, as Keras's ``keras.datasets.imdb``: reviews as lists of word
ids (frequency ranks), labels 0/1.

Example:
    >>> from plait.datasets import imdb
    >>> imdb.ORIGIN.endswith("imdb.npz")
    True
"""

import numpy as np

from plait.datasets import _files, _text

ORIGIN = _text.BASE + "imdb.npz"
FILE_HASH = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
WORD_INDEX_ORIGIN = _text.BASE + "imdb_word_index.json"
WORD_INDEX_HASH = "bfafd718b763782e994055a2d397834f"


def load_data(
    path="imdb.npz",
    num_words=None,
    skip_top=0,
    maxlen=None,
    seed=113,
    start_char=1,
    oov_char=2,
    index_from=3,
    **kwargs,
):
    """``(x_train, y_train), (x_test, y_test)``: object arrays of word-id lists and int labels.

    Args:
        path: the file's name in the cache (``~/.keras/datasets``).
        num_words: keep the ``num_words`` most frequent words (ids below it); others become
            ``oov_char``. None keeps all.
        skip_top: also treat the ``skip_top`` most frequent words as out of vocabulary.
        maxlen: drop reviews of ``maxlen`` ids or more (after the start mark).
        seed: the shuffle's seed.
        start_char: the id that starts each review (None: no start mark).
        oov_char: the id of out-of-vocabulary words (None: drop them).
        index_from: added to every word id (ids below it are reserved).
    """
    if kwargs:
        raise TypeError(f"Unrecognized keyword arguments: {sorted(kwargs)}")
    arrays = _files.load_npz(_files.fetch(path, ORIGIN, FILE_HASH))
    rng = np.random.RandomState(seed)
    x_train, y_train = _text.shuffled(rng, arrays["x_train"], arrays["y_train"])
    x_test, y_test = _text.shuffled(rng, arrays["x_test"], arrays["y_test"])
    x_train, y_train = _text.encode(x_train, y_train, maxlen, start_char, index_from)
    x_test, y_test = _text.encode(x_test, y_test, maxlen, start_char, index_from)
    if maxlen and (not x_train or not x_test):
        raise ValueError(f"No review is shorter than maxlen={maxlen}; increase maxlen.")
    sequences = _text.limit_vocabulary(x_train + x_test, num_words, skip_top, oov_char)
    labels = np.concatenate([np.asarray(y_train), np.asarray(y_test)])
    cut = len(x_train)
    return (_text.ragged(sequences[:cut]), labels[:cut]), (_text.ragged(sequences[cut:]), labels[cut:])


def get_word_index(path="imdb_word_index.json"):
    """The ``{word: rank}`` dict behind the ids (an id in the data is ``rank + index_from``)."""
    return _text.word_index(path, WORD_INDEX_ORIGIN, WORD_INDEX_HASH)
