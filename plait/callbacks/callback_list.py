"""``CallbackList``: dispatches each hook to every callback in order."""

from plait.callbacks.callback import ALIASES, HOOKS, Callback, is_default
from plait.callbacks.history import History
from plait.callbacks.progbar_logger import ProgbarLogger
from plait.utils import nest


class CallbackList(Callback):
    """Calls every callback's hook in order (Keras's ``CallbackList``).

    Args:
        callbacks: a list (possibly nested) of ``Callback`` instances, or None.
        add_history: add a ``History`` if the list has none (``model.history`` then points to it).
        add_progbar: add a ``ProgbarLogger`` if the list has none.
        model: the model the callbacks see as ``self.model``.
        **params: passed to every callback's ``set_params`` (``epochs``, ``steps``, ``verbose``).

    Batch hooks that no callback overrides are skipped (``wants``), so the training loop pays
    nothing for them.

    Example:
        >>> import plait
        >>> history = plait.callbacks.History()
        >>> cbs = plait.callbacks.CallbackList([history], epochs=2, steps=3, verbose=0)
        >>> history.params
        {'epochs': 2, 'steps': 3, 'verbose': 0}
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        super().__init__()
        self.callbacks = nest.flatten(callbacks) if callbacks else []
        wrong = [item for item in self.callbacks if not isinstance(item, Callback)]
        if wrong:
            raise TypeError(
                f"`callbacks` must be `plait.callbacks.Callback` instances. Received: {wrong[0]!r} "
                f"of type {type(wrong[0]).__name__}"
            )
        histories = [item for item in self.callbacks if isinstance(item, History)]
        if not histories and add_history:
            histories.append(History())
            self.callbacks.append(histories[0])
        self._history = histories[0] if histories else None
        if add_progbar and not any(isinstance(item, ProgbarLogger) for item in self.callbacks):
            self.callbacks.append(ProgbarLogger(params.get("verbose", 1)))
        self.set_model(model)
        self.set_params(params)

    def append(self, callback):
        """Add ``callback`` at the end of the list."""
        self.callbacks.append(callback)

    def _tell_each(self, method, *args):
        for item in self.callbacks:
            getattr(item, method)(*args)

    def set_params(self, params):
        """Pass the loop's settings to every callback (an empty dict is kept but not passed)."""
        self.params = params
        if params:
            self._tell_each("set_params", params)

    def set_model(self, model):
        """Point every callback (and ``model.history``, when the list has a History) at ``model``."""
        if model is not None:
            super().set_model(model)
            if self._history is not None:
                model.history = self._history
            self._tell_each("set_model", model)

    def wants(self, hook):
        """Whether calling ``hook`` does anything (a batch hook that no callback overrides does
        not; the loop then skips reading the logs for it)."""
        if "batch" not in hook:
            return True
        names = [hook] + ([ALIASES[hook]] if hook in ALIASES else [])
        return any(not is_default(getattr(item, name)) for item in self.callbacks for name in names)


def _dispatcher(hook):
    if "batch" in hook or "epoch" in hook:

        def call(self, index, logs=None):
            if "batch" not in hook or self.wants(hook):
                # every callback gets the same dict, so one may add to what the next one sees
                self._tell_each(hook, index, {} if logs is None else logs)

    else:

        def call(self, logs=None):
            self._tell_each(hook, {} if logs is None else logs)

    call.__name__ = call.__qualname__ = hook
    call.__doc__ = f"Call every callback's ``{hook}``."
    return call


for _hook in HOOKS:
    setattr(CallbackList, _hook, _dispatcher(_hook))
