"""Serve a WSGI app with gunicorn (c sync workers) on 127.0.0.1, for tests and users::

    with GunicornTarget("loadtest.targets.work:app", workers=4,
                        env={"WORK_MEAN": "20ms", "WORK_METRICS": "1"}) as target:
        validate("model.yaml", [0.5], "30s", target=target.url, requests="requests.yaml")

``python -m gunicorn`` runs in its own process group (stopped as a whole, also on
Ctrl-C); each worker gets ``WORK_WORKER`` = its index (1..c) for its random seed; with
``WORK_METRICS=1`` a private ``PROMETHEUS_MULTIPROC_DIR`` is made and dead workers are
marked so. The listen backlog (2048) holds what waits for a free worker: with c sync
workers this is an M/G/c queue, FCFS.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from ..net import LOOPBACK, free_port, wait_http
from ..refsys.children import REPO_ROOT, child_env

CONFIG = '''\
import os


def post_fork(server, worker):
    os.environ["WORK_WORKER"] = str(worker.age)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(worker.pid)
'''


class GunicornTarget:
    """A gunicorn server for ``app`` (``module:callable``) with ``workers`` sync workers
    on 127.0.0.1:``port`` (0: a free one); ``.url`` once started."""

    def __init__(self, app: str = "loadtest.targets.work:app", workers: int = 4,
                 env: dict[str, str] | None = None, port: int = 0, backlog: int = 2048,
                 timeout_s: float = 30.0, chdir: str | Path | None = None):
        self.app = app
        self.workers = workers
        self.env = dict(env or {})
        self.port = port or free_port()
        self.backlog = backlog
        self.timeout_s = timeout_s
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.process: subprocess.Popen | None = None
        self.dir: Path | None = None
        # gunicorn puts its directory first on sys.path: this checkout for the apps here
        # (another checkout's loadtest must not shadow them), else the caller's
        self.chdir = Path(chdir) if chdir else REPO_ROOT if app.startswith("loadtest.") \
            else Path.cwd()

    def start(self) -> GunicornTarget:
        self.dir = Path(tempfile.mkdtemp(prefix="qmodel-gunicorn-"))
        (self.dir / "gunicorn_conf.py").write_text(CONFIG)
        env = child_env() | {"WORK_COUNT_FILE": str(self.dir / "served")} | self.env
        if env.get("WORK_METRICS") == "1":
            (self.dir / "prometheus").mkdir()
            env["PROMETHEUS_MULTIPROC_DIR"] = str(self.dir / "prometheus")
        command = [sys.executable, "-m", "gunicorn", "--workers", str(self.workers),
                   "--worker-class", "sync", "--bind", f"{LOOPBACK}:{self.port}",
                   "--backlog", str(self.backlog), "--chdir", str(self.chdir), "--config",
                   str(self.dir / "gunicorn_conf.py"), "--log-level", "warning", self.app]
        with open(self.dir / "gunicorn.log", "wb") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_http(f"{self.url}/health", self.timeout_s,
                      alive=lambda: self.process.poll() is None)
        except (TimeoutError, RuntimeError) as exc:
            log_text = (self.dir / "gunicorn.log").read_text(errors="replace")[-2000:]
            self.stop()
            raise RuntimeError(f"gunicorn did not start: {exc}\n{log_text}") from None
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> GunicornTarget:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
