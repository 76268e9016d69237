"""``plait.ops`` against ``keras.ops`` (Keras 3 on its torch backend): every public op gives the
same numbers, dtype and shape on the same inputs; signatures match; ops on symbolic tensors become
graph nodes whose models compute as Keras's and save and load; bad inputs raise errors naming
the op."""

import copy
import inspect
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

rng = np.random.default_rng(0)
A = rng.normal(size=(2, 3)).astype("float32")
B = rng.normal(size=(2, 3)).astype("float32")
P = (np.abs(A) + 0.5).astype("float32")  # positive
U = np.tanh(A).astype("float32")  # in (-1, 1)
V = np.array([0.5, -1.0, 2.0, 3.0], "float32")
W = np.array([1.0, 0.25, -2.0, 0.5], "float32")
A4 = rng.normal(size=(2, 4)).astype("float32")
X3 = rng.normal(size=(2, 3, 4)).astype("float32")
M = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]], "float32")  # symmetric positive definite
L = np.linalg.cholesky(M).astype("float32")
I = np.array([[1, 2, 3], [4, 5, 6]], "int32")  # noqa: E741
J = np.array([[3, 1, 2], [2, 5, 4]], "int32")
I1 = np.array([0, 1, 1, 3, 2, 1], "int32")
T = A > 0
T2 = B > 0
NAN = np.array([[1.0, np.nan, 3.0], [np.inf, -np.inf, 2.0]], "float32")
IMG = rng.uniform(size=(2, 8, 8, 3)).astype("float32")
PROBS = np.array([[0.2, 0.5, 0.3], [0.1, 0.1, 0.8]], "float32")
ONEHOT = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], "float32")
Q = rng.normal(size=(2, 4, 2, 8)).astype("float32")  # (batch, seq, heads, dim)
SIG = rng.normal(size=(2, 32)).astype("float32")
C = (A + 1j * B).astype("complex64")


def _double(x):
    return x * 2


def _add(a, b):
    return a + b


def _true_fn():
    return torch.tensor(1.0)


def _false_fn():
    return torch.tensor(0.0)


def _scan_step(carry, x):
    return carry + x, carry * x


def _neg(x):
    return -x


