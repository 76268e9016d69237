"""``HashedCrossing`` (Keras 3's): crosses categorical features into ``num_bins`` bins with
TensorFlow's ``sparse.cross_hashed`` hash, without TensorFlow (Keras 3 needs it for this layer).

The cross of features ``f1, ..., fn`` starts from TensorFlow's default key ``0xDECAFCAFFE`` and
folds each feature's hash in with ``FingerprintCat64``; a string feature hashes to its FarmHash
``Fingerprint64``, an integer feature to its own value. The bin is the result modulo ``num_bins``.
"""

import numpy as np
import torch

from plait.layers.base import Layer
from plait.layers.preprocessing.categorical import encode_categorical, encoded_shape
from plait.layers.preprocessing.farmhash import fingerprint64
from plait.layers.validation import one_of, positive_int

_MASK64 = (1 << 64) - 1
_MUL = 0xC6A4A7935BD1E995  # the 64-bit MurmurHash multiplier FingerprintCat64 uses
_CROSS_KEY = 0xDECAFCAFFE  # tf.sparse.cross_hashed's key when none is given


def _shift_mix(v):
    return v ^ (v >> 47)


def fingerprint_cat64(first, second):
    """TensorFlow's ``FingerprintCat64``: combines two 64-bit fingerprints into one."""
    mixed = (first ^ _MUL) ^ ((_shift_mix((second * _MUL) & _MASK64) * _MUL) & _MASK64)
    mixed = (mixed * _MUL) & _MASK64
    return _shift_mix((_shift_mix(mixed) * _MUL) & _MASK64)


def _feature_hash(value):
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value) & _MASK64
    return fingerprint64(str(value))


def cross_bins(features, num_bins):
    """The bin of each row's cross of ``features`` (a list of equal-length 1-D arrays)."""
    bins = []
    for row in zip(*features):
        crossed = _CROSS_KEY
        for value in row:
            crossed = fingerprint_cat64(crossed, _feature_hash(value))
        bins.append(crossed % num_bins)
    return np.asarray(bins, dtype=np.int64)


class HashedCrossing(Layer):
    """Crosses two or more categorical features (strings or integers) into ``num_bins`` bins,
    with TensorFlow's hash, so the bins are the ones Keras gives.

    Strings come as NumPy arrays or lists on the data side; integer tensors also work in a model.

    Args:
        num_bins: the number of bins.
        output_mode: ``"int"`` (default: the bin) or ``"one_hot"``.
        sparse: must be False (plait has no sparse tensors).

    Input shape:
        a tuple or list of features, each ``()``, ``(batch,)`` or ``(batch, 1)``, all alike.
    Output shape:
        the features' shape (``"int"``), or that with a last axis of ``num_bins`` (``"one_hot"``;
        a trailing axis of 1 is replaced).

    Example:
        >>> import numpy as np, plait
        >>> layer = plait.layers.HashedCrossing(num_bins=5)
        >>> layer((np.array(["A", "B", "A", "B", "A"]), np.array([101, 101, 101, 102, 102])))
        tensor([1, 4, 1, 1, 3])
    """

    def __init__(self, num_bins, output_mode="int", sparse=False, name=None, dtype=None, **kwargs):
        super().__init__(name=name, **kwargs)
        who = f"HashedCrossing layer '{self.name}'"
        self.num_bins = positive_int(who, "num_bins", num_bins)
        self.output_mode = one_of(who, "output_mode", output_mode, ("int", "one_hot"))
        if sparse:
            raise ValueError(f"{who}: `sparse=True` is not supported (plait has no sparse tensors).")
        self.sparse = False

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, (list, tuple)) and any(
            not isinstance(x, torch.Tensor) and np.asarray(x).dtype.kind in "USO" for x in inputs
        ):
            return self.call(inputs)  # strings: the data side, outside torch
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs):
        who = f"HashedCrossing layer '{self.name}'"
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError(f"{who} should be called on a list or tuple of at least two inputs. Received: {inputs!r}")
        device = next((x.device for x in inputs if isinstance(x, torch.Tensor)), None)
        arrays = [x.cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=object) for x in inputs]
        shape = arrays[0].shape
        if len(shape) > 2 or (len(shape) == 2 and shape[-1] != 1):
            raise ValueError(f"{who}: every input should have shape (), (batch,) or (batch, 1). Received: {shape}")
        if any(a.shape != shape for a in arrays[1:]):
            raise ValueError(f"{who}: all inputs should have the same shape. Received: {[a.shape for a in arrays]}")
        for a in arrays:
            if a.dtype.kind == "f" or (a.dtype.kind == "O" and any(isinstance(v, float) for v in a.ravel())):
                raise TypeError(f"{who} crosses strings or integers. Received a float input.")
        bins = torch.as_tensor(cross_bins([a.ravel().tolist() for a in arrays], self.num_bins)).reshape(shape)
        bins = bins if device is None else bins.to(device)
        return encode_categorical(bins, self.output_mode, self.num_bins, self.name)

    def compute_output_shape(self, input_shape):
        return encoded_shape(tuple(input_shape[0]), self.output_mode, self.num_bins)

    def get_config(self):
        return {**super().get_config(), "num_bins": self.num_bins, "output_mode": self.output_mode, "sparse": False}
