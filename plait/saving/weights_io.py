"""Weights to and from safetensors files, written atomically.

The file maps each weight's path (``layers.dense.kernel``, the ``state_dict`` key) to its tensor
in plait's storage layout. A write goes to a temporary file in the same folder, is flushed to
disk, and then renamed over the target: a crash mid-save leaves the previous file intact.
"""

import json
import os

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from plait.distribution import collectives, sharding
from plait.utils.file_utils import atomic_write, remove_stale_temporaries  # noqa: F401 (re-exported)


def save_weights(model, path):
    # ``full``: weights sharded under ModelParallel are gathered whole (every process calls this).
    state = {k: sharding.full(v.detach()).contiguous().cpu() for k, v in model.state_dict().items()}
    # safetensors stores entries sorted by name; keep the model's order for positional loading.
    metadata = {"format": "plait-weights", "order": json.dumps(list(state))}
    with collectives.writer() as writes:  # process 0 writes; the others wait until it is complete
        if writes:
            atomic_write(path, lambda tmp: save_file(state, tmp, metadata=metadata))


def load_weights(model, path, skip_mismatch=False):
    """Load a file written by :func:`save_weights` into ``model``.

    Entries match by name when the file's names are the model's; otherwise by position (the
    model's topology, as Keras loads its own weight files), which lets a model rebuilt with other
    automatic names (``dense_3`` instead of ``dense``) load its weights. Shapes must agree;
    ``skip_mismatch=True`` skips entries that do not fit instead of failing.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No weights file at '{path}'.")
    try:
        loaded = load_file(path)
        with safe_open(path, "pt") as f:
            order = json.loads((f.metadata() or {}).get("order", "null")) or sorted(loaded)
        loaded = {k: loaded[k] for k in order}
    except (SafetensorError, OSError, ValueError, KeyError) as error:
        raise ValueError(f"'{path}' is not a readable safetensors weights file: {error}") from None
    ensure = getattr(model, "ensure_graph", None)
    if ensure is not None:
        ensure()
    own = model.state_dict()
    if set(own) == set(loaded):
        pairs = [(k, k) for k in own]
    elif len(own) == len(loaded):
        pairs = list(zip(own, loaded))
    else:
        if not skip_mismatch:
            raise ValueError(
                f"Weights in '{path}' do not fit model '{model.name}': the file has {len(loaded)} "
                f"entries, the model {len(own)}. File: {list(loaded)[:6]}...; model: {list(own)[:6]}..."
            )
        pairs = [(k, k) for k in own if k in loaded]
    problems = [
        f"'{k}': model shape {tuple(own[k].shape)}, file '{f}' shape {tuple(loaded[f].shape)}"
        for k, f in pairs
        if tuple(own[k].shape) != tuple(loaded[f].shape)
    ]
    if problems and not skip_mismatch:
        raise ValueError(f"Weights in '{path}' do not fit model '{model.name}': " + "; ".join(problems))
    with torch.no_grad():
        for k, f in pairs:
            if tuple(own[k].shape) == tuple(loaded[f].shape):
                own[k].copy_(loaded[f])
