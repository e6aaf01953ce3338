"""The ingest gateway: a Starlette app under uvicorn, on loopback.

``POST /events`` (stream path) and ``POST /jobs`` (batch path) put a record into the
system and answer 200 when it has left the system, 202 when a broker has accepted it,
429 when a full component rejected it, 503 while draining or while Redis is unavailable
(400 for a body that is not a record, 413 over 64 KiB, 408 when it comes too slowly).
What a 202 promises depends on the broker: with Redis the record is in Redis's
append-only file (it survives a kill of any process, Redis's included); with the
embedded broker it is in this process's memory only, and a killed gateway loses it.
``GET /results/...`` reads the stores, ``GET /metrics`` the measured timings, ``GET
/health`` liveness (with the Redis backend: Redis and the workers' heartbeats; under a
supervisor: processes in back-off). With ``otel_dir`` set, every request is a
SERVER span and the process's spans go to ``otel_dir/gateway-PID.jsonl`` (:mod:`.otel`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import redis.asyncio as aioredis
import uvicorn
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from qmodel.model.model import Model, load

from .children import read_state
from .http_limits import HEADER_TIMEOUT_S, BodyLimits, header_timeout_protocol
from .items import CallFailedError, CancelledItemError, Item, StationFullError
from .metrics import summarize
from .probe import Probe
from .redis_broker import PREFIX, dead_letter_counts, redis_brokers, redis_client
from .runtime import Runtime, downstream_of_brokers, worker_stations
from .store import read_job, read_key, read_totals
from .trace import TraceReader, TraceWriter
from .work import BadRecordError, parse_event

if TYPE_CHECKING:  # the OpenTelemetry SDK is imported only when tracing is on
    from .otel import Tracing


HEALTH_REDIS_TIMEOUT_S = 1.0
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,80}$")  # a client's X-Request-Id
MAX_CONNECTIONS = 2000  # beyond: uvicorn answers 503 (each connection costs memory)


@dataclass
class GatewayConfig:
    model: str
    run_dir: str
    port: int = 8100
    host: str = "127.0.0.1"
    backend: str = "embedded"
    redis_url: str | None = None  # None: from the environment (REDIS_URL_ENV)
    seed: int = 0
    drain_timeout_s: float = 10.0
    otel_dir: str | None = None  # None: no spans
    http_timeout_s: float = HEADER_TIMEOUT_S  # to send a request's headers, and its body


def job_classes(model: Model) -> list[str]:
    """Classes whose jobs enter at a fork: they are posted to ``/jobs``."""
    spec = model.spec
    out = []
    for name, cls in list(spec.arrivals.items()) + list(spec.users.items()):
        if any(spec.nodes[t].kind == "fork" for t in cls.to):
            out.append(name)
    return out


def component_servers(model: Model) -> dict[str, int | None]:
    """Total servers per component (None when infinite or not a server pool)."""
    out: dict[str, int | None] = {}
    for s in model.network.stations:
        if s.kind in ("delay", "join") or math.isinf(s.servers):
            out[s.component] = None
        elif s.component not in out or out[s.component] is not None:
            out[s.component] = (out.get(s.component) or 0) + s.servers
    return out


def window_bound(params: Mapping[str, str], name: str, default: float) -> float:
    """The ``/metrics`` window bound ``name`` (epoch seconds): a finite number; raise
    ValueError naming it otherwise.

    >>> window_bound({"since": "12.5"}, "since", 0.0), window_bound({}, "until", 9.0)
    (12.5, 9.0)
    """
    text = params.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"{name}: {text[:40]!r} is not a finite number (epoch seconds)")
    return value


class Gateway:
    """State of one gateway process."""

    def __init__(self, config: GatewayConfig):
        self.config = config
        self.model = load(config.model)
        self.run_dir = Path(config.run_dir)
        self.trace = TraceWriter(self.run_dir / "trace", f"gateway-{os.getpid()}")
        self.reader = TraceReader(self.run_dir / "trace")
        self.servers = component_servers(self.model)
        self.forks = frozenset(name for name, node in self.model.spec.nodes.items()
                               if node.kind == "fork")
        self.jobs = job_classes(self.model)
        self.events = [c.name for c in self.model.network.classes if c.name not in self.jobs]
        self.redis: aioredis.Redis | None = None
        self.runtime: Runtime | None = None
        self.draining = False
        self.accepted = 0
        self._flusher: asyncio.Task | None = None
        self.probe = Probe(self.trace, "gateway")
        self.tracing: Tracing | None = None
        if config.otel_dir:
            from .otel import Tracing  # the SDK only when tracing is on
            self.tracing = Tracing(Path(config.otel_dir), f"gateway-{os.getpid()}")

    async def start(self) -> None:
        hosted, brokers = None, None
        if self.config.backend == "redis":
            self.redis = redis_client(self.config.redis_url)
            brokers = await redis_brokers(self.model, self.redis)
            hosted = set(self.model.spec.nodes) - downstream_of_brokers(self.model)
        self.runtime = Runtime(self.model, self.run_dir, self.trace, seed=self.config.seed,
                               hosted=hosted, brokers=brokers, tracing=self.tracing)
        self.runtime.build()
        await self.runtime.start()
        self._flusher = asyncio.create_task(self._flush_forever())
        self.probe.start()

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            self.trace.flush()

    async def stop(self) -> None:
        """Drain: stop taking requests, finish what is inside, report what is left."""
        self.draining = True
        await self.probe.stop()
        left = await self.runtime.drain(self.config.drain_timeout_s)
        await self.runtime.stop()
        if self._flusher is not None:
            self._flusher.cancel()
        report = {"pid": os.getpid(), "stopped": time.time(), "unprocessed": left,
                  "accepted": self.accepted, "failed": self.runtime.failed}
        (self.run_dir / f"shutdown-gateway-{os.getpid()}.json").write_text(json.dumps(report))
        if self.redis is not None:
            await self.redis.aclose()
        if self.tracing is not None:
            await asyncio.to_thread(self.tracing.shutdown)

    async def submit(self, request: Request, classes: list[str]) -> JSONResponse:
        t0 = time.time()
        if self.draining:
            return JSONResponse({"error": "draining"}, status_code=503)
        cls = request.query_params.get("class") or (classes[0] if classes else None)
        if cls not in classes:
            return JSONResponse({"error": f"no class {cls!r} here; classes are {classes}"},
                                status_code=400)
        try:
            key, payload = parse_event(await request.body())
        except BadRecordError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        # a client that may cancel names its request (X-Request-Id) for POST /cancel
        given = request.headers.get("x-request-id", "")
        item_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        item = Item(item_id, cls, key, payload, t0)
        if self.tracing is None:
            return await self._submit(item, t0)
        with self.tracing.request(request.headers, request.method, request.url.path, item,
                                  t0) as span:
            response = await self._submit(item, t0)
            span.set_attribute("http.response.status_code", response.status_code)
            return response

    async def _submit(self, item: Item, t0: float) -> JSONResponse:
        try:
            outcome = await self.runtime.submit(item)
        except StationFullError as exc:
            return JSONResponse({"error": str(exc), "id": item.id}, status_code=429)
        except CallFailedError as exc:  # a synchronous call downstream gave up
            return JSONResponse({"error": str(exc), "id": item.id}, status_code=504)
        except CancelledItemError as exc:  # its client withdrew it (POST /cancel)
            return JSONResponse({"error": str(exc), "id": item.id}, status_code=499)
        elapsed = time.time() - t0
        headers = {"X-Server-Time": f"{elapsed:.6f}"}
        body = {"id": item.id, "status": outcome.status, "server_s": elapsed}
        if outcome.status == "accepted":
            self.accepted += 1
            return JSONResponse(body, status_code=202, headers=headers)
        if "result" in outcome.item.data:
            body["result"] = outcome.item.data["result"]
        return JSONResponse(body, headers=headers)

    async def cancel(self, request: Request) -> JSONResponse:
        """``POST /cancel?id=X-Request-Id``: withdraw that request wherever it is (a
        client's ``on_timeout: cancel``); ``cancelled`` is false when it was not inside."""
        item_id = request.query_params.get("id", "")
        if not REQUEST_ID.match(item_id):
            return JSONResponse({"error": "id: must be 1-80 letters, digits, '.', '_' or '-'"},
                                status_code=400)
        return JSONResponse({"id": item_id, "cancelled": self.runtime.held.cancel(item_id)})

    async def metrics(self, request: Request) -> JSONResponse:
        try:
            since = window_bound(request.query_params, "since", 0.0)
            until = window_bound(request.query_params, "until", time.time())
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        self.trace.flush()
        frame = await asyncio.to_thread(self.reader.frame)
        doc = await asyncio.to_thread(summarize, frame, since, until, self.servers,
                                      self.forks)
        doc["processes"] = (read_state(self.run_dir) or {}).get("children", {})
        doc["dead_letters"] = await self.dead_letters()
        doc["calls"] = self.runtime.held.stats()
        doc["overshoot_s"] = {name: p.clock.overshoot_s for name, p in self.runtime.parts.items()
                              if hasattr(p, "clock")}
        return JSONResponse(doc)

    async def health(self, request: Request) -> JSONResponse:
        """200 ``ok``, or 503 with the first problem as ``status`` and every one in
        ``problems``: ``redis unavailable``, ``restarting`` (a process in back-off, from
        the supervisor), ``starting`` (a worker without a heartbeat), ``draining``."""
        problems: list[tuple[str, str]] = []
        body: dict = {"backend": self.config.backend, "pid": os.getpid(),
                      "draining": self.draining}
        if self.redis is not None:
            try:
                async with asyncio.timeout(HEALTH_REDIS_TIMEOUT_S):
                    await self.redis.ping()
                    workers = {name: bool(await self.redis.exists(f"{PREFIX}:hb:{name}"))
                               for name in worker_stations(self.model)}
                body["workers"] = workers
                problems += [("starting", f"worker {name} has no heartbeat")
                             for name, beating in workers.items() if not beating]
            except (RedisError, OSError, TimeoutError) as exc:
                problems.insert(0, ("redis unavailable", f"redis: {exc or 'no answer'}"))
        supervisor = read_state(self.run_dir)
        if supervisor is not None:
            body["processes"] = supervisor["children"]
            problems += [("restarting", f"{name} restarts in back-off (exit {c['last_exit']}, "
                          f"{c['restarts']} restarts)")
                         for name, c in supervisor["children"].items()
                         if c["state"] == "backoff"]
        if self.draining:
            problems.append(("draining", "stopping: draining what is inside"))
        body["status"] = problems[0][0] if problems else "ok"
        body["problems"] = [text for _, text in problems]
        return JSONResponse(body, status_code=503 if problems else 200)

    async def dead_letters(self) -> dict[str, int] | None:
        """Entries moved to each dead-letter stream (None: Redis unavailable; {}:
        embedded, where every message is an item of this process)."""
        if self.redis is None:
            return {}
        topics = [n for n, node in self.model.spec.nodes.items() if node.kind == "broker"]
        topics += [f"in-{station}" for station in worker_stations(self.model)
                   if self.model.spec.nodes[self.model.network.station(station).component]
                   .kind != "broker"]  # a broker's consumers read the broker's streams
        try:
            return await dead_letter_counts(self.redis, topics)
        except (RedisError, OSError):
            return None

    async def summary(self, request: Request) -> JSONResponse:
        totals = await asyncio.to_thread(read_totals, self.runtime.store_paths())
        totals["backlog"] = {name: await b.backlog() for name, b in self.runtime.brokers.items()}
        if self.redis is not None:
            for station in worker_stations(self.model):
                counter = f"{PREFIX}:in-{station}:backlog"
                totals["backlog"][station] = int(await self.redis.get(counter) or 0)
        totals["dead_letters"] = await self.dead_letters()
        totals["in_flight"] = self.runtime.in_flight()
        totals["accepted_by_this_gateway"] = self.accepted
        return JSONResponse(totals)


async def unavailable(request: Request, exc: Exception) -> JSONResponse:
    """A request that needed Redis while it was down: 503 with the reason (the record,
    if any, was not accepted)."""
    return JSONResponse({"error": f"redis unavailable: {exc}"}, status_code=503)


def create_app(config: GatewayConfig) -> Starlette:
    gateway = Gateway(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await gateway.start()
        yield
        await gateway.stop()

    async def events(request: Request) -> JSONResponse:
        return await gateway.submit(request, gateway.events)

    async def jobs(request: Request) -> JSONResponse:
        return await gateway.submit(request, gateway.jobs)

    async def key_result(request: Request) -> JSONResponse:
        rows = await asyncio.to_thread(read_key, gateway.runtime.store_paths(),
                                       request.path_params["key"])
        return JSONResponse({"key": request.path_params["key"], "windows": rows})

    async def job_result(request: Request) -> JSONResponse:
        row = await asyncio.to_thread(read_job, gateway.run_dir / "store" / "jobs.db",
                                      request.path_params["job"])
        return JSONResponse(row or {"error": "no such job"}, status_code=200 if row else 404)

    routes = [
        Route("/events", events, methods=["POST"]),
        Route("/jobs", jobs, methods=["POST"]),
        Route("/cancel", gateway.cancel, methods=["POST"]),
        Route("/results/summary", gateway.summary),
        Route("/results/keys/{key}", key_result),
        Route("/results/jobs/{job}", job_result),
        Route("/metrics", gateway.metrics),
        Route("/health", gateway.health),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(BodyLimits, timeout_s=config.http_timeout_s)],
                    exception_handlers={RedisError: unavailable})
    app.state.gateway = gateway
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the reference system's gateway.")
    parser.add_argument("--config", required=True, help="GatewayConfig as JSON")
    config = GatewayConfig(**json.loads(parser.parse_args(argv).config))
    if config.host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("the reference system listens on loopback only")
    uvicorn.run(create_app(config), host=config.host, port=config.port, log_level="warning",
                access_log=False, timeout_graceful_shutdown=int(config.drain_timeout_s) + 5,
                http=header_timeout_protocol(config.http_timeout_s), timeout_keep_alive=5,
                limit_concurrency=MAX_CONNECTIONS)


def config_json(config: GatewayConfig) -> str:
    return json.dumps(asdict(config))


if __name__ == "__main__":
    main()
