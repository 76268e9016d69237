"""Quantization against Keras 3 itself: ``plait.quantizers`` (same inputs, same outputs and
gradients), ``layer.quantize`` / ``model.quantize`` in int8, int4 (per channel and grouped) and
float8 on Dense, EinsumDense, Embedding and ReversibleEmbedding (variables, policies, forward
numbers, training), ``.keras`` files both ways, plait's own file, and the errors.

Tolerances: integer tensors must be equal; the quantized forward passes compute what Keras's do
in the same order, so outputs and float variables are compared at 1e-6 absolute (float32
rounding); fits at 1e-5 (the eager step's summation order may differ from Keras's).
"""

import os
import warnings

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import plait  # noqa: E402
from plait import quantizers  # noqa: E402

# Keras's own warnings: Variable.numpy() under numpy 2, and its ReversibleEmbedding's transpose of
# a 1D scale.
pytestmark = [
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
    pytest.mark.filterwarnings("ignore:The use of `x.T` on tensors of dimension other than 2"),
]

ATOL = 1e-6
rng = np.random.default_rng(7)


def numpy(value):
    value = value.detach() if isinstance(value, torch.Tensor) else value
    return np.asarray(value.cpu() if hasattr(value, "cpu") else value)


def assert_same(ours, theirs, atol=ATOL):
    ours, theirs = numpy(ours), numpy(theirs)
    assert ours.shape == theirs.shape
    if theirs.dtype.kind in "iu":
        assert ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours, theirs)
    else:
        np.testing.assert_allclose(ours.astype("float64"), theirs.astype("float64"), atol=atol, rtol=0)


# ---------------------------------------------------------------------------- quantizers


@pytest.mark.parametrize("axis", [0, -1, (0, 1)])
def test_abs_max_quantize_matches_keras(axis):
    x = rng.normal(size=(9, 6)).astype("float32")
    for ours, theirs in zip(quantizers.abs_max_quantize(x, axis), keras.quantizers.abs_max_quantize(x, axis)):
        assert_same(ours, theirs, atol=0)
    q, scale = quantizers.abs_max_quantize(torch.tensor(x), axis=0, value_range=(-8, 7), epsilon=1e-3)
    kq, kscale = keras.quantizers.abs_max_quantize(x, axis=0, value_range=(-8, 7), epsilon=1e-3)
    assert_same(q, kq)
    assert_same(scale, kscale, atol=0)


@pytest.mark.parametrize("to_numpy", [False, True])
def test_grouped_quantize_matches_keras(to_numpy):
    x = rng.normal(size=(13, 5)).astype("float32")
    x[:4, 0] = 0.5  # a constant group: the two paths widen its range differently
    ours = quantizers.abs_max_quantize_grouped_with_zero_point(x, block_size=4, to_numpy=to_numpy)
    theirs = keras.quantizers.abs_max_quantize_grouped_with_zero_point(x, block_size=4, to_numpy=to_numpy)
    for a, b in zip(ours, theirs):
        assert_same(a, b, atol=0)


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_pack_and_unpack_int4_match_keras(axis, dtype):
    low, high = (-8, 8) if dtype == "int8" else (0, 16)
    values = rng.integers(low, high, size=(5, 7)).astype(dtype)
    packed, shape, length = quantizers.pack_int4(values, axis=axis, dtype=dtype)
    kpacked, kshape, klength = keras.quantizers.pack_int4(values, axis=axis, dtype=dtype)
    assert_same(packed, kpacked)
    assert (shape, length) == (kshape, klength)
    unpacked = quantizers.unpack_int4(packed, length, axis=axis, dtype=dtype)
    assert_same(unpacked, keras.quantizers.unpack_int4(kpacked, klength, axis=axis, dtype=dtype))
    assert_same(unpacked, values)


def test_int4_packing_errors_name_the_dtype():
    with pytest.raises(ValueError, match="'int8' or 'uint8'"):
        quantizers.pack_int4(np.zeros((2, 2), "int8"), dtype="int4")
    with pytest.raises(TypeError, match="Expected int8 tensor for packing, got int32"):
        quantizers.pack_int4(np.zeros((2, 2), "int32"))
    with pytest.raises(TypeError, match="got float32"):
        quantizers.unpack_int4(np.zeros((2, 2), "float32"), 4)


