"""Start and stop a private ``redis-server`` on a free loopback port in a temp dir."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from .net import LOOPBACK, free_port


class RedisUnavailableError(RuntimeError):
    """No ``redis-server`` executable on PATH."""


class RedisServer:
    """``with RedisServer() as server: server.url`` — a redis-server of our own (AOF on,
    fsync every second), removed with its directory on exit."""

    def __init__(self, port: int | None = None, executable: str | None = None):
        self.executable = executable or shutil.which("redis-server")
        if self.executable is None:
            raise RedisUnavailableError("redis-server is not installed (Debian: apt-get install "
                                   "redis-server)")
        self.port = port or free_port()
        self.dir: Path | None = None
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        self.dir = Path(tempfile.mkdtemp(prefix="qmodel-redis-"))
        self.process = subprocess.Popen(
            [self.executable, "--port", str(self.port), "--bind", LOOPBACK,
             "--dir", str(self.dir), "--save", "", "--appendonly", "yes",
             "--appendfsync", "everysec", "--protected-mode", "yes", "--daemonize", "no",
             "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(host=LOOPBACK, port=self.port)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                client.ping()
                client.close()
                return self
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"redis-server did not start on port {self.port}") \
                        from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
