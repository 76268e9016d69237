"""``plait.dtype_policies``: Keras 3's ``keras.dtype_policies`` on plait's dtype policies.

:class:`DTypePolicy` is ``plait.mixed_precision.DTypePolicy`` (``"float32"``,
``"mixed_float16"``, ``"mixed_bfloat16"``); :func:`get`, :func:`serialize` and
:func:`deserialize` read and write Keras's config dicts, so a policy saved by Keras loads here.
The quantized policies (``QuantizedDTypePolicy``, ``QuantizedFloat8DTypePolicy``,
``Int4DTypePolicy``: ``"int8_from_float32"``, ``"float8_from_mixed_bfloat16"``,
``"int4/128_from_float32"``, and GPTQ's and AWQ's ``"gptq/4/128_from_float32"``) are what
``layer.quantize(...)`` gives a layer; they live in :mod:`plait.quantizers.policies`.

Example:
    >>> from plait import dtype_policies
    >>> policy = dtype_policies.get("mixed_bfloat16")
    >>> policy, policy.get_config()
    (<DTypePolicy "mixed_bfloat16">, {'name': 'mixed_bfloat16'})
    >>> dtype_policies.deserialize(dtype_policies.serialize(policy)) == policy
    True
"""

import re

from plait.mixed_precision import DTypePolicy, global_policy
from plait.quantizers import policies as _quantized
from plait.quantizers.policies import (
    AWQDTypePolicy,
    GPTQDTypePolicy,
    Int4DTypePolicy,
    QuantizedDTypePolicy,
    QuantizedFloat8DTypePolicy,
)


class FloatDTypePolicy(DTypePolicy):
    """Keras's older name for a float :class:`DTypePolicy` (same arguments and behaviour)."""


_CLASSES = {"DTypePolicy": DTypePolicy, "FloatDTypePolicy": FloatDTypePolicy, **_quantized.CLASSES}
_QUANTIZED_NAME = re.compile(r"^(int8|int4|float8|gptq|awq)(/|_from_|$)")


def serialize(dtype_policy):
    """A policy as Keras's config dict (``{"module": "keras", "class_name": ..., "config":
    {"name": ...}, "registered_name": None}``)."""
    if not isinstance(dtype_policy, DTypePolicy):
        raise TypeError(f"serialize expects a DTypePolicy. Received: {dtype_policy!r}")
    if isinstance(dtype_policy, QuantizedDTypePolicy):
        return _quantized.serialize_policy(dtype_policy)
    return {
        "module": "keras",
        "class_name": type(dtype_policy).__name__,
        "config": dtype_policy.get_config(),
        "registered_name": None,
    }


def deserialize(config, custom_objects=None):
    """A policy from Keras's config dict (as :func:`serialize` writes it)."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"deserialize expects a dict with a 'class_name' and a 'config'. Received: {config!r}")
    classes = {**_CLASSES, **(custom_objects or {})}
    name = config["class_name"]
    if name not in classes:
        raise ValueError(f"Unknown dtype policy class {name!r}. Known: {sorted(classes)}")
    return classes[name].from_config(config.get("config", {}))


def get(identifier):
    """A policy from a name, a config dict or a policy; None gives the global policy.

    Args:
        identifier: ``"float32"``, ``"mixed_float16"``, ``"mixed_bfloat16"``, a quantized
            policy's name (``"int8_from_float32"``), a dict from :func:`serialize`, a
            :class:`DTypePolicy`, or None.
    """
    if identifier is None:
        return global_policy()
    if isinstance(identifier, DTypePolicy):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if _QUANTIZED_NAME.match(identifier):
            return _quantized.quantized_policy(identifier)
        return DTypePolicy(identifier)
    raise ValueError(
        "Cannot interpret the dtype policy identifier: expected a string, a dict or a DTypePolicy. "
        f"Received: {identifier!r}"
    )


class DTypePolicyMap(dict):
    """Keras's ``DTypePolicyMap``: dtype policies by layer path, with a default.

    Keys are layer paths (``"model/dense/kernel"``) or regular expressions matched against
    them with ``re.fullmatch``; a lookup matching no key gives ``default_policy`` (Keras raises
    when several keys match, and so does this).

    Args:
        default_policy: the policy for unmatched paths (default: the global policy).
        policy_map: an initial dict of path to policy (names, dicts or policies).

    Example:
        >>> from plait.dtype_policies import DTypePolicyMap
        >>> policies = DTypePolicyMap("float32", {"decoder/.*": "mixed_bfloat16"})
        >>> policies["decoder/dense"], policies["encoder/dense"]
        (<DTypePolicy "mixed_bfloat16">, <DTypePolicy "float32">)
    """

    def __init__(self, default_policy=None, policy_map=None):
        super().__init__()
        self.default_policy = get(default_policy)
        # The initial map keeps its entries as given (a name stays a name in the config, as in
        # Keras); each is checked now so a bad one fails here rather than at lookup.
        for key, value in (policy_map or {}).items():
            get(value)
            super().__setitem__(key, value)

    def __setitem__(self, key, policy):
        if key in self:
            raise ValueError(f"DTypePolicyMap already has a policy for {key!r}; delete it before setting another.")
        super().__setitem__(key, get(policy))

    def __getitem__(self, path):
        if dict.__contains__(self, path):
            return get(super().__getitem__(path))
        matches = [key for key in self if re.fullmatch(key, path)]
        if len(matches) > 1:
            raise ValueError(f"Path {path!r} matches several keys of the DTypePolicyMap: {matches}")
        return get(super().__getitem__(matches[0])) if matches else self.default_policy

    def get_config(self):
        entries = {key: dict.__getitem__(self, key) for key in self}
        return {
            "default_policy": self.default_policy.name,
            "policy_map": {k: serialize(v) if isinstance(v, DTypePolicy) else v for k, v in entries.items()},
        }

    @classmethod
    def from_config(cls, config):
        return cls(config.get("default_policy"), config.get("policy_map"))


__all__ = [
    "AWQDTypePolicy",
    "DTypePolicy",
    "DTypePolicyMap",
    "FloatDTypePolicy",
    "GPTQDTypePolicy",
    "Int4DTypePolicy",
    "QuantizedDTypePolicy",
    "QuantizedFloat8DTypePolicy",
    "deserialize",
    "get",
    "serialize",
]
