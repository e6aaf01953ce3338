"""Runs locust (in its own processes) against the reference system and returns the raw
samples. ``qmodel`` and this module never import locust."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .net import free_port
from .refsys.children import child_env
from .samples import Samples

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
MAX_RATE_PER_PROCESS = 1500.0  # one dispatcher stays Poisson-like well above this here


@dataclass(frozen=True)
class LoadSpec:
    """One run: open (``rate``) or closed (``users`` with mean think ``think_s``)."""

    mode: str
    duration_s: float
    rate: float = 0.0
    users: int = 1
    think_s: float = 0.0
    path: str = "/events"
    shape: str = "constant"
    seed: int = 0
    requests_file: str = ""      # a request map (JSON) instead of POST path
    max_error_rate: float = 1.0  # stop sending above this fraction of failed answers
    master_bind: str = "127.0.0.1"  # with several processes: where the master listens
    host: str = ""               # this run's host instead of run_locust's
    client_file: str = ""        # the class's client spec (timeouts, retries, hedging)
    profile_file: str = ""       # the rate follows this profile (``rate``: its peak)

    @property
    def processes(self) -> int:
        if self.mode != "open":
            return 1
        return max(1, math.ceil(self.rate / MAX_RATE_PER_PROCESS))


def locust_command(host: str, spec: LoadSpec, samples_out: Path) -> list[str]:
    """The plain locust command line for ``spec``."""
    users = spec.users if spec.mode == "closed" else spec.processes
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
               "--host", host, "--run-time", f"{math.ceil(spec.duration_s)}s",
               "--stop-timeout", "2", "-u", str(users), "-r", str(max(users, 1)),
               "--mode", spec.mode, "--path", spec.path, "--shape", spec.shape,
               "--seed", str(spec.seed), "--samples-out", str(samples_out),
               "--only-summary", "--loglevel", "WARNING"]
    if spec.mode == "open":
        command += ["--arrival-rate", f"{spec.rate:.6g}"]
    else:
        command += ["--think-time", f"{spec.think_s:.6g}s"]
    if spec.requests_file:
        command += ["--requests-file", spec.requests_file]
    if spec.client_file:
        command += ["--client-file", spec.client_file]
    if spec.profile_file:
        command += ["--profile-file", spec.profile_file]
    if spec.max_error_rate < 1.0:
        command += ["--max-error-rate", f"{spec.max_error_rate:.6g}"]
    if spec.processes > 1:
        # a master and forked workers; the master listens on loopback unless asked (workers
        # on other machines: --master-bind), on a free port
        # (locust's default 5557 would collide with any other run on the machine)
        port = str(free_port())
        command += ["--processes", str(spec.processes), "--master-bind-host", spec.master_bind,
                    "--master-bind-port", port, "--master-port", port,
                    # the workers' run time is cleared by locust: a shape needs its span
                    "--shape-duration", str(math.ceil(spec.duration_s))]
    return command


def run_locust(host: str, runs: list[tuple[LoadSpec, Path]]) -> list[Samples]:
    """Run loads side by side (one locust per job class) and return their samples;
    an interrupt (Ctrl-C) stops every locust process group started here."""
    processes = []
    try:
        for spec, out in runs:
            out.parent.mkdir(parents=True, exist_ok=True)
            with open(out.with_suffix(".locust.log"), "wb") as log:
                processes.append(subprocess.Popen(
                    locust_command(spec.host or host, spec, out), env=child_env(), stdout=log,
                    stderr=subprocess.STDOUT, cwd=out.parent, start_new_session=True))
        for process, (spec, _) in zip(processes, runs):
            process.wait(timeout=spec.duration_s + 60)
            # locust's master can exit before a busy worker has written its samples (its
            # own wait for the workers is 3 s): wait for the whole process group
            _wait_group(process.pid, timeout_s=30.0)
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
    for process, (_, out) in zip(processes, runs):
        if process.returncode not in (0, 1):  # 1: locust saw failed requests (e.g. 429s)
            raise RuntimeError(f"locust exited with {process.returncode}; see "
                               f"{out.with_suffix('.locust.log')}")
    return [Samples.read(out) for _, out in runs]


def _wait_group(pgid: int, timeout_s: float) -> None:
    """Wait until no process of group ``pgid`` is left; past ``timeout_s``, SIGTERM them
    (a locust worker writes its samples when it stops) and wait 10 s more."""
    for signal_at_end in (signal.SIGTERM, None):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.1)
        if signal_at_end is None:
            return
        try:
            os.killpg(pgid, signal_at_end)
        except ProcessLookupError:
            return
        timeout_s = 10.0
