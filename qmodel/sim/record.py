"""What one replication hands back: cumulative counters at checkpoints and kept samples.

Both engines (simpy and the fast path) fill the same record, so one summary serves both.
A counter row holds, at one instant, every cumulative counter of the run: the clock, the
system block, one block per station and one per class (layout in :class:`Layout`).
Statistics over any window ``[t1, t2]`` are differences of two rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .pools import CLIENT_FIELDS, POOL_FIELDS

SYSTEM_FIELDS = ("completions", "arrivals", "losses", "sum_resp", "area_jobs", "seen")
STATION_FIELDS = ("arrivals", "losses", "completions", "sum_resp", "sum_wait", "waited",
                  "area_n", "area_busy", "idle", "seen")
CLASS_FIELDS = ("completions", "sum_resp", "seen")
MAX_ROWS = 1024


HELD_FIELDS = ("reneged", "balked", "call_first", "call_attempts", "call_timeouts",
               "call_failures")
"""Per station: jobs that reneged, arrivals that balked, and its calls with a client
policy: first attempts, attempts, timed-out attempts and calls that gave up."""


class Layout:
    """Column positions in a counter row: ``time`` first, then system, stations, classes;
    for a model with behaviours (``pools`` given, maybe empty) then per class the client
    counters (:data:`.pools.CLIENT_FIELDS`), per station :data:`HELD_FIELDS`, per pool
    :data:`.pools.POOL_FIELDS`."""

    def __init__(self, stations: list[str], classes: list[str],
                 pools: list[str] | None = None):
        self.stations = list(stations)
        self.classes = list(classes)
        self.pools = pools
        self.system = 1
        self.station0 = self.system + len(SYSTEM_FIELDS)
        self.class0 = self.station0 + len(STATION_FIELDS) * len(stations)
        self.width = self.class0 + len(CLASS_FIELDS) * len(classes)
        self.client0 = self.width
        self.held0 = self.client0 + len(CLIENT_FIELDS) * len(classes)
        self.pool0 = self.held0 + len(HELD_FIELDS) * len(stations)
        if pools is not None:
            self.width = self.pool0 + len(POOL_FIELDS) * len(pools)

    def client(self, k: int, name: str) -> int:
        return self.client0 + len(CLIENT_FIELDS) * k + CLIENT_FIELDS.index(name)

    def held(self, i: int, name: str) -> int:
        return self.held0 + len(HELD_FIELDS) * i + HELD_FIELDS.index(name)

    def pool(self, j: int, name: str) -> int:
        return self.pool0 + len(POOL_FIELDS) * j + POOL_FIELDS.index(name)

    def sys(self, name: str) -> int:
        return self.system + SYSTEM_FIELDS.index(name)

    def st(self, i: int, name: str) -> int:
        return self.station0 + len(STATION_FIELDS) * i + STATION_FIELDS.index(name)

    def cl(self, k: int, name: str) -> int:
        return self.class0 + len(CLASS_FIELDS) * k + CLASS_FIELDS.index(name)


@dataclass
class Samples:
    """Kept observations (every ``stride``-th of the stream) and how many were seen."""

    values: np.ndarray
    stride: int

    def after(self, seen: float) -> np.ndarray:
        return self.values[-(-int(seen) // self.stride):]


@dataclass
class Replication:
    """The record of one replication.

    ``rows`` are counter rows at checkpoints (row 0 at time 0), ``final`` the row at the
    end, ``warm`` the row at a user-set warm-up (None for automatic MSER-5);
    ``batch_means`` are means of consecutive batches of ``batch_size`` end-to-end
    response times (completion order), for MSER. ``samples`` are response-time samples:
    the system first, then each station, then each class (layout order). ``makespan``
    is the time from the first batch's arrival until the last batch job left (None
    without batch classes, or when they had not finished). ``out_of_events``: the
    replication stopped at its event budget (:mod:`.budget`; then ``partial`` too).
    """

    rows: np.ndarray
    final: np.ndarray
    warm: np.ndarray | None
    batch_means: np.ndarray
    batch_size: int
    samples: list[Samples]
    partial: bool = False
    out_of_events: bool = False
    notes: list[str] = field(default_factory=list)
    makespan: float | None = None

