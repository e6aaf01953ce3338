"""Analytic predictions over time for one M_t/M/c queue whose arrival rate follows a
profile, each labelled with what it assumes:

- ``psa``: the pointwise stationary approximation (Green & Kolesar 1991): at each
  instant, the steady state of M/M/c at that instant's rate. Good while the load changes
  slowly against the queue's relaxation time; undefined (NaN) in overload.
- ``fluid``: the deterministic fluid model x' = λ(t) − μ·min(x, c) (Whitt; Mandelbaum &
  Massey): in overload the backlog grows at λ − μc and drains at μc − λ. Right to first
  order when the overload is large; it ignores the randomness (0.5 jobs, not 1, at ρ=.5).
- ``ctmc``: the exact transient of the birth-death chain truncated at ``K`` jobs (the
  probability of reaching ``K`` is reported), from an empty system, by uniformization
  over steps on which the rate is held at its middle value (exact for a piecewise
  constant profile: its change points are steps' ends).

Every function returns the time-average over each bin of ``edges`` (what simulation per
bin measures).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from ..model.network import Network
from ..model.profiles import RateProfile
from .mmc import erlang_c_values, response_quantile

POINTS = 8
"""Points per bin for the bin averages."""


@dataclass(frozen=True)
class MtMc:
    """A single M_t/M/c FCFS queue: arrival ``profile``, service rate ``mu``, ``c`` servers."""

    profile: RateProfile
    mu: float
    c: int


def single_queue(network: Network) -> MtMc | str:
    """The M_t/M/c queue that ``network`` is, or why it is not one.

    >>> from qmodel.model.model import Model
    >>> m = Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "10ms",
    ...     "servers": 2}}, "arrivals": {"web": {"to": "app", "rate": {"profile": "step",
    ...     "from": 50, "to": 150, "at": 10}}}})
    >>> q = single_queue(m.network); q.mu, q.c
    (100.0, 2)
    """
    if len(network.classes) != 1 or network.classes[0].profile is None:
        return "the analytic predictions need one open class with a rate profile"
    cls = network.classes[0]
    if len(network.stations) != 1:
        return "the analytic predictions need a single queue (one station)"
    s = network.stations[0]
    service = s.service.get(cls.name)
    if s.kind != "queue" or not math.isfinite(s.servers) or s.capacity is not None \
            or s.failures or service is None or not service.is_exponential:
        return "the analytic predictions need an M/M/c queue: exponential service, finite " \
               "servers, no capacity or failures"
    if np.any(network.routing[cls.name]):
        return "the analytic predictions need jobs to leave after one visit"
    return MtMc(cls.profile, 1.0 / service.mean, int(s.servers))


def grid(edges: np.ndarray, points: int = POINTS) -> np.ndarray:
    """``points`` evenly spaced instants inside each bin (rows: bins), bin midpoints of a
    finer grid."""
    fractions = (np.arange(points) + 0.5) / points
    return edges[:-1, None] + fractions[None, :] * np.diff(edges)[:, None]


def psa(queue: MtMc, edges: np.ndarray) -> dict[str, np.ndarray]:
    """Pointwise stationary M/M/c: mean number in system, mean and p95 response per bin
    (NaN for a bin with an instant at or above saturation).

    >>> q = MtMc(RateProfile("step", (0.0,), (50.0,), length=1.0), 100.0, 1)
    >>> {k: round(float(v[0]), 6) for k, v in psa(q, np.array([0.0, 1.0])).items()}
    {'in_system': 1.0, 'mean_response_s': 0.02, 'p95_response_s': 0.059915}
    """
    lam = queue.profile.rate_at(grid(edges))
    a = lam / queue.mu
    p_wait = erlang_c_values(queue.c, a)
    theta = queue.c * queue.mu - lam
    with np.errstate(invalid="ignore", divide="ignore"):
        waiting = p_wait * a / (queue.c - a)
        in_system = np.where(a < queue.c, a + waiting, np.nan)
        response = np.where(lam > 0, in_system / lam, 1.0 / queue.mu)
    p95 = response_quantile(0.95, np.nan_to_num(p_wait), queue.mu, np.where(a < queue.c, theta, 0))
    return {"in_system": in_system.mean(axis=1), "mean_response_s": response.mean(axis=1),
            "p95_response_s": p95.mean(axis=1)}


def fluid(queue: MtMc, edges: np.ndarray) -> np.ndarray:
    """Fluid number in system per bin, from empty: x' = λ(t) − μ·min(x, c).

    >>> q = MtMc(RateProfile("step", (0.0,), (150.0,), length=2.0), 100.0, 1)
    >>> fluid(q, np.array([0.0, 1.0, 2.0])).round(2).tolist()  # 1 job at 11 ms, then +50/s
    [25.45, 75.45]
    """
    t = grid(edges)
    breaks = [b for b in queue.profile.times if edges[0] < b < edges[-1]]

    def slope(time: float, x: np.ndarray) -> np.ndarray:
        return queue.profile.rate_at(time) - queue.mu * np.minimum(np.maximum(x, 0.0), queue.c)

    x, out = np.zeros(1), []
    stops = [edges[0], *breaks, edges[-1]]
    flat = t.ravel()
    for start, stop in zip(stops, stops[1:]):  # integrate across a jump, not through it
        inside = flat[(flat >= start) & (flat < stop)]
        solution = solve_ivp(slope, (start, stop), x, method="LSODA", rtol=1e-7, atol=1e-9,
                             t_eval=np.append(inside, stop), max_step=float(np.diff(edges).min()))
        out.append(np.maximum(solution.y[0][:-1], 0.0))
        x = solution.y[:, -1]
    return np.concatenate(out).reshape(t.shape).mean(axis=1)


def ctmc(queue: MtMc, edges: np.ndarray, cap: int | None = None) -> tuple[np.ndarray, float]:
    """Exact mean number in system per bin of the chain truncated at ``cap`` jobs (default:
    well above the fluid peak), and the largest probability of being at ``cap``.

    >>> q = MtMc(RateProfile("step", (0.0,), (50.0,), length=5.0), 100.0, 1)
    >>> n, at_cap = ctmc(q, np.array([0.0, 1.0, 5.0]))
    >>> n.round(2).tolist(), at_cap < 1e-9  # from empty towards L = 1
    ([0.97, 1.0], True)
    """
    if cap is None:
        top = float(np.max(fluid(queue, edges), initial=0.0))
        cap = int(1.5 * top + 10 * math.sqrt(top + 1) + 4 * queue.c + 40)
    states = np.arange(cap + 1)
    down = queue.mu * np.minimum(states, queue.c)  # the rate out of each state
    p = np.zeros(cap + 1)
    p[0] = 1.0
    t = grid(edges)
    breaks = [b for b in queue.profile.times if edges[0] < b < edges[-1]]
    instants = np.unique(np.concatenate([[edges[0]], t.ravel(), breaks]))
    record = np.isin(instants[1:], t.ravel())
    means, worst, k = np.empty(t.size), 0.0, 0
    for t0, t1, keep in zip(instants, instants[1:], record):
        lam = float(queue.profile.rate_at((t0 + t1) / 2))  # constant between breaks
        p = _uniformized(p, lam, down, t1 - t0)
        worst = max(worst, p[-1])
        if keep:
            means[k], k = states @ p, k + 1
    return means.reshape(t.shape).mean(axis=1), float(worst)


def _uniformized(p: np.ndarray, lam: float, down: np.ndarray, dt: float,
                 tail: float = 1e-13) -> np.ndarray:
    """``p`` after ``dt`` in the birth-death chain (births at ``lam`` below the top state,
    deaths at ``down``): p·exp(Q dt) = Σ_k Poisson(Λdt; k) p·P^k with P = I + Q/Λ, in
    pieces of Λdt ≤ 200 so that e^(−Λdt) does not underflow. Only the states the mass
    can reach in the step are computed (those above stay 0 to within ``tail``)."""
    rate = float(lam + down.max()) or 1.0
    pieces = max(1, math.ceil(rate * dt / 200))
    births = lam * dt
    reach = np.flatnonzero(p > 0)[-1] + int(births + 12 * math.sqrt(births) + 12)
    m = min(len(p), reach + 1)
    up = np.full(m, lam)
    if m == len(p):
        up[-1] = 0.0  # the truncation: the top state has no births
    low = down[:m]
    stay = 1.0 - (up + low) / rate
    q = p[:m]
    for _ in range(pieces):
        mean = rate * dt / pieces
        term, weight = q, math.exp(-mean)
        total, mass, n = weight * q, weight, 0
        while mass < 1.0 - tail and n < 10 * mean + 50:
            moved = term * stay
            moved[1:] += term[:-1] * up[:-1] / rate
            moved[:-1] += term[1:] * low[1:] / rate
            n += 1
            term, weight = moved, weight * mean / n
            total, mass = total + weight * term, mass + weight
        q = total / total.sum()
    out = np.zeros(len(p))
    out[:m] = q
    return out
