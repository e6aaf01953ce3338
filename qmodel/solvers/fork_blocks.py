"""Fork-join blocks of an open network: for each fork with branches, the stations inside
them and, per class, the time from fork to join (the order statistic of the branch
times, each branch the sum of its stations' actual laws when it is a chain of stations,
else a phase-type walk through them); and a class's walk from arrival to departure
where each solved block is crossed in one step.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..distributions import Distribution
from ..model.network import Network
from .end_to_end import as_phase_type
from .mmc import MMcResponse
from .open_types import OpenSolution, StationSolution, zero_station
from .ph_compose import network as ph_network
from .ph_compose import order_statistic, order_statistic_phases
from .phase_type import MAX_EXACT_PHASES, PhaseType, zero

if TYPE_CHECKING:  # scipy.stats (through time_laws) is loaded on first use
    from .branch_laws import Part
    from .numeric_law import NumericLaw
    from .time_laws import TimeLaw


class _Block(NamedTuple):
    """A fork's branches for one class: the law of the time from fork to join (of
    independent branch times), its mean, the mean time until the first task reaches the
    join, how the mean is obtained and how the law is (its quantiles; '': as the mean)."""

    law: PhaseType | NumericLaw
    mean: float
    first: float
    method: str
    shape: str = ""
    exact_law: bool = False  # the law is the block's actual one
    branches: tuple = ()  # each branch's time law (PhaseType | TimeLaw), in order


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
        blocks = _class_blocks(network, f, reaching[f], solutions, laws, members[f])
        if blocks is not None:
            blocks = _symmetric_mean(network, f, blocks, lam, scv[f], solutions)
        if blocks is None:
            solutions[forks[f]] = StationSolution(
                None, "needs simulation", note="needs simulation: a branch needs simulation")
            continue
        laws[f] = [None if b is None else b.law for b in blocks]
        means[f] = np.array([0.0 if b is None else b.mean for b in blocks])
        solutions[forks[f]] = _join(blocks, lam[:, forks[f]])
        solutions[forks[f]].extra["branch_laws"] = [None if b is None else b.branches
                                                    for b in blocks]
    return members, laws, means


def _class_blocks(network: Network, f: int, classes: list[int],
                  solutions: list[StationSolution], laws: dict[int, list[PhaseType | None]],
                  members: set[int]) -> list[_Block | None] | None:
    """Fork ``f``'s block for each of the ``classes`` that reach it (None for the others);
    None when a branch needs simulation."""
    fork = network.stations[f]
    join = network.index[fork.join]
    quorum = network.stations[join].quorum or len(fork.branches)
    apart = all(no_interaction(network, i, solutions) for i in members)
    blocks: list[_Block | None] = [None] * len(network.open_classes)
    for c in classes:
        alike: dict[tuple, tuple[PhaseType | TimeLaw, bool]] = {}  # one law per kind
        times = [_branch_time(network, c, b, join, solutions, laws, alike)
                 for b in fork.branches]
        if any(t is None for t in times):
            return None
        blocks[c] = _block(times, quorum, apart)._replace(
            branches=tuple(law for law, _ in times))
    return blocks


def _block(times: list[tuple[PhaseType | TimeLaw, bool]], quorum: int, apart: bool) -> _Block:
    """The ``quorum``-th of independent branch times: the PH of the order statistic when
    every branch is a PH and it has at most ``MAX_EXACT_PHASES`` phases; else the law
    from the branches' survival functions (:class:`.numeric_law.NumericLaw`). Exact when
    the branches are their actual laws and ``apart`` (their tasks never meet: infinite
    servers), else the independent-branch approximation."""
    from . import forkjoin  # scipy.stats: loaded on first use
    from .numeric_law import NumericLaw, phase_type_part
    from .time_laws import rth_of_times

    exact = apart and all(e for _, e in times)
    method = "exact" if exact else forkjoin.INDEPENDENT_METHOD
    laws = [t for t, _ in times]
    if all(isinstance(t, PhaseType) for t in laws) and \
            order_statistic_phases([t.n_phases for t in laws], quorum) <= MAX_EXACT_PHASES:
        law = order_statistic(laws, quorum)
        return _Block(law, law.mean(), order_statistic(laws, 1).mean(), method,
                      exact_law=exact)
    same: dict[tuple[bytes, bytes], TimeLaw] = {}
    parts = [same.setdefault((t.alpha.tobytes(), t.T.tobytes()), phase_type_part(t))
             if isinstance(t, PhaseType) else t for t in laws]
    law = NumericLaw(rth_of_times(parts, quorum))
    return _Block(law, law.mean(), NumericLaw(rth_of_times(parts, 1)).mean(), method,
                  exact_law=exact)


def no_interaction(network: Network, i: int, solutions: list[StationSolution]) -> bool:
    """Whether station ``i`` inside a fork's branches times each task on its own (a
    delay, a pool of unlimited slots, a fork or join of an exactly solved inner block)."""
    s = network.stations[i]
    if s.kind == "delay":
        return True
    if s.kind == "fork" and s.branches:
        return solutions[network.index[s.join]].extra.get("exact_law", False)
    if s.kind == "join":  # a pool's join takes no time; a block's, its block's
        return solutions[i].extra.get("exact_law", "shape" not in solutions[i].extra)
    return s.kind == "fork" and math.isinf(s.servers)


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
    services = set(queues)
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
                          method, b.shape or b.method, branches=b.branches))
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
                           extra={"shape": shape,
                                  "exact_law": bool(block and block.exact_law)})


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
                 solutions: list[StationSolution], laws: dict[int, list[PhaseType | None]],
                 alike: dict[tuple, tuple[PhaseType | TimeLaw, bool]]
                 ) -> tuple[PhaseType | TimeLaw, bool] | None:
    """A class ``c`` task's time from the start of ``branch`` to ``join`` and whether it
    is the actual law: for a chain of stations the sum of their actual laws
    (:func:`.branch_laws.chain_law`; chains of alike stations share one law, kept in
    ``alike``, so their order statistics take the iid shortcuts), else the PH of the
    walk through their response laws (a two-moment fit for those that are not PHs);
    None when a station on the way has no response-time law."""
    from .branch_laws import chain_law  # scipy.stats (through time_laws): on first use

    entry = np.zeros(len(network.stations))
    router = network.routers.get(branch)
    weights = np.asarray(router.weights) / sum(router.weights) if router else np.ones(1)
    for m, w in zip(_members(network, branch), weights):
        entry[network.index[m]] = w
    routing = _past_blocks(network, network.routing[network.open_classes[c].name], laws)
    routing[:, join] = 0.0
    chain = chain_of(entry, routing)
    if chain is not None:
        parts = [station_part(network, i, c, solutions, laws) for i in chain]
        if any(p is None for p in parts):
            return None
        key = tuple((_key(p), e) for p, e in parts)
        if key not in alike:
            alike[key] = chain_law([p for p, _ in parts], [e for _, e in parts])
        return alike[key]
    keep = sorted(_reachable(routing, np.flatnonzero(entry)))
    phs = [_law(network, i, c, solutions, laws) for i in keep]
    if any(ph is None for ph in phs):
        return None
    return ph_network([as_phase_type(ph) for ph in phs], entry[keep],
                      routing[np.ix_(keep, keep)]), False


def chain_of(entry: np.ndarray, routing: np.ndarray) -> list[int] | None:
    """The stations of a walk that starts at one station and goes on to one next
    station each time (probability 1) until it leaves; None for any other walk."""
    starts = np.flatnonzero(entry)
    if starts.size != 1 or not np.isclose(entry[starts[0]], 1.0):
        return None
    chain = [int(starts[0])]
    while True:
        nxt = np.flatnonzero(routing[chain[-1]])
        if nxt.size == 0:
            return chain
        if nxt.size > 1 or not np.isclose(routing[chain[-1], nxt[0]], 1.0) or nxt[0] in chain:
            return None
        chain.append(int(nxt[0]))


def _key(part: Part) -> object:
    """What makes two station times alike (equal laws)."""
    if isinstance(part, MMcResponse):
        return ("M/M/c", part.p_wait, part.theta, part.mu)
    if isinstance(part, PhaseType):
        return ("PH", part.alpha.tobytes(), part.T.tobytes())
    if isinstance(part, Distribution):
        return part
    return id(part)


def station_part(network: Network, i: int, c: int, solutions: list[StationSolution],
          laws: dict[int, list[PhaseType | None]]) -> tuple[Part, bool] | None:
    """Station ``i``'s time for class ``c`` and whether it is its actual law: a delay's
    service law, an M/M/c response, an exactly solved block or pool; else the station's
    response-time law (for most queues a two-moment fit); None when it has none."""
    station, sol = network.stations[i], solutions[i]
    if i in laws:
        join = solutions[network.index[station.join]]
        return laws[i][c], join.extra.get("exact_law", False)
    law = _law(network, i, c, solutions, laws)
    if law is None:
        return None
    if station.kind == "join" and "shape" not in sol.extra:  # a pool's: no time of its own
        return zero(), True
    if station.kind == "delay":
        return station.service[network.open_classes[c].name], True
    exact = sol.method == "exact" and (isinstance(law, MMcResponse) or
                                       sol.extra.get("exact_law", False))
    return law, exact


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
