"""The Keras progress bar: ``8/8 [==============================] - 1s 10ms/step - loss: 0.1234``.

On a terminal (or a notebook) it redraws one line in place with ``\\r``; in a log file, where
carriage returns pile up, it prints only each epoch's final line.
"""

import os
import sys
import time

from plait.utils import settings


def _is_dynamic(stream):
    if "ipykernel" in sys.modules:
        return True
    return hasattr(stream, "isatty") and stream.isatty() or "PLAIT_FORCE_TTY" in os.environ


def format_value(value):
    return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.4e}"


class Progbar:
    """Progress bar for ``target`` steps (None if unknown).

    Args:
        target: total number of steps, or None.
        width: characters of the bar (default 30).
        verbose: 1 for the bar, 2 for one line at the end, 0 for nothing.
        unit_name: the unit shown per step (``step``).
    """

    def __init__(self, target, width=30, verbose=1, unit_name="step", stream=None):
        self.target, self.width, self.verbose, self.unit_name = target, width, verbose, unit_name
        self.stream = stream or sys.stdout
        # plait.config.disable_interactive_logging: plain lines, no in-place redraws.
        self.dynamic = _is_dynamic(self.stream) and settings.get("interactive_logging")
        self.start = time.perf_counter()
        self.last_draw = 0.0
        self.previous_width = 0
        self.seen = 0  # the last step shown

    def close(self):
        """End the line of a bar that was drawn in place but never finalized."""
        if self.dynamic and self.verbose == 1 and self.previous_width:
            self.stream.write("\n")
            self.stream.flush()
            self.previous_width = 0

    def update(self, current, values=None, finalize=None):
        """Show step ``current`` with ``values`` (a dict of floats, or a callable returning one).

        ``values`` may be a callable so that the (device-synchronising) read of the metrics only
        happens when a line is actually drawn.
        """
        self.seen = current
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        if self.verbose == 0 or (self.verbose == 2 and not finalize) or (not self.dynamic and not finalize):
            return
        now = time.perf_counter()
        if not finalize and now - self.last_draw < 0.05:
            return
        self.last_draw = now
        values = values() if callable(values) else (values or {})
        elapsed = now - self.start
        per_step = elapsed / max(current, 1)
        if self.verbose == 2:
            line = f"{current}/{self.target} - {elapsed:.0f}s - {self._per_step(per_step)}"
        else:
            line = self._bar(current)
            if finalize:
                line += f" - {elapsed:.0f}s {self._per_step(per_step)}"
            else:
                eta = per_step * (self.target - current) if self.target else 0
                line += f" - ETA: {eta:.0f}s" if self.target else f" - {elapsed:.0f}s"
        for key, value in values.items():
            line += f" - {key}: {format_value(float(value))}"
        if self.dynamic and self.verbose == 1:
            pad = max(self.previous_width - len(line), 0)
            self.stream.write("\r" + line + " " * pad + ("\n" if finalize else ""))
            self.previous_width = 0 if finalize else len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _bar(self, current):
        if self.target is None:
            return f"{current:7d}/Unknown"
        digits = len(str(self.target))
        done = int(self.width * current / self.target) if self.target else self.width
        bar = "=" * max(done - 1, 0) + (">" if current < self.target else "=") if done > 0 else ""
        return f"{current:{digits}d}/{self.target} [{bar}{'.' * (self.width - len(bar))}]"

    def _per_step(self, seconds):
        if seconds >= 1:
            return f"{seconds:.0f}s/{self.unit_name}"
        if seconds >= 1e-3:
            return f"{seconds * 1e3:.0f}ms/{self.unit_name}"
        return f"{seconds * 1e6:.0f}us/{self.unit_name}"