def test_float8_scaling_matches_keras():
    x = rng.normal(size=(4, 6)).astype("float32") * 300
    history = rng.uniform(size=(8,)).astype("float32")
    assert_same(
        quantizers.compute_float8_amax_history(x, torch.tensor(history)),
        keras.quantizers.compute_float8_amax_history(x, torch.tensor(history)),
        atol=0,
    )
    for amax in [3.0, 0.0, float("inf")]:
        args = (torch.tensor(amax), torch.tensor(0.5), 448.0)
        assert_same(
            quantizers.compute_float8_scale(*args, margin=1), keras.quantizers.compute_float8_scale(*args, 1), 0
        )
    for dtype in ["float8_e4m3fn", "float8_e5m2"]:
        ours = quantizers.quantize_and_dequantize(x, torch.tensor(0.7), dtype, "float32")
        assert_same(ours, keras.quantizers.quantize_and_dequantize(x, torch.tensor(0.7), dtype, "float32"), atol=0)


@pytest.mark.parametrize("axis", [None, 1])
@pytest.mark.parametrize("num_bits, narrow_range", [(8, False), (4, True)])
def test_fake_quant_matches_keras_values_and_gradients(axis, num_bits, narrow_range):
    x = rng.normal(size=(7, 5)).astype("float32") * 2
    low = np.float32(-1.2) if axis is None else rng.uniform(-2, -0.5, 5).astype("float32")
    high = np.float32(0.9) if axis is None else rng.uniform(0.5, 2, 5).astype("float32")
    weights = torch.arange(35.0).reshape(7, 5)
    results = []
    for fn in (quantizers.fake_quant_with_min_max_vars, keras.quantizers.fake_quant_with_min_max_vars):
        tensors = [torch.tensor(v, requires_grad=True) for v in (x, low, high)]
        out = fn(*tensors, num_bits=num_bits, narrow_range=narrow_range, axis=axis)
        (out * weights).sum().backward()
        results.append([out] + [t.grad for t in tensors])
    for ours, theirs in zip(*results):
        assert_same(ours, theirs, atol=0)


def test_quantizer_objects_and_configs_serialize_as_keras():
    quantizer = quantizers.AbsMaxQuantizer(axis=0, value_range=(-8, 7))
    assert quantizer.get_config() == keras.quantizers.AbsMaxQuantizer(axis=0, value_range=(-8, 7)).get_config()
    pairs = [
        (quantizers.Int8QuantizationConfig(), keras.quantizers.Int8QuantizationConfig()),
        (quantizers.Int4QuantizationConfig(block_size=64), keras.quantizers.Int4QuantizationConfig(block_size=64)),
        (quantizers.Float8QuantizationConfig(), keras.quantizers.Float8QuantizationConfig()),
    ]
    for ours, theirs in pairs:
        assert quantizers.serialize(ours) == keras.quantizers.serialize(theirs)
        assert ours.mode == theirs.mode
        assert quantizers.deserialize(keras.quantizers.serialize(theirs)).get_config() == ours.get_config()
        assert keras.quantizers.deserialize(quantizers.serialize(ours)).get_config() == theirs.get_config()
    assert isinstance(quantizers.get("AbsMaxQuantizer"), quantizers.AbsMaxQuantizer)
    assert quantizers.get(None) is None
    assert plait.Quantizer is quantizers.Quantizer
    missing = {n for n in dir(keras.quantizers) if not n.startswith("_")} - set(quantizers.__all__)
    assert not missing


def test_config_checks_name_the_problem():
    with pytest.raises(ValueError, match="output_dtype='int8'"):
        quantizers.Int8QuantizationConfig(weight_quantizer=quantizers.AbsMaxQuantizer(output_dtype="int16"))
    with pytest.raises(ValueError, match="block_size"):
        quantizers.Int4QuantizationConfig(block_size=0)
    with pytest.raises(ValueError, match="takes no custom quantizers"):
        quantizers.Int4QuantizationConfig(weight_quantizer=quantizers.AbsMaxQuantizer(value_range=(-8, 7)))
    with pytest.raises(ValueError, match="within \\[-128, 127\\]"):
        quantizers.AbsMaxQuantizer(value_range=(-300, 300))
    with pytest.raises(ValueError, match="Could not interpret quantizer identifier: 'nope'"):
        quantizers.get("nope")


# ---------------------------------------------------------------------------- layers


def int4_configs(block_size):
    return (
        keras.quantizers.Int4QuantizationConfig(block_size=block_size),
        quantizers.Int4QuantizationConfig(block_size=block_size),
    )