# name -> list of (args, kwargs). Every public op needs at least one case (test_every_op_has_a_case).
CASES = {
    # ---------------------------------------------------------------- numpy
    "abs": [((A,), {}), ((I,), {})],
    "absolute": [((A,), {})],
    "add": [((A, B), {}), ((I, 1.5), {}), ((I, 2), {}), ((A.astype("float64"), A.astype("float64")), {})],
    "all": [((T,), {"axis": 0}), ((T,), {})],
    "allclose": [((A, B), {}), ((A, A + 1e-9), {})],
    "amax": [((A,), {"axis": 1})],
    "amin": [((A,), {"keepdims": True, "axis": 0})],
    "angle": [((A,), {})],
    "any": [((T,), {"axis": 1})],
    "append": [((A, B), {"axis": 0}), ((A, B), {})],
    "arange": [((1, 7, 2), {}), ((5,), {"dtype": "float32"}), ((0.0, 1.0, 0.25), {})],
    "arccos": [((U,), {})],
    "arccosh": [((P + 1,), {})],
    "arcsin": [((U,), {})],
    "arcsinh": [((A,), {})],
    "arctan": [((A,), {})],
    "arctan2": [((A, B), {})],
    "arctanh": [((U,), {})],
    "argmax": [((A,), {"axis": 1}), ((A,), {})],
    "argmin": [((A,), {"axis": 0, "keepdims": True})],
    "argpartition": [((V, 2), {})],
    "argsort": [((A,), {"axis": -1})],
    "array": [(([[1, 2], [3, 4]],), {}), (([1.0, 2.0],), {"dtype": "float16"})],
    "array_split": [((np.arange(7, dtype="float32"), 3), {})],
    "average": [((A,), {"axis": 1, "weights": np.array([1.0, 2.0, 3.0], "float32")}), ((A,), {})],
    "bartlett": [((5,), {})],
    "bincount": [((I1,), {}), ((I1,), {"minlength": 6})],
    "bitwise_and": [((I, J), {})],
    "bitwise_invert": [((I,), {})],
    "bitwise_left_shift": [((I, 1), {})],
    "bitwise_not": [((I,), {})],
    "bitwise_or": [((I, J), {})],
    "bitwise_right_shift": [((I, 1), {})],
    "bitwise_xor": [((I, J), {})],
    "blackman": [((5,), {})],
    "broadcast_to": [((V[:3], (2, 3)), {})],
    "cbrt": [((A,), {})],
    "ceil": [((A,), {})],
    "clip": [((A, -0.5, 0.5), {}), ((I, 2, 5), {})],
    "concatenate": [(([A, B],), {"axis": 0}), (([A, B],), {"axis": -1})],
    "conj": [((A,), {})],
    "conjugate": [((C,), {})],
    "copy": [((A,), {})],
    "corrcoef": [((A,), {})],
    "correlate": [((V, W[:3]), {}), ((V, W), {"mode": "full"})],
    "cos": [((A,), {})],
    "cosh": [((A,), {})],
    "count_nonzero": [((I - 2,), {}), ((T,), {"axis": 1})],
    "cross": [((A, B), {})],
    "cumprod": [((A,), {"axis": 1})],
    "cumsum": [((A,), {"axis": 0}), ((I,), {})],
    "deg2rad": [((A,), {})],
    "diag": [((V,), {}), ((M,), {"k": 1})],
    "diagflat": [((V,), {})],
    "diagonal": [((M,), {}), ((X3,), {"offset": 1, "axis1": 1, "axis2": 2})],
    "diff": [((A,), {}), ((V,), {"n": 2})],
    "digitize": [((V, np.array([0.0, 1.0, 2.5], "float32")), {})],
    "divide": [((A, B), {}), ((I, J), {})],
    "divide_no_nan": [((A, np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 1.0]], "float32")), {})],
    "dot": [((A, B.T), {}), ((V, W), {})],
    "dsplit": [((X3, 2), {})],
    "dstack": [(([A, B],), {})],
    "einsum": [(("ij,kj->ik", A, B), {}), (("ii", M), {})],
    "empty": [(((2, 3),), {})],
    "empty_like": [((A,), {})],
    "equal": [((A, B), {}), ((I, 2), {})],
    "exp": [((A,), {}), ((I,), {})],
    "exp2": [((A,), {})],
    "expand_dims": [((A, 1), {}), ((A, (0, 3)), {})],
    "expm1": [((A,), {})],
    "eye": [((3,), {}), ((2, 4), {"k": 1})],
    "fabs": [((A,), {})],
    "flip": [((A,), {"axis": 1}), ((A,), {})],
    "fliplr": [((A,), {})],
    "flipud": [((A,), {})],
    "floor": [((A,), {})],
    "floor_divide": [((A, B), {}), ((I, J), {})],
    "fmax": [((NAN, A), {})],
    "fmin": [((NAN, A), {})],
    "fmod": [((A, B), {})],
    "full": [(((2, 2), 3.0), {}), (((2,), 3), {})],
    "full_like": [((A, 2), {}), ((A, 2.5), {"dtype": "float16"})],
    "gcd": [((I, J), {})],
    "geomspace": [((1.0, 100.0, 5), {})],
    "get_item": [((torch.tensor(A), (0, slice(1, 3))), {}), ((torch.tensor(A), 1), {})],
    "greater": [((A, B), {})],
    "greater_equal": [((A, B), {})],
    "hamming": [((5,), {})],
    "hanning": [((5,), {})],
    "heaviside": [((A, 0.5), {})],
    "histogram": [((V,), {"bins": 4})],
    "hsplit": [((A4, 2), {})],
    "hstack": [(([A, B],), {})],
    "hypot": [((A, B), {})],
    "i0": [((A,), {})],
    "identity": [((3,), {})],
    "imag": [((C,), {})],
    "inner": [((V, W), {})],
    "isclose": [((A, B), {}), ((A, A + 1e-9), {})],
    "isfinite": [((NAN,), {})],
    "isin": [((I, np.array([1, 5], "int32")), {})],
    "isinf": [((NAN,), {})],
    "isnan": [((NAN,), {})],
    "isneginf": [((NAN,), {})],
    "isposinf": [((NAN,), {})],
    "isreal": [((A,), {})],
    "kaiser": [((5, 2.0), {})],
    "kron": [((M[:2, :2], M[:2, :2]), {})],
    "lcm": [((I, J), {})],
    "ldexp": [((A, I), {})],
    "left_shift": [((I, 1), {})],
    "less": [((A, B), {})],
    "less_equal": [((A, B), {})],
    "linspace": [((0.0, 1.0, 5), {}), ((0, 10, 4), {"endpoint": False})],
    "log": [((P,), {})],
    "log10": [((P,), {})],
    "log1p": [((P,), {})],
    "log2": [((P,), {})],
    "logaddexp": [((A, B), {})],
    "logaddexp2": [((A, B), {})],
    "logical_and": [((T, T2), {})],
    "logical_not": [((T,), {})],
    "logical_or": [((T, T2), {})],
    "logical_xor": [((T, T2), {})],
    "logspace": [((0.0, 2.0, 5), {})],
    "matmul": [((A, B.T), {}), ((X3, np.ones((4, 2), "float32")), {})],
    "max": [((A,), {"axis": 0}), ((A,), {})],
    "maximum": [((A, B), {}), ((I, 2.5), {})],
    "mean": [((A,), {}), ((I,), {"axis": 1}), ((A,), {"axis": (0, 1), "keepdims": True})],
    "median": [((A,), {"axis": 1})],
    "meshgrid": [((V[:2], W[:3]), {}), ((V[:2], W[:3]), {"indexing": "ij"})],
    "min": [((A,), {"axis": 1, "keepdims": True})],
    "minimum": [((A, B), {})],
    "mod": [((A, B), {}), ((I, J), {})],
    "moveaxis": [((X3, 0, -1), {})],
    "multiply": [((A, B), {}), ((I, 3), {})],
    "nan_to_num": [((NAN,), {}), ((NAN,), {"nan": 1.0, "posinf": 9.0})],
    "nanargmax": [((NAN[:, :1],), {})],
    "nanargmin": [((np.array([1.0, np.nan, -3.0], "float32"),), {})],
    "nancumprod": [((np.array([1.0, np.nan, 3.0], "float32"),), {})],
    "nancumsum": [((np.array([1.0, np.nan, 3.0], "float32"),), {})],
    "nanmax": [((np.array([1.0, np.nan, 3.0], "float32"),), {})],
    "nanmean": [((np.array([[1.0, np.nan, 3.0]], "float32"),), {"axis": 1})],
    "nanmedian": [((np.array([1.0, np.nan, 3.0, 4.0], "float32"),), {})],
    "nanmin": [((np.array([1.0, np.nan, 3.0], "float32"),), {})],
    "nanpercentile": [((np.array([1.0, np.nan, 3.0, 4.0], "float32"), 30), {})],
    "nanprod": [((np.array([1.0, np.nan, 3.0], "float32"),), {})],
    "nanquantile": [((np.array([1.0, np.nan, 3.0, 4.0], "float32"), 0.3), {})],
    "nanstd": [((np.array([1.0, np.nan, 3.0, 4.0], "float32"),), {})],
    "nansum": [((np.array([1.0, np.nan, 3.0], "float32"),), {})],
    "nanvar": [((np.array([1.0, np.nan, 3.0, 4.0], "float32"),), {})],
    "ndim": [((A,), {})],
    "negative": [((A,), {})],
    "nextafter": [((A, B), {})],
    "nonzero": [((I - 3,), {})],
    "not_equal": [((A, B), {})],
    "ones": [(((2, 3),), {}), (((2,),), {"dtype": "int32"})],
    "ones_like": [((A,), {}), ((A,), {"dtype": "int32"})],
    "outer": [((V, W), {})],
    "pad": [((A, ((1, 1), (0, 2))), {}), ((A, 1), {"mode": "reflect"})],
    "percentile": [((A, 30), {}), ((A, 50), {"axis": 1})],
    "power": [((P, 2.5), {}), ((I, 2), {})],
    "prod": [((A,), {"axis": 0}), ((I,), {})],
    "ptp": [((A,), {"axis": 1})],
    "quantile": [((A, 0.3), {}), ((A, np.array([0.25, 0.75], "float32")), {"axis": 1})],
    "rad2deg": [((A,), {})],
    "ravel": [((A,), {})],
    "real": [((C,), {})],
    "reciprocal": [((P,), {})],
    "repeat": [((A, 2), {"axis": 1}), ((A, 2), {})],
    "reshape": [((A, (3, 2)), {}), ((A, (-1,)), {})],
    "right_shift": [((I, 1), {})],
    "roll": [((A, 1), {"axis": 1}), ((A, 2), {})],
    "rot90": [((A,), {}), ((A,), {"k": 2})],
    "round": [((A * 10,), {}), ((A,), {"decimals": 1})],
    "searchsorted": [
        ((np.array([0.0, 1.0, 2.0], "float32"), V), {}),
        ((np.array([0.0, 1.0, 2.0], "float32"), V), {"side": "right"}),
    ],
    "select": [(([A > 0.5, A < -0.5], [A, -A]), {})],
    "sign": [((A,), {})],
    "signbit": [((A,), {})],
    "sin": [((A,), {})],
    "sinc": [((A,), {})],
    "sinh": [((A,), {})],
    "size": [((A,), {})],
    "slogdet": [((M,), {})],
    "sort": [((A,), {"axis": 1}), ((A,), {"axis": 0})],
    "split": [((A4, 2), {"axis": 1}), ((A4, [1, 3]), {"axis": 1})],
    "sqrt": [((P,), {}), ((I,), {})],
    "square": [((A,), {}), ((I,), {})],
    "squeeze": [((A[:, None],), {}), ((A[:, None],), {"axis": 1})],
    "stack": [(([A, B],), {}), (([A, B],), {"axis": 1})],
    "std": [((A,), {"axis": 0})],
    "subtract": [((A, B), {})],
    "sum": [((A,), {"axis": 1}), ((T,), {}), ((I,), {"keepdims": True})],
    "swapaxes": [((X3, 0, 2), {})],
    "take": [((A, [0, 2]), {"axis": 1}), ((A, np.array([1, 4])), {})],
    "take_along_axis": [((A, np.argsort(A, axis=1)), {"axis": 1})],
    "tan": [((A,), {})],
    "tanh": [((A,), {})],
    "tensordot": [((A, B.T), {"axes": 1}), ((X3, np.ones((3, 4), "float32")), {"axes": [[1, 2], [0, 1]]})],
    "tile": [((A, (2, 1)), {})],
    "trace": [((M,), {})],
    "transpose": [((A,), {}), ((X3,), {"axes": (2, 0, 1)})],
    "trapezoid": [((V,), {}), ((V,), {"dx": 0.5})],
    "tri": [((3,), {}), ((2, 4), {"k": 1})],
    "tril": [((M,), {})],
    "triu": [((M,), {"k": 1})],
    "true_divide": [((A, B), {})],
    "trunc": [((A * 3,), {})],
    "unique": [((I1,), {}), ((I1,), {"return_counts": True, "return_inverse": True})],
    "unravel_index": [((np.array([5, 7]), (3, 4)), {})],
    "vander": [((V,), {}), ((V,), {"N": 3, "increasing": True})],
    "var": [((A,), {}), ((A,), {"axis": 1})],
    "vdot": [((V, W), {})],
    "view": [((A, "int32"), {})],
    "vsplit": [((np.ones((4, 2), "float32"), 2), {})],
    "vstack": [(([A, B],), {})],
    "where": [((A > 0, A, B), {}), ((T,), {})],
    "vectorize": [],  # returns a function: test_vectorize_and_rearrange
    "rearrange": [
        ((X3, "b h w -> w (b h)"), {}),
        ((np.zeros((2, 6, 3), "float32") + A4[0, 0], "b (h w) c -> b h w c"), {"h": 2}),
    ],
    "zeros": [(((2, 3),), {})],
    "zeros_like": [((A,), {})],
    # ---------------------------------------------------------------- nn
    "adaptive_average_pool": [((IMG, 4), {}), ((IMG, (3, 5)), {})],
    "adaptive_max_pool": [((IMG, 3), {})],
    "average_pool": [((IMG, 2), {}), ((IMG, 3), {"strides": 2, "padding": "same"})],
    "batch_normalization": [
        ((A, np.zeros(3, "float32"), np.ones(3, "float32") * 2, -1), {}),
        ((A, V[:3], P[0], 1), {"offset": W[:3], "scale": P[1]}),
    ],
    "binary_crossentropy": [
        ((T.astype("float32"), 1 / (1 + np.exp(-A))), {}),
        ((T.astype("float32"), A), {"from_logits": True}),
    ],
    "categorical_crossentropy": [((ONEHOT, PROBS), {}), ((ONEHOT, A), {"from_logits": True})],
    "celu": [((A,), {})],
    "conv": [
        ((IMG, rng.normal(size=(3, 3, 3, 4)).astype("float32")), {}),
        ((IMG, rng.normal(size=(3, 3, 3, 4)).astype("float32")), {"strides": 2, "padding": "same"}),
    ],
    "conv_transpose": [((IMG, rng.normal(size=(3, 3, 4, 3)).astype("float32"), 2), {"padding": "same"})],
    "ctc_decode": [((np.log(np.tile(PROBS[:, None, :], (1, 5, 1))), np.array([5, 4], "int32")), {})],
    "ctc_loss": [
        (
            (
                np.array([[1, 1], [1, 0]], "int32"),
                np.log(np.tile(PROBS[:, None, :], (1, 5, 1))),
                np.array([2, 1], "int32"),
                np.array([5, 4], "int32"),
            ),
            {},
        )
    ],
    "depth_to_space": [((rng.normal(size=(1, 2, 2, 8)).astype("float32"), 2), {})],
    "depthwise_conv": [((IMG, rng.normal(size=(3, 3, 3, 2)).astype("float32")), {"padding": "same"})],
    "dot_product_attention": [((Q, Q * 0.5, Q + 1), {}), ((Q, Q, Q), {"is_causal": True, "scale": 0.3})],
    "elu": [((A,), {}), ((A,), {"alpha": 0.5})],
    "fold": [((torch.randn(1, 8, 9), (4, 4), 2), {})],
    "gelu": [((A,), {}), ((A,), {"approximate": False})],
    "glu": [((A4,), {})],
    "hard_shrink": [((A,), {})],
    "hard_sigmoid": [((A * 4,), {})],
    "hard_silu": [((A * 4,), {})],
    "hard_swish": [((A * 4,), {})],
    "hard_tanh": [((A * 2,), {})],
    "layer_normalization": [((A,), {}), ((A, P[0], V[:3]), {"epsilon": 1e-3}), ((X3,), {"axis": (1, 2)})],
    "leaky_relu": [((A,), {}), ((A,), {"negative_slope": 0.1})],
    "log_sigmoid": [((A,), {})],
    "log_softmax": [((A,), {}), ((X3,), {"axis": (1, 2)})],
    "max_pool": [((IMG, 2), {}), ((IMG, 3), {"strides": 2, "padding": "same"})],
    "moments": [((A, [0]), {}), ((X3, [0, 1]), {"keepdims": True})],
    "multi_hot": [((np.array([[0, 2], [1, 1]], "int32"), 3), {})],
    "normalize": [((A,), {}), ((A,), {"order": 1, "axis": 0})],
    "one_hot": [((np.array([0, 2, 1]), 3), {}), ((np.array([0, 2]), 3), {"axis": 0, "dtype": "int32"})],
    "polar": [((P, A), {})],
    "psnr": [((IMG[0], IMG[1], 1.0), {})],
    "relu": [((A,), {}), ((I - 3,), {})],
    "relu6": [((A * 8,), {})],
    "rms_normalization": [((A,), {}), ((A, P[0]), {"epsilon": 1e-3})],
    "selu": [((A,), {})],
    "separable_conv": [
        ((IMG, rng.normal(size=(3, 3, 3, 2)).astype("float32"), rng.normal(size=(1, 1, 6, 4)).astype("float32")), {})
    ],
    "sigmoid": [((A,), {})],
    "silu": [((A,), {})],
    "soft_shrink": [((A,), {})],
    "softmax": [((A,), {}), ((A,), {"axis": 0}), ((X3,), {"axis": (1, 2)})],
    "softplus": [((A,), {})],
    "softsign": [((A,), {})],
    "space_to_depth": [((IMG, 2), {})],
    "sparse_categorical_crossentropy": [
        ((np.array([1, 2]), PROBS), {}),
        ((np.array([1, 2]), A), {"from_logits": True}),
    ],
    "sparse_plus": [((A,), {})],
    "sparse_sigmoid": [((A,), {})],
    "sparsemax": [((A,), {})],
    "squareplus": [((A,), {})],
    "swish": [((A,), {})],
    "tanh_shrink": [((A,), {})],
    "threshold": [((A, 0.1, -1.0), {})],
    "unfold": [((torch.randn(1, 2, 4, 4), 2), {})],
    # ---------------------------------------------------------------- math
    "cdist": [((A, B), {})],
    "erf": [((A,), {})],
    "erfc": [((A,), {})],
    "erfinv": [((U,), {})],
    "extract_sequences": [((SIG, 8, 4), {})],
    "fft": [(((A, B),), {})],
    "fft2": [(((A, B),), {})],
    "ifft2": [(((A, B),), {})],
    "in_top_k": [((np.array([1, 0]), PROBS, 1), {}), ((np.array([1, 0]), PROBS, 2), {})],
    "irfft": [(((A, B),), {}), (((A, B),), {"fft_length": 4})],
    "istft": [(((np.ones((2, 9, 5), "float32"), np.zeros((2, 9, 5), "float32")), 8, 4, 8), {})],
    "logdet": [((M,), {})],
    "logsumexp": [((A,), {}), ((A,), {"axis": 1, "keepdims": True})],
    "rfft": [((SIG,), {}), ((SIG,), {"fft_length": 16})],
    "rsqrt": [((P,), {})],
    "segment_max": [((V, np.array([0, 0, 1, 2])), {"num_segments": 3})],
    "segment_min": [((V, np.array([0, 0, 1, 2])), {"num_segments": 3})],
    "segment_prod": [((V, np.array([0, 0, 1, 2])), {"num_segments": 3})],
    "segment_sum": [((V, np.array([0, 0, 1, 2])), {"num_segments": 3}), ((A, np.array([1, 1])), {"num_segments": 2})],
    "stft": [((SIG, 8, 4, 8), {}), ((SIG, 8, 4, 8), {"window": None, "center": False})],
    "top_k": [((A, 2), {})],
    "view_as_complex": [((np.stack([A, B], -1),), {})],
    "view_as_real": [((C,), {})],
    # ---------------------------------------------------------------- linalg
    "cholesky": [((M,), {})],
    "cholesky_inverse": [((L,), {})],
    "det": [((M,), {})],
    "eig": [((M,), {})],
    "eigh": [((M,), {})],
    "inv": [((M,), {})],
    "jvp": [((torch.sin, (torch.tensor(A),), (torch.ones(2, 3),)), {})],
    "lstsq": [((M[:, :2], V[:3]), {})],
    "lu_factor": [((M,), {})],
    "matrix_rank": [((M,), {}), ((np.ones((3, 3), "float32"),), {})],
    "norm": [((A,), {}), ((A,), {"ord": 1, "axis": 1}), ((M,), {"ord": "fro"})],
    "pinv": [((A,), {})],
    "qr": [((M,), {}), ((A.T,), {"mode": "complete"})],
    "solve": [((M, V[:3]), {})],
    "solve_triangular": [((L, V[:3, None]), {"lower": True})],
    "svd": [((M,), {}), ((A,), {"full_matrices": False})],
    # ---------------------------------------------------------------- core
    "associative_scan": [((_add, V), {}), ((_add, A), {"axis": 1, "reverse": True})],
    "cast": [((A, "int32"), {}), ((I, "float16"), {})],
    "cond": [((True, _true_fn, _false_fn), {}), ((False, _true_fn, _false_fn), {})],
    "convert_to_numpy": [((torch.tensor(A),), {})],
    "convert_to_tensor": [((A,), {}), ((1.5,), {}), ((3,), {}), (([1, 2],), {"dtype": "float32"})],
    "custom_gradient": [],  # a decorator: test_custom_gradient
    "dtype": [((torch.tensor(A),), {})],
    "fori_loop": [((0, 4, _add, torch.tensor(1.0)), {})],
    "is_tensor": [((A,), {}), ((torch.tensor(A),), {})],
    "map": [((_double, A), {})],
    "saturate_cast": [((A * 1000, "int8"), {}), ((I * 100, "uint8"), {})],
    "scan": [((_scan_step, torch.tensor(0.0), V), {})],
    "scatter": [((np.array([[0], [2]]), np.array([1.0, 2.0], "float32"), (4,)), {})],
    "scatter_update": [((A, np.array([[0, 1], [1, 2]]), np.array([9.0, 8.0], "float32")), {})],
    "shape": [((A,), {})],
    "slice": [((A, (0, 1), (2, 2)), {})],
    "slice_update": [((A, (0, 1), np.ones((1, 2), "float32")), {})],
    "stop_gradient": [((torch.tensor(A),), {})],
    "switch": [((1, [_double, _neg], torch.tensor(A)), {})],
    "unstack": [((torch.tensor(A),), {}), ((torch.tensor(A),), {"axis": 1})],
    "vectorized_map": [((_double, torch.tensor(A)), {})],
    "while_loop": [((lambda i: i < 3, lambda i: i + 1, 0), {})],
}
# Ops whose values are unspecified: compare shape and dtype only.
SHAPE_ONLY = {"empty", "empty_like"}

