"""A worker process of the Redis backend: one broker consumer, or one station downstream
of a broker reading its input stream (``in-STATION``).

Items move between processes through Redis Streams with consumer groups: a message is
acknowledged only after the item was handed on (or stored), so a killed worker's pending
messages are claimed and processed again by its successor, and the stores' per-event
dedup makes that count once. While Redis restarts, a worker keeps reading (every
0.1 s) and beating until it answers again; an item it cannot hand on or acknowledge then
makes it exit (restarted by the supervisor), its input still pending. With ``--otel-dir`` its spans go to
``DIR/worker-STATION-PID.jsonl`` (:mod:`.otel`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

import redis.asyncio as aioredis

from qmodel.model.model import load

from ..redis_server import REDIS_URL_ENV
from .broker import Message
from .items import Item, StationFullError
from .probe import Probe
from .redis_broker import PREFIX, TRANSIENT, RedisBroker, redis_brokers, redis_client, retrying
from .runtime import Runtime
from .stations import RETRY_S
from .trace import TraceWriter

if TYPE_CHECKING:  # the OpenTelemetry SDK is imported only when tracing is on
    from .otel import Tracing

HEARTBEAT_S = 0.5
BLOCK_POLL_S = 0.002  # a blocked sender retries this often


class Worker:
    def __init__(self, model_path: str, station: str, run_dir: Path, redis_url: str | None,
                 seed: int, otel_dir: Path | None = None):
        self.model = load(model_path)
        self.station = self.model.network.station(station)
        self.run_dir = run_dir
        self.redis_url = redis_url
        self.seed = seed
        self.name = f"{station}@{os.getpid()}"
        self.trace = TraceWriter(run_dir / "trace", f"worker-{station}-{os.getpid()}")
        self.tracing: Tracing | None = None
        if otel_dir:
            from .otel import Tracing  # the SDK only when tracing is on
            self.tracing = Tracing(otel_dir, f"worker-{station}-{os.getpid()}")
        self.inputs: dict[str, Message] = {}
        self.stopping = asyncio.Event()
        self.faults: list[Exception] = []
        self.faulted = asyncio.Event()

    def fatal(self, exc: Exception) -> None:
        """An item could not be handed on (Redis gone): exit, be restarted, and let the
        successor take over what is pending here."""
        self.faults.append(exc)
        self.faulted.set()

    def topic(self, client: aioredis.Redis, station: str) -> RedisBroker:
        capacity = self.model.network.station(station).capacity
        return RedisBroker(client, f"in-{station}", 1, capacity, PREFIX)

    async def run(self) -> None:
        client = redis_client(self.redis_url)
        brokers = await redis_brokers(self.model, client)
        outputs: dict[str, RedisBroker] = {}

        async def remote(station: str, item: Item) -> None:
            """Hand an item to a station in another worker: its input stream is bounded
            by the station's ``capacity`` (the stream's backlog counter counts what is
            queued plus what the station holds until it hands it on); full, the item is
            rejected (recorded) or the sender blocks until there is room."""
            if station not in outputs:
                outputs[station] = self.topic(client, station)
                await outputs[station].create()
            target = self.model.network.station(station)
            item.t_enq = time.time()
            while True:
                try:  # while Redis restarts, retried (a duplicate counts once)
                    await retrying(lambda: outputs[station].publish(0, item))
                    return
                except StationFullError:
                    if target.on_full == "reject":
                        self.trace.rejected(item.id, item.cls, target.component, station)
                        raise
                    await asyncio.sleep(BLOCK_POLL_S)

        is_consumer = self.model.spec.nodes[self.station.component].kind == "broker"
        inbox = None if is_consumer else self.topic(client, self.station.name)
        settled = None if is_consumer else self._settle(inbox)
        runtime = Runtime(self.model, self.run_dir, self.trace, seed=self.seed,
                          hosted={self.station.name}, brokers=brokers, remote=remote,
                          settled=settled, tracing=self.tracing, fatal=self.fatal)
        runtime.build()
        for consumer in runtime.consumers:
            consumer.name = self.name
        await runtime.start()
        probe = Probe(self.trace, f"worker {self.station.name}")
        probe.start()
        tasks = [asyncio.create_task(self._heartbeat(client)),
                 asyncio.create_task(self._flush())]
        if inbox is not None:
            await inbox.create()
            tasks.append(asyncio.create_task(self._pull(inbox, runtime)))
        stop = asyncio.create_task(self.stopping.wait())
        faulted = asyncio.create_task(self.faulted.wait())
        await asyncio.wait([stop, faulted, *tasks, *runtime.consumer_tasks],
                           return_when=asyncio.FIRST_COMPLETED)
        failed = self.faults + [t.exception() for t in [*tasks, *runtime.consumer_tasks]
                                if t.done() and not t.cancelled() and t.exception() is not None]
        for task in tasks:
            task.cancel()
        if failed:  # a dead loop must not leave a live, deaf worker: exit, be restarted
            stop.cancel()
            await runtime.stop()
            raise failed[0]
        faulted.cancel()
        await probe.stop()
        left = await runtime.drain(5.0)
        await runtime.stop()
        (self.run_dir / f"shutdown-{self.name}.json").write_text(
            json.dumps({"worker": self.name, "unprocessed": left}))
        await client.delete(f"{PREFIX}:hb:{self.station.name}")
        await client.aclose()

    def _settle(self, inbox: RedisBroker):
        async def settled(item: Item) -> None:
            message = self.inputs.pop(item.id, None)
            if message is not None:
                try:
                    await inbox.ack([message])  # retried while Redis restarts
                except TRANSIENT as exc:  # unacknowledged: the successor redelivers it
                    self.fatal(exc)
                    raise
        return settled

    async def _pull(self, inbox: RedisBroker, runtime: Runtime) -> None:
        last_claim = 0.0
        while True:
            messages: list[Message] = []
            try:
                if time.monotonic() - last_claim > 3.0:
                    messages = await inbox.claim(self.name, [0], 3.0)
                    last_claim = time.monotonic()
                messages += await inbox.read(self.name, [0], 64, 0.5)
            except TRANSIENT:  # Redis restarts: read again soon
                await asyncio.sleep(RETRY_S)
                continue
            for message in messages:
                if message.item.id in self.inputs:
                    continue
                self.inputs[message.item.id] = message
                await runtime.receive(self.station.name, message.item)

    async def _heartbeat(self, client: aioredis.Redis) -> None:
        while True:
            with contextlib.suppress(*TRANSIENT):  # Redis restarts: beat again later
                await client.set(f"{PREFIX}:hb:{self.station.name}", os.getpid(),
                                 px=int(HEARTBEAT_S * 4000))
            await asyncio.sleep(HEARTBEAT_S)

    async def _flush(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            self.trace.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run one worker of the reference system.")
    parser.add_argument("--model", required=True)
    parser.add_argument("--station", required=True)
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--redis-url", default=None,
                        help=f"default: ${REDIS_URL_ENV} (keeps a password off the command line)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--otel-dir", type=Path, default=None, help="write spans here")
    args = parser.parse_args(argv)
    worker = Worker(args.model, args.station, Path(args.run_dir), args.redis_url, args.seed,
                    args.otel_dir)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stopping.set)
        try:
            await worker.run()
        finally:
            if worker.tracing is not None:
                worker.tracing.shutdown()

    asyncio.run(run())


if __name__ == "__main__":
    main()
