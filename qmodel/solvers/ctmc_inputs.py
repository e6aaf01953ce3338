"""Input checks of the CTMC solver (:mod:`.ctmc`): stations, rate vectors and routing
matrices, each problem reported with its argument path."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from scipy.sparse import csgraph

from qmodel.errors import Problem

if TYPE_CHECKING:  # ctmc imports this module
    from qmodel.solvers.ctmc import MarkovStation

_ROW_SUM_SLACK = 1e-9


def station_problems(stations: Sequence[MarkovStation]) -> list[Problem]:
    problems = []
    if len(stations) == 0:
        problems.append(Problem("stations", "must not be empty"))
    for k, s in enumerate(stations):
        path = f"stations[{k}]"
        rate = s.service_rate
        if not (is_real(rate) and math.isfinite(rate) and rate > 0):
            problems.append(Problem(f"{path}.service_rate", f"must be positive and finite, got {rate!r}"))
        if not (math.isinf(s.servers) if isinstance(s.servers, float) else
                is_int(s.servers) and s.servers >= 1):
            message = f"must be a positive integer or math.inf, got {s.servers!r}"
            problems.append(Problem(f"{path}.servers", message))
        if s.capacity is not None and not (is_int(s.capacity) and s.capacity >= 1):
            message = f"must be a positive integer or None, got {s.capacity!r}"
            problems.append(Problem(f"{path}.capacity", message))
    return problems


def checked_vector(values: ArrayLike, k: int, path: str, problems: list[Problem]) -> np.ndarray:
    vector = np.asarray(values, dtype=float)
    if vector.shape != (k,):
        problems.append(Problem(path, f"must have one entry per station ({k}), got shape {vector.shape}"))
        return np.zeros(k)
    if not np.all(np.isfinite(vector) & (vector >= 0)):
        problems.append(Problem(path, "must be finite and non-negative"))
    return vector


def checked_routing(routing: ArrayLike, k: int, *, closed: bool, problems: list[Problem]) -> np.ndarray:
    matrix = np.asarray(routing, dtype=float)
    if matrix.shape != (k, k):
        problems.append(Problem("routing", f"must be a {k}x{k} matrix, got shape {matrix.shape}"))
        return np.zeros((k, k))
    if not np.all(np.isfinite(matrix) & (matrix >= 0)):
        problems.append(Problem("routing", "probabilities must be finite and non-negative"))
        return matrix
    sums = matrix.sum(axis=1)
    excess = np.abs(sums - 1) if closed else sums - 1
    need = "sum to 1" if closed else "sum to at most 1"
    for i in np.flatnonzero(excess > _ROW_SUM_SLACK):
        problems.append(Problem(f"routing[{i}]", f"must {need}, sums to {sums[i]:.6g}"))
    if problems:
        return matrix
    if closed and _closed_classes(matrix) != 1:
        problems.append(Problem("routing", "the stations must form a single closed class (one chain)"))
    if not closed and np.abs(np.linalg.eigvals(matrix)).max() >= 1 - 1e-12:
        problems.append(Problem("routing", "some jobs can never leave the network"))
    return matrix


def _closed_classes(matrix: np.ndarray) -> int:
    """Number of strongly connected classes of the routing graph that no job leaves."""
    count, label = csgraph.connected_components(sp.csr_array(matrix > 0), connection="strong")
    src, dst = np.nonzero(matrix > 0)
    leaky = np.unique(label[src[label[src] != label[dst]]])
    return count - len(leaky)


def is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
