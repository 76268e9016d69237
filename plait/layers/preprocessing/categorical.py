"""Categorical preprocessing layers: ``CategoryEncoding``, ``IntegerLookup``, ``StringLookup``,
``Hashing`` (Keras 3's), and the one-hot / multi-hot / count encoding they share.
"""

import torch
import torch.nn.functional as F

from plait.layers.base import Layer
from plait.layers.validation import one_of, positive_int


def _one_hot(indices, depth):
    # Keras's one_hot gives an all-zero row for an index outside [0, depth).
    valid = (indices >= 0) & (indices < depth)
    hot = F.one_hot(torch.where(valid, indices, torch.zeros_like(indices)).long(), depth)
    return (hot * valid.unsqueeze(-1)).float()


def encode_categorical(indices, output_mode, depth, who, count_weights=None):
    """Keras's ``encode_categorical_inputs``: integer indices to ``int`` / ``one_hot`` /
    ``multi_hot`` / ``count`` vectors of size ``depth`` (float32)."""
    if output_mode == "int":
        return indices.long()
    indices = indices.long()
    if indices.dim() == 0:
        indices = indices.unsqueeze(-1)
    if output_mode == "one_hot":
        if indices.dim() > 1 and indices.shape[-1] == 1:
            indices = indices.squeeze(-1)  # Keras shrinks a trailing axis of size 1
        return _one_hot(indices, depth)
    hot = _one_hot(indices, depth)
    axis = 1 if indices.dim() > 1 else 0
    if output_mode == "multi_hot":
        return hot.amax(dim=axis)
    if count_weights is not None:
        hot = hot * torch.as_tensor(count_weights, dtype=torch.float32, device=hot.device).unsqueeze(-1)
    return hot.sum(dim=axis)


def encoded_shape(input_shape, output_mode, depth):
    """The output shape of :func:`encode_categorical` (Keras's ``compute_output_shape``)."""
    input_shape = tuple(input_shape)
    if len(input_shape) == 0:
        return (depth,)
    if output_mode == "int":
        return input_shape
    if output_mode == "one_hot" and (input_shape[-1] != 1 or len(input_shape) == 1):
        return (*input_shape, depth)
    return (*input_shape[:-1], depth)


class CategoryEncoding(Layer):
    """Encodes integer features as one-hot, multi-hot or count vectors of size ``num_tokens``.

    Args:
        num_tokens: the number of categories; inputs are in ``[0, num_tokens)`` (others encode
            as zeros).
        output_mode: ``"multi_hot"`` (default; ``"binary"`` is its old name), ``"one_hot"`` or
            ``"count"`` (``call(inputs, count_weights=...)`` weights each count).
        sparse: must be False (plait has no sparse tensors).

    Input shape:
        ``(batch,)`` or ``(batch, k)`` integers. Output shape: ``(batch, num_tokens)`` float32
        (``one_hot`` on ``(batch, k)`` with ``k > 1``: ``(batch, k, num_tokens)``).

    Example:
        >>> import torch, plait
        >>> plait.layers.CategoryEncoding(4, output_mode="multi_hot")(torch.tensor([[0, 1], [0, 0]]))
        tensor([[1., 1., 0., 0.],
                [1., 0., 0., 0.]])
    """

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        who = f"CategoryEncoding layer '{self.name}'"
        output_mode = "multi_hot" if output_mode == "binary" else output_mode
        self.output_mode = one_of(who, "output_mode", output_mode, ("multi_hot", "one_hot", "count"))
        if num_tokens is None:
            raise ValueError(f"{who}: `num_tokens` must be set (use IntegerLookup when it is not known).")
        self.num_tokens = positive_int(who, "num_tokens", num_tokens)
        if sparse:
            raise ValueError(f"{who}: `sparse=True` is not supported (plait has no sparse tensors).")
        self.sparse = False

    def call(self, inputs, count_weights=None):
        if count_weights is not None and self.output_mode != "count":
            raise ValueError(
                f"CategoryEncoding layer '{self.name}': `count_weights` is only used with output_mode='count'. "
                f"Received: output_mode={self.output_mode!r}"
            )
        return encode_categorical(torch.as_tensor(inputs), self.output_mode, self.num_tokens, self.name, count_weights)

    def compute_output_shape(self, input_shape):
        return encoded_shape(input_shape, self.output_mode, self.num_tokens)

    def get_config(self):
        return {**super().get_config(), "num_tokens": self.num_tokens, "output_mode": self.output_mode}