IMAGE_CASES = {
    "affine_transform": [
        ((IMG, np.array([[1.0, 0.1, 0.5, 0.0, 1.0, -0.5, 0.0, 0.0]] * 2, "float32")), {}),
        (
            (IMG[0], np.array([1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0], "float32")),
            {"interpolation": "nearest", "fill_mode": "reflect"},
        ),
    ],
    "crop_images": [
        ((IMG,), {"top_cropping": 1, "left_cropping": 2, "target_height": 4, "target_width": 5}),
        ((IMG[0],), {"bottom_cropping": 1, "right_cropping": 2, "top_cropping": 2, "left_cropping": 0}),
    ],
    "elastic_transform": [((IMG,), {"alpha": 0.0, "seed": 1})],  # a random field scaled by 0: deterministic
    "extract_patches": [((IMG, 2), {}), ((IMG[0], (3, 3)), {"strides": 2, "padding": "same"})],
    "extract_patches_3d": [((rng.normal(size=(1, 4, 4, 4, 2)).astype("float32"), 2), {})],
    "pad_images": [((IMG, 1, 2), {"target_height": 12, "target_width": 12}), ((IMG[0], 0, 1, 2, 3), {})],
    "ssim": [((IMG, IMG * 0.9 + 0.05), {"filter_size": 7}), ((IMG[0], IMG[1]), {"filter_size": 5, "max_val": 2.0})],
    # Keras's torch backend reads data_format=None as channels first here (its other backends, and its
    # docs, as channels last, which plait follows): the layout is given explicitly to compare.
    "gaussian_blur": [
        ((IMG,), {"data_format": "channels_last"}),
        ((IMG,), {"kernel_size": (5, 5), "sigma": (2.0, 2.0), "data_format": "channels_last"}),
        ((IMG.transpose(0, 3, 1, 2),), {"kernel_size": (5, 5), "sigma": (1.0, 2.0), "data_format": "channels_first"}),
    ],
    "hsv_to_rgb": [((IMG,), {})],
    "map_coordinates": [
        ((IMG[0, :, :, 0], np.stack(np.meshgrid(np.linspace(0, 7, 5), np.linspace(0, 7, 5))).astype("float32"), 1), {})
    ],
    "perspective_transform": [
        (
            (
                IMG,
                np.array([[0, 0], [7, 0], [0, 7], [7, 7]], "float32"),
                np.array([[1, 0], [6, 1], [0, 7], [7, 6]], "float32"),
            ),
            {},
        )
    ],
    "resize": [
        ((IMG, (4, 5)), {}),
        ((IMG, (12, 12)), {"interpolation": "bicubic"}),
        ((IMG, (4, 4)), {"interpolation": "nearest"}),
        ((IMG, (4, 6)), {"crop_to_aspect_ratio": True}),
        ((IMG, (4, 6)), {"pad_to_aspect_ratio": True}),
        (((IMG * 255).astype("uint8"), (5, 5)), {"antialias": True}),
    ],
    "rgb_to_grayscale": [((IMG,), {})],
    "rgb_to_hsv": [((IMG,), {})],
    "scale_and_translate": [
        (
            (IMG, (2, 12, 12, 3), np.array([1.5, 1.5], "float32"), np.array([0.0, 0.0], "float32"), (1, 2), "bilinear"),
            {},
        )
    ],
    "sobel_edges": [((IMG,), {})],
}


