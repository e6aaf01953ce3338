"""Builds the working parts of one process from a model and moves items between them.

The same :class:`Runtime` runs in the gateway (every station, or with the Redis backend
those upstream of a broker) and in each worker process (one hosted part). Routing follows
the model: probabilities per class, shards by key hash (or round robin, random, join the
shortest queue, primary/secondary), broker partitions by key hash to the partition's
owner. :func:`check_routing` rejects what the system cannot route as the model says.
With tracing on, every hand-off (:meth:`Runtime.send`) is a span (:mod:`.otel`).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
import zlib
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qmodel.model.check import next_of
from qmodel.model.model import Model
from qmodel.model.network import Router, Station

from . import work as real
from .broker import Broker, EmbeddedBroker, Message
from .held import Held, check_behaviours
from .items import Item, StationFullError
from .keys import weighted_index
from .stations import Batcher, Consumer, Join, Pool, split
from .store import ShardStore, shard_of
from .trace import TraceWriter

if TYPE_CHECKING:  # the OpenTelemetry SDK is imported only when tracing is on
    from .otel import Tracing

BATCH_STORE_SHARDS = 4
REDUCERS = 4
ROUTING = ("partition", "hash", "random", "round_robin", "jsq", "primary_secondary")
BY_OCCUPANCY = ("jsq", "primary_secondary")  # need what each member holds
UNTRACED = nullcontext()  # the hand-off "span" with tracing off (reusable, no cost)


def downstream_of_brokers(model: Model) -> set[str]:
    """Components reachable from a broker: with the Redis backend they run in workers."""
    graph = model.graph
    out: set[str] = set()
    for name, node in model.spec.nodes.items():
        if node.kind == "broker":
            stack = list(graph.successors(name))
            while stack:
                current = stack.pop()
                if current not in out:
                    out.add(current)
                    stack.extend(graph.successors(current))
    return out


def worker_stations(model: Model) -> list[str]:
    """Stations that run in worker processes with the Redis backend: broker consumers and
    every station downstream of a broker. A join runs in its fork's process (the tasks
    of a job meet there), so it has no worker of its own."""
    downstream = downstream_of_brokers(model)
    return [s.name for s in model.network.stations
            if (s.component in downstream or model.spec.nodes[s.component].kind == "broker")
            and s.kind != "join"]


def check_routing(model: Model, backend: str) -> None:
    """Raise ValueError, naming the model field, for what this system would not do as the
    model says: a batcher's ``window`` (not run here), a routing policy it does not know,
    ``rebalance`` (never implemented here), and
    with the Redis backend ``jsq`` or ``primary_secondary`` behind a broker, whose members
    each run in their own worker process where no sender can see what they hold."""
    remote = downstream_of_brokers(model) if backend == "redis" else set()
    check_behaviours(model, backend)  # calls, pools, patience, balking (held.py)
    for name, node in model.spec.nodes.items():
        if node.kind == "batcher" and node.window is not None:
            raise ValueError(f"nodes.{name}.window: the reference system closes one batch "
                             f"per interval and does not run sliding windows; remove window "
                             f"and slide to run this model")
    for name, router in model.network.routers.items():
        if router.policy not in ROUTING:
            raise ValueError(f"nodes.{name}.routing: {router.policy!r} is not supported by "
                             f"the reference system (supported: {', '.join(ROUTING)})")
        if router.rebalance is not None:
            raise ValueError(f"nodes.{name}.rebalance: the reference system does not move "
                             f"waiting jobs between members; remove it to run this model")
        if router.policy in BY_OCCUPANCY and name in remote:
            raise ValueError(
                f"nodes.{name}.routing: {router.policy} picks a member by what each holds, "
                f"but with the Redis backend the members of {name} (behind a broker) run in "
                f"separate worker processes; use the embedded backend or hash, random or "
                f"round_robin routing")


@dataclass
class Outcome:
    """How a request ended: ``done`` (left the system) or ``accepted`` (a broker has it)."""

    status: str
    item: Item


class Runtime:
    """The parts hosted by this process. ``hosted`` limits them to these component or
    station names (None: all); ``brokers`` gives a backend per broker component
    (default: embedded); ``remote`` sends to a station hosted elsewhere (a worker's
    stations are then fed by a Redis stream); ``settled`` is called when a hosted part
    has handed an item on; ``tracing`` (None: off) records spans; ``fatal`` (a worker's)
    is called when an item could not be handed on (then the error propagates and nothing
    is acknowledged; None: the item fails, its request gets the error)."""

    def __init__(self, model: Model, run_dir: Path, trace: TraceWriter, *, seed: int = 0,
                 hosted: set[str] | None = None, brokers: dict[str, Broker] | None = None,
                 remote: Callable[[str, Item], Awaitable[None]] | None = None,
                 settled: Callable[[Item], Awaitable[None]] | None = None,
                 tracing: Tracing | None = None,
                 fatal: Callable[[Exception], None] | None = None):
        self.model = model
        self.net = model.network
        self.run_dir = run_dir
        self.trace = trace
        self.tracing = tracing
        self.seed = seed
        self.hosted = hosted
        self.remote = remote
        self.settled = settled
        self.fatal = fatal
        self.brokers: dict[str, Broker] = dict(brokers or {})
        self.parts: dict[str, Any] = {}          # station name -> Pool | Batcher | Join
        self.consumers: list[Consumer] = []
        self.joins: dict[str, Join] = {}         # join component -> Join
        self.waiters: dict[str, asyncio.Future] = {}
        self._rr = {name: itertools.count() for name in self.net.routers}
        self._rng = np.random.default_rng([seed, 1])
        self._stores: dict[Path, tuple[ShardStore, Executor]] = {}
        self._cpu: ProcessPoolExecutor | None = None
        self._tasks: list[asyncio.Task] = []
        self.failed = 0
        self.held = Held(self)  # calls, pools, cancellations

    # ----- building ---------------------------------------------------------------
    def hosts(self, component: str) -> bool:
        return self.hosted is None or component in self.hosted

    def members(self, component: str) -> list[Station]:
        return [s for s in self.net.stations if s.component == component]

    def rng_for(self, name: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(name.encode())])

    def build(self) -> None:
        for name, node in self.model.spec.nodes.items():
            if node.kind == "broker":
                self._build_broker(name)
            elif not (self.hosts(name) or any(self.hosts(s.name) for s in self.members(name))):
                continue
            elif node.kind == "batcher":
                station = self.members(name)[0]
                self.parts[station.name] = Batcher(
                    station, self.trace, self.rng_for(station.name),
                    self._batch_work(name), self._after_batch(name), tracing=self.tracing)
            elif node.kind == "fork":
                self._build_fork(name)
            elif node.kind == "join":
                continue  # built with its fork
            else:
                for station in self.members(name):
                    if not (self.hosts(name) or self.hosts(station.name)):
                        continue
                    self.parts[station.name] = Pool(
                        station, self.trace, self.rng_for(station.name),
                        self._work_for(name, station), self._after(name), self._failed,
                        tracing=self.tracing, held=self.held)

    def _build_broker(self, name: str) -> None:
        node = self.model.spec.nodes[name]
        if name not in self.brokers:
            self.brokers[name] = EmbeddedBroker(name, node.partitions, node.capacity)
        router = self.net.routers[name]
        for i, member in enumerate(router.members):
            if self.hosted is not None and member not in self.hosted:
                continue
            partitions = [p for p, owner in enumerate(router.owner) if owner == i]
            station = self.net.station(member)
            self.consumers.append(Consumer(
                station, member, self.brokers[name], partitions, self.trace,
                self.rng_for(member), self._enrich, self._after_message(name),
                tracing=self.tracing))

    def _build_fork(self, name: str) -> None:
        station = self.members(name)[0]
        join_station = self.net.station(station.join)
        join = Join(join_station, station.tasks, self.trace, self._merge,
                    self._after(station.join), tracing=self.tracing)
        self.joins[station.join] = join
        if station.branches:
            return
        self.parts[station.name] = Pool(station, self.trace, self.rng_for(station.name),
                                        self._map_task, join.put, self._failed,
                                        tracing=self.tracing)

    # ----- real work ----------------------------------------------------------------
    def _store(self, path: Path) -> tuple[ShardStore, Executor]:
        if path not in self._stores:
            executor = ThreadPoolExecutor(1, thread_name_prefix=path.stem)
            store = executor.submit(ShardStore, path).result()
            self._stores[path] = (store, executor)
        return self._stores[path]

    async def _in_store(self, path: Path, fn: Callable[[ShardStore], Any]) -> Any:
        store, executor = self._store(path)
        return await asyncio.get_running_loop().run_in_executor(executor, fn, store)

    def store_paths(self) -> list[Path]:
        return sorted((self.run_dir / "store").glob("*.sqlite"))

    def _work_for(self, component: str, station: Station) -> Callable[[Item], Awaitable[None]]:
        if self.model.spec.nodes[component].kind == "shards":
            path = self.run_dir / "store" / f"{station.name}.sqlite"
            return lambda item: self._in_store(path, lambda s: s.apply([item]))
        if station.kind == "delay":
            return self._noop
        return self._enrich

    async def _noop(self, item: Item) -> None:
        return None

    async def _enrich(self, item: Item) -> None:
        if "digest" not in item.data:
            item.data.update(real.enrich(item.payload))

    def _batch_work(self, component: str) -> Callable[[list[Item]], Awaitable[None]]:
        async def apply(batch: list[Item]) -> None:
            groups: dict[int, list[Item]] = {}
            for item in batch:
                if "digest" not in item.data:
                    item.data.update(real.enrich(item.payload))
                groups.setdefault(shard_of(item.key, BATCH_STORE_SHARDS), []).append(item)
            await asyncio.gather(*(
                self._in_store(self.run_dir / "store" / f"{component}-{s}.sqlite",
                               lambda store, items=items: store.apply(items))
                for s, items in groups.items()))
        return apply

    async def _map_task(self, task: Item) -> None:
        loop = asyncio.get_running_loop()
        task.data["counts"] = await loop.run_in_executor(self._cpu, real.map_task,
                                                         task.job, task.task)

    async def _merge(self, job: Item, tasks: list[Item]) -> None:
        counts = [t.data.get("counts") or {"words": int(t.data.get("words", 0))} for t in tasks]
        reduced: dict[str, int] = {}
        for part in real.shuffle(counts, REDUCERS):
            reduced.update(real.reduce(part))
        result = {"words": sum(reduced.values()),
                  "top": dict(sorted(reduced.items(), key=lambda kv: -kv[1])[:10])}
        job.data["result"] = result
        await self._in_store(self.run_dir / "store" / "jobs.db",
                             lambda s: s.put_job(job.id, result, time.time()))

    # ----- moving items --------------------------------------------------------------
    def _pick(self, router: Router, item: Item) -> int:
        """The index of the member that gets ``item`` (policies in ``ROUTING``)."""
        policy = router.policy
        if policy == "partition":
            return weighted_index(item.key, router.partition_weights)
        if policy == "hash":
            return weighted_index(item.key, router.weights)
        if policy == "random":
            p = np.asarray(router.weights) / sum(router.weights)
            return int(self._rng.choice(len(p), p=p))
        if policy == "round_robin":
            return next(self._rr[router.component]) % len(router.members)
        if policy == "jsq":
            return int(np.argmin([self._held(router, m) for m in router.members]))
        if policy == "primary_secondary":
            return self._primary_secondary(router, item)
        raise ValueError(f"nodes.{router.component}.routing: {policy!r} is not supported")

    def _primary_secondary(self, router: Router, item: Item) -> int:
        """The key's primary member ``i`` (by weights, as ``hash``); member ``(i + 1) mod n``
        instead when the primary has no idle server and that one has."""
        i = weighted_index(item.key, router.weights)
        j = (i + 1) % len(router.members)
        if not self._idle(router, router.members[i]) and self._idle(router, router.members[j]):
            return j
        return i

    def _idle(self, router: Router, member: str) -> bool:
        """Fewer items in ``member`` (queued and in service) than it has servers."""
        servers = self.net.station(member).servers
        return math.isinf(servers) or self._held(router, member) < servers

    def _held(self, router: Router, member: str) -> int:
        """Items queued and in service at ``member``, which must be hosted here."""
        if member not in self.parts:
            raise RuntimeError(f"nodes.{router.component}.routing: {router.policy} needs "
                               f"what {member} holds, and {member} runs in another process")
        return self.parts[member].inside

    def next_component(self, component: str | None, item: Item) -> str | None:
        """Where an item goes next (None: it leaves the system)."""
        if component is None:
            spec = self.model.spec
            route = (spec.arrivals.get(item.cls) or spec.users[item.cls]).to
        else:
            route = next_of(self.model.spec, component, item.cls)
        u, acc = self._rng.random(), 0.0
        for target, p in route.items():
            acc += p
            if u < acc:
                return target
        return None

    def _handoff(self, item: Item, sender: str | None, to: str, *,
                 broker: Broker | None = None, partition: int = 0,
                 stream: str | None = None) -> AbstractContextManager:
        """The hand-off span of sending ``item`` from ``sender`` to ``to``: into
        ``broker``'s ``partition``, a worker's ``stream`` or (neither) a queue here."""
        if self.tracing is None:
            return UNTRACED
        if broker is not None:
            return self.tracing.handoff(item, sender, f"publish {to}", {
                "qmodel.to": to, "qmodel.broker": to, "messaging.operation.type": "send",
                "messaging.system": "embedded" if broker.in_process else "redis",
                "messaging.destination.name": to,
                "messaging.destination.partition.id": str(partition)})
        if stream is not None:
            return self.tracing.handoff(item, sender, f"send {stream}", {
                "qmodel.to": to, "messaging.system": "redis",
                "messaging.operation.type": "send", "messaging.destination.name": stream})
        return self.tracing.handoff(item, sender, f"enqueue {to}", {
            "qmodel.to": to, "messaging.system": "in-process",
            "messaging.operation.type": "send", "messaging.destination.name": to})

    async def send(self, component: str, item: Item, sender: str | None = None) -> None:
        """Hand an item to a component (its member chosen by the router); ``sender``: the
        component it leaves (None: it enters the system)."""
        node = self.model.spec.nodes[component]
        if node.kind == "broker":
            router = self.net.routers[component]
            partition = self._pick(router, item)
            broker = self.brokers[component]
            with self._handoff(item, sender, component, broker=broker, partition=partition):
                item.t_enq = time.time()
                await broker.publish(partition, item)
            self._resolve(item, "accepted")
            return
        if component in self.joins:
            with self._handoff(item, sender, component):
                await self.joins[component].put(item)
            return
        if node.kind == "fork" and self.members(component)[0].join in self.joins:  # hosted
            with self._handoff(item, sender, component):
                await self._fork(component, item)
            return
        router = self.net.routers.get(component)
        station = router.members[self._pick(router, item)] if router else component
        if station in self.parts:
            with self._handoff(item, sender, station):
                await self.parts[station].put(item)
        elif self.remote is not None:
            with self._handoff(item, sender, station, stream=f"in-{station}"):
                await self.remote(station, item)
        else:
            raise RuntimeError(f"{station} is not hosted here and there is no remote link")

    async def receive(self, station: str, item: Item) -> None:
        """Take an item another process sent to ``station`` (hosted here; the sender
        enforced its capacity): a fork splits it into its tasks, any other part queues
        it (enqueued when it was sent)."""
        target = self.net.station(station)
        if target.kind == "fork":
            await self._fork(target.component, item)
        else:
            await self.parts[station].put(item, item.t_enq, admitted=True)

    async def _fork(self, component: str, job: Item) -> None:
        station = self.members(component)[0]
        self.joins[station.join].expect(job)
        tasks = split(job, station.tasks)
        if station.branches:
            await asyncio.gather(*(self.send(b, t, component)
                                   for b, t in zip(station.branches, tasks)))
        else:
            await asyncio.gather(*(self.parts[station.name].put(t, job.t_enq or time.time())
                                   for t in tasks))

    async def forward(self, component: str | None, item: Item) -> None:
        """Send an item on from ``component`` (None: from outside), or finish it (or
        return it to its caller: a call's sub-visit)."""
        if self.held.returned(item):
            return
        target = self.next_component(component, item)
        try:
            if target is None:
                self.finish(item)
            else:
                await self.send(target, item, component)
        except StationFullError as exc:
            self._failed(item, exc)
        except Exception as exc:  # the next hop failed (Redis down, or a bug)
            if self.fatal is not None:  # a worker: it exits, its input stays pending
                self.fatal(exc)
                raise  # and nothing is acknowledged
            # the gateway: the item's request gets the error; the part that served it
            # goes on with its next item (a pool's server that died here would leave
            # its queue stuck, and the station full, for good)
            self._failed(item, exc)
        if component is not None and self.settled is not None:
            await self.settled(item)

    def _after(self, component: str) -> Callable[[Item], Awaitable[None]]:
        return lambda item: self.forward(component, item)

    def _after_batch(self, component: str) -> Callable[[list[Item]], Awaitable[None]]:
        async def after(batch: list[Item]) -> None:
            for item in batch:
                await self.forward(component, item)
        return after

    def _after_message(self, component: str) -> Callable[[Item, Message], Awaitable[None]]:
        async def after(item: Item, message: Message) -> None:
            await self.forward(component, item)
            await self.brokers[component].ack([message])
        return after

    def finish(self, item: Item) -> None:
        self.trace.end_to_end(item.id, item.cls, item.t0, time.time())
        self._resolve(item, "done")

    def _resolve(self, item: Item, status: str) -> None:
        waiter = self.waiters.pop(item.id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(Outcome(status, item))

    def _failed(self, item: Item, exc: Exception) -> None:
        if self.held.failed(item, exc):  # a call's sub-visit: its caller decides
            return
        self.failed += 1
        waiter = self.waiters.pop(item.job or item.id, None)
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    async def submit(self, item: Item) -> Outcome:
        """Put a new item into the system; return when it is done or a broker has it."""
        waiter = asyncio.get_running_loop().create_future()
        self.waiters[item.id] = waiter
        await self.forward(None, item)
        return await waiter

    # ----- life cycle ---------------------------------------------------------------
    async def start(self) -> None:
        """Start the hosted parts (and warm the map tasks' process pool)."""
        for part in self.parts.values():
            if isinstance(part, (Pool, Batcher)):
                part.start()
        self._tasks = [asyncio.create_task(c.run()) for c in self.consumers]
        if any(p.station.kind == "fork" for p in self.parts.values() if isinstance(p, Pool)):
            context = get_context("forkserver")
            context.set_forkserver_preload([real.__name__])  # not the gateway's __main__
            self._cpu = ProcessPoolExecutor(2, mp_context=context)
            await asyncio.gather(*(asyncio.wrap_future(self._cpu.submit(real.enrich, "warm"))
                                   for _ in range(2)))

    @property
    def consumer_tasks(self) -> list[asyncio.Task]:
        """The broker consumers' loops (started by :meth:`start`)."""
        return list(self._tasks)

    def in_flight(self) -> int:
        pools = sum(p.inside for p in self.parts.values() if isinstance(p, Pool))
        batches = sum(len(p.buffer) for p in self.parts.values() if isinstance(p, Batcher))
        return pools + batches + len(self.waiters)

    async def drain(self, timeout_s: float) -> dict[str, int]:
        """Wait up to ``timeout_s`` for the hosted parts to empty; return what is left
        per part (and in each embedded broker)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for part in self.parts.values():
                if isinstance(part, Batcher):
                    await part.drain()
            backlog = sum([await b.backlog() for b in self.brokers.values()
                           if isinstance(b, EmbeddedBroker)])
            if self.in_flight() == 0 and backlog == 0:
                break
            await asyncio.sleep(0.05)
        left = {name: p.inside for name, p in self.parts.items()
                if isinstance(p, Pool) and p.inside}
        for name, broker in self.brokers.items():
            if isinstance(broker, EmbeddedBroker) and await broker.backlog():
                left[name] = await broker.backlog()
        return left

    async def stop(self) -> None:
        for consumer in self.consumers:
            consumer.stopping = True
        for part in self.parts.values():
            if isinstance(part, (Pool, Batcher)):
                await part.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for store, executor in self._stores.values():
            executor.submit(store.close).result()
            executor.shutdown()
        if self._cpu is not None:
            self._cpu.shutdown(cancel_futures=True)
        self.trace.flush()
