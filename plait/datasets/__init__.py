"""Datasets: Keras's ``keras.datasets`` (downloaded on first use into ``~/.keras/datasets``
through ``plait.utils.get_file``, hash-checked) and small generated tasks.

Keras's: :mod:`mnist`, :mod:`fashion_mnist`, :mod:`cifar10`, :mod:`cifar100`, :mod:`imdb`,
:mod:`reuters`, :mod:`boston_housing`, :mod:`california_housing`, each with ``load_data()``.

Generated tasks shaped like the seed tutorial's data (nothing is downloaded):

* :func:`question_answering`: stories of noise words that mention one place and one object;
  the question asks "where" or "what"; the answer is the place or the object. The seed's QA
  model can represent it: the text LSTM must carry the place and the object to the end, the
  question LSTM must tell "where" from "what", and the Dense layer combines the two.
* :func:`posts`: social-media "posts" of noise words with a few words that reveal the
  author's age decade, sex and income group, for the seed's multi-output model.

Example:
    >>> from plait import datasets
    >>> (text, question), answer = datasets.question_answering(4, seed=0)
    >>> text.shape, question.shape, answer.shape
    ((4, 100), (4, 100), (4,))
"""

import numpy as np

from plait.datasets import (
    boston_housing,
    california_housing,
    cifar10,
    cifar100,
    fashion_mnist,
    imdb,
    mnist,
    reuters,
)

WHERE, WHAT = 1, 2
PLACES = np.arange(10, 30)  # 20 place words
OBJECTS = np.arange(30, 50)  # 20 object words
NOISE_START = 100


def question_answering(num_samples, max_length=100, filler_words=200, story_length=(6, 16), seed=None):
    """Returns ``((text, question), answer)``: int arrays, answers in ``[0, 40)`` (place i -> i,
    object j -> 20 + j), suitable for ``answer_vocabulary_size=500``.

    Stories of ``story_length`` words (``filler_words`` common words, ids from 100, around the
    place and the object) and questions of 3 to 6 words are pre-padded with 0 to
    ``max_length``, as ``keras.utils.pad_sequences`` does. All ids fit the seed's
    ``text_vocabulary_size=10000``.
    """
    rng = np.random.default_rng(seed)
    text = np.zeros((num_samples, max_length), dtype="int64")
    question = np.zeros((num_samples, max_length), dtype="int64")
    place = rng.integers(0, len(PLACES), num_samples)
    obj = rng.integers(0, len(OBJECTS), num_samples)
    asks_where = rng.random(num_samples) < 0.5
    for i in range(num_samples):
        n = int(rng.integers(story_length[0], story_length[1] + 1))
        story = rng.integers(NOISE_START, NOISE_START + filler_words, n)
        at = rng.choice(n, 2, replace=False)
        story[at[0]], story[at[1]] = PLACES[place[i]], OBJECTS[obj[i]]
        text[i, max_length - n :] = story
        m = int(rng.integers(3, 7))
        words = rng.integers(NOISE_START, NOISE_START + filler_words, m)
        words[rng.integers(0, m)] = WHERE if asks_where[i] else WHAT
        question[i, max_length - m :] = words
    answer = np.where(asks_where, place, len(PLACES) + obj)
    return (text, question), answer


def posts(num_samples, length=500, filler_words=2000, num_income_groups=10, mentions=6, phrase=3, seed=None):
    """Returns ``(posts, (age, sex, income))``: ages in years (float32), sex in {0, 1},
    income group in ``[0, num_income_groups)``.

    Words 10-15 reveal the age decade, 20-21 the sex and 30-39 the income group; each appears
    in ``mentions`` phrases of ``phrase`` repeats (a width-5 convolution sees a phrase) among
    ``filler_words`` common words (ids from 100; all ids fit the seed's ``vocabulary_size=50000``).
    """
    rng = np.random.default_rng(seed)
    x = rng.integers(NOISE_START, NOISE_START + filler_words, size=(num_samples, length))
    decade = rng.integers(0, 6, num_samples)
    age = (18 + 10 * decade + rng.uniform(0, 10, num_samples)).astype("float32")
    sex = rng.integers(0, 2, num_samples)
    income = rng.integers(0, num_income_groups, num_samples)
    words = np.stack([10 + decade, 20 + sex, 30 + income], 1)
    slots = length // phrase
    for i in range(num_samples):
        starts = rng.choice(slots, 3 * mentions, replace=False) * phrase
        for k, start in enumerate(starts):
            x[i, start : start + phrase] = words[i, k % 3]
    return x, (age, sex, income)


__all__ = [
    "boston_housing",
    "california_housing",
    "cifar10",
    "cifar100",
    "fashion_mnist",
    "imdb",
    "mnist",
    "posts",
    "question_answering",
    "reuters",
]
