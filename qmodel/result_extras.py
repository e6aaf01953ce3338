"""Results that belong to a part of a model rather than to a station or a class: the
staleness of a replicated store's quorum reads (the ``consistency:`` section) and the
ARIA bounds of MapReduce stages and jobs. Shown by ``qmodel solve`` and in the JSON
result (``docs/results.md``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .results import Estimate


@dataclass
class Staleness:
    """Probabilistically bounded staleness of an R-of-N read with write quorum W.

    ``p_stale_k``: the probability that a read right after a commit misses it when
    replication is slow (k-staleness, exact); ``p_stale_at``: ``(t, P(stale))`` for a
    read issued ``t`` seconds after the commit (t-visibility); ``t_999``: the least such
    ``t`` after which 99.9% of reads are fresh.

    >>> s = Staleness(3, 2, 1, Estimate(1 / 3), [(0.0, Estimate(0.2, "m"))], Estimate(0.01, "m"))
    >>> s.to_json()["p_stale_at"][0]
    {'t_s': 0.0, 'p': {'value': 0.2, 'method': 'm'}}
    """

    n: int
    r: int
    w: int
    p_stale_k: Estimate
    p_stale_at: list[tuple[float, Estimate]]
    t_999: Estimate | None = None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "r": self.r, "w": self.w, "p_stale_k": self.p_stale_k.to_json(),
                "p_stale_at": [{"t_s": t, "p": p.to_json()} for t, p in self.p_stale_at],
                "t_999_s": None if self.t_999 is None else self.t_999.to_json(),
                "note": self.note}


def _json(x: Estimate | None) -> dict[str, Any] | None:
    return None if x is None else x.to_json()


@dataclass
class StageBounds:
    """ARIA bounds of a stage of ``tasks`` tasks on ``slots`` slots (s): ``low`` =
    n·mean/k, ``high`` = (n−1)·mean/k + ``max_task``; ``avg`` is their mean (ARIA's
    T_avg)."""

    stage: str
    tasks: int
    slots: int | float
    task_mean: Estimate
    max_task: Estimate
    low: Estimate
    high: Estimate

    @property
    def avg(self) -> float:
        """``(low + high) / 2``.

        >>> StageBounds("map", 10, 4, Estimate(2.0), Estimate(5.0), Estimate(5.0),
        ...             Estimate(9.5)).avg
        7.25
        """
        return (self.low + self.high) / 2

    def to_json(self) -> dict[str, Any]:
        return {"tasks": self.tasks, "slots": None if self.slots == float("inf") else
                int(self.slots), "task_mean_s": _json(self.task_mean),
                "max_task_s": _json(self.max_task), "low_s": _json(self.low),
                "high_s": _json(self.high)}


@dataclass
class JobBounds:
    """ARIA bounds of a job of one class (s): its ``stages`` and, when its route is
    solved, ``rest`` (the mean time outside its stages: a shuffle) and the job's
    ``low`` and ``high`` (rest plus each stage's bound per visit)."""

    job_class: str
    stages: dict[str, StageBounds]
    rest: Estimate | None = None
    low: Estimate | None = None
    high: Estimate | None = None

    def to_json(self) -> dict[str, Any]:
        return {"stages": {k: v.to_json() for k, v in self.stages.items()},
                "rest_s": _json(self.rest), "low_s": _json(self.low),
                "high_s": _json(self.high)}
