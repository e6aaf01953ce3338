"""Every server the project starts listens on loopback only (issue 12, "Exposure").

A sampler watches the test process and every descendant (``psutil``) and records each
listening TCP socket and bound UDP socket while a mode runs: the reference system
(embedded, and Redis with its worker processes and redis-server), the gunicorn and shop
targets, a locust master with its workers, the Dask cluster of parallel replications, and
the dashboard as ``scripts/dashboard.sh`` starts it. Each mode must show the sockets it is
known to open (so the sampler saw it), all on 127.0.0.1 or ::1.

Little load, but the sampler must see short-lived sockets: the file runs with the load
tests, at normal priority.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

import qmodel
from loadtest.loadgen import MAX_RATE_PER_PROCESS, LoadSpec, run_locust
from loadtest.net import free_port
from loadtest.targets.gunicorn import GunicornTarget
from loadtest.targets.shop import ShopConfig
from loadtest.targets.shop.launch import launch

from .conftest import TOPOLOGIES, require_redis

pytestmark = pytest.mark.loadtest

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


class Sockets:
    """What this process (a Dask scheduler runs in it) and its descendants listen on,
    sampled every 50 ms."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, int], str] = {}  # (ip, port) -> the process's command
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            for process in [me, *me.children(recursive=True)]:
                try:
                    connections = process.net_connections(kind="inet")
                    command = " ".join(process.cmdline())
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
                for c in connections:
                    udp = c.type == 2  # SOCK_DGRAM: bound is listening
                    if c.laddr and (c.status == psutil.CONN_LISTEN or udp):
                        self.seen[(c.laddr.ip, c.laddr.port)] = command
            self._stop.wait(0.05)

    def wait_for(self, port: int, timeout_s: float = 30.0) -> None:
        """Until the sampler has seen ``port`` listening (the computed tests run at the
        lowest priority: a sample can be seconds late)."""
        deadline = time.monotonic() + timeout_s
        while not any(p == port for _, p in list(self.seen)):
            assert time.monotonic() < deadline, f"port {port} was never seen listening"
            time.sleep(0.05)

    def exposed(self) -> dict[tuple[str, int], str]:
        return {addr: cmd for addr, cmd in self.seen.items() if addr[0] not in LOOPBACK}

    def commands(self) -> str:
        return "\n".join(self.seen.values())


@contextmanager
def watching() -> Iterator[Sockets]:
    sockets = Sockets()
    sockets._thread.start()
    try:
        yield sockets
        time.sleep(0.2)  # one more sample of what is still up
    finally:
        sockets._stop.set()
        sockets._thread.join()
    assert sockets.exposed() == {}, sockets.exposed()


def test_the_reference_system_embedded_and_a_multi_process_locust_run(refsys, tmp_path):
    with watching() as sockets:
        system = refsys(TOPOLOGIES / "web_service.yaml")
        sockets.wait_for(system.port)
        # above one process's rate: a master (bound to loopback by default) and workers
        spec = LoadSpec("open", 2.0, rate=MAX_RATE_PER_PROCESS * 1.2, seed=1)
        assert spec.processes == 2
        run_locust(system.url, [(spec, tmp_path / "run.csv")])
        system.stop()
    commands = sockets.commands()
    assert "loadtest.refsys.gateway" in commands and "locust" in commands


def test_the_reference_system_on_redis(refsys):
    require_redis()
    with watching() as sockets:
        system = refsys(TOPOLOGIES / "reference_pipeline.yaml", backend="redis")
        sockets.wait_for(system.port)
        sockets.wait_for(int(system.redis_url.rsplit(":", 1)[1].split("/")[0]))
        system.stop()
    commands = sockets.commands()
    assert "redis-server" in commands and "loadtest.refsys.gateway" in commands


def test_the_gunicorn_and_shop_targets(tmp_path):
    with watching() as sockets:
        with GunicornTarget(workers=2) as target:
            sockets.wait_for(target.port)
        with launch(ShopConfig(), tmp_path / "shop") as shop:
            for service in ("frontend", "backend"):
                sockets.wait_for(int(shop.url(service).rsplit(":", 1)[1]))
    assert "gunicorn" in sockets.commands() and "uvicorn" in sockets.commands()


def test_the_dask_cluster_of_parallel_replications():
    pytest.importorskip("distributed")
    model = qmodel.Model.from_dict({"nodes": {"q": {"kind": "queue", "service": "10ms"}},
                                    "arrivals": {"a": {"to": "q", "rate": "50/s"}}})
    with watching() as sockets:
        qmodel.simulate(model, replications=2, customers=500, seed=1, executor="dask",
                        workers=1, progress=False)
    assert len(sockets.seen) >= 2  # the scheduler (in this process) and its worker's


def test_the_dashboard_as_its_script_starts_it(tmp_path):
    port = free_port()
    with watching() as sockets:
        process = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py",
                                    "--server.port", str(port)], cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health",
                                                timeout=2) as answer:
                        if answer.read() == b"ok":
                            break
                except OSError:
                    time.sleep(0.2)
            else:
                pytest.fail("streamlit did not start")
        finally:
            process.terminate()
            process.wait(15)
    assert any(port_ == port for _, port_ in sockets.seen)
