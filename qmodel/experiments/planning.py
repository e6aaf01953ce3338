"""Capacity planning: the cheapest integer configuration that meets an SLO at a load.

Each costed component has one integer knob — ``servers`` of a queue or batcher,
``shards`` of shards, ``consumers`` of a broker, ``slots`` of a fork, or any integer path
named explicitly — and a cost per unit. A configuration is feasible when the SLO holds
and no station is busier than ``max_utilization``.

Search: each knob starts at its *utilization lower bound* (the fewest units that keep its
own stations under the ceiling; in an open network a component's load does not depend on
the others' capacity). From there a uniform-cost (best-first, branch-and-bound) search
visits configurations in order of cost and stops at the first feasible one, so the plan is
the cheapest; ties go to the smallest configuration in path order. Small boxes are
searched exhaustively (``search="brute"``), which tests compare against. The plan does not
assume that latency falls as capacity grows.

A model with batches is simulated at every configuration, with the same seed (common
random numbers), so an SLO on its makespan plans a batch: the fewest nodes that finish
it in time. Its knobs start at the fewest units whose analytic makespan lower bound
(:mod:`qmodel.solvers.batches`; the other knobs at their limits) meets the SLO.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..errors import ModelError, Problem, QModelError
from ..methods import SEARCHES
from ..model.model import Model
from ..model.paths import apply, catalogue
from ..model.slo import SLO, model_slo
from ..results import Result
from ..solve import solve
from ..units import format_duration, format_rate
from .loads import at_load, describe
from .rows import component_column
from .sweep import as_model, evaluate

KNOBS = {"queue": "servers", "shards": "shards", "broker": "consumers", "batcher": "servers",
         "fork": "slots"}
DEFAULT_LIMIT = 256
BRUTE_LIMIT = 64
BATCH = 64
MAX_EVALUATIONS = 50_000


class PlanError(QModelError):
    """No configuration within the limits meets the SLO; ``component`` blocks it."""

    def __init__(self, message: str, component: str | None = None):
        self.component = component
        super().__init__(message)


@dataclass(frozen=True)
class Knob:
    """One integer knob: its path, component, cost per unit and limits."""

    path: str
    component: str
    unit_cost: float
    low: int
    high: int


@dataclass(frozen=True)
class Plan:
    """The cheapest feasible configuration and its metrics at the planned load."""

    configuration: dict[str, int]
    cost: float
    metrics: dict[str, Any]
    model: Model
    load: dict[str, float]
    slo: SLO | None
    max_utilization: float | None
    lower_bounds: dict[str, int]
    evaluated: int
    search: str
    knobs: tuple[Knob, ...] = field(repr=False, default=())

    def __str__(self) -> str:
        parts = ", ".join(f"{k}={v}" for k, v in self.configuration.items())
        slo = f" meets {self.slo}" if self.slo else ""
        load = f" at {describe(self.load)}" if self.load else ""
        return f"cost {self.cost:g}: {parts}{slo}{load}"

    def to_dict(self) -> dict[str, Any]:
        return {"configuration": self.configuration, "cost": self.cost,
                "load": self.load, "slo": str(self.slo) if self.slo else None,
                "max_utilization": self.max_utilization, "lower_bounds": self.lower_bounds,
                "evaluated": self.evaluated, "search": self.search,
                "metrics": {k: (None if isinstance(v, float) and math.isnan(v) else v)
                            for k, v in self.metrics.items()}}


def plan(model: Model | str, slo: str | list[str] | SLO | None = None,
         load: str | float | Mapping[str, str | float] | None = None,
         cost: Mapping[str, float] | None = None, max_utilization: float | None = 0.8,
         limits: Mapping[str, int | tuple[int, int]] | None = None, search: str = "auto",
         method: str | None = None, replications: int = 10, seed: int = 0) -> Plan:
    """The cheapest configuration of the costed components meeting ``slo`` at ``load``.

    Parameters
    ----------
    model : a Model or a model file path.
    slo : an SLO string or list (default: the model's ``slo:``).
    load : total arrival rate (``"800/s"``), a factor (``"2x"``), class -> rate, or None.
    cost : component (``"nodes.app"``) or integer path (``"nodes.db.shards"``) -> cost per
        unit; default: every queue, shards, broker, batcher and fork at 1 per unit.
    max_utilization : ceiling on every station's utilization (None: just stable); not
        applied to a model whose classes are all batches, which should keep stations busy.
    limits : component or path -> ``high`` or ``(low, high)``; default 1..256 (a broker's
        consumers up to its partitions).
    search : ``"brute"`` (every configuration in the limits), ``"best-first"`` or
        ``"auto"`` (brute when the box has at most 64 configurations and is not simulated).
    method : how configurations are evaluated (see :func:`~.sweep.evaluate`); default:
        ``"simulate"`` for a model with batches, else ``"analytic"``.
    replications, seed : for simulation; every configuration uses ``seed``.

    Raises :class:`PlanError` naming the blocking component when nothing within the limits
    is feasible.

    >>> import qmodel
    >>> m = qmodel.Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "100ms"}},
    ...                             "arrivals": {"web": {"to": "app", "rate": "20/s"}}})
    >>> p = plan(m, slo="mean < 150ms", cost={"nodes.app": 1})
    >>> p.configuration, round(p.metrics["mean_response_time_s"], 4)
    ({'nodes.app.servers': 3}, 0.1444)
    """
    model = as_model(model)
    if search not in SEARCHES:
        raise QModelError(f"search must be one of {', '.join(SEARCHES)}, got {search!r}")
    target = model_slo(model, slo)
    rates = at_load(model, load)
    loaded = apply(model, rates) if load is not None else model
    knobs = _knobs(loaded, cost, limits)
    batches = loaded.network.batch_classes
    if len(batches) == len(loaded.network.classes):
        max_utilization = None
    method = method or ("simulate" if batches else "analytic")
    probe = _Probe(loaded, knobs, target, max_utilization, method, replications, seed)
    bounds = _lower_bounds(probe)
    top = tuple(k.high for k in knobs)
    top_row = probe.rows([top])[0]
    if not probe.feasible(top_row):
        raise _impossible(probe, top, top_row, rates)
    box = math.prod(k.high - k.low + 1 for k in knobs)
    small = box <= BRUTE_LIMIT and method != "simulate"
    how = search if search != "auto" else ("brute" if small else "best-first")
    best = _brute(probe) if how == "brute" else _best_first(probe, bounds)
    config, row = best
    return Plan({k.path: v for k, v in zip(knobs, config)}, probe.cost(config), row,
                apply(loaded, dict(zip((k.path for k in knobs), config))), rates, target,
                max_utilization, {k.path: b for k, b in zip(knobs, bounds)}, probe.count,
                how, knobs)


class _Probe:
    """Evaluates configurations (tuples of knob values) and judges them."""

    def __init__(self, model: Model, knobs: tuple[Knob, ...], slo: SLO | None,
                 ceiling: float | None, method: str, replications: int, seed: int):
        self.model, self.knobs, self.slo, self.ceiling = model, knobs, slo, ceiling
        self.method, self.replications, self.seed = method, replications, seed
        self.count = 0

    def cost(self, config: tuple[int, ...]) -> float:
        return sum(k.unit_cost * v for k, v in zip(self.knobs, config))

    def key(self, config: tuple[int, ...]) -> tuple[float, tuple[int, ...]]:
        return round(self.cost(config), 9), config

    def rows(self, configs: list[tuple[int, ...]]) -> list[dict[str, Any]]:
        """The metric rows of configurations."""
        return self._table(pd.DataFrame(configs, columns=[k.path for k in self.knobs]))

    def own_load(self, i: int, value: int) -> float:
        """Utilization of knob ``i``'s component with ``value`` units, others as modelled."""
        knob = self.knobs[i]
        row = self._table(pd.DataFrame({knob.path: [value]}))[0]
        return row[component_column(knob.component)]

    def _table(self, points: pd.DataFrame) -> list[dict[str, Any]]:
        self.count += len(points)
        table = evaluate(self.model, points, metric="mean", slo=self.slo, method=self.method,
                         quantiles=(), replications=self.replications, seed=self.seed,
                         executor="serial", progress=False, components=True)
        return table.to_dict("records")

    def feasible(self, row: Mapping[str, Any]) -> bool:
        if not row["stable"]:
            return False
        if self.ceiling is not None and not row["max_utilization"] <= self.ceiling:
            return False
        return self.slo is None or bool(self.slo.met(row))

    def load_ok(self, load: float) -> bool:
        return load <= self.ceiling if self.ceiling is not None else load < 1.0

    def own_load_ok(self, i: int, value: int) -> bool:
        return self.load_ok(self.own_load(i, value))

    def bound_ok(self, i: int, value: int) -> bool:
        """Whether the makespan's lower bound meets the SLO's ``makespan <`` clauses with
        knob ``i`` at ``value`` and the others at their limits (so at their smallest)."""
        config = {k.path: k.high for k in self.knobs} | {self.knobs[i].path: value}
        bound = solve(apply(self.model, config)).system.makespan_bound
        return bound is None or all(c.holds(bound) for c in self.slo.clauses
                                    if c.metric == "makespan" and c.op in ("<", "<="))


