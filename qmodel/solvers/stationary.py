"""The stationary distribution of a continuous-time Markov chain from its sparse generator
(``pi Q = 0``, ``sum(pi) = 1``): one recurrent state pinned, the rest by sparse LU or
preconditioned GMRES, and the answer refused when its residual is too large. Used by the
CTMC solver (:mod:`.ctmc`).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph
from scipy.sparse import linalg as spla

from qmodel.errors import UnsupportedError

DIRECT_LIMIT = 50_000
"""Largest chain :func:`stationary_distribution` solves by sparse LU when ``method="auto"``."""

RESIDUAL_TOLERANCE = 1e-8
"""Largest accepted ``||pi Q||_1 / max_i |q_ii|`` of a computed stationary distribution."""

_SOLVER = "ctmc"


def stationary_distribution(
    q: sp.spmatrix | sp.sparray, *, method: str = "auto", pin: int | None = None
) -> np.ndarray:
    """Stationary distribution ``pi`` of a generator: ``pi @ q = 0``, ``sum(pi) = 1``.

    The chain must have a single recurrent class (transient states get probability 0).
    The probability of one recurrent state, ``pin``, is fixed to 1 and its balance
    equation, which the others imply, dropped; what is left is a nonsingular M-matrix
    system, solved by sparse LU without pivoting (``method="direct"``) or by GMRES with an
    incomplete-LU preconditioner (``"iterative"``), then normalised. ``"auto"`` uses LU up
    to :data:`DIRECT_LIMIT` states.

    The solve is well conditioned when ``pin`` is a likely state; pass one if known. By
    default (or if ``pin`` is not recurrent) the first recurrent state is fixed, and if
    the ratios to it overflow the solve is repeated fixing the most likely state found.

    Raises
    ------
    UnsupportedError
        If the chain has several recurrent classes, the solve breaks down, or the
        solution's residual ``||pi q||_1 / max_i |q_ii|`` exceeds :data:`RESIDUAL_TOLERANCE`.

    Examples
    --------
    >>> q = sp.csr_array([[-1.0, 1.0], [2.0, -2.0]])
    >>> stationary_distribution(q).round(6)
    array([0.666667, 0.333333])
    """
    if method not in ("auto", "direct", "iterative"):
        raise ValueError(f"method must be 'auto', 'direct' or 'iterative', got {method!r}")
    q = sp.csr_array(q, dtype=float)
    if q.shape[0] == 1:
        return np.ones(1)
    direct = method == "direct" or (method == "auto" and q.shape[0] <= DIRECT_LIMIT)
    recurrent = _recurrent_class(q)
    if pin is None or not recurrent[pin]:
        pin = int(np.argmax(recurrent))
    ratios = _pinned_solve(q, pin, direct)
    if not np.all(np.isfinite(ratios)) or ratios.max() > 1e100:
        ratios = _pinned_solve(q, int(np.argmax(np.nan_to_num(ratios, nan=0.0))), direct)
    return _checked(ratios, q)


def _recurrent_class(q: sp.csr_array) -> np.ndarray:
    """Mask of the states of the chain's only recurrent class."""
    count, label = csgraph.connected_components(q != 0, connection="strong")
    src, dst = q.nonzero()
    closed = np.setdiff1d(np.arange(count), label[src[label[src] != label[dst]]])
    if len(closed) != 1:
        raise UnsupportedError(
            _SOLVER, f"the chain has {len(closed)} recurrent classes; no unique stationary distribution"
        )
    return label == closed[0]


def _pinned_solve(q: sp.csr_array, pin: int, direct: bool) -> np.ndarray:
    """``pi / pi[pin]``: solve the balance equations of the other states with ``pi[pin] = 1``."""
    keep = np.arange(q.shape[0]) != pin
    system = sp.csc_array(q.T.tocsr()[keep][:, keep])
    rhs = -q[[pin]].toarray().ravel()[keep]
    options = {"permc_spec": "MMD_AT_PLUS_A", "diag_pivot_thresh": 0.0, "options": {"SymmetricMode": True}}
    try:
        if direct:
            rest = spla.splu(system, **options).solve(rhs)
        else:
            ilu = spla.spilu(system, drop_tol=1e-4, fill_factor=10, **options)
            precond = spla.LinearOperator(system.shape, ilu.solve)
            rest, _ = spla.gmres(system, rhs, M=precond, rtol=1e-12, atol=0.0, restart=60, maxiter=50)
    except RuntimeError as err:  # an exactly singular factor
        raise UnsupportedError(_SOLVER, f"the stationary solve failed: {err}") from err
    return np.insert(rest, pin, 1.0)


def _checked(ratios: np.ndarray, q: sp.csr_array) -> np.ndarray:
    """Normalise, clip round-off negatives, and refuse an inaccurate solution."""
    pi = ratios / ratios.sum()
    residual = math.inf
    if np.all(np.isfinite(pi)) and pi.min() > -1e-9:
        pi = np.clip(pi, 0.0, None)
        pi /= pi.sum()
        scale = float(np.abs(q.diagonal()).max()) or 1.0
        residual = float(np.abs(q.T @ pi).sum()) / scale
    if residual > RESIDUAL_TOLERANCE:
        raise UnsupportedError(
            _SOLVER,
            f"the stationary solve of {len(pi):,} states is inaccurate (relative residual "
            f"{residual:.3g}); the chain may be too stiff, use simulation",
        )
    return pi
