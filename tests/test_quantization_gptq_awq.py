"""GPTQ and AWQ (``model.quantize("gptq" | "awq", config=...)``) against Keras 3.15 itself.

The algorithms are compared on the same inputs: the configs' checks and config dicts, the
calibration windows, the Hessian and activation statistics, the quantized matrices (GPTQ's
integers, scales, zero points and g_idx are identical to Keras's; AWQ's to float32 rounding),
then whole models quantized by both libraries from the same weights and calibration data,
their outputs, and ``.keras`` files going both ways.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import pytest
import torch
from keras.src.quantizers import awq as keras_awq
from keras.src.quantizers import gptq as keras_gptq
from keras.src.quantizers import gptq_core as keras_gptq_core
from keras.src.quantizers import quantizers as keras_quantizers

from plait.quantizers.awq import ActivationMaxima, awq_quantize_matrix
from plait.quantizers.awq_config import AWQConfig
from plait.quantizers.calibration import calibration_windows
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
def test_calibration_windows_match_keras(dataset, length, samples):
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
    keras_q = _numpy(layer.quantized_kernel)
    if bits == 4:
        keras_q = unpack_int4(keras_q, units, axis=0, dtype="uint8").numpy()
    keras_zero = _numpy(layer.kernel_zero)
    # Keras 3.15 gives a group of positive values a negative zero point, which wraps in uint8
    # (plait starts such a group's range at 0, see plait.quantizers.zero_point): those groups
    # differ by design, everything else is identical (same arithmetic on the same kernels).
    wrapped = (zero.numpy() == 0) & (keras_zero != 0)
    per_column = wrapped[:, g_idx.numpy().astype(int)]
    np.testing.assert_array_equal(q.numpy()[~per_column], keras_q[~per_column])
    np.testing.assert_array_equal(scale.numpy()[~wrapped], _numpy(layer.kernel_scale)[~wrapped])
    np.testing.assert_array_equal(zero.numpy()[~wrapped], keras_zero[~wrapped])
    np.testing.assert_array_equal(g_idx.numpy(), _numpy(layer.g_idx))
    assert wrapped.sum() <= 2  # rare: at most a couple of groups in these cases


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