def _leaves(x):
    if isinstance(x, (list, tuple)):
        return [leaf for item in x for leaf in _leaves(item)]
    return [x]


def _compare(ours, theirs, values=True):
    ours, theirs = _leaves(ours), _leaves(theirs)
    assert len(ours) == len(theirs), (ours, theirs)
    for a, b in zip(ours, theirs):
        if isinstance(b, (torch.Tensor, np.ndarray)):
            assert isinstance(a, type(b)), f"plait returned {type(a).__name__}, Keras {type(b).__name__}"
            assert a.dtype == b.dtype, f"dtype: plait {a.dtype}, Keras {b.dtype}"
            assert tuple(a.shape) == tuple(b.shape), f"shape: plait {tuple(a.shape)}, Keras {tuple(b.shape)}"
            if values:
                a, b = np.asarray(ops.convert_to_numpy(a)), np.asarray(keras.ops.convert_to_numpy(b))
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True)
        else:
            assert a == b


def _keras(fn, args, kwargs):
    # Keras's own deprecation warnings (e.g. `.T` on 0-D tensors) are not plait's.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*copy.deepcopy(args), **copy.deepcopy(kwargs))


def _cases(table):
    return [pytest.param(name, i, id=f"{name}-{i}") for name, cases in table.items() for i in range(len(cases))]


