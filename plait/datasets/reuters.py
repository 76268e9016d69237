"""Reuters newswire topics, as Keras's ``keras.datasets.reuters``: 46 topics, articles as lists
of word ids.

Example:
    >>> from plait.datasets import reuters
    >>> len(reuters.get_label_names()), reuters.get_label_names()[3]
    (46, 'earn')
"""

import numpy as np

from plait.datasets import _files, _text

ORIGIN = _text.BASE + "reuters.npz"
FILE_HASH = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
WORD_INDEX_ORIGIN = _text.BASE + "reuters_word_index.json"
WORD_INDEX_HASH = "4d44cc38712099c9e383dc6e5f11a921"
# The topic of each label id, in the data's order.
_LABELS = (
    "cocoa grain veg-oil earn acq wheat copper housing money-supply coffee sugar trade reserves ship "
    "cotton carcass crude nat-gas cpi money-fx interest gnp meal-feed alum oilseed gold tin "
    "strategic-metal livestock retail ipi iron-steel rubber heat jobs lei bop zinc orange pet-chem "
    "dlr gas silver wpi hog lead"
)


def load_data(
    path="reuters.npz",
    num_words=None,
    skip_top=0,
    maxlen=None,
    test_split=0.2,
    seed=113,
    start_char=1,
    oov_char=2,
    index_from=3,
):
    """``(x_train, y_train), (x_test, y_test)``: object arrays of word-id lists and topic ids,
    shuffled and split at ``1 - test_split``. The other arguments are
    :func:`plait.datasets.imdb.load_data`'s."""
    arrays = _files.load_npz(_files.fetch(path, ORIGIN, FILE_HASH))
    xs, labels = _text.shuffled(np.random.RandomState(seed), arrays["x"], arrays["y"])
    xs, labels = _text.encode(xs, labels, maxlen, start_char, index_from)
    xs = _text.limit_vocabulary(xs, num_words, skip_top, oov_char)
    cut = int(len(xs) * (1 - test_split))
    return (_text.ragged(xs[:cut]), np.array(labels[:cut])), (_text.ragged(xs[cut:]), np.array(labels[cut:]))


def get_word_index(path="reuters_word_index.json"):
    """The ``{word: rank}`` dict behind the ids (an id in the data is ``rank + index_from``)."""
    return _text.word_index(path, WORD_INDEX_ORIGIN, WORD_INDEX_HASH)


def get_label_names():
    """The 46 topic names, indexed by label id."""
    return tuple(_LABELS.split())
