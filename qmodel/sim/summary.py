"""From replication records to a :class:`SimResult`: warm-up cut, per-replication metrics,
means with Student-t 95% intervals over replications, percentiles, stability verdict."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..model.network import Network
from ..results import (
    ClassResult,
    Estimate,
    Instability,
    NodeResult,
    Result,
    SystemResult,
    finite_json,
)
from ..solvers.batches import makespan_bound
from .batcher import offered_load as batcher_load
from .behaviour_summary import add_behaviours
from .record import STATION_FIELDS, Layout, Replication
from .stats import mean_ci, mser

if TYPE_CHECKING:  # pandas loads when a table is built, not with the simulator
    import pandas as pd

METHOD = "simulation"
GROWTH_RATIO = 1.5
GROWTH_JOBS = 5.0
GROWTH_PERIODS = 10


@dataclass
class SimResult(Result):
    """A :class:`~qmodel.results.Result` from simulation, with its replications' seed.

    ``node(name)`` also answers for a component (``db``) from its members' pooled
    counters; ``percentile(p)`` of a node or the system comes from stored samples.
    ``trace`` is the per-visit DataFrame when ``trace=True`` was asked for. With batch
    classes, ``per_replication`` has each replication's ``makespan_s`` (None if its
    batches had not finished), ``mean_turnaround_s`` and ``completed`` batch jobs.
    ``convergence`` (a run to a precision): after each replication checked, the widest
    relative half-width (``worst``) and its ``metric``.
    """

    replications: int = 0
    seed: int | None = None
    trace: pd.DataFrame | None = None
    warmup_s: list[float] = field(default_factory=list)
    component_nodes: dict[str, NodeResult] = field(default_factory=dict, repr=False)
    per_replication: list[dict[str, float | None]] = field(default_factory=list)
    convergence: list[dict[str, Any]] = field(default_factory=list)

    def node(self, name: str) -> NodeResult:
        if name not in self.nodes and name in self.component_nodes:
            return self.component_nodes[name]
        return super().node(name)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["replications"] = self.replications
        out["seed"] = self.seed
        out["warmup_s"] = list(self.warmup_s)
        out["per_replication"] = list(self.per_replication)
        out["convergence"] = finite_json(list(self.convergence))  # a NaN width: null
        return out


class _Window:
    """One replication's counters between the warm-up cut and the end."""

    def __init__(self, rep: Replication, layout: Layout):
        self.rep = rep
        start = rep.warm if rep.warm is not None else _mser_row(rep, layout)
        self.start = start
        self.diff = rep.final - start
        self.T = float(self.diff[0])


def _mser_row(rep: Replication, layout: Layout) -> np.ndarray:
    cut = mser(rep.batch_means) * rep.batch_size
    done = rep.rows[:, layout.sys("completions")]
    j = int(np.searchsorted(done, cut))
    return rep.rows[min(j, len(rep.rows) - 1)]


def _est(values: list[float]) -> Estimate | None:
    m, ci = mean_ci(values)
    return None if math.isnan(m) else Estimate(m, METHOD, ci)


def _window(out: NodeResult, spec) -> None:
    """A windowed batcher's batches per window and the mean time to an item's last
    windowed result: its first (the visit) plus ``window - slide``, a fixed offset."""
    b = spec.batch
    if b is None or not b.window:
        return
    out.batches_per_window = Estimate(b.window / b.interval, "exact")
    first, later = out.mean_response, b.window - b.slide
    if first is not None:
        ci = None if first.ci95 is None else (first.ci95[0] + later, first.ci95[1] + later)
        out.window_response = Estimate(float(first) + later, METHOD, ci)


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def _station_metrics(d: np.ndarray, T: float, servers: float, queue_like: bool,
                     sys_done: float) -> dict[str, float]:
    """Per-visit metrics from a station's counter block (``STATION_FIELDS`` order)."""
    g = {k: float(v) for k, v in zip(STATION_FIELDS, d)}
    accepted = g["arrivals"] - g["losses"]
    busy = g["area_busy"] / T
    return {
        "visits": _ratio(g["completions"], sys_done),
        "arrival_rate": g["arrivals"] / T,
        "throughput": g["completions"] / T,
        "busy_servers": busy,
        "utilization": busy / servers if math.isfinite(servers) else math.nan,
        "mean_in_system": g["area_n"] / T,
        "mean_in_queue": (g["area_n"] - g["area_busy"]) / T if queue_like else math.nan,
        "mean_response": _ratio(g["sum_resp"], g["completions"]),
        "mean_wait": _ratio(g["sum_wait"], g["completions"]),
        "p_wait": _ratio(g["waited"], accepted),
        "p_idle": g["idle"] / T,
        "p_loss": _ratio(g["losses"], g["arrivals"]) if g["arrivals"] else 0.0,
    }


