"""The runner: serial, local process pool and Dask give identical tables for the same seed;
worker errors come back as the same QModelError; progress reaches a callback."""

from __future__ import annotations

import os

import pandas as pd
import psutil
import pytest

from qmodel import Model, ModelError, QModelError, load
from qmodel.errors import Problem
from qmodel.experiments import sweep
from qmodel.runner import Reporter, run
from tests.experiments.models import shop as _shop

distributed = pytest.importorskip("distributed")

SIM = dict(method="simulate", replications=2, customers=2000, seed=11)
SPEC = {"arrivals.web.rate": ["100/s", "200/s"], "nodes.app.servers": [7, 8]}


@pytest.fixture
def web() -> Model:
    return load("topologies/web_service.yaml")


@pytest.fixture
def shop() -> Model:
    return _shop()


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as local:
        yield local


def test_simulated_sweep_is_the_same_on_every_executor(web, cluster):
    serial = sweep(web, SPEC, executor="serial", **SIM)
    pooled = sweep(web, SPEC, executor="local", workers=2, **SIM)
    dask = sweep(web, SPEC, executor="dask", scheduler=cluster.scheduler_address, **SIM)
    pd.testing.assert_frame_equal(serial, pooled)
    pd.testing.assert_frame_equal(serial, dask)
    assert serial.attrs["seed"] == 11 and serial.attrs["method"] == "simulate"
    low, high = serial["mean_response_time_s_ci95_low"], serial["mean_response_time_s_ci95_high"]
    assert ((low <= serial["mean_response_time_s"]) & (serial["mean_response_time_s"] <= high)).all()


def test_common_random_numbers_make_differences_smooth(web):
    """Same seed at every point: a small change of servers moves the estimate a little,
    not by the run-to-run noise."""
    table = sweep(web, {"nodes.gateway.servers": [2, 3]}, executor="serial", **SIM)
    crn = abs(table["mean_response_time_s"].diff().iloc[1])
    other_seed = sweep(web, {"nodes.gateway.servers": [3]}, executor="serial",
                       **{**SIM, "seed": 12})
    noise = abs(other_seed["mean_response_time_s"].iloc[0] - table["mean_response_time_s"].iloc[1])
    assert crn < noise


def test_analytic_sweep_on_dask_with_a_client(web, cluster):
    spec = {"nodes.db.shards": [2, 3, 4]}
    with distributed.Client(cluster) as client:
        on_dask = sweep(web, spec, executor="dask", scheduler=client)
        assert client.status == "running"          # a client passed in is left open
    pd.testing.assert_frame_equal(on_dask, sweep(web, spec, executor="serial"))


def listening() -> set[tuple[str, int]]:
    """The sockets this process listens on (address, port)."""
    return {(c.laddr.ip, c.laddr.port) for c in psutil.Process().net_connections("inet")
            if c.status == psutil.CONN_LISTEN}


def test_a_local_cluster_is_started_and_closed_when_no_scheduler_is_given(web, monkeypatch):
    """... and it listens on loopback only: its scheduler and its dashboard."""
    started = []

    class Recorded(distributed.LocalCluster):
        def __init__(self, *args, **kwargs):
            before = listening()
            super().__init__(*args, **kwargs)
            started.extend(ip for ip, _ in listening() - before)

    monkeypatch.setattr(distributed, "LocalCluster", Recorded)
    table = sweep(web, {"nodes.db.shards": [2, 3]}, executor="dask", workers=1)
    assert len(table) == 2 and table["stable"].all()
    assert len(started) >= 2 and set(started) == {"127.0.0.1"}, started  # scheduler, dashboard


def test_worker_errors_arrive_as_model_errors(shop):
    """api.next.db is 0.3, so api.next.cache = 0.8 is invalid only in combination."""
    with pytest.raises(ModelError, match=r"nodes\.api\.next: probabilities sum to 1\.1"):
        sweep(shop, {"nodes.api.next.cache": [0.5, 0.8]}, executor="local", workers=2)


def test_unknown_executor():
    with pytest.raises(QModelError, match="executor must be one of serial, local, dask"):
        run(abs, [1, 2], executor="cloud")


def test_progress_reaches_a_callback():
    seen = []
    results, interrupted = run(abs, [-1, -2, -3, -4], executor="serial", progress=seen.append)
    assert results == [1, 2, 3, 4] and not interrupted and seen == [0.25, 0.5, 0.75, 1.0]
    reporter = Reporter(seen.append, 2, "simulating")
    reporter.for_replication(1)(0.5)
    assert seen[-1] == 0.75
    assert Reporter(False, 2, "quiet").for_replication(0) is None


def _fail_at_three(task: tuple[int, bytes]) -> int:
    """A task of a large payload (larger than a pipe's buffer) that fails at index 3."""
    index, _payload = task
    if index == 3:
        raise ModelError([Problem("nodes.app.servers", "must be a positive integer, got 0")])
    return index


def _die(task: int) -> int:
    os._exit(7)


def _bug(task: int) -> int:
    return {}[task]


def test_an_error_among_large_tasks_stops_the_pool_without_a_hang():
    """multiprocessing's Pool could deadlock in terminate() here (a task still being fed
    when an earlier one failed); every worker is gone afterwards."""
    before = set(psutil.Process().children())
    tasks = [(i, b"x" * 200_000) for i in range(40)]
    for _ in range(5):
        with pytest.raises(ModelError, match="nodes.app.servers: must be a positive integer"):
            run(_fail_at_three, tasks, executor="local", workers=2, progress=False)
    assert set(psutil.Process().children()) <= before
    results, interrupted = run(_fail_at_three, tasks[4:8], executor="local", workers=2,
                               progress=False)
    assert results == [4, 5, 6, 7] and not interrupted


def test_a_worker_that_dies_is_an_error_not_a_hang():
    with pytest.raises(QModelError, match=r"a worker process stopped unexpectedly \(exit code 7\)"):
        run(_die, [1, 2, 3], executor="local", workers=2, progress=False)


def test_a_bug_in_a_task_is_raised_as_itself():
    with pytest.raises(KeyError):
        run(_bug, [1, 2], executor="local", workers=2, progress=False)


def _orphan_a_worker(report) -> None:
    """A middle process that starts a pool worker, says its pid, and dies at once."""
    import multiprocessing

    from qmodel.runner import _serve

    ours, theirs = multiprocessing.Pipe()
    worker = multiprocessing.Process(target=_serve, args=(theirs, abs), daemon=True)
    worker.start()
    report.send(worker.pid)
    os._exit(0)  # killed, as it were: no None sent, no daemon clean-up


def test_a_worker_whose_parent_is_gone_exits():
    """A SIGKILLed parent sends nothing, and forked siblings keep its pipe ends open: the
    worker notices it was re-parented and exits instead of waiting forever."""
    import multiprocessing
    import time

    ours, theirs = multiprocessing.Pipe()
    middle = multiprocessing.Process(target=_orphan_a_worker, args=(theirs,))
    middle.start()
    pid = ours.recv()
    middle.join(10)
    deadline = time.monotonic() + 15
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
