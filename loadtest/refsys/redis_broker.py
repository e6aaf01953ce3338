"""The Redis Streams backend: one stream per partition, one consumer group, XACK on
success and XAUTOCLAIM to take over a dead consumer's pending entries.

An entry's fields are ``item`` (its JSON) and the item's ``headers`` (the W3C trace
context when tracing is on), as a message's headers beside its body.

Poison: an entry that is not an item is moved to the topic's dead-letter stream
(``PREFIX:TOPIC:dead``, with the reason) when it is read, and so is one claimed after
``MAX_DELIVERIES`` deliveries (each consumer that took it died before acknowledging
it); either way it is acknowledged, so its consumers keep going."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..redis_server import REDIS_URL_ENV
from .broker import Broker, Message
from .items import Item, StationFullError

if TYPE_CHECKING:
    from qmodel.model.model import Model

T = TypeVar("T")
PREFIX = "refsys"  # every key of the reference system in Redis starts with this
MAX_DELIVERIES = 3  # a message claimed after this many deliveries is dead-lettered
DEAD_MAXLEN = 10_000  # a dead-letter stream keeps about this many entries

# KEYS: the backlog counter, then each message's stream; ARGV: the group, then the ids.
_ACK = """
local acked = 0
for i = 2, #KEYS do
    acked = acked + redis.call('XACK', KEYS[i], ARGV[1], ARGV[i])
end
if acked > 0 then
    redis.call('DECRBY', KEYS[1], acked)
end
return acked
"""


# KEYS: the backlog counter, the stream; ARGV: the capacity, then the entry's fields and
# values. Nil when full.
_PUBLISH = """
if redis.call('INCR', KEYS[1]) > tonumber(ARGV[1]) then
    redis.call('DECR', KEYS[1])
    return false
end
return redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
"""

# KEYS: the backlog counter, the stream, the dead-letter stream; ARGV: the group, the id,
# "1" when the entry was counted in the backlog (published as an item), the dead-letter
# stream's MAXLEN, then the dead-letter entry's fields and values.
_DEAD = """
local acked = redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
if acked > 0 then
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', unpack(ARGV, 5))
    if ARGV[3] == '1' then
        redis.call('DECRBY', KEYS[1], acked)
    end
