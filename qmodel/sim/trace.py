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
