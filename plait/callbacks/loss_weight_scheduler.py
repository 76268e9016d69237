"""``LossWeightScheduler``: change a multi-output model's loss weights between epochs."""

from plait.callbacks.callback import Callback


class LossWeightScheduler(Callback):
    """Set a multi-output model's loss weights at each epoch start to ``schedule(epoch, weights)``.

    Args:
        schedule: ``(epoch, {output: weight}) -> {output: weight}`` (or a list in output order);
            outputs left out keep their weight.
        verbose: 1 prints the new weights.

    The model must be compiled with fixed ``loss_weights``; the new weights take effect at the
    next step without recompiling (also under ``jit_compile=True``), and History records them
    as ``<output>_loss_weight``.

    Example:
        >>> warm_up = LossWeightScheduler(lambda epoch, w: {**w, "age": min(1.0, 0.1 * (epoch + 1))})
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        weights = self.model.loss_weights
        if weights is None:
            raise RuntimeError("LossWeightScheduler needs a compiled model.")
        new = self.schedule(epoch, dict(weights.items()))
        if not isinstance(new, (dict, list, tuple)):
            raise ValueError(f"The schedule of LossWeightScheduler must return a dict or list of weights. Got: {new!r}")
        weights.update(new)
        if self.verbose:
            print(f"\nEpoch {epoch + 1}: LossWeightScheduler setting loss weights to {dict(weights.items())}.")
