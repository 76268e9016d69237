"""``plait.config``: Keras 3's ``keras.config`` — the global settings a Keras program reads or sets.

plait runs on torch, channels last, in float32 by default, as Keras's torch backend does. The
setters take those values (so a program that sets them explicitly runs unchanged) and the dtype
policy; a value plait would not honour everywhere is a ValueError that says what to do instead,
never a setting silently ignored.

Example:
    >>> import plait
    >>> plait.config.backend(), plait.config.floatx(), plait.config.image_data_format()
    ('torch', 'float32', 'channels_last')
    >>> plait.config.set_dtype_policy("mixed_bfloat16")
    >>> plait.config.dtype_policy()
    <DTypePolicy "mixed_bfloat16">
    >>> plait.config.set_dtype_policy("float32")
"""

from plait import backend as _backend
from plait import mixed_precision
from plait.utils import settings

backend = _backend.backend
floatx = _backend.floatx
epsilon = _backend.epsilon
image_data_format = _backend.image_data_format


set_floatx = _backend.set_floatx
set_epsilon = _backend.set_epsilon
set_image_data_format = _backend.set_image_data_format


def dtype_policy():
    """The dtype policy new layers get (Keras's ``keras.config.dtype_policy``)."""
    return mixed_precision.global_policy()


def set_dtype_policy(policy):
    """Set the dtype policy of layers created from now on (``"float32"``, ``"mixed_bfloat16"``,
    ``"mixed_float16"``), as ``plait.mixed_precision.set_global_policy``."""
    mixed_precision.set_global_policy(policy)


def enable_flash_attention():
    """Make attention use torch's flash kernel where a call leaves ``flash_attention=None`` (an
    error where the kernel cannot run, as in Keras)."""
    settings.set("flash_attention", True)


def disable_flash_attention():
    """Keep attention off torch's flash kernel (the other SDPA kernels remain)."""
    settings.set("flash_attention", False)


def is_flash_attention_enabled():
    """True or False once set by the two functions above; None (the default) lets torch pick."""
    return settings.get("flash_attention")


enable_interactive_logging = settings.enable_interactive_logging
disable_interactive_logging = settings.disable_interactive_logging
is_interactive_logging_enabled = settings.is_interactive_logging_enabled


def enable_traceback_filtering():
    """Keras's switch for hiding its own frames in tracebacks. plait raises its errors at the
    user's call with a message that names the cause, so it shows every frame either way; the
    setting is kept so a Keras program that toggles it runs, and reads back what it set."""
    settings.set("traceback_filtering", True)


def disable_traceback_filtering():
    """See :func:`enable_traceback_filtering`."""
    settings.set("traceback_filtering", False)


def is_traceback_filtering_enabled():
    """The traceback filtering setting (default True, as Keras)."""
    return settings.get("traceback_filtering")


def set_max_epochs(max_epochs):
    """Cap every ``fit`` at ``max_epochs`` epochs (None: no cap), with a warning, as Keras's
    debugging switch (also read from ``KERAS_MAX_EPOCHS`` at import)."""
    settings.set("max_epochs", _cap_value("max_epochs", max_epochs))


def max_epochs():
    """The cap on ``fit``'s epochs, or None."""
    return settings.get("max_epochs")


def set_max_steps_per_epoch(max_steps_per_epoch):
    """Cap the batches of every epoch (``fit``, ``evaluate``, ``predict``) at
    ``max_steps_per_epoch`` (None: no cap), with a warning, as Keras (also read from
    ``KERAS_MAX_STEPS_PER_EPOCH``)."""
    settings.set("max_steps_per_epoch", _cap_value("max_steps_per_epoch", max_steps_per_epoch))


def max_steps_per_epoch():
    """The cap on batches per epoch, or None."""
    return settings.get("max_steps_per_epoch")


def _cap_value(name, value):
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise ValueError(f"`{name}` must be a positive integer or None. Received: {value!r}")
    return value


def enable_unsafe_deserialization():
    """Let loading run code a file names (a ``Lambda``'s function from any module), as
    ``load_model(..., safe_mode=False)`` does, for every load from now on."""
    settings.set("unsafe_deserialization", True)


def is_nnx_enabled():
    """False: Flax NNX belongs to Keras's JAX backend; plait runs on torch."""
    return False


def set_backend(backend):
    """Keras's backend switch. plait runs on torch only: ``"torch"`` is accepted (nothing
    changes), any other backend is a ValueError that says to use Keras itself for it."""
    if backend != "torch":
        raise ValueError(
            f"plait runs on PyTorch only; it cannot switch to the {backend!r} backend. Use Keras "
            f"itself (KERAS_BACKEND={backend!r}) for that backend. Received: backend={backend!r}"
        )
