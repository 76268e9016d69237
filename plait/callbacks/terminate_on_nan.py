"""``TerminateOnNaN``: stop training when the loss becomes NaN or infinite."""

import math

from plait.callbacks.callback import Callback


class TerminateOnNaN(Callback):
    """Stop training as soon as the loss is NaN or infinite, or a step was skipped for it.

    ``fit`` never applies a step whose loss (or, in a custom ``train_step``, whose gradients)
    is not finite: with this callback it checks every step, and the weights stay those of the
    last finite step. The message names the batch and the output (``model.nonfinite_message``).

    Example:
        >>> import numpy as np, plait
        >>> model = plait.Sequential([plait.Input((2,)), plait.layers.Dense(1)])
        >>> model.compile("sgd", "mse")
        >>> y = np.array([[0.0], [np.nan]], "float32")
        >>> stop = TerminateOnNaN()
        >>> history = model.fit(np.ones((2, 2)), y, batch_size=1, shuffle=False, verbose=0, callbacks=[stop])
        Batch 1: Invalid loss, terminating training. Batch 1: the loss of output(s) ['dense...'] is not finite ...
    """

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        detail = getattr(self.model, "nonfinite_message", None)  # set by fit for a skipped step
        if loss is not None:
            loss = float(loss() if callable(loss) else loss)
        if detail or (loss is not None and (math.isnan(loss) or math.isinf(loss))):
            print(f"Batch {batch}: Invalid loss, terminating training" + (f". {detail}" if detail else ""))
            self.model.stop_training = True
