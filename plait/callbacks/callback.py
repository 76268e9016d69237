"""The ``Callback`` base class: Keras's ``on_*`` hooks, ``self.model`` and ``self.params``."""


def default(method):
    """Mark a base-class hook, so a list of callbacks can tell which hooks a callback overrides
    (Keras's ``utils.default``); the training loop skips batch hooks nobody overrides."""
    method._is_default = True
    return method


def is_default(method):
    """Whether ``method`` is a base-class hook nobody overrode."""
    return getattr(method, "_is_default", False)


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
        self._model = None

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self._model = model

    @property
    def model(self):
        return self._model

    @model.setter
    def model(self, model):
        self._model = model

    @default
    def on_batch_begin(self, batch, logs=None):
        """Alias of ``on_train_batch_begin`` (Keras's backwards-compatible name)."""

    @default
    def on_batch_end(self, batch, logs=None):
        """Alias of ``on_train_batch_end`` (Keras's backwards-compatible name)."""

    @default
    def on_epoch_begin(self, epoch, logs=None):
        """At the start of an epoch of ``fit``."""

    @default
    def on_epoch_end(self, epoch, logs=None):
        """At the end of an epoch: ``logs`` holds the epoch's metrics and ``val_*`` ones."""

    @default
    def on_train_batch_begin(self, batch, logs=None):
        """Before a training batch (once per ``steps_per_execution`` batches)."""
        self.on_batch_begin(batch, logs=logs)

    @default
    def on_train_batch_end(self, batch, logs=None):
        """After a training batch: ``logs`` holds the metrics aggregated over the epoch so far."""
        self.on_batch_end(batch, logs=logs)

    @default
    def on_test_batch_begin(self, batch, logs=None):
        """Before a batch of ``evaluate`` or of the validation inside ``fit``."""

    @default
    def on_test_batch_end(self, batch, logs=None):
        """After a batch of ``evaluate`` or of the validation inside ``fit``."""

    @default
    def on_predict_batch_begin(self, batch, logs=None):
        """Before a batch of ``predict``."""

    @default
    def on_predict_batch_end(self, batch, logs=None):
        """After a batch of ``predict``: ``logs`` is ``{"outputs": ...}``."""

    @default
    def on_train_begin(self, logs=None):
        """At the start of ``fit``."""

    @default
    def on_train_end(self, logs=None):
        """At the end of ``fit``: ``logs`` holds the last epoch's logs."""

    @default
    def on_test_begin(self, logs=None):
        """At the start of ``evaluate`` or of a validation inside ``fit``."""

    @default
    def on_test_end(self, logs=None):
        """At the end of ``evaluate`` or of a validation: ``logs`` holds its metrics."""

    @default
    def on_predict_begin(self, logs=None):
        """At the start of ``predict``."""

    @default
    def on_predict_end(self, logs=None):
        """At the end of ``predict``."""


# Every hook's name, for CallbackList and LambdaCallback.
HOOKS = [name for name in vars(Callback) if name.startswith("on_")]
