"""Activations, initializers, regularizers and constraints that Keras 3.15 has, on plait: each
name exists, and gives Keras's numbers on the same inputs."""

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import plait  # noqa: E402
from plait import activations, constraints, initializers, regularizers  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

X = torch.linspace(-2.5, 2.5, 24).reshape(4, 6)


def _np(t):
    return keras.ops.convert_to_numpy(t)


@pytest.mark.parametrize("plait_ns", [activations, initializers, regularizers, constraints])
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


W = torch.tensor([[0.3, -1.2, 0.8], [0.5, 0.1, -0.4], [2.0, 0.7, 0.0], [-0.6, 0.9, 1.1]])


@pytest.mark.parametrize("mode", ["rows", "columns"])
def test_orthogonal_regularizer_matches_keras(mode):
    ours = regularizers.orthogonal_regularizer(0.3, mode=mode)
    theirs = keras.regularizers.OrthogonalRegularizer(0.3, mode=mode)
    # Tolerance 1e-6: float32 rounding.
    np.testing.assert_allclose(float(ours(W)), float(_np(theirs(keras.ops.convert_to_tensor(W.numpy())))), rtol=1e-6)
    assert ours.get_config() == pytest.approx(theirs.get_config())


def test_orthogonal_regularizer_bad_input():
    with pytest.raises(ValueError, match="rank-2"):
        regularizers.OrthogonalRegularizer()(torch.zeros(2, 2, 2))
    with pytest.raises(ValueError, match="mode"):
        regularizers.OrthogonalRegularizer(mode="diagonal")


@pytest.mark.parametrize(
    "keras_obj",
    [
        keras.regularizers.OrthogonalRegularizer(0.05, "columns"),
        keras.regularizers.L1L2(0.1, 0.2),
        keras.regularizers.L2(0.003),
    ],
    ids=repr,
)
def test_regularizer_configs_round_trip_with_keras(keras_obj):
    ours = regularizers.deserialize(keras.regularizers.serialize(keras_obj))
    assert type(ours).__name__ == type(keras_obj).__name__
    np.testing.assert_allclose(float(ours(W)), float(_np(keras_obj(keras.ops.convert_to_tensor(W.numpy())))), rtol=1e-6)
    back = keras.regularizers.deserialize(regularizers.serialize(ours))
    assert back.get_config() == pytest.approx(keras_obj.get_config())


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("max_norm", {"max_value": 1.5}),
        ("min_max_norm", {"min_value": 0.5, "max_value": 1.0}),
        ("unit_norm", {}),
        ("non_neg", {}),
    ],
)
def test_lowercase_constraints_match_keras(name, kwargs):
    ours, theirs = getattr(constraints, name)(**kwargs), getattr(keras.constraints, name)(**kwargs)
    assert type(ours).__name__ == type(theirs).__name__
    # Tolerance 1e-6: float32 rounding.
    np.testing.assert_allclose(
        ours(W).numpy(), _np(theirs(keras.ops.convert_to_tensor(W.numpy()))), rtol=1e-6, atol=1e-7
    )
    rebuilt = constraints.deserialize(keras.constraints.serialize(theirs))
    assert rebuilt.get_config() == pytest.approx(theirs.get_config())
    assert keras.constraints.deserialize(constraints.serialize(ours)).get_config() == pytest.approx(theirs.get_config())
    assert type(constraints.deserialize(name)).__name__ == type(theirs).__name__


def test_deserialize_with_custom_objects():
    class Halve(constraints.Constraint):
        def __call__(self, w):
            return w / 2

    assert isinstance(constraints.deserialize({"class_name": "Halve", "config": {}}, {"Halve": Halve}), Halve)


def _keras_init(name, kwargs, shape, dtype="float32"):
    return _np(getattr(keras.initializers, name)(**kwargs)(shape, dtype=dtype))


@pytest.mark.parametrize(
    "name, kwargs, shape",
    [
        ("zeros", {}, (2, 3)),
        ("ones", {}, (4,)),
        ("constant", {"value": 1.5}, (2, 2)),
        ("constant", {"value": np.array([1.0, -2.0, 3.0])}, (2, 3)),
        ("Constant", {"value": [[1.0], [2.0]]}, (2, 4)),
        ("identity", {"gain": 2.0}, (3, 5)),
        ("IdentityInitializer", {}, (4, 4)),
        ("stft", {}, (16, 1, 9)),
        ("STFT", {"side": "imag", "window": "hamming", "scaling": "spectrum", "periodic": True}, (12, 1, 5)),
        ("STFTInitializer", {"window": "blackman", "scaling": None}, (8, 1, 5)),
        ("STFT", {"window": "bartlett", "periodic": True}, (10, 1, 6)),
        ("STFT", {"window": "boxcar"}, (6, 1, 4)),
        ("STFT", {"window": None, "side": "imag"}, (6, 1, 4)),
        ("STFT", {"window": np.linspace(0.1, 1.0, 6)}, (6, 1, 4)),
    ],
)
def test_deterministic_initializers_match_keras(name, kwargs, shape):
    ours = getattr(initializers, name)(**kwargs)(shape, dtype="float32")
    assert ours.dtype == torch.float32
    # Tolerance 1e-6: float32 rounding of the same formula.
    np.testing.assert_allclose(ours.numpy(), _keras_init(name, kwargs, shape), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("random_uniform", {"minval": -0.3, "maxval": 0.7}),
        ("random_normal", {"mean": 1.0, "stddev": 0.2}),
        ("truncated_normal", {"mean": 5.0, "stddev": 0.5}),
        ("glorot_uniform", {}),
        ("glorot_normal", {}),
        ("he_uniform", {}),
        ("he_normal", {}),
        ("lecun_uniform", {}),
        ("lecun_normal", {}),
        ("variance_scaling", {"scale": 3.0, "mode": "fan_out", "distribution": "untruncated_normal"}),
        ("orthogonal", {"gain": 1.5}),
        ("OrthogonalInitializer", {}),
    ],
)
def test_random_initializers_have_keras_distribution(name, kwargs):
    # Different generators draw different numbers; the distributions must agree. With 60k
    # samples, mean, std, min and max agree to within 0.03 of the scale (several standard errors).
    shape = (200, 300)
    ours = getattr(initializers, name)(**kwargs, seed=3)(shape, dtype="float32").numpy()
    theirs = _keras_init(name, {**kwargs, "seed": 3}, shape)
    scale = theirs.std()
    for stat in (np.mean, np.std, np.min, np.max):
        assert abs(stat(ours) - stat(theirs)) < 0.03 * scale + 1e-6, (stat.__name__, stat(ours), stat(theirs))
    if "orthogonal" in name.lower():
        gain = kwargs.get("gain", 1.0)
        np.testing.assert_allclose(ours @ ours.T, gain**2 * np.eye(200), atol=1e-4)


