"""Items: the real records that travel through the system."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Item:
    """One record (``key``, ``payload``) of class ``cls``; ``t0`` is its event time
    (epoch seconds, taken when the gateway received it)."""

    id: str
    cls: str
    key: str
    payload: str
    t0: float
    data: dict[str, Any] = field(default_factory=dict)
    job: str | None = None      # fork/join: the job a task belongs to
    task: int = 0               # fork/join: task index within its job
    t_enq: float = 0.0          # when it entered its current station
    # W3C trace context of the span that last handed it on (:mod:`.otel`; empty when
    # tracing is off); a message's headers, so not in its JSON body
    headers: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        body = asdict(self)
        del body["headers"]
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Item:
        return cls(**json.loads(text))


class StationFullError(Exception):
    """A station was full and its ``on_full`` is ``reject`` (HTTP 429 at the gateway)."""

    def __init__(self, station: str):
        self.station = station
        super().__init__(f"{station} is full")


class BalkedError(StationFullError):
    """An arrival that did not join a station's queue (the model's ``balk``): refused
    like a full station (HTTP 429, retried as a rejection)."""

    def __init__(self, station: str):
        super().__init__(station)
        self.args = (f"{station}: balked (the queue was too long)",)


class RenegedError(StationFullError):
    """A job that waited in a station's queue longer than its ``patience`` and left."""

    def __init__(self, station: str):
        super().__init__(station)
        self.args = (f"{station}: left the queue (patience ran out)",)


class CallFailedError(Exception):
    """A synchronous call that did not return: timed out or refused on every attempt its
    ``retries`` allowed (HTTP 504 at the gateway)."""


class CancelledItemError(Exception):
    """An item withdrawn by its caller (``on_timeout: cancel``) before it was done."""
