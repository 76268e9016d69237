"""``TerminateOnNaN``: stop training when the loss becomes NaN or infinite."""

import math

from plait.callbacks.callback import Callback


class TerminateOnNaN(Callback):
    """Stop training as soon as the loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None:
            loss = float(loss() if callable(loss) else loss)
            if math.isnan(loss) or math.isinf(loss):
                print(f"Batch {batch}: Invalid loss, terminating training")
                self.model.stop_training = True
