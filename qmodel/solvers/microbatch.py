"""Micro-batching: items are collected into batches, and batches queue for processors.

Items arrive as a Poisson process of rate ``lam``. What closes a batch (the trigger):

- an interval ``T`` alone (Spark Streaming): a clock ticks every ``T``, and each tick
  closes a batch of what arrived since the last one, even nothing: an empty batch is
  processed too (in ``fixed``);
- a size ``B`` alone: a batch closes when it holds ``B`` items;
- both (Kafka's ``batch.size`` and ``linger.ms``): a batch opens with its first item and
  closes at its ``B``-th item or ``T`` after it opened, whichever comes first; there are
  no empty batches.
- a window ``W`` sliding every ``S`` over an interval clock (Spark's ``window(W, S)``):
  a job every ``S`` over the items of the last ``W``, each item counted in every window
  that holds it (:func:`batch_window_metrics`).

Each closed batch is one job for ``servers`` identical batch processors, served first
come first served, taking ``fixed + per_item_1 + ... + per_item_N`` for a batch of ``N``
items (all independent). All items of a batch complete together, so an item's latency
is the collection wait (arrival to batch close), the batch's scheduling delay (queueing
for a processor) and the processing of its own batch. Items fall more often into large
batches, so the processing an item sees is size-biased: ``E[N S] / E[N] = E[fixed] +
E[N^2] / E[N] * E[per_item]``.

Everything but the scheduling delay is exact for the model. The delay is the mean wait
of the queue of batches, whose closes form a renewal process: deterministic for the
interval, Erlang(``B``) for the size, exponential plus the linger time for both. For one
processor it is Spitzer's identity ``E[W] = sum_n E[(U_1 + ... + U_n)^+] / n`` over the
increments ``U`` = batch processing time minus the time to the next close, each ``n``-fold
sum taken as a translated gamma with its exact mean, variance and third cumulant (a
normal beyond 2^14 terms, summed in closed form): ``approximation(Spitzer, translated
gamma)``. For ``c`` processors, the one-processor wait with service ``S / c`` times
``C(c, a) / rho``, the Erlang-C correction by which Allen-Cunneen scales Kingman's
formula: ``approximation(Spitzer, translated gamma, Allen-Cunneen scaling)``. The
increments are independent for the interval and size triggers; with both they are taken
as such, though a batch's size and its linger time are not. Against simulation
(tests/solvers/test_microbatch.py) the mean latency is within 2% for one processor (the
D/M/1 wait is exact) and within 10% for several (within 2% but for very variable
overheads, where it is high), at utilizations 0.3 to 0.9; Kingman's formula, used before,
was 3% to 9% high for one processor.

Sources: T. Das, Y. Zhong, I. Stoica, S. Shenker, "Adaptive stream processing using
dynamic batch sizing", SoCC 2014 (the batch queue; stability ``E[S] < T``); M. Zaharia
et al., "Discretized streams", SOSP 2013; the Apache Kafka producer configuration
(``batch.size``, ``linger.ms``); F. Spitzer, "A combinatorial lemma and its application to
probability theory", Trans. AMS 82, 1956; S. Asmussen, *Applied Probability and Queues*,
2nd ed. (2003) (the GI/G/1 wait as the maximum of a random walk); the translated gamma
approximation of a sum: H. Seal, "Approximations to risk theory's F(x, t) by means of
the gamma distribution", ASTIN Bulletin 9, 1977; A. O. Allen, *Probability, Statistics
and Queueing Theory*, 2nd ed. (1990), the Allen-Cunneen G/G/c formula.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

from qmodel.distributions import Distribution
from qmodel.solvers.mmc import erlang_c
from qmodel.solvers.spitzer import Cumulants, gig1_wait, gig1_wait_probability

ONE_PROCESSOR_METHOD = "approximation(Spitzer, translated gamma)"
PROCESSORS_METHOD = "approximation(Spitzer, translated gamma, Allen-Cunneen scaling)"

_POISSON_SPAN = 40.0


@dataclass(frozen=True)
class BatchMetrics:
    """Steady-state metrics of a micro-batching stage; times in seconds, per item unless
    named per batch.

    ``scheduling_delay``, ``delay_probability`` (that a batch waits for a processor),
    ``mean_latency`` and ``method`` are None when the stage is unstable (``utilization >=
    1``). ``method`` says how ``scheduling_delay``, ``delay_probability`` and hence
    ``mean_latency`` were obtained; every other field is exact for the model.
    """

    trigger: str
    batch_interval: float
    batch_interval_scv: float
    batch_size_mean: float
    batch_size_variance: float
    processing_mean: float
    processing_scv: float
    utilization: float
    stable: bool
    saturation_rate: float
    collection_wait: float
    item_processing: float
    scheduling_delay: float | None
    mean_latency: float | None
    method: str | None
    delay_probability: float | None = None


@dataclass(frozen=True)
class WindowLatency:
    """Mean latency from an item's arrival to the first and to the last window result that
    includes it, and the mean number of windows each item falls in."""

    first: float
    last: float
    windows_per_item: float


@dataclass(frozen=True)
class _Cycle:
    """What the trigger determines: cumulants of the time between batch closes and of the
    batch size, and the mean collection wait of an item."""

    trigger: str
    interval: Cumulants
    size: Cumulants
    collection_wait: float


def batch_interval_metrics(lam: float, T: float, fixed: Distribution,
                           per_item: Distribution, servers: int = 1) -> BatchMetrics:
    """A batch closes every ``T`` seconds: Poisson(``lam T``) items, deterministic closes.

    Collection wait ``T/2`` (Poisson arrivals are uniform within an interval); batch
    processing mean ``E[fixed] + lam T E[per_item]``, variance ``Var[fixed] + lam T
    E[per_item^2]`` (a compound Poisson sum); utilization ``E[S] / (servers T)``;
    scheduling delay from the D/G/c queue of batches (see the module docstring).

    >>> from qmodel.distributions import Deterministic, Exponential
    >>> m = batch_interval_metrics(100.0, 1.0, Deterministic(0.1), Exponential(0.004))
    >>> round(m.utilization, 6), m.collection_wait, round(m.saturation_rate, 3)
    (0.5, 0.5, 225.0)
    >>> m.scheduling_delay < 1e-9, m.method         # a batch's 0.5 s rarely nears T
    (True, 'approximation(Spitzer, translated gamma)')
    >>> round(m.mean_latency, 4)                    # T/2 + 0.1 + (lam T + 1) 0.004 + wait
    1.004
    """
    _check(lam, servers)
    _positive("T", T)
    return _clocked("interval", lam, T, T, fixed, per_item, servers)


def batch_window_metrics(lam: float, slide: float, window: float, fixed: Distribution,
                         per_item: Distribution, servers: int = 1) -> BatchMetrics:
    """Windowed results: a job every ``slide`` seconds over the items of the last
    ``window`` (Spark's ``window(W, S)``), costing ``fixed`` + ``per_item`` for each of
    them: ``Poisson(lam W)`` items, deterministic job starts.

    An item waits ``S/2`` on average for the first job whose window holds it (its visit
    ends with that job), which holds ``Poisson(lam W)`` other items; utilization
    ``(E[fixed] + lam W E[per_item]) / (servers S)``. With ``window == slide`` this is
    :func:`batch_interval_metrics`.

    >>> from qmodel.distributions import Deterministic, Exponential
    >>> m = batch_window_metrics(100.0, 1.0, 3.0, Deterministic(0.1), Exponential(0.001))
    >>> round(m.utilization, 6), m.collection_wait, round(m.batch_size_mean, 9)
    (0.4, 0.5, 300.0)
    >>> round(m.mean_latency, 4)      # S/2 + 0.1 + (lam W + 1) 0.001 + (no wait)
    0.901
    """
    _check(lam, servers)
    _positive("slide", slide)
    _positive("window", window)
    return _clocked("window", lam, slide, window, fixed, per_item, servers)


def _clocked(trigger: str, lam: float, every: float, span: float, fixed: Distribution,
             per_item: Distribution, servers: int) -> BatchMetrics:
    """A job every ``every`` seconds over the items of the last ``span``: deterministic
    starts, ``Poisson(lam span)`` items, a mean collection wait of ``every / 2``; the
    saturation rate is where the busy time per ``every`` fills the servers."""
    mu = lam * span
    cycle = _Cycle(trigger, (every, 0.0, 0.0), (mu, mu, mu), every / 2)
    spare = servers * every - fixed.mean
    if spare <= 0:
        saturation = 0.0
    else:
        saturation = spare / (span * per_item.mean) if per_item.mean > 0 else math.inf
    return _metrics(cycle, fixed, per_item, servers, saturation)


def batch_size_metrics(lam: float, B: int, fixed: Distribution, per_item: Distribution,
                       servers: int = 1) -> BatchMetrics:
    """A batch closes when it holds ``B`` items: Erlang(``B``, ``lam``) times between closes.

    Mean fill wait ``(B - 1) / (2 lam)`` (the ``j``-th item waits for ``B - j`` more);
    batch closes form a renewal process with scv ``1/B``; processing mean ``E[fixed] +
    B E[per_item]``; scheduling delay from the E_B/G/c queue of batches.

    >>> from qmodel.distributions import Deterministic, Exponential
    >>> m = batch_size_metrics(100.0, 50, Deterministic(0.1), Exponential(0.004))
    >>> m.collection_wait, round(m.utilization, 6), round(m.saturation_rate, 3)
    (0.245, 0.6, 166.667)
    """
    _check(lam, servers)
    _check_size(B)
    interval = (B / lam, B / lam**2, 2 * B / lam**3)
    cycle = _Cycle("size", interval, (float(B), 0.0, 0.0), (B - 1) / (2 * lam))
    work = fixed.mean + B * per_item.mean
    saturation = B * servers / work if work > 0 else math.inf
    return _metrics(cycle, fixed, per_item, servers, saturation)


def batch_metrics(lam: float, T: float | None, B: int | None, fixed: Distribution,
                  per_item: Distribution, servers: int = 1, window: float | None = None,
                  slide: float | None = None) -> BatchMetrics:
    """Dispatch on the trigger: interval ``T``, size ``B``, or both (``B`` items or ``T``
    after the batch's first item, whichever comes first); with a ``window`` (and
    ``slide``, default ``T``), :func:`batch_window_metrics`.

    With both, a batch is its first item, then ``N' = min(Poisson(lam T), B - 1)`` more
    within ``D = min(T, time of the (B - 1)-th of them)``; after a close the next batch
    opens with the next arrival, ``Exp(lam)`` later. The moments of ``N'`` and ``D`` and
    the collection wait are exact Poisson sums.

    >>> from qmodel.distributions import Deterministic, Exponential
    >>> m = batch_metrics(100.0, 1.0, 10**6, Deterministic(0.1), Exponential(0.004))
    >>> m.trigger, round(m.batch_interval, 9), round(m.batch_size_mean, 9)
    ('interval or size', 1.01, 101.0)
    >>> round(m.collection_wait, 6)                 # (T + lam T^2 / 2) / (1 + lam T)
    0.50495
    """
    if T is None and B is None:
        raise ValueError("give the batch interval T, the batch size B, or both")
    if window is not None:
        return batch_window_metrics(lam, slide or T, window, fixed, per_item, servers)
    if B is None:
        return batch_interval_metrics(lam, T, fixed, per_item, servers)
    if T is None:
        return batch_size_metrics(lam, B, fixed, per_item, servers)
    _check(lam, servers)
    _positive("T", T)
    _check_size(B)
    saturation = _both_saturation(T, int(B), fixed, per_item, servers)
    return _metrics(_both_cycle(lam, T, int(B)), fixed, per_item, servers, saturation)


def offered_load(lam: float, T: float | None, B: int | None, fixed: Distribution,
                 per_item: Distribution, servers: int = 1, window: float | None = None,
                 slide: float | None = None) -> float:
    """Utilization of the batch processors at item rate ``lam``: (batches per second ×
    E[fixed] + ``lam`` × E[per_item]) / ``servers``; 1 or more means the backlog grows.

    Batches per second: ``1/T`` with an interval alone (empty batches included), ``lam /
    B`` with a size alone, ``lam / E[N]`` with both. With a ``window`` a job every
    ``slide`` (default ``T``) takes each item ``window / slide`` times.

    >>> from qmodel.distributions import Deterministic
    >>> round(offered_load(110.0, 1.0, 70, Deterministic(0.25), Deterministic(0.005)), 4)
    0.9429
    """
    if window is not None:
        slide = slide or T
        return (fixed.mean + lam * window * per_item.mean) / (servers * slide)
    if B is None:
        batches = 1 / T
    elif T is None:
        batches = lam / B
    else:
        batches = lam / (1 + _linger_size(lam * T, int(B) - 1)[0][0])
    return (batches * fixed.mean + lam * per_item.mean) / servers


def windowed_latency(T: float, window: float, slide: float, scheduling_delay: float = 0.0,
                     processing: float = 0.0) -> WindowLatency:
    """Mean latency of windowed results (Spark ``window(W, S)`` over batch interval ``T``).

    Window results are computed at every slide boundary (a multiple of ``S``, itself a
    multiple of ``T``) over the last ``W`` seconds. An item arriving uniformly within a
    slide waits ``S/2`` on average for the next boundary, which closes the first window
    holding it, and ``W - S/2`` for the last one; each result then takes the scheduling
    delay and processing of its batch job (pass the means, e.g. from
    :func:`batch_interval_metrics`). Exact means given those two.

    >>> windowed_latency(1.0, 30.0, 10.0, 0.1, 0.4)
    WindowLatency(first=5.5, last=25.5, windows_per_item=3.0)
    """
    _positive("T", T)
    for name, value in (("window", window), ("slide", slide)):
        ratio = value / T
        if ratio < 1 or not math.isclose(ratio, round(ratio)):
            raise ValueError(f"{name} must be a positive multiple of T={T:g}, got {value:g}")
    if slide > window:
        raise ValueError(f"slide {slide:g} must not exceed the window {window:g}")
    after = scheduling_delay + processing
    return WindowLatency(slide / 2 + after, window - slide / 2 + after, window / slide)


# -- the batch queue ---------------------------------------------------------------------


def _metrics(cycle: _Cycle, fixed: Distribution, per_item: Distribution, servers: int,
             saturation: float) -> BatchMetrics:
    work = _processing(cycle.size, fixed, per_item)
    mean, var = work[0], work[1]
    rho = mean / (servers * cycle.interval[0])
    size, size_var = cycle.size[0], cycle.size[1]
    item = fixed.mean + (size_var + size**2) / size * per_item.mean
    delay = latency = method = waits = None
    if rho < 1:
        delay, waits, method = _scheduling_delay(cycle.interval, work, servers, rho)
        latency = cycle.collection_wait + delay + item
    return BatchMetrics(
        cycle.trigger, cycle.interval[0], cycle.interval[1] / cycle.interval[0]**2, size,
        size_var, mean, var / mean**2 if mean > 0 else 0.0, rho, rho < 1, saturation,
        cycle.collection_wait, item, delay, latency, method, waits)


def _processing(size: Cumulants, fixed: Distribution, per_item: Distribution) -> Cumulants:
    """Cumulants of ``fixed + per_item_1 + ... + per_item_N`` (total cumulance)."""
    n1, n2, n3 = size
    f1, f2, f3 = _cumulants(fixed)
    p1, p2, p3 = _cumulants(per_item)
    return (f1 + n1 * p1, f2 + n1 * p2 + n2 * p1**2,
            f3 + n1 * p3 + 3 * n2 * p1 * p2 + n3 * p1**3)


def _cumulants(dist: Distribution) -> Cumulants:
    mean, var = dist.mean, dist.variance
    return mean, var, dist.third_moment - 3 * mean * var - mean**3


def _scheduling_delay(interval: Cumulants, work: Cumulants, servers: int, rho: float
                      ) -> tuple[float, float, str]:
    """Mean wait of a batch for a processor, the probability that it waits, and their
    method (see the module docstring; several processors scale both by ``C(c, a) /
    rho``, the probability at most to 1)."""
    if work[0] == 0:
        return 0.0, 0.0, "exact"
    c = servers
    u = (work[0] / c - interval[0], work[1] / c**2 + interval[1], work[2] / c**3 - interval[2])
    wait, waits = gig1_wait(u), gig1_wait_probability(u)
    if c == 1:
        return wait, waits, ONE_PROCESSOR_METHOD
    scale = erlang_c(c, c * rho) / rho
    return wait * scale, min(1.0, waits * scale), PROCESSORS_METHOD


# -- both triggers -----------------------------------------------------------------------


def _both_saturation(T: float, B: int, fixed: Distribution, per_item: Distribution,
                     servers: int) -> float:
    """Largest item rate with utilization < 1 when both triggers are set.

    The utilization (:func:`offered_load`) grows with ``lam`` from 0; the root is
    bracketed by doubling and found by Brent.
    """
    def excess(lam: float) -> float:
        return offered_load(lam, T, B, fixed, per_item, servers) - 1

    if fixed.mean + per_item.mean == 0:
        return math.inf
    low = 1.0
    while excess(low) < 0:
        low *= 2
    while excess(low) >= 0:
        low /= 2
    return optimize.brentq(excess, low, 2 * low, xtol=1e-14, rtol=1e-12)


def _both_cycle(lam: float, T: float, B: int) -> _Cycle:
    """A batch: its first item, ``N' = min(Poisson(lam T), B - 1)`` more within the linger
    ``D = min(T, their (B - 1)-th arrival)``; the time between closes is ``Exp(lam) + D``.

    With ``q_j = P(Poisson(lam T) >= j)`` and ``m = B - 1``: ``E[D^k] = k / lam^k
    sum_{j<m} (j + 1) ... (j + k - 1) q_{j+k}`` (the integral of ``k t^(k-1) P(D > t)``),
    and the summed collection wait of a batch is ``E[D] + 1 / lam sum_{j<m} j q_{j+1}``:
    the first item waits ``D``, the others from their arrival to the close.
    """
    m = B - 1
    size, tail = _linger_size(lam * T, m)
    terms = tail.size - 3                                       # j = 0 .. terms - 1
    j = np.arange(terms, dtype=float)
    raw = [k / lam**k * float(np.sum(special.poch(j + 1, k - 1) * tail[k:k + terms]))
           for k in (1, 2, 3)]
    linger = _from_raw(*raw)
    interval = (1 / lam + linger[0], 1 / lam**2 + linger[1], 2 / lam**3 + linger[2])
    collected = raw[0] + float(np.sum(j[1:] * tail[2:terms + 1])) / lam
    return _Cycle("interval or size", interval, (1 + size[0], size[1], size[2]),
                  collected / (1 + size[0]))


def _linger_size(mu: float, m: int) -> tuple[Cumulants, np.ndarray]:
    """Cumulants of ``min(Poisson(mu), m)`` and the tail ``q_j = P(Poisson(mu) >= j)`` for
    ``j = 0 .. K + 2``, ``K`` the terms that matter (up to ``m`` or far beyond ``mu``)."""
    terms = min(m, int(mu + _POISSON_SPAN * math.sqrt(mu) + _POISSON_SPAN))
    tail = stats.poisson.sf(np.arange(-1, terms + 2), mu)
    j = np.arange(1, terms + 1, dtype=float)
    q = tail[1:terms + 1]
    raw = [float(np.sum((j**k - (j - 1) ** k) * q)) for k in (1, 2, 3)]
    return _from_raw(*raw), tail


def _from_raw(m1: float, m2: float, m3: float) -> Cumulants:
    return m1, max(0.0, m2 - m1**2), m3 - 3 * m1 * m2 + 2 * m1**3


def _check(lam: float, servers: int) -> None:
    _positive("lam", lam)
    if servers < 1 or int(servers) != servers:
        raise ValueError(f"servers must be a positive integer, got {servers}")


def _check_size(B: int) -> None:
    if B < 1 or int(B) != B:
        raise ValueError(f"B must be a positive integer, got {B}")


def _positive(name: str, value: float) -> None:
    if not value > 0 or not math.isfinite(value):
        raise ValueError(f"{name} must be positive and finite, got {value}")
