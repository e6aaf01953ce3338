"""Per-item timing rows, one tab-separated line each, in one file per process.

Every process of the system appends to ``RUN_DIR/trace/NAME.tsv``; the gateway tails all
of them to answer ``/metrics``. Files survive a ``kill -9`` (at most a partial last line,
which the reader leaves until it is complete).

Columns: ``kind id cls component station enqueue start end target service`` where kind is
``S`` (one service at a station), ``E`` (end to end: event time to processed time) or
``R`` (rejected at a station). Times are epoch seconds, durations seconds. Kind ``L`` is a
sample of a process's health (:mod:`.probe`): ``id`` the process, ``cls`` the cores it
used, ``component`` its run-queue wait per wake-up (s), ``target`` the event loop's lag
(s), ``service`` its run-queue wait (s per s).

The OpenTelemetry spans (:mod:`.otel`, off by default) carry the same service times (a
visit span's start and end are its row's, the draw is its ``qmodel.target_service_s``),
but they cannot stand in for these rows: validation reads every row live (the gateway
tails the files for ``/metrics``) while spans leave in batches up to a second late, are
dropped when the exporter's queue is full and lost with a killed process; the health
samples (``L``) are no item's spans (a rejection, ``R``, is only a hand-off span's error
status); and tracing must stay off to measure the system without its cost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported when a frame is read (workers never do)
    import pandas as pd

COLUMNS = ("kind", "id", "cls", "component", "station", "enqueue", "start", "end",
           "target", "service")
FLOATS = COLUMNS[5:]


class TraceWriter:
    """Buffers rows and appends them to this process's trace file."""

    def __init__(self, directory: Path, name: str):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{name}.tsv"
        self._rows: list[str] = []

    def service(self, item_id: str, cls: str, component: str, station: str, enqueue: float,
                start: float, end: float, target: float, service: float) -> None:
        self._rows.append(f"S\t{item_id}\t{cls}\t{component}\t{station}\t{enqueue:.6f}\t"
                          f"{start:.6f}\t{end:.6f}\t{target:.6f}\t{service:.6f}\n")

    def end_to_end(self, item_id: str, cls: str, t0: float, end: float) -> None:
        self._rows.append(f"E\t{item_id}\t{cls}\t\t\t{t0:.6f}\t{t0:.6f}\t{end:.6f}\t0\t0\n")

    def rejected(self, item_id: str, cls: str, component: str, station: str) -> None:
        now = time.time()
        self._rows.append(f"R\t{item_id}\t{cls}\t{component}\t{station}\t{now:.6f}\t"
                          f"{now:.6f}\t{now:.6f}\t0\t0\n")

    def probe(self, process: str, at: float, loop_lag_s: float, runqueue_wait: float,
              cpu: float, wait_per_wakeup_s: float) -> None:
        self._rows.append(f"L\t{process}\t{cpu:.4f}\t{wait_per_wakeup_s:.7f}\t{process}\t"
                          f"{at:.6f}\t{at:.6f}\t{at:.6f}\t{loop_lag_s:.6f}\t"
                          f"{runqueue_wait:.6f}\n")

    def flush(self) -> None:
        if not self._rows:
            return
        rows, self._rows = self._rows, []
        with open(self.path, "a", encoding="utf-8") as f:
            f.write("".join(rows))


@dataclass
class TraceReader:
    """Tails every trace file in a directory; :meth:`frame` returns all rows so far."""

    directory: Path
    _offsets: dict[Path, int] = field(default_factory=dict)
    _rows: list[list[str]] = field(default_factory=list)

    def poll(self) -> None:
        for path in sorted(self.directory.glob("*.tsv")):
            offset = self._offsets.get(path, 0)
            with open(path, "rb") as f:
                f.seek(offset)
                chunk = f.read()
            end = chunk.rfind(b"\n") + 1
            if end == 0:
                continue
            for line in chunk[:end].decode("utf-8").splitlines():
                parts = line.split("\t")
                if len(parts) == len(COLUMNS):
                    self._rows.append(parts)
            self._offsets[path] = offset + end

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        self.poll()
        df = pd.DataFrame(self._rows, columns=list(COLUMNS))
        for column in FLOATS:
            df[column] = df[column].astype(float)
        return df