MEAN_METRICS = ("mean_in_system", "mean_in_queue", "mean_response", "mean_wait")


def summarize(network: Network, reps: list[Replication], *, seed: int | None,
              offered: dict[str, float], notes: list[str], partial: bool) -> SimResult:
    """Build the result of a simulation from its replication records."""
    layout = Layout([s.name for s in network.stations], [c.name for c in network.classes],
                    list(network.pools) if network.behaviours else None)
    windows = [_Window(r, layout) for r in reps if r.final[0] > 0]
    windows = [w for w in windows if w.T > 0] or [_full_window(r) for r in reps]
    n_st = len(network.stations)
    sys_done = [w.diff[layout.sys("completions")] for w in windows]

    def station_samples(w: _Window, i: int) -> tuple[np.ndarray, float]:
        s = w.rep.samples[1 + i]
        return s.after(w.start[layout.st(i, "seen")]), float(s.stride)

    def quantile_of(pick: Callable[[_Window], list[tuple[np.ndarray, float]]]):
        """Quantiles with CIs over replications; each replication's kept samples are
        sorted once, on first use (members of a component weighted by their stride)."""
        prepared: list[tuple[np.ndarray, np.ndarray]] = []

        def prepare() -> None:
            for w in windows:
                parts = [(v, s) for v, s in pick(w) if len(v)]
                if not parts:
                    continue
                values = np.concatenate([v for v, _ in parts])
                weights = np.concatenate([np.full(len(v), s) for v, s in parts])
                order = np.argsort(values, kind="stable")
                prepared.append((values[order], np.cumsum(weights[order])))

        def q(p: float) -> Estimate | None:
            if not 0 <= p <= 1:
                raise ValueError(f"percentile: p must be in [0, 1], got {p!r}")
            if not prepared:
                prepare()
            return _est([float(v[min(np.searchsorted(cum, p * cum[-1]), len(v) - 1)])
                         for v, cum in prepared])
        return q

    period = longest_period(network)
    judge_growth = all(w.T >= GROWTH_PERIODS * period for w in windows)
    # (a model of batches only is a transient by design: no note)
    if not judge_growth and len(network.batch_classes) < len(network.classes):
        notes.append(f"the run is shorter than {GROWTH_PERIODS} periods of the slowest timer "
                     f"({period:g} s): statistics are transient and stability is judged by "
                     f"offered load only")
    unstable = _instabilities(network, offered, windows if judge_growth else [], layout)
    bad = {u.station for u in unstable}

    def node_result(name: str, component: str, kind: str, servers: int | float,
                    idx: list[int]) -> NodeResult:
        spec = network.stations[idx[0]]
        c = sum(network.stations[i].servers for i in idx)
        per_rep = []
        for w, done in zip(windows, sys_done):
            d = sum(w.diff[layout.st(i, "arrivals"):layout.st(i, "seen") + 1] for i in idx)
            per_rep.append(_station_metrics(d, w.T, c, spec.kind in ("queue", "delay"), done))
        stable = not (set(network.stations[i].name for i in idx) & bad)
        out = NodeResult(name, component, kind, servers, METHOD, stable)
        out.offered_load = max((offered.get(network.stations[i].name, math.nan) for i in idx),
                               default=None)
        if out.offered_load is not None and math.isnan(out.offered_load):
            out.offered_load = None
        for key in per_rep[0]:
            if not stable and key in MEAN_METRICS:
                continue
            setattr(out, key, _est([m[key] for m in per_rep]))
        _window(out, spec)
        q = quantile_of(lambda w: [station_samples(w, i) for i in idx])
        if stable:
            out.quantile = q
        else:
            out.note = "unstable: the queue grows without bound; means are not given"
        return out

    nodes = {}
    for i, s in enumerate(network.stations):
        nodes[s.name] = node_result(s.name, s.component, s.kind, s.servers, [i])
    components: dict[str, list[str]] = {}
    for s in network.stations:
        components.setdefault(s.component, []).append(s.name)
    component_nodes = {}
    for comp, members in components.items():
        if len(members) > 1 or members[0] != comp:
            idx = [layout.stations.index(m) for m in members]
            first = network.stations[idx[0]]
            component_nodes[comp] = node_result(comp, comp, first.kind, first.servers, idx)

    system = _system(windows, layout, bool(bad), quantile_of(
        lambda w: [(w.rep.samples[0].after(w.start[layout.sys("seen")]),
                    float(w.rep.samples[0].stride))]))
    finite = [(n.utilization, name) for name, n in nodes.items() if n.utilization is not None]
    system.bottleneck = max(finite)[1] if finite else None
    classes = {}
    for k, cls in enumerate(network.classes):
        def pick(w, k=k):
            s = w.rep.samples[1 + n_st + k]
            return [(s.after(w.start[layout.cl(k, "seen")]), float(s.stride))]
        cr = ClassResult(cls.name, cls.kind, population=cls.population if cls.kind == "closed"
                         else None)
        cr.throughput = _est([w.diff[layout.cl(k, "completions")] / w.T for w in windows])
        if not bad:
            cr.mean_response_time = _est([_ratio(w.diff[layout.cl(k, "sum_resp")],
                                                 w.diff[layout.cl(k, "completions")])
                                          for w in windows])
            cr.quantile = quantile_of(pick)
            cr.p95_response_time = cr.quantile(0.95)
        classes[cls.name] = cr
    pools = add_behaviours(network, windows, layout, nodes, classes) \
        if network.behaviours else {}
    warm = [float(w.start[0]) for w in windows]
    per_replication = _batches(network, windows, layout, system, notes) \
        if network.batch_classes else []
    return SimResult(
        model=network.name, method=METHOD, time_unit=network.time_unit, nodes=nodes,
        system=system, classes=classes, unstable=unstable, notes=notes,
        components=components, partial=partial, replications=len(windows), seed=seed,
        warmup_s=warm, component_nodes=component_nodes, per_replication=per_replication,
        pools=pools)


