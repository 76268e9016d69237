"""``ProgbarLogger``: the epoch header and progress bar that ``fit`` prints."""

from plait.callbacks.callback import Callback
from plait.utils.progbar import Progbar


class ProgbarLogger(Callback):
    """Prints ``Epoch i/n`` and the progress bar (added by fit for ``verbose`` 1 or 2)."""

    def __init__(self, verbose=1):
        super().__init__()
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        print(f"Epoch {epoch + 1}/{self.params['epochs']}")
        self.bar = Progbar(self.params.get("steps"), verbose=self.verbose)

    def on_epoch_end(self, epoch, logs=None):
        # fit sets bar_step; in a hand-written loop the bar ends at the epoch's steps
        self.bar.update(getattr(self, "bar_step", None) or self.params.get("steps") or 0, logs, finalize=True)

    def close(self):
        """End a bar left mid-line (an exception stopped the epoch)."""
        bar = getattr(self, "bar", None)
        if bar is not None:
            bar.close()

    def update(self, step, values):
        self.bar_step = step
        self.bar.update(step, values, finalize=False)
