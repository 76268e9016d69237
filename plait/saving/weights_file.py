"""``save_weights`` / ``load_weights`` by file name, checked against the file's content.

* ``*.weights.h5`` (any ``.h5``): Keras 3's HDF5 layout (:mod:`plait.saving.keras_writer`), so
  Keras's ``model.load_weights`` reads what plait writes and the other way round; a tf-keras 2
  ``.h5`` weights file loads too.
* ``*.keras``: loading takes the weights out of a Keras model file.
* anything else (``*.safetensors``): plait's safetensors weights (:mod:`plait.saving.weights_io`).

A file whose content is not what its name says (safetensors bytes in a ``.weights.h5``, a zip
in a ``.safetensors``) is a ``ValueError`` naming the file and what it holds.
"""

import os
import struct
import zipfile

from plait.distribution import collectives
from plait.saving import weights_io

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def file_kind(filepath):
    """What a file holds, from its first bytes: ``"hdf5"``, ``"zip"``, ``"safetensors"`` or ``"unknown"``."""
    with open(filepath, "rb") as f:
        head = f.read(9)
    size = os.path.getsize(filepath)
    if head[:8] == _HDF5_SIGNATURE:
        return "hdf5"
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if len(head) == 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] <= size - 8:
        return "safetensors"
    return "unknown"


_DESCRIPTIONS = {
    "hdf5": "an HDF5 file (Keras .weights.h5 / .h5)",
    "zip": "a zip archive (a .keras or .plait model file)",
    "safetensors": "safetensors weights (plait's save_weights format)",
    "unknown": "neither HDF5, a zip nor safetensors (empty, truncated or another format)",
}


def _expected_kind(filepath):
    name = os.fspath(filepath)
    return "hdf5" if name.endswith(".h5") else "zip" if name.endswith(".keras") else "safetensors"


def _check_kind(filepath):
    kind, expected = file_kind(filepath), _expected_kind(filepath)
    if kind != expected:
        raise ValueError(
            f"'{filepath}' should hold {_DESCRIPTIONS[expected]} by its name, but it holds {_DESCRIPTIONS[kind]}."
        )
    return kind


def save_weights(model, filepath, overwrite=True):
    """Write ``model``'s weights: Keras's HDF5 layout for ``.h5`` names, else safetensors."""
    filepath = os.fspath(filepath)
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"'{filepath}' exists and overwrite=False.")
    if filepath.endswith(".keras"):
        raise ValueError(f"'{filepath}': a .keras file holds a whole model; use model.save() for it.")
    if filepath.endswith(".h5"):
        from plait.saving.keras_writer import save_keras_weights

        with collectives.writer() as writes:  # under DataParallel: process 0 writes, all wait
            return save_keras_weights(model, filepath) if writes else None
    weights_io.save_weights(model, filepath)


def load_weights(model, filepath, skip_mismatch=False):
    """Read weights written by :func:`save_weights`, by Keras (``.weights.h5``, ``.keras``) or by
    tf-keras 2 (``.h5``) into ``model``; ``skip_mismatch=True`` skips (with a warning for Keras
    files) the layers whose weights do not fit."""
    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No weights file at '{filepath}'.")
    kind = _check_kind(filepath)
    from plait.saving import keras_file

    if kind == "hdf5":
        return keras_file.load_keras_weights_file(model, filepath, skip_mismatch)
    if kind == "zip":
        try:
            with zipfile.ZipFile(filepath) as archive:
                if "model.weights.h5" not in archive.namelist():
                    raise ValueError(f"'{filepath}' has no model.weights.h5; it is not a Keras .keras file.")
                data = keras_file.read_member(archive, "model.weights.h5", filepath)
        except zipfile.BadZipFile as error:
            raise ValueError(f"'{filepath}' is not a readable zip file: {error}") from None
        return keras_file.load_keras_weights_bytes(model, data, filepath, skip_mismatch)
    weights_io.load_weights(model, filepath, skip_mismatch)


__all__ = ["file_kind", "load_weights", "save_weights"]
