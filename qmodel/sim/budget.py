"""The event budget: how a simulation that cannot finish gets a clear answer, not a hang.

Every field of a model may be within its own limit while their product explodes: a
request that may make 101 attempts of 11 hedged copies, each visit making 1,000 calls of
11 copies, may set off 12 million visits. Two guards:

- Up front, :func:`check_request_size` refuses (a :class:`ModelError` naming the class)
  a model whose worst-case request — every retry and hedged copy sent, every call made —
  sets off more than a million visits (:mod:`qmodel.model.request_size`).
- While it runs, each replication stops once it has processed ``max_events`` simpy events
  (:func:`run_events`; the fast path counts its own), or once it holds more than
  :data:`MAX_JOBS_PRESENT` jobs at once, and is kept as a partial result with a note
  saying why (:func:`stopped_note`, :func:`crowded_note`). The default
  (:func:`default_budget`) is :data:`EVENT_MARGIN` times the events the asked-for run
  should take, between :data:`MIN_EVENTS` and :data:`MAX_EVENTS`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import simpy
from simpy.core import EmptySchedule, StopSimulation

from ..errors import ModelError, Problem
from ..model.network import Network
from ..model.request_size import request_size_problems, visits_per_request, worst_visits
from ..results import LIMIT_NOTE as STOPPED

EVENT_MARGIN = 20
"""The default budget is this many times the events the asked-for run should take (about
``1 + 2 × visits`` per request, a fork's tasks each counted as a visit: its arrival, and
a start and an end per visit)."""
MIN_EVENTS = 1_000_000
"""The smallest default budget (a short run with a long warm-up still finishes)."""
MAX_EVENTS = 100_000_000
"""The largest default budget (ten to thirty minutes of simulation), also that of a run
whose size cannot be estimated (closed users with no think time, stopped at a horizon): a
longer run is asked for with ``max_events``."""
MAX_JOBS_PRESENT = 500_000
"""The most jobs in the system at once on the simpy engine: each holds about 1.4 KB with
its pending events (2.0 GB measured at about 1.5 million), so a run whose jobs do not
leave stops here, well under 1 GB."""
CHECK_EVERY = 16_384
"""Events between two looks at the number of jobs in the system."""


def run_events(env: simpy.Environment, max_events: int | None,
               crowded: Callable[[], bool] | None = None) -> str | None:
    """Process ``env``'s events until the run stops (:class:`~simpy.core.StopSimulation`,
    or no event left): None; or until ``max_events`` have been processed first:
    ``"events"``; or until ``crowded()`` (asked every :data:`CHECK_EVERY` events) says
    the system holds too many jobs: ``"jobs"``.

    >>> env = simpy.Environment()
    >>> for t in range(1, 6):
    ...     _ = env.timeout(t)
    >>> run_events(env, 3), env.now, run_events(env, None), env.now
    ('events', 3, None, 5)
    """
    step = env.step
    limit = sys.maxsize if max_events is None else max_events
    done = 0
    try:
        while done < limit:
            chunk = min(CHECK_EVERY, limit - done)
            for _ in range(chunk):
                step()
            done += chunk
            if crowded is not None and crowded():
                return "jobs"
    except (StopSimulation, EmptySchedule):
        return None
    return "events"


def crowded_note(jobs: int) -> str:
    """Why a replication stopped with too many jobs in the system, and what to do."""
    return (f"{STOPPED}the jobs in the system reached {jobs:,} at once (over "
            f"{MAX_JOBS_PRESENT:,}, which would take gigabytes): jobs arrive much faster "
            "than they leave, or the batches or populations are this large; check the "
            "service times, or ask for a shorter horizon or smaller batches: partial results")


def check_request_size(network: Network) -> None:
    """Refuse a model one of whose requests may set off more than
    :data:`~qmodel.model.request_size.MAX_VISITS_PER_REQUEST` visits: its simulation could
    not finish."""
    problems = request_size_problems(network)
    if problems:
        raise ModelError(problems)


def expected_events(network: Network, customers: int | None, horizon: float | None,
                    min_time: float = 0.0) -> float:
    """The simpy events a replication stopped by ``customers``, ``horizon`` (seconds) or
    the end of its batches should take: ``1 + 2 × visits`` per request; ``inf`` when it
    cannot be estimated (closed users with no think time, stopped at a horizon).

    >>> from qmodel import Model
    >>> m = Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "0.5s"}},
    ...                      "arrivals": {"web": {"to": "app", "rate": "1/s"}}})
    >>> expected_events(m.network, 50_000, None), expected_events(m.network, None, 60.0)
    (150000.0, 180.0)
    """
    open_rate = sum(c.rate for c in network.open_classes)
    if customers is not None:
        requests = customers + open_rate * min_time
    elif horizon is None:  # batches only: they end the run
        requests = 0.0
    else:
        requests = open_rate * horizon
        for c in network.closed_classes:
            think = c.think.mean if c.think is not None else 0.0
            requests += c.population * horizon / think if think > 0 else math.inf
    requests += sum(c.size * c.count for c in network.batch_classes)
    return requests * (1 + 2 * visits_per_request(network))


def default_budget(network: Network, customers: int | None, horizon: float | None,
                   min_time: float = 0.0) -> int:
    """:data:`EVENT_MARGIN` times the :func:`expected_events`, between
    :data:`MIN_EVENTS` and :data:`MAX_EVENTS`.

    >>> from qmodel import Model
    >>> m = Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "0.5s"}},
    ...                      "arrivals": {"web": {"to": "app", "rate": "1/s"}}})
    >>> default_budget(m.network, 50_000, None), default_budget(m.network, 100, None)
    (3000000, 1000000)
    """
    events = EVENT_MARGIN * expected_events(network, customers, horizon, min_time)
    if not math.isfinite(events):
        return MAX_EVENTS
    return min(MAX_EVENTS, max(MIN_EVENTS, math.ceil(events)))


def check_run_size(network: Network, customers: int | None, horizon: float | None,
                   min_time: float = 0.0) -> None:
    """Refuse, before anything runs, a replication whose :func:`expected_events` exceed
    :data:`MAX_EVENTS` (it would run for many minutes and then stop at its budget):
    fewer customers, a shorter horizon or an explicit ``max_events`` runs it.

    >>> from qmodel import Model
    >>> m = Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "0.5ns"}},
    ...                      "arrivals": {"web": {"to": "app", "rate": "1e9/s"}}})
    >>> try:
    ...     check_run_size(m.network, None, 3600.0)
    ... except ModelError as e:
    ...     print(str(e)[:71])
    horizon: one replication would take about 1.08e+13 events, over 100,000
    """
    events = expected_events(network, customers, horizon, min_time)
    if math.isfinite(events) and events > MAX_EVENTS:
        field = "customers" if customers is not None else "horizon"
        fewer = "fewer customers" if customers is not None else "a shorter horizon"
        if customers is None and horizon is None:
            field, fewer = "batches", "smaller or fewer batches"
        raise ModelError([Problem(field, f"one replication would take about {events:.3g} "
                                         f"events, over {MAX_EVENTS:,} (ten to thirty "
                                         f"minutes of simulation): ask for {fewer}, or give "
                                         "max_events (--max-events) to run it anyway")])


def stopped_note(network: Network, events: int) -> str:
    """Why a replication stopped at its budget of ``events``, and what to do."""
    mean = visits_per_request(network)
    most = max(worst_visits(network, c) for c in network.classes)
    cause = (f", up to {most:,.0f} with every retry, hedged copy and call: lower retries, "
             "hedge copies or call counts,") if most > mean * (1 + 1e-9) else ";"
    visits = f"{mean:,.4g} visit{'' if mean == 1 else 's'}"
    return (f"{STOPPED}{events:,} events (the event budget, max_events): each request "
            f"makes about {visits}{cause} raise max_events (--max-events) or ask for fewer "
            "customers or a shorter horizon: partial results")
