"""Quantized dtype policies (Keras 3's ``QuantizedDTypePolicy`` family): a layer's quantization
mode on top of the float policy its weights came from (``"int8_from_float32"``).

They live here, beside the quantizers, so that layers can use them; ``plait.dtype_policies``
re-exports them under Keras's names.

Example:
    >>> from plait.quantizers.policies import quantized_policy
    >>> policy = quantized_policy("int4/128_from_mixed_bfloat16")
    >>> policy, policy.quantization_mode, policy.block_size, policy.compute_dtype
    (<Int4DTypePolicy "int4/128_from_mixed_bfloat16">, 'int4', 128, torch.bfloat16)
"""

import re

import torch

from plait.mixed_precision import DTypePolicy, global_policy
from plait.quantizers.config import QUANTIZATION_MODES

_NAME = re.compile(r"^(int8|int4|float8|gptq|awq)")


class QuantizedDTypePolicy(DTypePolicy):
    """A quantized layer's policy: ``mode`` over the float policy ``source_name``.

    Args:
        mode: ``"int8"``, ``"int4"``, ``"float8"``, ``"gptq"`` or ``"awq"``.
        source_name: the float policy the layer had (default: the global policy).
    """

    def __init__(self, mode, source_name=None):
        source = DTypePolicy(global_policy().name if source_name is None else source_name)
        if mode not in QUANTIZATION_MODES:
            raise ValueError(f"Invalid quantization mode. Expected one of {QUANTIZATION_MODES}. Received: mode={mode}")
        if mode == "int8" and source.compute_dtype == torch.float16:
            raise ValueError(f"Quantization mode='{mode}' doesn't work well with compute_dtype='float16'.")
        self.compute_dtype, self.variable_dtype = source.compute_dtype, source.variable_dtype
        self.source_name, self._mode = source.name, mode
        self.name = f"{mode}_from_{source.name}"

    @property
    def quantization_mode(self):
        return self._mode

    def get_config(self):
        return {"mode": self._mode, "source_name": self.source_name}

    def __repr__(self):
        return f'<{type(self).__name__} "{self.name}">'


class QuantizedFloat8DTypePolicy(QuantizedDTypePolicy):
    """The float8 policy, with the length of the amax histories (default 1024)."""

    default_amax_history_length = 1024

    def __init__(self, mode, source_name=None, amax_history_length=1024):
        super().__init__(mode, source_name)
        if not isinstance(amax_history_length, int):
            raise TypeError(f"`amax_history_length` must be an integer. Received: {amax_history_length!r}")
        self.amax_history_length = amax_history_length

    def __eq__(self, other):
        return super().__eq__(other) and self.amax_history_length == other.amax_history_length

    __hash__ = QuantizedDTypePolicy.__hash__

    def get_config(self):
        return {**super().get_config(), "amax_history_length": self.amax_history_length}


class Int4DTypePolicy(QuantizedDTypePolicy):
    """The int4 policy with its group size: ``mode`` is ``"int4/<block_size>"``, -1 for one
    scale per channel."""

    def __init__(self, mode, source_name=None):
        base, _, size = str(mode).partition("/")
        if base != "int4" or not re.fullmatch(r"-?\d+", size):
            raise ValueError(f"Invalid mode for Int4DTypePolicy: expected 'int4/<block_size>', but got '{mode}'.")
        if int(size) < -1 or int(size) == 0:
            raise ValueError(f"Invalid block_size in '{mode}': expected -1 (per channel) or a positive integer.")
        super().__init__("int4", source_name)
        self.block_size = int(size)
        self.name = f"int4/{self.block_size}_from_{self.source_name}"

    def get_config(self):
        return {**super().get_config(), "mode": f"int4/{self.block_size}"}


