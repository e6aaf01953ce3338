"""Multi-server queues where customers give up: M/M/c+M (Erlang-A, Palm), balking
M/M/c/(c+k), and state-dependent joining, all EXACT (a birth-death chain).

``c`` servers of rate ``mu``; Poisson arrivals of rate ``lam``; an arrival that finds
``q`` jobs queued joins with probability ``b(q)`` (balking; ``b = 1`` for Erlang-A);
each waiting job abandons at rate ``theta`` (exponential patience of mean
``1/theta``, reneging; ``theta = 0``: infinite patience). The number in system is a
birth-death chain with ``lam_n = lam b(n - c)`` and ``mu_n = min(n, c) mu + (n - c)^+
theta``; its stationary law is summed in log space, so it stays finite for ``c`` of
10^4 and any load (with patience the chain is stable at every load).

By PASTA an arrival sees the stationary law. A joining job with ``j`` jobs ahead of it
reaches a server after ``V_j``, a sum of exponentials of rates ``c mu + k theta``,
``k = 0..j`` (the queue ahead shrinks by service completions and abandonments), unless
its patience ``tau ~ Exp(theta)`` runs out first; so its wait is ``min(V_j, tau)``,

    P(abandon | j) = 1 - E[e^{-theta V_j}] = (j + 1) theta / (c mu + (j + 1) theta),
    E[V_j; served] = E[V_j e^{-theta V_j}] = c mu / (c mu + (j+1) theta)
                     * sum_{k=0..j} 1 / (c mu + (k+1) theta),
    P(W > t) = e^{-theta t} sum_j P(j ahead) P(V_j > t),

the last one by the matrix exponential of the pure-death chain of the queue ahead
(``scipy.sparse.linalg.expm_multiply``). Sources: Palm (1943); Mandelbaum & Zeltyn,
"Service engineering in action: the Palm/Erlang-A queue" (2007); Gross, Shortle,
Thompson & Harris, *Fundamentals of Queueing Theory* (4th ed.), M/M/c/K and queues
with impatience.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse
from scipy.sparse.linalg import expm_multiply

from qmodel.errors import FieldError, UnstableError

METHOD = "exact: birth-death chain (Erlang-A / M/M/c/K with balking)"
_CUT = 46.0  # states whose probability is below e^-46 (1e-20) of the mode are dropped
_MAX_STATES = 5_000_000


def _number(name: str, x: float, *, zero: bool) -> float:
    x = float(x)
    if not (math.isfinite(x) and (x >= 0 if zero else x > 0)):
        raise FieldError(name, f"must be a finite number {'>=' if zero else '>'} 0, got {x}")
    return x


@dataclass(frozen=True, eq=False)
class AbandonQueue:
    """The stationary state of a multi-server queue with abandonment and balking.

    ``probs[n]`` is ``P(n in system)`` (truncated where it falls below 1e-20 of its
    largest value); ``join[n]`` the probability that an arrival seeing ``n`` joins.
    Waiting times are those of JOINING jobs; ``p_balk`` and ``p_abandon`` are fractions
    of all arrivals.

    >>> q = erlang_a(lam=4.0, mu=1.0, c=4, theta=1.0)  # theta = mu: N is Poisson(4)
    >>> round(q.p_wait, 6), round(q.mean_queue, 6)      # P(N >= 4), E[(N - 4)^+]
    (0.56653, 0.781467)
    """

    lam: float
    mu: float
    c: int
    theta: float
    probs: NDArray
    join: NDArray
    method: str = METHOD

    @cached_property
    def _n(self) -> NDArray:
        return np.arange(self.probs.size)

    @cached_property
    def _ahead(self) -> NDArray:
        """``P(an arrival joins and finds j jobs queued)``, ``j = 0, 1, ...``"""
        return (self.probs * self.join)[self.c:]

    @property
    def p_join(self) -> float:
        return float(self.probs @ self.join)

    @property
    def p_balk(self) -> float:
        """Fraction of arrivals that do not join."""
        return 1.0 - self.p_join

    @property
    def mean_queue(self) -> float:
        """Mean number waiting, ``E[(N - c)^+]``."""
        return float(self.probs @ np.maximum(self._n - self.c, 0))

    @property
    def mean_busy(self) -> float:
        """Mean number of busy servers."""
        return float(self.probs @ np.minimum(self._n, self.c))

    @property
    def utilization(self) -> float:
        return self.mean_busy / self.c

    @property
    def throughput(self) -> float:
        """Rate of served jobs, ``mu E[busy]`` (= joining rate - abandonment rate)."""
        return self.mu * self.mean_busy

    @property
    def p_abandon(self) -> float:
        """Fraction of arrivals that join and then abandon, ``theta E[Q] / lam``."""
        return self.theta * self.mean_queue / self.lam

    @property
    def p_wait(self) -> float:
        """Fraction of joining jobs that find every server busy."""
        return float(self._ahead.sum()) / self.p_join

    @property
    def mean_wait(self) -> float:
        """Mean wait of joining jobs, served or abandoning (Little on the queue)."""
        return self.mean_queue / (self.lam * self.p_join)

    @cached_property
    def _served_terms(self) -> tuple[NDArray, NDArray]:
        """Per ``j`` ahead: ``P(served | j)`` and ``E[V_j; served]``."""
        cm, th = self.c * self.mu, self.theta
        k1 = np.arange(1, self._ahead.size + 1)
        served = cm / (cm + k1 * th)
        return served, served * np.cumsum(1.0 / (cm + k1 * th))

    @property
    def p_abandon_by_position(self) -> NDArray:
        """``P(abandon | j queued ahead)``, ``j = 0, 1, ...``, from the law of ``V_j``."""
        return 1.0 - self._served_terms[0]

    @property
    def mean_wait_served(self) -> float:
        """Mean wait of the joining jobs that are served (those not delayed count 0)."""
        served, wait = self._served_terms
        p_served = self.p_join - float(self._ahead @ (1.0 - served))
        return float(self._ahead @ wait) / p_served

    @property
    def mean_response_served(self) -> float:
        return self.mean_wait_served + 1.0 / self.mu

    def wait_sf(self, t: ArrayLike) -> NDArray:
        """``P(W > t)`` of a joining job (its time in queue, to service or abandonment).

        >>> q = erlang_a(lam=2.0, mu=1.0, c=3, theta=0.0)  # M/M/3: C e^{-(c mu - lam) t}
        >>> round(float(q.wait_sf(1.0)), 9), round(4 / 9 * math.exp(-1.0), 9)
        (0.163501974, 0.163501974)
        """
        t = np.asarray(t, dtype=float)
        if np.any(~np.isfinite(t) | (t < 0)):
            raise FieldError("t", "times must be finite and >= 0")
        w = self._ahead / self.p_join
        rates = self.c * self.mu + np.arange(w.size) * self.theta  # state j+1 -> j
        # d w / dt = A w on the queue-ahead states 1..J: leave at rates[j], enter from j+1
        a = sparse.diags([-rates, rates[1:]], [0, 1], format="csr")
        flat = t.reshape(-1)
        order = np.argsort(flat)
        out, now = np.empty(flat.size), 0.0
        for i in order:  # step the chain forward from one asked time to the next
            if flat[i] > now:
                w, now = expm_multiply(a * (flat[i] - now), w), flat[i]
            out[i] = w.sum()
        return (np.clip(out, 0.0, 1.0) * np.exp(-self.theta * flat)).reshape(t.shape)


def erlang_a(lam: float, mu: float, c: int, theta: float) -> AbandonQueue:
    """M/M/c+M (Erlang-A): exponential patience of rate ``theta`` (0 = Erlang-C).

    >>> q = erlang_a(lam=10.0, mu=1.0, c=10, theta=0.5)
    >>> round(q.p_abandon, 4), round(q.throughput + q.theta * q.mean_queue, 9)
    (0.1039, 10.0)
    """
    return birth_death_queue(lam, mu, c, theta)


def balking(lam: float, mu: float, c: int, k: int, theta: float = 0.0) -> AbandonQueue:
    """Arrivals that find ``k`` or more jobs queued balk: M/M/c/(c+k) (with patience
    ``theta``, M/M/c/(c+k)+M).

    >>> q = balking(lam=1.0, mu=1.0, c=1, k=2)   # M/M/1/3 at rho = 1: p_3 = 1/4
    >>> round(q.p_balk, 12)
    0.25
    """
    if isinstance(k, bool) or not float(k).is_integer() or k < 0:
        raise FieldError("k", f"must be an integer >= 0, got {k}")
    return birth_death_queue(lam, mu, c, theta, [1.0] * int(k) + [0.0])


def birth_death_queue(lam: float, mu: float, c: int, theta: float = 0.0,
                      join: Sequence[float] | None = None) -> AbandonQueue:
    """The general queue: ``join[q]`` is the probability that an arrival finding ``q``
    jobs queued joins (the last value holds for longer queues; ``None``: always).

    Raises :class:`~qmodel.errors.UnstableError` when jobs never leave the queue and
    the joining rate of long queues reaches ``c mu``.

    >>> q = birth_death_queue(2.0, 1.0, 1, 0.0, [1.0, 0.5, 0.0])
    >>> [round(float(p), 6) for p in q.probs]    # 1 : 2 : 4 : 4
    [0.090909, 0.181818, 0.363636, 0.363636]
    """
    lam = _number("lam", lam, zero=False)
    mu = _number("mu", mu, zero=False)
    theta = _number("theta", theta, zero=True)
    if isinstance(c, bool) or not float(c).is_integer() or c < 1:
        raise FieldError("c", f"must be an integer >= 1, got {c}")
    c = int(c)
    b = np.ones(1) if join is None else np.asarray(join, dtype=float).reshape(-1)
    if b.size == 0 or np.any(~np.isfinite(b) | (b < 0) | (b > 1)):
        raise FieldError("join", "must be probabilities in [0, 1], at least one")
    stops = np.flatnonzero(b == 0)
    if stops.size:
        b = b[: stops[0] + 1]
    elif theta == 0 and lam * b[-1] >= c * mu:
        raise UnstableError(lam * b[-1] / (c * mu), detail="no abandonment and the "
                            "joining rate of long queues reaches the service capacity")
    log_w = _log_weights(lam, mu, c, theta, b)
    probs = np.exp(log_w - log_w.max())
    probs /= probs.sum()
    n = np.arange(probs.size)
    joins = np.where(n < c, 1.0, b[np.minimum(np.maximum(n - c, 0), b.size - 1)])
    return AbandonQueue(lam, mu, c, theta, probs, joins)


def _log_weights(lam: float, mu: float, c: int, theta: float, b: NDArray) -> NDArray:
    """``log pi_n`` (unnormalised) from ``n = 0`` until the chain ends or its tail falls
    below e^-46 of the largest weight."""
    steps: list[NDArray] = []
    n0, total, peak, level = 0, 0, 0.0, 0.0
    size = max(c + b.size + 64, 1024)
    while True:
        n = np.arange(n0 + 1, n0 + size + 1)  # transitions n-1 -> n
        q_before = np.maximum(n - 1 - c, 0)
        birth = lam * np.where(n - 1 < c, 1.0, b[np.minimum(q_before, b.size - 1)])
        death = np.minimum(n, c) * mu + np.maximum(n - c, 0) * theta
        with np.errstate(divide="ignore"):
            inc = np.log(birth) - np.log(death)
        if np.isneginf(inc).any():
            inc = inc[: int(np.argmax(np.isneginf(inc)))]
            steps.append(inc)
            break
        logs = level + np.cumsum(inc)
        steps.append(inc)
        level, peak = float(logs[-1]), max(peak, float(logs.max()))
        total += inc.size
        falling = inc[-1] < 0 and n[-1] - c >= b.size
        if falling and level < peak - _CUT:
            break
        if total > _MAX_STATES:
            raise FieldError("lam", "the queue is too close to saturation to sum "
                             f"(more than {_MAX_STATES} states)")
        n0, size = n0 + size, size * 2
    log_w = np.concatenate([[0.0], np.cumsum(np.concatenate(steps))])
    keep = np.flatnonzero(log_w >= log_w.max() - _CUT)
    return log_w[: keep[-1] + 1]
