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

backend = _backend.backend
floatx = _backend.floatx
epsilon = _backend.epsilon
image_data_format = _backend.image_data_format


def _only(argument, value, supported, instead):
    if value != supported:
        raise ValueError(f"plait supports only `{argument}={supported!r}` globally ({instead}). Received: {value!r}")


def set_floatx(value):
    """Keras's ``set_floatx``: plait's default float dtype is ``"float32"``."""
    _only("floatx", value, "float32", "give a layer `dtype='float64'` to compute in another dtype")


def set_epsilon(value):
    """Keras's ``set_epsilon``: plait's fuzz factor is Keras's default, ``1e-7``."""
    _only("epsilon", value, 1e-7, "losses and metrics use Keras's default")


def set_image_data_format(data_format):
    """Keras's ``set_image_data_format``: plait's layers default to ``"channels_last"``."""
    _only("image_data_format", data_format, "channels_last", "give image layers `data_format='channels_first'`")


def dtype_policy():
    """The dtype policy new layers get (Keras's ``keras.config.dtype_policy``)."""
    return mixed_precision.global_policy()


def set_dtype_policy(policy):
    """Set the dtype policy of layers created from now on (``"float32"``, ``"mixed_bfloat16"``,
    ``"mixed_float16"``), as ``plait.mixed_precision.set_global_policy``."""
    mixed_precision.set_global_policy(policy)
