"""The gaps between an open class's arrivals: renewal draws for a constant rate, a
non-homogeneous Poisson process for a rate profile (Lewis & Shedler's thinning), and the
correlated gaps of an MMPP-2."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..distributions import Exponential
from ..model.mmpp import MMPP2
from ..model.network import JobClass
from ..model.profiles import RateProfile
from .streams import BATCH, Streams


def gaps(streams: Streams, cls: JobClass) -> Iterator[float]:
    """An endless iterator of the times between ``cls``'s arrivals, the first from 0."""
    if cls.profile is not None:
        return thinned(cls.profile, streams.generator("interarrival", cls.name))
    if isinstance(cls.interarrival, MMPP2):
        return modulated(cls.interarrival, streams.generator("interarrival", cls.name))
    return streams.draws(cls.interarrival or Exponential(1.0 / cls.rate), "interarrival",
                         cls.name)


def thinned(profile: RateProfile, rng: np.random.Generator) -> Iterator[float]:
    """Gaps of a Poisson process with rate ``profile.rate_at(t)``: candidates at the
    profile's peak rate, each kept with probability rate(t) / peak. Consecutive gaps
    add up to the arrival times, so the iterator keeps its own clock.

    >>> from qmodel.model.profiles import parse
    >>> p = parse({"profile": "step", "from": 10, "to": 1000, "at": 10})
    >>> it = thinned(p, np.random.default_rng(1))
    >>> times = np.cumsum([next(it) for _ in range(5100)])
    >>> int((times < 10).sum()) in range(70, 131), bool(4.5 < times[-1] - 10 < 5.5)
    (True, True)
    """
    peak = profile.peak
    last = clock = 0.0
    while True:
        candidates = clock + np.cumsum(rng.exponential(1.0 / peak, BATCH))
        keep = rng.random(BATCH) * peak < profile.rate_at(candidates)
        clock = float(candidates[-1])
        for t in candidates[keep].tolist():
            yield t - last
            last = t


def modulated(process: MMPP2, rng: np.random.Generator) -> Iterator[float]:
    """Gaps of an MMPP-2: from a stationary start, each event is the first of an arrival
    (at the state's rate) or a switch of state; the gap runs from arrival to arrival.

    >>> it = modulated(MMPP2((5.0, 50.0), (0.1, 1.0)), np.random.default_rng(2))
    >>> 8 < 20_000 / sum(next(it) for _ in range(20_000)) < 10.5  # mean rate 9.09/s
    True
    """
    state = int(rng.random() < process.stationary[1])
    gap = 0.0
    while True:
        rate, leave = process.rates[state], process.switch[state]
        gap += rng.exponential(1.0 / (rate + leave))
        if rng.random() * (rate + leave) < rate:
            yield gap
            gap = 0.0
        else:
            state = 1 - state
