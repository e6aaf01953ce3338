"""The shop's two services, one ASGI app each, for uvicorn (``--factory``).

    SHOP_ROLE=backend SHOP_MEAN_S=0.030 SHOP_SERVERS=2 SHOP_SPANS=backend.jsonl \\
        uvicorn loadtest.targets.shop.app:create_app --factory --port 8201
    SHOP_ROLE=frontend SHOP_MEAN_S=0.020 SHOP_SERVERS=2 SHOP_P_CALL=0.6 \\
        SHOP_BACKEND_URL=http://127.0.0.1:8201 SHOP_SPANS=frontend.jsonl \\
        uvicorn loadtest.targets.shop.app:create_app --factory --port 8200

``POST /order`` (frontend) and ``POST /stock`` (backend) each do a known amount of work: a
service time drawn from an exponential distribution (``SHOP_MEAN_S``), held on one of
``SHOP_SERVERS`` slots. The frontend then calls the backend with probability
``SHOP_P_CALL`` — after giving its slot back, so no slot is held while it waits (as an
async handler gives its worker back when it awaits I/O): the network is Jackson-like,
frontend then maybe backend, each an M/M/c. The slot is given back by the httpx
instrumentation's request hook, as the CLIENT span opens, so the frontend's exclusive
span time before the call is its slot time. (Reading the answer and responding after the
call hold no slot, but are in the frontend's exclusive time: docs/calibration.md.)

The slots are a thread pool's stand-in. They are taken by the outermost middleware,
*before* OpenTelemetry's ASGI middleware sees the request, as a WSGI server's worker is
taken before the app (and its instrumentation) is called: the wait for a slot is in no
span, and the SERVER span holds the service only, as a real server's spans do. The slot's
time is padded to the draw from the moment it was taken (``asyncio.sleep`` overshoots by
~0.5-1 ms; each slot learns its overshoot and carries what it missed into its next
service), so the time a slot is held is the drawn time.

Draws are stratified (blocks of ``BLOCK`` draws take one uniform from each of ``BLOCK``
equal strata, in random order; exactly ``round(p * BLOCK)`` calls per block): each draw
is still exponential and each call still has probability p, but the mean of a run's draws
is close to the nominal one (an exponential mean from 1,000 iid draws is off by 3%; a
stratified one by ~0.2%), so the calibrated means can be compared with the nominal ones
too.

OpenTelemetry: ``OpenTelemetryMiddleware`` (``opentelemetry-instrumentation-asgi``, its
receive/send INTERNAL spans left out) and ``HTTPXClientInstrumentor`` on the frontend's
``httpx.AsyncClient`` (a CLIENT span, and the W3C ``traceparent`` the backend's middleware
continues). The resource's ``service.name`` is the role; the SDK's ``BatchSpanProcessor``
exports to ``SHOP_SPANS`` as OTLP/JSON lines (:mod:`.otlpfile`). The server span gets two
attributes, ``shop.drawn_s`` (the draw) and, on the frontend, ``shop.calls_backend``.

Untraced: ``GET /health``, ``GET /stats?since=&until=`` (counters, and the process's
event-loop lag and CPU wait over a window: the system's own check), ``POST /flush``
(force-flush the span processor, so the file holds every span ended so far).
Every answer to a work request carries ``X-Server-Time``: seconds from the request
reaching the app (before the slot) to its answer. The frontend also times its backend
calls with the httpx instrumentation's hooks: the CLIENT span's duration minus the
backend's ``X-Server-Time`` is the hop's own cost (HTTP client, loopback, the backend's
HTTP parsing), in no span's exclusive time and in no model component.

No ``qmodel`` import here: the workers start quickly.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import gc
import math
import os
import random
import time
from pathlib import Path

import httpx
from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .otlpfile import OtlpJsonLinesExporter

BLOCK = 100                 # draws per stratified block
EXPORT_EVERY_MS = 500       # the batch span processor's schedule
PROBE_INTERVAL_S = 0.1
WORK_PATHS = {"frontend": "/order", "backend": "/stock"}
UNTRACED = "health,stats,flush"


class Stratified:
    """Exponential service draws and Bernoulli(p) calls, stratified in blocks."""

    def __init__(self, seed: int, mean_s: float, p_call: float):
        self.rng = random.Random(seed)
        self.mean_s = mean_s
        self.p_call = p_call
        self._u: list[float] = []
        self._calls: list[bool] = []

    def service(self) -> float:
        if not self._u:
            strata = list(range(BLOCK))
            self.rng.shuffle(strata)
            self._u = [(k + self.rng.random()) / BLOCK for k in strata]
        return -self.mean_s * math.log1p(-self._u.pop())

    def call(self) -> bool:
        if not self._calls:
            ones = round(self.p_call * BLOCK)
            self._calls = [True] * ones + [False] * (BLOCK - ones)
            self.rng.shuffle(self._calls)
        return self._calls.pop()


class Slot:
    """One server: pads its services to their draws, learning ``asyncio.sleep``'s
    overshoot and carrying what a service missed (bounded) into its next one."""

    def __init__(self, mean_s: float):
        self.overshoot_s = 0.0006
        self.debt_s = 0.0
        self.max_debt_s = max(0.020, 4 * mean_s)

    async def pad(self, target_s: float, started: float) -> None:
        """Sleep until the service begun at ``started`` has lasted ``target_s`` (less the
        debt); the caller settles when it gives the slot back."""
        want = target_s - self.debt_s - (time.perf_counter() - started) - self.overshoot_s
        if want > 0:
            before = time.perf_counter()
            await asyncio.sleep(want)
            self.overshoot_s += 0.05 * ((time.perf_counter() - before - want) - self.overshoot_s)

    def settle(self, target_s: float, held_s: float) -> None:
        self.debt_s = max(-self.max_debt_s, min(self.max_debt_s,
                                                 self.debt_s + held_s - target_s))


_CALL: contextvars.ContextVar = contextvars.ContextVar("shop_call")


async def _client_span_opened(_span, _request) -> None:
    """The httpx instrumentation's request hook, run as the CLIENT span starts: the
    frontend's own work before the call (its exclusive span time) ends here, and so
    does its hold on the slot."""
    call = _CALL.get(None)
    if call is not None:
        call["opened"] = time.perf_counter()
        call["release"]()


async def _client_span_closing(_span, _request, response) -> None:
    """The response hook, run just before the CLIENT span ends: the hop is the span's
    time not spent inside the backend (its ``X-Server-Time``)."""
    call = _CALL.get(None)
    if call is not None and "opened" in call:
        server = response.headers.get("x-server-time") if response.headers else None
        call["hop_s"] = time.perf_counter() - call["opened"] - float(server or "nan")


def _schedstat() -> tuple[float, float]:
    """(CPU seconds, seconds runnable but waiting for a CPU) of this process's threads."""
    cpu = wait = 0
    with contextlib.suppress(OSError):
        for task in Path("/proc/self/task").iterdir():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (task / "schedstat").read_text().split()
                cpu += int(fields[0])
                wait += int(fields[1])
    return cpu / 1e9, wait / 1e9


