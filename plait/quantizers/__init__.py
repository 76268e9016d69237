"""``plait.quantizers``: Keras 3's ``keras.quantizers`` on torch: quantizers, quantization
configs (int8, int4, float8, and GPTQ's and AWQ's) and the quantization math that
``layer.quantize(...)`` / ``model.quantize(...)`` use.

Example:
    >>> import torch
    >>> from plait import quantizers
    >>> quantizer = quantizers.get("AbsMaxQuantizer")
    >>> q, scale = quantizer(torch.tensor([[1.0, -0.25]]))
    >>> q.tolist(), quantizers.serialize(quantizer)["class_name"]
    ([[127, -32]], 'AbsMaxQuantizer')
"""

import inspect

from plait.quantizers.awq_config import AWQConfig
from plait.quantizers.config import (
    Float8QuantizationConfig,
    Int4QuantizationConfig,
    Int8QuantizationConfig,
    QuantizationConfig,
)
from plait.quantizers.gptq_config import GPTQConfig
from plait.quantizers.quantizers import (
    AbsMaxQuantizer,
    Quantizer,
    abs_max_quantize,
    abs_max_quantize_grouped_with_zero_point,
    compute_float8_amax_history,
    compute_float8_scale,
    fake_quant_with_min_max_vars,
    pack_int4,
    quantize_and_dequantize,
    unpack_int4,
)

_CLASSES = (
    Quantizer,
    AbsMaxQuantizer,
    QuantizationConfig,
    Int8QuantizationConfig,
    Int4QuantizationConfig,
    Float8QuantizationConfig,
    GPTQConfig,
    AWQConfig,
)


def _known():
    from plait.utils.naming import to_snake_case

    known = {cls.__name__: cls for cls in _CLASSES}
    return {**known, **{to_snake_case(name): cls for name, cls in known.items()}}


def serialize(quantizer):
    """A quantizer or quantization config as Keras's config dict (``module``, ``class_name``,
    ``config``, ``registered_name``); None stays None."""
    if quantizer is None:
        return None
    if not hasattr(quantizer, "get_config"):
        raise TypeError(f"serialize expects a Quantizer or a QuantizationConfig. Received: {quantizer!r}")
    return {
        "module": "keras.quantizers",
        "class_name": type(quantizer).__name__,
        "config": quantizer.get_config(),
        "registered_name": None,
    }


def deserialize(config, custom_objects=None):
    """The quantizer or config a dict from :func:`serialize` (or Keras) describes."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"deserialize expects a dict with 'class_name' and 'config'. Received: {config!r}")
    known = {**_known(), **(custom_objects or {})}
    name = config["class_name"]
    if name not in known:
        raise ValueError(f"Unknown quantizer class {name!r}. Known: {sorted(n for n in known if n[0].isupper())}")
    return known[name].from_config(dict(config.get("config") or {}))


def get(identifier, **kwargs):
    """A quantizer from a class name, a config dict, an instance or a callable; None gives None.

    A class name gives a new instance (``kwargs`` are its arguments); anything not callable
    raises a ValueError.
    """
    if identifier is None:
        return None
    found = identifier
    if isinstance(identifier, dict):
        found = deserialize(identifier)
    elif isinstance(identifier, str):
        found = _known().get(identifier)
    if inspect.isclass(found):
        found = found(**kwargs)
    if found is None or not callable(found):
        raise ValueError(f"Could not interpret quantizer identifier: {identifier!r}")
    return found


__all__ = [
    "AWQConfig",
    "AbsMaxQuantizer",
    "Float8QuantizationConfig",
    "GPTQConfig",
    "Int4QuantizationConfig",
    "Int8QuantizationConfig",
    "QuantizationConfig",
    "Quantizer",
    "abs_max_quantize",
    "abs_max_quantize_grouped_with_zero_point",
    "compute_float8_amax_history",
    "compute_float8_scale",
    "deserialize",
    "fake_quant_with_min_max_vars",
    "get",
    "pack_int4",
    "quantize_and_dequantize",
    "serialize",
    "unpack_int4",
]
