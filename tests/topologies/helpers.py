"""Shared helpers for the topology tests: loading, simulation checks, closed forms."""

from __future__ import annotations

import functools
import importlib
import math
import sys
from pathlib import Path
from types import ModuleType

import qmodel
from qmodel import Estimate, Model, Result

TOPOLOGIES = Path(__file__).resolve().parents[2] / "topologies"
NEW_TOPOLOGIES = (
    "microservices_gateway", "microservices_per_server_queues", "kafka_stream",
    "spark_streaming", "mapreduce_job", "lambda_architecture", "brkss_warehouse",
    "naiad_iterative", "parameter_server", "replicated_store", "microservices_pooled_db",
)


def load(name: str) -> Model:
    """A topology from ``topologies/NAME.yaml``."""
    return qmodel.load(TOPOLOGIES / f"{name}.yaml")


@functools.cache
def solved(name: str) -> Result:
    """``qmodel.solve`` of a topology, once per test session (fork-joins take seconds)."""
    return qmodel.solve(load(name))


def close(estimate: Estimate | None, expected: float, rel: float) -> bool:
    """A simulated value agrees with ``expected``: inside its 95% interval widened by
    ``rel`` of ``expected`` on each side (so a very narrow interval does not make a
    tiny model error fail)."""
    assert estimate is not None, "no estimate"
    low, high = estimate.ci95 if estimate.ci95 is not None else (estimate, estimate)
    slack = rel * abs(expected)
    return low - slack <= expected <= high + slack


def erlang_c(c: int, a: float) -> float:
    """P(wait) in M/M/c with offered load ``a`` (Erlang C; Kleinrock vol. 1, eq. 3.40)."""
    term, total = 1.0, 1.0
    for k in range(1, c):
        term *= a / k
        total += term
    top = term * a / c / (1 - a / c)
    return top / (total + top)


def mmc_response(lam: float, mu: float, c: int) -> float:
    """Mean response time of M/M/c: 1/mu + C(c, a)/(c mu - lambda)."""
    return 1 / mu + erlang_c(c, lam / mu) / (c * mu - lam)


def mm1_quantile(lam: float, mu: float, p: float) -> float:
    """The ``p``-quantile of the M/M/1 FCFS response time, Exp(mu - lambda)."""
    return -math.log(1 - p) / (mu - lam)


def example(name: str) -> ModuleType:
    """An example script imported as a module (for its helper functions)."""
    folder = TOPOLOGIES.parent / "examples"
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return importlib.import_module(name)
