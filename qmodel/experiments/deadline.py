"""The fewest map/reduce slots that finish a job by a deadline, from the ARIA bounds
(Verma, Cherkasova & Campbell, ICAC 2011; :mod:`qmodel.solvers.aria`).

A job's bound is the rest of its route (solved once: a shuffle, say) plus, per pool-fork
stage, ``T_up(k) = (n - 1) mean / k + E[max of n tasks]`` (``bound="upper"``: the job
finishes in time on average whatever the order of its tasks) or ARIA's own
``T_avg(k) = (T_low + T_up) / 2`` (``bound="average"``). Each stage's bound falls as its
slots grow, so the plan is found exactly: every slot count of all but the last stage is
tried, and the last stage gets the fewest slots that meet what is left of the deadline;
the cheapest configuration wins (cost per slot per stage, default 1; ties to the
smallest in stage order). More slots than tasks never help, so a stage has at most
``tasks`` slots.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ModelError, Problem
from ..model.model import Model
from ..result_extras import StageBounds
from ..solve import solve
from ..solvers.aria import Stage
from ..units import format_duration
from .planning import PlanError

BOUNDS = ("upper", "average")
MAX_COMBINATIONS = 1_000_000


@dataclass(frozen=True)
class DeadlinePlan:
    """The cheapest slots per stage (``configuration``: path -> slots) whose job bound
    (``bound``) meets ``deadline`` (s), with the stages' bounds and the job's there."""

    job_class: str
    deadline: float
    bound: str
    configuration: dict[str, int]
    cost: float
    stages: dict[str, StageBounds]
    rest: float
    low: float
    high: float
    time_unit: str

    @property
    def planned(self) -> float:
        """The job's bound the plan meets: ``high``, or ``(low + high) / 2``."""
        return self.high if self.bound == "upper" else (self.low + self.high) / 2

    def __str__(self) -> str:
        slots = ", ".join(f"{p}={k}" for p, k in self.configuration.items())
        unit = self.time_unit
        return (f"{slots} (cost {self.cost:g}): job {self.bound} bound "
                f"{format_duration(self.planned, unit)} <= deadline "
                f"{format_duration(self.deadline, unit)}")

    def to_dict(self) -> dict[str, Any]:
        return {"job_class": self.job_class, "deadline_s": self.deadline,
                "bound": self.bound, "configuration": dict(self.configuration),
                "cost": self.cost, "rest_s": self.rest, "low_s": self.low,
                "high_s": self.high, "planned_s": self.planned,
                "stages": {k: v.to_json() for k, v in self.stages.items()}}


def plan_deadline(model: Model, deadline: float, *, bound: str = "upper",
                  cost: Mapping[str, float] | None = None, job_class: str | None = None
                  ) -> DeadlinePlan:
    """The fewest (cheapest) slots of each pool-fork stage whose ARIA job bound meets
    ``deadline`` seconds; ``cost`` is per slot, keyed by component (``nodes.map``).

    >>> import qmodel
    >>> job = qmodel.Model.from_dict({"arrivals": {"j": {"to": "map", "rate": "1/h"}},
    ...     "nodes": {"map": {"kind": "fork", "tasks": 10, "slots": 10, "join": "done",
    ...                       "task_service": {"dist": "deterministic", "value": 1}},
    ...               "done": {"kind": "join"}}})
    >>> plan_deadline(job, 4.0).configuration     # 9/k + 1 <= 4 from k = 3
    {'nodes.map.slots': 3}
    """
    if bound not in BOUNDS:
        raise ModelError([Problem("--bound", f"must be one of {', '.join(BOUNDS)}, got "
                                             f"{bound!r}")])
    if not (deadline > 0 and math.isfinite(deadline)):
        raise ModelError([Problem("--deadline", f"must be a positive duration, got "
                                                f"{deadline!r}")])
    result = solve(model)
    jobs = result.aria if job_class is None else \
        {k: v for k, v in result.aria.items() if k == job_class}
    if len(jobs) != 1:
        what = "no open class passes a fork with tasks" if not result.aria else \
            f"classes {', '.join(result.aria)} pass forks with tasks; name one"
        raise ModelError([Problem("--deadline", f"plans the slots of one job: {what}")])
    name, job = next(iter(jobs.items()))
    if job.rest is None:
        raise PlanError(f"the route of class {name} outside its stages is not solved "
                        f"({result.system.method}); the deadline cannot be planned")
    cls = name
    network = model.network
    stages = [Stage(b.stage, b.tasks, network.station(b.stage).service[cls],
                    float(b.task_mean), float(b.max_task)) for b in job.stages.values()]
    visits = [float(result.node(s.name).visits or 1.0) for s in stages]
    costs = dict(cost or {})
    unknown = set(costs) - {f"nodes.{s.name}" for s in stages}
    if unknown:
        raise ModelError([Problem("--cost", f"{sorted(unknown)[0]} is not a stage with tasks "
                                            f"({', '.join(f'nodes.{s.name}' for s in stages)})")])
    if any(not (c > 0 and math.isfinite(c)) for c in costs.values()):
        raise ModelError([Problem("--cost", "a cost per slot must be a positive number")])
    unit = [costs.get(f"nodes.{s.name}", 1.0) for s in stages]
    times = [v * np.array([_bound(s, k, bound) for k in range(1, s.tasks + 1)])
             for s, v in zip(stages, visits)]
    best = _cheapest(times, unit, deadline - float(job.rest))
    if best is None:
        fastest = float(job.rest) + sum(float(t[-1]) for t in times)
        raise PlanError(f"no slots meet the deadline {format_duration(deadline, model.time_unit)}:"
                        f" with a slot per task the job's {bound} bound is "
                        f"{format_duration(fastest, model.time_unit)}")
    at = {s.name: s.bounds(k) for s, k in zip(stages, best)}
    rest = float(job.rest)
    return DeadlinePlan(
        name, deadline, bound, {f"nodes.{s.name}.slots": k for s, k in zip(stages, best)},
        sum(c * k for c, k in zip(unit, best)), at, rest,
        rest + sum(v * float(at[s.name].low) for s, v in zip(stages, visits)),
        rest + sum(v * float(at[s.name].high) for s, v in zip(stages, visits)),
        model.time_unit)


def _bound(stage: Stage, slots: int, bound: str) -> float:
    high = stage.high(slots)
    return high if bound == "upper" else (stage.low(slots) + high) / 2


def _cheapest(times: list[np.ndarray], unit: list[float], budget: float
              ) -> list[int] | None:
    """Slots (1-based) per stage, ``times[i][k - 1]`` stage i's time on k slots (not
    increasing in k), of least cost whose times sum to at most ``budget``."""
    sizes = [len(t) for t in times[:-1]]
    if math.prod(sizes) > MAX_COMBINATIONS:
        raise PlanError(f"the stages' slot counts make over {MAX_COMBINATIONS:,} "
                        "combinations; plan fewer stages at once")
    last = times[-1][::-1]  # increasing: the time on n, n - 1, ..., 1 slots
    best: tuple[float, list[int]] | None = None
    for head in itertools.product(*(range(1, n + 1) for n in sizes)):
        left = budget - sum(float(t[k - 1]) for t, k in zip(times, head))
        fits = int(np.searchsorted(last, left * (1 + 1e-12), side="right"))
        if fits == 0:
            continue
        slots = [*head, len(last) - fits + 1]
        total = sum(c * k for c, k in zip(unit, slots))
        if best is None or total < best[0]:
            best = (total, slots)
    return None if best is None else best[1]
