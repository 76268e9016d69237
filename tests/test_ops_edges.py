"""``plait.ops`` math, linalg, image and core against ``keras.ops`` (Keras 3 on torch) beyond the
one case per op of ``test_ops.py``: the other code paths (istft's own overlap-add, every fill
mode and interpolation, channels-first images, integer images, dropped segment ids, structured
scans), and the errors that name the op. Values agree to rtol = atol = 1e-5, integers exactly."""

import copy
import os
import warnings

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from plait import ops  # noqa: E402

if keras.backend.backend() != "torch":
    pytest.skip("Keras was imported with another backend", allow_module_level=True)

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

rng = np.random.default_rng(7)
SIG = rng.normal(size=(2, 3, 40)).astype("float32")
IMG = rng.uniform(size=(2, 9, 7, 3)).astype("float32")
U8 = (IMG * 255).astype("uint8")
CF = np.ascontiguousarray(IMG.transpose(0, 3, 1, 2))
VOL = rng.normal(size=(4, 5, 6)).astype("float32")
COORDS = rng.uniform(-3, 8, size=(3, 7, 2)).astype("float32")
ROWS = rng.normal(size=(6, 3)).astype("float32")
AFFINE = np.array([[2.0, 0.4, 1.0, -0.2, 1.8, 3.0, 0, 0], [1.6, 0.0, -2.0, 0.0, 2.4, 0.6, 0, 0]], "float32")
QUADS = (
    np.array([[[0, 0], [6, 0], [0, 8], [6, 8]], [[1, 1], [5, 0], [0, 7], [6, 8]]], "float32"),
    np.array([[[1, 0], [6, 1], [0, 8], [5, 7]], [[0, 0], [6, 0], [0, 8], [6, 8]]], "float32"),
)


def _leaves(x):
    if isinstance(x, dict):
        return [leaf for key in sorted(x) for leaf in _leaves(x[key])]
    if isinstance(x, (list, tuple)):
        return [leaf for item in x for leaf in _leaves(item)]
    return [x]


def _check(ours, theirs):
    ours, theirs = _leaves(ours), _leaves(theirs)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        a, b = np.asarray(ops.convert_to_numpy(a)), np.asarray(keras.ops.convert_to_numpy(b))
        assert (a.dtype, a.shape) == (b.dtype, b.shape)
        np.testing.assert_allclose(a.astype("float64"), b.astype("float64"), rtol=1e-5, atol=1e-5, equal_nan=True)


def _run(module_path, name, args, kwargs):
    ours, theirs = ops, keras.ops
    for part in module_path:
        ours, theirs = getattr(ours, part), getattr(theirs, part)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras's own deprecation warnings are not plait's
        expected = getattr(theirs, name)(*copy.deepcopy(args), **copy.deepcopy(kwargs))
    _check(getattr(ours, name)(*copy.deepcopy(args), **copy.deepcopy(kwargs)), expected)


def _spectrum(length, stride, fft_length, **kwargs):
    return tuple(np.asarray(s) for s in keras.ops.stft(SIG, length, stride, fft_length, **kwargs))


def _step(carry, x):
    return carry * 0.5 + x, (carry, x * 2)


