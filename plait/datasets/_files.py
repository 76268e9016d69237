"""Reading Keras's dataset files safely: ``.npz`` archives whose ragged arrays are pickled, and
the CIFAR batches, which are pickles. Only numpy's array reconstruction may be unpickled, so a
tampered file cannot run code."""

import io
import pickle
import zipfile

import numpy as np

from plait.utils.file_download import get_file

_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _NUMPY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"Refusing to unpickle {module}.{name} from a dataset file.")


def unpickle(stream, encoding="ASCII"):
    """Unpickle ``stream`` allowing only numpy arrays, lists, dicts and scalars."""
    return _NumpyOnlyUnpickler(stream, encoding=encoding).load()


def _read_npy(stream):
    try:
        return np.lib.format.read_array(stream, allow_pickle=False)
    except ValueError:  # an object array: its payload is a pickle
        stream.seek(0)
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            np.lib.format.read_array_header_1_0(stream)
        else:
            np.lib.format.read_array_header_2_0(stream)
        return unpickle(stream, encoding="latin1")


def load_npz(path):
    """The arrays of an ``.npz`` file by name (object arrays unpickled with numpy only)."""
    with zipfile.ZipFile(path) as archive:
        return {
            name.removesuffix(".npy"): _read_npy(io.BytesIO(archive.read(name)))
            for name in archive.namelist()
            if name.endswith(".npy")
        }


def fetch(path, origin, file_hash, **kwargs):
    """The cached local copy of a dataset file (downloaded on first use)."""
    return get_file(fname=path, origin=origin, file_hash=file_hash, **kwargs)


def split(x, y, test_split, seed):
    """Shuffle with ``RandomState(seed)`` and cut at ``1 - test_split``, as Keras's datasets."""
    order = np.arange(len(x))
    np.random.RandomState(seed).shuffle(order)
    x, y = x[order], y[order]
    cut = int(len(x) * (1 - test_split))
    return (np.array(x[:cut]), np.array(y[:cut])), (np.array(x[cut:]), np.array(y[cut:]))
