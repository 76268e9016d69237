"""``LambdaCallback``: a callback made of plain functions."""

from plait.callbacks.callback import Callback


class LambdaCallback(Callback):
    """A callback from functions (Keras's ``LambdaCallback``).

    Args:
        on_epoch_begin, on_epoch_end: ``f(epoch, logs)``.
        on_train_begin, on_train_end: ``f(logs)``.
        on_train_batch_begin, on_train_batch_end: ``f(batch, logs)``.
        **kwargs: any other hook by name (``on_test_batch_end=f``, ``on_predict_end=f``, ...),
            set on the instance as Keras does.

    Example:
        >>> import plait
        >>> cb = plait.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))
    """

    def __init__(
        self,
        on_epoch_begin=None,
        on_epoch_end=None,
        on_train_begin=None,
        on_train_end=None,
        on_train_batch_begin=None,
        on_train_batch_end=None,
        **kwargs,
    ):
        super().__init__()
        unknown = sorted(k for k in kwargs if not (k.startswith("on_") and hasattr(self, k)))
        if unknown:
            # A misspelt hook would never run: say so (Keras accepts it silently).
            known = sorted(n for n in dir(self) if n.startswith("on_") and callable(getattr(self, n)))
            raise TypeError(f"LambdaCallback got unknown hook(s) {unknown}. Known hooks: {known}")
        self.__dict__.update(kwargs)
        hooks = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
            "on_train_batch_begin": on_train_batch_begin,
            "on_train_batch_end": on_train_batch_end,
        }
        for name, fn in hooks.items():
            if fn is not None:
                setattr(self, name, fn)
