"""``CallbackList``: dispatches each hook to every callback in order."""

from plait.callbacks.callback import HOOKS, Callback


class CallbackList:
    """Calls every callback's hook in order. Batch hooks are skipped when no callback defines
    one, so the training loop pays nothing for them."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
        self.batch_hooks = {
            name
            for name in HOOKS
            if "batch" in name and any(getattr(type(cb), name) is not getattr(Callback, name) for cb in self.callbacks)
        }

    def __getattr__(self, name):
        if name not in HOOKS:
            raise AttributeError(name)

        def call(*args):
            for cb in self.callbacks:
                getattr(cb, name)(*args)

        return call
