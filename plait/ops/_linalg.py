"""Linear algebra on torch: the implementations behind :mod:`plait.ops.linalg`.

Nearly every op is ``torch.linalg``'s function under Keras's name. What differs is written out:
the shape checks (Keras refuses a non-square matrix with a ``ValueError`` before any kernel
runs), ``lu_factor``'s pivots (0-based in Keras, 1-based in LAPACK and torch),
``solve_triangular``'s vector right-hand side, ``norm``'s float dtype and the names of the
tolerances (numpy's ``rcond``/``tol`` are torch's ``rtol``/``atol``).
"""

import torch

from plait.ops._backend import cast, convert_to_tensor, floatx, result_type, standardize_dtype


def _matrix(x, name, square=True):
    """``x`` as a tensor of (a batch of) matrices; ``square`` asks for ``(..., n, n)``."""
    x = convert_to_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"ops.{name}: expected a matrix (rank >= 2). Received input with shape {tuple(x.shape)}.")
    if square and x.shape[-1] != x.shape[-2]:
        raise ValueError(f"ops.{name}: expected a square matrix. Received input with shape {tuple(x.shape)}.")
    return x


def _system(a, b, name):
    """``a`` square and ``b`` a right-hand side that fits it: ``(..., n)`` or ``(..., n, k)``."""
    a, b = _matrix(a, name), convert_to_tensor(b)
    n = a.shape[-1]
    rows = b.shape[-1] if b.ndim == a.ndim - 1 else (b.shape[-2] if b.ndim == a.ndim else n)
    if b.ndim < 1 or rows != n:
        raise ValueError(
            f"ops.{name}: `b` must have {n} rows to match `a`. Received a.shape={tuple(a.shape)}, "
            f"b.shape={tuple(b.shape)}."
        )
    return a, b


def cholesky(x, upper=False):
    """Cholesky factor of a symmetric positive definite matrix: ``L`` with ``x = L @ L^T``.

    Args:
        x: ``(..., n, n)`` matrix.
        upper: return the upper factor ``U = L^T`` instead (``x = U^T @ U``).

    Example:
        >>> from plait.ops import linalg
        >>> linalg.cholesky([[4.0, 2.0], [2.0, 5.0]])
        tensor([[2., 0.],
                [1., 2.]])
    """
    return torch.linalg.cholesky(_matrix(x, "cholesky"), upper=upper)


def cholesky_inverse(x, upper=False):
    """Inverse of ``L @ L^T`` (or ``U^T @ U`` with ``upper=True``) from its Cholesky factor.

    Example:
        >>> import torch
        >>> from plait.ops import linalg
        >>> linalg.cholesky_inverse([[2.0, 0.0], [1.0, 2.0]]) @ torch.tensor([[4.0, 2.0], [2.0, 5.0]])
        tensor([[1., 0.],
                [0., 1.]])
    """
    return torch.cholesky_inverse(_matrix(x, "cholesky_inverse"), upper=upper)


def det(x):
    """Determinant of each square matrix in ``x`` (``(..., n, n)`` -> ``(...)``).

    Example:
        >>> from plait.ops import linalg
        >>> linalg.det([[2.0, 1.0], [1.0, 3.0]])
        tensor(5.)
    """
    return torch.linalg.det(_matrix(x, "det"))


def eig(x):
    """Eigenvalues and right eigenvectors of a general square matrix (both complex).

    Returns:
        ``(eigenvalues (..., n), eigenvectors (..., n, n))``; column ``i`` of the vectors
        belongs to eigenvalue ``i``.

    Example:
        >>> from plait.ops import linalg
        >>> linalg.eig([[2.0, 0.0], [0.0, 3.0]])[0]
        tensor([2.+0.j, 3.+0.j])
    """
    return tuple(torch.linalg.eig(_matrix(x, "eig")))


def eigh(x):
    """Eigenvalues (ascending) and eigenvectors of a symmetric / Hermitian matrix (real values).

    Example:
        >>> from plait.ops import linalg
        >>> linalg.eigh([[2.0, 1.0], [1.0, 2.0]])[0]
        tensor([1., 3.])
    """
    return tuple(torch.linalg.eigh(_matrix(x, "eigh")))