# (mode, Keras config, plait config): int8 with and without int8 inputs, int4 grouped and per channel
MODES = {
    "int8": lambda: (None, None),
    "int8-weights-only": lambda: (
        keras.quantizers.Int8QuantizationConfig(activation_quantizer=None),
        quantizers.Int8QuantizationConfig(activation_quantizer=None),
    ),
    "int4-grouped": lambda: int4_configs(4),
    "int4-per-channel": lambda: int4_configs(None),
    "float8": lambda: (None, None),
}


def twins(name, *args, input_shape, input_dtype="float32", **kwargs):
    theirs = getattr(keras.layers, name)(*args, **kwargs)
    theirs.build(input_shape)
    ours = getattr(plait.layers, name)(*args, **kwargs)
    ours(torch.zeros([1 if d is None else d for d in input_shape], dtype=getattr(torch, input_dtype)))
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def quantize_both(ours, theirs, mode):
    keras_config, plait_config = MODES[mode]()
    mode = mode.split("-")[0]
    theirs.quantize(mode, config=keras_config)
    ours.quantize(mode, config=plait_config)


def assert_same_variables(ours, theirs):
    assert ours.dtype_policy.name == theirs.dtype_policy.name
    assert type(ours.dtype_policy).__name__ == type(theirs.dtype_policy).__name__
    names = [w.path.split("/")[-1] for w in theirs.weights]
    assert [spec.name for _, spec in ours.weight_entries()] == names
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        assert_same(a, b)


LAYERS = [
    ("Dense", (6,), {"bias_initializer": "ones"}, (None, 16), (5, 16)),
    ("Dense", (3,), {"use_bias": False, "activation": "relu"}, (None, 4, 9), (2, 4, 9)),
    ("EinsumDense", ("abc,cde->abde", (None, 4, 8)), {"bias_axes": "de"}, (None, 5, 8), (3, 5, 8)),
    ("EinsumDense", ("ab,bcd->adc", (5, 3)), {}, (None, 9), (4, 9)),
    ("EinsumDense", ("abc,bcd->ad", (5,)), {"bias_axes": "d"}, (None, 3, 4), (2, 3, 4)),
]


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("name, args, kwargs, build_shape, x_shape", LAYERS)
def test_dense_layers_quantize_as_keras(mode, name, args, kwargs, build_shape, x_shape):
    ours, theirs = twins(name, *args, input_shape=build_shape, **kwargs)
    quantize_both(ours, theirs, mode)
    assert_same_variables(ours, theirs)
    x = rng.normal(size=x_shape).astype("float32")
    assert_same(ours(torch.tensor(x)), theirs(x))
    # The gradient reaches the inputs through the dequantized kernel (Keras's custom gradient).
    grads = []
    for layer in (ours, theirs):
        inputs = torch.tensor(x, requires_grad=True)
        try:
            layer(inputs).square().sum().backward()
        except RuntimeError:
            # Keras 3.15's weights-only int8 EinsumDense adjusts its scale twice in the gradient
            # and fails when the output transposes the kernel ("ab,bcd->adc"): the reference is
            # then the float product with the dequantized kernel.
            assert layer is theirs and mode == "int8-weights-only"
            inputs = torch.tensor(x, requires_grad=True)
            reference = torch.einsum(args[0], inputs, ours.dequantized("kernel"))
            reference.square().sum().backward()
        grads.append(inputs.grad)
    assert_same(*grads, atol=1e-5)


@pytest.mark.parametrize("mode", ["int8", "int4-grouped", "int4-per-channel"])
@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("Embedding", {"mask_zero": True}),
        ("ReversibleEmbedding", {}),
        ("ReversibleEmbedding", {"tie_weights": False, "logit_soft_cap": 2.0}),
    ],
)
def test_embeddings_quantize_as_keras(mode, name, kwargs):
    ours, theirs = twins(name, 11, 7, input_shape=(None, 5), input_dtype="int64", **kwargs)
    quantize_both(ours, theirs, mode)
    assert_same_variables(ours, theirs)
    ids = rng.integers(0, 11, size=(3, 5))
    assert_same(ours(torch.tensor(ids)), theirs(ids))
    if name == "ReversibleEmbedding":
        hidden = rng.normal(size=(3, 5, 7)).astype("float32")
        assert_same(ours(torch.tensor(hidden), reverse=True), theirs(hidden, reverse=True))


