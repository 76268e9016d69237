"""Says what is happening while a demo imports torch and plait, which takes a few seconds
(longer on a fresh clone, where Python first compiles plait's modules, or on a busy machine).

Imported first by ``seed_demo.py``: when that file is the program being run, a thread prints a
line every 5 seconds until :func:`done` is called. Imported by anything else (the tests import
the demo's model builders), it does nothing.
"""

import sys
import threading
import time

_done = threading.Event()


def _report(start):
    while not _done.wait(5.0):
        print(f"    ... still importing torch and plait ({time.perf_counter() - start:.0f} s)", flush=True)


def done():
    """Stop the import reports (the demo is about to print its own lines)."""
    _done.set()


if getattr(sys.modules.get("__main__"), "__file__", "").endswith("seed_demo.py"):
    print("Importing torch and plait ...", flush=True)
    threading.Thread(target=_report, args=(time.perf_counter(),), daemon=True).start()
