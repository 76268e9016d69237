"""GPTQ and AWQ (``model.quantize("gptq" | "awq", config=...)``) against Keras 3.15 itself.

The algorithms are compared on the same inputs: the configs' checks and config dicts, the
calibration windows, the Hessian and activation statistics, the quantized matrices (GPTQ's
integers, scales, zero points and g_idx are identical to Keras's; AWQ's to float32 rounding),
then whole models quantized by both libraries from the same weights and calibration data,
their outputs, and ``.keras`` files going both ways.
"""

import contextlib
import os
import warnings

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import pytest
import torch
from keras.src.quantizers import awq as keras_awq
from keras.src.quantizers import awq_core as keras_awq_core
from keras.src.quantizers import gptq as keras_gptq
from keras.src.quantizers import gptq_core as keras_gptq_core
from keras.src.quantizers import quantizers as keras_quantizers

from plait.quantizers.awq import ActivationMaxima, awq_quantize_matrix
from plait.quantizers.awq_config import AWQConfig
from plait.quantizers.calibration import WINDOW_SEED, calibration_windows
from plait.quantizers.gptq import HessianEstimate, damped_hessian, gptq_quantize_matrix, inverse_hessian_factor
from plait.quantizers.gptq_config import GPTQConfig
from plait.quantizers.quantizers import unpack_int4

# Keras (on torch) converts its own variables through a numpy path that warns; not plait's code.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

RNG = np.random.default_rng(22)


def _numpy(value):
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)


# ---------------------------------------------------------------------------- configs
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"weight_bits": 8, "group_size": -1, "symmetric": True, "activation_order": True, "per_channel": False},
     {"num_samples": 3, "sequence_length": 7, "hessian_damping": 0.5}],
)  # fmt: skip
def test_gptq_config_matches_keras(kwargs):
    ours = GPTQConfig(dataset=["a"], tokenizer=object(), **kwargs)
    theirs = keras.quantizers.GPTQConfig(dataset=["a"], tokenizer=object(), **kwargs)
    assert ours.get_config() == theirs.get_config()
    assert ours.dtype_policy_string() == theirs.dtype_policy_string() and ours.mode == "gptq"
    again = GPTQConfig.from_config(theirs.get_config())
    assert again.get_config() == ours.get_config() and again.dataset is None


@pytest.mark.parametrize("kwargs", [{}, {"group_size": -1, "num_grid_points": 5, "num_samples": 2}])
def test_awq_config_matches_keras(kwargs):
    ours = AWQConfig(dataset=["a"], tokenizer=object(), **kwargs)
    theirs = keras.quantizers.AWQConfig(dataset=["a"], tokenizer=object(), **kwargs)
    assert ours.get_config() == theirs.get_config()
    assert ours.dtype_policy_string() == theirs.dtype_policy_string() and ours.mode == "awq"
    assert AWQConfig.from_config(theirs.get_config()).get_config() == ours.get_config()


@pytest.mark.parametrize(
    "cls, kwargs, match",
    [
        (GPTQConfig, {"weight_bits": 5}, "weight_bits must be 2, 3, 4 or 8. Received: weight_bits=5"),
        (GPTQConfig, {"num_samples": 0}, "num_samples must be a positive integer"),
        (GPTQConfig, {"sequence_length": -1}, "sequence_length must be a positive integer"),
        (GPTQConfig, {"hessian_damping": 1.5}, r"hessian_damping must be in \[0, 1\]"),
        (GPTQConfig, {"group_size": 0}, "group_size must be -1"),
        (AWQConfig, {"weight_bits": 8}, "AWQ supports 4-bit weights only"),
        (AWQConfig, {"group_size": -2}, "group_size must be -1"),
        (AWQConfig, {"num_grid_points": 0}, "num_grid_points must be a positive integer"),
    ],
)
def test_configs_refuse_bad_arguments(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(dataset=["a"], tokenizer=None, **kwargs)
    keras_cls = getattr(keras.quantizers, cls.__name__)
    with pytest.raises(ValueError):  # Keras refuses the same arguments
        keras_cls(dataset=["a"], tokenizer=None, **kwargs)


# ---------------------------------------------------------------------------- calibration data
def _fixed_keras_windows(monkeypatch):
    """Keras's calibration windows start where plait's do (its module's ``hash`` fixed)."""
    monkeypatch.setattr(keras_gptq_core, "hash", lambda value: WINDOW_SEED, raising=False)


@contextlib.contextmanager
def _keras_windows_fixed():
    """:func:`_fixed_keras_windows` for a ``with`` block."""
    keras_gptq_core.hash = lambda value: WINDOW_SEED
    try:
        yield
    finally:
        del keras_gptq_core.hash


def test_calibration_windows_are_the_same_every_run():
    import subprocess
    import sys

    code = (
        "from plait.quantizers.calibration import calibration_windows as w\n"
        "print(w([list(range(97))], None, 5, 4).ravel().tolist())"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": seed}
        ).stdout
        for seed in ("1", "2")
    }
    assert len(runs) == 1 and runs.pop().startswith("[")