def _knobs(model: Model, cost: Mapping[str, float] | None,
           limits: Mapping[str, int | tuple[int, int]] | None) -> tuple[Knob, ...]:
    if cost is None:
        cost = {f"nodes.{name}": 1.0 for name, node in model.spec.nodes.items()
                if node.kind in KNOBS}
    if not cost:
        raise ModelError([Problem("cost", "nothing to plan: name components with a cost, "
                                          "e.g. nodes.app=1")])
    limits = {_knob_path(model, key, "limits"): value for key, value in (limits or {}).items()}
    knobs = []
    for key, unit in cost.items():
        path = _knob_path(model, key, "cost")
        if not (isinstance(unit, (int, float)) and 0 < unit < math.inf):
            raise ModelError([Problem(f"cost.{key}", f"must be a positive finite number, got "
                                                     f"{unit!r}")])
        component = path.split(".")[1]
        low, high = _limits(model, path, limits.get(path))
        knobs.append(Knob(path, component, float(unit), low, high))
    return tuple(sorted(knobs, key=lambda k: k.path))


def _knob_path(model: Model, key: str, where: str) -> str:
    parts = key.split(".")
    name = parts[1] if parts[0] == "nodes" and len(parts) > 1 else parts[0]
    node = model.spec.nodes.get(name)
    if node is None:
        known = ", ".join(f"nodes.{n}" for n in model.spec.nodes)
        raise ModelError([Problem(f"{where}.{key}", f"no component {name!r}; components are "
                                                    f"{known}")])
    if len(parts) <= 2 and parts[0] == "nodes" or len(parts) == 1:
        if node.kind not in KNOBS:
            raise ModelError([Problem(f"{where}.{key}", f"a {node.kind} has no capacity to "
                                                        "plan; name an integer field")])
        return f"nodes.{name}.{KNOBS[node.kind]}"
    param = catalogue(model).get(key)
    if param is None or not param.integer:
        raise ModelError([Problem(f"{where}.{key}", "not an integer field of this model (servers, "
                                                    "shards, partitions, consumers, ...)")])
    return key