end
return acked
"""


# Redis gone (restarting) or not answering: a read is retried, a write fails its item
TRANSIENT: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError, OSError)


def redis_client(url: str | None) -> aioredis.Redis:
    """A client of the system's Redis (``url`` None: ``$QMODEL_REDIS_URL``, which the
    supervisor sets) that fails fast while Redis is gone rather than hanging, and
    reconnects on its next command once it is back."""
    url = url or os.environ.get(REDIS_URL_ENV)
    if not url:
        raise ValueError(f"the Redis backend needs a URL (set {REDIS_URL_ENV})")
    return aioredis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=10.0)


RETRY_FOR_S = 30.0  # how long an idempotent write is retried while Redis is away


async def retrying(call: Callable[[], Awaitable[T]], for_s: float = RETRY_FOR_S) -> T:
    """``await call()``, again every 0.1 s while it fails with a ``TRANSIENT`` error,
    for up to ``for_s`` (then the error is raised)."""
    deadline = time.monotonic() + for_s
    while True:
        try:
            return await call()
        except TRANSIENT:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def wait_for_redis(client: aioredis.Redis, timeout_s: float = 30.0) -> None:
    """Wait until Redis answers (a process started while it restarts waits for it
    instead of dying again); raise the last error after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            await client.ping()
            return
        except (RedisError, OSError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


def dead_stream(topic: str, prefix: str = PREFIX) -> str:
    """The dead-letter stream of ``topic``.

    >>> dead_stream("topic")
    'refsys:topic:dead'
    """
    return f"{prefix}:{topic}:dead"


async def dead_letter_counts(client: aioredis.Redis, topics: Sequence[str]) -> dict[str, int]:
    """Entries in each topic's dead-letter stream."""
    return {topic: int(await client.xlen(dead_stream(topic))) for topic in topics}


class RedisBroker(Broker):
    """A topic on Redis; the backlog counter makes ``capacity`` cheap to enforce."""

    transient = TRANSIENT

    def __init__(self, client: aioredis.Redis, topic: str, partitions: int,
                 capacity: int | None = None, prefix: str = "refsys"):
        super().__init__(topic, partitions, capacity)
        self.client = client
        self.group = topic
        self.streams = [f"{prefix}:{topic}:{p}" for p in range(partitions)]
        self.counter = f"{prefix}:{topic}:backlog"
        self.dead = dead_stream(topic, prefix)
        self._ack = client.register_script(_ACK)
        self._dead = client.register_script(_DEAD)
        self._publish = client.register_script(_PUBLISH)

    async def create(self) -> None:
        """Create the streams and the group (idempotent)."""
        for stream in self.streams:
            try:
                await self.client.xgroup_create(stream, self.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def publish(self, partition: int, item: Item) -> str:
        if self.capacity is not None:  # counted and appended in one script: a connection
            # lost between the two steps would leave the counter one too high for good
            args = [self.capacity]
            for key, value in _fields(item).items():
                args += [key, value]
            mid = await self._publish(keys=[self.counter, self.streams[partition]], args=args)
            if mid is None:
                raise StationFullError(self.topic)
        else:
            pipe = self.client.pipeline(transaction=True)
            pipe.xadd(self.streams[partition], _fields(item))
            pipe.incr(self.counter)
            mid, _ = await pipe.execute()
        return mid.decode()

    async def _messages(self, stream: bytes | str, entries,
                        claimed: bool = False) -> list[Message]:
        """The entries as messages; those that are not items, and (``claimed``) those
        delivered more than ``MAX_DELIVERIES`` times, go to the dead-letter stream."""
        name = stream.decode() if isinstance(stream, bytes) else stream
        partition = self.streams.index(name)
        out = []
        for mid, fields in entries:
            if not fields:  # deleted (trimmed) while pending
                continue
            try:
                item = _item(fields)
            except (KeyError, ValueError, TypeError, RecursionError) as exc:
                await self._bury(name, mid, fields, f"not an item: {exc!r}"[:300], 1, False)
                continue
            if claimed:
                deliveries = await self._deliveries(name, mid)
                if deliveries > MAX_DELIVERIES:
                    await self._bury(name, mid, fields, f"delivered {deliveries} times, "
                                     "never acknowledged", deliveries, True)
                    continue
            out.append(Message(mid.decode(), partition, item))
        return out

    async def _deliveries(self, stream: str, mid: bytes) -> int:
        pending = await self.client.xpending_range(stream, self.group, min=mid, max=mid,
                                                   count=1)
        return int(pending[0]["times_delivered"]) if pending else 0

    async def _bury(self, stream: str, mid: bytes, fields: dict, reason: str,
                    deliveries: int, counted: bool) -> None:
        """Move an entry to the dead-letter stream and acknowledge it (in one script)."""
        args = [self.group, mid, "1" if counted else "0", DEAD_MAXLEN, "stream", stream,
                "id", mid, "reason", reason, "deliveries", deliveries]
        for key, value in fields.items():
            args += [b"field:" + key, value]
        await self._dead(keys=[self.counter, stream, self.dead], args=args)

    async def read(self, consumer: str, partitions: Sequence[int], count: int,
                   block_s: float) -> list[Message]:
        streams = {self.streams[p]: ">" for p in partitions}
        reply = await self.client.xreadgroup(self.group, consumer, streams, count=count,
                                             block=max(1, int(block_s * 1000)))
        out: list[Message] = []
        for stream, entries in reply or []:
            out += await self._messages(stream, entries)
        # Oldest first across partitions: by publish time, then stream id. All of them:
        # XREADGROUP's COUNT is per stream, and whatever it returned is now pending for
        # this consumer; one left out here would wait for a claim (seconds) to be served.
        out.sort(key=lambda m: (m.item.t_enq, tuple(int(x) for x in m.id.split("-"))))
        return out

    async def ack(self, messages: Sequence[Message]) -> None:
        """XACK the messages and take what was acknowledged off the backlog counter, in
        one script that Redis runs whole: a consumer killed between the two steps would
        otherwise leave the counter above the streams' real backlog for good. A message
        acknowledged twice (redelivered after a claim) counts once, so while Redis
        restarts this is retried (up to ``RETRY_FOR_S``)."""
        if not messages:
            return
        keys = [self.counter, *(self.streams[m.partition] for m in messages)]
        await retrying(lambda: self._ack(keys=keys, args=[self.group,
                                                           *(m.id for m in messages)]))

    async def claim(self, consumer: str, partitions: Sequence[int],
                    min_idle_s: float) -> list[Message]:
        out: list[Message] = []
        for p in partitions:
            start = "0-0"
            while True:
                reply = await self.client.xautoclaim(self.streams[p], self.group, consumer,
                                                     int(min_idle_s * 1000), start, count=100)
                start, entries = reply[0], reply[1]
                out += await self._messages(self.streams[p], entries, claimed=True)
                if start in (b"0-0", "0-0"):
                    break
        return out

    async def backlog(self) -> int:
        return int(await self.client.get(self.counter) or 0)


def _fields(item: Item) -> dict[str, str]:
    return {**item.headers, "item": item.to_json()}


def _item(fields: dict[bytes, bytes]) -> Item:
    """The item of an entry; raise (KeyError, ValueError, TypeError, RecursionError)
    for an entry that is not one."""
    item = Item.from_json(fields[b"item"])
    if not (all(isinstance(v, str) for v in (item.id, item.cls, item.key, item.payload))
            and isinstance(item.t0, (int, float)) and isinstance(item.data, dict)):
        raise TypeError("an item's id, cls, key, payload are strings, t0 a number")
    item.headers = {k.decode(): v.decode() for k, v in fields.items() if k != b"item"}
    return item


async def redis_brokers(model: Model, client: aioredis.Redis) -> dict[str, RedisBroker]:
    """A :class:`RedisBroker` per broker component of the model (streams created), once
    Redis answers."""
    await wait_for_redis(client)
    brokers = {}
    for name, node in model.spec.nodes.items():
        if node.kind == "broker":
            brokers[name] = RedisBroker(client, name, node.partitions, node.capacity, PREFIX)
            await brokers[name].create()
    return brokers
