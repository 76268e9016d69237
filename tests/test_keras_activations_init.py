"""Activations, initializers, regularizers and constraints that Keras 3.15 has, on plait: each
name exists, and gives Keras's numbers on the same inputs."""

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from plait import activations  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

X = torch.linspace(-2.5, 2.5, 24).reshape(4, 6)


def _np(t):
    return keras.ops.convert_to_numpy(t)


@pytest.mark.parametrize("plait_ns", [activations])
def test_every_keras_name_exists(plait_ns):
    keras_ns = getattr(keras, plait_ns.__name__.split(".")[-1])
    assert [n for n in dir(keras_ns) if not n.startswith("_") and not hasattr(plait_ns, n)] == []


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("celu", {}),
        ("celu", {"alpha": 0.7}),
        ("glu", {}),
        ("glu", {"axis": 0}),
        ("hard_shrink", {}),
        ("hard_shrink", {"threshold": 1.2}),
        ("soft_shrink", {"threshold": 0.3}),
        ("hard_tanh", {}),
        ("tanh_shrink", {}),
        ("threshold", {"threshold": 0.4, "default_value": -3.0}),
        ("sparse_plus", {}),
        ("sparse_sigmoid", {}),
        ("squareplus", {}),
        ("squareplus", {"b": 0.5}),
    ],
)
def test_activation_matches_keras(name, kwargs):
    # Tolerance 1e-6: float32 rounding of the same formula.
    ours = getattr(activations, name)(X, **kwargs)
    theirs = getattr(keras.activations, name)(keras.ops.convert_to_tensor(X.numpy()), **kwargs)
    np.testing.assert_allclose(ours.numpy(), _np(theirs), rtol=1e-6, atol=1e-6)
    assert activations.get(name) is getattr(activations, name)


def _simplex_projection(row):
    """Sparsemax by its definition (Martins and Astudillo 2016, Algorithm 1), in numpy."""
    z = np.sort(row)[::-1]
    k = np.arange(1, len(z) + 1)
    support = k[1 + k * z > np.cumsum(z)].max()
    return np.maximum(row - (z[:support].sum() - 1) / support, 0)


@pytest.mark.parametrize("axis", [-1, 0])
def test_sparsemax_is_the_simplex_projection(axis):
    x = torch.randn(5, 7, generator=torch.Generator().manual_seed(1)) * 2
    expected = np.apply_along_axis(_simplex_projection, axis, x.numpy().astype(np.float64))
    ours = activations.sparsemax(x, axis=axis)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours.sum(axis), torch.ones(ours.shape[1 - axis % 2]))  # float32 defaults


def test_sparsemax_matches_keras_where_one_score_leads():
    # Keras 3.15's sparsemax sums the partial sums of the whole support to find its threshold, so
    # it agrees with the definition only when the support is a single entry; plait follows the
    # definition (outputs sum to 1) and equals Keras there. Tolerance 1e-6.
    x = torch.tensor([[3.0, 0.5, -1.0, 0.2], [-2.0, 0.0, 4.0, 1.5]])
    theirs = _np(keras.activations.sparsemax(keras.ops.convert_to_tensor(x.numpy())))
    np.testing.assert_allclose(activations.sparsemax(x).numpy(), theirs, atol=1e-6)


def test_glu_odd_axis_is_a_clear_error():
    with pytest.raises(ValueError, match="must be even"):
        activations.glu(torch.zeros(2, 3))


def test_activation_deserialize_reads_keras_configs():
    for name in ("celu", "sparsemax", "relu"):
        config = keras.activations.serialize(getattr(keras.activations, name))
        assert activations.deserialize(config) is getattr(activations, name)
    assert activations.deserialize("mine", custom_objects={"mine": abs}) is abs
