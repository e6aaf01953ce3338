"""The broker interface (a partitioned topic read by one consumer group) and the
embedded, in-process backend.

A message stays *pending* from delivery until it is acknowledged; a consumer that stops
acknowledging (it died) has its pending messages claimed by another after ``min_idle``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from .items import Item, StationFullError


@dataclass
class Message:
    id: str
    partition: int
    item: Item


class Broker(ABC):
    """A topic with ``partitions`` partitions and one consumer group.

    ``capacity`` bounds the messages published but not yet acknowledged; beyond it
    :meth:`publish` raises :class:`StationFullError`.
    """

    in_process = False  # publisher and consumers share this process (and its clock)
    # errors of a broker that is briefly away (a consumer retries its read on these)
    transient: tuple[type[Exception], ...] = ()

    def __init__(self, topic: str, partitions: int, capacity: int | None = None):
        self.topic = topic
        self.partitions = partitions
        self.capacity = capacity

    @abstractmethod
    async def publish(self, partition: int, item: Item) -> str:
        """Append an item; return its message id once it is stored."""

    @abstractmethod
    async def read(self, consumer: str, partitions: Sequence[int], count: int,
                   block_s: float) -> list[Message]:
        """Deliver new messages of ``partitions`` to ``consumer``, oldest first, waiting up
        to ``block_s`` for one: up to ``count`` (Redis: up to ``count`` per partition).
        Every message returned is pending for ``consumer`` until acknowledged."""

    @abstractmethod
    async def ack(self, messages: Sequence[Message]) -> None:
        """Acknowledge processed messages."""

    @abstractmethod
    async def claim(self, consumer: str, partitions: Sequence[int],
                    min_idle_s: float) -> list[Message]:
        """Take over messages of ``partitions`` pending for longer than ``min_idle_s``."""

    @abstractmethod
    async def backlog(self) -> int:
        """Messages published and not yet acknowledged."""


class EmbeddedBroker(Broker):
    """In-process broker: per-partition queues plus a pending table."""

    in_process = True

    def __init__(self, topic: str, partitions: int, capacity: int | None = None):
        super().__init__(topic, partitions, capacity)
        self._queues: list[deque[Message]] = [deque() for _ in range(partitions)]
        self._pending: dict[str, tuple[str, float, Message]] = {}
        self._ids = itertools.count(1)
        self._new = asyncio.Event()

    async def publish(self, partition: int, item: Item) -> str:
        if self.capacity is not None and await self.backlog() >= self.capacity:
            raise StationFullError(self.topic)
        message = Message(f"{next(self._ids)}", partition, item)
        self._queues[partition].append(message)
        self._new.set()
        return message.id

    async def read(self, consumer: str, partitions: Sequence[int], count: int,
                   block_s: float) -> list[Message]:
        deadline = time.monotonic() + block_s
        while True:
            heads = [(int(self._queues[p][0].id), p) for p in partitions if self._queues[p]]
            if heads:
                out = []
                while heads and len(out) < count:
                    heads.sort()
                    _, p = heads.pop(0)
                    message = self._queues[p].popleft()
                    self._pending[message.id] = (consumer, time.monotonic(), message)
                    out.append(message)
                    if self._queues[p]:
                        heads.append((int(self._queues[p][0].id), p))
                return out
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), remaining)
            except TimeoutError:
                return []

    async def ack(self, messages: Sequence[Message]) -> None:
        for message in messages:
            self._pending.pop(message.id, None)

    async def claim(self, consumer: str, partitions: Sequence[int],
                    min_idle_s: float) -> list[Message]:
        now, wanted, out = time.monotonic(), set(partitions), []
        for mid, (owner, since, message) in list(self._pending.items()):
            if message.partition in wanted and owner != consumer and now - since >= min_idle_s:
                self._pending[mid] = (consumer, now, message)
                out.append(message)
        return out

    async def backlog(self) -> int:
        return sum(len(q) for q in self._queues) + len(self._pending)