class _CharTokenizer:
    def tokenize(self, text):
        return np.array([[ord(c) % 50 for c in text]], dtype="int32")


@pytest.mark.parametrize(
    "dataset, length, samples",
    [
        ([RNG.integers(0, 50, size=300)], 16, 5),
        ([RNG.integers(0, 50, size=(2, 9)), RNG.integers(0, 50, size=7)], 8, 6),  # repeated to fill
        (RNG.integers(0, 50, size=(4, 10)), 10, 1),
        (["some calibration text", "and a second document"], 6, 4),
    ],
)
def test_calibration_windows_match_keras(dataset, length, samples, monkeypatch):
    """Keras's windows when Keras's salted ``hash`` gives plait's fixed first start (Keras 3.15
    draws it from Python's per-process string hash)."""
    _fixed_keras_windows(monkeypatch)
    tokenizer = _CharTokenizer()
    ours = calibration_windows(dataset, tokenizer, length, samples)
    theirs = keras_gptq_core.get_dataloader(tokenizer, length, dataset, num_samples=samples)
    assert ours.dtype == np.int32 and ours.shape == (samples, 1, length)
    np.testing.assert_array_equal(ours, theirs)


def test_calibration_windows_refuse_bad_data():
    with pytest.raises(TypeError, match="must be an iterable of strings or of token-id arrays"):
        calibration_windows("text", None, 4, 2)
    with pytest.raises(ValueError, match="dataset` is empty"):
        calibration_windows([], None, 4, 2)
    with pytest.raises(TypeError, match="needs a tokenizer with a `tokenize` method"):
        calibration_windows(["text"], None, 4, 2)
    with pytest.raises(ValueError, match="Not enough tokens"):
        calibration_windows([[]], None, 4, 2)


# ---------------------------------------------------------------------------- GPTQ on a matrix
def _keras_gptq_layer(kernel, batches, **config):
    layer = keras.layers.Dense(kernel.shape[1])
    layer.build((None, kernel.shape[0]))
    layer.kernel.assign(kernel)
    keras_config = keras.quantizers.GPTQConfig(dataset=None, tokenizer=None, **config)
    layer.quantize("gptq", config=keras_config)
    gptq = keras_gptq.GPTQ(layer, keras_config)
    for batch in batches:
        gptq.update_hessian_with_batch(torch.as_tensor(batch))
    hessian = _numpy(gptq.hessian)
    gptq.quantize_and_correct_layer()
    return layer, hessian


# Keras 3.15 recomputes a group's parameters at each 128-column block, so it fails (a scale
# of the wrong shape) when a group spans two blocks: group_size -1 with more than 128 inputs,
# or a group size not dividing 128. These cases stay within what Keras runs; plait computes
# each group's parameters once, which gives the same numbers here and runs the others too.
GPTQ_CASES = [
    dict(units=24, inputs=16, weight_bits=4, group_size=8),
    dict(units=24, inputs=300, weight_bits=4, group_size=32, symmetric=True, activation_order=True),
    dict(units=10, inputs=100, weight_bits=8, group_size=-1),
    dict(units=10, inputs=120, weight_bits=3, group_size=-1, per_channel=False, activation_order=True),
    dict(units=7, inputs=150, weight_bits=2, group_size=64, activation_order=True),
    dict(units=9, inputs=260, weight_bits=4, group_size=16, activation_order=True),
]


