"""The gaps between an open class's arrivals: renewal draws for a constant rate, and a
non-homogeneous Poisson process for a rate profile (Lewis & Shedler's thinning)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..distributions import Exponential
from ..model.network import JobClass
from ..model.profiles import RateProfile
from .streams import BATCH, Streams


def gaps(streams: Streams, cls: JobClass) -> Iterator[float]:
    """An endless iterator of the times between ``cls``'s arrivals, the first from 0."""
    if cls.profile is not None:
        return thinned(cls.profile, streams.generator("interarrival", cls.name))
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
