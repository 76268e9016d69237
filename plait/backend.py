"""``plait.backend``: Keras 3's ``keras.backend`` queries, answered for plait's one backend.

Keras programs read these while building models (``keras.backend.epsilon()`` inside a loss or
a ``Lambda``, ``image_data_format()`` to pick an axis); plait runs on torch, channels last, in
float32, as Keras's torch backend does by default.

Example:
    >>> import plait
    >>> plait.backend.backend(), plait.backend.floatx(), plait.backend.epsilon()
    ('torch', 'float32', 1e-07)
    >>> plait.backend.image_data_format(), plait.backend.standardize_dtype(float)
    ('channels_last', 'float32')
"""

import gc

from plait.graph.ops import is_symbolic
from plait.ops import _backend
from plait.utils.naming import clear_session as _reset_names
from plait.utils.naming import get_uid as get_uid


def backend():
    """The name of the backend: ``"torch"``."""
    return "torch"


def epsilon():
    """The fuzz factor numeric expressions use (``1e-7``, Keras's default)."""
    return _backend.epsilon()


def floatx():
    """The default float dtype: ``"float32"``."""
    return _backend.floatx()


def image_data_format():
    """Where image layers expect channels: ``"channels_last"`` (Keras's default)."""
    return "channels_last"


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


def standardize_dtype(dtype):
    """A dtype's Keras name (``"float32"`` for ``torch.float32``, ``np.float32``, ``float``...)."""
    return _backend.standardize_dtype(dtype)


def result_type(*dtypes):
    """The dtype Keras's type promotion gives for ``dtypes``, by name."""
    return _backend.result_type(*dtypes)


def is_float_dtype(dtype):
    """Whether ``dtype`` is a floating-point dtype."""
    return _backend.is_float_dtype(dtype)


def is_int_dtype(dtype):
    """Whether ``dtype`` is an integer dtype."""
    return _backend.is_int_dtype(dtype)


def is_keras_tensor(x):
    """Whether ``x`` is a symbolic tensor of the functional API (``plait.Input(...)`` and what
    layers return on it), as Keras's ``is_keras_tensor``."""
    return is_symbolic(x)


def clear_session(free_memory=True):
    """Reset automatic layer names (and, with ``free_memory``, collect garbage), as Keras's."""
    _reset_names()
    if free_memory:
        gc.collect()
