"""The reference system's parts driven directly, without a load run: primary/secondary
routing by what each shard holds, routing the system cannot follow rejected before
anything starts, and the micro-batch triggers of the model."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from loadtest.refsys.broker import EmbeddedBroker
from loadtest.refsys.items import Item
from loadtest.refsys.keys import weighted_index
from loadtest.refsys.runtime import Runtime, check_routing
from loadtest.refsys.stations import Batcher
from loadtest.refsys.supervisor import RefSystem
from loadtest.refsys.trace import TraceWriter
from qmodel import Model

from .conftest import write_model

pytestmark = pytest.mark.loadtest


def shards(routing: str, **extra) -> dict:
    return {"arrivals": {"web": {"to": "s", "rate": 10.0}},
            "nodes": {"s": {"kind": "shards", "shards": 2, "routing": routing,
                            "service": 0.1, **extra}}}


def item(n: int, primary: int) -> Item:
    """An item whose key hashes to member ``primary`` of two equal shards."""
    key = next(f"k{i}" for i in range(1000) if weighted_index(f"k{i}", (1.0, 1.0)) == primary)
    return Item(f"i{n}", "web", key, "a b", time.time())


@pytest.mark.parametrize("routing, held", [
    # primary idle: stays; primary busy, secondary idle: overflows; both busy: waits at
    # the primary; s-1's own item: its primary s-1 is busy and so is s-0
    ("primary_secondary", [[1, 0], [1, 1], [2, 1], [2, 2]]),
    ("hash", [[1, 0], [2, 0], [3, 0], [3, 1]]),                   # never overflows
])
def test_primary_secondary_overflows_only_when_the_primary_is_busy(tmp_path, routing, held):
    async def run() -> list[list[int]]:
        runtime = Runtime(Model.from_dict(shards(routing)), tmp_path,
                          TraceWriter(tmp_path / "trace", "test"))
        runtime.build()  # not started: whatever is sent stays where it was put
        seen = []
        for n, primary in enumerate([0, 0, 0, 1]):
            await runtime.send("s", item(n, primary))
            seen.append([runtime.parts[m].inside for m in ("s-0", "s-1")])
        return seen

    assert asyncio.run(run()) == held


BEHIND_BROKER = """
arrivals: {web: {to: topic, rate: 10/s}}
nodes:
  topic: {kind: broker, partitions: 2, consumers: 1, service: 1ms, next: s}
  s: {kind: shards, shards: 2, routing: ROUTING, service: 10ms}