@pytest.mark.parametrize("name,index", _cases(CASES))
def test_op_matches_keras(name, index):
    args, kwargs = CASES[name][index]
    theirs = _keras(getattr(keras.ops, name), args, kwargs)
    ours = getattr(ops, name)(*copy.deepcopy(args), **copy.deepcopy(kwargs))
    _compare(ours, theirs, values=name not in SHAPE_ONLY)


@pytest.mark.parametrize("name,index", _cases(IMAGE_CASES))
def test_image_op_matches_keras(name, index):
    args, kwargs = IMAGE_CASES[name][index]
    theirs = _keras(getattr(keras.ops.image, name), args, kwargs)
    ours = getattr(ops.image, name)(*copy.deepcopy(args), **copy.deepcopy(kwargs))
    _compare(ours, theirs)


def test_every_op_has_a_case():
    missing = [n for n in ops.__all__ if n not in CASES]
    missing += [f"image.{n}" for n in ops.image.__all__ if n not in IMAGE_CASES]
    assert not missing, f"ops without a Keras comparison: {missing}"


@pytest.mark.parametrize("family", ["", "numpy", "nn", "math", "linalg", "image", "core"])
def test_signatures_match_keras(family):
    ours_module = getattr(ops, family) if family else ops
    theirs_module = getattr(keras.ops, family) if family in ("numpy", "nn", "linalg", "image") else keras.ops
    names = ours_module.__all__
    different = []
    for name in names:
        ours, theirs = getattr(ours_module, name), getattr(theirs_module, name)
        if inspect.isclass(theirs):
            continue
        if inspect.signature(ours) != inspect.signature(theirs):
            different.append(f"{name}{inspect.signature(ours)} != {inspect.signature(theirs)}")
    assert not different


def test_top_level_names_are_the_families_ops():
    for name in ops.__all__:
        fn = getattr(ops, name)
        assert getattr(getattr(ops, fn.__module__.split(".")[-1]), name) is fn


