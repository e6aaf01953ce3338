"""Starts the reference system's processes, restarts any that dies, stops them all.

:class:`RefSystem` is what the CLI (``qmodel refsys serve``), the validation harness and
the tests use::

    with RefSystem("topologies/reference_pipeline.yaml", backend="redis") as system:
        httpx.post(system.url + "/events", json={"key": "k", "payload": "a b"})

``otel_traces=PATH``: every process writes its OpenTelemetry spans to
``RUN_DIR/otel/PROCESS.jsonl``; :meth:`RefSystem.stop` merges them into PATH (OTLP
JSON lines, :mod:`.otel`).
"""

from __future__ import annotations

import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from qmodel.model.model import Model, load

from ..net import LOOPBACK, free_port, wait_http
from ..redis_server import REDIS_URL_ENV, RedisServer
from .children import Child, Guard, write_state
from .gateway import GatewayConfig, config_json
from .runtime import check_routing, worker_stations


def check_traffic(model: Model) -> None:
    """Raise ValueError naming ``batches.NAME`` for a model with batches: the system takes
    steady open or closed traffic, and a batch is a transient without a steady state."""
    batches = model.network.batch_classes
    if batches:
        raise ValueError(f"batches.{batches[0].name}: the reference system validates steady "
                         f"open/closed traffic only, not batch (bulk) arrivals; use qmodel "
                         f"simulate for a batch's makespan, or remove batches to run the rest")


@dataclass
class RefSystem:
    """The reference system for one model file, on 127.0.0.1."""

    model: str
    port: int | None = None
    backend: str = "embedded"
    run_dir: Path | None = None
    seed: int = 0
    redis_url: str | None = None
    drain_timeout_s: float = 10.0
    otel_traces: Path | str | None = None  # None: no spans
    http_timeout_s: float = 10.0  # for a client to send its request's headers, its body
    redis_fsync: str = "everysec"  # the Redis we start; "always": nothing lost on a power cut
    children: dict[str, Child] = field(default_factory=dict)
    _redis: RedisServer | None = None
    _stopping: bool = False
    _merged: bool = False
    _watcher: threading.Thread | None = None
    _guard: Guard | None = None      # stops everything if this process dies
    _redis_pid: int | None = None    # the Redis process the guard knows of

    def __post_init__(self) -> None:
        if self.backend not in ("embedded", "redis"):
            raise ValueError(f"backend must be embedded or redis, got {self.backend!r}")
        self.model = str(Path(self.model).resolve())
        self._model = load(self.model)
        check_traffic(self._model)
        check_routing(self._model, self.backend)
        self.port = self.port or free_port()
        self.run_dir = Path(self.run_dir or tempfile.mkdtemp(prefix="qmodel-refsys-"))
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        if self.otel_traces is not None:
            self.otel_traces = Path(self.otel_traces).resolve()

    @property
    def redis_server(self) -> RedisServer | None:
        """The Redis this system started (None: embedded, or ``redis_url`` given)."""
        return self._redis

    @property
    def otel_dir(self) -> Path | None:
        """Where each process writes its spans (None: tracing off)."""
        return None if self.otel_traces is None else self.run_dir / "otel"

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def _gateway(self) -> Child:
        otel_dir = self.otel_dir
        # the Redis URL (it holds the password) goes in the environment, not on the
        # command line, which every user of the machine can read in /proc
        config = GatewayConfig(self.model, str(self.run_dir), self.port, LOOPBACK,
                               self.backend, None, self.seed, self.drain_timeout_s,
                               str(otel_dir) if otel_dir else None, self.http_timeout_s)
        return Child("gateway", [sys.executable, "-m", "loadtest.refsys.gateway",
                                 "--config", config_json(config)], self._redis_env())

    def _redis_env(self) -> dict[str, str]:
        return {REDIS_URL_ENV: self.redis_url} if self.redis_url else {}

    def _worker(self, station: str) -> Child:
        command = [sys.executable, "-m", "loadtest.refsys.worker", "--model", self.model,
                   "--station", station, "--run-dir", str(self.run_dir), "--seed",
                   str(self.seed)]
        if self.otel_dir is not None:
            command += ["--otel-dir", str(self.otel_dir)]
        return Child(station, command, self._redis_env())

    def start(self, timeout_s: float = 60.0) -> RefSystem:
        """Start everything and wait until ``/health`` says ok. Nothing started outlives
        this process: if it dies without :meth:`stop` (a SIGKILL too), a
        :class:`~.children.Guard` stops the rest."""
        try:
            self._guard = Guard(self.run_dir / "logs" / "guard.log")
            if self.backend == "redis":
                if self.redis_url is None:
                    self._redis = RedisServer(appendfsync=self.redis_fsync).start()
                    self.redis_url = self._redis.url
                    self._guard_redis()
                for station in worker_stations(self._model):
                    self.children[station] = self._worker(station)
            self.children["gateway"] = self._gateway()
            for child in self.children.values():
                child.guard = self._guard
                child.start(self.run_dir / "logs")
            self.wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()
        return self

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        gateway = self.children["gateway"]
        try:
            # a gateway waiting for its restart (back-off) is not dead; before the watcher
            # runs (the first start) nothing restarts it, so a crash fails at once
            wait_http(self.url + "/health", timeout_s, lambda: self._stopping or
                      gateway.alive() or gateway.next_start is not None)
        except RuntimeError:
            log = gateway.log.read_text()[-2000:] if gateway.log and gateway.log.exists() else ""
            raise RuntimeError(f"the gateway died while starting:\n{log}") from None

    def _watch(self) -> None:
        """Restart any child that died, with back-off (:meth:`Child.tend`), and keep
        ``RUN_DIR/supervisor.json`` current for the gateway's ``/health``."""
        write_state(self.run_dir, self.children)
        while not self._stopping:
            self._guard_redis()  # a fault test restarts Redis: a new process
            changed = False
            for child in list(self.children.values()):
                if not self._stopping:
                    changed |= child.tend(self.run_dir / "logs")
            if changed:
                write_state(self.run_dir, self.children)
            time.sleep(0.05)

    def _guard_redis(self) -> None:
        """Keep the guard told of the Redis process this system started."""
        redis, guard = self._redis, self._guard  # stop() may clear them meanwhile
        process = redis.process if redis is not None else None
        pid = process.pid if process is not None and process.poll() is None else None
        if pid != self._redis_pid and guard is not None:
            if self._redis_pid is not None:
                guard.forget("process", self._redis_pid)
            if pid is not None:
                guard.track("process", pid)
            self._redis_pid = pid

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int:
        """Send ``sig`` to one process (``gateway`` or a worker's station); return its pid.
        The watcher restarts it."""
        process = self.children[name].process
        process.send_signal(sig)
        return process.pid

    def stop(self) -> None:
        """Stop the gateway (it drains), then the workers, then Redis; with
        ``otel_traces``, merge the processes' spans into it."""
        self._stopping = True
        if self._watcher is not None:
            self._watcher.join(2)
        gateway = self.children.get("gateway")
        if gateway is not None:
            gateway.stop(self.drain_timeout_s + 10)
        for child in self.children.values():
            child.stop(10)
        if self._redis is not None:
            self._redis.stop()
            self._redis = None
        if self._guard is not None:
            self._guard.close()  # everything is stopped
            self._guard = None
        if self.otel_dir is not None and self.otel_dir.exists() and not self._merged:
            from .otel import merge
            merge(self.otel_dir, self.otel_traces)
            self._merged = True  # a second stop (a fixture's, after the test's) merges nothing

    def __enter__(self) -> RefSystem:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
