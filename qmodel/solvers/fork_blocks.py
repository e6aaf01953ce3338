"""Fork-join blocks of an open network: for each fork with branches, the stations inside
them and, per class, the time from fork to join (the order statistic of the branch
times, each branch a phase-type walk through its stations); and a class's walk from
arrival to departure where each solved block is crossed in one step.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..distributions import Distribution, fit
from ..model.network import Network
from .end_to_end import as_phase_type
from .mmc import MMcResponse
from .open_types import OpenSolution, StationSolution, zero_station
from .ph_compose import network as ph_network
from .ph_compose import order_statistic, order_statistic_phases
from .phase_type import MAX_EXACT_PHASES, PhaseType, fit_two_moments, zero


class _Block(NamedTuple):
    """A fork's branches for one class: the law of the time from fork to join (of
    independent branch times), its mean, the mean time until the first task reaches the
    join, how the mean is obtained and how the law is (its quantiles; '': as the mean)."""

    law: PhaseType
    mean: float
    first: float
    method: str
    shape: str = ""


def fork_joins(network: Network, solutions: list[StationSolution], lam: np.ndarray,
               scv: np.ndarray) -> tuple[dict[int, set[int]], dict[int, list[PhaseType | None]],
                                         dict[int, np.ndarray]]:
    """Each fork with branches: the stations inside them, and per class that reaches it
    the law of the time from fork to join (:func:`_block`) and its mean (corrected for
    a symmetric fork by :func:`_symmetric_mean`; 0 for the classes that never fork
    there); its join gets the synchronisation wait. Inner forks come first, so an outer
    branch crosses an inner block in one step."""
    forks = _branch_forks(network)
    classes = [cls.name for cls in network.open_classes]
    reached = [_reachable(network.routing[cls], np.flatnonzero(network.entry[cls]))
               for cls in classes]
    reaching = {f: [c for c in range(len(classes)) if f in reached[c]] for f in forks}
    members = {f: _reach_before(network, _branch_starts(network, f), join,
                                [classes[c] for c in reaching[f]])
               for f, join in forks.items()}
    laws: dict[int, list[PhaseType | None]] = {}
    means: dict[int, np.ndarray] = {}
    for f in sorted(forks, key=lambda f: len(members[f])):
        blocks = _class_blocks(network, f, reaching[f], solutions, laws)
        if blocks is not None:
            blocks = _symmetric_mean(network, f, blocks, lam, scv[f], solutions)
        if blocks is None:
            solutions[forks[f]] = StationSolution(
                None, "needs simulation", note="needs simulation: a branch needs simulation")
            continue
        laws[f] = [None if b is None else b.law for b in blocks]
        means[f] = np.array([0.0 if b is None else b.mean for b in blocks])
        solutions[forks[f]] = _join(blocks, lam[:, forks[f]])
    return members, laws, means


def _class_blocks(network: Network, f: int, classes: list[int],
                  solutions: list[StationSolution],
                  laws: dict[int, list[PhaseType | None]]) -> list[_Block | None] | None:
    """Fork ``f``'s block for each of the ``classes`` that reach it (None for the others);
    None when a branch needs simulation."""
    fork = network.stations[f]
    join = network.index[fork.join]
    quorum = network.stations[join].quorum or len(fork.branches)
    blocks: list[_Block | None] = [None] * len(network.open_classes)
    for c in classes:
        times = [_branch_time(network, c, b, join, solutions, laws) for b in fork.branches]
        if any(t is None for t in times):
            return None
        blocks[c] = _block(times, quorum)
    return blocks


def _block(times: list[PhaseType], quorum: int) -> _Block:
    """The ``quorum``-th of independent branch times: the PH of the order statistic when
    it has at most ``MAX_EXACT_PHASES`` phases; else each branch fitted by two moments
    and the order statistic's moments integrated numerically, then fitted by two."""
    from . import forkjoin  # scipy.stats: loaded on first use

    if order_statistic_phases([t.n_phases for t in times], quorum) <= MAX_EXACT_PHASES:
        law = order_statistic(times, quorum)
        return _Block(law, law.mean(), order_statistic(times, 1).mean(),
                      forkjoin.INDEPENDENT_METHOD)
    dists = [fit(t.mean(), max(t.scv(), 0.0)) for t in times]
    mean, var = forkjoin.fork_join_moments(dists, quorum)
    law = fit_two_moments(mean, var / mean**2 if mean > 0 else 0.0)
    return _Block(law, mean, forkjoin.fork_join_response(dists, 1).mean,
                  forkjoin.INDEPENDENT_METHOD[:-1] + ", two-moment fit)")