# (name, args, kwargs) per family; ids say which path each case takes.
MATH = {
    "stft-no-window": ("stft", (SIG, 10, 4, 16), {"window": None}),
    "stft-hamming-uncentered": ("stft", (SIG, 10, 4, 16), {"window": "hamming", "center": False}),
    "istft-torch-path-length": ("istft", (_spectrum(8, 4, 8), 8, 4, 8), {"length": 30}),
    "istft-padded-window": ("istft", (_spectrum(10, 4, 16), 10, 4, 16), {}),
    "istft-no-window": ("istft", (_spectrum(10, 4, 16, window=None), 10, 4, 16), {"window": None}),
    "istft-uncentered": ("istft", (_spectrum(16, 4, 16, center=False), 16, 4, 16), {"center": False}),
    "istft-array-window": (
        "istft",
        (_spectrum(16, 4, 16, center=False), 16, 4, 16),
        {"window": np.hanning(16).astype("float32"), "center": False},
    ),
    "segment_sum-dropped-ids": ("segment_sum", (ROWS, np.array([0, 2, 2, -1, 5, 1])), {"num_segments": 4}),
    "segment_max-inferred-count": ("segment_max", (ROWS, np.array([0, 1, 1, 2, 3, 3])), {}),
    "segment_prod-int": ("segment_prod", (np.array([3, 1, 4, 1, 5, 9], "int32"), np.array([0, 1, 1, 2, 3, 3])), {}),
    "segment_min-empty": ("segment_min", (ROWS, np.array([0, 0, 3, 3, 3, 0])), {"num_segments": 4}),
    "cdist-broadcast": ("cdist", (ROWS[None, None, :4], rng.normal(size=(2, 1, 5, 3)).astype("float32")), {}),
    "extract_sequences-3d": ("extract_sequences", (SIG, 7, 3), {}),
    "rfft-padded": ("rfft", (SIG, 64), {}),
    "irfft-cropped": ("irfft", ((SIG, SIG), 20), {}),
    "logsumexp-axes": ("logsumexp", (SIG,), {"axis": (0, 2)}),
    "in_top_k-ties": ("in_top_k", (np.array([0, 1]), np.array([[1.0, 1.0, 0.0], [0.5, 0.2, 0.2]], "float32"), 1), {}),
}
LINALG = {
    "solve-matrix-rhs": ("solve", (np.eye(3, dtype="float32") * 2 + 0.1, ROWS[:3]), {}),
    "solve_triangular-upper-vector": (
        "solve_triangular",
        (np.triu(ROWS[:3, :3]) + 3 * np.eye(3, dtype="float32"), ROWS[0]),
        {},
    ),
    "svd-values": ("svd", (ROWS,), {"compute_uv": False}),
    "norm-int64": ("norm", (np.array([[3, 4], [6, 8]], "int64"),), {"axis": -1, "keepdims": True}),
    "norm-nuc": ("norm", (ROWS[:3],), {"ord": "nuc"}),
    "lstsq-rcond": ("lstsq", (ROWS, ROWS[:, :2]), {"rcond": 1e-3}),
    "lu_factor-batched": ("lu_factor", (rng.normal(size=(2, 3, 3)).astype("float32"),), {}),
}
FILL_MODES = ["constant", "nearest", "wrap", "mirror", "reflect"]
IMAGE = {
    **{
        f"resize-{method}-uint8-antialias": ("resize", (U8, (5, 4)), {"interpolation": method, "antialias": True})
        for method in ("bilinear", "bicubic", "nearest")
    },
    "resize-upsample-single-image": ("resize", (IMG[0], (13, 11)), {"interpolation": "bicubic"}),
    "resize-channels-first": ("resize", (CF, (4, 6)), {"data_format": "channels_first"}),
    "resize-pad-fill-value": ("resize", (IMG, (6, 6)), {"pad_to_aspect_ratio": True, "fill_value": 0.5}),
    "resize-float16": ("resize", (IMG.astype("float16"), (6, 6)), {}),
    **{
        f"affine_transform-{mode}-{interpolation}": (
            "affine_transform",
            (IMG, AFFINE),
            {"interpolation": interpolation, "fill_mode": mode, "fill_value": 0.3},
        )
        for mode in FILL_MODES
        for interpolation in ("nearest", "bilinear")
    },
    "affine_transform-channels-first": ("affine_transform", (CF, AFFINE / 2), {"data_format": "channels_first"}),
    "affine_transform-uint8": ("affine_transform", (U8, AFFINE / 2), {}),
    **{
        f"map_coordinates-{mode}-order{order}": (
            "map_coordinates",
            (VOL, COORDS, order),
            {"fill_mode": mode, "fill_value": -1.0},
        )
        for mode in FILL_MODES
        for order in (0, 1)
    },
    "map_coordinates-int": ("map_coordinates", ((VOL * 10).astype("int32"), COORDS, 1), {}),
    "perspective_transform-batched": ("perspective_transform", (IMG, *QUADS), {}),
    "perspective_transform-nearest-fill": (
        "perspective_transform",
        (IMG, QUADS[0][0], QUADS[1][0]),
        {"interpolation": "nearest", "fill_value": 1.0},
    ),
    "perspective_transform-channels-first": ("perspective_transform", (CF, *QUADS), {"data_format": "channels_first"}),
    "crop_images-all-margins": (
        "crop_images",
        (IMG,),
        {"top_cropping": 1, "bottom_cropping": 2, "left_cropping": 1, "right_cropping": 3},
    ),
    "crop_images-channels-first": (
        "crop_images",
        (CF,),
        {
            "target_height": 4,
            "bottom_cropping": 2,
            "target_width": 3,
            "right_cropping": 1,
            "data_format": "channels_first",
        },
    ),
    "pad_images-bottom-target": (
        "pad_images",
        (IMG,),
        {"bottom_padding": 1, "target_height": 12, "right_padding": 2, "left_padding": 1},
    ),
    "pad_images-channels-first": ("pad_images", (CF, 1, 2, 3, 4), {"data_format": "channels_first"}),
    **{
        f"scale_and_translate-{method}-antialias{antialias}": (
            "scale_and_translate",
            (IMG, (2, 5, 4, 3), np.array([0.6, 0.55], "float32"), np.array([0.2, -0.3], "float32"), (1, 2), method),
            {"antialias": antialias},
        )
        for method in ("linear", "cubic", "lanczos3", "lanczos5")
        for antialias in (True, False)
    },
    "scale_and_translate-uint8-upsample": (
        "scale_and_translate",
        (U8, (2, 14, 12, 3), np.array([1.6, 1.7], "float32"), np.array([0.2, 0.1], "float32"), (1, 2), "bicubic"),
        {},
    ),
    "rgb_to_hsv-channels-first": ("rgb_to_hsv", (CF,), {"data_format": "channels_first"}),
    "hsv_to_rgb-channels-first": ("hsv_to_rgb", (CF,), {"data_format": "channels_first"}),
    "rgb_to_grayscale-uint8": ("rgb_to_grayscale", (U8,), {}),
    "rgb_to_grayscale-one-channel": ("rgb_to_grayscale", (IMG[..., :1],), {}),
    "sobel_edges-channels-first": ("sobel_edges", (CF,), {"data_format": "channels_first"}),
    "extract_patches-same-strides": ("extract_patches", (IMG, (3, 2)), {"strides": (2, 1), "padding": "same"}),
    "extract_patches-dilated": ("extract_patches", (IMG, 2), {"strides": 1, "dilation_rate": 2}),
    "extract_patches-channels-first": (
        "extract_patches",
        (CF, 3),
        {"strides": 2, "padding": "same", "data_format": "channels_first"},
    ),
    "extract_patches-volumes": (
        "extract_patches",
        (rng.normal(size=(1, 5, 6, 7, 2)).astype("float32"), (2, 3, 2)),
        {"strides": (1, 2, 3), "padding": "same"},
    ),
    "extract_patches_3d-unbatched-same": (
        "extract_patches_3d",
        (rng.normal(size=(5, 6, 7, 2)).astype("float32"), 2),
        {"padding": "same"},
    ),
    "ssim-channels-first": ("ssim", (CF, CF * 0.8), {"filter_size": 5, "data_format": "channels_first"}),
    "ssim-float64": ("ssim", (IMG.astype("float64"), IMG.astype("float64") ** 2), {"filter_size": 3}),
}
X = rng.normal(size=(4, 3, 2)).astype("float32")
INDICES = np.array([[0, 1], [2, 2], [0, 1], [3, 0]])
UPDATES = rng.normal(size=(4, 2)).astype("float32")
CORE = {
    **{
        f"scatter_update-{reduction}": ("scatter_update", (X, INDICES, UPDATES), {"reduction": reduction})
        for reduction in ("add", "mul", "max", "min")
    },
    "scatter_update-full-index": (
        "scatter_update",
        (X, np.array([[0, 1, 1], [3, 2, 0]]), np.array([5.0, 6.0], "float32")),
        {},
    ),
    "scatter-rows": ("scatter", (np.array([[0, 1], [2, 2], [0, 1]]), UPDATES[:3], (4, 3, 2)), {}),
    "saturate_cast-int64-int32": (
        "saturate_cast",
        (np.array([-(2**40), -5, 2**40], "int64"), "int32"),
        {},
    ),
    "saturate_cast-float64-float16": ("saturate_cast", (np.array([-1e10, 0.5, 1e10]), "float16"), {}),
    **{
        f"associative_scan-length{n}": ("associative_scan", (torch.add, rng.normal(size=(n, 3)).astype("float32")), {})
        for n in (1, 2, 5, 8)
    },
    "associative_scan-reverse-product": (
        "associative_scan",
        (torch.mul, rng.normal(size=(7, 2)).astype("float32")),
        {"reverse": True},
    ),
    "scan-reverse-structured-output": ("scan", (_step, torch.tensor(1.0), torch.tensor(ROWS[:, 0])), {"reverse": True}),
    "slice-tensor-starts": ("slice", (X, torch.tensor([1, 0, 1]), torch.tensor([2, 3, 1])), {}),
    "slice_update-tensor-starts": ("slice_update", (X, torch.tensor([1, 1, 0]), np.ones((2, 2, 2), "float32")), {}),
    "while_loop-maximum-iterations": (
        "while_loop",
        (torch.less, lambda a, b: (a + 1, b * 2), (torch.tensor(0), torch.tensor(10))),
        {"maximum_iterations": 4},
    ),
    "switch-clipped-index": ("switch", (7, [torch.neg, torch.abs], torch.tensor(-3.0)), {}),
    "unstack-axis": ("unstack", (torch.tensor(X),), {"axis": 2}),
}


