"""Loss of time resolution: the simulation clock is a double, so once it is large the
gaps between representable times exceed the model's service times and every time
measured is rounded (to 0, for services shorter than half a gap). Checked after a run
from the largest clock value reached and the shortest mean service of the model."""

from __future__ import annotations

import math

import numpy as np

from ..errors import ModelError, Problem
from ..model.network import Network

LOST = 1e-2
"""Rounding step over the shortest mean service above which the run is rejected."""
COARSE = 1e-6
"""... above which it is reported in the notes."""


def shortest_service(network: Network) -> float | None:
    """The smallest positive mean time a job spends in one service (a station's service,
    a fork's task, a batcher's fixed and per-item times); None when there is none.

    >>> import qmodel
    >>> m = qmodel.Model.from_dict({"nodes": {"a": {"kind": "queue", "service": "10ms"}},
    ...                             "arrivals": {"x": {"to": "a", "rate": 1}}})
    >>> shortest_service(m.network)
    0.01
    """
    means = [d.mean for s in network.stations for d in s.service.values()]
    for s in network.stations:
        if s.batch is not None:
            means += [s.batch.fixed.mean, s.batch.per_item.mean]
    positive = [m for m in means if 0 < m < math.inf]
    return min(positive) if positive else None


def check_resolution(network: Network, clock: float) -> str | None:
    """A note when the clock reached ``clock`` seconds, where doubles are spaced coarsely
    against the shortest service (above :data:`COARSE` of it); a :class:`ModelError`
    when the spacing is above :data:`LOST` of it (the times measured are meaningless).

    >>> import qmodel
    >>> m = qmodel.Model.from_dict({"nodes": {"a": {"kind": "queue", "service": "10ms"}},
    ...                             "arrivals": {"x": {"to": "a", "rate": 1}}})
    >>> check_resolution(m.network, 1e5) is None
    True
    >>> try:
    ...     check_resolution(m.network, 1e16)
    ... except ModelError as exc:
    ...     print(str(exc)[:78])
    simulation: the clock reached 1e+16 s, where times are rounded to steps of 2 s
    """
    shortest = shortest_service(network)
    if shortest is None or not math.isfinite(clock) or clock <= 0:
        return None
    step = float(np.spacing(clock))
    if step > LOST * shortest:
        raise ModelError([Problem("", (
            f"simulation: the clock reached {clock:.3g} s, where times are rounded to "
            f"steps of {step:.3g} s, while the shortest mean service is {shortest:.3g} s: "
            f"the times measured would be rounded away (to 0 below {step / 2:.3g} s); "
            f"shorten the run (fewer customers, a shorter horizon) or raise the arrival "
            f"rates"))])
    if step > COARSE * shortest:
        return (f"time resolution: the clock reached {clock:.3g} s, where times are rounded "
                f"to steps of {step:.3g} s, {step / shortest:.2g} of the shortest mean "
                f"service ({shortest:.3g} s)")
    return None