class Shop:
    """One service's state: slots, draws, counters, probe samples, tracing."""

    def __init__(self, env: dict[str, str]):
        self.role = env.get("SHOP_ROLE", "frontend")
        if self.role not in WORK_PATHS:
            raise SystemExit(f"SHOP_ROLE must be frontend or backend, got {self.role!r}")
        self.mean_s = float(env.get("SHOP_MEAN_S", "0.010"))
        self.servers = int(env.get("SHOP_SERVERS", "1"))
        self.p_call = float(env.get("SHOP_P_CALL", "0")) if self.role == "frontend" else 0.0
        self.backend_url = env.get("SHOP_BACKEND_URL", "")
        if self.p_call > 0 and not self.backend_url:
            raise SystemExit("SHOP_P_CALL > 0 needs SHOP_BACKEND_URL")
        self.draws = Stratified(int(env.get("SHOP_SEED", "0")), self.mean_s, self.p_call)
        self.counts = dict(requests=0, drawn_s=0.0, held_s=0.0, waited_s=0.0, calls=0,
                           hop_s=0.0)
        self.probes: collections.deque = collections.deque(maxlen=20_000)
        self.provider = TracerProvider(resource=Resource.create({"service.name": self.role}))
        spans = env.get("SHOP_SPANS")
        if spans:
            self.provider.add_span_processor(BatchSpanProcessor(
                OtlpJsonLinesExporter(spans), schedule_delay_millis=EXPORT_EVERY_MS))
        self.free: asyncio.Queue[Slot] | None = None
        self.client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        gc.freeze()  # what start-up made is never collected again: shorter full collections
        self.free = asyncio.Queue()
        for _ in range(self.servers):
            self.free.put_nowait(Slot(self.mean_s))
        if self.backend_url:
            self.client = httpx.AsyncClient(base_url=self.backend_url, timeout=30.0,
                                            limits=httpx.Limits(max_connections=200))
            HTTPXClientInstrumentor.instrument_client(
                self.client, tracer_provider=self.provider, request_hook=_client_span_opened,
                response_hook=_client_span_closing)
        self._probe = asyncio.create_task(self._probe_loop())

    async def stop(self) -> None:
        self._probe.cancel()
        if self.client is not None:
            await self.client.aclose()
        await asyncio.to_thread(self.provider.shutdown)  # the last spans reach the file

    async def _probe_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(PROBE_INTERVAL_S)
            asked = time.perf_counter()
            lag = loop.create_future()
            loop.call_soon(lambda f=lag, t=asked: f.done() or f.set_result(time.perf_counter() - t))
            self.probes.append((time.time(), await lag, *_schedstat()))

    def window(self, since: float, until: float) -> dict:
        inside = [p for p in self.probes if since <= p[0] < until]
        if len(inside) < 2:
            return {"probes": len(inside)}
        lags = sorted(p[1] for p in inside)
        elapsed = inside[-1][0] - inside[0][0]
        return {"probes": len(inside),
                "loop_lag_p99_s": lags[min(len(lags) - 1, int(0.99 * len(lags)))],
                "runqueue_wait_s_per_s": (inside[-1][3] - inside[0][3]) / elapsed,
                "cpu_cores": (inside[-1][2] - inside[0][2]) / elapsed}


