"""Metrics per time bin: one replication recorded job by job, cut into bins of equal
width, and the bins of all replications summarised with 95% intervals.

Per bin: arrivals and throughput (completions) per second, the time-average number of
jobs in the system, and the mean, p95 and p99 response time of the jobs that *completed*
in the bin (a job's response is counted when it leaves). Each replication starts empty
at time 0 and runs to the horizon, with no warm-up cut: the transient is the point.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import stdtrit

from ..model.network import Network
from .engine import Engine
from .jobs import Job
from .simpy_fields import sim_time
from .streams import Streams

METRICS = ("arrivals_per_s", "throughput_per_s", "in_system", "mean_response_s",
           "p95_response_s", "p99_response_s")
"""The per-bin metrics; each has ``_low``/``_high`` columns (95% over replications)."""
CLIENT_METRICS = ("attempts_per_s", "failures_per_s")
"""Per bin too for a model with behaviours: attempts sent (first ones, retries and
hedged copies) and requests that gave up; ``throughput_per_s`` is then the goodput."""


@dataclass
class JobLog:
    """What one replication saw: arrival times, completion times with their response
    times, the times jobs were lost (full buffers, failures, requests that gave up),
    and for a model with behaviours the times attempts were sent and requests gave up
    (None otherwise)."""

    arrivals: np.ndarray
    exits: np.ndarray
    responses: np.ndarray
    losses: np.ndarray
    attempts: np.ndarray | None = None
    failures: np.ndarray | None = None


class LoggingEngine(Engine):
    """The simpy engine, also logging every job's arrival, exit and loss."""

    def __init__(self, network: Network, streams: Streams, horizon: float):
        super().__init__(network, streams, customers=None, horizon=horizon, warmup=None)
        self.log_arrivals: list[float] = []
        self.log_exits: list[float] = []
        self.log_responses: list[float] = []
        self.log_losses: list[float] = []
        self.log_attempts: list[float] = []
        self.log_failures: list[float] = []

    def _arrival(self, ev) -> None:
        super()._arrival(ev)
        self.log_arrivals.append(sim_time(self.env))

    def _enter(self, n: int, now: float) -> int:
        self.log_arrivals.extend([now] * n)
        return super()._enter(n, now)

    def exit(self, job: Job) -> None:
        done = self.done
        super().exit(job)
        if self.done > done:  # not an attempt its client no longer waited for
            now = sim_time(self.env)
            self.log_exits.append(now)
            self.log_responses.append(now - job.born)

    def attempt_sent(self) -> None:
        self.log_attempts.append(self.env.now)

    def gave_up(self, job: Job) -> None:
        self.log_losses.append(self.env.now)
        self.log_failures.append(self.env.now)
        super().gave_up(job)

    def lose(self, job: Job) -> None:
        before = self.losses
        super().lose(job)
        if self.losses > before:
            self.log_losses.append(self.env.now)

    def log(self) -> JobLog:
        self.run()
        client = [np.asarray(x, dtype=float) for x in (self.log_attempts, self.log_failures)] \
            if self.behaviours else [None, None]
        return JobLog(*(np.asarray(x, dtype=float) for x in (
            self.log_arrivals, self.log_exits, self.log_responses, self.log_losses)), *client)


def run_logged(network: Network, seq: np.random.SeedSequence, horizon: float) -> JobLog:
    """One replication of ``network`` from empty to ``horizon`` seconds, logged."""
    return LoggingEngine(network, Streams(seq), horizon).log()


def binned(log: JobLog, edges: np.ndarray) -> dict[str, np.ndarray]:
    """One replication's metrics per bin (``edges``: bin boundaries in seconds).

    >>> log = JobLog(np.array([0.5, 1.5, 1.6]), np.array([1.0, 1.8]), np.array([0.5, 0.2]),
    ...              np.array([]))
    >>> b = binned(log, np.array([0.0, 1.0, 2.0]))
    >>> b["arrivals_per_s"].tolist(), b["in_system"].round(6).tolist(), b["mean_response_s"]
    ([1.0, 2.0], [0.5, 0.7], array([ nan, 0.35]))
    """
    width = np.diff(edges)
    out = {"arrivals_per_s": np.histogram(log.arrivals, edges)[0] / width,
           "throughput_per_s": np.histogram(log.exits, edges)[0] / width,
           "in_system": np.diff(_area(log, edges)) / width}
    which = np.searchsorted(edges, log.exits, side="right") - 1
    for name in METRICS[3:]:
        out[name] = np.full(len(width), math.nan)
    order = np.argsort(which, kind="stable")
    groups = np.split(log.responses[order], np.flatnonzero(np.diff(which[order])) + 1)
    for group, b in zip(groups, np.unique(which)):
        if 0 <= b < len(width) and len(group):
            out["mean_response_s"][b] = group.mean()
            out["p95_response_s"][b], out["p99_response_s"][b] = np.quantile(group, [0.95, 0.99])
    if log.attempts is not None:
        out["attempts_per_s"] = np.histogram(log.attempts, edges)[0] / width
        out["failures_per_s"] = np.histogram(log.failures, edges)[0] / width
    return out


def _area(log: JobLog, edges: np.ndarray) -> np.ndarray:
    """The integral of the number in system from 0 to each edge."""
    times = np.concatenate([log.arrivals, log.exits, log.losses])
    steps = np.concatenate([np.ones(len(log.arrivals)), -np.ones(len(log.exits) + len(log.losses))])
    order = np.argsort(times, kind="stable")
    times, level = times[order], np.cumsum(steps[order])
    cumulative = np.concatenate([[0.0], np.cumsum(level[:-1] * np.diff(times))]) \
        if len(times) else np.zeros(0)
    k = np.searchsorted(times, edges, side="right") - 1
    inside = k >= 0
    area = np.zeros(len(edges))
    area[inside] = cumulative[k[inside]] + level[k[inside]] * (edges[inside] - times[k[inside]])
    return area


def summarise(per_replication: list[dict[str, np.ndarray]], edges: np.ndarray) -> pd.DataFrame:
    """The mean of each metric over replications per bin, with a Student-t 95% interval
    (``_low``/``_high``; none with one replication or one value)."""
    frame = pd.DataFrame({"time_s": edges[:-1], "end_s": edges[1:]})
    for name in METRICS + tuple(m for m in CLIENT_METRICS if m in per_replication[0]):
        values = np.vstack([r[name] for r in per_replication])
        n = np.sum(np.isfinite(values), axis=0)
        with warnings.catch_warnings():  # a bin no replication completed a job in: nan
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(values, axis=0)
            std = np.nanstd(values, axis=0, ddof=1)
        half = np.where(n > 1, stdtrit(np.maximum(n - 1, 1), 0.975) * std / np.sqrt(n), math.nan)
        frame[name], frame[f"{name}_low"], frame[f"{name}_high"] = mean, mean - half, mean + half
    return frame
