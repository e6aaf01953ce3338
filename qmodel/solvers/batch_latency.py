"""The law of an item's latency through a micro-batcher (:mod:`.microbatch`), for its
percentiles: collection wait ``C`` (arrival to the batch's close) + the batch's wait
``W`` for a processor + the batch's processing ``P``.

``C`` and ``P`` are computed together, exactly for the model, as the law seen by an item
(a random item sits in a size-biased batch), on a lattice of ``CELLS`` steps by FFT:

- interval ``T`` alone: ``C`` is uniform on ``[0, T]`` and independent of the batch,
  which holds the item and ``Poisson(lam T)`` others; with a window ``W`` (a job every
  slide ``S``, passed as ``T``, over the last ``W``): uniform on ``[0, S]`` and
  ``Poisson(lam W)`` others;
- size ``B`` alone: the ``j``-th of ``B`` items waits an ``Erlang(B - j, lam)`` time;
  ``P(C > t) = E[(B - 1 - Y)^+] / B`` with ``Y ~ Poisson(lam t)``;
- both: a batch of ``n < B`` items closed at ``T`` (``Poisson(lam T) = n - 1``): its
  opener waits ``T``, the others uniformly on ``[0, T]``; a full batch closed by its
  ``B``-th item at ``d`` (the ``(B - 1)``-th arrival after the opener, ``d <= T``): the
  opener waits ``d``, the last item nothing, the others uniformly on ``[0, d]``.

``P`` given ``n`` items is ``fixed + per_item_1 + ... + per_item_n``. Each law is put on
the lattice by its masses over cells (atoms split between their two lattice points, so
means stay exact); the lattice step divides ``T``, so ``C``'s bound is a lattice point.

``W`` is 0 with the probability that a batch does not wait (Spitzer's identity,
:func:`.spitzer.gig1_wait_probability`) and otherwise exponential with the mean that
gives the scheduling delay of :mod:`.microbatch`; it is taken independent of ``C`` and
``P``, which it is for the interval trigger (the batches before are independent of this
one) but not quite for the others (a batch that filled slowly found the queue emptier).
Where no batch waits the law is exact (up to the lattice, a step of about 1/30,000 of
its range); else it is labelled with what it approximates.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import signal, stats

from qmodel.distributions import Deterministic, Distribution, Empirical, Mixture
from qmodel.errors import UnsupportedError

from .microbatch import BatchMetrics
from .numeric_law import NumericLaw
from .time_laws import TimeLaw, quantiles, time_law

CELLS = 1 << 15
_SPAN_SDS = 12.0
_FAR = 1.0 - 1e-10
WAIT_METHOD = "approximation(exact collection and processing, Spitzer wait probability, " \
              "exponential wait tail"


@dataclass(frozen=True)
class LatencyLaw:
    """An item's latency law through a batcher and how it was obtained."""

    law: NumericLaw
    method: str


def item_latency_law(lam: float, T: float | None, B: int | None, fixed: Distribution,
                     per_item: Distribution, servers: int, metrics: BatchMetrics,
                     window: float | None = None) -> LatencyLaw | None:
    """The law of an item's latency (see the module docstring) for a stable batcher whose
    :class:`~.microbatch.BatchMetrics` are ``metrics``; None where a part has no
    distribution function or an infinite variance. With a ``window``, ``T`` is its slide
    and the latency is to the first result holding the item.

    Light load, a tick every second, 10 ms per batch: uniform on [0.01, 1.01]

    >>> from qmodel.distributions import Deterministic
    >>> from qmodel.solvers.microbatch import batch_metrics
    >>> m = batch_metrics(0.5, 1.0, None, Deterministic(0.01), Deterministic(0.0))
    >>> out = item_latency_law(0.5, 1.0, None, Deterministic(0.01), Deterministic(0.0), 1, m)
    >>> out.method, round(out.law.quantile(0.95), 4), round(out.law.mean(), 4)
    ('exact', 0.96, 0.51)
    """
    if not metrics.stable or metrics.delay_probability is None:
        return None
    try:
        for d in (fixed, per_item):
            time_law(d)
    except UnsupportedError:
        return None
    if not all(math.isfinite(d.variance) for d in (fixed, per_item)):
        return None
    waits, delay = metrics.delay_probability, metrics.scheduling_delay or 0.0
    exact = waits <= 0 or delay <= 0
    method = "exact" if exact else WAIT_METHOD + (
        ", Allen-Cunneen scaling" if servers > 1 else "") + (
        ", wait independent of the fill" if B is not None else "") + ")"

    @functools.cache
    def built() -> TimeLaw:      # on first use: a sweep of means never needs it
        hi = _upper(lam, T, B, fixed, per_item, window)
        h = T / math.ceil(T * CELLS / hi) if T else hi / CELLS
        size = 1 << math.ceil(math.log2(1.25 * hi / h + 2))
        pmf = _collected_and_processed(lam, T, B, fixed, per_item, h, size, window)
        return _lattice_law(pmf, h, 0.0, 1.0, T) if exact else \
            _lattice_law(pmf, h, waits, delay / waits, T)

    part = TimeLaw(lambda t: built().sf(t), np.array([T]) if T else np.empty(0),
                   metrics.mean_latency or 1.0)
    return LatencyLaw(NumericLaw(part), method)


