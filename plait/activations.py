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
