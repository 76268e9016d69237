"""The two regression tables, Boston and California housing (``x`` and ``y`` in an ``.npz``)."""

from plait.datasets import _files


def load(path, origin, file_hash, test_split, seed, rows=None):
    if not 0 <= test_split < 1:
        raise ValueError(f"`test_split` must be in [0, 1). Received: test_split={test_split!r}")
    arrays = _files.load_npz(_files.fetch(path, origin, file_hash))
    x, y = arrays["x"][:rows], arrays["y"][:rows]
    return _files.split(x, y, test_split, seed)
