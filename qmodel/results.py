"""Results of solving or simulating a model: flat, labelled, exportable.

Every number is an :class:`Estimate`: a float that also says how it was obtained
(``method``: ``exact``, ``approximation(NAME)``, ``simulation``) and, for simulation, its
95% confidence interval. A metric that cannot be given (an unstable component, a feature
that needs simulation) is ``None``, never a made-up number. Times are in seconds;
``time_unit`` is only for display.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from .result_extras import JobBounds, Staleness

RESULT_SCHEMA = "qmodel.result/1"
LIMIT_NOTE = "stopped after "
"""How the note of a simulation stopped by a limit of the run (its event budget or its
jobs in the system) begins."""


class Estimate(float):
    """A float with ``method`` and an optional ``ci95`` = (low, high).

    >>> x = Estimate(0.027, "exact")
    >>> x * 1000, x.method, x.ci95
    (27.0, 'exact', None)
    """

    __slots__ = ("method", "ci95")
    method: str
    ci95: tuple[float, float] | None

    def __new__(cls, value: float, method: str = "exact",
                ci95: tuple[float, float] | None = None) -> Estimate:
        obj = float.__new__(cls, value)
        obj.method = method
        obj.ci95 = None if ci95 is None else (float(ci95[0]), float(ci95[1]))
        return obj

    def __reduce__(self):
        return (Estimate, (float(self), self.method, self.ci95))

    @property
    def half_width(self) -> float | None:
        return None if self.ci95 is None else (self.ci95[1] - self.ci95[0]) / 2

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": _finite_or_none(float(self)), "method": self.method}
        if self.ci95 is not None:
            out["ci95"] = [_finite_or_none(v) for v in self.ci95]
        return out


def _finite_or_none(v: float) -> float | None:
    return v if math.isfinite(v) else None


def finite_json(value: Any) -> Any:
    """``value`` (dicts, lists, numbers) with every infinite or NaN float as None, so that
    ``json.dumps`` writes RFC 8259 JSON (no ``Infinity``/``NaN``; JSON's null is "none").

    >>> finite_json({"u": [1.5, float("inf")], "x": float("nan"), "n": 3})
    {'u': [1.5, None], 'x': None, 'n': 3}
    """
    if isinstance(value, float):
        return _finite_or_none(value)
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


def estimate(value: float | None, method: str, ci95=None) -> Estimate | None:
    """An :class:`Estimate`, or None when there is no value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return Estimate(value, method, ci95)


def _percentile(owner, p: float) -> Estimate | None:
    cache = owner._percentiles
    if p not in cache:
        if owner.quantile is None:
            return None
        value = owner.quantile(p)
        cache[p] = value if value is None or isinstance(value, Estimate) else \
            estimate(value, owner.method)
    return cache[p]


BEHAVIOUR_NODE_METRICS = ("p_abandon", "p_balk", "call_amplification", "call_timeout_rate",
                          "call_failure_rate")
WINDOW_NODE_METRICS = ("batches_per_window", "window_response")
METRICS = (
    "visits", "arrival_rate", "throughput", "utilization", "busy_servers", "mean_in_queue",
    "mean_in_system", "mean_wait", "mean_response", "p_wait", "p_idle", "p_loss",
    "p50_response", "p95_response", "p99_response",
)
TIME_METRICS = {"mean_wait", "mean_response", "p50_response", "p95_response", "p99_response"}
RATE_METRICS = {"arrival_rate", "throughput"}


@dataclass
class NodeResult:
    """Metrics of one station (or of a component aggregated over its members).

    Times are per visit; ``visits`` is the mean number of visits per job.
    """

    name: str
    component: str
    kind: str
    servers: int | float  # math.inf for infinitely many
    method: str
    stable: bool = True
    note: str = ""
    visits: Estimate | None = None
    arrival_rate: Estimate | None = None
    throughput: Estimate | None = None
    utilization: Estimate | None = None
    busy_servers: Estimate | None = None
    mean_in_queue: Estimate | None = None
    mean_in_system: Estimate | None = None
    mean_wait: Estimate | None = None
    mean_response: Estimate | None = None
    p_wait: Estimate | None = None
    p_idle: Estimate | None = None
    p_loss: Estimate | None = None
    offered_load: float | None = None
    p_abandon: Estimate | None = None  # patience ran out in queue (simulation; else None)
    p_balk: Estimate | None = None  # arrivals that did not join (simulation; else None)
    # a station whose calls time out, retry or hedge (simulation; else None):
    call_amplification: Estimate | None = None  # call attempts per call
    call_timeout_rate: Estimate | None = None  # call attempts timed out per second
    call_failure_rate: Estimate | None = None  # calls that gave up per second
    # a batcher with a window: batch intervals per window, and the mean time from an item's
    # arrival to the last windowed result that holds it (window - slide after the first)
    batches_per_window: Estimate | None = None
    window_response: Estimate | None = None
    quantile: Callable[[float], float] | None = field(default=None, repr=False)
    _percentiles: dict = field(default_factory=dict, repr=False)

    def percentile(self, p: float) -> Estimate | None:
        """Response-time quantile ``p`` (0..1) of one visit, when the method gives one.

        Computed on first use and kept (analytic quantiles need a root search)."""
        return _percentile(self, p)

    p50_response = property(lambda self: self.percentile(0.50),
                            lambda self, v: self._percentiles.__setitem__(0.50, v))
    p95_response = property(lambda self: self.percentile(0.95),
                            lambda self, v: self._percentiles.__setitem__(0.95, v))
    p99_response = property(lambda self: self.percentile(0.99),
                            lambda self, v: self._percentiles.__setitem__(0.99, v))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "component": self.component, "kind": self.kind,
            "servers": None if math.isinf(self.servers) else self.servers,  # JSON: null = inf
            "method": self.method, "stable": self.stable,
        }
        if self.note:
            out["note"] = self.note
        if self.offered_load is not None:
            out["offered_load"] = _finite_or_none(self.offered_load)
        for key in METRICS:
            value = getattr(self, key)
            out[key] = None if value is None else value.to_json()
        for key in BEHAVIOUR_NODE_METRICS + WINDOW_NODE_METRICS:  # only for nodes with them
            value = getattr(self, key)
            if value is not None:
                out[key] = value.to_json()
        return out


