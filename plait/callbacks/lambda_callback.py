"""``LambdaCallback``: a callback made of plain functions."""

from plait.callbacks.callback import HOOKS, Callback


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, **hooks):
        super().__init__()
        for name, fn in hooks.items():
            if name not in HOOKS:
                raise ValueError(f"Unknown callback hook '{name}'. Hooks: {HOOKS}")
            setattr(self, name, fn)
        # Make CallbackList see the batch hooks given here.
        self.__class__ = type("LambdaCallback", (LambdaCallback,), {n: staticmethod(f) for n, f in hooks.items()})