def _limits(model: Model, path: str, given: int | tuple[int, int] | None) -> tuple[int, int]:
    node = model.spec.nodes[path.split(".")[1]]
    field_name = path.split(".")[-1]
    if field_name == "shards" and getattr(node, "weights", None):
        raise ModelError([Problem(path, "cannot be planned: weights fixes one weight per shard")])
    high = node.partitions if field_name == "consumers" else DEFAULT_LIMIT
    low = 1
    if given is not None:
        low, high = (1, given) if isinstance(given, int) else tuple(given)
    if not (isinstance(low, int) and isinstance(high, int) and 1 <= low <= high):
        raise ModelError([Problem(f"limits.{path}", f"must be whole numbers 1 <= low <= high, "
                                                     f"got {given!r}")])
    return low, high


def _lower_bounds(probe: _Probe) -> list[int]:
    """Per knob, the fewest units whose makespan bound meets the SLO (batches) or that keep
    its own stations within the ceiling (open networks); the lower limit otherwise. Binary
    search: the bound and the load fall as units grow."""
    if probe.model.network.batch_classes and probe.slo is not None:
        ok = probe.bound_ok
    elif probe.model.spec.arrivals and not probe.model.spec.users:
        ok = probe.own_load_ok
    else:
        return [k.low for k in probe.knobs]
    bounds = []
    for i, knob in enumerate(probe.knobs):
        lo, hi = knob.low, knob.high + 1          # hi: "not within the limits"
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if ok(i, mid) else (mid + 1, hi)
        bounds.append(lo)
    return bounds