@dataclass
class SystemResult:
    """End-to-end metrics over all classes (response times per job, all visits).

    With batch classes: ``makespan`` (first batch's arrival to the last batch job's exit)
    and ``completed`` (batch jobs completed) from simulation, ``makespan_bound`` (seconds)
    a lower bound on the mean makespan known without simulating."""

    method: str
    stable: bool = True
    throughput: Estimate | None = None
    mean_response_time: Estimate | None = None
    mean_jobs: Estimate | None = None
    loss_probability: Estimate | None = None
    makespan: Estimate | None = None
    completed: Estimate | None = None
    bottleneck: str | None = None
    saturation_rate: float | None = None
    max_throughput: float | None = None
    makespan_bound: float | None = None
    quantile: Callable[[float], float] | None = field(default=None, repr=False)
    _percentiles: dict = field(default_factory=dict, repr=False)

    def percentile(self, p: float) -> Estimate | None:
        """End-to-end response-time quantile ``p`` (0..1), computed on first use."""
        return _percentile(self, p)

    p50_response_time = property(lambda self: self.percentile(0.50),
                                 lambda self, v: self._percentiles.__setitem__(0.50, v))
    p95_response_time = property(lambda self: self.percentile(0.95),
                                 lambda self, v: self._percentiles.__setitem__(0.95, v))
    p99_response_time = property(lambda self: self.percentile(0.99),
                                 lambda self, v: self._percentiles.__setitem__(0.99, v))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "stable": self.stable,
                               "bottleneck": self.bottleneck,
                               "saturation_rate": _maybe(self.saturation_rate),
                               "max_throughput": _maybe(self.max_throughput),
                               "makespan_bound": _maybe(self.makespan_bound)}
        for key in SYSTEM_METRICS:
            value = getattr(self, key)
            out[key] = None if value is None else value.to_json()
        return out


SYSTEM_METRICS = ("throughput", "mean_response_time", "p50_response_time", "p95_response_time",
                  "p99_response_time", "mean_jobs", "loss_probability", "makespan", "completed")


def _maybe(v: float | None) -> float | None:
    return None if v is None else _finite_or_none(float(v))


@dataclass
class ClassResult:
    """End-to-end metrics of one job class; ``p95_response_time`` is computed on first
    use from ``quantile`` (or set directly)."""

    name: str
    kind: str
    throughput: Estimate | None = None
    mean_response_time: Estimate | None = None
    population: int | None = None
    client: ClientResult | None = None  # simulation of a model with behaviours (else None)
    quantile: Callable[[float], float] | None = field(default=None, repr=False)
    _percentiles: dict = field(default_factory=dict, repr=False)

    def percentile(self, p: float) -> Estimate | None:
        """End-to-end response-time quantile ``p`` (0..1) of this class, when known."""
        return _percentile(self, p)

    p95_response_time = property(lambda self: self.percentile(0.95),
                                 lambda self, v: self._percentiles.__setitem__(0.95, v))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind,
                               "population": self.population}
        for key in ("throughput", "mean_response_time", "p95_response_time"):
            value = getattr(self, key)
            out[key] = None if value is None else value.to_json()
        if self.client is not None:
            out["client"] = self.client.to_json(self)
        return out