def test_quantized_policy_builds_quantized_layers_and_configs_round_trip():
    theirs = keras.layers.Dense(6)
    theirs.build((None, 16))
    theirs.quantize("int4")
    ours = plait.layers.Dense.from_config(theirs.get_config())
    ours.build((None, 16))
    assert ours.dtype_policy.name == "int4/128_from_float32"
    assert [(n, tuple(b.shape), b.dtype) for n, b in ours.named_buffers()] == [
        ("kernel", (16, 3), torch.int8),
        ("kernel_scale", (1, 6), torch.float32),
        ("kernel_zero", (1, 6), torch.int8),
        ("g_idx", (16,), torch.float32),
    ]
    config = ours.get_config()
    assert config["dtype"] == theirs.get_config()["dtype"]
    assert config["quantization_config"] == theirs.get_config()["quantization_config"]
    again = keras.layers.Dense.from_config(config)
    again.build((None, 16))
    assert [w.path.split("/")[-1] for w in again.weights] == ["bias", "kernel", "kernel_scale", "kernel_zero", "g_idx"]
    layer = plait.layers.Dense(3, dtype="float8_from_float32")
    layer(torch.ones(2, 4))
    assert layer.inputs_amax_history.shape == (1024,) and layer.kernel.dtype == torch.float32


# ---------------------------------------------------------------------------- models


def small_model(lib):
    inputs = lib.Input(shape=(10,), dtype="int32")
    h = lib.layers.Embedding(50, 16)(inputs)
    h = lib.layers.EinsumDense("abc,cd->abd", (None, 12), bias_axes="d", activation="relu")(h)
    h = lib.layers.GlobalAveragePooling1D()(h)
    h = lib.layers.Dense(8, activation="relu", name="hidden")(h)
    return lib.Model(inputs, lib.layers.Dense(3, activation="softmax", name="head")(h))


@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_model_quantize_and_keras_files_both_ways(mode, tmp_path):
    theirs, ours = small_model(keras), small_model(plait)
    ours.set_weights(theirs.get_weights())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns for each layer without a quantized form
        theirs.quantize(mode)
    ours.quantize(mode)
    assert [layer.dtype_policy.name for layer in ours.layers] == [layer.dtype_policy.name for layer in theirs.layers]
    x = rng.integers(0, 50, size=(6, 10)).astype("int32")
    expected = theirs.predict(x, verbose=0)
    assert_same(ours.predict(x, verbose=0), expected)

    ours.save(tmp_path / "ours.keras")
    assert_same(keras.saving.load_model(tmp_path / "ours.keras").predict(x, verbose=0), expected)
    theirs.save(tmp_path / "theirs.keras")
    loaded = plait.models.load_model(tmp_path / "theirs.keras")
    assert_same(loaded.predict(x, verbose=0), expected)
    assert loaded.get_layer("hidden").kernel.dtype == torch.int8
    ours.save(tmp_path / "ours.plait")
    assert_same(plait.models.load_model(tmp_path / "ours.plait").predict(x, verbose=0), expected)


def test_model_quantize_filters_and_skips_layers_without_a_quantized_form():
    model = plait.Sequential([plait.Input(shape=(8, 8, 1)), plait.layers.Conv2D(2, 3), plait.layers.Flatten()])
    model.add(plait.layers.Dense(4, name="first"))
    model.add(plait.layers.Dense(2, name="second"))
    with pytest.warns(UserWarning, match=r"Layer 'conv2d\w*' \(Conv2D\) has no quantized form"):
        model.quantize("int8", filters=["sec", "conv"])
    assert model.get_layer("first").quantization_mode is None
    assert model.get_layer("second").quantization_mode == "int8"
    model.quantize("int8", filters=lambda layer: layer.name == "first")
    assert model.get_layer("first").quantization_mode == "int8"
    with pytest.raises(ValueError, match="`filters` argument must be"):
        model.quantize("int8", filters=3)


