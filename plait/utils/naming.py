"""Automatic, Keras-style unique names: ``dense``, ``dense_1``, ``dense_2`` ..."""

import re
from collections import Counter

_name_counts = Counter()


def to_snake_case(name):
    """``MaxPooling1D`` -> ``max_pooling1d`` (Keras's rule)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub(r"([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def unique_name(base):
    """Return ``base`` the first time, then ``base_1``, ``base_2``, ..."""
    count = _name_counts[base]
    _name_counts[base] += 1
    return base if count == 0 else f"{base}_{count}"


def get_uid(prefix=""):
    """The next number for ``prefix``, from 1 (shared with automatic names: after one ``Dense``,
    ``get_uid("dense")`` is 2), as Keras's ``backend.get_uid``."""
    _name_counts[prefix] += 1
    return _name_counts[prefix]


def validate_name(name, what="layer"):
    if not isinstance(name, str) or not name:
        raise ValueError(f"A {what} name must be a non-empty string. Received: name={name!r}")
    if "/" in name or "." in name:
        raise ValueError(
            f"A {what} name cannot contain '/' or '.' (they separate weight paths). Received: name={name!r}"
        )
    return name


def clear_session():
    """Reset automatic naming, as ``keras.backend.clear_session()`` does."""
    _name_counts.clear()
