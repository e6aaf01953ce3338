"""A WSGI app whose handler does a known amount of work: ``GET|POST /work`` sleeps a
service time drawn from a distribution, optionally calls a downstream URL, and answers
200. Served by gunicorn with c sync workers (``loadtest.targets.gunicorn``) it is an
M/G/c queue, FCFS at the listen backlog.

Environment (a query string ``?mean=30ms&dist=deterministic`` overrides per request):

    WORK_DIST        exponential (default) | deterministic | gamma
    WORK_MEAN        mean service time, e.g. 20ms (default 20ms)
    WORK_CV          coefficient of variation of gamma (default 1)
    WORK_SEED        random seed (default 0); each worker adds its index
    WORK_STRATIFY    0 (default): independent draws; B > 0: each worker draws its
                     uniforms in blocks of B, one in each of B equal strata in random order
                     (the same marginal distribution; the mean of a block is within a
                     fraction of a percent of the nominal mean, so a test measures the
                     system and the model, not the luck of the draws)
    WORK_ERROR_RATE  fraction of /work requests answered 500 (default 0)
    WORK_FAIL_AFTER  N > 0: every /work request after the N-th (counted over all
                     workers in WORK_COUNT_FILE) is answered 500: a service that breaks
                     down during a run
    WORK_DOWNSTREAM  a URL to GET (with requests) after the sleep; its failure is a 502
    WORK_METRICS     1: serve Prometheus /metrics (prometheus_client multiprocess mode:
                     PROMETHEUS_MULTIPROC_DIR must be set before gunicorn starts)

Other endpoints: ``/noop`` (no work: the fixed overhead), ``/health``, ``/metrics``.
Every answer carries ``X-Server-Time`` (seconds in the handler).
"""

from __future__ import annotations

import math
import os
import random
import time
from urllib.parse import parse_qs

UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def parse_duration(text: str) -> float:
    """``20ms``, ``0.02s``, ``500us`` or bare seconds (the app does not import qmodel:
    a gunicorn worker starts in a fraction of a second)."""
    text = text.strip()
    for unit in ("us", "ms", "s", "m"):
        if text.endswith(unit) and text[:-len(unit)].strip():
            return float(text[:-len(unit)]) * UNITS[unit]
    return float(text)

_state: dict[str, object] = {}


def _config() -> dict[str, object]:
    if not _state:
        worker = int(os.environ.get("WORK_WORKER", "0"))
        _state.update(
            dist=os.environ.get("WORK_DIST", "exponential"),
            mean=parse_duration(os.environ.get("WORK_MEAN", "20ms")),
            cv=float(os.environ.get("WORK_CV", "1")),
            rng=random.Random(int(os.environ.get("WORK_SEED", "0")) * 1_000_003 + worker),
            stratify=int(os.environ.get("WORK_STRATIFY", "0")),
            error_rate=float(os.environ.get("WORK_ERROR_RATE", "0")),
            fail_after=int(os.environ.get("WORK_FAIL_AFTER", "0")),
            downstream=os.environ.get("WORK_DOWNSTREAM", ""),
            block=[], metrics=_metrics() if os.environ.get("WORK_METRICS") == "1" else None)
    return _state


def _metrics():
    from prometheus_client import Counter, Gauge, Histogram

    buckets = (0.001, 0.002, 0.004, 0.006, 0.008, 0.01, 0.0125, 0.015, 0.0175, 0.02, 0.025,
               0.03, 0.035, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.125, 0.15, 0.2, 0.25,
               0.3, 0.4, 0.5, 0.75, 1.0, 2.0, 5.0)
    return {"requests": Counter("work_requests", "Requests answered", ["endpoint", "status"]),
            "busy": Counter("work_busy_seconds", "Seconds a worker spent in /work handlers"),
            "in_progress": Gauge("work_in_progress", "Requests in a handler",
                                 multiprocess_mode="livesum"),
            "duration": Histogram("work_request_duration_seconds",
                                  "Time in the /work handler", buckets=buckets)}


def _served() -> int:
    """How many /work requests all workers have served, this one included (one byte
    appended per request to WORK_COUNT_FILE)."""
    fd = os.open(os.environ["WORK_COUNT_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, b".")
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def _uniform(state: dict[str, object]) -> float:
    rng: random.Random = state["rng"]  # type: ignore[assignment]
    size = int(state["stratify"])  # type: ignore[arg-type]
    if size <= 0:
        return rng.random()
    block: list[float] = state["block"]  # type: ignore[assignment]
    if not block:
        block.extend((i + rng.random()) / size for i in range(size))
        rng.shuffle(block)
    return block.pop()


def draw(dist: str, mean: float, cv: float, u: float) -> float:
    """A service time from the uniform ``u`` by the inverse distribution function."""
    if dist == "deterministic" or mean <= 0:
        return max(mean, 0.0)
    if dist == "exponential":
        return -mean * math.log(1.0 - u)
    if dist == "gamma":
        from scipy.stats import gamma

        shape = 1.0 / (cv * cv)
        return float(gamma.ppf(u, shape, scale=mean / shape))
    raise ValueError(f"WORK_DIST must be exponential, deterministic or gamma, got {dist!r}")


def app(environ, start_response):
    started = time.perf_counter()
    state = _config()
    path = environ.get("PATH_INFO", "/")
    metrics = state["metrics"]
    if path == "/health":
        return _answer(start_response, "200 OK", b"ok", started)
    if path == "/noop":
        return _answer(start_response, "200 OK", b"", started)
    if path == "/metrics" and metrics is not None:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [generate_latest(registry)]
    if path != "/work":
        return _answer(start_response, "404 Not Found", b"not found", started)
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)
    query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    if metrics is not None:
        metrics["in_progress"].inc()
    status = "200 OK"
    try:
        dist = query.get("dist", state["dist"])
        mean = parse_duration(query["mean"]) if "mean" in query else state["mean"]
        cv = float(query.get("cv", state["cv"]))
        time.sleep(draw(dist, mean, cv, _uniform(state)))
        fail_after = int(state["fail_after"])  # type: ignore[call-overload]
        if state["rng"].random() < float(state["error_rate"]) or \
                (fail_after and _served() > fail_after):
            status = "500 Internal Server Error"
        elif state["downstream"]:
            import requests

            try:
                requests.get(state["downstream"], timeout=10).raise_for_status()
            except requests.RequestException:
                status = "502 Bad Gateway"
    finally:
        elapsed = time.perf_counter() - started
        if metrics is not None:
            metrics["in_progress"].dec()
            metrics["busy"].inc(elapsed)
            metrics["duration"].observe(elapsed)
            metrics["requests"].labels("work", status[:3]).inc()
    return _answer(start_response, status, b"done", started)


def _answer(start_response, status: str, body: bytes, started: float):
    elapsed = time.perf_counter() - started
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body))),
                            ("X-Server-Time", f"{elapsed:.6f}")])
    return [body]