def test_vectorize_and_rearrange():
    def matvec(m, v):
        return m @ v

    batched = rng.normal(size=(4, 3, 3)).astype("float32"), rng.normal(size=(4, 3)).astype("float32")
    ours = ops.vectorize(matvec, signature="(n,n),(n)->(n)")(*batched)
    theirs = _keras(keras.ops.vectorize(matvec, signature="(n,n),(n)->(n)"), batched, {})
    _compare(ours, theirs)
    _compare(ops.vectorize(torch.square)(A), _keras(keras.ops.vectorize(torch.square), (A,), {}))
    x = plait.Input(shape=(6, 3))
    assert ops.rearrange(x, "b (h w) c -> b c h w", h=2).shape == (None, 3, 2, 3)


def test_operations_of_keras_model_configs():
    # What a Keras functional config stores for an op node, mapped back to plait's op.
    from plait.ops._op import from_keras

    x = keras.Input((4, 6), name="input_layer")  # named: other tests' Keras objects advance the counters
    y = [
        keras.ops.reshape(x, (-1, 24)),
        keras.ops.softmax(x, axis=1),
        keras.ops.concatenate([x, x], axis=-1),
        keras.ops.mean(x, axis=(1,)),
        keras.ops.nn.one_hot(keras.ops.cast(x, "int32"), 3),
        keras.ops.expand_dims(x, -1),
        keras.ops.image.resize(keras.ops.expand_dims(x, -1), (2, 3)),
    ]
    keras_model = keras.Model(x, y)
    data = rng.normal(size=(2, 4, 6)).astype("float32")
    values = {"input_layer": torch.tensor(data)}
    for spec in keras_model.get_config()["layers"][1:]:
        node = spec["inbound_nodes"][0]
        args = [values[a["config"]["keras_history"][0]] if isinstance(a, dict) else a for a in node["args"]]
        args = [[values[t["config"]["keras_history"][0]] for t in a] if isinstance(a, list) else a for a in args]
        values[spec["name"]] = from_keras(spec["module"], spec["class_name"], spec["config"])(*args)
    for ours, theirs in zip([values[t._keras_history[0].name] for t in keras_model.outputs], keras_model(data)):
        _compare(ours, theirs)
    # Every operation class Keras defines maps to a plait op (SegmentReduction is a base class).
    import importlib

    from keras.src.ops.operation import Operation as KerasOperation

    for family in ("numpy", "nn", "math", "linalg", "image", "core", "einops"):
        module = importlib.import_module(f"keras.src.ops.{family}")
        for name, cls in vars(module).items():
            if inspect.isclass(cls) and issubclass(cls, KerasOperation) and cls.__module__ == module.__name__:
                if name != "SegmentReduction":
                    from_keras(module.__name__, name, {})
    with pytest.raises(ValueError, match="Unknown Keras operation 'keras.src.ops.numpy.Frobnicate'"):
        from_keras("keras.src.ops.numpy", "Frobnicate", {})


def test_custom_gradient():
    @ops.custom_gradient
    def clip_grad(x):
        def grad(*args, upstream=None):
            return ops.clip(upstream, -0.5, 0.5)

        return x * 3, grad

    x = torch.tensor([1.0, 2.0], requires_grad=True)
    clip_grad(x).sum().backward()
    assert x.grad.tolist() == [0.5, 0.5]


# ---------------------------------------------------------------------------- symbolic use
def _build(lib, x):
    o = lib.ops
    h = o.relu(o.matmul(x, o.ones((6, 4)) * 0.1))
    h = o.concatenate([h, o.square(o.take(x, [0, 2], axis=1))], axis=-1)
    h = o.reshape(o.expand_dims(h, 1), (-1, 6))
    h = o.softmax(o.add(h, o.mean(h, axis=-1, keepdims=True)), axis=-1)
    h = o.where(o.greater(h, 0.2), h, o.zeros_like(h))
    return lib.layers.Dense(3)(o.cast(o.clip(h, 0.0, 1.0), "float32"))


def test_ops_in_functional_model_match_keras(tmp_path):
    x = rng.normal(size=(5, 6)).astype("float32")
    keras_in = keras.Input(shape=(6,))
    keras_model = keras.Model(keras_in, _build(keras, keras_in))
    inputs = plait.Input(shape=(6,))
    outputs = _build(plait, inputs)
    assert outputs.shape == (None, 3)
    model = plait.Model(inputs, outputs)
    model.set_weights(keras_model.get_weights())
    expected = keras.ops.convert_to_numpy(keras_model(x))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert "call[" in model.graph_source  # the ops run as nodes of the generated forward

    model.save(tmp_path / "m.plait")
    loaded = plait.models.load_model(tmp_path / "m.plait")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_symbolic_shapes_and_constants(tmp_path):
    x = plait.Input(shape=(None, 4))
    table = np.arange(8, dtype="float32").reshape(2, 4)
    y = ops.add(ops.take(ops.convert_to_tensor(table), 1, axis=0), x)  # a constant tensor argument
    values, indices = ops.top_k(y, 2)
    first, second = ops.split(y, 2, axis=-1)
    z = ops.stack([values, ops.cast(indices, "float32"), ops.multiply(first, second)], axis=1)
    assert y.shape == (None, None, 4) and values.shape == (None, None, 2) and z.shape == (None, 3, None, 2)
    assert ops.shape(x) == (None, None, 4) and ops.ndim(x) == 3 and ops.dtype(x) == "float32"
    model = plait.Model(x, [z, indices])
    data = torch.randn(2, 5, 4)
    out, idx = model(data)
    expected = data + torch.arange(4.0, 8.0)
    torch.testing.assert_close(out[:, 0], expected.topk(2).values)
    assert idx.dtype == torch.int64  # torch.topk's indices, as Keras returns them on torch

    model.save(tmp_path / "m.plait")
    loaded = plait.models.load_model(tmp_path / "m.plait")
    for a, b in zip(loaded(data), model(data)):
        torch.testing.assert_close(a, b)


def test_shapes_that_follow_the_data_are_unknown():
    ids = plait.Input(batch_shape=(6,), dtype="int32")
    assert ops.unique(ids).shape == (None,)  # how many distinct values: known only from the data
    assert ops.nonzero(plait.Input(batch_shape=(2, 3))).shape == (2, None)  # (rank, count), as Keras on torch
    assert ops.bincount(ids, minlength=0).shape == (None,)
    a = plait.Input(batch_shape=(3, 2))
    assert ops.lstsq(a, np.ones(3, "float32")).shape == (2,)  # no meta kernel: a small real run
    assert ops.histogram(plait.Input(batch_shape=(5,)), bins=4)[0].shape == (4,)


