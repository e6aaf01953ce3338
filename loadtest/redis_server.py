"""Start and stop a private ``redis-server`` on a free loopback port in a temp dir."""

from __future__ import annotations

import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .net import LOOPBACK, free_port

REDIS_URL_ENV = "QMODEL_REDIS_URL"  # how the system's processes get the URL (password)


class RedisUnavailableError(RuntimeError):
    """No ``redis-server`` executable on PATH."""


class RedisServer:
    """``with RedisServer() as server: server.url`` — a redis-server of our own on
    127.0.0.1 with a random password (``requirepass``; ``url`` carries it), AOF on with
    ``appendfsync`` ``everysec`` (a kill -9 loses up to the last second of writes) or
    ``always`` (fsync before each reply: nothing acknowledged is lost), removed with its
    directory on exit. Its settings are in a 0600 file, not on the command line (which
    every user of the machine can read)."""

    def __init__(self, port: int | None = None, executable: str | None = None,
                 appendfsync: str = "everysec"):
        self.executable = executable or shutil.which("redis-server")
        if self.executable is None:
            raise RedisUnavailableError("redis-server is not installed (Debian: apt-get install "
                                   "redis-server)")
        if appendfsync not in ("everysec", "always"):
            raise ValueError(f"appendfsync must be everysec or always, got {appendfsync!r}")
        self.appendfsync = appendfsync
        self.port = port or free_port()
        self.password = secrets.token_urlsafe(24)
        self.dir: Path | None = None
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@{LOOPBACK}:{self.port}/0"

    def _write_config(self) -> Path:
        config = self.dir / "redis.conf"
        config.touch(mode=0o600)
        config.write_text("\n".join([
            f"port {self.port}", f"bind {LOOPBACK}", "protected-mode yes",
            f"requirepass {self.password}", f'dir "{self.dir}"', 'save ""',
            "appendonly yes", f"appendfsync {self.appendfsync}", "daemonize no",
            f'logfile "{self.dir / "redis.log"}"']) + "\n")
        return config

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        """Start it (again, after :meth:`kill`: same port, password and data)."""
        if self.dir is None:
            self.dir = Path(tempfile.mkdtemp(prefix="qmodel-redis-"))
        self.process = subprocess.Popen([self.executable, str(self._write_config())],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(host=LOOPBACK, port=self.port, password=self.password,
                             retry=Retry(NoBackoff(), 0))  # this loop is the retry
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                client.ping()
                client.close()
                return self
            except (redis.ConnectionError, redis.BusyLoadingError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"redis-server did not start on port {self.port}") \
                        from None
                time.sleep(0.05)

    def kill(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server with ``sig`` (SIGTERM: it writes its AOF and exits; SIGKILL:
        what was not yet fsynced is lost) and wait for it; its data stays for
        :meth:`start`."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(30)
        self.process = None

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
