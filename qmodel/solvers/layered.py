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
a birth-death queue with Poisson arrivals at its throughput and death rate
``r_t(min(n, threads))`` (a pool without limit: a pure delay), and its callers see its
mean response as a delay. Since open arrivals fix every throughput, the layers'
fixed point is reached in ONE pass up (rates) and one down (the busy-thread laws
that give each owned task its waiting and holding times).

An APPROXIMATION. A sub-network's rates are exact when its stations are exponential
(product form: a leaf callee with one exponential demand); a pool's holding time made
of several phases is taken as exponential, and shared callees see Poisson arrivals.
Measured against simulation (tests/solvers/test_layered.py): caller 4 threads ->
callee 2 threads at rho 0.64, caller +2.5%, callee 0.0%; gateway -> service -> database
(4, 2, 1 threads) at rho 0.34 / 0.5 / 0.7, gateway +3% / +8% / +22% (service within
+5%, database within 1%).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
from scipy.special import gammaln, logsumexp

from qmodel.errors import FieldError, UnstableError

METHOD = ("approximation: method of layers as hierarchical flow-equivalent servers "
          "(pools of held threads)")
MAX_POOL = 2000
"""The largest population of an owned sub-network (a caller's pool) solved exactly."""


@dataclass(frozen=True)
class Task:
    """One task: ``threads`` (an integer or ``math.inf``), host demand ``before`` and
    ``after`` its calls (seconds), ``calls`` as ``{callee: mean number of calls}``, and
    open ``arrivals`` per second."""

    name: str
    threads: float
    before: float
    after: float = 0.0
    calls: dict[str, float] = field(default_factory=dict)
    arrivals: float = 0.0


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
        for key in ("before", "after", "arrivals"):
            x = float(getattr(t, key))
            if not (math.isfinite(x) and x >= 0):
                raise FieldError(f"{where}.{key}", f"must be a finite number >= 0, got {x}")
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


def _pool_queue(name: str, lam: float, rate: np.ndarray, c: int) -> tuple[np.ndarray, float]:
    """The pool as a birth-death queue: arrivals ``lam``, departures ``rate[min(n, c)]``.
    Returns the law of busy threads (``0..c``) and the mean number waiting."""
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
    return busy, float(p[c] / norm * rho / (1.0 - rho) ** 2)


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
    out: dict[str, TaskResult] = {}
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
            response[name] = delay
            out[name] = TaskResult(name, x[name], 0.0, delay, 0.0)
            continue
        c = int(t.threads)
        if x[name] == 0.0:
            busy, waiting = np.eye(c + 1)[0], 0.0
        else:
            busy, waiting = _pool_queue(name, x[name], layers[name].rate, c)
        holding = float(busy @ np.arange(c + 1)) / x[name] if x[name] else 0.0
        wait = waiting / x[name] if x[name] else 0.0
        response[name] = holding + wait
        out[name] = TaskResult(name, x[name], holding * x[name] / c, holding, wait)
        _down(name, busy, graph, task, owner, layers, x, out)
    return {t.name: out[t.name] for t in tasks}


def _down(name: str, busy: np.ndarray, graph: nx.DiGraph, task: dict[str, Task],
          owner: dict[str, str], layers: dict[str, _Layer], x: dict[str, float],
          out: dict[str, TaskResult]) -> None:
    """From the law of ``name``'s busy threads, the results of the tasks it owns."""
    for u in graph.successors(name):
        if owner.get(u) != name:
            continue
        marg = layers[name].marg[u][: busy.size]
        law = busy @ marg  # P(j requests at u)
        j = np.arange(law.size)
        c = float(task[u].threads)
        held = np.minimum(j, c)
        holding = float(law @ held) / x[u] if x[u] else 0.0
        wait = float(law @ (j - held)) / x[u] if x[u] else 0.0
        util = 0.0 if c == math.inf else holding * x[u] / c
        out[u] = TaskResult(u, x[u], util, holding, wait)
        m_max = int(min(c, law.size - 1))
        u_busy = np.zeros(m_max + 1)
        np.add.at(u_busy, held.astype(int), law)
        _down(u, u_busy, graph, task, owner, layers, x, out)
