"""``normalize``: Keras's ``keras.utils.normalize``."""

import numpy as np
import torch


def normalize(x, axis=-1, order=2):
    """Divide ``x`` by its ``order``-norm along ``axis`` (Keras's ``keras.utils.normalize``).

    Args:
        x: a numpy array (a numpy array is returned; zero norms are left as they are) or a
            tensor (Keras's ``ops.nn.normalize``: the norm is floored at 1e-7).
        axis: the axis along which to normalize (default -1).
        order: the norm's order (default 2, the L2 norm).

    Example:
        >>> normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
        array([[0.6, 0.8],
               [0. , 0. ]])
    """
    if not isinstance(x, torch.Tensor):
        x = np.asarray(x)
        norm = np.atleast_1d(np.linalg.norm(x, order, axis))
        norm[norm == 0] = 1
        axis = -1 if axis is None else axis  # Keras's `axis or -1` also turns axis=0 into -1 (a bug)
        return x / np.expand_dims(norm, axis)
    if not isinstance(order, int) or order < 1:
        raise ValueError(f"Argument `order` must be an int >= 1. Received: order={order}")
    if x.dim() == 0:
        x = x.unsqueeze(0)
    epsilon = 1e-7  # Keras's backend.epsilon()
    if order == 2:  # Keras's rsqrt form
        inv_norm = torch.rsqrt(torch.sum(torch.square(x), dim=axis, keepdim=True))
        return x * torch.clamp(inv_norm, max=1.0 / epsilon)
    norm = torch.linalg.vector_norm(x, ord=order, dim=axis, keepdim=True)
    return x / torch.clamp(norm, min=epsilon)