def _limited(shop: Shop, app):
    """The outermost middleware: a slot for each work request (the thread pool's
    stand-in), taken before the instrumented app runs; ``X-Server-Time`` on the answer."""
    path = WORK_PATHS[shop.role]

    async def middleware(scope, receive, send):
        if scope["type"] != "http" or scope["path"] != path:
            return await app(scope, receive, send)
        arrived = time.perf_counter()
        slot = await shop.free.get()
        taken = time.perf_counter()
        ctx = {"slot": slot, "taken": taken, "drawn": None}

        def release() -> None:
            """Give the slot back; the service it held was taken .. now."""
            if ctx["slot"] is None:
                return
            held = time.perf_counter() - taken
            if ctx["drawn"] is not None:
                ctx["slot"].settle(ctx["drawn"], held)
                shop.counts["held_s"] += held
            shop.free.put_nowait(ctx["slot"])
            ctx["slot"] = None

        ctx["release"] = release

        async def timed_send(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-server-time",
                                f"{time.perf_counter() - arrived:.6f}".encode()))
                message = dict(message, headers=headers)
            await send(message)

        shop.counts["waited_s"] += taken - arrived
        try:
            await app(dict(scope, shop=ctx), receive, timed_send)
        finally:
            release()

    return middleware


def create_app(env: dict[str, str] | None = None):
    """The ASGI app of the service ``SHOP_ROLE`` (environment variables as above)."""
    shop = Shop(dict(os.environ if env is None else env))

    async def work(request: Request) -> Response:
        await request.body()
        ctx = request.scope["shop"]
        drawn = ctx["drawn"] = shop.draws.service()
        span = trace.get_current_span()
        span.set_attribute("shop.drawn_s", drawn)
        await ctx["slot"].pad(drawn, ctx["taken"])
        shop.counts["requests"] += 1
        shop.counts["drawn_s"] += drawn
        call = shop.p_call > 0 and shop.draws.call()
        if shop.p_call > 0:
            span.set_attribute("shop.calls_backend", call)
        if not call:
            ctx["release"]()
        else:
            call_ctx = {"release": ctx["release"]}  # released as the CLIENT span opens
            token = _CALL.set(call_ctx)
            try:
                answer = await shop.client.post("/stock", content=b"{}",
                                                headers={"content-type": "application/json"})
                answer.raise_for_status()
            finally:
                ctx["release"]()
                _CALL.reset(token)
            shop.counts["calls"] += 1
            shop.counts["hop_s"] += call_ctx.get("hop_s", float("nan"))
        return Response(b'{"ok":true}', media_type="application/json")

    async def health(_request: Request) -> Response:
        return JSONResponse({"role": shop.role, "servers": shop.servers, "mean_s": shop.mean_s,
                             "p_call": shop.p_call, "pid": os.getpid()})

    async def stats(request: Request) -> Response:
        since = float(request.query_params.get("since", 0))
        until = float(request.query_params.get("until", time.time()))
        return JSONResponse({"role": shop.role, "counts": shop.counts,
                             "system": shop.window(since, until)})

    async def flush(_request: Request) -> Response:
        done = await asyncio.to_thread(shop.provider.force_flush, 10_000)
        return JSONResponse({"flushed": done})

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        await shop.start()
        try:
            yield
        finally:
            await shop.stop()

    routes = [Route(WORK_PATHS[shop.role], work, methods=["POST"]),
              Route("/health", health), Route("/stats", stats),
              Route("/flush", flush, methods=["POST"])]
    inner = Starlette(routes=routes, lifespan=lifespan)
    traced = OpenTelemetryMiddleware(inner, excluded_urls=UNTRACED,
                                     tracer_provider=shop.provider,
                                     exclude_spans=["receive", "send"])
    return _limited(shop, traced)
