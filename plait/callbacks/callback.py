"""The ``Callback`` base class: Keras's ``on_*`` hooks, ``self.model`` and ``self.params``.

The hooks are one table below (name, what its first argument is, when it runs); the base class's
methods are made from it, and ``HOOKS`` (what ``CallbackList`` dispatches) is its list of names.
"""

# name -> (the index it receives: "batch", "epoch" or None, when the loop calls it)
_TABLE = {
    "on_batch_begin": ("batch", "Alias of ``on_train_batch_begin`` (Keras's older name)."),
    "on_batch_end": ("batch", "Alias of ``on_train_batch_end`` (Keras's older name)."),
    "on_epoch_begin": ("epoch", "At the start of an epoch of ``fit``."),
    "on_epoch_end": ("epoch", "At the end of an epoch: ``logs`` holds its metrics and ``val_*`` ones."),
    "on_train_batch_begin": ("batch", "Before a training batch (once per ``steps_per_execution``)."),
    "on_train_batch_end": ("batch", "After a training batch: ``logs`` holds the epoch's metrics so far."),
    "on_test_batch_begin": ("batch", "Before a batch of ``evaluate`` or of the validation in ``fit``."),
    "on_test_batch_end": ("batch", "After a batch of ``evaluate`` or of the validation in ``fit``."),
    "on_predict_batch_begin": ("batch", "Before a batch of ``predict``."),
    "on_predict_batch_end": ("batch", "After a batch of ``predict``: ``logs`` is ``{'outputs': ...}``."),
    "on_train_begin": (None, "When ``fit`` starts."),
    "on_train_end": (None, "When ``fit`` ends: ``logs`` holds the last epoch's logs."),
    "on_test_begin": (None, "When ``evaluate`` or a validation inside ``fit`` starts."),
    "on_test_end": (None, "When ``evaluate`` or a validation ends: ``logs`` holds its metrics."),
    "on_predict_begin": (None, "When ``predict`` starts."),
    "on_predict_end": (None, "When ``predict`` ends."),
}

# The training-batch hooks forward to their older names, so overriding either one works.
ALIASES = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}

# Every hook's name, for CallbackList and LambdaCallback.
HOOKS = list(_TABLE)


def _make_hook(name, index, doc):
    forward = ALIASES.get(name)
    if index == "batch":

        def hook(self, batch, logs=None):
            if forward:
                getattr(self, forward)(batch, logs=logs)

    elif index == "epoch":

        def hook(self, epoch, logs=None):
            pass

    else:

        def hook(self, logs=None):
            pass

    hook.__name__, hook.__qualname__, hook.__doc__ = name, f"Callback.{name}", doc
    return hook


class Callback:
    """Base class of callbacks: override any ``on_*`` hook.

    ``fit``/``evaluate``/``predict`` call ``set_model`` and ``set_params`` first (``self.model``,
    ``self.params``: ``{"epochs", "steps", "verbose"}``); every hook receives a dict of logs.
    As in Keras, ``on_train_batch_begin``/``on_train_batch_end`` call the older aliases
    ``on_batch_begin``/``on_batch_end``, so overriding either name works.

    Example:
        >>> import numpy as np, plait
        >>> class Count(plait.callbacks.Callback):
        ...     def on_batch_end(self, batch, logs=None):
        ...         self.n = getattr(self, "n", 0) + 1
        >>> model = plait.Sequential([plait.layers.Dense(1, input_shape=(2,))])
        >>> model.compile("sgd", "mse")
        >>> count = Count()
        >>> _ = model.fit(np.ones((8, 2)), np.ones((8, 1)), batch_size=4, epochs=2, verbose=0, callbacks=[count])
        >>> count.n
        4
    """

    def __init__(self):
        self.params = None
        self.model = None

    def set_params(self, params):
        """Keep the loop's settings (``epochs``, ``steps``, ``verbose``) as ``self.params``."""
        self.params = params

    def set_model(self, model):
        """Keep the model being trained, evaluated or run as ``self.model``."""
        self.model = model


for _name, (_index, _doc) in _TABLE.items():
    setattr(Callback, _name, _make_hook(_name, _index, _doc))

# The base class's own hook functions: a callback's hook that is one of them was not overridden.
_BASE_FUNCTIONS = frozenset(vars(Callback)[name] for name in HOOKS)


def is_default(method):
    """Whether ``method`` (a callback's bound hook) is the base class's, i.e. nobody overrode it;
    the training loop skips batch hooks that no callback overrides."""
    return getattr(method, "__func__", None) in _BASE_FUNCTIONS
