"""Vocabulary lookups (Keras 3's ``IntegerLookup`` and ``StringLookup``).

Index layout, as in Keras: with ``output_mode="int"``, index 0 is the mask token when there is
one, then ``num_oov_indices`` out-of-vocabulary indices, then the vocabulary in order. A token
not in the vocabulary maps to the OOV index (``x % num_oov_indices`` picks one of several for
integers). ``adapt`` orders the vocabulary by frequency, ties by the larger token first.

``IntegerLookup`` runs on integer tensors inside a model (``torch.searchsorted`` on the sorted
vocabulary). ``StringLookup`` takes strings, which torch tensors cannot hold: call it on NumPy
arrays (or lists) of strings on the data side, before ``fit``; it returns integer tensors.
"""

from collections import Counter

import numpy as np
import torch

from plait.layers.base import Layer
from plait.layers.preprocessing.categorical import encode_categorical, encoded_shape
from plait.layers.preprocessing.hashing import hash_buckets
from plait.layers.validation import one_of

_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")


class IndexLookup(Layer):
    """Shared by ``IntegerLookup`` and ``StringLookup`` (Keras's ``IndexLookup``)."""

    def __init__(
        self,
        max_tokens=None,
        num_oov_indices=1,
        mask_token=None,
        oov_token=None,
        vocabulary=None,
        idf_weights=None,
        invert=False,
        output_mode="int",
        sparse=False,
        pad_to_max_tokens=False,
        vocabulary_dtype=None,
        vocabulary_size=None,
        oov_method="floormod",
        salt=None,
        **kwargs,
    ):
        kwargs.pop("dtype", None)  # Keras's lookups ignore it too: the output dtype follows output_mode
        super().__init__(**kwargs)
        who = f"{type(self).__name__} layer '{self.name}'"
        self.output_mode = one_of(who, "output_mode", output_mode, _MODES)
        if max_tokens is not None and max_tokens <= 1:
            raise ValueError(f"{who}: `max_tokens` must be greater than 1. Received: max_tokens={max_tokens}")
        if num_oov_indices < 0:
            raise ValueError(f"{who}: `num_oov_indices` must be >= 0. Received: num_oov_indices={num_oov_indices}")
        if invert and output_mode != "int":
            raise ValueError(f"{who}: `invert=True` needs output_mode='int'. Received: output_mode={output_mode!r}")
        if sparse:
            raise ValueError(f"{who}: `sparse=True` is not supported (plait has no sparse tensors).")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(f"{who}: `pad_to_max_tokens=True` needs `max_tokens`.")
        one_of(who, "oov_method", oov_method, ("floormod", "farmhash"))
        if salt is not None:
            raise ValueError(f"{who}: salted OOV hashing (SipHash) is not supported. Received: salt={salt!r}")
        self.max_tokens, self.num_oov_indices = max_tokens, int(num_oov_indices)
        self.mask_token, self.oov_token = mask_token, oov_token
        self.invert, self.sparse, self.pad_to_max_tokens = bool(invert), False, bool(pad_to_max_tokens)
        self.oov_method, self.salt = oov_method, salt
        self.tokens = []
        self.idf_weights = None
        self._vocabulary_given = vocabulary is not None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
        elif self.output_mode == "tf_idf" and idf_weights is not None:
            raise ValueError(f"{who}: `idf_weights` go with a `vocabulary`.")

    # ----------------------------------------------------------------- vocabulary
    def _oov_start(self):
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start(self):
        return self._oov_start() + self.num_oov_indices

    def _key(self, token):
        return token

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Set the vocabulary (a list of tokens; leading mask/OOV tokens are recognised and
        dropped, as Keras does), and for ``tf_idf`` the IDF weight of each token."""
        who = f"{type(self).__name__} layer '{self.name}'"
        if isinstance(vocabulary, str):
            raise ValueError(f"{who}: a vocabulary file is not supported; pass the tokens as a list.")
        tokens = [self._key(t) for t in np.asarray(vocabulary).tolist()]
        special = [self.mask_token] * self._oov_start() + [self.oov_token] * self.num_oov_indices
        if tokens[: len(special)] == special:
            tokens = tokens[len(special) :]
        repeated = [t for t, n in Counter(tokens).items() if n > 1]
        if repeated:
            raise ValueError(f"{who}: the vocabulary has repeated tokens {repeated[:5]}.")
        if self.mask_token is not None and self.mask_token in tokens:
            raise ValueError(
                f"{who}: the mask token {self.mask_token!r} may only come first in the vocabulary, followed by "
                f"the OOV tokens ({special})."
            )
        if self.output_mode == "tf_idf":
            if idf_weights is None:
                raise ValueError(f"{who}: output_mode='tf_idf' needs `idf_weights` with the vocabulary.")
            idf = np.asarray(idf_weights, dtype="float32")
            if len(idf) == len(tokens):  # Keras pads the special tokens' weights with the mean
                idf = np.concatenate([np.full(self._token_start(), idf.mean(), "float32"), idf])
            self.idf_weights = idf
        elif idf_weights is not None:
            raise ValueError(f"{who}: `idf_weights` only go with output_mode='tf_idf'.")
        self.tokens = tokens
        self._index = {t: i + self._token_start() for i, t in enumerate(tokens)}
        self._vocabulary_tensors()

    def _vocabulary_tensors(self):
        """Sorted keys and their indices, as buffers, for lookups on tensors (integers only)."""

    def get_vocabulary(self, include_special_tokens=True):
        """The tokens by index (mask and OOV tokens first, unless ``include_special_tokens=False``)."""
        special = [self.mask_token] * self._oov_start() + [self.oov_token] * self.num_oov_indices
        return (special if include_special_tokens else []) + list(self.tokens)

    def vocabulary_size(self):
        return self._token_start() + len(self.tokens)

    def adapt(self, data):
        """Learn the vocabulary: tokens by frequency (ties: larger token first), up to
        ``max_tokens`` with the special tokens."""
        if self._vocabulary_given:
            raise ValueError(f"Layer '{self.name}' was given a vocabulary; it cannot adapt.")
        counts = Counter(self._key(t) for t in self._flat_tokens(data))
        counts.pop(self.mask_token, None)
        counts.pop(self.oov_token, None)
        ordered = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
        if self.max_tokens:
            ordered = ordered[: self.max_tokens - self._token_start()]
        tokens = [t for t, _ in ordered]
        idf = None
        if self.output_mode == "tf_idf":
            docs = [set(self._key(t) for t in np.ravel(np.asarray(row, dtype=object)).tolist()) for row in data]
            df = np.array([sum(t in d for d in docs) for t in tokens], dtype="float32")
            idf = np.log(1 + len(docs) / (1 + df))
        self._vocabulary_given = False
        self.set_vocabulary(tokens, idf)
        self._vocabulary_given = False

    @staticmethod
    def _flat_tokens(data):
        if isinstance(data, torch.Tensor):
            data = data.cpu().numpy()
        return np.ravel(np.asarray(data, dtype=object)).tolist()

    # ----------------------------------------------------------------- lookup
    def _encode(self, indices):
        depth = self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()
        if self.output_mode == "int":
            return indices
        if self.output_mode == "tf_idf":
            counts = encode_categorical(indices, "count", depth, self.name)
            idf = np.zeros(depth, "float32")
            idf[: len(self.idf_weights)] = self.idf_weights
            return counts * torch.as_tensor(idf, device=counts.device)
        return encode_categorical(indices, self.output_mode, depth, self.name)

    def _oov_index(self, keys):
        if self.num_oov_indices == 0:
            raise ValueError(
                f"Layer '{self.name}': with `num_oov_indices=0` every input must be in the vocabulary. "
                f"Found out-of-vocabulary values {np.unique(np.asarray(keys, dtype=object))[:5].tolist()}."
            )
        return self._oov_start()

    def compute_output_shape(self, input_shape):
        depth = self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()
        mode = "count" if self.output_mode == "tf_idf" else self.output_mode
        return encoded_shape(input_shape, mode, depth)

    def get_config(self):
        return {
            **super().get_config(),
            "invert": self.invert,
            "max_tokens": self.max_tokens,
            "num_oov_indices": self.num_oov_indices,
            "oov_token": self.oov_token,
            "mask_token": self.mask_token,
            "output_mode": self.output_mode,
            "sparse": False,
            "pad_to_max_tokens": self.pad_to_max_tokens,
            "idf_weights": None if self.idf_weights is None else self.idf_weights[self._token_start() :].tolist(),
            "vocabulary": list(self.tokens) if self.tokens else None,
            "oov_method": self.oov_method,
            "salt": None,
        }


class IntegerLookup(IndexLookup):
    """Maps integer tokens to contiguous indices (or back, with ``invert=True``).

    Args:
        max_tokens: vocabulary size limit (with the special tokens), for ``adapt``.
        num_oov_indices: out-of-vocabulary indices (default 1; several: ``x % n`` picks one, or
            FarmHash with ``oov_method="farmhash"``, as for strings).
        mask_token: an integer that maps to index 0 (default None: no mask).
        oov_token: the token ``invert`` returns for OOV indices (default -1).
        vocabulary: list of integers, or None to :meth:`adapt`.
        idf_weights: with ``output_mode="tf_idf"`` and a vocabulary.
        invert: map indices back to tokens.
        output_mode: ``"int"`` (default), ``"one_hot"``, ``"multi_hot"``, ``"count"``, ``"tf_idf"``.
        pad_to_max_tokens: encoded outputs have ``max_tokens`` entries.

    Example:
        >>> import torch, plait
        >>> layer = plait.layers.IntegerLookup(vocabulary=[12, 36, 1138, 42])
        >>> layer(torch.tensor([[12, 1138, 42], [42, 1000, 36]]))
        tensor([[1, 3, 4],
                [4, 0, 2]])
    """

    def __init__(
        self,
        max_tokens=None,
        num_oov_indices=1,
        mask_token=None,
        oov_token=-1,
        vocabulary=None,
        vocabulary_dtype="int64",
        idf_weights=None,
        invert=False,
        output_mode="int",
        sparse=False,
        pad_to_max_tokens=False,
        **kwargs,
    ):
        if vocabulary_dtype not in ("int64", "int32"):
            raise ValueError(f"IntegerLookup: `vocabulary_dtype` must be 'int64'. Received: {vocabulary_dtype!r}")
        super().__init__(
            max_tokens=max_tokens,
            num_oov_indices=num_oov_indices,
            mask_token=mask_token,
            oov_token=oov_token,
            vocabulary=vocabulary,
            idf_weights=idf_weights,
            invert=invert,
            output_mode=output_mode,
            sparse=sparse,
            pad_to_max_tokens=pad_to_max_tokens,
            **kwargs,
        )
        self.vocabulary_dtype = "int64"

    def _key(self, token):
        return int(token)

    def _vocabulary_tensors(self):
        keys = torch.tensor(self.tokens, dtype=torch.int64)
        order = torch.argsort(keys)
        self.register_buffer("_keys", keys[order], persistent=False)
        self.register_buffer("_values", order + self._token_start(), persistent=False)

    def call(self, inputs):
        x = torch.as_tensor(inputs).long()
        if self.invert:
            table = torch.tensor(self.get_vocabulary(), dtype=torch.int64, device=x.device)
            inside = (x >= 0) & (x < len(table))
            return torch.where(inside, table[x.clamp(0, max(len(table) - 1, 0))], torch.tensor(self.oov_token))
        keys, values = self._keys.to(x.device), self._values.to(x.device)
        pos = torch.searchsorted(keys, x).clamp(max=max(len(keys) - 1, 0))
        found = keys[pos] == x if len(keys) else torch.zeros_like(x, dtype=torch.bool)
        oov = None
        if self.num_oov_indices > 1 and self.oov_method == "farmhash":  # Keras hashes the decimal text
            oov = torch.as_tensor(hash_buckets(x.cpu().numpy(), self.num_oov_indices), device=x.device)
            oov = oov + self._oov_start()
        elif self.num_oov_indices > 1:
            oov = x.remainder(self.num_oov_indices) + self._oov_start()
        if oov is None:
            if not bool(found.all()) and self.num_oov_indices == 0:
                self._oov_index(x[~found].tolist())
            oov = torch.full_like(x, self._oov_start())
        indices = torch.where(found, values[pos] if len(keys) else oov, oov)
        if self.mask_token is not None:
            masked = x == int(self.mask_token)
            indices = torch.where(masked, torch.zeros_like(indices) if self.output_mode == "int" else -1, indices)
        return self._encode(indices)

    def compute_output_spec(self, *args, **kwargs):
        dtype = torch.int64 if self.output_mode == "int" else torch.float32
        return (self.compute_output_shape(tuple(args[0].shape)), dtype)

    def get_config(self):
        return {**super().get_config(), "vocabulary_dtype": "int64"}


class StringLookup(IndexLookup):
    """Maps strings to integer indices, on the data side (NumPy arrays or lists of strings in,
    an int64 tensor out). With ``invert=True``, indices to strings (a NumPy array).

    Args:
        max_tokens, num_oov_indices, mask_token, vocabulary, idf_weights, invert, output_mode,
        pad_to_max_tokens: as for ``IntegerLookup``.
        oov_token: default ``"[UNK]"``. encoding: how bytes inputs decode (default utf-8).

    Example:
        >>> import numpy as np, plait
        >>> layer = plait.layers.StringLookup(vocabulary=["a", "b", "c", "d"])
        >>> layer(np.array([["a", "c", "d"], ["d", "z", "b"]]))
        tensor([[1, 3, 4],
                [4, 0, 2]])
    """

    def __init__(
        self,
        max_tokens=None,
        num_oov_indices=1,
        mask_token=None,
        oov_token="[UNK]",
        vocabulary=None,
        idf_weights=None,
        invert=False,
        output_mode="int",
        pad_to_max_tokens=False,
        sparse=False,
        encoding="utf-8",
        **kwargs,
    ):
        kwargs.pop("vocabulary_dtype", None)
        self.encoding = encoding
        super().__init__(
            max_tokens=max_tokens,
            num_oov_indices=num_oov_indices,
            mask_token=mask_token,
            oov_token=oov_token,
            vocabulary=vocabulary,
            idf_weights=idf_weights,
            invert=invert,
            output_mode=output_mode,
            sparse=sparse,
            pad_to_max_tokens=pad_to_max_tokens,
            **kwargs,
        )

    def _key(self, token):
        return token.decode(self.encoding) if isinstance(token, bytes) else str(token)

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, torch.Tensor) and not self.invert:
            raise TypeError(
                f"StringLookup layer '{self.name}' takes strings (a NumPy array or a list), which torch tensors "
                "cannot hold: use it on the data before fit, not inside a model."
            )
        return self.call(inputs)

    def call(self, inputs):
        if self.invert:
            vocab = np.array(self.get_vocabulary(), dtype=object)
            x = np.asarray(torch.as_tensor(inputs).cpu().numpy())
            inside = (x >= 0) & (x < len(vocab))
            return np.where(inside, vocab[np.clip(x, 0, len(vocab) - 1)], self.oov_token).astype(str)
        flat = [self._key(t) for t in np.ravel(np.asarray(inputs, dtype=object)).tolist()]
        mask_index = 0 if self.output_mode == "int" else -1
        missing = [t for t in flat if t not in self._index and t != self.mask_token]
        if missing and self.num_oov_indices == 0:
            self._oov_index(missing)
        oov = self._oov_start()
        if self.num_oov_indices > 1:  # FarmHash buckets, as TensorFlow's to_hash_bucket_fast
            buckets = dict(zip(missing, (hash_buckets(missing, self.num_oov_indices) + oov).tolist()))
        else:
            buckets = {}
        indices = [mask_index if t == self.mask_token else self._index.get(t, buckets.get(t, oov)) for t in flat]
        shape = np.shape(inputs)
        return self._encode(torch.tensor(indices, dtype=torch.int64).reshape(shape))

    def get_config(self):
        return {**super().get_config(), "encoding": self.encoding}
