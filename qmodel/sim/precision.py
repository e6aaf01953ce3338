"""Stop at precision: add replications until every mean's 95% interval is narrow enough.

As JMT's "stop at precision", but over independent replications: after each one (from
:data:`MIN_REPLICATIONS` on) the replications so far are summarised, and the run stops
when the widest relative half-width of the means it checks (:func:`widest`) is at most
the target, or when the replications allowed are used up. Replication ``r`` has the same
stream as in a fixed run (``SeedSequence(seed).spawn``), so a run that stopped after ``r``
replications answers exactly as ``simulate(..., replications=r)`` with the same seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..errors import ModelError, Problem
from ..results import Estimate, Result

MIN_REPLICATIONS = 3
"""A Student-t interval from fewer replications is too wide to judge (t(0.975, 1) = 12.7)."""


@dataclass(frozen=True)
class Step:
    """After ``replications`` replications, the widest relative half-width (``worst``,
    0.05 = ±5%) was that of ``metric``."""

    replications: int
    worst: float
    metric: str


@dataclass
class Precision:
    """The stopping rule of one run: ``target`` relative half-width (0.05 = ±5%);
    ``history`` gets one :class:`Step` per check."""

    target: float
    history: list[Step] = field(default_factory=list)

    def reached(self, result: Result, replications: int) -> bool:
        """Record the widest interval of ``result`` (from ``replications`` replications);
        True when it is within the target, or when the model is unstable (no mean to
        narrow: the run stops and reports the instability)."""
        if replications < MIN_REPLICATIONS:
            return False
        if result.unstable:
            return True
        worst, metric = widest(result)
        self.history.append(Step(replications, worst, metric))
        return worst <= self.target

    def note(self, allowed: int) -> str:
        """What the run did, for the result's notes."""
        if not self.history:
            return (f"precision ±{self.target:.3g} not checked: the run ended before "
                    f"{MIN_REPLICATIONS} replications")
        last = self.history[-1]
        worst = f"the widest, {last.metric}, ±{last.worst:.2%}"
        if last.worst <= self.target:
            return (f"stopped at precision: every checked mean within ±{self.target:.2%} (95%) after "
                    f"{last.replications} replications; {worst}")
        return (f"precision ±{self.target:.2%} NOT reached after {last.replications} of "
                f"{allowed} replications allowed; {worst}: allow more replications or "
                f"longer ones (--customers)")


def widest(result: Result) -> tuple[float, str]:
    """The largest relative 95% half-width among the result's means with an interval:
    the system's and each class's mean response time and throughput, and each station's
    mean response, mean number present, throughput and utilization (a zero mean is
    skipped: its interval says nothing relative).

    >>> from qmodel.results import NodeResult, SystemResult
    >>> r = Result("m", "simulation", "s", {"a": NodeResult("a", "a", "queue", 1,
    ...            "simulation", utilization=Estimate(0.5, "simulation", (0.45, 0.55)))},
    ...            SystemResult("simulation", throughput=Estimate(2.0, "simulation", (1.9, 2.1))))
    >>> worst, metric = widest(r)
    >>> round(worst, 6), metric
    (0.1, 'a.utilization')
    """
    worst, metric = 0.0, "none"
    for name, value in _means(result):
        if value is None or value.ci95 is None or float(value) == 0 or math.isnan(value):
            continue
        low, high = value.ci95
        half = (high - low) / 2 / abs(float(value))
        if not half <= worst:  # a NaN interval counts as the widest
            worst, metric = half, name
    return worst, metric


def _means(result: Result) -> Iterator[tuple[str, Estimate | None]]:
    system = result.system
    yield "system.mean_response_time", system.mean_response_time
    yield "system.throughput", system.throughput
    for name, cls in result.classes.items():
        yield f"classes.{name}.mean_response_time", cls.mean_response_time
        yield f"classes.{name}.throughput", cls.throughput
    for name, node in result.nodes.items():
        for key in ("mean_response", "mean_in_system", "throughput", "utilization"):
            yield f"{name}.{key}", getattr(node, key)


def parse_precision(value: float | str, where: str = "precision") -> float:
    """``"5%"`` or ``0.05`` → 0.05; a :class:`ModelError` on ``where`` otherwise.

    >>> parse_precision("2.5%"), parse_precision(0.1)
    (0.025, 0.1)
    """
    text = value.strip() if isinstance(value, str) else value
    try:
        if isinstance(text, str) and text.endswith("%"):
            number = float(text[:-1]) / 100
        elif isinstance(text, bool):
            raise ValueError
        else:
            number = float(text)
    except (TypeError, ValueError):
        number = math.nan
    if not 0 < number < 1:
        shown = repr(value)[:40]
        raise ModelError([Problem(where, f"must be a relative half-width between 0 "
                                               f"and 1 (e.g. 5% or 0.05), got {shown}")])
    return number
