from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from loadtest.refsys.broker import Broker, EmbeddedBroker
from loadtest.refsys.items import Item, StationFullError
from loadtest.refsys.redis_broker import MAX_DELIVERIES, RedisBroker, dead_letter_counts

pytestmark = pytest.mark.loadtest  # its own event loop and Redis: run with the load tests


def item(i: int) -> Item:
    return Item(f"e{i}", "events", f"k{i}", "a b c", 1000.0 + i, t_enq=1000.0 + i)


async def contract(broker: Broker) -> None:
    """The behaviour both backends share."""
    for i in range(6):
        await broker.publish(i % 3, item(i))
    assert await broker.backlog() == 6
    first = await broker.read("c1", [0, 1], 10, 0.1)
    assert [m.item.id for m in first] == ["e0", "e1", "e3", "e4"]  # oldest first
    await broker.ack(first[:2])
    assert await broker.backlog() == 4
    assert await broker.read("c1", [0, 1], 10, 0.05) == []
    # c1 "dies" with e3, e4 pending: c2 claims them once they are idle long enough
    assert await broker.claim("c2", [0, 1], 5.0) == []
    await asyncio.sleep(0.15)
    claimed = await broker.claim("c2", [0, 1], 0.1)
    assert sorted(m.item.id for m in claimed) == ["e3", "e4"]
    await broker.ack(claimed)
    rest = await broker.read("c2", [2], 10, 0.1)
    assert [m.item.id for m in rest] == ["e2", "e5"]
    assert rest[0].item == item(2)
    await broker.ack(rest)
    assert await broker.backlog() == 0


def test_embedded_broker_contract():
    asyncio.run(contract(EmbeddedBroker("topic", 3)))


def test_embedded_broker_rejects_beyond_capacity():
    async def run() -> None:
        broker = EmbeddedBroker("topic", 1, capacity=2)
        await broker.publish(0, item(0))
        await broker.publish(0, item(1))
        with pytest.raises(StationFullError):
            await broker.publish(0, item(2))

    asyncio.run(run())


def test_embedded_read_waits_for_a_message():
    async def run() -> list:
        broker = EmbeddedBroker("topic", 1)
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, lambda: asyncio.ensure_future(broker.publish(0, item(9))))
        return await broker.read("c", [0], 1, 2.0)

    assert [m.item.id for m in asyncio.run(run())] == ["e9"]


def test_redis_broker_contract(redis_server):
    async def run() -> None:
        client = aioredis.Redis.from_url(redis_server.url)
        broker = RedisBroker(client, "topic", 3, prefix="test")
        await broker.create()
        await broker.create()  # idempotent
        await contract(broker)
        await client.aclose()

    asyncio.run(run())


def test_redis_broker_capacity(redis_server):
    async def run() -> None:
        client = aioredis.Redis.from_url(redis_server.url)
        broker = RedisBroker(client, "small", 1, capacity=1, prefix="test")
        await broker.create()
        await broker.publish(0, item(0))
        with pytest.raises(StationFullError):
            await broker.publish(0, item(1))
        assert await broker.backlog() == 1
        await client.aclose()

    asyncio.run(run())


def test_redis_read_returns_everything_it_delivered(redis_server):
    """XREADGROUP's COUNT is per stream: a read of two partitions with count 1 delivers
    two messages, and both must come back (one dropped would sit pending for a claim)."""

    async def run() -> None:
        client = aioredis.Redis.from_url(redis_server.url)
        broker = RedisBroker(client, "two", 2, prefix="test")
        await broker.create()
        await broker.publish(0, item(0))
        await broker.publish(1, item(1))
        got = await broker.read("c", [0, 1], 1, 0.1)
        assert [m.item.id for m in got] == ["e0", "e1"]
        await broker.ack(got)
        await broker.ack(got)  # twice: counted once
        assert await broker.backlog() == 0
        await client.aclose()

    asyncio.run(run())


def test_redis_poison_entries_go_to_the_dead_letter_stream(redis_server):
    """An entry that is not an item is dead-lettered when read, one delivered more than
    MAX_DELIVERIES times (its consumers died) when claimed; the items around them are
    delivered, and the backlog counts only what was published as an item."""

    async def run() -> None:
        client = aioredis.Redis.from_url(redis_server.url)
        broker = RedisBroker(client, "poisoned", 1, prefix="test")
        await broker.create()
        await broker.publish(0, item(0))
        await client.xadd(broker.streams[0], {"item": b"not json"})
        await client.xadd(broker.streams[0], {"junk": b"1"})
        await client.xadd(broker.streams[0], {"item": b'{"id": 5}'})
        await broker.publish(0, item(1))
        got = await broker.read("c1", [0], 10, 0.1)
        assert [m.item.id for m in got] == ["e0", "e1"]
        assert await client.xlen(broker.dead) == 3
        assert await broker.backlog() == 2  # the poison was never counted
        await broker.ack(got[:1])
        # e1's consumers keep dying: claimed again and again, then buried
        for _ in range(MAX_DELIVERIES - 1):
            await asyncio.sleep(0.02)
            assert [m.item.id for m in await broker.claim("c2", [0], 0.01)] == ["e1"]
        await asyncio.sleep(0.02)
        assert await broker.claim("c3", [0], 0.01) == []
        assert await broker.backlog() == 0
        dead = await client.xrange(broker.dead)
        assert [f[b"reason"][:12] for _, f in dead[:3]] == [b"not an item:"] * 3
        assert dead[3][1][b"reason"].startswith(b"delivered 4 times")
        assert dead[3][1][b"field:item"] == got[1].item.to_json().encode()
        assert await dead_letter_counts(client, ["poisoned"]) == {"poisoned": 0}  # other prefix
        assert await client.xpending(broker.streams[0], broker.group) == {
            "pending": 0, "min": None, "max": None, "consumers": []}
        await client.aclose()

    asyncio.run(run())


def test_redis_server_requires_its_password(redis_server):
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=redis_server.port,
                    retry=Retry(NoBackoff(), 0)).ping()
    assert redis.Redis.from_url(redis_server.url).ping()
    assert redis_server.url.startswith(f"redis://:{redis_server.password}@127.0.0.1:")