"""


@pytest.mark.parametrize("routing", ["primary_secondary", "jsq"])
def test_occupancy_routing_behind_a_broker_needs_the_embedded_backend(tmp_path, routing):
    """With Redis each shard behind the broker is its own worker process: no sender can
    see what it holds, so the model is refused rather than routed by weights."""
    path = write_model(tmp_path, routing, BEHIND_BROKER.replace("ROUTING", routing))
    with pytest.raises(ValueError, match=rf"nodes\.s\.routing: {routing} .* separate worker"):
        RefSystem(str(path), backend="redis", run_dir=tmp_path / "redis")
    RefSystem(str(path), run_dir=tmp_path / "embedded")  # one process: accepted


def test_rebalancing_is_refused():
    model = Model.from_dict(shards("hash", rebalance=1.0))
    with pytest.raises(ValueError, match=r"nodes\.s\.rebalance"):
        check_routing(model, "embedded")


def test_a_sliding_window_is_refused():
    """The model solves and simulates windows; the system runs one batch per interval, so
    a windowed model is refused rather than validated against what it does not run."""
    model = Model.from_dict({
        "nodes": {"b": {"kind": "batcher", "interval": "200ms", "per_item": "1ms",
                        "window": "1s", "slide": "400ms"}},
        "arrivals": {"e": {"to": "b", "rate": "100/s"}}})
    with pytest.raises(ValueError, match=r"nodes\.b\.window: the reference system .* does "
                                         r"not run sliding windows"):
        check_routing(model, "embedded")


# -- micro-batch triggers ------------------------------------------------------------------


def batcher(tmp_path, **fields) -> tuple[Batcher, list[tuple[float, int]]]:
    """A batcher whose released batches are recorded as (``perf_counter`` time, size)."""
    model = Model.from_dict({"arrivals": {"a": {"to": "b", "rate": 1.0}},
                             "nodes": {"b": {"kind": "batcher", **fields}}})
    released = []

    async def work(batch: list[Item]) -> None:
        released.append((time.perf_counter(), len(batch)))

    async def after(batch: list[Item]) -> None:
        return None

    return Batcher(model.network.station("b"), TraceWriter(tmp_path / "trace", "test"),
                   np.random.default_rng(1), work, after), released


def test_batcher_lingers_from_its_first_item_or_fills(tmp_path):
    async def run(part: Batcher) -> tuple[float, float]:
        part.start()
        await asyncio.sleep(0.06)           # a clock ticking every 0.1 s would cut at 0.1
        first = time.perf_counter()
        await part.put(item(0, 0))
        await asyncio.sleep(0.05)
        await part.put(item(1, 0))          # joins the open batch; its linger runs on
        await asyncio.sleep(0.2)
        fill = time.perf_counter()
        for n in range(2, 5):               # three at once: released full, at once
            await part.put(item(n, 0))
        await asyncio.sleep(0.2)            # no linger left to release an empty batch
        await part.stop()
        return first, fill

    part, released = batcher(tmp_path, interval=0.1, batch_size=3)
    first, fill = asyncio.run(run(part))
    assert [size for _, size in released] == [2, 3]
    assert 0.095 < released[0][0] - first < 0.15           # 0.1 s after the first item
    assert released[1][0] - fill < 0.02


def test_batcher_with_an_interval_alone_runs_empty_batches(tmp_path):
    async def run(part: Batcher) -> float:
        start = time.perf_counter()
        part.start()
        await asyncio.sleep(0.23)
        await part.stop()
        return start

    part, released = batcher(tmp_path, interval=0.05, fixed=0.01)
    start = asyncio.run(run(part))
    sizes = [size for _, size in released]                  # ticks at 0.05 ... 0.2 s
    assert sizes in ([0, 0, 0, 0], [0, 0, 0])               # the last one may be late
    assert 0.045 < released[0][0] - start < 0.08


class FlakyBroker(EmbeddedBroker):
    """A broker that is away for its first ``down`` publishes (as Redis restarting)."""

    def __init__(self, down: int):
        super().__init__("topic", 1)
        self.down = down

    async def publish(self, partition: int, item: Item) -> str:
        if self.down > 0:
            self.down -= 1
            raise RedisConnectionError("Connection refused")
        return await super().publish(partition, item)


def test_a_failed_hand_on_fails_its_item_and_the_pool_goes_on(tmp_path):
    """Redis away while a pool hands on: those requests get the error, the pool's server
    serves the next items (it used to die with the first, leaving the station full)."""
    model = Model.from_dict({
        "arrivals": {"web": {"to": "ingest", "rate": 10.0}},
        "nodes": {"ingest": {"kind": "queue", "servers": 1, "service": 0.001, "capacity": 2,
                             "on_full": "reject", "next": "topic"},
                  "topic": {"kind": "broker", "partitions": 1, "consumers": 1,
                            "service": 0.001}}})

    async def run() -> list[str]:
        runtime = Runtime(model, tmp_path, TraceWriter(tmp_path / "trace", "test"),
                          hosted={"ingest"}, brokers={"topic": FlakyBroker(down=3)})
        runtime.build()
        await runtime.start()
        outcomes = []
        for n in range(6):
            try:
                outcome = await asyncio.wait_for(runtime.submit(item(n, 0)), 2.0)
                outcomes.append(outcome.status)
            except RedisConnectionError:
                outcomes.append("unavailable")
        assert runtime.in_flight() == 0 and runtime.parts["ingest"].inside == 0
        await runtime.stop()
        return outcomes

    assert asyncio.run(run()) == ["unavailable"] * 3 + ["accepted"] * 3