def test_symbolic_slicing_and_dtype_arguments_save(tmp_path):
    x = plait.Input(shape=(6,))
    y = ops.get_item(x, (slice(None), slice(1, None, 2)))
    y = ops.cast(y, torch.float16)
    y = ops.nn.one_hot(ops.argmax(y, axis=-1), 3, dtype="float32")
    model = plait.Model(x, y)
    model.save(tmp_path / "m.plait")
    loaded = plait.models.load_model(tmp_path / "m.plait")
    data = torch.randn(4, 6)
    torch.testing.assert_close(loaded(data), model(data))
    torch.testing.assert_close(model(data), torch.nn.functional.one_hot(data[:, 1::2].argmax(-1), 3).float())


def _positive(x):
    return ops.sum(x) > 0


def _double_all(x):
    return x * 2


def test_control_flow_on_symbolic_tensors(tmp_path):
    x = plait.Input(shape=(3,))
    y = ops.while_loop(_positive, _double_all, ops.add(x, 0.0), maximum_iterations=3)
    z = ops.cond(ops.all(ops.greater(y, 0)), _true_fn, _false_fn)
    assert y.shape == (None, 3) and z.shape == ()
    model = plait.Model(x, [y, z])
    out, flag = model(torch.tensor([[1.0, 2.0, 3.0]]))
    torch.testing.assert_close(out, torch.tensor([[8.0, 16.0, 24.0]]))
    assert flag.item() == 1.0
    model.save(tmp_path / "m.plait")  # named module-level functions are saved by reference
    loaded = plait.models.load_model(tmp_path / "m.plait", safe_mode=False)
    torch.testing.assert_close(loaded(torch.tensor([[-1.0, 0.0, 0.5]]))[0], torch.tensor([[-1.0, 0.0, 0.5]]))


def test_elastic_transform_seed():
    a = ops.image.elastic_transform(IMG, seed=3)
    torch.testing.assert_close(a, ops.image.elastic_transform(IMG, seed=3))
    assert not torch.equal(a, ops.image.elastic_transform(IMG, seed=4))
    gen = plait.random.SeedGenerator(1)
    assert not torch.equal(ops.image.elastic_transform(IMG, seed=gen), ops.image.elastic_transform(IMG, seed=gen))


def test_custom_layer_building_tensors_from_its_input_shape():
    # keras-io's causal attention mask: sizes read from a symbolic input. During shape inference
    # they are placeholders; the mask is built on the meta device, not as a (2039, 2039, 2039) array.
    class CausalMask(plait.layers.Layer):
        def call(self, inputs):
            batch_size, sequence_length = ops.shape(inputs)[0], ops.shape(inputs)[1]
            mask = ops.cast(ops.arange(sequence_length)[:, None] >= ops.arange(sequence_length), dtype="int32")
            mask = ops.reshape(mask, (1, sequence_length, sequence_length))
            mult = ops.concatenate([ops.expand_dims(batch_size, -1), ops.convert_to_tensor([1, 1])], axis=0)
            return ops.tile(mask, mult)

    x = plait.Input(shape=(None, 8))
    mask = CausalMask()(x)
    assert mask.shape == (None, None, None)
    out = plait.Model(x, mask)(torch.randn(2, 3, 8))
    torch.testing.assert_close(out, torch.tril(torch.ones(3, 3, dtype=torch.int32)).expand(2, 3, 3))


def test_lambda_of_an_op_saves_and_loads_in_safe_mode(tmp_path):
    x = plait.Input(shape=(3,))
    model = plait.Model(x, plait.layers.Lambda(ops.nn.gelu, arguments={"approximate": False})(x))
    model.save(tmp_path / "m.plait")
    loaded = plait.models.load_model(tmp_path / "m.plait")  # safe_mode: plait.ops may be named
    data = torch.randn(2, 3)
    torch.testing.assert_close(loaded(data), torch.nn.functional.gelu(data))


def test_ops_in_custom_layer_and_lambda():
    class Scale(plait.layers.Layer):
        def call(self, x):
            return ops.multiply(ops.sqrt(ops.abs(x)), ops.sign(x))

    x = plait.Input(shape=(3,))
    y = plait.layers.Lambda(ops.nn.relu)(Scale()(x))
    model = plait.Model(x, y)
    data = torch.tensor([[4.0, -9.0, 1.0]])
    torch.testing.assert_close(model(data), torch.tensor([[2.0, 0.0, 1.0]]))


def test_ops_follow_the_inputs_device_and_autograd():
    x = torch.randn(3, 4, requires_grad=True)
    y = ops.sum(ops.square(ops.add(x, np.ones((3, 4), "float32"))))
    y.backward()
    torch.testing.assert_close(x.grad, 2 * (x.detach() + 1))
    meta = torch.empty(2, 3, device="meta")
    assert ops.add(meta, [1.0, 2.0, 3.0]).device.type == "meta"


