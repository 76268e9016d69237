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

    def wants(self, hook):
        """Whether calling ``hook`` does anything (a batch hook that no callback defines does not;
        the loop then skips reading the logs for it)."""
        return "batch" not in hook or hook in self.batch_hooks

    def __getattr__(self, name):
        if name not in HOOKS:
            raise AttributeError(name)
        if not self.wants(name):
            return _nothing

        def call(*args):
            for cb in self.callbacks:
                getattr(cb, name)(*args)

        return call


def _nothing(*args):
    pass