def test_truncated_normal_truncates_around_its_mean():
    values = initializers.TruncatedNormal(mean=5.0, stddev=0.5, seed=1)((10000,))
    assert values.min() >= 4.0 and values.max() <= 6.0
    assert abs(float(values.mean()) - 5.0) < 0.02


def test_unseeded_initializers_repeat_their_values_as_keras_documents():
    # Keras: "an initializer seeded with an integer or None (unseeded) will produce the same
    # random values across multiple calls"; two instances differ; the global seed decides.
    for cls in (initializers.RandomNormal, initializers.GlorotUniform, initializers.Orthogonal):
        init = cls()
        torch.testing.assert_close(init((4, 3)), init((4, 3)), rtol=0, atol=0)
        assert not torch.equal(init((4, 3)), cls()((4, 3)))
        assert init.get_config()["seed"] is None
        keras_init = getattr(keras.initializers, cls.__name__)()
        np.testing.assert_array_equal(_np(keras_init((4, 3))), _np(keras_init((4, 3))))
    # A layer that makes several weights with one initializer gives each its own values.
    mha = plait.layers.MultiHeadAttention(2, 4, kernel_initializer=initializers.GlorotUniform())
    mha(torch.zeros(1, 3, 8), torch.zeros(1, 3, 8))
    assert not torch.equal(mha.query_kernel, mha.key_kernel)
    plait.utils.set_random_seed(7)
    first = initializers.HeNormal()((3, 3))
    plait.utils.set_random_seed(7)
    torch.testing.assert_close(initializers.HeNormal()((3, 3)), first, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", ["float16", "float64", "bfloat16", torch.float64, np.float32])
def test_initializers_take_dtype_names(dtype):
    expected = plait.graph.node.torch_dtype(dtype)
    for init in (initializers.GlorotUniform(1), initializers.Zeros(), initializers.Constant([1.0, 2.0])):
        assert init([3, 2], dtype=dtype).dtype == expected
    assert initializers.Zeros()((2,), dtype="int32").dtype == torch.int32


def test_initializer_bad_input():
    with pytest.raises(ValueError, match="does not broadcast"):
        initializers.Constant([1.0, 2.0, 3.0])((2, 2))
    with pytest.raises(ValueError, match="unknown window"):
        initializers.STFT(window="no_such_window")
    with pytest.raises(ValueError, match="seed"):
        initializers.RandomNormal(seed="7")


@pytest.mark.parametrize(
    "keras_obj",
    [
        keras.initializers.Constant(np.array([1.0, 2.0])),
        keras.initializers.Constant(0.3),
        keras.initializers.TruncatedNormal(mean=2.0, stddev=0.1, seed=4),
        keras.initializers.GlorotUniform(seed=5),
        keras.initializers.VarianceScaling(2.0, "fan_avg", "uniform", seed=1),
        keras.initializers.Orthogonal(gain=0.5, seed=2),
        keras.initializers.Identity(),  # Keras 3.15 leaves `gain` out of its config; plait keeps it
        keras.initializers.STFT(side="imag", window="hamming", scaling="spectrum", periodic=True),
    ],
    ids=lambda obj: type(obj).__name__,
)
def test_initializer_configs_round_trip_with_keras(keras_obj):
    ours = initializers.deserialize(keras.initializers.serialize(keras_obj))
    assert type(ours).__name__ == type(keras_obj).__name__
    back = keras.initializers.deserialize(initializers.serialize(ours))
    expected = {k: v for k, v in keras_obj.get_config().items() if v is not None or k == "seed"}
    got = {k: v for k, v in back.get_config().items() if k in expected}
    assert repr(got) == repr(expected)
    if not hasattr(keras_obj, "seed"):  # the deterministic ones give the same numbers
        shape = (8, 1, 5) if isinstance(keras_obj, keras.initializers.STFT) else (2, 2)
        np.testing.assert_allclose(ours(shape).numpy(), _np(keras_obj(shape)), rtol=1e-6, atol=1e-6)


def test_a_class_given_as_initializer_is_made_as_in_keras():
    layer = plait.layers.Dense(3, kernel_initializer=initializers.he_normal, bias_initializer=initializers.ones)
    layer.build((None, 4))
    np.testing.assert_array_equal(layer.get_weights()[1], np.ones(3, np.float32))
    assert isinstance(initializers.get(initializers.zeros), initializers.Zeros)
    assert initializers.deserialize(initializers.serialize(initializers.Identity(gain=3.0))).gain == 3.0
