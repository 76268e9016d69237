"""Linear algebra (Keras 3's ``keras.ops.linalg``) on torch.

Example:
    >>> import plait
    >>> plait.ops.linalg.det([[2.0, 0.0], [0.0, 3.0]])
    tensor(6.)
"""

from plait.ops import _linalg as _impl
from plait.ops._backend import convert_to_tensor as _tensor
from plait.ops._op import op as _op


def _linalg(fn):
    return _op(fn, "linalg")


# ---- Keras's shape checks (keras/src/ops/linalg.py)
def _assert_2d(*arrays):
    for a in arrays:
        if a.ndim < 2:
            raise ValueError(f"Expected input to have rank >= 2. Received input with shape {tuple(a.shape)}.")


def _assert_square(*arrays):
    for a in arrays:
        m, n = a.shape[-2:]
        if m != n:
            raise ValueError(f"Expected a square matrix. Received non-square input with shape {tuple(a.shape)}")


def _assert_1d(*arrays):
    for a in arrays:
        if a.ndim < 1:
            raise ValueError(f"Expected input to have rank >= 1. Received scalar input {a}.")


def _assert_a_b_compat(a, b):
    if a.ndim == b.ndim and a.shape[-2] != b.shape[-2]:
        raise ValueError(
            "Incompatible shapes between `a` and `b`. Expected `a.shape[-2] == b.shape[-2]`. "
            f"Received: a.shape={tuple(a.shape)}, b.shape={tuple(b.shape)}"
        )
    if a.ndim == b.ndim - 1 and a.shape[-1] != b.shape[-1]:
        raise ValueError(
            "Incompatible shapes between `a` and `b`. Expected `a.shape[-1] == b.shape[-1]`. "
            f"Received: a.shape={tuple(a.shape)}, b.shape={tuple(b.shape)}"
        )


def _square(x):
    x = _tensor(x)
    _assert_2d(x)
    _assert_square(x)
    return x


@_linalg
def cholesky(x, upper=False):
    return _impl.cholesky(_square(x), upper=upper)


@_linalg
def cholesky_inverse(x, upper=False):
    return _impl.cholesky_inverse(_square(x), upper=upper)


@_linalg
def det(x):
    return _impl.det(_square(x))


@_linalg
def eig(x):
    return _impl.eig(_square(x))


@_linalg
def eigh(x):
    return _impl.eigh(_square(x))


@_linalg
def inv(x):
    return _impl.inv(_square(x))


@_linalg
def lu_factor(x):
    x = _tensor(x)
    _assert_2d(x)
    return _impl.lu_factor(x)


@_linalg
def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 - NumPy's name
    if isinstance(ord, str) and ord not in ("fro", "nuc"):
        raise ValueError(
            f"Invalid `ord` argument. Expected one of {{'fro', 'nuc'}} when using string. Received: ord={ord}"
        )
    return _impl.norm(_tensor(x), ord=ord, axis=axis, keepdims=keepdims)


@_linalg
def qr(x, mode="reduced"):
    if mode not in ("reduced", "complete"):
        raise ValueError(
            f"`mode` argument value not supported. Expected one of {{'reduced', 'complete'}}. Received: mode={mode}"
        )
    return _impl.qr(_tensor(x), mode=mode)


@_linalg
def solve(a, b):
    a, b = _square(a), _tensor(b)
    _assert_1d(b)
    _assert_a_b_compat(a, b)
    return _impl.solve(a, b)


@_linalg
def solve_triangular(a, b, lower=False):
    a, b = _square(a), _tensor(b)
    _assert_1d(b)
    _assert_a_b_compat(a, b)
    return _impl.solve_triangular(a, b, lower)


@_linalg
def svd(x, full_matrices=True, compute_uv=True):
    x = _tensor(x)
    _assert_2d(x)
    return _impl.svd(x, full_matrices, compute_uv)


@_linalg
def lstsq(a, b, rcond=None):
    a, b = _tensor(a), _tensor(b)
    if a.ndim != 2:
        raise ValueError(f"Expected a to have rank 2. Received: a.shape={tuple(a.shape)}")
    if b.ndim not in (1, 2):
        raise ValueError(f"Expected b to have rank 1 or 2. Received: b.shape={tuple(b.shape)}")
    if b.shape[0] != a.shape[0]:
        raise ValueError(
            "Expected b.shape[0] to be equal to a.shape[0]. "
            f"Received: a.shape={tuple(a.shape)}, b.shape={tuple(b.shape)}"
        )
    return _impl.lstsq(a, b, rcond=rcond)


@_linalg
def matrix_rank(x, tol=None):
    return _impl.matrix_rank(_tensor(x), tol=tol)


@_linalg
def pinv(x, rcond=None):
    return _impl.pinv(_tensor(x), rcond=rcond)


# A function transform, not a tensor op: it never becomes a graph node.
jvp = _op(_impl.jvp, "linalg", symbolic=False)

__all__ = [
    "cholesky",
    "cholesky_inverse",
    "det",
    "eig",
    "eigh",
    "inv",
    "jvp",
    "lstsq",
    "lu_factor",
    "matrix_rank",
    "norm",
    "pinv",
    "qr",
    "solve",
    "solve_triangular",
    "svd",
]
