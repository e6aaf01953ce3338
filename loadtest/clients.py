"""What the load generator's clients did, per request: the model's ``timeout``,
``retries`` and ``hedge`` of an open class, played by :mod:`loadtest.locustfile`.

Each locust process with a client spec writes ``SAMPLES.clients.csv`` beside its samples:
one row per request (a first attempt and whatever followed it) with its intended send
time, the attempts sent (retries and hedged copies included), the attempts that timed
out, those refused (429) and whether it succeeded in the end. :func:`client_stats` turns
the rows of a window into goodput and retry amplification.

>>> rows = [ClientRow(0.5, 1, 0, 0, True), ClientRow(1.5, 3, 2, 0, True),
...         ClientRow(2.5, 3, 3, 0, False)]
>>> s = client_stats(rows, 0.0, 3.0)
>>> s["goodput_per_s"], s["amplification"], s["timeouts"]
(0.6666666666666666, 2.3333333333333335, 5)
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qmodel.results import Result

from .compare import Row, rel

HEADER = ("intended", "attempts", "timeouts", "rejects", "ok")


@dataclass(frozen=True)
class ClientRow:
    """One request as its client saw it."""

    intended: float
    attempts: int
    timeouts: int
    rejects: int
    ok: bool


def clients_path(samples_out: str | Path) -> Path:
    return Path(f"{samples_out}.clients.csv")


def write_client_rows(path: Path, rows: list[ClientRow]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows((f"{r.intended:.6f}", r.attempts, r.timeouts, r.rejects, int(r.ok))
                         for r in rows)


def read_client_rows(samples_out: str | Path) -> list[ClientRow]:
    """The client rows of a run (``SAMPLES.clients.csv`` and every worker's)."""
    base = Path(samples_out)
    rows = []
    for path in sorted(base.parent.glob(base.name + "*.clients.csv")):
        with open(path, newline="") as f:
            reader = csv.reader(f)
            next(reader, None)
            rows += [ClientRow(float(a), int(b), int(c), int(d), d_ok == "1")
                     for a, b, c, d, d_ok in reader]
    return rows


def client_stats(rows: list[ClientRow], since: float, until: float) -> dict[str, Any]:
    """Per class over the requests first sent in ``[since, until)``: requests (first
    attempts), attempts, successes, timeouts, rejections, failures (requests that never
    succeeded), goodput (successes per second) and retry amplification (attempts per
    request)."""
    inside = [r for r in rows if since <= r.intended < until]
    n = len(inside)
    ok = sum(r.ok for r in inside)
    attempts = sum(r.attempts for r in inside)
    return {"requests": n, "attempts": attempts, "successes": ok,
            "timeouts": sum(r.timeouts for r in inside),
            "rejections": sum(r.rejects for r in inside), "failures": n - ok,
            "goodput_per_s": ok / (until - since) if until > since else None,
            "offered_per_s": n / (until - since) if until > since else None,
            "amplification": attempts / n if n else None}


def write_client_spec(path: Path, spec: dict[str, Any]) -> Path:
    """The client spec (:func:`loadtest.retrying.client_spec`, hedge resolved to
    seconds) as the JSON file locust reads (``--client-file``)."""
    path.write_text(json.dumps(spec))
    return path


CLIENT_METRICS = {"goodput_per_s": "goodput", "amplification": "retry_amplification"}
"""The client figures compared with the model per class: measured key -> the predicted
:class:`qmodel.results.ClientResult` field. Gated at the tolerance."""


def client_rows(measured: dict[str, dict[str, Any]], predicted: Result | None,
                tolerance: float) -> list[Row]:
    """Rows ``CLASS (client)``: measured goodput and retry amplification per class,
    against ``predicted``'s class clients (a simulation of the model's behaviours; None,
    or a result without them: not compared).

    >>> [r.metric for r in client_rows({"web": {"goodput_per_s": 9.0,
    ...                                         "amplification": 1.2}}, None, 0.1)]
    ['goodput_per_s', 'amplification']
    """
    rows = []
    for cls, stats in measured.items():
        klass = predicted.classes.get(cls) if predicted is not None else None
        client = klass.client if klass is not None else None
        for metric, field in CLIENT_METRICS.items():
            value = getattr(client, field) if client is not None else None
            model = None if value is None else float(value)
            error = rel(stats.get(metric), model)
            rows.append(Row(f"{cls} (client)", metric, stats.get(metric), model, None, error,
                            None, None if error is None else abs(error) <= tolerance,
                            gate=model is not None))
    return rows