def _batches(network: Network, windows: list[_Window], layout: Layout, system: SystemResult,
             notes: list[str]) -> list[dict[str, float | None]]:
    """Put the makespan, completed batch jobs and the makespan bound into ``system``;
    return each replication's makespan, mean turnaround and completed count (whole run)."""
    ks = [k for k, c in enumerate(network.classes) if c.kind == "batch"]
    per_rep = []
    for w in windows:
        whole = w.rep.final - w.rep.rows[0]
        done = sum(float(whole[layout.cl(k, "completions")]) for k in ks)
        resp = sum(float(whole[layout.cl(k, "sum_resp")]) for k in ks)
        per_rep.append({"makespan_s": w.rep.makespan, "completed": int(done),
                        "mean_turnaround_s": resp / done if done else None})
    finished = [r["makespan_s"] for r in per_rep if r["makespan_s"] is not None]
    system.makespan = _est(finished)
    system.completed = _est([r["completed"] for r in per_rep])
    bound = makespan_bound(network)
    system.makespan_bound = None if bound is None else bound.seconds
    if len(finished) < len(per_rep):
        notes.append(f"{len(per_rep) - len(finished)} replication(s) ended before their "
                     f"batches were done: no makespan from them")
    return per_rep


def _full_window(rep: Replication) -> _Window:
    w = _Window.__new__(_Window)
    w.rep = rep
    w.start = rep.rows[0]
    w.diff = rep.final - rep.rows[0]
    w.T = max(float(w.diff[0]), 1e-300)
    return w


def _system(windows: list[_Window], layout: Layout, unstable: bool, quantile) -> SystemResult:
    s = SystemResult(METHOD, stable=not unstable)
    g = [{f: float(w.diff[layout.sys(f)]) for f in ("completions", "arrivals", "losses",
                                                    "sum_resp", "area_jobs")} for w in windows]
    s.throughput = _est([x["completions"] / w.T for x, w in zip(g, windows)])
    s.loss_probability = _est([_ratio(x["losses"], x["arrivals"]) if x["arrivals"] else 0.0
                               for x in g])
    if not unstable:
        s.mean_response_time = _est([_ratio(x["sum_resp"], x["completions"]) for x in g])
        s.mean_jobs = _est([x["area_jobs"] / w.T for x, w in zip(g, windows)])
        s.quantile = quantile
    return s


