"""Layered queueing with held threads: a task's thread is held while it makes
synchronous calls to lower tasks, so a caller's holding time contains its callees'
waiting and service (Woodside et al., "The stochastic rendezvous network model", 1995;
Rolia & Sevcik, "The method of layers", 1995; Franks, LQNS).

Each task has a pool of ``threads`` (``inf``: no limit), a host demand per request
(``before`` and ``after`` its calls; each thread runs on its own processor: no host
contention), and makes ``y`` calls on average to each callee. Open Poisson arrivals
enter at any task; calls form a directed acyclic graph.

Method: the layers are solved bottom-up as hierarchical FLOW-EQUIVALENT SERVERS
(Chandy, Herzog & Woo 1975; Norton's theorem for queueing networks). A callee with a
single caller whose pool is finite, and no arrivals of its own, is OWNED by that
caller: the caller's ``k`` busy threads are the customers of a closed network made of
the caller's host demand (a delay) and its callees, an owned callee being the
load-dependent station whose rate with ``j`` requests present is its own flow-equivalent
rate at ``min(j, threads)``; ``r_t(k)``, the throughput of that network (exact, by the
convolution algorithm in log space), is the caller's rate with ``k`` busy threads. A
task with open inputs (arrivals, several callers, or a caller without a pool limit) is
a birth-death queue with death rate ``r_t(min(n, threads))`` (a pool without limit: a
pure delay) and arrivals at its throughput: Poisson when it has open arrivals or a
caller without a pool limit, else from its callers' threads as finite sources (each
holds at most one call: the machine-repairman queue, the sources' think time set so the
throughput is right); its callers see its mean response as a delay. Since open
arrivals fix every throughput, the layers' fixed point is reached in ONE pass up
(rates) and one down (the busy-thread laws that give each owned task its waiting).

Two moments: a pool's holding time (host demands, plus each call's response) is less
variable than the exponential the flow-equivalent rates assume, so each pool's wait is
multiplied by ``(1 + SCV) / 2`` with the SCV of its holding time (Allen & Cunneen's
M/G/c approximation; Pollaczek-Khinchine, exact, for one thread). The variance comes
from the layer below: each call a random sum of independent responses, a response's
wait conditionally exponential.

An APPROXIMATION. Exact: a pool of exponential demand without calls fed by Poisson
arrivals (M/M/c); callees of a caller without a pool limit (Jackson: LQNS's 92-open,
52.5995 ms, as LQNS publishes); one caller thread (M/G/1, its callees never queue).
Measured against qmodel's simulation (4 x 40,000 requests; tests/solvers/
test_layered_examples.py, tests/solvers/data/lqn_*.yaml; docs/model-format.md has the
table): every task's mean response within 6% at pools up to 71% busy. Largest errors:
a shared database's busiest caller -5.8%, an owned service's pool -4.3% / -5.4%
(exponential / mixed demands), a 4-thread caller of a 2-thread callee -4.6%; the
3-tier gateway at rho 0.7 +0.4% (+22% when each holding time was taken as
exponential), a shared database -1.7% (+25% with Poisson arrivals).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
from scipy.optimize import brentq
from scipy.special import gammaln, logsumexp

from qmodel.errors import FieldError, UnstableError

METHOD = ("approximation: method of layers as hierarchical flow-equivalent servers "
          "(pools of held threads), each pool's wait corrected for its holding time's "
          "variance")
MAX_POOL = 2000
"""The largest population of an owned sub-network (a caller's pool) solved exactly."""


@dataclass(frozen=True)
class Task:
    """One task: ``threads`` (an integer or ``math.inf``), host demand ``before`` and
    ``after`` its calls (seconds), ``calls`` as ``{callee: mean number of calls}``, and
    open ``arrivals`` per second. ``before_scv`` and ``after_scv`` are the squared
    coefficients of variation of the host demands (1: exponential), ``calls_variance``
    the variance of the number of calls to a callee (absent: a fixed number)."""

    name: str
    threads: float
    before: float
    after: float = 0.0
    calls: dict[str, float] = field(default_factory=dict)
    arrivals: float = 0.0
    before_scv: float = 1.0
    after_scv: float = 1.0
    calls_variance: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskResult:
    """Per task: throughput, mean busy threads over the pool (``utilization``), holding
    time of a thread per request, wait for a thread, and response (wait + holding)."""

    name: str
    throughput: float
    utilization: float
    holding: float
    wait: float

    @property
    def response(self) -> float:
        return self.wait + self.holding

    @property
    def busy_threads(self) -> float:
        return self.throughput * self.holding


def _check(tasks: Sequence[Task]) -> nx.DiGraph:
    graph = nx.DiGraph()
    for i, t in enumerate(tasks):
        where = f"tasks[{i}]"
        if t.name in graph:
            raise FieldError(f"{where}.name", f"{t.name!r} is used twice")
        th = float(t.threads)
        if not (th == math.inf or (th.is_integer() and th >= 1)) or isinstance(t.threads, bool):
            raise FieldError(f"{where}.threads", f"must be an integer >= 1 or inf, got {t.threads}")
        for key in ("before", "after", "arrivals", "before_scv", "after_scv"):
            x = float(getattr(t, key))
            if not (math.isfinite(x) and x >= 0):
                raise FieldError(f"{where}.{key}", f"must be a finite number >= 0, got {x}")
        for callee, v in t.calls_variance.items():
            if callee not in t.calls or not (math.isfinite(float(v)) and float(v) >= 0):
                raise FieldError(f"{where}.calls_variance.{callee}",
                                 f"must be a finite variance >= 0 of a call in calls, got {v}")
        if t.before + t.after == 0 and not any(float(y) > 0 for y in t.calls.values()):
            raise FieldError(f"{where}.before", "a task needs a host demand or a call")
        graph.add_node(t.name, task=t)
    for i, t in enumerate(tasks):
        for callee, y in t.calls.items():
            if callee not in graph:
                raise FieldError(f"tasks[{i}].calls.{callee}", "calls a task that is not defined")
            if not (math.isfinite(float(y)) and float(y) >= 0):
                raise FieldError(f"tasks[{i}].calls.{callee}",
                                 f"must be a finite mean number of calls >= 0, got {y}")
            graph.add_edge(t.name, callee, y=float(y))
    if not nx.is_directed_acyclic_graph(graph):
        cycle = " -> ".join(a for a, _ in nx.find_cycle(graph))
        raise FieldError("tasks", f"synchronous calls go round in a cycle ({cycle}): "
                         "a held thread would wait for itself")
    if not any(t.arrivals > 0 for t in tasks):
        raise FieldError("tasks", "no task has open arrivals")
    return graph


def _log_conv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``log sum_j e^{a_j + b_{n-j}}`` for ``n = 0..len(a)-1``."""
    return np.array([logsumexp(a[: n + 1] + b[n::-1]) for n in range(a.size)])


@dataclass
class _Layer:
    """A task's sub-network: its rate with ``k`` busy threads, ``k = 0..K``, and for
    each owned callee the law of its number of requests given ``k`` (``marg[k, j]``)."""

    rate: np.ndarray
    marg: dict[str, np.ndarray]


def _sub_network(delay: float, owned: list[tuple[str, float, np.ndarray, float]],
                 k_max: int) -> _Layer:
    """The closed network of ``k = 0..k_max`` busy threads: a delay of ``delay``
    seconds per request and owned callees ``(name, calls y, rates r_u(1..), threads)``,
    by the convolution algorithm in log space."""
    n = np.arange(k_max + 1)
    with np.errstate(divide="ignore"):
        logs = [n * math.log(delay) - gammaln(n + 1) if delay > 0 else
                np.where(n == 0, 0.0, -np.inf)]
    for _, y, rates, threads in owned:
        j = np.arange(1, k_max + 1)
        mu = rates[np.minimum(j, threads).astype(int)]
        with np.errstate(divide="ignore"):
            logs.append(np.concatenate([[0.0], np.cumsum(np.log(y) - np.log(mu))]))
    total = logs[0]
    for f in logs[1:]:
        total = _log_conv(total, f)
    rate = np.concatenate([[0.0], np.exp(total[:-1] - total[1:])])
    marg = {}
    for i, (name, *_) in enumerate(owned, start=1):
        others = [f for m, f in enumerate(logs) if m != i]
        rest = others[0]
        for f in others[1:]:
            rest = _log_conv(rest, f)
        k, jj = np.meshgrid(n, n, indexing="ij")
        with np.errstate(invalid="ignore"):
            m = np.where(jj <= k, logs[i][jj] + rest[np.maximum(k - jj, 0)] - total[k], -np.inf)
        marg[name] = np.exp(m)
    return _Layer(rate, marg)


def _pool_queue(name: str, lam: float, rate: np.ndarray, c: int,
                sources: float = math.inf) -> tuple[np.ndarray, float, float]:
    """The pool as a birth-death queue: departures ``rate[min(n, c)]``; Poisson arrivals
    ``lam``, or, from finitely many ``sources`` (its callers' threads, each with at most
    one call out), ``(sources - n) / z`` with ``z`` set so that the throughput is
    ``lam`` (the machine-repairman queue). Returns the law of busy threads
    (``0..c``), the mean number waiting and the probability that an arrival waits."""
    if sources <= MAX_POOL:
        return _finite(name, lam, rate, c, int(sources))
    top = rate[c]
    if lam >= top:
        raise UnstableError(lam / top, name, "every thread is held")
    with np.errstate(divide="ignore"):
        log_p = np.concatenate([[0.0], np.cumsum(math.log(lam) - np.log(rate[1:c + 1]))])
    p = np.exp(log_p - log_p.max())
    rho = lam / top
    tail = p[c] * rho / (1.0 - rho)  # n > c: geometric with ratio rho
    norm = p.sum() + tail
    busy = p / norm
    busy[c] += tail / norm
    return busy, float(p[c] / norm * rho / (1.0 - rho) ** 2), float(busy[c])


def _finite(name: str, lam: float, rate: np.ndarray, c: int, sources: int
            ) -> tuple[np.ndarray, float, float]:
    """:func:`_pool_queue` with ``sources`` callers' threads."""
    n = np.arange(sources + 1)
    mu = rate[np.minimum(n[1:], c)]
    top = mu[-1]
    if lam >= top:
        raise UnstableError(lam / top, name, "its callers' threads cannot be served")

    def law(log_z: float) -> np.ndarray:
        log_p = np.concatenate([[0.0], np.cumsum(np.log(sources - n[:-1]) - log_z
                                                 - np.log(mu))])
        p = np.exp(log_p - log_p.max())
        return p / p.sum()

    def excess(log_z: float) -> float:  # throughput minus lam: falls as z grows
        return float(law(log_z) @ (sources - n)) / math.exp(log_z) - lam

    scale = math.log(sources / lam)
    log_z = brentq(excess, scale - 60.0, scale + 60.0, xtol=1e-13, rtol=1e-13)
    p = law(log_z)
    busy = np.zeros(c + 1)
    np.add.at(busy, np.minimum(n, c), p)
    arriving = p * (sources - n)  # the law an arrival sees
    return (busy, float(p @ np.maximum(n - c, 0)),
            float(arriving[c:].sum() / arriving.sum()))


def solve_layered(tasks: Sequence[Task]) -> dict[str, TaskResult]:
    """Per-task results of a layered model with open arrivals (see the module's note).

    >>> tasks = [Task("web", 4, before=0.1, calls={"db": 1.0}, arrivals=10.0),
    ...          Task("db", math.inf, before=0.2)]
    >>> r = solve_layered(tasks)          # infinite db threads: H_web = 0.1 + 0.2
    >>> round(r["web"].holding, 12), round(r["web"].utilization, 12)
    (0.3, 0.75)
    """
    graph = _check(tasks)
    order = list(nx.topological_sort(graph))
    task = {t.name: t for t in tasks}
    x = {name: task[name].arrivals for name in order}
    owner: dict[str, str] = {}
    k_max: dict[str, float] = {}
    for name in order:
        for callee in graph.successors(name):
            x[callee] += x[name] * graph.edges[name, callee]["y"]
        callers = list(graph.predecessors(name))
        if len(callers) == 1 and task[name].arrivals == 0 and k_max[callers[0]] < math.inf:
            owner[name] = callers[0]
            k_max[name] = min(float(task[name].threads), k_max[callers[0]])
        else:
            k_max[name] = float(task[name].threads)
    layers: dict[str, _Layer] = {}
    response: dict[str, float] = {}
    state = _State(graph, task, owner, layers, x)
    for name in reversed(order):  # up: rates of owned sub-networks, open tasks solved
        t = task[name]
        delay = t.before + t.after + sum(graph.edges[name, u]["y"] * response[u]
                                         for u in graph.successors(name) if u not in owner)
        owned = [(u, graph.edges[name, u]["y"], layers[u].rate, float(task[u].threads))
                 for u in graph.successors(name) if owner.get(u) == name]
        if k_max[name] < math.inf:
            if k_max[name] > MAX_POOL and owned:
                raise FieldError(f"tasks.{name}.threads", f"a pool of more than {MAX_POOL} "
                                 "threads calling a task it owns is too large to solve")
            layers[name] = _sub_network(delay, owned, int(k_max[name]))
        if name in owner:
            continue
        if t.threads == math.inf:  # a delay: every callee is open
            state.finish(name, 0.0, 0.0)
        else:
            c = int(t.threads)
            if x[name] == 0.0:
                busy, waiting, p_wait = np.eye(c + 1)[0], 0.0, 0.0
            else:
                sources = math.inf if t.arrivals > 0 else sum(
                    float(task[v].threads) for v in graph.predecessors(name))
                busy, waiting, p_wait = _pool_queue(name, x[name], layers[name].rate, c,
                                                    sources)
            state.down(name, busy)
            state.finish(name, waiting / x[name] if x[name] else 0.0, p_wait)
        response[name] = state.out[name].response
    return {t.name: state.out[t.name] for t in tasks}


@dataclass
class _State:
    """The solved tasks (``out``), each one's probability of waiting for a thread and
    variance of response, filled bottom-up: a task is finished after its callees."""

    graph: nx.DiGraph
    task: dict[str, Task]
    owner: dict[str, str]
    layers: dict[str, _Layer]
    x: dict[str, float]
    out: dict[str, TaskResult] = field(default_factory=dict)
    p_wait: dict[str, float] = field(default_factory=dict)
    var: dict[str, float] = field(default_factory=dict)

    def finish(self, name: str, wait: float, p_wait: float) -> None:
        """A task from its wait under the exponential assumption: its holding time is
        its demands plus its calls' responses; the wait is multiplied by
        ``(1 + SCV) / 2`` with the SCV of the holding time (Allen-Cunneen; exact for
        one thread, Pollaczek-Khinchine), the response's variance taking the wait as
        conditionally exponential."""
        t, graph, out = self.task[name], self.graph, self.out
        holding = t.before + t.after
        var = t.before_scv * t.before**2 + t.after_scv * t.after**2
        for u in graph.successors(name):  # each a random sum of independent responses
            y = graph.edges[name, u]["y"]
            holding += y * out[u].response
            var += y * self.var[u] + t.calls_variance.get(u, 0.0) * out[u].response**2
        if wait > 0:
            wait *= (1.0 + var / holding**2) / 2.0
            var += wait**2 * (2.0 / p_wait - 1.0)
        self.var[name], self.p_wait[name] = var, p_wait
        threads = float(t.threads)
        util = 0.0 if threads == math.inf else holding * self.x[name] / threads
        out[name] = TaskResult(name, self.x[name], util, holding, wait)

    def down(self, name: str, busy: np.ndarray) -> None:
        """From the law of ``name``'s busy threads, the results of the tasks it owns."""
        for u in self.graph.successors(name):
            if self.owner.get(u) != name:
                continue
            marg = self.layers[name].marg[u][: busy.size]
            law = busy @ marg  # P(j requests at u)
            j = np.arange(law.size)
            c = float(self.task[u].threads)
            held = np.minimum(j, c)
            m_max = int(min(c, law.size - 1))
            u_busy = np.zeros(m_max + 1)
            np.add.at(u_busy, held.astype(int), law)
            self.down(u, u_busy)
            wait = float(law @ (j - held)) / self.x[u] if self.x[u] else 0.0
            self.finish(u, wait, float(law[j >= c].sum()))
