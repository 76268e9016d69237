"""Helpers for tests that run one program twice, on plait and on Keras 3 (torch backend), with
the same weights and inputs, and compare what comes out."""

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")


def keras_or_skip():
    """Keras 3 on its torch backend, or skip the calling test module."""
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("Keras was imported with another backend", allow_module_level=True)
    return keras


def to_numpy(x):
    """A plait tensor, a Keras tensor or variable, or an array, as a numpy array."""
    if hasattr(x, "keras_shape") or not isinstance(x, torch.Tensor) and hasattr(x, "numpy"):
        return np.asarray(x.numpy())  # a plait weight (in Keras's layout) or a Keras variable
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def copy_weights(source, target):
    """Give ``target`` (a built model or layer of the other library) ``source``'s weights, in
    Keras's order and shapes, which both libraries read and write."""
    target.set_weights([to_numpy(w) for w in source.get_weights()])


def assert_close(ours, theirs, rtol=1e-5, atol=1e-6):
    """Element-wise closeness of two (possibly nested list/tuple/dict) results."""
    if isinstance(ours, dict):
        assert sorted(ours) == sorted(theirs)
        for key in ours:
            assert_close(ours[key], theirs[key], rtol, atol)
    elif isinstance(ours, (list, tuple)):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert_close(a, b, rtol, atol)
    else:
        np.testing.assert_allclose(to_numpy(ours), to_numpy(theirs), rtol=rtol, atol=atol)


def layer_table(model):
    """Per layer: its name's kind (the class), output shape and parameter count, as summary()
    shows them."""
    return [(type(layer).__name__, tuple(layer.output.shape), layer.count_params()) for layer in model.layers]


def copy_weights_by_layer(source, target):
    """Like :func:`copy_weights`, layer by layer: each of ``source``'s layers with weights gives
    them to the first unused layer of ``target`` of the same class and weight shapes (for models
    whose weight lists the two libraries order differently, e.g. dict outputs, which Keras sorts)."""

    def signature(layer):
        return type(layer).__name__, [to_numpy(w).shape for w in layer.get_weights()]

    free = [layer for layer in target.layers if layer.get_weights()]
    for layer in source.layers:
        if layer.get_weights():
            match = next(other for other in free if signature(other) == signature(layer))
            free.remove(match)
            match.set_weights([to_numpy(w) for w in layer.get_weights()])
    assert not free, f"layers of {target.name} left without weights: {[layer.name for layer in free]}"
