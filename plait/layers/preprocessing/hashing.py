"""``Hashing`` (Keras 3's): values to ``num_bins`` bins by FarmHash, as TensorFlow hashes them."""

import numpy as np
import torch

from plait.layers.base import Layer
from plait.layers.preprocessing.categorical import encode_categorical, encoded_shape
from plait.layers.preprocessing.farmhash import fingerprint64
from plait.layers.validation import one_of, positive_int


def hash_buckets(values, num_buckets):
    """``Fingerprint64(str(value)) % num_buckets`` for each value (integers hash their decimal
    text, as ``tf.as_string`` writes it); a NumPy int64 array of the values' shape."""
    array = np.asarray(values, dtype=object)
    unique, inverse = np.unique(array.ravel().astype(str) if array.size else array.ravel(), return_inverse=True)
    buckets = np.array([fingerprint64(v) % num_buckets for v in unique.tolist()], dtype=np.int64)
    return buckets[inverse].reshape(array.shape)


class Hashing(Layer):
    """Hashes strings or integers into ``num_bins`` bins (FarmHash ``Fingerprint64 % num_bins``,
    TensorFlow's ``to_hash_bucket_fast``, so the bins are Keras's).

    Integer tensors hash inside a model; strings (NumPy arrays or lists) on the data side.

    Args:
        num_bins: number of bins (with the mask bin, when ``mask_value`` is set).
        mask_value: a value that maps to bin 0; the others go to bins ``1..num_bins-1``.
        salt: Keras's keyed SipHash variant, not supported (must be None).
        output_mode: ``"int"`` (default), ``"one_hot"``, ``"multi_hot"`` or ``"count"``.
        sparse: must be False.

    Example:
        >>> import numpy as np, plait
        >>> plait.layers.Hashing(num_bins=3)(np.array([["A"], ["B"], ["C"], ["D"], ["E"]])).ravel()
        tensor([1, 0, 1, 1, 2])
    """

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False, **kwargs):
        kwargs.pop("dtype", None)
        super().__init__(**kwargs)
        who = f"Hashing layer '{self.name}'"
        self.num_bins = positive_int(who, "num_bins", num_bins)
        self.output_mode = one_of(who, "output_mode", output_mode, ("int", "one_hot", "multi_hot", "count"))
        if salt is not None:
            raise ValueError(f"{who}: salted hashing (SipHash) is not supported. Received: salt={salt!r}")
        if sparse:
            raise ValueError(f"{who}: `sparse=True` is not supported (plait has no sparse tensors).")
        self.mask_value, self.salt, self.sparse = mask_value, None, False

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, (list, tuple, np.ndarray)) and np.asarray(inputs).dtype.kind in "USO":
            return self.call(inputs)  # strings: the data side, outside torch
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs):
        is_tensor = isinstance(inputs, torch.Tensor)
        values = inputs.cpu().numpy() if is_tensor else np.asarray(inputs, dtype=object)
        if values.dtype.kind == "f":
            raise TypeError(f"Hashing layer '{self.name}' hashes strings or integers. Received: dtype={values.dtype}")
        values = np.vectorize(lambda v: v.decode() if isinstance(v, bytes) else v, otypes=[object])(values)
        if self.mask_value is None:
            bins = hash_buckets(values, self.num_bins)
        else:
            masked = values.astype(str) == str(self.mask_value)
            bins = np.where(masked, 0, hash_buckets(values, self.num_bins - 1) + 1)
        out = torch.as_tensor(bins, dtype=torch.int64)
        out = out.to(inputs.device) if is_tensor else out
        return encode_categorical(out, self.output_mode, self.num_bins, self.name)

    def compute_output_shape(self, input_shape):
        return encoded_shape(input_shape, self.output_mode, self.num_bins)

    def compute_output_spec(self, *args, **kwargs):
        dtype = torch.int64 if self.output_mode == "int" else torch.float32
        return (self.compute_output_shape(tuple(args[0].shape)), dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "num_bins": self.num_bins,
            "salt": None,
            "mask_value": self.mask_value,
            "output_mode": self.output_mode,
            "sparse": False,
        }