@pytest.mark.parametrize("case", GPTQ_CASES)
def test_gptq_matrix_matches_keras_exactly(case):
    case = dict(case)
    units, inputs = case.pop("units"), case.pop("inputs")
    kernel = RNG.standard_normal((inputs, units)).astype("float32")
    spread = RNG.uniform(0.1, 3.0, inputs).astype("float32")
    batches = [RNG.standard_normal((20, inputs)).astype("float32") * spread for _ in range(3)]
    layer, keras_hessian = _keras_gptq_layer(kernel, batches, **case)

    estimate = HessianEstimate(inputs)
    for batch in batches:
        estimate.update(torch.as_tensor(batch))
    np.testing.assert_array_equal(estimate.hessian.numpy(), keras_hessian)
    # Keras 3.15.1 propagates errors with the dense inverse (see plait.quantizers.gptq): given
    # that matrix, plait's column loop must give Keras's integers.
    damped = damped_hessian(estimate.hessian, 0.01)
    inverse, diagonal = torch.linalg.inv(damped), damped.diagonal()
    bits = case["weight_bits"]
    q, scale, zero, g_idx = gptq_quantize_matrix(
        torch.as_tensor(kernel).T, inverse, bits=bits, group_size=case["group_size"],
        symmetric=case.get("symmetric", False), per_channel=case.get("per_channel", True),
        activation_order=case.get("activation_order", False), order_metric=diagonal,
    )  # fmt: skip
    _assert_keras_gptq_variables(q.numpy(), scale.numpy(), zero.numpy(), g_idx.numpy(), layer, units, bits)


def _assert_keras_gptq_variables(q, scale, zero, g_idx, layer, units, bits):
    """plait's GPTQ integers (unpacked, ``(units, rows)``), scales, zero points and g_idx equal
    Keras's layer's, bit for bit, except in groups of positive values: Keras 3.15 gives those a
    negative zero point, which wraps in uint8 (plait starts such a group's range at 0, see
    plait.quantizers.zero_point). Such groups are rare: at most two here."""
    q, scale, zero, g_idx = (np.asarray(v) for v in (q, scale, zero, g_idx))
    keras_q = _numpy(layer.quantized_kernel)
    if bits == 4:
        keras_q = unpack_int4(keras_q, units, axis=0, dtype="uint8").numpy()
    keras_zero = _numpy(layer.kernel_zero)
    wrapped = (zero == 0) & (keras_zero != 0)
    per_column = wrapped[:, g_idx.astype(int)]
    np.testing.assert_array_equal(q[~per_column], keras_q[~per_column])
    np.testing.assert_array_equal(scale[~wrapped], _numpy(layer.kernel_scale)[~wrapped])
    np.testing.assert_array_equal(zero[~wrapped], keras_zero[~wrapped])
    np.testing.assert_array_equal(g_idx, _numpy(layer.g_idx))
    assert wrapped.sum() <= 2


def test_positive_group_keeps_a_valid_zero_point():
    """A group of positive values: plait's range starts at 0 and round-trips to the quantization
    step; Keras 3.15's zero point wraps around in uint8 and its dequantized values are off."""
    from plait.quantizers.zero_point import dequantize, group_parameters, quantize

    w = torch.tensor([[0.5, 0.75, 1.0, 2.0]])
    scale, zero, maxq = group_parameters(w, bits=4)
    assert zero.item() == 0
    restored = dequantize(quantize(w, scale, zero, maxq), scale, zero)
    assert torch.allclose(restored, w, atol=scale.item() / 2)
    _, keras_zero, _ = keras_quantizers.compute_quantization_parameters(w, bits=4, per_channel=True)
    assert int(_numpy(keras_zero).item()) > 15  # -2 wrapped around to 254


def _correlated_problem(rows=256, features=48, units=12):
    mixing = torch.as_tensor(RNG.standard_normal((features, features)).astype("float32"))
    x = torch.as_tensor(RNG.standard_normal((rows, features)).astype("float32")) @ mixing
    w = torch.as_tensor(RNG.standard_normal((units, features)).astype("float32"))
    estimate = HessianEstimate(features)
    estimate.update(x)
    return x, w, estimate.hessian


def _sequential_obs(w, hessian, bits):
    """The paper's definition in plain float64 torch: quantize column j, spread its error with
    the inverse Hessian of the columns left, remove column j from that inverse, go on."""
    from plait.quantizers.zero_point import dequantize, group_parameters, quantize

    w = w.double().clone()
    inverse = torch.linalg.inv(damped_hessian(hessian, 0.01).double())
    scale, zero, maxq = group_parameters(w.float(), bits=bits)
    scale = scale.double()
    out = torch.zeros_like(w)
    for j in range(w.shape[1]):
        q = quantize(w[:, j : j + 1], scale, zero, maxq)
        out[:, j] = q[:, 0]
        error = (w[:, j] - dequantize(q, scale, zero)[:, 0]) / inverse[j, j]
        w[:, j + 1 :] -= torch.outer(error, inverse[j, j + 1 :])
        inverse = inverse - torch.outer(inverse[:, j], inverse[j, :]) / inverse[j, j]
    return out