def _symmetric_mean(network: Network, f: int, blocks: list[_Block | None], lam: np.ndarray,
                    ca2: float, solutions: list[StationSolution]) -> list[_Block | None]:
    """A fork whose K branches are identical single-server FCFS queues that only its
    tasks visit, each going straight to the join that waits for all K: the branch times
    are associated, so the mean comes from :func:`.fork_means.symmetric_fork_join`
    (Flatto-Hahn, Nelson-Tantawi, Varma-Makowski). The law stays that of independent
    branches: an upper bound whose tail is close (against simulation of M/M/1 branches,
    K = 2 to 32, rho = 0.3 to 0.8: p95 and p99 0-9% high, while the median is up to 36%
    high and scaling the law to the mean puts its p99 up to 19% low). Other blocks are
    returned as they are."""
    from .fork_means import symmetric_fork_join

    fork = network.stations[f]
    join = network.index[fork.join]
    k = len(fork.branches)
    if (network.stations[join].quorum or k) != k or k < 2:
        return blocks
    queues = [_single_queue(network, b, f, join, lam) for b in fork.branches]
    services = {q for q in queues}
    if None in services or len(services) != 1:
        return blocks
    service = services.pop()
    mean_method = symmetric_fork_join(k, float(lam[:, f].sum()), service, ca2,
                                      poisson=_poisson_source(network, f))
    if mean_method is None:
        return blocks
    mean, method = mean_method
    one = solutions[network.index[fork.branches[0]]].metrics.mean_response
    out: list[_Block | None] = []
    for b in blocks:
        if b is None:
            out.append(None)
            continue
        independent = b.mean
        # the first task: as far below one branch's mean as the maximum is above it,
        # relative to independent branches (all of it when independent, none when alike)
        share = (mean - one) / (independent - one) if independent > one else 0.0
        out.append(_Block(b.law, mean, one - min(max(share, 0.0), 1.0) * (one - b.first),
                          method, b.shape or b.method))
    return out


def _single_queue(network: Network, branch: str, f: int, join: int,
                  lam: np.ndarray) -> Distribution | None:
    """The service law of ``branch`` when it is one single-server FCFS queue without a
    capacity, visited only by fork ``f``'s tasks, that sends every task to ``join``, its
    service the same for every class; else None."""
    if branch in network.routers:
        return None
    i = network.index[branch]
    s = network.stations[i]
    if s.kind != "queue" or s.servers != 1 or s.discipline != "fcfs" or s.rejects or \
            s.failures is not None or len(set(s.service.values())) != 1:
        return None
    if not np.allclose(lam[:, i], lam[:, f], rtol=1e-12, atol=0.0):
        return None
    for cls in network.open_classes:
        row = network.routing[cls.name][i]
        if lam[network.open_classes.index(cls), i] > 0 and \
                not (np.isclose(row[join], 1.0) and np.isclose(row.sum(), 1.0)):
            return None
    return next(iter(s.service.values()))


def _poisson_source(network: Network, i: int) -> bool:
    """Whether station ``i``'s arrivals are exactly Poisson: only external arrivals of
    Poisson classes reach it (no station routes to it)."""
    if any(network.routing[cls.name][:, i].any() for cls in network.open_classes):
        return False
    return all(cls.interarrival is None or cls.interarrival.is_exponential
               for cls in network.open_classes if network.entry[cls.name][i] > 0)


def _join(blocks: list[_Block | None], lam_c: np.ndarray) -> StationSolution:
    """A join holds a job from its first task's arrival until its quorum's."""
    from .forkjoin import INDEPENDENT_METHOD

    sync = np.array([0.0 if b is None else max(b.mean - b.first, 0.0) for b in blocks])
    total = float(lam_c.sum())
    wait = float(lam_c @ sync) / total if total > 0 else 0.0
    block = next((b for b in blocks if b is not None), None)
    method = block.method if block else INDEPENDENT_METHOD
    shape = (block.shape or block.method) if block else INDEPENDENT_METHOD
    return StationSolution(zero_station(total, wait), method, sync,
                           note="synchronisation wait from the first task",
                           extra={"shape": shape})


