"""Weights to and from safetensors files, written atomically.

The file maps each weight's path (``layers.dense.kernel``, the ``state_dict`` key) to its tensor
in plait's storage layout. A write goes to a temporary file in the same folder, is flushed to
disk, and then renamed over the target: a crash mid-save leaves the previous file intact.
"""

import os
import tempfile

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file


def atomic_write(path, write):
    """Call ``write(tmp_path)`` and then move the result to ``path`` in one rename."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(path), dir=folder)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def save_weights(model, path):
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(state, tmp, metadata={"format": "plait-weights"}))


def load_weights(model, path, skip_mismatch=False):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No weights file at '{path}'.")
    try:
        loaded = load_file(path)
    except (SafetensorError, OSError, ValueError) as error:
        raise ValueError(f"'{path}' is not a readable safetensors weights file: {error}") from None
    own = model.state_dict()
    missing = [k for k in own if k not in loaded]
    problems = [f"'{k}': expected shape {tuple(own[k].shape)}, file has {tuple(v.shape)}"
                for k, v in loaded.items() if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if (missing or problems) and not skip_mismatch:
        detail = "; ".join(problems + [f"'{k}' missing from the file" for k in missing])
        raise ValueError(f"Weights in '{path}' do not fit model '{model.name}': {detail}")
    with torch.no_grad():
        for k, v in loaded.items():
            if k in own and tuple(v.shape) == tuple(own[k].shape):
                own[k].copy_(v)