def test_gptq_cholesky_updates_are_the_sequential_obs_updates():
    """The Cholesky factor's rows are the downdated inverses' rows: plait's loop gives the
    integers of the column-by-column definition (float64 reference, float32 here: identical on
    this problem)."""
    _, w, hessian = _correlated_problem()
    factor, _ = inverse_hessian_factor(hessian, 0.01)
    q, _, _, _ = gptq_quantize_matrix(w, factor, bits=3, blocksize=16)
    expected = _sequential_obs(w, hessian, bits=3)
    np.testing.assert_array_equal(q.numpy(), expected.numpy().astype(np.uint8))


@pytest.mark.parametrize("bits, group_size", [(3, 16), (4, -1), (2, -1), (4, 16)])
def test_gptq_output_error_beats_rounding_and_keras_3_15(bits, group_size):
    """On correlated calibration inputs, ``||X Wᵀ - X Ŵᵀ||`` of plait's GPTQ is below plain
    rounding's and below Keras 3.15.1's dense-inverse variant (by a margin: at least 15%)."""
    from plait.quantizers.zero_point import dequantize, group_parameters, quantize, spread_groups

    x, w, hessian = _correlated_problem()
    factor, _ = inverse_hessian_factor(hessian, 0.01)
    dense_inverse = torch.linalg.inv(damped_hessian(hessian, 0.01))

    def restored(matrix):
        q, scale, zero, g_idx = gptq_quantize_matrix(w, matrix, bits=bits, group_size=group_size)
        return dequantize(q, spread_groups(scale, g_idx), spread_groups(zero, g_idx))

    scale, zero, maxq = group_parameters(w, bits=bits, group_size=group_size)
    groups = torch.arange(w.shape[1]) // (group_size if group_size > 0 else w.shape[1])
    rounded = dequantize(quantize(w, scale[:, groups], zero[:, groups], maxq), scale[:, groups], zero[:, groups])

    def error(approx):
        return torch.linalg.norm(x @ (w - approx).T).item()

    ours = error(restored(factor))
    assert ours < 0.85 * error(rounded)
    assert ours < 0.85 * error(restored(dense_inverse))


def test_gptq_hessian_not_positive_definite_is_a_clear_error():
    with pytest.raises(ValueError, match="damped input Hessian is not positive definite; raise `hessian_damping`"):
        inverse_hessian_factor(torch.tensor([[1.0, 1.0], [1.0, 1.0]]), 0.0)


# ---------------------------------------------------------------------------- AWQ on a matrix
@pytest.mark.parametrize("units, inputs, group_size, grid", [(24, 16, 8, 20), (30, 100, -1, 20), (9, 37, 16, 10)])
def test_awq_matrix_matches_keras(units, inputs, group_size, grid):
    weights = torch.as_tensor(RNG.standard_normal((units, inputs)).astype("float32"))
    batches = [RNG.standard_normal((12, inputs)).astype("float32") * RNG.uniform(0.1, 5, inputs) for _ in range(3)]
    batches[0][:, 0] = batches[1][:, 0] = batches[2][:, 0] = 0.0  # a dead input row
    maxima = ActivationMaxima(inputs)
    keras_layer = keras.layers.Dense(units)
    keras_layer.build((None, inputs))
    keras_layer.quantize("awq", config=keras.quantizers.AWQConfig(dataset=None, tokenizer=None, group_size=group_size))
    keras_stats = keras_awq.AWQ(keras_layer, keras.quantizers.AWQConfig(dataset=None, tokenizer=None))
    for batch in batches:
        maxima.update(torch.as_tensor(batch, dtype=torch.float32))
        keras_stats.update_activation_magnitudes(torch.as_tensor(batch, dtype=torch.float32))
    np.testing.assert_array_equal(maxima.maxima.numpy(), _numpy(keras_stats.activation_magnitudes))

    ours = awq_quantize_matrix(weights, maxima.maxima, num_grid_points=grid, group_size=group_size)
    theirs = keras_awq.awq_quantize_matrix(weights, maxima.maxima, num_grid_points=grid, group_size=group_size)
    q, scale, zero, awq_scales, g_idx = ours
    assert q.dtype == torch.uint8 and zero.dtype == torch.uint8
    np.testing.assert_array_equal(q.numpy(), _numpy(theirs[0]).astype(np.uint8))
    # The grid's powers may differ in the last bit: scales to float32 rounding (rtol 1e-6).
    np.testing.assert_allclose(scale.numpy(), _numpy(theirs[1]), rtol=1e-6)
    np.testing.assert_array_equal(zero.numpy(), _numpy(theirs[2]))
    np.testing.assert_allclose(awq_scales.numpy(), _numpy(theirs[3]), rtol=1e-6)
    np.testing.assert_array_equal(g_idx.numpy(), _numpy(theirs[4]))