def inv(x):
    """Inverse of each square matrix in ``x``.

    Example:
        >>> from plait.ops import linalg
        >>> linalg.inv([[2.0, 0.0], [0.0, 4.0]])
        tensor([[0.5000, 0.0000],
                [0.0000, 0.2500]])
    """
    return torch.linalg.inv(_matrix(x, "inv"))


def lu_factor(x):
    """LU factorization with partial pivoting, packed as LAPACK's ``getrf`` packs it.

    Returns:
        ``(lu, pivots)``: ``L`` (unit diagonal, not stored) and ``U`` in one ``(..., m, n)``
        matrix, and the row swapped with row ``i`` at step ``i``, counted from 0 (as Keras and
        SciPy; torch counts from 1).

    Example:
        >>> from plait.ops import linalg
        >>> linalg.lu_factor([[1.0, 2.0], [3.0, 4.0]])[1]
        tensor([1, 1], dtype=torch.int32)
    """
    lu, pivots = torch.linalg.lu_factor(_matrix(x, "lu_factor", square=False))
    return lu, pivots - 1


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 - numpy's name
    """Vector or matrix norm (``torch.linalg.norm``'s choice of which, numpy's ``ord`` values).

    Args:
        x: input tensor; integers are computed in a float dtype (``int64`` in ``floatx()``).
        ord: ``None`` (2-norm of the flattened vector / Frobenius), a number, ``inf``,
            ``-inf``, ``"fro"`` or ``"nuc"``.
        axis: ``None`` (all of ``x``), an int (vector norms) or two ints (matrix norms).
        keepdims: keep the reduced axes with size 1.

    Example:
        >>> from plait.ops import linalg
        >>> linalg.norm([3.0, 4.0])
        tensor(5.)
    """
    if isinstance(ord, str) and ord not in ("fro", "nuc"):
        raise ValueError(f"ops.norm: a string `ord` must be 'fro' or 'nuc'. Received: ord={ord!r}")
    x = convert_to_tensor(x)
    # Keras: int64 does not promote to float64 here, every other dtype as result_type says.
    dtype = floatx() if standardize_dtype(x.dtype) == "int64" else result_type(x.dtype, float)
    return torch.linalg.norm(cast(x, dtype), ord=ord, dim=axis, keepdim=keepdims)


def qr(x, mode="reduced"):
    """QR decomposition: ``x = q @ r`` with orthonormal ``q`` and upper-triangular ``r``.

    Args:
        x: ``(..., m, n)`` matrix.
        mode: ``"reduced"`` (``q`` is ``(..., m, k)``, ``k = min(m, n)``) or ``"complete"``
            (``q`` is ``(..., m, m)``).

    Example:
        >>> import torch
        >>> from plait.ops import linalg
        >>> q, r = linalg.qr([[3.0, 1.0], [4.0, 2.0]])
        >>> torch.allclose(q @ r, torch.tensor([[3.0, 1.0], [4.0, 2.0]]))
        True
    """
    if mode not in ("reduced", "complete"):
        raise ValueError(f"ops.qr: `mode` must be 'reduced' or 'complete'. Received: mode={mode!r}")
    return tuple(torch.linalg.qr(convert_to_tensor(x), mode=mode))


def solve(a, b):
    """The solution ``x`` of ``a @ x = b`` for square, invertible ``a``.

    Args:
        a: ``(..., n, n)``.
        b: ``(..., n)`` (one vector) or ``(..., n, k)``.

    Example:
        >>> from plait.ops import linalg
        >>> linalg.solve([[2.0, 0.0], [0.0, 4.0]], [2.0, 2.0])
        tensor([1.0000, 0.5000])
    """
    return torch.linalg.solve(*_system(a, b, "solve"))


def solve_triangular(a, b, lower=False):
    """``solve`` for a triangular ``a``: one substitution pass, the other triangle ignored.

    Args:
        a: ``(..., n, n)`` triangular matrix.
        b: ``(..., n)`` or ``(..., n, k)``.
        lower: ``a`` is lower triangular (default: upper).

    Example:
        >>> from plait.ops import linalg
        >>> linalg.solve_triangular([[1.0, 0.0], [1.0, 2.0]], [1.0, 3.0], lower=True)
        tensor([1., 1.])
    """
    a, b = _system(a, b, "solve_triangular")
    vector = b.ndim == a.ndim - 1  # torch wants a matrix on the right
    x = torch.linalg.solve_triangular(a, b.unsqueeze(-1) if vector else b, upper=not lower)
    return x.squeeze(-1) if vector else x