def _brute(probe: _Probe) -> tuple[tuple[int, ...], dict[str, Any]]:
    ranges = [range(k.low, k.high + 1) for k in probe.knobs]
    configs = list(_product(ranges))
    feasible = [(probe.key(c), c, row) for c, row in zip(configs, probe.rows(configs))
                if probe.feasible(row)]
    _, config, row = min(feasible, key=lambda t: t[0])
    return config, row


def _product(ranges: list[range]):
    if not ranges:
        yield ()
        return
    for head in ranges[0]:
        for tail in _product(ranges[1:]):
            yield (head, *tail)


def _best_first(probe: _Probe, bounds: list[int]) -> tuple[tuple[int, ...], dict[str, Any]]:
    start = tuple(bounds)
    heap = [(probe.key(start), start)]
    seen = {start}
    best: tuple[tuple, tuple[int, ...], dict[str, Any]] | None = None
    while heap and (best is None or heap[0][0] < best[0]):
        batch = []
        while heap and len(batch) < BATCH and (best is None or heap[0][0] < best[0]):
            batch.append(heapq.heappop(heap)[1])
        for config, row in zip(batch, probe.rows(batch)):
            if probe.feasible(row) and (best is None or probe.key(config) < best[0]):
                best = (probe.key(config), config, row)
        for config in batch:
            for i, knob in enumerate(probe.knobs):
                if config[i] < knob.high:
                    nxt = config[:i] + (config[i] + 1,) + config[i + 1:]
                    if nxt not in seen and (best is None or probe.key(nxt) < best[0]):
                        seen.add(nxt)
                        heapq.heappush(heap, (probe.key(nxt), nxt))
        if probe.count > MAX_EVALUATIONS:
            raise QModelError(f"plan: {probe.count} configurations searched without an answer;"
                              " narrow the limits")
    return best[1], best[2]


def _impossible(probe: _Probe, top: tuple[int, ...], row: Mapping[str, Any],
                rates: Mapping[str, float]) -> PlanError:
    """Why even the largest configuration fails, naming the component that blocks it."""
    at = ", ".join(f"{k.path}={v}" for k, v in zip(probe.knobs, top))
    costed = {k.component: k for k in probe.knobs}
    where = f" at {describe(rates)}" if rates else ""
    hot = {c.split(".")[1]: u for c, u in row.items()
           if c.startswith("nodes.") and c.endswith(".utilization")}
    over = {c: u for c, u in hot.items() if not probe.load_ok(u)}
    if over:
        name = max(over, key=over.get)
        fix = f"at its limit {costed[name].high}" if name in costed else "not costed; add it " \
            "to the cost to plan it"
        return PlanError(f"no configuration within the limits keeps utilization within "
                         f"{probe.ceiling if probe.ceiling is not None else 1:g}{where}: "
                         f"nodes.{name} is at {over[name]:.3g} ({fix}); tried {at}", name)
    failing = probe.slo.failing(row) if probe.slo else []
    result = solve(apply(probe.model, dict(zip((k.path for k in probe.knobs), top))))
    share = {}
    for node in result.nodes.values():
        if node.visits is not None and node.mean_response is not None:
            share[node.component] = share.get(node.component, 0.0) + \
                float(node.visits) * float(node.mean_response)
    name = max(share, key=share.get) if share else _bound_component(result)
    detail = ""
    if name is not None:
        knob = costed.get(name)
        limit = f"even at {knob.path}={knob.high}, its limit" if knob else "and it is not " \
            "costed"
        what = f"{format_duration(share[name])} per job" if share else \
            f"makespan >= {_duration(result.system.makespan_bound)}"
        detail = f"; nodes.{name} blocks it: {what} {limit}"
    clause = " and ".join(str(c) for c in failing) or str(probe.slo)
    got = ", ".join(f"{c.metric} is {_show(c.metric, row.get(c.column))}" for c in failing)
    return PlanError(f"no configuration within the limits meets {clause}{where}: even with "
                     f"{at} the {got}{detail}", name)


def _bound_component(result: Result) -> str | None:
    """The component whose batch work sets the makespan's lower bound, if one does."""
    station = result.system.bottleneck if result.system.makespan_bound is not None else None
    node = result.nodes.get(station) if station else None
    return node.component if node else station


def _show(metric: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "unavailable (unstable)"
    if metric == "utilization":
        return f"{value:.3g}"
    return format_rate(value) if metric == "throughput" else _duration(value)


def _duration(seconds: float) -> str:
    return format_duration(seconds, "ms" if seconds < 1 else "s")
