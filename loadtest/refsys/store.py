"""Where results land: SQLite, one file per shard, WAL.

The stream path keeps windowed per-key aggregates (tumbling windows of event time);
each event is applied at most once (its id is recorded in the same transaction), so a
redelivered event never counts twice. The batch path stores each job's result.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .items import Item

WINDOW_S = 1.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS agg (
    window_start REAL, key TEXT, count INTEGER, words INTEGER,
    PRIMARY KEY (window_start, key));
CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, result TEXT, finished REAL);
"""


def shard_of(key: str, shards: int) -> int:
    """The shard that owns ``key`` (stable across processes and runs)."""
    return zlib.crc32(key.encode()) % shards


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(_SCHEMA)
    return conn


class ShardStore:
    """One shard file. Use it from one thread at a time."""

    def __init__(self, path: Path):
        self.path = path
        self.conn = connect(path)

    def apply(self, items: Iterable[Item]) -> int:
        """Add events to their windows' aggregates in one transaction; return how many
        were new."""
        new = 0
        cur = self.conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            for item in items:
                cur.execute("INSERT OR IGNORE INTO seen (id) VALUES (?)", (item.id,))
                if cur.rowcount != 1:
                    continue
                new += 1
                window = item.t0 - item.t0 % WINDOW_S
                cur.execute(
                    "INSERT INTO agg VALUES (?, ?, 1, ?) ON CONFLICT (window_start, key) "
                    "DO UPDATE SET count = count + 1, words = words + excluded.words",
                    (window, item.key, int(item.data.get("words", 0))))
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        return new

    def put_job(self, job_id: str, result: dict[str, Any], finished: float) -> None:
        self.conn.execute("INSERT OR REPLACE INTO jobs VALUES (?, ?, ?)",
                          (job_id, json.dumps(result), finished))

    def close(self) -> None:
        self.conn.close()


def read_totals(paths: Iterable[Path]) -> dict[str, int]:
    """Events counted in the aggregates and distinct events seen, over all shards."""
    counted = seen = 0
    for path in paths:
        if not path.exists():
            continue
        with sqlite3.connect(path, timeout=30) as conn:
            counted += conn.execute("SELECT COALESCE(SUM(count), 0) FROM agg").fetchone()[0]
            seen += conn.execute("SELECT COUNT(*) FROM seen").fetchone()[0]
    return {"events_counted": int(counted), "events_seen": int(seen)}


def read_key(paths: Iterable[Path], key: str) -> list[dict[str, Any]]:
    rows = []
    for path in paths:
        if not path.exists():
            continue
        with sqlite3.connect(path, timeout=30) as conn:
            rows += conn.execute("SELECT window_start, count, words FROM agg WHERE key = ? "
                                 "ORDER BY window_start", (key,)).fetchall()
    return [{"window_start": w, "count": c, "words": n} for w, c, n in rows]


def read_job(path: Path, job_id: str) -> dict[str, Any] | None:
    if not path.exists():
        return None
    with sqlite3.connect(path, timeout=30) as conn:
        row = conn.execute("SELECT result, finished FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return None if row is None else {"id": job_id, "result": json.loads(row[0]),
                                     "finished": row[1]}
