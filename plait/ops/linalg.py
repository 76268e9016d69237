"""Linear algebra (Keras 3's ``keras.ops.linalg``) on torch.

Example:
    >>> import plait
    >>> plait.ops.linalg.det([[2.0, 0.0], [0.0, 3.0]])
    tensor(6.)
"""

from plait.ops import _linalg as _impl
from plait.ops._op import op as _op

cholesky = _op(_impl.cholesky, "linalg")
cholesky_inverse = _op(_impl.cholesky_inverse, "linalg")
det = _op(_impl.det, "linalg")
eig = _op(_impl.eig, "linalg")
eigh = _op(_impl.eigh, "linalg")
inv = _op(_impl.inv, "linalg")
lstsq = _op(_impl.lstsq, "linalg")
lu_factor = _op(_impl.lu_factor, "linalg")
matrix_rank = _op(_impl.matrix_rank, "linalg")
norm = _op(_impl.norm, "linalg")
pinv = _op(_impl.pinv, "linalg")
qr = _op(_impl.qr, "linalg")
solve = _op(_impl.solve, "linalg")
solve_triangular = _op(_impl.solve_triangular, "linalg")
svd = _op(_impl.svd, "linalg")
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