def _params(table, family):
    return [pytest.param(family, *case, id=key) for key, case in table.items()]


@pytest.mark.parametrize(
    "family,name,args,kwargs",
    _params(MATH, ()) + _params(LINALG, ("linalg",)) + _params(IMAGE, ("image",)) + _params(CORE, ()),
)
def test_matches_keras(family, name, args, kwargs):
    _run(family, name, args, kwargs)


def test_gaussian_blur_reads_images_channels_last_by_default():
    # Keras's torch backend takes data_format=None as channels first here; its docs and other
    # backends as channels last (image_data_format), which plait follows.
    _check(ops.image.gaussian_blur(IMG), keras.ops.image.gaussian_blur(IMG, data_format="channels_last"))
    moved = ops.image.gaussian_blur(CF, data_format="channels_first")
    torch.testing.assert_close(moved.permute(0, 2, 3, 1), ops.image.gaussian_blur(IMG))


def test_empty_integer_segments_hold_the_reduction_identity():
    # Keras casts +-inf to the integer dtype (undefined; INT_MIN on x86 for both); plait fills
    # with the dtype's bounds, the identity of max and min.
    data, ids = np.array([3, 1], "int32"), np.array([0, 0])
    assert ops.segment_max(data, ids, num_segments=2).tolist() == [3, torch.iinfo(torch.int32).min]
    assert ops.segment_min(data, ids, num_segments=2).tolist() == [1, torch.iinfo(torch.int32).max]


