"""``CallbackList``: dispatches each hook to every callback in order."""

from plait.callbacks.callback import HOOKS, Callback, is_default
from plait.callbacks.history import History
from plait.callbacks.progbar_logger import ProgbarLogger
from plait.utils import nest

# A batch hook also runs when a callback overrides its alias (Keras's base class maps them).
_ALIASES = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}


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
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(
                    f"`callbacks` must be `plait.callbacks.Callback` instances. Received: {cb!r} "
                    f"of type {type(cb).__name__}"
                )
        self._history = next((cb for cb in self.callbacks if isinstance(cb, History)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if add_progbar and not any(isinstance(cb, ProgbarLogger) for cb in self.callbacks):
            self.callbacks.append(ProgbarLogger(params.get("verbose", 1)))
        self.set_model(model)
        self.set_params(params)

    def append(self, callback):
        self.callbacks.append(callback)

    def set_params(self, params):
        self.params = params
        if params:
            for cb in self.callbacks:
                cb.set_params(params)

    def set_model(self, model):
        if model is None:
            return
        super().set_model(model)
        if self._history is not None:
            model.history = self._history
        for cb in self.callbacks:
            cb.set_model(model)

    def wants(self, hook):
        """Whether calling ``hook`` does anything (a batch hook that no callback overrides does
        not; the loop then skips reading the logs for it)."""
        if "batch" not in hook:
            return True
        names = (hook, _ALIASES[hook]) if hook in _ALIASES else (hook,)
        return any(not is_default(getattr(cb, name)) for cb in self.callbacks for name in names)


def _dispatcher(hook):
    if "batch" in hook or "epoch" in hook:

        def call(self, index, logs=None):
            if "batch" in hook and not self.wants(hook):
                return
            logs = {} if logs is None else logs  # every callback gets the same dict
            for cb in self.callbacks:
                getattr(cb, hook)(index, logs)

    else:

        def call(self, logs=None):
            logs = {} if logs is None else logs
            for cb in self.callbacks:
                getattr(cb, hook)(logs)

    call.__name__ = call.__qualname__ = hook
    call.__doc__ = f"Call every callback's ``{hook}``."
    return call


for _hook in HOOKS:
    setattr(CallbackList, _hook, _dispatcher(_hook))
