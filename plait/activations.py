"""Activation functions with Keras 3's names and defaults, on torch's kernels.

Example:
    >>> import torch, plait
    >>> plait.activations.get("relu")(torch.tensor([-1.0, 2.0]))
    tensor([0., 2.])
"""

import torch
import torch.nn.functional as F

from plait.utils import custom_objects
from plait.utils.registry import by_name


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return torch.relu(x)
    # Keras: x below threshold -> negative_slope * (x - threshold); clipped at max_value.
    out = torch.where(x > threshold, x, negative_slope * (x - threshold))
    return out if max_value is None else torch.clamp(out, max=max_value)


def leaky_relu(x, negative_slope=0.2):
    return F.leaky_relu(x, negative_slope)


def relu6(x):
    return F.relu6(x)


def sigmoid(x):
    return torch.sigmoid(x)


def softmax(x, axis=-1):
    return torch.softmax(x, dim=axis)


def log_softmax(x, axis=-1):
    return torch.log_softmax(x, dim=axis)


def tanh(x):
    return torch.tanh(x)


def linear(x):
    return x


def elu(x, alpha=1.0):
    return F.elu(x, alpha)


def selu(x):
    return F.selu(x)


def softplus(x):
    return F.softplus(x)


def softsign(x):
    return F.softsign(x)


def gelu(x, approximate=False):
    return F.gelu(x, approximate="tanh" if approximate else "none")


def silu(x):
    return F.silu(x)


swish = silu


def exponential(x):
    return torch.exp(x)


def hard_sigmoid(x):
    # Keras 3: relu6(x + 3) / 6 (torch's hardsigmoid is the same function).
    return F.hardsigmoid(x)


def hard_silu(x):
    return F.hardswish(x)


hard_swish = hard_silu


def mish(x):
    return F.mish(x)


def log_sigmoid(x):
    return F.logsigmoid(x)


def celu(x, alpha=1.0):
    return F.celu(x, alpha)


def glu(x, axis=-1):
    """Gated linear unit: the first half along ``axis`` times the sigmoid of the second half."""
    if x.shape[axis] % 2:
        raise ValueError(
            f"glu: the size of axis {axis} must be even (it is split in two halves). Received: shape={tuple(x.shape)}"
        )
    return F.glu(x, dim=axis)


def hard_tanh(x):
    return F.hardtanh(x)


def hard_shrink(x, threshold=0.5):
    return F.hardshrink(x, threshold)


def soft_shrink(x, threshold=0.5):
    return F.softshrink(x, threshold)


def tanh_shrink(x):
    return F.tanhshrink(x)


def threshold(x, threshold, default_value):
    """``x`` where ``x > threshold``, else ``default_value``."""
    return F.threshold(x, threshold, default_value)


def sparse_plus(x):
    """0 below -1, ``x`` above 1 and the parabola ``(x + 1)**2 / 4`` joining them smoothly."""
    middle = torch.square(x + 1.0) / 4.0
    return torch.where(x >= 1.0, x, torch.where(x <= -1.0, torch.zeros_like(x), middle))


def sparse_sigmoid(x):
    """The line ``(x + 1) / 2`` clipped to ``[0, 1]``."""
    return torch.clamp((x + 1.0) * 0.5, 0.0, 1.0)


def squareplus(x, b=4):
    """``(x + sqrt(x**2 + b)) / 2``, a smooth ReLU (``b >= 0``)."""
    return 0.5 * (x + torch.sqrt(torch.square(x) + b))


def sparsemax(x, axis=-1):
    """The Euclidean projection of ``x`` onto the probability simplex along ``axis``
    (Martins and Astudillo, 2016): like softmax, but exact zeros for low scores.

    Example:
        >>> import torch
        >>> sparsemax(torch.tensor([0.0, 1.0, 3.0]))
        tensor([0., 0., 1.])
    """
    z = x.movedim(axis, -1)
    ranked = torch.sort(z, dim=-1, descending=True).values
    k = torch.arange(1, z.shape[-1] + 1, device=z.device, dtype=z.dtype)
    partial = ranked.cumsum(-1)
    # The support is the largest k with 1 + k * z_(k) > sum of the k largest scores.
    support = (1.0 + k * ranked > partial).sum(-1, keepdim=True)
    tau = (partial.gather(-1, support - 1) - 1.0) / support.to(z.dtype)
    return torch.clamp(z - tau, min=0.0).movedim(-1, axis)


_ACTIVATIONS = {
    f.__name__: f
    for f in (
        relu,
        leaky_relu,
        relu6,
        sigmoid,
        softmax,
        log_softmax,
        tanh,
        linear,
        elu,
        selu,
        softplus,
        softsign,
        gelu,
        silu,
        exponential,
        hard_sigmoid,
        hard_silu,
        mish,
        log_sigmoid,
        celu,
        glu,
        hard_tanh,
        hard_shrink,
        soft_shrink,
        tanh_shrink,
        threshold,
        sparse_plus,
        sparse_sigmoid,
        squareplus,
        sparsemax,
    )
}
_ACTIVATIONS.update({"swish": silu, "hard_swish": hard_silu})


def get(identifier):
    """An activation function from a name, a callable, or None (linear)."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        return by_name(_ACTIVATIONS, identifier, "activation function")
    if isinstance(identifier, dict) and identifier.get("class_name") == "function":
        return get(identifier.get("config"))  # Keras's form of a (custom) function in a file
    if callable(identifier):
        return identifier
    raise TypeError(f"Could not interpret activation function identifier: {identifier!r}")


def serialize(activation):
    name = getattr(activation, "__name__", None)
    if name in _ACTIVATIONS and _ACTIVATIONS[name] is activation:
        return name
    if name == "silu":
        return "silu"
    registered = custom_objects.registered_name(activation)
    if registered is not None:  # @register_keras_serializable: found by that name at load time
        return registered
    if name and name.isidentifier() and "<locals>" not in getattr(activation, "__qualname__", "<locals>"):
        # A module-level function, by name: loading needs it in custom_objects or a scope, as Keras.
        return name
    raise ValueError(
        f"Activation {activation!r} is not a built-in; register it with "
        "@plait.saving.register_keras_serializable() to save the model."
    )


def deserialize(config, custom_objects=None):
    """The activation function a saved config names (a name, or Keras's ``{"class_name":
    "function", "config": name}`` form); ``custom_objects`` maps extra names to functions.

    Example:
        >>> deserialize("celu").__name__
        'celu'
    """
    name = config.get("config") if isinstance(config, dict) else config
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if isinstance(config, dict) and config.get("class_name") not in ("function", None):
        raise ValueError(f"Could not deserialize activation: expected a function's config. Received: {config!r}")
    return get(name)
