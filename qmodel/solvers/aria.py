"""ARIA bounds of MapReduce / Spark jobs (Verma, Cherkasova & Campbell, "ARIA: automatic
resource inference and allocation for MapReduce environments", ICAC 2011).

A stage of ``n`` tasks on ``k`` slots under greedy assignment ends between
``T_low = n mean / k`` and ``T_up = (n - 1) mean / k + max``, ``mean`` the average task
time and ``max`` the longest task. Here the task times are a distribution, so ``max`` is
the expected maximum of the ``n`` tasks: both then bound the expected stage makespan
(the greedy bound holds for every draw; take expectations). More slots than tasks run
as ``n`` slots. A job's bounds add its stages' bounds (per visit) to the solved mean time
of the rest of its route (a shuffle, a queue before the job starts). ARIA sizes slots
for a deadline by ``T_avg = (T_low + T_up) / 2``; :mod:`qmodel.experiments.deadline`
offers it beside the upper bound. (:func:`.forkjoin.slots_for_deadline` sizes one stage
by its mean makespan instead, from the renewal model of the waves.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..distributions import Distribution
from ..result_extras import JobBounds, StageBounds
from ..results import Estimate
from .open_types import OpenSolution
from .time_laws import max_of, moments, time_law

ARIA_METHOD = "ARIA bound (Verma et al. 2011), max = E[max of n tasks]"


@dataclass(frozen=True)
class Stage:
    """A pool fork for one class: ``tasks`` tasks of law ``task``, its mean and the
    expected maximum of the ``tasks`` task times (they do not depend on the slots)."""

    name: str
    tasks: int
    task: Distribution
    mean: float
    max_task: float

    def low(self, slots: float) -> float:
        """``n mean / k``, ``k`` at most ``n``.

        >>> from qmodel.distributions import Exponential
        >>> stage("map", 10, Exponential(2.0)).low(4)
        5.0
        """
        return self.tasks * self.mean / min(slots, self.tasks)

    def high(self, slots: float) -> float:
        """``(n - 1) mean / k + E[max of n tasks]``, ``k`` at most ``n``.

        >>> from qmodel.distributions import Exponential
        >>> round(stage("map", 2, Exponential(1.0)).high(1), 9)   # 1 + E[max of 2] = 1 + 1.5
        2.5
        """
        return (self.tasks - 1) * self.mean / min(slots, self.tasks) + self.max_task

    def bounds(self, slots: float) -> StageBounds:
        return StageBounds(self.name, self.tasks, slots, Estimate(self.mean),
                           Estimate(self.max_task, ARIA_METHOD),
                           Estimate(self.low(slots), ARIA_METHOD),
                           Estimate(self.high(slots), ARIA_METHOD))


def stage(name: str, tasks: int, task: Distribution) -> Stage:
    """The :class:`Stage` of ``tasks`` iid tasks of law ``task`` (``E[max]`` integrated
    from the task's distribution function, as :func:`.forkjoin.aria_bounds_expected`)."""
    return Stage(name, tasks, task, task.mean,
                 float(moments(max_of([(time_law(task), tasks)]))[0]))


def job_stages(sol: OpenSolution, c: int) -> tuple[list[tuple[int, Stage, float]], float | None]:
    """Open class ``c``'s pool forks that wait for all their tasks, each as ``(station,
    stage, visits per job)``, and the solved mean time of the rest of its route (None
    when the class has no solved mean response)."""
    net = sol.network
    cls = net.open_classes[c].name
    stages, inside = [], 0.0
    for i, s in enumerate(net.stations):
        visits = float(sol.visits[c, i])
        if s.kind != "fork" or s.branches or visits <= 0:
            continue
        join = net.index[s.join]
        if (net.stations[join].quorum or s.tasks) != s.tasks:
            continue
        stages.append((i, stage(s.name, s.tasks, s.service[cls]), visits))
        inside += visits * sum(_mean(sol, j, c) for j in (i, join))
    total = sum(float(sol.visits[c, i]) * _mean(sol, i, c) for i in range(len(net.stations))
                if sol.visits[c, i] > 0)
    return stages, (None if math.isnan(total) else total - inside)


def job_bounds(sol: OpenSolution) -> dict[str, JobBounds]:
    """Per open class that passes a pool fork: its stages' ARIA bounds at their slots and
    the job's (its stages' plus the rest of its route)."""
    out = {}
    for c, cls in enumerate(sol.network.open_classes):
        stages, rest = job_stages(sol, c)
        if not stages:
            continue
        bounds = {s.name: s.bounds(sol.network.stations[i].servers) for i, s, _ in stages}
        low = high = None
        if rest is not None:
            low = Estimate(rest + sum(v * s.low(sol.network.stations[i].servers)
                                      for i, s, v in stages), ARIA_METHOD)
            high = Estimate(rest + sum(v * s.high(sol.network.stations[i].servers)
                                       for i, s, v in stages), ARIA_METHOD)
        out[cls.name] = JobBounds(cls.name, bounds, None if rest is None else Estimate(rest),
                                  low, high)
    return out


def _mean(sol: OpenSolution, i: int, c: int) -> float:
    """Station ``i``'s mean response per visit for class ``c`` (nan when unsolved)."""
    station = sol.stations[i]
    if station.metrics is None:
        return math.nan
    if station.class_response is not None:
        return float(station.class_response[c])
    return float(station.metrics.mean_response)
