"""The Redis Streams backend: one stream per partition, one consumer group, XACK on
success and XAUTOCLAIM to take over a dead consumer's pending entries.

An entry's fields are ``item`` (its JSON) and the item's ``headers`` (the W3C trace
context when tracing is on), as a message's headers beside its body."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from .broker import Broker, Message
from .items import Item, StationFullError

if TYPE_CHECKING:
    from qmodel.model.model import Model

PREFIX = "refsys"  # every key of the reference system in Redis starts with this

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


class RedisBroker(Broker):
    """A topic on Redis; the backlog counter makes ``capacity`` cheap to enforce."""

    def __init__(self, client: aioredis.Redis, topic: str, partitions: int,
                 capacity: int | None = None, prefix: str = "refsys"):
        super().__init__(topic, partitions, capacity)
        self.client = client
        self.group = topic
        self.streams = [f"{prefix}:{topic}:{p}" for p in range(partitions)]
        self.counter = f"{prefix}:{topic}:backlog"
        self._ack = client.register_script(_ACK)

    async def create(self) -> None:
        """Create the streams and the group (idempotent)."""
        for stream in self.streams:
            try:
                await self.client.xgroup_create(stream, self.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def publish(self, partition: int, item: Item) -> str:
        if self.capacity is not None:
            if await self.client.incr(self.counter) > self.capacity:
                await self.client.decr(self.counter)
                raise StationFullError(self.topic)
            mid = await self.client.xadd(self.streams[partition], _fields(item))
        else:
            pipe = self.client.pipeline(transaction=True)
            pipe.xadd(self.streams[partition], _fields(item))
            pipe.incr(self.counter)
            mid, _ = await pipe.execute()
        return mid.decode()

    def _messages(self, stream: bytes | str, entries) -> list[Message]:
        name = stream.decode() if isinstance(stream, bytes) else stream
        partition = self.streams.index(name)
        return [Message(mid.decode(), partition, _item(fields)) for mid, fields in entries
                if fields]

    async def read(self, consumer: str, partitions: Sequence[int], count: int,
                   block_s: float) -> list[Message]:
        streams = {self.streams[p]: ">" for p in partitions}
        reply = await self.client.xreadgroup(self.group, consumer, streams, count=count,
                                             block=max(1, int(block_s * 1000)))
        out: list[Message] = []
        for stream, entries in reply or []:
            out += self._messages(stream, entries)
        # Oldest first across partitions: by publish time, then stream id. All of them:
        # XREADGROUP's COUNT is per stream, and whatever it returned is now pending for
        # this consumer; one left out here would wait for a claim (seconds) to be served.
        out.sort(key=lambda m: (m.item.t_enq, tuple(int(x) for x in m.id.split("-"))))
        return out

    async def ack(self, messages: Sequence[Message]) -> None:
        """XACK the messages and take what was acknowledged off the backlog counter, in
        one script that Redis runs whole: a consumer killed between the two steps would
        otherwise leave the counter above the streams' real backlog for good. A message
        acknowledged twice (redelivered after a claim) counts once."""
        if not messages:
            return
        keys = [self.counter, *(self.streams[m.partition] for m in messages)]
        await self._ack(keys=keys, args=[self.group, *(m.id for m in messages)])

    async def claim(self, consumer: str, partitions: Sequence[int],
                    min_idle_s: float) -> list[Message]:
        out: list[Message] = []
        for p in partitions:
            start = "0-0"
            while True:
                reply = await self.client.xautoclaim(self.streams[p], self.group, consumer,
                                                     int(min_idle_s * 1000), start, count=100)
                start, entries = reply[0], reply[1]
                out += self._messages(self.streams[p], entries)
                if start in (b"0-0", "0-0"):
                    break
        return out

    async def backlog(self) -> int:
        return int(await self.client.get(self.counter) or 0)


def _fields(item: Item) -> dict[str, str]:
    return {**item.headers, "item": item.to_json()}


def _item(fields: dict[bytes, bytes]) -> Item:
    item = Item.from_json(fields[b"item"])
    item.headers = {k.decode(): v.decode() for k, v in fields.items() if k != b"item"}
    return item


async def redis_brokers(model: Model, client: aioredis.Redis) -> dict[str, RedisBroker]:
    """A :class:`RedisBroker` per broker component of the model (streams created)."""
    brokers = {}
    for name, node in model.spec.nodes.items():
        if node.kind == "broker":
            brokers[name] = RedisBroker(client, name, node.partitions, node.capacity, PREFIX)
            await brokers[name].create()
    return brokers