# ---------------------------------------------------------------------------- bad input
def test_bad_shapes_name_the_op():
    with pytest.raises(ValueError, match=r"ops.matmul: .*\(2, 3\), \(2, 3\)"):
        ops.matmul(A, B)
    with pytest.raises(ValueError, match="ops.add"):
        ops.add(np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(TypeError, match="ops.bitwise_and: .*not implemented for 'Float'.*float32"):
        ops.bitwise_and(A, B)
    with pytest.raises(ValueError, match="`x1` and `x2` either both"):
        ops.where(A > 0, A)
    with pytest.raises(ValueError, match="Invalid dtype"):
        ops.cast(A, "float31")
    with pytest.raises(ValueError, match="Could not infer the output shape"):
        ops.matmul(plait.Input(shape=(3,)), np.ones((4, 2), "float32"))
    with pytest.raises(TypeError, match="symbolic tensor has no value"):
        ops.convert_to_numpy(plait.Input(shape=(3,)))


# ---------------------------------------------------------------------------- dtype promotion
DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64"]
UNARY = [
    "abs", "sqrt", "exp", "log1p", "mean", "sum", "prod", "cumsum", "square", "negative", "round", "floor", "sign",
    "var", "std", "max", "argmax", "sort", "relu", "sigmoid", "softmax", "tanh", "median", "trace", "reciprocal",
    "ones_like", "isnan", "logsumexp", "nan_to_num", "count_nonzero", "sin", "arctan", "cbrt", "trunc", "rsqrt",
]  # fmt: skip
BINARY = [
    "add", "subtract", "multiply", "divide", "true_divide", "floor_divide", "power", "maximum", "minimum", "mod",
    "matmul", "dot", "arctan2", "logaddexp", "hypot", "greater", "equal", "where_xy", "outer", "fmod", "heaviside",
]  # fmt: skip


def _sample(dtype):
    values = np.array([[1, 0, 3], [2, 5, 1]])
    if dtype == "bool":
        return torch.tensor(values > 1)
    return torch.tensor(values).to(getattr(torch, dtype))


def _both(name, args):
    """(plait's result or its exception type, Keras's)."""
    out = []
    for lib in (ops, keras.ops):
        fn = (lambda c, a, b, lib=lib: lib.where(c > 0, a, b)) if name == "where_xy" else getattr(lib, name)
        try:
            out.append(_keras(fn, args, {}) if lib is keras.ops else fn(*copy.deepcopy(args)))
        except Exception as error:  # the failure itself is compared: both refuse the same dtypes
            out.append(type(error))
    return out


def _check_promotion(name, args):
    ours, theirs = _both(name, args)
    if isinstance(theirs, type) or isinstance(ours, type):
        assert isinstance(ours, type) and isinstance(theirs, type), f"{name}{[getattr(a, 'dtype', a) for a in args]}"
        return
    try:
        _compare(ours, theirs)
    except AssertionError as error:
        raise AssertionError(f"{name} on {[getattr(a, 'dtype', a) for a in args]}: {error}") from None


@pytest.mark.parametrize("name", UNARY)
def test_unary_dtype_promotion_matches_keras(name):
    for dtype in DTYPES:
        _check_promotion(name, (_sample(dtype),))


@pytest.mark.parametrize("name", BINARY)
def test_binary_dtype_promotion_matches_keras(name):
    operands = [_sample(d) for d in ("bool", "uint8", "int8", "int32", "int64", "float16", "bfloat16", "float32")]
    operands += [2, 1.5]  # Python scalars are weak types
    for a in operands:
        for b in operands:
            if name in ("matmul", "dot", "outer") and not (torch.is_tensor(a) and torch.is_tensor(b)):
                continue
            if name in ("matmul", "dot"):
                a_, b_ = a, b.T
            else:
                a_, b_ = a, b
            args = (a_ if torch.is_tensor(a_) else _sample("int32"), a_, b_) if name == "where_xy" else (a_, b_)
            _check_promotion(name, args)


# ---------------------------------------------------------------------------- every op as a node
NOT_GRAPH_OPS = {"shape", "dtype", "ndim", "is_tensor", "convert_to_numpy", "vectorize", "jvp", "custom_gradient"}


def _symbolize_first_array(args, kwargs):
    """``(args, kwargs)`` with their first array replaced by an Input of its exact shape."""
    found = []

    def swap(value):
        if not found and isinstance(value, (np.ndarray, torch.Tensor)) and value.ndim > 0:
            array = torch.as_tensor(value)
            found.append(array)
            return plait.Input(batch_shape=tuple(array.shape), dtype=array.dtype)
        return value

    from plait.utils import nest

    args, kwargs = nest.map_structure(swap, (list(args), dict(kwargs)))
    return args, kwargs, (found[0] if found else None)


# Run by default (the rest with `-m slow`): the ops models use most, and ops whose shapes need
# the real-data fallback (no meta kernel: lstsq; data-dependent sizes: nonzero, unique).
GRAPH_SMOKE = {
    "add", "subtract", "multiply", "divide", "matmul", "einsum", "mean", "sum", "max", "argmax", "concatenate",
    "stack", "split", "reshape", "transpose", "expand_dims", "squeeze", "take", "take_along_axis", "where", "clip",
    "cast", "one_hot", "softmax", "log_softmax", "relu", "gelu", "sigmoid", "conv", "depthwise_conv", "max_pool",
    "average_pool", "layer_normalization", "moments", "top_k", "cumsum", "sort", "pad", "get_item", "resize",
    "slice", "scatter_update", "nonzero", "lstsq", "unique", "segment_sum", "full_like", "repeat",
}  # fmt: skip


def _graph_cases():
    cases = [(name, i, None) for name, c in CASES.items() for i in range(len(c))]
    cases += [(name, i, "image") for name, c in IMAGE_CASES.items() for i in range(len(c))]
    return [
        # The first case of each op runs by default; the others with `-m slow`.
        pytest.param(
            name,
            i,
            family,
            id=f"{family + '.' if family else ''}{name}-{i}",
            marks=[] if i == 0 and name in GRAPH_SMOKE else [pytest.mark.slow],
        )
        for name, i, family in cases
        if name not in NOT_GRAPH_OPS
    ]


# The test's own functions, handed back when a graph that calls them is rebuilt from its config.
TEST_FUNCTIONS = {f.__name__: f for f in (_add, _double, _scan_step, _neg, _true_fn, _false_fn)}


@pytest.mark.parametrize("name,index,family", _graph_cases())
def test_every_op_as_a_graph_node(name, index, family, tmp_path):
    """Each op on an Input becomes a node: the model computes what the op computes eagerly, and
    the model saved and loaded computes it too."""
    table, module = (IMAGE_CASES, ops.image) if family else (CASES, ops)
    args, kwargs = copy.deepcopy(table[name][index])
    sym_args, sym_kwargs, value = _symbolize_first_array(args, kwargs)
    if value is None:
        pytest.skip("no array argument to make symbolic")
    outputs = getattr(module, name)(*sym_args, **sym_kwargs)
    inputs = [
        t for t in plait.utils.nest.flatten((sym_args, sym_kwargs)) if isinstance(t, plait.graph.node.SymbolicTensor)
    ]
    model = plait.Model(inputs[0], outputs)
    expected = getattr(module, name)(*copy.deepcopy(args), **copy.deepcopy(kwargs))
    values = name not in SHAPE_ONLY and name != "elastic_transform"
    _compare(model(value.clone()), expected, values=values)
    model.save(tmp_path / "m.plait")
    rebuilt = plait.models.load_model(tmp_path / "m.plait", custom_objects=TEST_FUNCTIONS)
    _compare(rebuilt(value.clone()), expected, values=values)


def test_ops_trace_as_one_graph_under_torch_compile():
    x = plait.Input(shape=(8,))
    h = ops.relu(ops.matmul(x, ops.ones((8, 16)) * 0.1))
    h = ops.softmax(ops.layer_normalization(h) + ops.mean(h, axis=-1, keepdims=True))
    model = plait.Model(x, ops.nn.one_hot(ops.argmax(h, axis=-1), 16) * h)
    explanation = torch._dynamo.explain(model)(torch.randn(4, 8))
    assert (explanation.graph_count, explanation.graph_break_count) == (1, 0), explanation.break_reasons
