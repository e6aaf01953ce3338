"""Start the shop (frontend and backend, each its own uvicorn process) and stop it.

    from loadtest.targets.shop import ShopConfig, launch
    with launch(ShopConfig(), run_dir) as shop:
        ...  # POST shop.frontend_url + "/order"; spans in shop.span_files

Each uvicorn runs one worker process (its slots are the service's servers: several
worker processes would each have their own slots and queue, c queues instead of one
M/M/c) on 127.0.0.1 at a free port, in its own process group. Stopping sends SIGTERM
(uvicorn's graceful shutdown runs the app's lifespan end, which flushes the spans), then
SIGKILL after ``stop_timeout_s``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ...net import LOOPBACK, free_port, wait_http
from ...refsys.children import child_env


@dataclass(frozen=True)
class ServiceConfig:
    mean_s: float
    servers: int


@dataclass(frozen=True)
class ShopConfig:
    """The shop's known work: exponential service means, slots, call probability."""

    frontend: ServiceConfig = ServiceConfig(mean_s=0.020, servers=2)
    backend: ServiceConfig = ServiceConfig(mean_s=0.030, servers=2)
    p_call: float = 0.6
    seed: int = 0

    def demand(self) -> dict[str, float]:
        """Offered load per server per request/s of arrivals, by service."""
        return {"frontend": self.frontend.mean_s / self.frontend.servers,
                "backend": self.p_call * self.backend.mean_s / self.backend.servers}

    def rate_for(self, rho: float) -> float:
        """The arrival rate giving utilization ``rho`` at the busier service."""
        return rho / max(self.demand().values())


@dataclass
class Shop:
    """A running shop: its URLs, span files and logs."""

    frontend_url: str
    backend_url: str
    span_files: dict[str, Path]
    logs: dict[str, Path]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return self.frontend_url if service == "frontend" else self.backend_url

    def stats(self, since: float = 0.0, until: float | None = None) -> dict[str, dict]:
        out = {}
        for service in ("frontend", "backend"):
            params = {"since": since} | ({"until": until} if until is not None else {})
            out[service] = httpx.get(self.url(service) + "/stats", params=params,
                                     timeout=10).json()
        return out

    def flush(self) -> None:
        """Every span ended so far is in the span files when this returns."""
        for service in ("frontend", "backend"):
            httpx.post(self.url(service) + "/flush", timeout=30).raise_for_status()


def _command(port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "loadtest.targets.shop.app:create_app",
            "--factory", "--host", LOOPBACK, "--port", str(port), "--workers", "1",
            "--no-access-log", "--log-level", "warning", "--timeout-graceful-shutdown", "5"]


def _stop(process: subprocess.Popen, timeout_s: float) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def launch(config: ShopConfig, run_dir: str | Path, ready_timeout_s: float = 60.0,
           stop_timeout_s: float = 10.0) -> Iterator[Shop]:
    """Start the backend, then the frontend; yield the running :class:`Shop`; stop both
    (frontend first) however the block ends."""
    run_dir = Path(run_dir)
    (run_dir / "spans").mkdir(parents=True, exist_ok=True)
    ports = {"backend": free_port(), "frontend": free_port()}
    urls = {name: f"http://{LOOPBACK}:{port}" for name, port in ports.items()}
    shop = Shop(urls["frontend"], urls["backend"],
                {name: run_dir / "spans" / f"{name}.jsonl" for name in ports},
                {name: run_dir / f"{name}.log" for name in ports})
    services = {"backend": config.backend, "frontend": config.frontend}
    try:
        for name in ("backend", "frontend"):
            env = child_env() | {
                "SHOP_ROLE": name, "SHOP_MEAN_S": repr(services[name].mean_s),
                "SHOP_SERVERS": str(services[name].servers),
                "SHOP_SEED": str(config.seed * 2 + (name == "backend")),
                "SHOP_SPANS": str(shop.span_files[name]),
                "SHOP_P_CALL": repr(config.p_call if name == "frontend" else 0.0),
                "SHOP_BACKEND_URL": urls["backend"] if name == "frontend" else ""}
            with open(shop.logs[name], "ab") as log:
                shop.processes[name] = subprocess.Popen(
                    _command(ports[name]), env=env, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True)
        for name, process in shop.processes.items():
            wait_http(urls[name] + "/health", ready_timeout_s,
                      alive=lambda p=process: p.poll() is None)
        yield shop
    finally:
        for name in ("frontend", "backend"):
            if name in shop.processes:
                _stop(shop.processes[name], stop_timeout_s)
