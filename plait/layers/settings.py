"""A layer's constructor settings, kept and written back in one place.

A Keras layer keeps each constructor argument as an attribute, resolved by its kind (an
activation name becomes a function, an initializer name an ``Initializer``, ...), and writes them
back, serialized, in ``get_config``. :func:`keep` does the first from the argument's name and
remembers the names; :func:`config` does the second, so a layer lists its settings once.

Example:
    >>> import plait
    >>> from plait.layers import settings
    >>> class Scale(plait.layers.Layer):
    ...     def __init__(self, factor=2.0, activation=None, **kwargs):
    ...         super().__init__(**kwargs)
    ...         settings.keep(self, factor=float(factor), activation=activation)
    ...
    ...     def call(self, inputs):
    ...         return self.activation(inputs * self.factor)
    ...
    ...     def get_config(self):
    ...         return {**super().get_config(), **settings.config(self)}
    >>> layer = Scale(3, activation="relu")
    >>> layer.activation.__name__, {k: layer.get_config()[k] for k in ("factor", "activation")}
    ('relu', {'factor': 3.0, 'activation': 'relu'})
"""

from plait import activations, constraints, initializers, regularizers
from plait.layers.base import WeightOptions


def _kind(name):
    """The module that resolves and serializes a setting called ``name``, or None (kept as is)."""
    if name == "activation" or name.endswith("_activation"):
        return activations
    by_suffix = {"_initializer": initializers, "_regularizer": regularizers, "_constraint": constraints}
    return next((module for suffix, module in by_suffix.items() if name.endswith(suffix)), None)


def keep(layer, **values):
    """Set each value on ``layer`` under its name, resolved by its kind (``activations.get``,
    ``initializers.get``, ...), and remember the names for :func:`config`, in order.

    Args:
        layer: the layer being constructed.
        **values: setting name -> the constructor's argument.
    """
    for name, value in values.items():
        module = _kind(name)
        setattr(layer, name, value if module is None else module.get(value))
    known = layer.__dict__.get("_kept_settings", ())
    layer.__dict__["_kept_settings"] = known + tuple(name for name in values if name not in known)


def config(layer):
    """The settings :func:`keep` stored on ``layer``, serialized by kind, as config entries."""
    entries = {}
    for name in layer.__dict__.get("_kept_settings", ()):
        value, module = getattr(layer, name), _kind(name)
        entries[name] = value if module is None else module.serialize(value)
    return entries


def per_weight(**pairs):
    """Keras's ``<weight>_regularizer`` / ``<weight>_constraint`` arguments as ``WeightOptions``,
    given per weight: ``per_weight(kernel=(kernel_regularizer, kernel_constraint), ...)``."""
    options = {}
    for weight, (regularizer, constraint) in pairs.items():
        options[f"{weight}_regularizer"], options[f"{weight}_constraint"] = regularizer, constraint
    return WeightOptions(**options)
