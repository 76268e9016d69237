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
                # The trainer names the output and skipped the update (``model.nonfinite_message``).
                detail = getattr(self.model, "nonfinite_message", None)
                print(f"Batch {batch}: Invalid loss, terminating training" + (f". {detail}" if detail else ""))
                self.model.stop_training = True