# ---------------------------------------------------------------------------- whole models
VOCAB, WIDTH, HIDDEN, LENGTH = 40, 16, 24, 12


def _keras_model(seed=3):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None,), dtype="int32")
    embedding = keras.layers.Embedding(VOCAB, WIDTH)
    block = keras.Sequential([keras.layers.Dense(HIDDEN, activation="relu"), keras.layers.Dense(WIDTH)])
    second = keras.Sequential([keras.layers.Dense(HIDDEN, activation="gelu"), keras.layers.Dense(WIDTH)])
    model = keras.Model(inputs, second(block(embedding(inputs))))
    # Keras 3.15 cannot save a layer whose config holds the structure's layers: give it the hook.
    model.get_quantization_layer_structure = lambda mode: {
        "pre_block_layers": [embedding],
        "sequential_blocks": [block, second],
    }
    return model


def _plait_twin(keras_model):
    import plait

    inputs = plait.Input((None,), dtype="int32")
    embedding = plait.layers.Embedding(VOCAB, WIDTH)
    block = plait.Sequential([plait.layers.Dense(HIDDEN, activation="relu"), plait.layers.Dense(WIDTH)])
    second = plait.Sequential([plait.layers.Dense(HIDDEN, activation="gelu"), plait.layers.Dense(WIDTH)])
    model = plait.Model(inputs, second(block(embedding(inputs))))
    model.set_weights(keras_model.get_weights())
    structure = {"pre_block_layers": [embedding], "sequential_blocks": [block, second]}
    return model, structure


def _calibration(seed=0):
    return [np.random.default_rng(seed).integers(0, VOCAB, size=200).astype("int32")]


def _quantize_both(mode, **settings):
    data = _calibration()
    keras_model = _keras_model()
    model, structure = _plait_twin(keras_model)
    ids = np.random.default_rng(8).integers(0, VOCAB, size=(3, LENGTH))
    float_out = model(torch.as_tensor(ids)).detach().numpy()
    keras_cls = getattr(keras.quantizers, f"{mode.upper()}Config")
    common = dict(dataset=data, tokenizer=object(), num_samples=6, sequence_length=LENGTH, **settings)
    with warnings.catch_warnings(), _keras_windows_fixed():
        warnings.simplefilter("ignore")  # Keras warns for each layer it cannot quantize
        keras_model.quantize(mode, config=keras_cls(**common))
    ours = GPTQConfig if mode == "gptq" else AWQConfig
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.quantize(mode, config=ours(**common, quantization_layer_structure=structure))
    # As Keras: the layers with no GPTQ/AWQ form (the Embedding) are skipped with a warning.
    assert [str(w.message) for w in caught if "Embedding" in str(w.message)], [str(w.message) for w in caught]
    return keras_model, model, ids, float_out


def _file_values(layer):
    store = {}
    layer.save_own_variables(store)
    return [np.asarray(store[str(i)]) for i in range(len(store))]


def _dense_layers(model):
    """The Dense layers of the two blocks, in order (either library)."""
    return [layer for block in model.layers[-2:] for layer in block.layers]


def _working_keras_hooks(update):
    """Keras 3.15.1's calibration hooks wrap ``layer.call``, which a layer already in GPTQ/AWQ
    mode never runs (it runs ``quantized_call``), so Keras calibrates on nothing: GPTQ becomes
    round-to-nearest and AWQ's scales stay 1 (fixed later upstream, keras-team/keras#23512).
    This stand-in hooks ``quantized_call`` instead, so Keras 3.15.1's algorithm runs on the data."""

    @contextlib.contextmanager
    def stream(layers_map, objects):
        originals = {name: layer.quantized_call for name, layer in layers_map.items()}

        def hook(name):
            def call(*args, **kwargs):
                x = args[0] if args else kwargs["inputs"]
                update(objects[name], keras.ops.reshape(x, (-1, objects[name].rows)))
                return originals[name](*args, **kwargs)

            return call

        for name, layer in layers_map.items():
            layer.quantized_call = hook(name)
        try:
            yield
        finally:
            for name, layer in layers_map.items():
                layer.quantized_call = originals[name]

    return stream


