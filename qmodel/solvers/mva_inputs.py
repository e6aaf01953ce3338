"""Inputs of the MVA solvers (:mod:`.mva`): array arguments checked and normalised into
one :class:`MVANetwork`, every problem reported at once as a
:class:`~qmodel.errors.ModelError` with its argument path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from qmodel.errors import ModelError, Problem

KINDS = ("queue", "delay")
"""Station kinds the solvers accept."""


@dataclass(frozen=True)
class MVANetwork:
    demands: np.ndarray  # (C, K) float
    delay: np.ndarray  # (K,) bool
    population: np.ndarray  # (C,) int
    think: np.ndarray  # (C,) float
    servers: np.ndarray  # (K,) int


def checked_network(
    demands: ArrayLike,
    kinds: Sequence[str],
    populations: ArrayLike,
    think_times: ArrayLike | None,
    servers: ArrayLike | None,
) -> MVANetwork:
    """Validate and normalise closed-network inputs; raise one ModelError listing all
    problems."""
    problems: list[Problem] = []
    d = _real_array(demands, "demands", problems)
    if d is not None and d.ndim == 1:
        d = d[None, :]
    if d is not None and (d.ndim != 2 or d.shape[1] == 0):
        problems.append(
            Problem("demands", f"must be a (classes, stations) array, got shape {d.shape}")
        )
        d = None
    if d is None:
        raise ModelError(problems)
    n_classes, n_stations = d.shape
    kinds = list(kinds) if not isinstance(kinds, str) else [kinds]
    if len(kinds) != n_stations:
        problems.append(Problem("kinds", f"needs {n_stations} entries, got {len(kinds)}"))
    problems += [
        Problem(f"kinds[{k}]", f"must be one of {', '.join(KINDS)}, got {kind!r}")
        for k, kind in enumerate(kinds)
        if kind not in KINDS
    ]
    population = _counts(populations, n_classes, "populations", 0, problems)
    think = _vector(0.0 if think_times is None else think_times, n_classes, "think_times", problems)
    server_counts = _counts(1 if servers is None else servers, n_stations, "servers", 1, problems)
    if not problems:
        idle = (think + d.sum(1) <= 0) & (population > 0)
        problems += [
            Problem(f"demands[{c}]", "a class with jobs needs a positive demand or think time")
            for c in np.flatnonzero(idle)
        ]
    if problems:
        raise ModelError(problems)
    delay = np.array([kind == "delay" for kind in kinds], dtype=bool)
    return MVANetwork(d, delay, population, think, server_counts)


def checked_open_classes(
    rates: ArrayLike, demands: ArrayLike, n_stations: int
) -> tuple[np.ndarray, np.ndarray]:
    problems: list[Problem] = []
    d = _real_array(demands, "open_demands", problems)
    if d is not None and d.ndim == 1:
        d = d[None, :]
    if d is not None and (d.ndim != 2 or d.shape[1] != n_stations):
        problems.append(
            Problem(
                "open_demands",
                f"must be an (open classes, {n_stations}) array, got shape {d.shape}",
            )
        )
    if problems:
        raise ModelError(problems)
    lam = _vector(rates, d.shape[0], "arrival_rates", problems)
    if problems:
        raise ModelError(problems)
    return lam, d


def _real_array(values: ArrayLike, path: str, problems: list[Problem]) -> np.ndarray | None:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        problems.append(Problem(path, "must be an array of numbers"))
        return None
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        problems.append(Problem(path, "must be finite and >= 0"))
        return None
    return array


def _vector(values: ArrayLike, size: int, path: str, problems: list[Problem]) -> np.ndarray:
    array = _real_array(values, path, problems)
    if array is None:
        return np.zeros(size)
    if array.ndim == 0:
        return np.full(size, float(array))
    if array.shape != (size,):
        problems.append(Problem(path, f"needs {size} entries, got shape {array.shape}"))
        return np.zeros(size)
    return array


def _counts(
    values: ArrayLike, size: int, path: str, least: int, problems: list[Problem]
) -> np.ndarray:
    known = len(problems)
    array = _vector(values, size, path, problems)
    whole = (array == np.round(array)) & (array >= least)
    bad = np.flatnonzero(~whole) if len(problems) == known else []
    problems += [
        Problem(f"{path}[{i}]", f"must be an integer >= {least}, got {array[i]:g}") for i in bad
    ]
    return np.round(array).astype(np.int64)


def frozen(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=float)
    array.setflags(write=False)
    return array