@pytest.mark.parametrize("mode", ["int8", "int4", "float8"])
def test_quantized_training_matches_keras(mode):
    x = rng.normal(size=(32, 12)).astype("float32")
    y = rng.normal(size=(32, 4)).astype("float32")

    def build(lib):
        return lib.Sequential([lib.Input(shape=(12,)), lib.layers.Dense(16, activation="relu"), lib.layers.Dense(4)])

    theirs, ours = build(keras), build(plait)
    ours.set_weights(theirs.get_weights())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns for its InputLayer
        theirs.quantize(mode)
    ours.quantize(mode)
    theirs.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    ours.compile(optimizer=plait.optimizers.SGD(0.05), loss="mse", jit_compile=False)
    expected = theirs.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
    got = ours.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    # int8/int4 kernels stay frozen while the bias trains; float8 moves its scales and amax
    # histories (Keras writes them through the optimizer, plait in the pass itself).
    for ours_layer, their_layer in zip(ours.layers, theirs.layers):
        by_name = {w.path.split("/")[-1]: w for w in their_layer.weights}
        for owner, spec in ours_layer.weight_entries():
            assert_same(spec.to_keras(spec.get(owner)), by_name[spec.name], atol=1e-5)
    if mode == "float8":
        assert float(ours.layers[0].outputs_grad_amax_history[0]) > 0


def test_quantized_models_trace_with_torch_export():
    model = plait.Sequential([plait.Input(shape=(12,)), plait.layers.Dense(16, activation="relu")])
    model.add(plait.layers.Dense(4))
    model.quantize("int8")
    x = torch.randn(5, 12)
    program = torch.export.export(model, (x,))
    assert_same(program.module()(x), model(x), atol=0)


# ---------------------------------------------------------------------------- errors


def test_quantize_errors_name_the_layer_and_the_value():
    layer = plait.layers.Dense(3, name="proj")
    with pytest.raises(ValueError, match="isn't yet built. Layer 'proj'"):
        layer.quantize("int8")
    layer(torch.ones(1, 4))
    with pytest.raises(ValueError, match="Invalid quantization mode.*Received: mode=int3"):
        layer.quantize("int3")
    with pytest.raises(ValueError, match="Contradictory arguments: mode='int8' but config.mode='int4'"):
        layer.quantize("int8", config=quantizers.Int4QuantizationConfig())
    layer.quantize("int8")
    with pytest.raises(ValueError, match="Layer 'proj' is already quantized with dtype_policy='int8_from_float32'"):
        layer.quantize("int4")
    table = plait.layers.Embedding(5, 2, name="table")
    table(torch.tensor([[1]]))
    with pytest.raises(NotImplementedError, match=r"Layer 'table' \(Embedding\).*Received: quantization_mode=float8"):
        table.quantize("float8")
    conv = plait.layers.Conv1D(2, 3, name="conv")
    conv(torch.ones(1, 5, 1))
    with pytest.raises(NotImplementedError, match=r"Layer 'conv' \(Conv1D\) does not have a `quantize` method"):
        conv.quantize("int8")

    class MyDense(plait.layers.Dense):
        pass

    mine = MyDense(2, name="mine")
    mine(torch.ones(1, 3))
    with pytest.raises(NotImplementedError, match=r"Layer 'mine' \(MyDense\)"):
        mine.quantize("int8")
    with pytest.raises(ValueError, match="For GPTQ, pass a `GPTQConfig`"):
        mine.quantize("gptq")


@pytest.mark.parametrize("mode", ["int8", "int8-weights-only", "int4-grouped", "int4-per-channel", "float8"])
def test_mixed_bfloat16_quantized_layers_match_keras(mode):
    # Keras computes a quantized call in bfloat16 (inputs and scales cast); so does plait.
    x = rng.normal(size=(3, 5, 8)).astype("float32")
    cases = [("Dense", (6,), {"bias_initializer": "ones"}, (None, 5, 8))]
    cases.append(("EinsumDense", ("abc,cde->abde", (None, 4, 3)), {"bias_axes": "de"}, (None, 5, 8)))
    for name, args, kwargs, shape in cases:
        ours, theirs = twins(name, *args, input_shape=shape, dtype="mixed_bfloat16", **kwargs)
        quantize_both(ours, theirs, mode)
        got, expected = ours(torch.tensor(x)), theirs(x)
        assert got.dtype == expected.dtype == torch.bfloat16
        assert_same(got.float(), expected.float())
    if mode != "float8":
        ours, theirs = twins(
            "ReversibleEmbedding", 11, 8, input_shape=(None, 5), input_dtype="int64", dtype="mixed_bfloat16"
        )
        quantize_both(ours, theirs, mode)
        ids = rng.integers(0, 11, size=(3, 5))
        assert_same(ours(torch.tensor(ids)).float(), theirs(ids).float())
        assert_same(ours(torch.tensor(x), reverse=True).float(), theirs(x, reverse=True).float())
