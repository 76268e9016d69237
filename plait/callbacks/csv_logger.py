"""``CSVLogger``: stream each epoch's logs to a CSV file."""

import csv
import io
import os

from plait.callbacks.callback import Callback
from plait.distribution import collectives


class CSVLogger(Callback):
    """Stream each epoch's logs to a CSV file (``append=True`` continues an existing file)."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, append

    def on_train_begin(self, logs=None):
        exists = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        # Under a distribution process 0 writes the file; the others write to memory.
        writes = collectives.is_writer()
        self.file = open(self.filename, "a" if self.append else "w", newline="") if writes else io.StringIO()
        self.writer, self.keys, self.header_written = None, None, exists

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            self.writer = csv.DictWriter(self.file, fieldnames=["epoch"] + self.keys, delimiter=self.sep)
            if not self.header_written:
                self.writer.writeheader()
        self.writer.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in self.keys}})
        self.file.flush()

    def on_train_end(self, logs=None):
        self.file.close()
