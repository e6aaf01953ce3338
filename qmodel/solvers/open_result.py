"""The :class:`Result` of an open network: per-station metrics, system means, end-to-end
response-time distribution, each labelled with how it was obtained."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

from ..model.network import Network
from ..results import (
    ClassResult,
    Estimate,
    Instability,
    NodeResult,
    Result,
    SystemResult,
    estimate,
)
from .end_to_end import is_full_walk, walk_distribution
from .fork_blocks import class_walk
from .open_types import OpenSolution, StationSolution
from .phase_type import MAX_EXACT_PHASES, PhaseType, mixture


def open_result(sol: OpenSolution) -> Result:
    """Assemble the :class:`Result` of an open network."""
    net = sol.network
    nodes = {}
    station_rates = sol.lam.sum(axis=0).tolist()
    total_rate = float(sol.class_rates.sum())
    for i, station in enumerate(net.stations):
        nodes[station.name] = _node(sol, i, station_rates[i], total_rate)
    unstable = [Instability(net.stations[i].name, float(sol.offered[i])) for i in sol.unstable]
    blocked = [s for s in sol.stations if s.metrics is None]
    system = SystemResult(method="", stable=not unstable)
    system.bottleneck = net.stations[sol.bottleneck].name if sol.bottleneck is not None else None
    if math.isfinite(sol.saturation_factor):
        system.saturation_rate = sol.saturation_factor * total_rate
    notes = [s.note for s in sol.stations if s.note and s.metrics is None]
    classes: dict[str, ClassResult] = {}
    if blocked:
        system.method = "unstable" if unstable else "needs simulation"
    else:
        _system_metrics(sol, system, classes, nodes)
    components = net.components()
    result = Result(net.name, "open" if not sol.product_form else "product-form",
                    net.time_unit, nodes, system, classes, unstable, notes, components)
    if any(s.kind == "fork" and not s.branches for s in net.stations):
        from .aria import job_bounds  # scipy (through time_laws): on first use

        result.aria = job_bounds(sol)
    if net.replication is not None:
        from .staleness import staleness_of  # scipy (through time_laws): on first use

        result._consistency = functools.partial(staleness_of, sol)
    return result


def _node(sol: OpenSolution, i: int, lam: float, total: float) -> NodeResult:
    """Station ``i`` that ``lam`` jobs per second reach out of ``total`` arriving."""
    station = sol.network.stations[i]
    s = sol.stations[i]
    node = NodeResult(station.name, station.component, station.kind, station.servers,
                      s.method, stable=i not in sol.unstable, note=s.note,
                      offered_load=float(sol.offered[i]))
    node.visits = Estimate(lam / total if total > 0 else 0.0, "exact")
    node.arrival_rate = Estimate(lam, "exact")
    if s.metrics is None:
        return node
    exact_shape = s.method == "exact" and (_exact_station_distribution(sol.network, i) or
                                           s.extra.get("exact_law", False))
    _fill_station(node, s, s.method, exact_shape)
    return node


def _fill_station(node: NodeResult, s: StationSolution, method: str,
                  exact_shape: bool) -> None:
    m = s.metrics
    for key, value in (("throughput", m.throughput), ("utilization", m.utilization),
                       ("busy_servers", m.busy_servers), ("mean_in_queue", m.mean_in_queue),
                       ("mean_in_system", m.mean_in_system), ("mean_wait", m.mean_wait),
                       ("mean_response", m.mean_response), ("p_wait", m.p_wait),
                       ("p_idle", m.p_idle), ("p_loss", m.p_loss)):
        setattr(node, key, estimate(value, method))
    if "window" in s.extra:
        batches, later = s.extra["window"]
        node.batches_per_window = Estimate(batches, "exact")
        node.window_response = estimate(m.mean_response + later, method)
    if s.response is not None and m.arrival_rate > 0:
        how = s.extra.get("law_method") or (method if exact_shape else _fit_label(method))
        node.quantile = lambda p, ph=s.response, how=how: Estimate(float(ph.quantile(p)), how)


def _fit_label(method: str) -> str:
    if method.startswith("approximation("):
        return method[:-1] + ", two-moment fit)"
    return "approximation(two-moment fit)"


def _one_exact_station(sol: OpenSolution, nodes: dict[str, NodeResult]) -> bool:
    """One queue (any number of delays) whose own solution is exact: nothing is passed
    between queues, so the end-to-end means are exact too (e.g. M/D/1, M/G/1/K)."""
    queues = [s for s in sol.network.stations if s.kind != "delay"]
    return len(queues) == 1 and queues[0].kind == "queue" and \
        all(n.method == "exact" for n in nodes.values())


def _system_metrics(sol: OpenSolution, system: SystemResult, classes: dict,
                    nodes: dict[str, NodeResult]) -> None:
    net = sol.network
    inside = set().union(*sol.branch_members.values()) if sol.branch_members else set()
    per_class = []
    for c in range(len(net.open_classes)):
        r = 0.0
        for i, s in enumerate(sol.stations):
            if i in inside or s.class_response is None:
                continue
            if net.stations[i].kind == "join":
                continue
            r += sol.visits[c, i] * s.class_response[c]
        for f, times in sol.fork_times.items():
            if f not in inside:  # an inner fork's time is part of its outer block's
                r += sol.visits[c, f] * times[c]
        per_class.append(r)
    per_class = np.array(per_class)
    rates = sol.class_rates
    method = "exact" if sol.product_form or _one_exact_station(sol, nodes) else \
        system_method(sol)
    accepted = _accepted_rates(sol)
    system.method = method
    system.throughput = Estimate(float(accepted.sum()), method)
    total = float(rates.sum())
    system.mean_response_time = Estimate(float(np.dot(rates, per_class) / total), method)
    system.mean_jobs = Estimate(_mean_jobs(sol, nodes, inside), method)
    system.loss_probability = Estimate(max(0.0, 1.0 - float(accepted.sum()) / total), method)
    dist, class_dists, how = _end_to_end(sol)
    if dist is not None:
        system.quantile = lambda p: Estimate(float(dist().quantile(p)), how)
    for c, cls in enumerate(net.open_classes):
        classes[cls.name] = ClassResult(cls.name, "open", Estimate(float(accepted[c]), method),
                                        Estimate(float(per_class[c]), method))
        if dist is not None and len(net.open_classes) == 1:
            classes[cls.name].quantile = system.percentile
        elif class_dists is not None:
            classes[cls.name].quantile = \
                lambda p, c=c: Estimate(float(class_dists()[c].quantile(p)), how)


def system_method(sol: OpenSolution) -> str:
    """How the system means are obtained, from the methods of the stations (blocks:
    their joins): ``exact`` when all are, else the approximations used, named once each
    (``approximation(QNA, Nelson-Tantawi)``; QNA's station formulas go under ``QNA``)."""
    names: list[str] = []
    for s in sol.stations:
        if s.method == "exact":
            continue
        inner = s.method[len("approximation("):-1] if s.method.startswith("approximation(") \
            else s.method
        for name in ["QNA"] if inner.startswith("QNA") else inner.split(", "):
            if name not in names:
                names.append(name)
    return f"approximation({', '.join(names)})" if names else "exact"


def _mean_jobs(sol: OpenSolution, nodes: dict[str, NodeResult], inside: set[int]) -> float:
    """Mean jobs in the system, a forked job counted once: the stations outside fork
    blocks, plus each block's job arrival rate times its time from fork to join (the
    stations inside count tasks, the join the jobs waiting for their quorum)."""
    net = sol.network
    joins = {net.index[net.stations[f].join] for f in sol.fork_times}
    jobs = sum(float(nodes[s.name].mean_in_system or 0.0) for i, s in enumerate(net.stations)
               if i not in inside and i not in joins)
    return jobs + sum(float(sol.lam[:, f] @ times) for f, times in sol.fork_times.items()
                      if f not in inside)


def _accepted_rates(sol: OpenSolution) -> np.ndarray:
    """Jobs per second of each class that leave the system served (not lost)."""
    net = sol.network
    out = np.zeros(len(net.open_classes))
    for c, cls in enumerate(net.open_classes):
        routing = net.routing[cls.name]
        leave = 1.0 - routing.sum(axis=1)
        for i, s in enumerate(sol.stations):
            st = net.stations[i]
            if st.kind == "fork" and st.branches:
                continue
            # A join's arrival rate is already per job (k tasks release one job).
            served = sol.lam[c, i] * (1.0 - (s.metrics.p_loss if s.metrics else 0.0))
            out[c] += served * max(leave[i], 0.0)
    return out


def _end_to_end(sol: OpenSolution) -> tuple[Callable[[], PhaseType] | None,
                                             Callable[[], list[PhaseType]] | None, str]:
    """End-to-end response distribution: each visit an independent draw of its station's
    response-time distribution (exact for a single M/M/c and for tandem M/M/1 lines), a
    fork's visit the R-th of its independent branch times (:func:`class_walk`); with
    several classes, each class's own walk, and the system's law their mixture by rate.

    Returns functions that build the system's law and the list of the classes' laws (None
    with one class), once, on first use (only quantiles need them), and how they are
    obtained."""
    net = sol.network
    walks = [class_walk(sol, c) for c in range(len(net.open_classes))]
    if any(laws is None for laws, _ in walks):
        return None, None, ""
    if len(walks) == 1:
        one = _single_visit(sol, walks[0][0])
        if one is not None:
            return (lambda: walks[0][0][one]), None, _quantile_label(sol, one)
        chained = _exact_chain(sol, walks[0][1])
        if chained is not None:
            return chained, None, "exact"
        numeric = _numeric_chain(sol, *walks[0])
        if numeric is not None:
            return numeric[0], None, numeric[1]

    @functools.cache
    def each() -> list[PhaseType]:
        return [walk_distribution(laws, net.entry[cls.name], routing)[0]
                for cls, (laws, routing) in zip(net.open_classes, walks)]

    @functools.cache
    def build() -> PhaseType:
        dists = each()
        if len(dists) == 1:
            return dists[0]
        weights = [cls.rate for cls in net.open_classes]
        return mixture(np.array(weights) / sum(weights), dists)

    per_class = each if len(walks) > 1 else None

    full = all(is_full_walk(laws) for laws, _ in walks)
    if sol.fork_laws:
        shapes = [sol.stations[net.index[net.stations[f].join]].extra["shape"]
                  for f in sol.fork_laws]
        names = list(dict.fromkeys(name for shape in shapes if shape != "exact"
                                   for name in shape[len("approximation("):-1].split(", ")))
        if not full and "two-moment fit" not in names:
            names.append("two-moment fit")
        return build, per_class, f"approximation({', '.join(names)})"
    exact = sol.product_form and len(net.open_classes) == 1 and full and _no_overtaking(net) \
        and all(_exact_station_distribution(net, i) for i in range(len(net.stations)))
    if exact:
        return build, per_class, "exact"
    if full:
        return build, per_class, "approximation(independent visits)"
    return build, per_class, "approximation(independent visits, two-moment fit)"


def _single_visit(sol: OpenSolution, laws: list) -> int | None:
    """The one station of the only class's walk that takes time, when the job visits it
    exactly once: then the walk's law is that station's (a fork block, a pool fork), kept
    as it is rather than composed; else None."""
    busy = [i for i, law in enumerate(laws) if law.mean() > 0]
    if len(busy) != 1 or not np.isclose(sol.visits[0, busy[0]], 1.0, rtol=1e-12, atol=0.0):
        return None
    return busy[0]


def _exact_chain(sol: OpenSolution, routing: np.ndarray) -> Callable[[], object] | None:
    """For the only class, a walk through a chain of stations where no job waits for
    another (delays, unlimited pools, exactly solved fork blocks) and every station's
    time is its actual law: a function that builds the law of their sum
    (:func:`.branch_laws.chain_law`); else None."""
    from .fork_blocks import chain_of, no_interaction, station_part

    net = sol.network
    chain = chain_of(net.entry[net.open_classes[0].name], routing)
    if chain is None or not all(no_interaction(net, i, sol.stations) for i in chain):
        return None
    parts = [station_part(net, i, 0, sol.stations, sol.fork_laws) for i in chain]
    if any(p is None or not p[1] for p in parts):
        return None

    @functools.cache
    def build() -> object:
        from .branch_laws import chain_law
        from .numeric_law import NumericLaw

        law, _ = chain_law([p for p, _ in parts], [True] * len(parts))
        return law if isinstance(law, PhaseType) else NumericLaw(law)

    return build


def _numeric_chain(sol: OpenSolution, laws: list, routing: np.ndarray
                   ) -> tuple[Callable[[], object], str] | None:
    """For the only class, a chain of stations one of which has a law known only
    numerically (a batcher's): the sum of the visits' independent actual laws
    (:func:`.branch_laws.chain_law`) rather than of their two-moment fits; else None."""
    from .fork_blocks import chain_of
    from .numeric_law import NumericLaw

    net = sol.network
    chain = chain_of(net.entry[net.open_classes[0].name], routing)
    if chain is None or not any(isinstance(laws[i], NumericLaw) for i in chain):
        return None
    numeric = sum(isinstance(laws[i], NumericLaw) for i in chain)
    phases = sum(laws[i].n_phases for i in chain if not isinstance(laws[i], NumericLaw))
    whole = numeric == 1 and phases <= MAX_EXACT_PHASES   # else chain_law fits the rest

    @functools.cache
    def build() -> object:
        from .branch_laws import chain_law

        law, _ = chain_law([laws[i] for i in chain], [True] * len(chain))
        return law if isinstance(law, PhaseType) else NumericLaw(law)

    return build, "approximation(independent visits" + ("" if whole else ", two-moment fit") + ")"


def _quantile_label(sol: OpenSolution, i: int) -> str:
    """How station ``i``'s response-time law is obtained (a fork block: its join's)."""
    net = sol.network
    station, s = net.stations[i], sol.stations[i]
    if station.kind == "fork" and station.branches:
        return sol.stations[net.index[station.join]].extra["shape"]
    if "law_method" in s.extra:     # a law of its own, labelled by its solver
        return s.extra["law_method"]
    exact = s.method == "exact" and (_exact_station_distribution(net, i) or
                                     s.extra.get("exact_law", False))
    return s.method if exact else _fit_label(s.method)


def _no_overtaking(net: Network) -> bool:
    """One fixed route through distinct single-server stations (a tandem line, where
    Reich's theorem makes the visits' sojourn times independent)."""
    for cls in net.classes:
        routing, entry = net.routing[cls.name], net.entry[cls.name]
        if np.count_nonzero(entry) != 1:
            return False
        current, seen = int(np.flatnonzero(entry)[0]), set()
        while True:
            if current in seen or np.count_nonzero(routing[current]) > 1:
                return False
            seen.add(current)
            if np.count_nonzero(routing[current]) == 0:
                break
            current = int(np.flatnonzero(routing[current])[0])
    stations = [s for s in net.stations if s.kind == "queue"]
    return len(stations) <= 1 or all(s.servers == 1 for s in stations)


def _exact_station_distribution(net: Network, i: int) -> bool:
    s = net.stations[i]
    return s.kind in ("queue", "delay") and s.discipline == "fcfs" and \
        all(d.is_exponential for d in s.service.values())
