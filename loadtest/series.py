"""A load run's samples as a series over time, in the simulation's bins and columns.

Each request is a job: it arrives at its *intended* send time (so a late send is charged
to it, as everywhere in :mod:`loadtest.samples`) and leaves when its answer came back.
The requests are cut into bins by :func:`qmodel.sim.bins.binned`, the function that bins
a simulated replication, so the two series mean the same thing column by column:
arrivals and completions per second, the time-average number of requests in flight
(counted, so Little's law holds on every bin exactly), and the mean, p95 and p99 response
time of the requests that *completed* in the bin. A request that was not a success
(refused, failed) leaves the system when its answer came, as a loss: it is in flight
until then but neither a completion nor a response time.

A model with a broker is answered when the broker has accepted a record (202), before its
consumers: the clients' latency is not what the model predicts. Its series is built from
the system's own end-to-end rows instead (:func:`records_log`: the trace's ``E`` rows,
one per record, from the gateway's receipt to the end of the last component's
processing), which is what the simulator measures for a job through the broker and its
consumers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from qmodel.sim.bins import METRICS, JobLog, binned

from .samples import Samples


def job_log(samples: Samples, start: float) -> JobLog:
    """The requests of ``samples`` as a simulation's job log, times from ``start``.

    >>> s = Samples(np.array([10.5, 11.5, 11.6]), np.array([10.5, 11.5, 11.6]),
    ...             np.array([11.0, 11.8, 11.7]), np.array([200, 200, 429]), np.zeros(3))
    >>> log = job_log(s, 10.0)
    >>> log.exits.round(6).tolist(), log.responses.round(6).tolist(), log.losses.round(6).tolist()
    ([1.0, 1.8], [0.5, 0.3], [1.7])
    """
    ok = (samples.status >= 200) & (samples.status < 300)
    return JobLog(arrivals=samples.intended - start, exits=samples.done[ok] - start,
                  responses=samples.done[ok] - samples.intended[ok],
                  losses=samples.done[~ok] - start)


def records_log(trace: pd.DataFrame, samples: Samples, start: float, until: float) -> JobLog:
    """The records of a run as a simulation's job log, from the system's end-to-end rows
    (``trace``: :class:`loadtest.refsys.trace.TraceReader` rows; kind ``E``) received in
    ``[start, until)``: each arrives when the gateway received it and leaves when the last
    component finished it. A request the system refused (``samples`` not 2xx) arrives at
    its intended send time and leaves, as a loss, when its answer came.

    >>> trace = pd.DataFrame({"kind": ["E", "E", "S", "E"], "enqueue": [10.2, 10.9, 10.9, 3.0],
    ...                       "end": [10.7, 12.4, 11.0, 3.1]})
    >>> s = Samples(np.array([10.2, 10.9, 11.1]), np.array([10.2, 10.9, 11.1]),
    ...             np.array([10.21, 10.91, 11.3]), np.array([202, 202, 429]), np.zeros(3))
    >>> log = records_log(trace, s, 10.0, 30.0)
    >>> log.arrivals.round(6).tolist(), log.responses.round(6).tolist(), log.losses.round(6).tolist()
    ([0.2, 0.9, 1.1], [0.5, 1.5], [1.3])
    """
    rows = trace[(trace["kind"] == "E") & (trace["enqueue"] >= start)
                 & (trace["enqueue"] < until)]
    received, ended = rows["enqueue"].to_numpy(float), rows["end"].to_numpy(float)
    refused = (samples.status < 200) | (samples.status >= 300)
    return JobLog(arrivals=np.concatenate([received, samples.intended[refused]]) - start,
                  exits=ended - start, responses=ended - received,
                  losses=samples.done[refused] - start)


def series_of(log: JobLog, edges: np.ndarray) -> pd.DataFrame:
    """One row per bin (``edges``: boundaries in seconds) of ``log`` with the simulation's
    columns (:data:`qmodel.sim.bins.METRICS`); NaN where nothing completed in a bin."""
    frame = pd.DataFrame({"time_s": edges[:-1], "end_s": edges[1:]})
    for name, values in binned(log, edges).items():
        if name in METRICS:
            frame[name] = values
    return frame


def measured_series(samples: Samples, start: float, edges: np.ndarray) -> pd.DataFrame:
    """One row per bin (``edges``: boundaries in seconds from ``start``) with the
    simulation's columns (:data:`qmodel.sim.bins.METRICS`); NaN where no request
    completed in a bin.

    >>> s = Samples(np.array([0.5, 1.5, 1.6]), np.array([0.5, 1.5, 1.6]),
    ...             np.array([1.0, 1.8, 2.5]), np.array([200, 200, 200]), np.zeros(3))
    >>> f = measured_series(s, 0.0, np.array([0.0, 1.0, 2.0, 3.0]))
    >>> f["in_system"].round(6).tolist(), f["throughput_per_s"].tolist()
    ([0.5, 0.7, 0.5], [0.0, 2.0, 1.0])
    """
    return series_of(job_log(samples, start), edges)
