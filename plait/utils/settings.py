"""Process-wide switches that Keras keeps in ``keras.config`` (flash attention, interactive
logging, traceback filtering, caps on epochs and steps, unsafe deserialization).

They live here, at the bottom of plait's import layers, so that ops, training and the progress
bar can read them; ``plait.config`` is the public face.

Example:
    >>> from plait.utils import settings
    >>> settings.get("max_epochs") is None
    True
"""

import os

_DEFAULTS = {
    "flash_attention": None,  # None: torch's SDPA picks; True/False: force or exclude flash
    "interactive_logging": True,
    "traceback_filtering": True,
    # Keras reads these caps from environment variables at import, as plait does.
    "max_epochs": int(os.environ["KERAS_MAX_EPOCHS"]) if os.environ.get("KERAS_MAX_EPOCHS") else None,
    "max_steps_per_epoch": (
        int(os.environ["KERAS_MAX_STEPS_PER_EPOCH"]) if os.environ.get("KERAS_MAX_STEPS_PER_EPOCH") else None
    ),
    "unsafe_deserialization": False,
}
_values = dict(_DEFAULTS)


def get(name):
    """The current value of setting ``name``."""
    return _values[name]


def set(name, value):  # noqa: A001 (the natural name, local to this module)
    """Set setting ``name`` (a KeyError for an unknown name)."""
    if name not in _values:
        raise KeyError(f"Unknown plait setting {name!r}. Known: {sorted(_values)}")
    _values[name] = value


def cap(name, value):
    """``value`` limited by the cap setting ``name`` (``max_epochs``, ``max_steps_per_epoch``);
    a None ``value`` (unknown length) takes the cap itself."""
    limit = _values[name]
    if not limit:
        return value
    return limit if value is None else min(value, limit)


def enable_interactive_logging():
    """Progress bars redraw in place on a terminal (the default), as Keras's."""
    set("interactive_logging", True)


def disable_interactive_logging():
    """Progress bars print plain lines, for logs (no ``\\r`` redraws)."""
    set("interactive_logging", False)


def is_interactive_logging_enabled():
    """Whether progress bars redraw in place."""
    return get("interactive_logging")
