"""Keras's dtype spellings read as torch dtypes, for the modules below the graph core."""

import numpy as np
import torch


def to_torch_dtype(dtype):
    """``"float32"``, ``torch.float32``, ``np.float32`` or None (float32) -> a torch dtype.

    Example:
        >>> to_torch_dtype("bfloat16"), to_torch_dtype(np.int32)
        (torch.bfloat16, torch.int32)
    """
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    name = dtype if isinstance(dtype, str) else getattr(dtype, "name", None) or np.dtype(dtype).name
    found = getattr(torch, name.replace("torch.", ""), None)
    if not isinstance(found, torch.dtype):
        raise TypeError(f"Unknown dtype: expected a name such as 'float32' or 'int32'. Received: dtype={dtype!r}")
    return found
