"""``validate --shape`` on a model with a broker: the records' own end-to-end series.

The gateway answers a request to a broker with 202 when the broker has accepted the
record, before its consumers; what the model predicts for the class (the simulator's
response time of a job through the broker, its consumers and whatever follows) is the
time to the end of that processing. So the measured series of such a model is built from
the system's end-to-end rows (the trace's ``E`` rows, written when a record leaves the
system: :func:`loadtest.series.records_log`), not from the clients' answers, and the
clients' 202 latency is only reported beside it.

:func:`check_broker_model` refuses what that series cannot measure as the model means
it, naming the field: a profile on a class that never reaches a broker (the run would not
exercise the broker at all); a client behaviour (timeouts, retries, hedges) on a class
through a broker (each attempt would be a separate record, the clients' request is what
the model's behaviour is about); a component at or after a broker that can lose a record
the broker already accepted (capacity with ``on_full: reject``, balking, patience, calls
that may fail), since no end-to-end row is written for it and its arrival time is not
known to the system afterwards. A full first broker refuses at publish, before accepting
(the client's 429): that is measured, as a loss.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from qmodel.model.model import Model

from .refsys.runtime import downstream_of_brokers
from .refsys.trace import TraceReader
from .samples import Samples
from .series import records_log, series_of

LOSING = (("capacity", lambda s: s.rejects), ("balk", lambda s: s.balk is not None),
          ("patience", lambda s: s.patience is not None), ("calls", lambda s: bool(s.calls)))
# Measured (docs/time-varying.md): a 3 s spike from 40/s to 200/s on a 10 ms consumer
# (seed 1) left 331 records and 9 s of recovery with Redis, 310 and 7 s embedded, against
# 263 and 6.4 s predicted; the consumer was idle 0.8 ms (mean) between records while its
# backlog was full.
REDIS_REFUSED = ("--broker redis: --shape on a broker runs the embedded backend only; with "
                 "Redis a consumer reads each record with a round trip outside its service "
                 "(0.8 ms a record measured under a backlog: 8% of a 10 ms consumer's "
                 "capacity), which the low-load calibration cannot see; use --broker "
                 "embedded")
MEASURES_RECORDS = ("records, end to end: from the gateway's receipt to the end of the last "
                    "component's processing (the system's trace), not the clients' 202")


def brokers_of(model: Model) -> list[str]:
    """The broker components of ``model``.

    >>> m = Model.from_dict({"nodes": {"t": {"kind": "broker", "partitions": 1,
    ...                      "consumers": 1, "service": "1ms"}},
    ...                      "arrivals": {"r": {"to": "t", "rate": "1/s"}}})
    >>> brokers_of(m)
    ['t']
    """
    return [name for name, node in model.spec.nodes.items() if node.kind == "broker"]


def check_broker_model(model: Model, backend: str = "embedded") -> None:
    """Raise ValueError, naming the field, for a broker model whose records' series
    cannot be measured as the model means it (see the module's docstring), and for the
    Redis backend (see :data:`REDIS_REFUSED`).

    >>> m = Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "1ms"},
    ...     "t": {"kind": "broker", "partitions": 1, "consumers": 1, "service": "1ms"}},
    ...     "arrivals": {
    ...     "web": {"to": "app", "rate": {"profile": "step", "from": 1, "to": 2, "at": 1}},
    ...     "r": {"to": "t", "rate": "1/s"}}})
    >>> try:
    ...     check_broker_model(m)
    ... except ValueError as exc:
    ...     print(str(exc)[:70])
    arrivals.web.rate: --shape on a model with a broker runs its profile t
    """
    if backend != "embedded":
        raise ValueError(REDIS_REFUSED)
    brokers = brokers_of(model)
    net = model.network
    downstream = downstream_of_brokers(model)
    behind = downstream | set(brokers)
    at_broker = [net.index[s.name] for s in net.stations if s.component in brokers]
    for c in net.open_classes:
        reaches = bool(np.any(net.visits(c.name)[at_broker] > 0))
        if c.profile is not None and not reaches:
            raise ValueError(
                f"arrivals.{c.name}.rate: --shape on a model with a broker runs its profile "
                f"through the broker, but class {c.name} never reaches "
                f"{', '.join('nodes.' + b for b in brokers)}; put the profile on a class "
                f"that does")
        given = [f for f in ("timeout", "retries", "hedge")
                 if c.client is not None and getattr(c.client, f) is not None]
        if reaches and given:
            raise ValueError(
                f"arrivals.{c.name}.{given[0]}: --shape on a broker measures each record "
                f"end to end, and a client's timeouts, retries or hedges make several "
                f"records of one request; remove {given[0]} to run its shape")
    for s in net.stations:
        if s.component not in behind:
            continue
        for field, loses in LOSING:
            # a first broker that is full refuses at publish: the client's 429, no record
            first = s.component in brokers and s.component not in downstream
            if loses(s) and not (first and field == "capacity"):
                raise ValueError(
                    f"nodes.{s.component}.{field}: --shape on a broker measures each record "
                    f"from the gateway to the end of its processing, and a record "
                    f"{s.component} drops after the broker accepted it leaves no such "
                    f"record; remove {field} to run its shape")


def records_series(run_dir: Path, samples: Samples, start: float, until: float,
                   edges: np.ndarray) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The measured series of a broker model's run (the system in ``run_dir``; records
    received in ``[start, until)``, bins ``edges`` from ``start``), the problems that
    make it unfit to compare (records accepted but never finished) and notes (the
    clients' 202 latency, the clients' own leg that the records' times leave out)."""
    trace = TraceReader(Path(run_dir) / "trace").frame()
    log = records_log(trace, samples, start, until)
    answered = (samples.status >= 200) & (samples.status < 300)
    problems = []
    if len(log.exits) != int(answered.sum()):
        problems.append(f"{int(answered.sum())} records were answered 2xx but "
                        f"{len(log.exits)} have an end-to-end row: the series is incomplete")
    notes = []
    accepted = samples.status == 202
    if accepted.any():
        client = (samples.done - samples.intended)[accepted]
        outside = (samples.done - samples.intended - samples.server_s)[accepted]
        notes.append(f"the clients' 202 answers (not compared): p95 "
                     f"{np.percentile(client, 95) * 1e3:.3g} ms; the clients' leg outside "
                     f"the gateway, not in the records' times: at most "
                     f"{np.percentile(outside, 50) * 1e3:.3g} ms (median), "
                     f"{np.percentile(outside, 99) * 1e3:.3g} ms (p99)")
    return series_of(log, edges), problems, notes