def _upper(lam: float, T: float | None, B: int | None, fixed: Distribution,
           per_item: Distribution, window: float | None) -> float:
    """A time beyond which the collection wait plus the processing almost never lies."""
    mu = lam * (window or T) if T else math.inf
    most = 1 + mu + _SPAN_SDS * (math.sqrt(mu) + 1)
    items = min(float(B), most) if B is not None else most
    if T:
        collect = T
    else:
        collect = (B - 1 + _SPAN_SDS * (math.sqrt(B) + 1)) / lam
    far = [float(quantiles(time_law(d), [_FAR])[0]) if d.mean > 0 else 0.0
           for d in (fixed, per_item)]
    sd = math.sqrt(items * per_item.variance) if per_item.variance > 0 else 0.0
    return collect + far[0] + items * per_item.mean + _SPAN_SDS * sd + far[1] + 1e-300


# -- the lattice -------------------------------------------------------------------------


def _collected_and_processed(lam: float, T: float | None, B: int | None, fixed: Distribution,
                             per_item: Distribution, h: float, size: int,
                             window: float | None) -> np.ndarray:
    """Lattice masses of ``C + P`` for a random item, by the rules of the module."""
    f_hat = np.fft.rfft(lattice(fixed, h, size))
    p_hat = np.fft.rfft(lattice(per_item, h, size))
    if B is None:                                   # the interval alone
        out = _uniform_hat(T, h, size) * p_hat * np.exp(lam * (window or T) * (p_hat - 1))
    elif T is None or B == 1:                       # the size alone (or a batch of one)
        c = np.diff(_size_wait_cdf(lam, B, (np.arange(size) + 0.5) * h), prepend=0.0)
        out = np.fft.rfft(c) * p_hat**B
    else:
        out = _both_hat(lam, T, B, p_hat, h, size)
    pmf = np.clip(np.fft.irfft(out * f_hat, size), 0.0, None)
    return pmf / pmf.sum()


def lattice(d: Distribution, h: float, size: int) -> np.ndarray:
    """Masses of ``d`` on the points ``0, h, 2h, ...`` (``size`` of them): its cells
    ``[(k - 1/2) h, (k + 1/2) h)`` for a law with a density, atoms split between their
    two neighbouring points (their means kept).

    >>> lattice(Deterministic(0.25), 0.1, 4).round(12).tolist()
    [0.0, 0.0, 0.5, 0.5]
    """
    if isinstance(d, Deterministic):
        return _atoms(np.array([d.value]), np.ones(1), h, size)
    if isinstance(d, Empirical):
        values = np.asarray(d.samples, dtype=float)
        return _atoms(values, np.full(values.size, 1.0 / values.size), h, size)
    if isinstance(d, Mixture):
        return sum(p * lattice(part, h, size) for p, part in zip(d.probs, d.parts))
    cdf = 1.0 - time_law(d).sf((np.arange(size) + 0.5) * h)
    return np.diff(cdf, prepend=0.0)


def _atoms(values: np.ndarray, weights: np.ndarray, h: float, size: int) -> np.ndarray:
    where = values / h
    low = np.floor(where).astype(int)
    up = where - low
    out = np.zeros(size + 1)
    np.add.at(out, np.minimum(low, size), weights * (1 - up))
    np.add.at(out, np.minimum(low + 1, size), weights * up)
    return out[:size]


def _uniform_hat(T: float, h: float, size: int) -> np.ndarray:
    """Transform of the uniform law on ``[0, T]`` (``T`` a multiple of ``h``)."""
    k = round(T / h)
    u = np.zeros(size)
    u[:k + 1] = 1.0 / k
    u[0] = u[k] = 0.5 / k
    return np.fft.rfft(u)


