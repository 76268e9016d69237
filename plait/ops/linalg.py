"""Linear algebra (Keras 3's ``keras.ops.linalg``) on torch.

Example:
    >>> import plait
    >>> plait.ops.linalg.det([[2.0, 0.0], [0.0, 3.0]])
    tensor(6.)
"""

from plait.ops import _linalg as _impl
from plait.ops._op import op as _op


def _linalg(fn):
    return _op(fn, "linalg")


cholesky = _linalg(_impl.cholesky)
cholesky_inverse = _linalg(_impl.cholesky_inverse)
det = _linalg(_impl.det)
eig = _linalg(_impl.eig)
eigh = _linalg(_impl.eigh)
inv = _linalg(_impl.inv)
lstsq = _linalg(_impl.lstsq)
lu_factor = _linalg(_impl.lu_factor)
matrix_rank = _linalg(_impl.matrix_rank)
norm = _linalg(_impl.norm)
pinv = _linalg(_impl.pinv)
qr = _linalg(_impl.qr)
solve = _linalg(_impl.solve)
solve_triangular = _linalg(_impl.solve_triangular)
svd = _linalg(_impl.svd)

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

# A function transform, not a tensor op: it never becomes a graph node.
jvp = _op(_impl.jvp, "linalg", symbolic=False)
