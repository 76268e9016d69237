"""``TextVectorization`` (Keras 3's), on the data side: NumPy strings in, integer or float
tensors out. Torch tensors cannot hold strings, so it runs on the data before ``fit`` (as Keras
runs it in a ``tf.data`` pipeline); the model then starts at the integer ids.
"""

import re
import string

import numpy as np
import torch

from plait.layers.base import Layer
from plait.layers.preprocessing.lookup import StringLookup
from plait.layers.validation import one_of

# Keras's punctuation pattern (text_vectorization.py), and tf.strings.lower's ASCII-only lowering.
_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


class TextVectorization(Layer):
    """Turns strings into token ids (or multi-hot / count / tf-idf vectors).

    Args:
        max_tokens: vocabulary size limit, with the padding token ``""`` and ``"[UNK]"``.
        standardize: ``"lower_and_strip_punctuation"`` (default), ``"lower"``,
            ``"strip_punctuation"``, None, or a function of a NumPy array of strings.
        split: ``"whitespace"`` (default), ``"character"``, None, or a function of a string
            returning its tokens.
        ngrams: None, an int ``n`` (ngrams of 1 to ``n`` tokens) or a tuple of sizes.
        output_mode: ``"int"`` (default; padded with 0 to the longest text, or to
            ``output_sequence_length``), ``"multi_hot"``, ``"count"`` or ``"tf_idf"``.
        output_sequence_length: pad or cut int outputs to this length.
        pad_to_max_tokens, vocabulary, idf_weights: as for ``StringLookup``.
        encoding: how bytes decode (default utf-8). sparse / ragged: must be False.

    Example:
        >>> import numpy as np, plait
        >>> layer = plait.layers.TextVectorization(vocabulary=["the", "cat", "sat"])
        >>> layer(np.array(["The cat sat.", "the dog"]))
        tensor([[2, 3, 4],
                [2, 1, 0]])
    """

    def __init__(
        self,
        max_tokens=None,
        standardize="lower_and_strip_punctuation",
        split="whitespace",
        ngrams=None,
        output_mode="int",
        output_sequence_length=None,
        pad_to_max_tokens=False,
        vocabulary=None,
        idf_weights=None,
        sparse=False,
        ragged=False,
        encoding="utf-8",
        **kwargs,
    ):
        kwargs.pop("vocabulary_size", None)
        super().__init__(**{k: v for k, v in kwargs.items() if k != "dtype"})
        who = f"TextVectorization layer '{self.name}'"
        self.output_mode = one_of(who, "output_mode", output_mode, ("int", "multi_hot", "count", "tf_idf"))
        if not callable(standardize):
            one_of(who, "standardize", standardize, ("lower_and_strip_punctuation", "lower", "strip_punctuation", None))
        if not callable(split):
            one_of(who, "split", split, ("whitespace", "character", None))
        if sparse or ragged:
            raise ValueError(f"{who}: sparse and ragged outputs are not supported (plait has no such tensors).")
        if output_sequence_length is not None and output_mode != "int":
            raise ValueError(f"{who}: `output_sequence_length` only applies to output_mode='int'.")
        self.standardize, self.split, self.encoding = standardize, split, encoding
        self.ngrams = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else ngrams
        self.output_sequence_length = output_sequence_length
        self.max_tokens, self.pad_to_max_tokens = max_tokens, bool(pad_to_max_tokens)
        self.lookup = StringLookup(
            max_tokens=max_tokens,
            mask_token="",
            vocabulary=vocabulary,
            idf_weights=idf_weights,
            output_mode=output_mode,
            pad_to_max_tokens=pad_to_max_tokens,
            encoding=encoding,
        )

    def _text(self, value):
        return value.decode(self.encoding) if isinstance(value, bytes) else str(value)

    def _tokens(self, inputs):
        """Each text's tokens (standardized, split, ngrams), as a list of lists."""
        texts = np.asarray(inputs, dtype=object)
        if texts.ndim > 1:
            if texts.shape[-1] != 1:
                raise ValueError(
                    f"TextVectorization layer '{self.name}' takes one string per sample: a rank-1 array or a last "
                    f"axis of size 1. Received: shape={texts.shape}"
                )
            texts = texts.reshape(texts.shape[:-1])
        texts = np.array([self._text(t) for t in texts.ravel()], dtype=object)
        if self.standardize in ("lower", "lower_and_strip_punctuation"):
            texts = np.array([t.translate(_ASCII_LOWER) for t in texts], dtype=object)
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            texts = np.array([_PUNCTUATION.sub("", t) for t in texts], dtype=object)
        if callable(self.standardize):
            texts = np.asarray(self.standardize(texts.astype(str)), dtype=object)
        if self.split is None:
            return [[t] for t in texts]
        split = str.split if self.split == "whitespace" else list if self.split == "character" else self.split
        tokens = [list(split(t)) for t in texts]
        if self.ngrams:
            tokens = [[" ".join(ts[i : i + n]) for n in self.ngrams for i in range(len(ts) - n + 1)] for ts in tokens]
        return tokens

    def adapt(self, data, batch_size=None, steps=None):
        """Learn the vocabulary (and IDF weights) from texts: an array or list of strings, or an
        iterable of such batches (a dataset, as in Keras's ``adapt(text_ds.map(lambda x, y: x))``;
        ``steps`` limits how many batches are read). ``batch_size`` is Keras's, unused here."""
        if isinstance(data, (np.ndarray, list, tuple, str, bytes)):
            tokens = self._tokens(data)
        else:
            tokens = []
            for i, batch in enumerate(data):
                if steps is not None and i >= steps:
                    break
                if hasattr(batch, "numpy") and not isinstance(batch, np.ndarray):
                    batch = batch.numpy()  # a batch of a dataset of strings, as a tf.string batch gives
                tokens += self._tokens(batch)
        self.lookup.adapt(
            [np.array(ts, dtype=object) for ts in tokens]
            if self.output_mode == "tf_idf"
            else np.array([t for ts in tokens for t in ts], dtype=object)
        )

    def get_vocabulary(self, include_special_tokens=True):
        return self.lookup.get_vocabulary(include_special_tokens)

    def vocabulary_size(self):
        return self.lookup.vocabulary_size()

    def set_vocabulary(self, vocabulary, idf_weights=None):
        self.lookup.set_vocabulary(vocabulary, idf_weights)

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, torch.Tensor):
            raise TypeError(
                f"TextVectorization layer '{self.name}' takes strings (a NumPy array or a list), which torch "
                "tensors cannot hold: use it on the data before fit, not inside a model."
            )
        return self.call(inputs)

    def call(self, inputs):
        tokens = self._tokens(inputs)
        if self.output_mode != "int":
            rows = [self.lookup(np.array(ts or [""], dtype=object).reshape(1, -1))[0] for ts in tokens]
            return torch.stack(rows)
        length = self.output_sequence_length or max([len(ts) for ts in tokens] + [0])
        out = torch.zeros(len(tokens), length, dtype=torch.int64)
        for row, ts in enumerate(tokens):
            ids = self.lookup(np.array(ts[:length], dtype=object)) if ts else torch.zeros(0, dtype=torch.int64)
            out[row, : len(ids)] = ids
        return out

    def get_config(self):
        lookup = self.lookup.get_config()
        return {
            **super().get_config(),
            "max_tokens": self.max_tokens,
            "standardize": self.standardize if not callable(self.standardize) else None,
            "split": self.split if not callable(self.split) else None,
            "ngrams": self.ngrams,
            "output_mode": self.output_mode,
            "output_sequence_length": self.output_sequence_length,
            "pad_to_max_tokens": self.pad_to_max_tokens,
            "sparse": False,
            "ragged": False,
            "vocabulary": lookup["vocabulary"],
            "idf_weights": lookup["idf_weights"],
            "encoding": self.encoding,
        }
