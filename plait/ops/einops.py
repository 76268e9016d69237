"""einops-style rearrangement (Keras 3's ``keras.ops.rearrange``).

Example:
    >>> import torch, plait
    >>> plait.ops.rearrange(torch.zeros(2, 6, 3), "b (h w) c -> b h w c", h=2).shape
    torch.Size([2, 2, 3, 3])
"""

from plait.ops import _extra
from plait.ops._op import op as _op

rearrange = _op(_extra.rearrange, "einops")

__all__ = ["rearrange"]