CLIENT_METRICS = ("offered_rate", "attempt_rate", "goodput", "retry_amplification",
                  "timeout_rate", "failure_rate", "wasted_work")
CLIENT_QUANTILES = {"p50_response_time": 0.50, "p95_response_time": 0.95,
                    "p99_response_time": 0.99, "p999_response_time": 0.999}


@dataclass
class ClientResult:
    """What an open class's clients saw, in a simulation of a model with behaviours:
    first attempts (``offered_rate``), all attempts incl. retries and hedges
    (``attempt_rate``), answered requests (``goodput``), per second;
    ``retry_amplification`` = attempts / first attempts; timed-out attempts
    (``timeout_rate``) and requests that gave up (``failure_rate``) per second;
    ``wasted_work``: server-seconds per second spent on abandoned or losing attempts.

    >>> ClientResult(goodput=Estimate(9.5, "simulation")).to_json()["goodput"]["value"]
    9.5
    """

    offered_rate: Estimate | None = None
    attempt_rate: Estimate | None = None
    goodput: Estimate | None = None
    retry_amplification: Estimate | None = None
    timeout_rate: Estimate | None = None
    failure_rate: Estimate | None = None
    wasted_work: Estimate | None = None

    def to_json(self, owner: ClassResult | None = None) -> dict[str, Any]:
        """The metrics, and the class's response-time quantiles when ``owner`` is given."""
        out: dict[str, Any] = {}
        for key in CLIENT_METRICS:
            value = getattr(self, key)
            out[key] = None if value is None else value.to_json()
        if owner is not None:
            for key, p in CLIENT_QUANTILES.items():
                value = owner.percentile(p)
                out[key] = None if value is None else value.to_json()
        return out


@dataclass
class PoolResult:
    """A pool in a simulation: its ``size``, the mean wait for a unit (``mean_wait``, s,
    over every acquisition), the mean share of units in use (``utilization``) and
    acquisitions per second (``acquire_rate``)."""

    name: str
    size: int
    mean_wait: Estimate | None = None
    utilization: Estimate | None = None
    acquire_rate: Estimate | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "size": self.size}
        for key in ("mean_wait", "utilization", "acquire_rate"):
            value = getattr(self, key)
            out[key] = None if value is None else value.to_json()
        return out


@dataclass
class Instability:
    """A saturated station: its offered load per server is at or above 1."""

    station: str
    utilization: float

    def __str__(self) -> str:
        return f"{self.station} is saturated (offered utilization {self.utilization:.4g} >= 1)"


@dataclass
class Result:
    """What :func:`qmodel.solve` (and the simulator) return.

    ``passed_over``: the analytic methods :func:`qmodel.solve` did not use, each with why
    (empty for simulation)."""

    model: str
    method: str
    time_unit: str
    nodes: dict[str, NodeResult]
    system: SystemResult
    classes: dict[str, ClassResult] = field(default_factory=dict)
    unstable: list[Instability] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    components: dict[str, list[str]] = field(default_factory=dict)
    partial: bool = False
    passed_over: dict[str, str] = field(default_factory=dict)
    pools: dict[str, PoolResult] = field(default_factory=dict)  # simulated pools
    aria: dict[str, JobBounds] = field(default_factory=dict)  # per class through pool forks
    # computes the stale reads of the model's consistency section, on first use
    _consistency: Callable[[], Staleness | None] | None = field(default=None, repr=False,
                                                                 compare=False)

    @property
    def stable(self) -> bool:
        return not self.unstable

    @property
    def limit_note(self) -> str | None:
        """Why a partial simulation stopped at a limit of the run (its event budget, or
        too many jobs in the system): its note, which begins :data:`LIMIT_NOTE`; None for
        a complete run or one interrupted by the user."""
        if not self.partial:
            return None
        return next((note for note in self.notes if note.startswith(LIMIT_NOTE)), None)

    @cached_property
    def consistency(self) -> Staleness | None:
        """Stale reads of the model's ``consistency:`` section (PBS; None without one),
        computed when first asked for (a Monte Carlo of a fraction of a second)."""
        return None if self._consistency is None else self._consistency()

    def node(self, name: str) -> NodeResult:
        """A station by name (``db-2``), or a component aggregated over its members (``db``)."""
        if name in self.nodes:
            return self.nodes[name]
        if name in self.components:
            return aggregate(name, [self.nodes[m] for m in self.components[name]])
        known = ", ".join(list(self.nodes) + [c for c in self.components if c not in self.nodes])
        raise KeyError(f"no node {name!r}; nodes are {known}")

    def to_dataframe(self) -> pd.DataFrame:
        """One row per station; times in seconds (``_s``), rates per second (``_per_s``)."""
        import pandas as pd  # imported on first use: it takes a second to load

        rows = []
        for node in self.nodes.values():
            row: dict[str, Any] = {"node": node.name, "component": node.component,
                                   "kind": node.kind, "servers": node.servers,
                                   "method": node.method, "stable": node.stable}
            for key in METRICS:
                value = getattr(node, key)
                row[column_name(key)] = None if value is None else float(value)
            rows.append(row)
        return pd.DataFrame(rows).set_index("node")

    def to_dict(self) -> dict[str, Any]:
        """The JSON document described in ``docs/results.md``."""
        out = {
            "schema": RESULT_SCHEMA,
            "model": self.model,
            "method": self.method,
            "time_unit": self.time_unit,
            "units": {"time": "s", "rate": "1/s"},
            "stable": self.stable,
            "partial": self.partial,
            "unstable": [{"node": u.station, "utilization": u.utilization} for u in self.unstable],
            "notes": list(self.notes),
            "passed_over": dict(self.passed_over),
            "system": self.system.to_json(),
            "classes": {k: v.to_json() for k, v in self.classes.items()},
            "nodes": {k: v.to_json() for k, v in self.nodes.items()},
        }
        if self.pools:
            out["pools"] = {k: v.to_json() for k, v in self.pools.items()}
        if self.consistency is not None:
            out["consistency"] = self.consistency.to_json()
        if self.aria:
            out["aria"] = {k: v.to_json() for k, v in self.aria.items()}
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(finite_json(self.to_dict()), indent=indent, allow_nan=False)