def svd(x, full_matrices=True, compute_uv=True):
    """Singular value decomposition ``x = u @ diag(s) @ vh``.

    Args:
        x: ``(..., m, n)``.
        full_matrices: ``u`` and ``vh`` square (``m x m``, ``n x n``) rather than thin.
        compute_uv: ``False`` returns the singular values ``s`` alone (descending).

    Example:
        >>> from plait.ops import linalg
        >>> linalg.svd([[3.0, 0.0], [0.0, -2.0]], compute_uv=False)
        tensor([3., 2.])
    """
    x = _matrix(x, "svd", square=False)
    if not compute_uv:
        return torch.linalg.svdvals(x)
    return tuple(torch.linalg.svd(x, full_matrices=full_matrices))


def lstsq(a, b, rcond=None):
    """Least-squares solution of ``a @ x = b`` (numpy's ``linalg.lstsq``'s first result).

    Args:
        a: ``(m, n)`` matrix.
        b: ``(m,)`` or ``(m, k)``.
        rcond: singular values below ``rcond`` times the largest count as zero.

    Example:
        >>> from plait.ops import linalg
        >>> linalg.lstsq([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], [1.0, 2.0, 3.0])
        tensor([1., 2.])
    """
    a, b = convert_to_tensor(a), convert_to_tensor(b)
    if a.ndim != 2 or b.ndim not in (1, 2) or b.shape[0] != a.shape[0]:
        raise ValueError(
            "ops.lstsq: expected `a` of shape (m, n) and `b` of shape (m,) or (m, k). "
            f"Received a.shape={tuple(a.shape)}, b.shape={tuple(b.shape)}."
        )
    if rcond is None:
        return torch.linalg.lstsq(a, b).solution
    if a.device.type == "cuda":  # CUDA's only driver (gels) has no cutoff: the pseudo-inverse does
        return torch.linalg.pinv(a, rtol=rcond) @ b
    # The SVD driver reads rcond as numpy does (the default gelsy reads it differently).
    return torch.linalg.lstsq(a, b, rcond=rcond, driver="gelsd").solution


def matrix_rank(x, tol=None):
    """Number of singular values above ``tol`` (default: torch's ``max(m, n) * eps * s_max``).

    Example:
        >>> from plait.ops import linalg
        >>> linalg.matrix_rank([[1.0, 2.0], [2.0, 4.0]])
        tensor(1, dtype=torch.int32)
    """
    return torch.linalg.matrix_rank(convert_to_tensor(x), atol=tol).to(torch.int32)


def pinv(x, rcond=None):
    """Moore-Penrose pseudo-inverse; singular values below ``rcond * s_max`` are dropped.

    Example:
        >>> from plait.ops import linalg
        >>> linalg.pinv([[2.0, 0.0], [0.0, 0.0]])
        tensor([[0.5000, 0.0000],
                [0.0000, 0.0000]])
    """
    return torch.linalg.pinv(convert_to_tensor(x), rtol=rcond)


def jvp(fun, primals, tangents, has_aux=False):
    """Forward-mode product: ``(fun(*primals), J @ tangents)`` (``torch.func.jvp``).

    Args:
        fun: function of the primals.
        primals, tangents: tuples of tensors of matching shapes.
        has_aux: ``fun`` returns ``(output, aux)``; ``aux`` is returned third.

    Example:
        >>> import torch
        >>> from plait.ops import linalg
        >>> import warnings
        >>> with warnings.catch_warnings():  # torch's forward AD warns once about its own jit use
        ...     warnings.simplefilter("ignore", DeprecationWarning)
        ...     linalg.jvp(torch.square, (torch.tensor(3.0),), (torch.tensor(1.0),))
        (tensor(9.), tensor(6.))
    """
    return torch.func.jvp(fun, primals, tangents, has_aux=has_aux)