def class_walk(sol: OpenSolution, c: int) -> tuple[list | None, np.ndarray]:
    """Open class ``c``'s walk from arrival to departure: each station's response-time
    law (a fork with branches: its block; a station the class never reaches: zero) and
    the routing, where a fork goes on where its join does. The laws are None when a
    station on the walk has none (it needs simulation)."""
    net = sol.network
    cls = net.open_classes[c].name
    routing = _past_blocks(net, net.routing[cls], sol.fork_laws)
    reach = _reachable(routing, np.flatnonzero(net.entry[cls]))
    laws = [_law(net, i, c, sol.stations, sol.fork_laws) if i in reach else zero()
            for i in range(len(net.stations))]
    return (None if any(law is None for law in laws) else laws), routing


def _branch_time(network: Network, c: int, branch: str, join: int,
                 solutions: list[StationSolution],
                 laws: dict[int, list[PhaseType | None]]) -> PhaseType | None:
    """A class ``c`` task's time from the start of ``branch`` to ``join``; None when a
    station on the way has no response-time law."""
    entry = np.zeros(len(network.stations))
    router = network.routers.get(branch)
    weights = np.asarray(router.weights) / sum(router.weights) if router else np.ones(1)
    for m, w in zip(_members(network, branch), weights):
        entry[network.index[m]] = w
    routing = _past_blocks(network, network.routing[network.open_classes[c].name], laws)
    routing[:, join] = 0.0
    keep = sorted(_reachable(routing, np.flatnonzero(entry)))
    phs = [_law(network, i, c, solutions, laws) for i in keep]
    if any(ph is None for ph in phs):
        return None
    return ph_network([as_phase_type(ph) for ph in phs], entry[keep],
                      routing[np.ix_(keep, keep)])


def _law(network: Network, i: int, c: int, solutions: list[StationSolution],
         laws: dict[int, list[PhaseType | None]]) -> PhaseType | MMcResponse | None:
    """Station ``i``'s response-time law for class ``c``: a solved fork's block, else the
    station's own (None for a fork not solved and a station that needs simulation)."""
    if i in laws:
        return laws[i][c]
    station, sol = network.stations[i], solutions[i]
    if (station.kind == "fork" and station.branches) or sol.metrics is None:
        return None
    return sol.response


def _branch_forks(network: Network) -> dict[int, int]:
    """Each fork with branches and its join."""
    return {f: network.index[s.join] for f, s in enumerate(network.stations)
            if s.kind == "fork" and s.branches}


def _past_blocks(network: Network, routing: np.ndarray,
                 laws: dict[int, list[PhaseType | None]]) -> np.ndarray:
    """``routing`` where each fork in ``laws`` goes on where its join does: a walk
    crosses the block in one step."""
    out = routing.copy()
    for f in laws:
        out[f] = routing[network.index[network.stations[f].join]]
    return out


def _branch_starts(network: Network, fork: int) -> list[int]:
    return [network.index[m] for b in network.stations[fork].branches
            for m in _members(network, b)]


def _reach_before(network: Network, starts: list[int], join: int,
                  classes: list[str]) -> set[int]:
    """Stations reachable from ``starts`` by jobs of ``classes`` without passing ``join``."""
    seen: set[int] = set()
    for cls in classes:
        routing = network.routing[cls].copy()
        routing[:, join] = 0.0
        seen |= _reachable(routing, starts)
    return seen


def _reachable(routing: np.ndarray, starts: list[int] | np.ndarray) -> set[int]:
    """Stations a walk on ``routing`` from ``starts`` can visit (``starts`` included)."""
    seen: set[int] = set()
    stack = [int(i) for i in starts]
    while stack:
        i = stack.pop()
        if i not in seen:
            seen.add(i)
            stack.extend(np.flatnonzero(routing[i]).tolist())
    return seen


def _members(network: Network, component: str) -> list[str]:
    router = network.routers.get(component)
    return list(router.members) if router else [component]