def _instabilities(network: Network, offered: dict[str, float], windows: list[_Window],
                   layout: Layout) -> list[Instability]:
    found = {name: rho for name, rho in offered.items() if rho >= 1}
    if network.open_classes and windows:
        for i, s in enumerate(network.stations):
            if s.name not in found and not s.rejects and _grows(windows, layout, i):
                col = layout.st(i, "area_busy")
                busy = np.mean([w.diff[col] / w.T for w in windows])
                c = s.servers
                found[s.name] = float(busy / c) if math.isfinite(c) else math.inf
    return [Instability(name, rho) for name, rho in found.items()]


def _grows(windows: list[_Window], layout: Layout, i: int) -> bool:
    """Whether jobs pile up: in most replications the mean number present in the last
    third of the run exceeds that of the middle third by half and by 5 jobs."""
    votes = 0
    col = layout.st(i, "area_n")
    for w in windows:
        rows = np.vstack([w.rep.rows, w.rep.final])
        t = rows[:, 0]
        end = t[-1]
        marks = [int(np.searchsorted(t, end * f)) for f in (1 / 3, 2 / 3)]
        a, b = rows[min(marks[0], len(t) - 1)], rows[min(marks[1], len(t) - 1)]
        if not (a[0] < b[0] < end):
            continue
        middle = (b[col] - a[col]) / (b[0] - a[0])
        last = (rows[-1][col] - b[col]) / (end - b[0])
        votes += last > GROWTH_RATIO * middle and last - middle > GROWTH_JOBS
    return votes >= max(1, math.ceil(0.8 * len(windows)))


def longest_period(network: Network) -> float:
    """The longest periodic timer of the model: batch interval, MLFQ boost, rebalance."""
    periods = [0.0]
    for s in network.stations:
        if s.batch is not None and s.batch.interval:
            periods.append(s.batch.clock)
        if s.mlfq is not None and s.mlfq.boost:
            periods.append(s.mlfq.boost)
    periods += [r.rebalance.period for r in network.routers.values() if r.rebalance]
    return max(periods)


def offered_loads(network: Network) -> dict[str, float]:
    """Offered utilization per station from the traffic equations of the open classes:
    sum over classes of rate × visits × mean service / servers (for a station holding its
    server through calls, a lower bound of the holding time: its own work and the
    callees' mean services, without their waits; divided by the
    availability mttf/(mttf+mttr) when the station fails at random; times the share that
    still joins a long queue with balking by probability); none for a queue whose waiting
    jobs leave (patience) or that stops taking arrivals (balking above a length), which is
    stable at any load (Erlang-A); for a batcher, :func:`.batcher.offered_load` at its
    item rate."""
    load = {s.name: 0.0 for s in network.stations}
    items = np.zeros(len(network.stations))  # arrival rate at each batcher
    for cls in network.open_classes:
        visits = network.visits(cls.name)
        for i, s in enumerate(network.stations):
            if s.kind == "batcher":
                items[i] += cls.rate * visits[i]
                continue
            if math.isinf(s.servers) or s.rejects or cls.name not in s.service or \
                    _bounded_queue(s):
                continue
            work = cls.rate * visits[i] * _holding(network, s, cls.name)
            if s.balk is not None and s.balk.probabilities:
                work *= s.balk.probabilities[-1]  # the share that joins a long queue
            if s.kind == "fork":
                work *= s.tasks
            for f in s.failures or ():
                if f.mttf and f.mttr:
                    work *= (f.mttf + f.mttr) / f.mttf
            load[s.name] += float(work / s.servers)
    for lam, s in zip(items, network.stations):
        if lam > 0:
            load[s.name] = batcher_load(s.batch, s.servers, float(lam))
    return {k: v for k, v in load.items() if v > 0}


def _bounded_queue(station) -> bool:
    """A queue that cannot grow without bound whatever the load: waiting jobs leave
    (patience), or arrivals stop joining beyond a length (balking)."""
    balk = station.balk
    return station.patience is not None or (balk is not None and (
        balk.above is not None or (balk.probabilities is not None and
                                   balk.probabilities[-1] == 0)))


def _holding(network: Network, station, cls: str) -> float:
    """Mean server time of a visit, at least: service, ``service_after``, and each call's
    mean count × the callee's own holding time (its members weighted by their share)."""
    time = station.service[cls].mean if cls in station.service else 0.0
    if station.after is not None:
        time += station.after.mean
    for call in station.calls:
        router = network.routers.get(call.to)
        members = [(call.to, 1.0)] if router is None else \
            [(m, w / sum(router.weights)) for m, w in zip(router.members, router.weights)]
        time += call.mean_count * sum(share * _holding(network, network.station(m), cls)
                                      for m, share in members)
    return time