def test_saturate_cast_clips_floats_to_the_integer_range():
    out = ops.saturate_cast(np.array([-1e10, 7.9, 1e10], "float32"), "int32")
    assert out.tolist() == [-(2**31), 7, 2**31 - 128]  # float32's largest value below 2^31


def test_projective_affine_transform_divides_by_the_third_row():
    # c0 = 0.1: output pixel (x, y) reads the input at (x / k, y / k) with k = 0.1 x + 1.
    images = torch.arange(16.0).reshape(1, 4, 4, 1)
    out = ops.image.affine_transform(images, [1.0, 0, 0, 0, 1.0, 0, 0.1, 0], interpolation="nearest")
    ys, xs = torch.meshgrid(torch.arange(4.0), torch.arange(4.0), indexing="ij")
    k = 0.1 * xs + 1
    expected = images[0, torch.round(ys / k).long(), torch.round(xs / k).long(), 0]
    torch.testing.assert_close(out[0, ..., 0], expected)


def test_image_ops_keep_autograd_and_compile():
    images = torch.tensor(IMG, requires_grad=True)
    ops.image.affine_transform(images, AFFINE).sum().backward()
    assert images.grad.abs().sum() > 0
    compiled = torch.compile(lambda x: ops.image.resize(ops.image.gaussian_blur(x), (4, 4)), backend="eager")
    torch.testing.assert_close(compiled(torch.tensor(IMG)), ops.image.resize(ops.image.gaussian_blur(IMG), (4, 4)))


@pytest.mark.parametrize(
    "call,error,match",
    [
        (
            lambda: ops.linalg.det(np.ones((2, 3), "float32")),
            ValueError,
            r"ops.det: expected a square matrix.*\(2, 3\)",
        ),
        (lambda: ops.linalg.solve(np.eye(2), np.ones(3)), ValueError, r"ops.solve: `b` must have 2 rows"),
        (lambda: ops.linalg.norm(np.ones(3), ord="max"), ValueError, r"ops.norm: a string `ord`"),
        (lambda: ops.segment_sum(ROWS, np.array([[0, 1]])), ValueError, r"ops.segment_sum: `segment_ids` must be"),
        (lambda: ops.fft((SIG, SIG[..., :3])), ValueError, r"ops.fft: the real and imaginary parts"),
        (lambda: ops.stft(SIG.astype("float16"), 8, 4, 8), TypeError, r"ops.stft: `x` must be float32"),
        (lambda: ops.stft(SIG, 8, 4, 8, window="blackman"), ValueError, r"ops.stft: `window` must be"),
        (lambda: ops.image.resize(IMG, (4, 4), interpolation="lanczos3"), ValueError, r"no Lanczos"),
        (lambda: ops.image.resize(IMG[0, 0], (4, 4)), ValueError, r"ops.image.resize: expected rank 3.*\(7, 3\)"),
        (lambda: ops.image.crop_images(IMG, 1, 1), ValueError, r"give exactly two of top_cropping"),
        (lambda: ops.image.pad_images(IMG, 1, 1, target_height=4, target_width=9), ValueError, r"do not fit"),
        (lambda: ops.image.affine_transform(IMG, AFFINE, fill_mode="edge"), ValueError, r"`fill_mode` must be one"),
        (lambda: ops.image.map_coordinates(VOL, COORDS[:2], 1), ValueError, r"one coordinate per axis"),
        (lambda: ops.image.rgb_to_hsv(U8), ValueError, r"ops.image.rgb_to_hsv: expected float images"),
        (lambda: ops.scatter_update(X, INDICES, UPDATES, reduction="mean"), ValueError, r"`reduction` must be"),
        (lambda: ops.scan(_step, 0.0), ValueError, r"ops.scan: give `xs`"),
    ],
)
def test_bad_input_names_the_op(call, error, match):
    with pytest.raises(error, match=match):
        call()