def _size_wait_cdf(lam: float, B: int, t: np.ndarray) -> np.ndarray:
    """``P(C <= t)`` with the size trigger: ``1 - E[(B - 1 - Y)^+] / B``."""
    y = lam * t
    rest = (B - 1) * stats.poisson.cdf(B - 2, y) - y * stats.poisson.cdf(B - 3, y)
    return 1.0 - rest / B


def _both_hat(lam: float, T: float, B: int, p_hat: np.ndarray, h: float,
              size: int) -> np.ndarray:
    """Transform of the item-weighted ``C`` and ``P - fixed`` with both triggers."""
    m, mu, k = B - 1, lam * T, round(T / h)
    lo = max(0, math.floor(mu - _SPAN_SDS * (math.sqrt(mu) + 1)))
    hi = math.ceil(mu + _SPAN_SDS * (math.sqrt(mu) + 1))
    # sum over n < m of P(N' = n) z^n and of n P(N' = n) z^n, z = p_hat: the whole
    # Poisson generating function less the terms from m on (or the terms below m, fewer)
    if m - lo <= hi - m:
        plain, counted = _poisson_terms(p_hat, mu, lo, m)
    else:
        whole = np.exp(mu * (p_hat - 1))
        plain, counted = _poisson_terms(p_hat, mu, m, hi + 1)
        plain, counted = whole - plain, mu * p_hat * whole - counted
    at_t = np.zeros(size)
    at_t[k] = 1.0
    partial = p_hat * (np.fft.rfft(at_t) * plain + _uniform_hat(T, h, size) * counted)
    # full batches: the B-th item at d <= T, d Erlang(m, lam) (cells up to T)
    ends = np.minimum((np.arange(k + 1) + 0.5) * h, T)
    w = np.diff(stats.gamma.cdf(ends, m, scale=1 / lam), prepend=0.0)
    c = np.zeros(size)
    c[:k + 1] += w                      # the opener waits d
    c[0] += w.sum()                     # the last item, nothing
    a = np.zeros(k + 1)                 # the others: uniform on [0, d] (lattice)
    a[1:] = w[1:] * (m - 1) / np.arange(1, k + 1)
    inner = np.cumsum(a[::-1])[::-1]    # sum over d >= j
    c[:k + 1] += inner - a / 2
    c[0] += w[0] * (m - 1) - inner[0] / 2 - a[0] / 2
    return partial + np.fft.rfft(c) * p_hat**B


def _poisson_terms(z: np.ndarray, mu: float, start: int, stop: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``sum P(N = n) z^n`` and ``sum n P(N = n) z^n`` over ``start <= n < stop`` for ``N``
    Poisson(``mu``), by Horner's rule."""
    n = np.arange(max(start, 0), max(stop, start), dtype=float)
    plain, counted = np.zeros_like(z), np.zeros_like(z)
    for j, p in zip(n[::-1], stats.poisson.pmf(n[::-1], mu)):
        plain = plain * z + p
        counted = counted * z + j * p
    power = z ** int(n[0]) if n.size else np.ones_like(z)
    return plain * power, counted * power


def _lattice_law(pmf: np.ndarray, h: float, waits: float, wait_mean: float,
                 T: float | None) -> TimeLaw:
    """``C + P`` (lattice masses, linear between cell edges) plus a wait that is 0 with
    probability ``1 - waits``, else exponential with mean ``wait_mean``."""
    edges = (np.arange(pmf.size) + 0.5) * h
    sf = np.clip(1.0 - np.cumsum(pmf), 0.0, 1.0)
    r = math.exp(-h / wait_mean)
    waiting = waits * math.exp(-h / (2 * wait_mean)) * signal.lfilter([1.0], [1.0, -r], pmf)
    ys = np.concatenate([[1.0], sf + waiting])
    xs = np.concatenate([[0.0], edges])
    last, end = float(waiting[-1]), float(edges[-1])

    def raw(t: np.ndarray) -> np.ndarray:
        beyond = last * np.exp(-np.maximum(t - end, 0.0) / wait_mean)
        return np.where(t > end, beyond, np.interp(t, xs, ys))

    mean = float(np.dot(pmf, np.arange(pmf.size))) * h + waits * wait_mean
    return TimeLaw(raw, np.array([T]) if T else np.empty(0), mean if mean > 0 else 1.0)
