"""Reading a layer config that Keras wrote: one reader for every path.

A config reaches plait from ``plait.layers.deserialize(keras_layer.get_config())``, from a
``.keras`` file, or from a user's ``Layer.from_config``; all of them go through
:func:`layer_arguments`. Keras's configs differ from plait's constructor arguments in two ways:

* ``dtype`` is a ``DTypePolicy`` dict (``{"class_name": "DTypePolicy", "config": {"name":
  "float32"}}``), which plait reads as the policy's name; a quantized policy's dict is read as
  the policy (:mod:`plait.quantizers.policies`).
* Keras keeps adding keys for features that are off by default (``quantization_config``,
  ``lora_rank`` on layers without LoRA, attention's ``sliding_window`` in older plait
  layers...). A key the class does
  not take is dropped when it holds its "off" value, and refused with a clear error otherwise:
  a config is never half-read in silence.

Example:
    >>> from plait.layers import Dense
    >>> layer_arguments(Dense, {"units": 3, "use_cudnn": "auto",  # a recurrent layer's key
    ...     "dtype": {"class_name": "DTypePolicy", "config": {"name": "float32"}}})
    {'units': 3, 'dtype': 'float32'}
"""

import inspect

from torch import nn

from plait.quantizers.policies import CLASSES as POLICY_CLASSES
from plait.quantizers.policies import quantized_policy

# Keras config keys that mean "feature off" at these values: a class without the argument
# reads them as absent.
OFF_VALUES = {
    "kernel_regularizer": None,
    "bias_regularizer": None,
    "activity_regularizer": None,
    "recurrent_regularizer": None,
    "embeddings_regularizer": None,
    "kernel_constraint": None,
    "bias_constraint": None,
    "recurrent_constraint": None,
    "embeddings_constraint": None,
    "mask_zero": False,
    "quantization_config": None,
    "lora_rank": None,
    "lora_alpha": None,
    "sparse": False,
    "ragged": False,
    "optional": False,
    "use_cudnn": "auto",
    "input_length": None,
    "autocast": True,
    "time_major": False,
    "use_gate": False,
    "sliding_window": None,
    "flash_attention": None,
}
# Keys read as absent whatever their value: a seed only picks random draws.
ALWAYS_DROPPED = ("seed",)


def plain_dtype(value, where="A Keras layer"):
    """A Keras dtype name or ``DTypePolicy`` config as the dtype name plait takes.

    A quantized policy's dict gives the policy itself (``QuantizedDTypePolicy``...), which the
    quantizable layers take.

    Args:
        value: ``"float32"``, ``None``, or a DTypePolicy dict as Keras serializes it.
        where: what holds the value, for the error message.
    """
    if isinstance(value, dict):
        kind = value.get("class_name")
        quantized = quantized_policy(value) if kind in POLICY_CLASSES else None
        if quantized is not None:
            return quantized  # a quantized layer (Dense, EinsumDense, Embedding...) reads it
        if kind not in ("DTypePolicy", "FloatDTypePolicy", None):
            raise ValueError(f"{where} uses `dtype={kind}({value.get('config')})`, a policy plait does not know.")
        value = (value.get("config") or {}).get("name", "float32")
    return value  # a name; the layer resolves it (and names what it cannot)


def accepted_arguments(cls):
    """``(names, open)``: the constructor arguments ``cls`` takes, its base layers' included (a
    subclass that passes ``**kwargs`` on accepts its bases' arguments), and whether a user's own
    ``__init__(..., **kwargs)`` may take further keys itself."""
    accepted, open_ended = {"name", "trainable", "dtype"}, False
    for base in cls.__mro__:
        # The layer classes down to plait's Layer (torch's Module and object take nothing).
        if "__init__" in vars(base) and issubclass(base, nn.Module) and base is not nn.Module:
            params = inspect.signature(base.__init__).parameters.values()
            accepted |= {p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
            if not base.__module__.startswith("plait."):
                open_ended |= any(p.kind is p.VAR_KEYWORD for p in params)
    return accepted, open_ended


def layer_arguments(cls, config, where=None):
    """The keyword arguments that build ``cls`` from a config Keras (or plait) wrote.

    Args:
        cls: the layer class.
        config: the layer's config dict (``get_config()``'s, or the ``config`` of a file entry).
        where: what the config describes, for errors (default: the layer's name and class).
    """
    where = where or f"Keras layer '{config.get('name')}' ({cls.__name__})"
    accepted, open_ended = accepted_arguments(cls)
    args = {}
    for key, value in config.items():
        if key == "dtype":
            value = plain_dtype(value, where)
        if key in accepted or key == "batch_input_shape":  # (the caller reads batch_input_shape)
            args[key] = value
        elif key in ALWAYS_DROPPED or (key in OFF_VALUES and _same(value, OFF_VALUES[key])):
            continue
        elif open_ended:
            args[key] = value  # a user's **kwargs may take it (its own __init__ decides)
        else:
            raise ValueError(f"{where} uses `{key}={value!r}`, which plait does not support yet.")
    return args


def _same(value, off):
    return value is off or (type(value) is type(off) and value == off)
