"""``plait.ops.nn`` beyond the one-case-per-op table of ``test_ops.py``: the argument
combinations where Keras's conventions differ from torch's (data formats, 'same' padding with
strides, transposed-conv output sizes, beam-search decoding, masks...), each against Keras 3 on
its torch backend; and the errors bad arguments raise."""

import itertools
import os
import warnings

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import plait  # noqa: E402
from plait import ops  # noqa: E402

if keras.backend.backend() != "torch":
    pytest.skip("Keras was imported with another backend", allow_module_level=True)

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

rng = np.random.default_rng(7)


def normal(*shape):
    return rng.normal(size=shape).astype("float32")


def check(name, *args, rtol=1e-5, atol=1e-5, **kwargs):
    """plait's op against Keras's on the same arguments: dtype, shape and values."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras's own deprecation warnings
        theirs = getattr(keras.ops.nn, name)(*args, **kwargs)
    ours = getattr(ops.nn, name)(*args, **kwargs)
    for a, b in zip(*(t if isinstance(t, (tuple, list)) else (t,) for t in (ours, theirs))):
        b = keras.ops.convert_to_numpy(b)
        assert str(a.dtype).replace("torch.", "") == str(b.dtype), (a.dtype, b.dtype)
        assert tuple(a.shape) == b.shape
        np.testing.assert_allclose(a.detach().cpu().numpy(), b, rtol=rtol, atol=atol)
    return ours


# ---------------------------------------------------------------------------- convolution
@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("strides,padding,dilation", [(1, "valid", 1), (2, "same", 1), (3, "same", 1), (1, "same", 2)])
def test_conv_layouts_strides_and_padding(rank, data_format, strides, padding, dilation):
    spatial = (7, 6, 5)[:rank]
    x = normal(2, *spatial, 4) if data_format == "channels_last" else normal(2, 4, *spatial)
    kernel = normal(*(3, 2, 3)[:rank], 4, 5)
    check("conv", x, kernel, strides=strides, padding=padding, data_format=data_format, dilation_rate=dilation)


def test_grouped_depthwise_and_separable_conv():
    x = normal(2, 9, 8, 6)
    check("conv", x, normal(3, 3, 2, 9), padding="same")  # 3 groups of 2 channels
    check("depthwise_conv", x, normal(3, 3, 6, 2), strides=2, padding="same")
    check("depthwise_conv", x.transpose(0, 3, 1, 2), normal(2, 2, 6, 1), data_format="channels_first")
    check("separable_conv", x, normal(3, 3, 6, 2), normal(1, 1, 12, 4), strides=(2, 1), padding="same")
    check("depthwise_conv", normal(2, 10, 3), normal(3, 3, 2), dilation_rate=2)


@pytest.mark.parametrize(
    "kernel,strides,padding,output_padding,dilation",
    [
        (k, s, p, op, d)
        for k, s, p, op, d in itertools.product((1, 2, 3, 4), (1, 2, 3), ("valid", "same"), (None, 0, 1), (1, 2))
        if (op is None or op < s) and (d == 1 or s == 1)
    ],
)
def test_conv_transpose_output_sizes(kernel, strides, padding, output_padding, dilation):
    x = normal(2, 5, 3)
    check(
        "conv_transpose",
        x,
        normal(kernel, 4, 3),
        strides=strides,
        padding=padding,
        output_padding=output_padding,
        dilation_rate=dilation,
    )


def test_conv_transpose_2d_3d_and_channels_first():
    check("conv_transpose", normal(1, 4, 5, 3), normal(3, 2, 6, 3), strides=(2, 3), padding="same")
    check("conv_transpose", normal(1, 3, 4, 5), normal(3, 3, 2, 3), strides=2, data_format="channels_first")
    check("conv_transpose", normal(1, 3, 3, 3, 2), normal(2, 3, 2, 4, 2), strides=2, padding="same")


# ---------------------------------------------------------------------------- pooling
@pytest.mark.parametrize("name", ["max_pool", "average_pool"])
@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("pool,strides,padding", [(2, None, "valid"), (3, 1, "same"), (3, 2, "same"), (2, 3, "same")])
def test_pools(name, rank, pool, strides, padding):
    spatial = (7, 6, 5)[:rank]
    check(name, normal(2, *spatial, 3), pool, strides=strides, padding=padding)
    check(name, normal(2, 3, *spatial), pool, strides=strides, padding=padding, data_format="channels_first")


@pytest.mark.parametrize("name", ["adaptive_max_pool", "adaptive_average_pool"])
def test_adaptive_pools(name):
    check(name, normal(2, 7, 3), 3)
    check(name, normal(2, 3, 7, 9), (2, 4), data_format="channels_first")
    check(name, normal(1, 5, 6, 7, 2), (2, 3, 4))


def test_depth_space_round_trip_and_channels_first():
    x = normal(2, 4, 6, 8)
    check("space_to_depth", x, 2, data_format="channels_first")
    check("depth_to_space", x, 2, data_format="channels_first")
    y = check("space_to_depth", x, 2)
    np.testing.assert_array_equal(ops.nn.depth_to_space(y, 2).numpy(), x)


# ---------------------------------------------------------------------------- activations, encodings
def test_softmax_over_all_axes_and_half_precision():
    x = normal(2, 3, 4)
    check("softmax", x, axis=None)
    check("log_softmax", x, axis=None)
    check("softmax", x.astype("float16"), axis=1, rtol=1e-3, atol=1e-3)
    check("log_softmax", x.astype("float16"), axis=(0, 2), rtol=1e-3, atol=1e-3)


def test_sparsemax_on_other_axes():
    check("sparsemax", normal(3, 5) * 2, axis=0)
    check("sparsemax", normal(2, 4, 3) * 3, axis=1)


def test_one_hot_and_multi_hot_conventions():
    labels = np.array([[0, 3], [-1, 1]], "int32")
    check("one_hot", labels, 4)  # a negative index is all zeros
    check("one_hot", labels, 4, axis=1, dtype="int64")
    check("one_hot", labels, 4, axis=0)
    check("multi_hot", labels.clip(0), 4)
    check("multi_hot", np.array([2, 0, 2], "int32"), 3)
    np.testing.assert_array_equal(ops.nn.multi_hot([1, 1], num_tokens=3).numpy(), [0.0, 1.0, 0.0])


# ---------------------------------------------------------------------------- losses
def test_crossentropies_on_other_axes_and_shapes():
    probs = keras.ops.convert_to_numpy(keras.ops.softmax(normal(2, 3, 4), axis=1))
    target = np.eye(3, dtype="float32")[rng.integers(0, 3, size=(2, 4))].transpose(0, 2, 1)
    check("categorical_crossentropy", target, probs, axis=1)
    check("categorical_crossentropy", target, np.log(probs), from_logits=True, axis=1)
    labels = rng.integers(0, 3, size=(2, 4))
    check("sparse_categorical_crossentropy", labels, probs, axis=1)
    check("sparse_categorical_crossentropy", labels, np.log(probs), from_logits=True, axis=1)
    check("sparse_categorical_crossentropy", np.array([[2], [0]]), probs[:, :, 0])  # a trailing axis of 1
    check("sparse_categorical_crossentropy", np.array(1), probs[0, :, 0])  # one sample
    # Probabilities at 0 and 1 are clipped (Keras's epsilon), not torch's log clamp at -100.
    check("binary_crossentropy", np.array([1.0, 0.0, 1.0], "float32"), np.array([0.0, 1.0, 1.0], "float32"))


def test_ctc_loss_with_another_blank():
    logits = normal(3, 6, 5)
    target = np.array([[1, 2, 2], [3, 0, 0], [4, 4, 1]], "int32")
    check("ctc_loss", target, logits, np.array([3, 1, 2], "int32"), np.array([6, 4, 5], "int32"), mask_index=0)
    check("ctc_loss", target, logits, np.array([3, 1, 3], "int32"), np.array([6, 6, 6], "int32"), mask_index=4)


def test_ctc_greedy_decode_options():
    logits = normal(3, 8, 4)
    logits[0, 1:3] = logits[0, 0]  # repeats to merge
    lengths = np.array([8, 5, 0], "int32")
    check("ctc_decode", logits, lengths)
    check("ctc_decode", logits, lengths, merge_repeated=False)
    check("ctc_decode", logits, lengths, mask_index=None)


@pytest.mark.parametrize("beam_width,top_paths,mask_index", [(1, 1, 0), (3, 2, 0), (10, 3, None), (100, 4, 2)])
def test_ctc_beam_search_decode(beam_width, top_paths, mask_index):
    logits = normal(3, 7, 5) * 2
    lengths = np.array([7, 4, 1], "int32")
    check(
        "ctc_decode",
        logits,
        lengths,
        strategy="beam_search",
        beam_width=beam_width,
        top_paths=top_paths,
        mask_index=mask_index,
    )


# ---------------------------------------------------------------------------- statistics, normalization
def test_moments_half_precision_and_synchronized():
    x = normal(4, 3) * 100
    check("moments", x.astype("float16"), [0], rtol=1e-3, atol=1e-1)
    check("moments", x, (0, 1), keepdims=True, rtol=1e-4)
    # synchronized=True outside a process group is the local batch's statistics.
    mean, var = ops.nn.moments(x, [0], synchronized=True)
    np.testing.assert_allclose(var.numpy(), x.var(0), rtol=1e-4)


def test_moments_synchronized_in_a_process_group(tmp_path):
    import torch.distributed as dist

    if not dist.is_available():
        pytest.skip("torch.distributed is not available")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/store", rank=0, world_size=1)
    try:
        x = torch.tensor(normal(5, 3), requires_grad=True)
        mean, var = ops.nn.moments(x, [0], synchronized=True)
        torch.testing.assert_close(mean, x.mean(0))
        torch.testing.assert_close(var, x.var(0, correction=0))
        var.sum().backward()  # the all_reduce passes gradients
        assert x.grad is not None
    finally:
        dist.destroy_process_group()


def test_layer_and_rms_normalization():
    x = normal(2, 3, 4)
    check("layer_normalization", x, normal(4), normal(4), epsilon=1e-3)
    check("layer_normalization", x, normal(3, 4), None, axis=(1, 2))
    check("layer_normalization", x, normal(4), axis=-1, rms_scaling=True)
    check("layer_normalization", x.astype("float16"), rtol=1e-3, atol=1e-3)
    check("rms_normalization", x, normal(3, 4), axis=(-2, -1))


def test_layer_and_rms_normalization_on_inner_axes():
    # Keras on torch hands a single inner axis to F.layer_norm, which normalises the last axis
    # instead (an error here); the reference is the formula, as Keras's other backends compute it.
    x, gamma, beta = normal(2, 3, 4), normal(3), normal(3)
    mean, var = x.mean(1, keepdims=True), x.var(1, keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-3) * gamma[:, None] + beta[:, None]
    ours = ops.nn.layer_normalization(x, gamma, beta, axis=1, epsilon=1e-3)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-5, atol=1e-5)
    ours = ops.nn.layer_normalization(x, gamma, axis=1, rms_scaling=True)
    np.testing.assert_allclose(ours.numpy(), x / np.sqrt(var + 1e-7) * gamma[:, None], rtol=1e-5, atol=1e-5)
    ours = ops.nn.rms_normalization(x, gamma[:, None], axis=1)
    expected = x / np.sqrt((x * x).mean(1, keepdims=True) + 1e-7) * gamma[:, None]
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_batch_normalization_on_channels_first():
    x = normal(2, 3, 4, 5)
    check("batch_normalization", x, normal(3), np.abs(normal(3)), 1, offset=normal(3), scale=normal(3))
    check("batch_normalization", x, normal(5), np.abs(normal(5)), -1, epsilon=0.1)


def test_normalize_orders_and_axes():
    x = normal(3, 4)
    for order in (1, 2, 3):
        check("normalize", x, axis=0, order=order)
    check("normalize", np.zeros((2, 3), "float32"))  # the norm floored at epsilon
    check("normalize", np.float32(3.0))


# ---------------------------------------------------------------------------- attention
def test_attention_masks_bias_and_grouped_heads():
    q, k, v = normal(2, 5, 4, 8), normal(2, 6, 2, 8), normal(2, 6, 2, 8)
    check("dot_product_attention", q, k, v)  # two query heads per key head
    check("dot_product_attention", q, k[:, :, :1], v[:, :, :1], scale=0.5)
    mask = rng.random((2, 1, 5, 6)) > 0.3
    mask[0, 0, 2] = False  # a fully masked row attends uniformly
    check("dot_product_attention", q, k, v, mask=mask)
    check("dot_product_attention", q, k, v, mask=mask, is_causal=True)
    check("dot_product_attention", q, k, v, bias=normal(1, 4, 5, 6))
    check("dot_product_attention", q, k, v, is_causal=True, flash_attention=False)


# ---------------------------------------------------------------------------- symbolic use
def test_nn_ops_as_graph_nodes_save_and_load(tmp_path):
    x = plait.Input(shape=(8, 8, 3))
    h = ops.nn.conv(x, np.ones((3, 3, 3, 4), "float32") * 0.1, strides=2, padding="same")
    h = ops.nn.max_pool(ops.nn.gelu(h), 2)
    h = ops.nn.conv_transpose(h, np.ones((2, 2, 2, 4), "float32") * 0.1, strides=2)
    y = ops.nn.softmax(h, axis=(1, 2))
    assert y.shape == (None, 4, 4, 2)
    model = plait.Model(x, y)
    data = torch.tensor(normal(2, 8, 8, 3))
    model.save(tmp_path / "m.plait")
    loaded = plait.models.load_model(tmp_path / "m.plait")
    torch.testing.assert_close(loaded(data), model(data))


def test_nn_ops_in_a_model_export_with_torch_export():
    x = plait.Input(shape=(8, 8, 3))
    h = ops.nn.conv(x, np.ones((3, 3, 3, 4), "float32") * 0.1, strides=2, padding="same")
    h = ops.nn.average_pool(ops.nn.max_pool(h, 3, strides=2, padding="same"), 3, strides=2, padding="same")
    h = ops.nn.conv_transpose(h, np.ones((3, 3, 2, 4), "float32") * 0.1, strides=2, padding="same")
    h = ops.nn.layer_normalization(h, axis=(1, 2))
    q = ops.reshape(h, (-1, 4, 1, 2))
    outputs = [ops.nn.dot_product_attention(q, q, q, is_causal=True), ops.nn.one_hot(ops.argmax(h, axis=-1), 3)]
    model = plait.Model(x, outputs)
    data = torch.tensor(normal(2, 8, 8, 3))
    exported = torch.export.export(model, (data,)).module()
    for ours, reference in zip(exported(data), model(data)):
        torch.testing.assert_close(ours, reference)


def test_docstrings_are_the_ops_own():
    docs = [getattr(ops.nn, name).__doc__ for name in ops.nn.__all__]
    assert all(doc and "Example:" in doc for doc in docs)
    assert len(set(doc.splitlines()[0] for doc in docs)) == len(docs)


# ---------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda: ops.nn.conv(normal(1, 5, 3), normal(3, 2, 4)), ValueError, "not a multiple of the kernel's"),
        (lambda: ops.nn.conv(normal(1, 5, 3), normal(3, 3, 4), padding="full"), ValueError, "'valid' or 'same'"),
        (lambda: ops.nn.conv(normal(5, 3), normal(3, 3, 4)), ValueError, "rank 3, 4 or 5"),
        (lambda: ops.nn.conv(normal(1, 5, 5, 3), normal(3, 3, 4)), ValueError, "rank-4 kernel"),
        (lambda: ops.nn.conv(normal(1, 5, 3), normal(3, 3, 4), strides=(1, 2)), ValueError, "strides"),
        (lambda: ops.nn.depthwise_conv(normal(1, 5, 3), normal(3, 2, 1)), ValueError, "3 channels but"),
        (lambda: ops.nn.conv_transpose(normal(1, 5, 3), normal(3, 4, 2)), ValueError, "3 channels but"),
        (lambda: ops.nn.max_pool(normal(4, 3), 2), ValueError, "ops.max_pool expects"),
        (lambda: ops.nn.depth_to_space(normal(1, 2, 2, 6), 2), ValueError, "multiple of block_size"),
        (lambda: ops.nn.one_hot([1], 3, sparse=True), ValueError, "sparse=True"),
        (lambda: ops.nn.multi_hot([1]), ValueError, "num_classes"),
        (lambda: ops.nn.categorical_crossentropy(normal(2, 3), normal(2, 4)), ValueError, "same shape"),
        (lambda: ops.nn.sparse_categorical_crossentropy([1, 2, 0], normal(2, 3)), ValueError, "without the class"),
        (lambda: ops.nn.binary_crossentropy(normal(2), normal(3)), ValueError, "same shape"),
        (lambda: ops.nn.layer_normalization(normal(2), scaling=1), TypeError, "unexpected keyword"),
        (lambda: ops.nn.normalize(normal(2), order=0), ValueError, "int >= 1"),
        (lambda: ops.nn.psnr(normal(2), normal(3), 1.0), ValueError, "same shape"),
        (lambda: ops.nn.ctc_decode(normal(1, 3, 3), [3], strategy="best"), ValueError, "'greedy' or 'beam_search'"),
        (lambda: ops.nn.dot_product_attention(*[normal(1, 2, 3)] * 3), ValueError, "4-D"),
        (lambda: ops.nn.dot_product_attention(normal(1, 2, 3, 4), *[normal(1, 2, 2, 4)] * 2), ValueError, "multiple"),
        (
            lambda: ops.nn.dot_product_attention(*[normal(1, 2, 1, 4)] * 3, attn_logits_soft_cap=1.0),
            ValueError,
            "soft_cap",
        ),
    ],
)
def test_bad_arguments_raise_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