class _CalibratedDTypePolicy(QuantizedDTypePolicy):
    """A GPTQ/AWQ policy: ``mode`` is ``"<gptq|awq>/<weight_bits>/<group_size>"``."""

    method, allowed_bits = None, ()

    def __init__(self, mode, source_name=None):
        parts = str(mode).split("/")
        if len(parts) != 3 or parts[0] != self.method or not all(re.fullmatch(r"-?\d+", p) for p in parts[1:]):
            raise ValueError(
                f"Invalid mode for {type(self).__name__}: expected '{self.method}/<weight_bits>/<group_size>' "
                f"with integers, but got '{mode}'."
            )
        bits, group = int(parts[1]), int(parts[2])
        if bits not in self.allowed_bits:
            raise ValueError(f"Invalid weight_bits in '{mode}': expected one of {self.allowed_bits}.")
        if group < -1 or group == 0:
            raise ValueError(f"Invalid group_size in '{mode}': expected -1 or a positive integer.")
        super().__init__(self.method, source_name)
        self.weight_bits, self.group_size = bits, group
        self.name = f"{mode}_from_{self.source_name}"

    def __eq__(self, other):
        return super().__eq__(other) and (self.weight_bits, self.group_size) == (other.weight_bits, other.group_size)

    __hash__ = QuantizedDTypePolicy.__hash__

    def get_config(self):
        return {**super().get_config(), "mode": f"{self.method}/{self.weight_bits}/{self.group_size}"}


class GPTQDTypePolicy(_CalibratedDTypePolicy):
    """The policy of a GPTQ-quantized layer: ``"gptq/<weight_bits>/<group_size>"``, bits 2, 3, 4
    or 8, group size -1 (one group) or positive (Keras's ``GPTQDTypePolicy``)."""

    method, allowed_bits = "gptq", (2, 3, 4, 8)


class AWQDTypePolicy(_CalibratedDTypePolicy):
    """The policy of an AWQ-quantized layer: ``"awq/4/<group_size>"`` (Keras's ``AWQDTypePolicy``)."""

    method, allowed_bits = "awq", (4,)


def serialize_policy(policy):
    """A quantized policy as Keras writes it (its classes live in ``keras.dtype_policies``)."""
    return {
        "module": "keras.dtype_policies",
        "class_name": type(policy).__name__,
        "config": policy.get_config(),
        "registered_name": None,
    }


CLASSES = {
    cls.__name__: cls
    for cls in (QuantizedDTypePolicy, QuantizedFloat8DTypePolicy, Int4DTypePolicy, GPTQDTypePolicy, AWQDTypePolicy)
}


def quantized_policy(value):
    """The quantized policy ``value`` names (``"int8_from_float32"``, Keras's config dict of one,
    or a policy), or None when it names none (a float policy, a dtype, None)."""
    if isinstance(value, QuantizedDTypePolicy):
        return value
    if isinstance(value, dict) and value.get("class_name") in CLASSES:
        return CLASSES[value["class_name"]](**(value.get("config") or {}))
    if isinstance(value, dict) and isinstance((value.get("config") or {}).get("name"), str):
        value = value["config"]["name"]
    if not isinstance(value, str) or not _NAME.match(value):
        return None
    mode, found, source = value.partition("_from_")
    if not found:
        raise ValueError(
            f"Cannot read a quantized dtype policy from {value!r}: expected '<mode>_from_<source policy>', "
            "e.g. 'int8_from_float32'."
        )
    if mode.startswith("float8"):
        return QuantizedFloat8DTypePolicy(mode, source)
    if mode.startswith("int4/"):
        return Int4DTypePolicy(mode, source)
    if mode.startswith("gptq/"):
        return GPTQDTypePolicy(mode, source)
    if mode.startswith("awq/"):
        return AWQDTypePolicy(mode, source)
    if mode in ("gptq", "awq") or "/" in mode:
        method = mode.split("/")[0]
        raise ValueError(f"Invalid {method} policy {value!r}: expected '<mode>/<weight_bits>/<group_size>'.")
    return QuantizedDTypePolicy(mode, source)