def test_gptq_model_matches_keras_with_working_hooks_and_its_inverse(monkeypatch):
    """The whole walk (windows, embedding, hooks, one Hessian pass per block, block outputs)
    against Keras 3.15.1 with its hooks working and plait using Keras 3.15.1's dense inverse:
    every quantized variable is Keras's, bit for bit (but for Keras's wrapped zero points, see
    _assert_keras_gptq_variables), and so are the outputs (rtol 1e-4)."""
    from plait.quantizers import gptq

    def keras_3_15_inverse(hessian, damping):
        damped = gptq.damped_hessian(hessian, damping)
        return torch.linalg.inv(damped), damped.diagonal()

    monkeypatch.setattr("plait.quantizers.calibration.inverse_hessian_factor", keras_3_15_inverse)
    stream = _working_keras_hooks(lambda gptq_object, x: gptq_object.update_hessian_with_batch(x))
    monkeypatch.setattr(keras_gptq_core, "stream_hessians", stream)
    keras_model, model, ids, _ = _quantize_both("gptq", group_size=8, activation_order=True)
    keras_layers, layers = _dense_layers(keras_model), _dense_layers(model)
    assert len(layers) == len(keras_layers) == 4
    wrapped = False
    for theirs, ours in zip(keras_layers, layers):
        assert ours.dtype_policy.name == theirs.dtype_policy.name == "gptq/4/8_from_float32"
        bias, packed, scale, zero, g_idx = _file_values(ours)
        wrapped |= bool(((zero == 0) & (_numpy(theirs.kernel_zero) != 0)).any())
        np.testing.assert_array_equal(bias, _numpy(theirs.bias))
        assert packed.dtype == np.uint8 and packed.shape == tuple(theirs.quantized_kernel.shape)
        q = unpack_int4(packed, ours.units, axis=0, dtype="uint8").numpy()
        _assert_keras_gptq_variables(q, scale, zero, g_idx, theirs, ours.units, 4)
    assert not wrapped  # (with this data; a wrapped group would change Keras's outputs)
    np.testing.assert_allclose(_plait_out(model, ids), _keras_out(keras_model, ids), rtol=1e-4, atol=1e-5)


def test_awq_model_matches_keras_with_working_hooks(monkeypatch):
    """As above for AWQ: integers exact, scales to float32 rounding of the grid's powers."""
    stream = _working_keras_hooks(lambda awq_object, x: awq_object.update_activation_magnitudes(x))
    monkeypatch.setattr(keras_awq_core, "stream_activations", stream)
    keras_model, model, ids, _ = _quantize_both("awq", group_size=8, num_grid_points=10)
    for theirs, ours in zip(_dense_layers(keras_model), _dense_layers(model)):
        assert ours.dtype_policy.name == theirs.dtype_policy.name == "awq/4/8_from_float32"
        got = _file_values(ours)
        want = [_numpy(v) for v in (theirs.bias, theirs.quantized_kernel, theirs.kernel_scale, theirs.kernel_zero,
                                     theirs.awq_scales, theirs.g_idx)]  # fmt: skip
        for a, b in zip(got, want):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=1e-5, atol=0)
    np.testing.assert_allclose(_plait_out(model, ids), _keras_out(keras_model, ids), rtol=1e-4, atol=1e-5)


def _plait_out(model, ids):
    with torch.no_grad():
        return model(torch.as_tensor(ids)).numpy()


def _keras_out(model, ids):
    return _numpy(keras.ops.convert_to_numpy(model(ids)))


@pytest.mark.parametrize("settings", [dict(group_size=8), dict(group_size=-1, symmetric=True, weight_bits=3)])
def test_gptq_model_is_closer_to_float_than_keras_3_15(settings):
    """Out of the box Keras 3.15.1 calibrates on nothing (see _working_keras_hooks), i.e. it
    rounds to nearest; plait's GPTQ model is closer to the float model (mean squared output
    error) and within 10% of the outputs' power."""
    keras_model, model, ids, float_out = _quantize_both("gptq", **settings)
    ours, theirs = _plait_out(model, ids), _keras_out(keras_model, ids)

    def error(out):
        return float(np.mean((out - float_out) ** 2))

    assert error(ours) < error(theirs)
    assert error(ours) < 0.1 * float(np.mean(float_out**2))


def test_awq_protects_outlier_input_channels():
    """AWQ's point: with a few input channels 20x larger than the rest, its scales cut the
    output error ``||X Wᵀ - X Ŵᵀ||`` well below activation-blind quantization's (all scales 1,
    what Keras 3.15.1's dead hooks give: at least 20% less)."""
    from plait.quantizers.zero_point import dequantize, spread_groups

    x = torch.as_tensor(RNG.standard_normal((256, 32)).astype("float32"))
    x[:, :3] *= 20
    w = torch.as_tensor(RNG.standard_normal((16, 32)).astype("float32"))
    maxima = ActivationMaxima(32)
    maxima.update(x)

    def error(activations):
        q, scale, zero, awq_scales, g_idx = awq_quantize_matrix(w, activations, group_size=8)
        restored = dequantize(q, spread_groups(scale, g_idx), spread_groups(zero, g_idx)) / awq_scales
        return torch.linalg.norm(x @ (w - restored).T).item()

    assert error(maxima.maxima) < 0.8 * error(torch.zeros(32))


