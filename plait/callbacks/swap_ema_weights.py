"""``SwapEMAWeights``: evaluate (and optionally save) with the optimizer's moving average."""

import torch

from plait.callbacks.callback import Callback


def _ema_optimizers(model):
    """The optimizers of ``model`` that keep an EMA (inside a loss-scale or multi optimizer too);
    raises as Keras does when none keeps one."""
    optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)
    inner = getattr(optimizer, "optimizers", None)
    if inner is not None:
        chosen = [opt for opt in inner if getattr(opt, "use_ema", False)]
        if not chosen:
            raise ValueError(
                "SwapEMAWeights must be used when at least one inner optimizer has `use_ema=True` set. "
                "Received a MultiOptimizer with all inner optimizers having `use_ema=False`."
            )
        return chosen
    if not getattr(optimizer, "use_ema", False):
        raise ValueError(
            "SwapEMAWeights must be used when `use_ema=True` is set on the optimizer. "
            f"Received: use_ema={getattr(optimizer, 'use_ema', False)}"
        )
    return [optimizer]


class SwapEMAWeights(Callback):
    """Swap the model's weights with the optimizer's exponential moving average (``use_ema=True``)
    for evaluation and prediction, and back afterwards (Keras's callback; in place).

    Args:
        swap_on_epoch: also hold the averages in the model from the end of each epoch to the
            start of the next, so that callbacks after this one (``ModelCheckpoint``) see them.
            After the last epoch the averages are set to the weights, so that ``fit``'s end
            (which writes the averages into the weights) keeps them.

    As in Keras, ``predict`` leaves the averages in the model (its end does not swap back) until
    the next evaluation's end.

    Example:
        >>> import numpy as np, plait
        >>> model = plait.Sequential([plait.Input((2,)), plait.layers.Dense(1)])
        >>> model.compile(plait.optimizers.SGD(use_ema=True), "mse")
        >>> x, y = np.ones((4, 2)), np.ones((4, 1))
        >>> history = model.fit(x, y, validation_data=(x, y), callbacks=[SwapEMAWeights()], verbose=0)
    """

    def __init__(self, swap_on_epoch=False):
        super().__init__()
        self.swap_on_epoch = swap_on_epoch
        self._ema_weights_in_model = False

    @torch.no_grad()
    def _swap(self):
        for optimizer in _ema_optimizers(self.model):
            average = optimizer.moving_averages
            if average is None:
                continue  # not built yet: nothing averaged
            kept = torch._foreach_mul(optimizer.params, 1.0)  # copies
            torch._foreach_copy_(optimizer.params, average)
            torch._foreach_copy_(average, kept)

    @torch.no_grad()
    def _averages_from_weights(self):
        for optimizer in _ema_optimizers(self.model):
            if optimizer.moving_averages is not None:
                torch._foreach_copy_(optimizer.moving_averages, optimizer.params)

    def _to_averages(self):
        if not self._ema_weights_in_model:
            self._swap()
            self._ema_weights_in_model = True

    def _to_weights(self):
        if self._ema_weights_in_model:
            self._swap()
            self._ema_weights_in_model = False

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch:
            self._to_weights()

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch and not self._ema_weights_in_model:
            self._to_averages()
            if epoch == self.params["epochs"] - 1:
                # fit's end writes the averages into the weights: make them the averages held now.
                self._averages_from_weights()

    def on_test_begin(self, logs=None):
        self._to_averages()

    def on_test_end(self, logs=None):
        self._to_weights()

    def on_predict_begin(self, logs=None):
        self._to_averages()

    def on_predict_end(self, logs=None):
        # Keras's test here is inverted (it swaps only when the averages are not in the model,
        # which never holds after on_predict_begin): kept, so that programs give Keras's numbers.
        if not self._ema_weights_in_model:
            self._swap()
            self._ema_weights_in_model = False
