"""The real work done per item: parsing, enriching, word counting, shuffling, reducing."""

from __future__ import annotations

import hashlib
import json
import random
import zlib
from collections import Counter

VOCABULARY = ("queue server arrival service batch stream shard broker window event key "
              "latency throughput utilization response wait join fork reduce map").split()


class BadRecordError(ValueError):
    """A request body that is not a record."""


def parse_event(body: bytes) -> tuple[str, str]:
    """Parse ``{"key": str, "payload": str}``; raise :class:`BadRecordError` (an empty
    body, not JSON, nested too deep for the parser, or not such an object).

    >>> parse_event(b'{"key": "k", "payload": "a b"}')
    ('k', 'a b')
    """
    if not body.strip():
        raise BadRecordError("empty body: send a JSON object {\"key\": ..., \"payload\": ...}")
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise BadRecordError(f"body is not JSON: {exc}") from None
    except RecursionError:
        raise BadRecordError("body is JSON nested too deep") from None
    if not isinstance(doc, dict):
        raise BadRecordError("body must be a JSON object")
    key, payload = doc.get("key", ""), doc.get("payload", "")
    if not isinstance(key, str) or not isinstance(payload, str) or len(key) > 200:
        raise BadRecordError("key and payload must be strings (key at most 200 characters)")
    return key or "default", payload


def enrich(payload: str) -> dict[str, object]:
    """Tokenize and fingerprint a payload."""
    words = payload.split()
    return {"words": len(words),
            "digest": hashlib.blake2b(payload.encode(), digest_size=8).hexdigest()}


def generate_partition(job_id: str, task: int, words: int = 4000) -> str:
    """A job's input partition: deterministic text (the same job id gives the same data)."""
    rng = random.Random(zlib.crc32(f"{job_id}/{task}".encode()))
    return " ".join(rng.choices(VOCABULARY, k=words))


def map_task(job_id: str, task: int) -> dict[str, int]:
    """Word count of one generated partition (CPU-bound: runs in a process pool)."""
    return dict(Counter(generate_partition(job_id, task).split()))


def shuffle(counts: list[dict[str, int]], reducers: int) -> list[list[dict[str, int]]]:
    """Route each word's counts to reducer ``hash(word) % reducers``."""
    out: list[list[dict[str, int]]] = [[] for _ in range(reducers)]
    for part in counts:
        buckets: list[dict[str, int]] = [{} for _ in range(reducers)]
        for word, n in part.items():
            buckets[zlib.crc32(word.encode()) % reducers][word] = n
        for r, bucket in enumerate(buckets):
            out[r].append(bucket)
    return out


def reduce(parts: list[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for part in parts:
        total.update(part)
    return dict(total)