# ---------------------------------------------------------------------------- EinsumDense blocks
def _einsum_models():
    keras.utils.set_random_seed(5)

    def block(lib):
        return lib.Sequential(
            [
                lib.layers.EinsumDense("abc,cde->abde", (None, 2, 8), bias_axes="de"),  # (16, 2, 8): rows 16
                lib.layers.Reshape((-1, 16)),
                lib.layers.EinsumDense("abc,cd->abd", (None, WIDTH), activation="relu"),
                lib.layers.Reshape((-1, 2, 8)),
                lib.layers.EinsumDense("abde,def->abf", (None, WIDTH)),  # (2, 8, 16): rows 16
            ]
        )

    import plait

    models = []
    for lib in (keras, plait):
        inputs = lib.Input((None,), dtype="int32")
        embedding, body = lib.layers.Embedding(VOCAB, WIDTH), block(lib)
        models.append((lib.Model(inputs, body(embedding(inputs))), embedding, body))
    models[1][0].set_weights(models[0][0].get_weights())
    return models


@pytest.mark.parametrize("mode", ["gptq", "awq"])
def test_einsum_dense_blocks_match_keras(mode, monkeypatch):
    """EinsumDense kernels of rank 2 and 3 (read as matrices the way Keras reads them), with
    Keras's hooks working (and, for GPTQ, Keras 3.15.1's inverse): Keras's variables, Keras's
    ``zero_point`` name, Keras's outputs."""
    from plait.quantizers import gptq

    if mode == "gptq":
        monkeypatch.setattr(
            "plait.quantizers.calibration.inverse_hessian_factor",
            lambda h, d: (torch.linalg.inv(gptq.damped_hessian(h, d)), gptq.damped_hessian(h, d).diagonal()),
        )
        monkeypatch.setattr(keras_gptq_core, "stream_hessians", _working_keras_hooks(
            lambda obj, x: obj.update_hessian_with_batch(x)))  # fmt: skip
    else:
        monkeypatch.setattr(keras_awq_core, "stream_activations", _working_keras_hooks(
            lambda obj, x: obj.update_activation_magnitudes(x)))  # fmt: skip
    (keras_model, k_embedding, k_body), (model, embedding, body) = _einsum_models()
    settings = dict(dataset=_calibration(), tokenizer=object(), num_samples=4, sequence_length=LENGTH, group_size=8)
    with warnings.catch_warnings(), _keras_windows_fixed():
        warnings.simplefilter("ignore")
        keras_config = getattr(keras.quantizers, f"{mode.upper()}Config")(**settings)
        keras_model.get_quantization_layer_structure = lambda m: {
            "pre_block_layers": [k_embedding],
            "sequential_blocks": [k_body],
        }
        keras_model.quantize(mode, config=keras_config)
        ours = (GPTQConfig if mode == "gptq" else AWQConfig)(
            **settings, quantization_layer_structure={"pre_block_layers": [embedding], "sequential_blocks": [body]}
        )
        model.quantize(mode, config=ours)
    names = ["bias", "quantized_kernel", "kernel_scale", "kernel_zero", "awq_scales", "g_idx"]
    for theirs, layer in zip(k_body.layers[::2], body.layers[::2]):
        assert [v.name for v in layer.weights] == [v.name for v in theirs.weights]
        assert "zero_point" in [v.name for v in layer.weights]
        want = [_numpy(getattr(theirs, n)) for n in names if getattr(theirs, n, None) is not None]
        for a, b in zip(_file_values(layer), want):
            assert a.shape == b.shape and a.dtype == b.dtype
            np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=1e-5, atol=0)
    ids = RNG.integers(0, VOCAB, size=(2, LENGTH))
    np.testing.assert_allclose(_plait_out(model, ids), _keras_out(keras_model, ids), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------- files
@pytest.mark.parametrize("mode", ["gptq", "awq"])
def test_plait_files_load_in_keras_and_plait(mode, tmp_path):
    """plait writes every variable (the zero points included), so Keras 3.15.1 loads the file
    and computes plait's outputs exactly; plait reads it back the same."""
    import plait

    _, model, ids, _ = _quantize_both(mode, group_size=8)
    path = str(tmp_path / "model.keras")
    model.save(path)
    np.testing.assert_array_equal(_keras_out(keras.models.load_model(path), ids), _plait_out(model, ids))
    again = plait.models.load_model(path)
    np.testing.assert_array_equal(_plait_out(again, ids), _plait_out(model, ids))
    layer = _dense_layers(again)[0]
    assert layer.is_gptq_calibrated == (mode == "gptq") and layer.is_awq_calibrated == (mode == "awq")


def test_keras_files_load_in_plait_where_they_can(tmp_path):
    """Keras 3.15.1 writes GPTQ/AWQ layers without their zero points (and cannot read its own
    files): plait rebuilds them for symmetric GPTQ, whose zero point is fixed, and gives
    Keras's outputs; for the others it says what is missing and why."""
    import plait

    keras_model, _, ids, _ = _quantize_both("gptq", group_size=8, symmetric=True)
    path = str(tmp_path / "symmetric.keras")
    keras_model.save(path)
    loaded = plait.models.load_model(path)
    np.testing.assert_array_equal(_plait_out(loaded, ids), _keras_out(keras_model, ids))

    for mode in ("gptq", "awq"):
        keras_model, _, _, _ = _quantize_both(mode, group_size=8)
        path = str(tmp_path / f"{mode}.keras")
        keras_model.save(path)
        with pytest.raises(ValueError, match="this file holds no kernel_zero .*Keras 3.15 leaves the zero points out"):
            plait.models.load_model(path)


# ---------------------------------------------------------------------------- bad input
def _float_model():
    keras_model = _keras_model()
    return _plait_twin(keras_model)


@pytest.mark.parametrize(
    "mode, make_config, error, match",
    [
        ("gptq", lambda s: None, ValueError, "For GPTQ, pass a `GPTQConfig`"),
        ("awq", lambda s: None, ValueError, "For AWQ, pass a `AWQConfig`"),
        ("gptq", lambda s: {"weight_bits": 4}, ValueError, "must be a QuantizationConfig"),
        ("gptq", lambda s: AWQConfig(["a"], object(), quantization_layer_structure=s), ValueError, "Contradictory"),
        ("gptq", lambda s: GPTQConfig(None, None, quantization_layer_structure=s), ValueError,
         "requires a dataset and a tokenizer"),
        ("awq", lambda s: AWQConfig([[1, 2]], None, quantization_layer_structure=s), ValueError,
         "requires a dataset and a tokenizer"),
        ("gptq", lambda s: GPTQConfig([[1]], object()), ValueError, "a valid quantization structure must be provided"),
        ("gptq", lambda s: GPTQConfig([[1]], object(), quantization_layer_structure={"sequential_blocks": []}),
         ValueError, "No sequential blocks found"),
        ("gptq", lambda s: GPTQConfig([[1]], object(), quantization_layer_structure=[s]), TypeError,
         "must be a dict with keys 'pre_block_layers' and 'sequential_blocks'"),
    ],
)  # fmt: skip
def test_bad_gptq_awq_requests_are_clear_errors(mode, make_config, error, match):

    model, structure = _float_model()
    with pytest.raises(error, match=match):
        model.quantize(mode, config=make_config(structure))
    # Nothing changed: every check runs before the first layer is converted.
    assert all(layer.quantization_mode is None for layer in _dense_layers(model))


def test_layer_prepared_but_never_calibrated():
    """A Dense put in GPTQ mode outside any block keeps computing with its float kernel (as in
    Keras), and refuses to be saved with placeholder values."""
    import plait

    layer = plait.layers.Dense(4)
    x = torch.as_tensor(RNG.standard_normal((2, 8)).astype("float32"))
    before = layer(x).detach()
    layer.quantize("gptq", config=GPTQConfig(None, None, group_size=4))
    assert not layer.is_gptq_calibrated and layer.dtype_policy.name == "gptq/4/4_from_float32"
    torch.testing.assert_close(layer(x).detach(), before)
    with pytest.raises(ValueError, match="was prepared for GPTQ but never calibrated"):
        layer.save_own_variables({})


def test_kernel_of_rank_four_is_refused():
    import plait

    layer = plait.layers.EinsumDense("abc,cdef->abdef", (None, 2, 2, 2))
    layer(torch.ones(1, 3, 4))
    with pytest.raises(ValueError, match="GPTQ/AWQ quantize 2D or 3D kernels only. Received a kernel of shape"):
        layer.quantize("gptq", config=GPTQConfig(None, None, group_size=-1))


def test_quantized_model_exports():
    """The calibrated model is still a plain torch module: torch.export traces it and gives the
    same outputs."""
    _, model, ids, _ = _quantize_both("gptq", group_size=8)
    x = torch.as_tensor(ids)
    exported = torch.export.export(model, (x,))
    torch.testing.assert_close(exported.module()(x), model(x))
