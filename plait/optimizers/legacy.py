"""``keras.optimizers.legacy``: Keras 2's optimizers, which Keras 3 (and plait) do not have.

Each name exists, as in Keras 3, and refuses construction with a clear error.

Example:
    >>> from plait.optimizers import legacy
    >>> try:
    ...     legacy.Adam()
    ... except ImportError as error:
    ...     print(str(error).split(";")[0])
    `optimizers.legacy.Adam` is Keras 2's (tf.keras)
"""


class _Legacy:
    def __init__(self, *args, **kwargs):
        name = type(self).__name__
        raise ImportError(
            f"`optimizers.legacy.{name}` is Keras 2's (tf.keras); Keras 3 and plait do not have it. "
            f"Use `plait.optimizers.{name}`, which follows Keras 3's rule."
        )


class Adagrad(_Legacy):
    """Keras 2's Adagrad: refused; use ``plait.optimizers.Adagrad``."""


class Adam(_Legacy):
    """Keras 2's Adam: refused; use ``plait.optimizers.Adam``."""


class Ftrl(_Legacy):
    """Keras 2's Ftrl: refused; use ``plait.optimizers.Ftrl``."""


class Optimizer(_Legacy):
    """Keras 2's optimizer base: refused; subclass ``plait.optimizers.Optimizer``."""


class RMSprop(_Legacy):
    """Keras 2's RMSprop: refused; use ``plait.optimizers.RMSprop``."""


class SGD(_Legacy):
    """Keras 2's SGD: refused; use ``plait.optimizers.SGD``."""
