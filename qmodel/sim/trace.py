"""Per-visit traces: one row per job per component visit, to a DataFrame, CSV or Parquet."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from .jobs import Job

if TYPE_CHECKING:  # pandas loads when a table is built, not with the simulator
    import pandas as pd

COLUMNS = ("replication", "job", "task", "class", "node", "arrival_s", "start_s", "end_s",
           "lost")


class TraceRecorder:
    """Collects visit rows; ``replication`` is set by the caller before each run."""

    def __init__(self, classes: list[str]):
        self.classes = classes
        self.replication = 0
        self.rows: list[tuple] = []

    def visit(self, job: Job, node: str, arrival: float, start: float | None, end: float,
              lost: bool = False) -> None:
        self.rows.append((self.replication, job.id, job.task if job.task >= 0 else None,
                          self.classes[job.ci], node, arrival,
                          math.nan if start is None else start, end, lost))

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        df = pd.DataFrame(self.rows, columns=list(COLUMNS))
        df["task"] = df["task"].astype("Int64")
        return df


def write_trace(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a trace to ``.csv`` or ``.parquet`` (chosen by the file name)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    else:
        raise ValueError(f"trace: file name must end in .csv or .parquet, got {str(path)!r}")
    return path


PATH_HOPS = 12
"""The most stations a job's ``path`` spells out (then ``… (+N)``)."""


def per_job(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per job of a per-visit trace (``simulate(..., trace=True).trace``):
    ``replication``, ``job``, ``class``, ``arrival_s`` (its first arrival), ``end_s`` (its
    last departure), ``response_s``, ``visits``, ``wait_s`` (queueing over its visits),
    ``lost`` (any visit lost) and ``path`` (its stations in order; a fork's tasks are
    visits too), slowest first.

    >>> import pandas as pd
    >>> t = pd.DataFrame([(0, 1, None, "web", "app", 0.0, 0.5, 1.0, False),
    ...                   (0, 1, None, "web", "db", 1.0, 1.0, 3.0, False),
    ...                   (0, 2, None, "web", "app", 0.2, 1.0, 1.5, False)], columns=COLUMNS)
    >>> per_job(t)[["job", "response_s", "visits", "wait_s", "path"]].values.tolist()
    [[1, 3.0, 2, 0.5, 'app → db'], [2, 1.3, 1, 0.8, 'app']]
    """
    import numpy as np

    visits = frame.sort_values(["replication", "job", "arrival_s"], kind="stable")
    waits = (visits["start_s"] - visits["arrival_s"]).fillna(0.0)
    grouped = visits.assign(wait_s=waits).groupby(["replication", "job"], sort=False)
    jobs = grouped.agg(cls=("class", "first"), arrival_s=("arrival_s", "min"),
                       end_s=("end_s", "max"), visits=("node", "size"),
                       wait_s=("wait_s", "sum"), lost=("lost", "any"))
    jobs["path"] = grouped["node"].agg(_path)
    jobs["response_s"] = jobs["end_s"] - jobs["arrival_s"]
    jobs = jobs.reset_index().rename(columns={"cls": "class"})
    jobs = jobs[["replication", "job", "class", "arrival_s", "end_s", "response_s", "visits",
                 "wait_s", "lost", "path"]]
    order = np.argsort(-jobs["response_s"].to_numpy(), kind="stable")
    return jobs.iloc[order].reset_index(drop=True)


def _path(nodes: pd.Series) -> str:
    names = list(nodes)
    shown = " → ".join(names[:PATH_HOPS])
    return shown if len(names) <= PATH_HOPS else f"{shown} … (+{len(names) - PATH_HOPS})"