def column_name(metric: str) -> str:
    if metric in TIME_METRICS:
        return f"{metric}_time_s" if metric == "mean_response" else f"{metric}_s"
    if metric in RATE_METRICS:
        return f"{metric}_per_s"
    return metric


def aggregate(component: str, members: list[NodeResult]) -> NodeResult:
    """Combine member stations (shards, consumers) into one component-level view.

    Rates and counts add up; times are throughput-weighted means; utilization is the
    mean over members (the hottest member is in ``note``).
    """
    first = members[0]
    method = first.method if all(m.method == first.method for m in members) else "mixed"
    stable = all(m.stable for m in members)
    out = NodeResult(component, component, first.kind, first.servers, method, stable)
    hottest = max(members, key=lambda m: m.offered_load or 0.0)
    out.note = f"{len(members)} members; hottest {hottest.name}"
    out.offered_load = hottest.offered_load
    if not stable:
        return out
    for key in ("visits", "arrival_rate", "throughput", "busy_servers", "mean_in_queue",
                "mean_in_system"):
        values = [getattr(m, key) for m in members]
        if all(v is not None for v in values):
            setattr(out, key, Estimate(sum(values), values[0].method))
    weights = [float(m.throughput or 0.0) for m in members]
    total = sum(weights)
    for key in ("mean_wait", "mean_response", "p_wait", "p_loss"):
        values = [getattr(m, key) for m in members]
        if total > 0 and all(v is not None for v in values):
            setattr(out, key, Estimate(sum(w * v for w, v in zip(weights, values)) / total,
                                       values[0].method))
    utils = [m.utilization for m in members]
    if all(u is not None for u in utils):
        out.utilization = Estimate(sum(utils) / len(utils), utils[0].method)
    return out


NEEDS_SIMULATION = "needs simulation: "


def grouped_notes(notes: list[str], unstable: bool = False) -> list[str]:
    """A result's notes for a person, each once: the ``needs simulation: WHERE: WHY`` notes
    gathered into one line, and with ``unstable`` the ``saturated`` notes left out (the
    instabilities say it, naming the station).

    >>> grouped_notes(["needs simulation: a: a fork in a closed network",
    ...                "needs simulation: b: a join in a closed network",
    ...                "saturated: offered load 3", "x", "x"], unstable=True)
    ['needs simulation: a: a fork in a closed network; b: a join in a closed network', 'x']
    """
    simulate = list(dict.fromkeys(n.removeprefix(NEEDS_SIMULATION) for n in notes
                                  if n.startswith(NEEDS_SIMULATION)))
    rest = [n for n in dict.fromkeys(notes) if not n.startswith(NEEDS_SIMULATION)
            and not (unstable and n.startswith("saturated"))]
    return ([NEEDS_SIMULATION + "; ".join(simulate)] if simulate else []) + rest
