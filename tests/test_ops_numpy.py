"""``plait.ops.numpy`` against Keras 3 on its torch backend, beyond test_ops's one case per op:
every element-wise and reduction op on every dtype (and pair of dtypes), the promotion rule
itself, the argument paths each op has (``axis=None``, empty axes, ``keepdims``, NaN-only slices,
indices instead of counts...), each op's own docstring, and an ``import plait`` that leaves
``torch._dynamo`` unloaded. Numbers are compared with rtol 1e-5, atol 1e-6."""

import copy
import inspect
import itertools
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from plait.ops import numpy as pnp  # noqa: E402
from plait.ops._dtypes import result_type  # noqa: E402

if keras.backend.backend() != "torch":
    pytest.skip("Keras was imported with another backend", allow_module_level=True)

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64"]


def _sample(dtype, shift=0):
    values = np.array([[1, 0, 3], [2, 5, 1]]) + shift
    return torch.tensor(values > 1) if dtype == "bool" else torch.tensor(values).to(getattr(torch, dtype))


def _run(fn, args, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras's own deprecation warnings are not plait's
        try:
            return fn(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        except Exception as error:  # both must refuse the same inputs
            return error


def _flat(x):
    return [leaf for item in x for leaf in _flat(item)] if isinstance(x, (list, tuple)) else [x]


def _same(ours, theirs, what):
    if isinstance(ours, Exception) or isinstance(theirs, Exception):
        assert isinstance(ours, Exception) and isinstance(theirs, Exception), f"{what}: {ours!r} vs Keras {theirs!r}"
        return
    ours, theirs = _flat(ours), _flat(theirs)
    assert len(ours) == len(theirs), what
    for a, b in zip(ours, theirs):
        if not isinstance(b, torch.Tensor):
            assert a == b or (a != a and b != b), f"{what}: {a} vs Keras {b}"
            continue
        assert isinstance(a, torch.Tensor) and a.dtype == b.dtype, f"{what}: dtype {a.dtype} vs Keras {b.dtype}"
        assert a.shape == b.shape, f"{what}: shape {tuple(a.shape)} vs Keras {tuple(b.shape)}"
        wide = torch.complex128 if b.is_complex() else torch.float64
        np.testing.assert_allclose(
            a.detach().to(wide).numpy(), b.detach().to(wide).numpy(), rtol=1e-5, atol=1e-6, equal_nan=True, err_msg=what
        )


def _check(name, args, kwargs=None):
    kwargs = kwargs or {}
    what = f"{name}{[getattr(a, 'dtype', a) for a in args]}{kwargs}"
    _same(_run(getattr(pnp, name), args, kwargs), _run(getattr(keras.ops, name), args, kwargs), what)


def _signature(name):
    return str(inspect.signature(getattr(pnp, name)))


UNARY = [n for n in pnp.__all__ if _signature(n) == "(x)" and n not in ("ndim", "size", "slogdet", "corrcoef")]
UNARY = [n for n in UNARY if n not in ("bartlett", "blackman", "hamming", "hanning")]  # sizes, not data
BINARY = [n for n in pnp.__all__ if _signature(n) in ("(x1, x2)", "(x, y)")]
REDUCTIONS = [n for n in pnp.__all__ if _signature(n).startswith("(x, axis=None, keepdims=False")]


@pytest.mark.parametrize("name", UNARY + REDUCTIONS)
def test_one_operand_ops_on_every_dtype(name):
    for dtype in DTYPES:
        _check(name, (_sample(dtype),))
        if name in REDUCTIONS:
            _check(name, (_sample(dtype),), {"axis": 1})
            _check(name, (_sample(dtype),), {"axis": 0, "keepdims": True})


@pytest.mark.parametrize("name", BINARY)
def test_two_operand_ops_on_every_pair_of_dtypes(name):
    operands = [_sample(d) for d in DTYPES] + [2, 1.5, True]
    for a, b in itertools.product(operands, repeat=2):
        if not (torch.is_tensor(a) or torch.is_tensor(b)):
            continue
        if name in ("matmul", "dot", "inner", "vdot"):
            if not (torch.is_tensor(a) and torch.is_tensor(b)):
                continue
            b = b.T if name in ("matmul", "dot") else b
        _check(name, (a, b))


def test_result_type_is_keras_on_every_pair_and_some_triples():
    names = [*DTYPES, "uint16", "uint32", "complex64", "complex128", int, float, None]
    for combo in [*itertools.product(names, repeat=2), *itertools.combinations(names, 3)]:
        ours = _run(result_type, combo, {})
        theirs = _run(keras.backend.result_type, combo, {})
        assert (ours if isinstance(ours, str) else type(ours)) == (
            theirs if isinstance(theirs, str) else type(theirs)
        ), combo


X = np.array([[4.0, np.nan, 1.0, 2.5], [np.nan, np.nan, np.nan, np.nan], [0.5, -3.0, 7.0, 1.0]], "float32")
Y = np.random.default_rng(1).normal(size=(3, 4, 5)).astype("float32")
I = np.array([[3, 1, 2], [0, 5, 4]], "int32")  # noqa: E741
V = np.array([0.5, -1.0, 2.0, 3.0, 2.5], "float32")

PATHS = [
    # reductions: empty and tuple axes, keepdims with axis=None, initial
    ("sum", (Y,), {"axis": ()}),
    ("sum", (Y,), {"axis": (0, 2), "keepdims": True}),
    ("mean", (Y,), {"axis": [1]}),
    ("var", (Y,), {"axis": ()}),
    ("std", (Y,), {"axis": (1, 2)}),
    ("prod", (I,), {"axis": (0, 1), "keepdims": True}),
    ("prod", (Y,), {"axis": 1, "dtype": "float64"}),
    ("max", (Y,), {"axis": 2, "initial": 0.5}),
    ("min", (np.zeros((0, 3), "float32"),), {"initial": 2.0, "keepdims": True}),
    ("max", (np.zeros((0,), "float32"),), {}),
    ("amax", (Y,), {"axis": ()}),
    ("all", (I,), {"axis": []}),
    ("any", (I,), {"axis": (0, 1)}),
    ("ptp", (Y,), {"axis": ()}),
    ("count_nonzero", (I - 2,), {"axis": (0, 1)}),
    ("average", (Y,), {"axis": ()}),
    ("cumsum", (I,), {"axis": 1, "dtype": "float32"}),
    ("cumprod", (I.astype("int64"),), {}),
    # quantiles: vector q with keepdims, several axes, methods
    ("quantile", (Y, np.array([0.1, 0.9], "float32")), {"axis": (0, 2), "keepdims": True}),
    ("quantile", (Y, 0.5), {"keepdims": True}),
    ("percentile", (I, 40), {"axis": 1, "method": "nearest"}),
    ("median", (Y,), {"axis": (1, 2), "keepdims": True}),
    # NaN-skipping ops: a row of NaNs only
    ("nanmax", (X,), {"axis": 1}),
    ("nanmin", (X,), {"axis": 1, "keepdims": True}),
    ("nanargmax", (X,), {"axis": 1}),
    ("nanargmin", (X,), {"axis": 0}),
    ("nanmean", (X,), {"axis": 0}),
    ("nanvar", (X,), {"axis": 1}),
    ("nanstd", (X,), {}),
    ("nansum", (X,), {"axis": ()}),
    ("nanprod", (X,), {"axis": (0, 1)}),
    ("nanmedian", (X,), {"axis": 1}),
    ("nanquantile", (X, 0.25), {"axis": 1}),
    ("nancumsum", (X,), {"axis": 1}),
    ("nancumprod", (X,), {"axis": 0}),
    # creation
    ("arange", (2.5,), {}),
    ("arange", (1, 10, 3), {"dtype": "int64"}),
    ("linspace", (0.0, 1.0, 4), {"endpoint": False, "retstep": True}),
    ("linspace", (np.zeros(2, "float32"), np.array([1.0, 4.0], "float32"), 3), {}),
    ("logspace", (0.0, 3.0, 4), {"endpoint": False, "base": 2}),
    ("logspace", (0.0, 1.0, 3), {"dtype": "float16"}),
    ("geomspace", (-1.0, -1000.0, 4), {}),
    ("eye", (3, 4), {"k": -1, "dtype": "int32"}),
    ("tri", (3,), {"k": -1, "dtype": "bfloat16"}),
    ("full", ((2, 3), np.array([1.0, 2.0, 3.0], "float32")), {}),
    ("full_like", (I, 7.5), {}),
    ("zeros", (3,), {"dtype": "bool"}),
    ("kaiser", (6, 0.5), {}),
    ("hanning", (1,), {}),
    ("vander", (I[0],), {"N": 4}),
    # shapes and splits
    ("split", (Y, [1, 3]), {"axis": -1}),
    ("split", (np.zeros((0, 2), "float32"), 2), {}),
    ("array_split", (Y, 3), {"axis": 2}),
    ("hsplit", (Y, [1]), {}),
    ("dstack", ([I, I],), {}),
    ("expand_dims", (I, (-1, 0)), {}),
    ("squeeze", (Y[:1, :, :1],), {"axis": (0, 2)}),
    ("transpose", (Y,), {}),
    ("flip", (Y,), {"axis": (0, 2)}),
    ("roll", (Y, (1, -2)), {"axis": (1, 2)}),
    ("rot90", (Y,), {"k": -1, "axes": (2, 0)}),
    ("repeat", (I, [1, 2]), {"axis": 0}),
    ("repeat", (I, np.array([1, 0, 2])), {"axis": 1}),
    ("tile", (I, 2), {}),
    ("append", (I, I), {"axis": 1}),
    ("moveaxis", (Y, (0, 1), (2, 0)), {}),
    ("pad", (I, ((1, 0), (2, 1))), {"mode": "reflect"}),
    ("pad", (Y, ((0, 0), (1, 1), (2, 0))), {"mode": "symmetric"}),
    ("pad", (I, (1, 2)), {"constant_values": 9}),
    ("pad", (I, [(1,), (2,)]), {}),
    # indexing and sorting
    ("take", (Y, np.array([[-1, 0]])), {"axis": 1}),
    ("take_along_axis", (Y, np.array([[[-1]]])), {"axis": 2}),
    ("where", (I > 2,), {}),
    ("select", ([I > 3, I > 1], [I, -I]), {"default": 7}),
    ("argpartition", (np.array([[3, 1, 2, 0], [0, 9, 4, 4]], "int32"), 1), {}),
    ("argpartition", (V, 0), {"axis": None}),
    ("argsort", (I,), {"axis": None}),
    ("sort", (I > 2,), {"axis": 0}),
    ("unique", (np.array([3, 1, 3, 2, 1], "int32"),), {"return_index": True, "return_counts": True}),
    ("unique", (np.array([3, 1, 3], "int32"),), {"size": 4, "fill_value": -1, "return_counts": True}),
    ("unique", (np.array([3, 1, 3, 2, 5], "int32"),), {"size": 2, "return_index": True, "return_inverse": True}),
    ("bincount", (np.array([[0, 1, 1], [2, 2, 0]], "int32"),), {"weights": np.ones((2, 3), "float32")}),
    ("digitize", (I > 2, np.array([0.5], "float32")), {}),
    ("searchsorted", (np.array([1, 3, 5], "int32"), np.array([0, 3, 6], "int32")), {"side": "right"}),
    ("histogram", (V,), {"bins": 3, "range": (0.0, 3.0)}),
    ("unravel_index", (np.array([0, 5], "int64"), (2, 3)), {}),
    ("nonzero", (I > 2,), {}),
    # products and the rest
    ("tensordot", (Y, Y), {"axes": ([0, 1], [0, 1])}),
    ("tensordot", (I, I.T), {"axes": 1}),
    ("einsum", ("ij,jk->ik", I.astype("int8"), I.T.astype("int8")), {}),
    ("matmul", (I.astype("int8"), I.T.astype("int8")), {}),
    ("cross", (Y[:, :3, 0], Y[:, :3, 1]), {"axis": 1}),
    ("correlate", (V, V[:3]), {"mode": "same"}),
    ("correlate", (I[0], I[1]), {"mode": "full"}),
    ("isclose", (Y, Y + 1e-3), {"atol": 1e-2}),
    ("isclose", (X, X), {"equal_nan": True}),
    ("isin", (I, np.array([1, 5], "int32")), {"invert": True}),
    ("clip", (np.array([1.0, 5.0], "float16"), 2, 3), {}),
    ("clip", (I > 2, 0, 0), {}),
    ("round", (I * 37,), {"decimals": -1}),
    ("trapezoid", (V,), {"x": np.arange(5, dtype="float32") ** 2}),
    ("diagonal", (Y,), {"offset": -1, "axis1": 2, "axis2": 0}),
    ("diff", (Y,), {"n": 2, "axis": 1}),
    ("nan_to_num", (X,), {"nan": -1.0, "neginf": 0.0}),
    ("floor_divide", (I, 2.0), {}),
    ("divide", (3, I), {}),
    ("divide_no_nan", (I, I - 1), {}),
    ("ldexp", (V, np.array([1, 2, 3, 0, -1], "int32")), {}),
    ("maximum", (np.array([1, 2], "int8"), 300), {}),
]


@pytest.mark.parametrize("name,args,kwargs", PATHS, ids=[f"{p[0]}-{i}" for i, p in enumerate(PATHS)])
def test_argument_paths_match_keras(name, args, kwargs):
    _check(name, args, kwargs)


def test_take_counts_negative_indices_from_the_end_of_the_flattened_tensor():
    # NumPy's rule (and Keras's on JAX); Keras's torch backend wraps them by the first axis
    # instead (x.shape[0]) before flattening, which picks another element.
    np.testing.assert_array_equal(pnp.take(I, [-1, 2]).numpy(), np.take(I, [-1, 2]))
    flat = np.array([-1, 0], "int64")
    np.testing.assert_array_equal(pnp.take_along_axis(I, flat, axis=None).numpy(), np.take_along_axis(I, flat, None))


def test_bad_arguments_name_what_is_wrong():
    with pytest.raises(ValueError, match="axis 3 is out of bounds"):
        pnp.expand_dims(I, 3)
    with pytest.raises(ValueError, match="rot90: `axes` must be two different axes"):
        pnp.rot90(Y, axes=(0, -3))
    with pytest.raises(ValueError, match="not divisible by 4"):
        pnp.split(Y, 4, axis=2)
    with pytest.raises(ValueError, match="cross: on torch, `axisa`"):
        pnp.cross(Y, Y, axisa=0)
    with pytest.raises(TypeError, match="ldexp exponent must be an integer"):
        pnp.ldexp(V, V)
    with pytest.raises(ValueError, match="`pad_width` must have the same length"):
        pnp.pad(Y, ((1, 1), (1, 1)))
    with pytest.raises(ValueError, match="Cannot compute the max of an empty tensor"):
        pnp.max(np.zeros((0,), "float32"))
    with pytest.raises(ValueError, match="torch does not support an `axis` argument for linspace"):
        pnp.linspace(0.0, 1.0, 3, axis=1)


def test_every_op_says_what_it_does():
    docs = {n: (getattr(pnp, n).__doc__ or "").strip() for n in pnp.__all__}
    generic = [n for n, doc in docs.items() if not doc or doc.startswith("Keras's ``keras.ops.")]
    assert not generic
    firsts = {n: doc.splitlines()[0] for n, doc in docs.items()}
    shared = [n for n in firsts if list(firsts.values()).count(firsts[n]) > 1]
    assert not shared, shared


def test_ops_run_and_promote_on_meta_tensors():
    x = torch.empty(2, 3, dtype=torch.int32, device="meta")
    assert pnp.sqrt(x).dtype == torch.float32 and pnp.sqrt(x).device.type == "meta"
    assert pnp.sum(x, axis=0).shape == (3,) and pnp.repeat(x, 2, axis=1).shape == (2, 6)
    assert pnp.ones_like(x).device.type == "meta" and pnp.add(x, 1.5).dtype == torch.float32


def test_import_plait_leaves_torch_dynamo_unloaded():
    # torch.compiler.disable imports torch._dynamo (seconds); plait applies it on first use
    code = "import sys, plait; print('torch._dynamo' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _matvec(m, v):
    return m @ v


def _stats(x):
    return x.mean(), x.amax(-1)


@pytest.mark.parametrize(
    "fn,signature,args",
    [
        (_matvec, "(n,n),(n)->(n)", (Y[:, :3, :3], V[:3])),  # the vector broadcasts over the batch
        (_matvec, "(m,n),(n)->(m)", (Y[None, :, :2, :], Y[:, 0, :][:, None])),  # loop dims (1,3)+(3,1)
        (_stats, "(n)->(),()", (Y,)),  # two outputs
        (torch.square, None, (I,)),  # element by element
        (lambda a, b: a * b, "(),()->()", (V, 2.0)),
    ],
)
def test_vectorize_matches_keras(fn, signature, args):
    ours = pnp.vectorize(fn, signature=signature)(*copy.deepcopy(args))
    theirs = _run(keras.ops.vectorize(fn, signature=signature), args, {})
    _same(ours, theirs, f"vectorize {signature}")


def test_vectorize_refuses_mismatched_core_dims():
    with pytest.raises(ValueError, match="core dimension 'n' is 3 and 4"):
        pnp.vectorize(_matvec, signature="(n,n),(n)->(n)")(Y[:, :3, :3], V[:4])
    with pytest.raises(ValueError, match="not a valid gufunc signature"):
        pnp.vectorize(_matvec, signature="(n,n)->")
