"""simulate(executor=...): the replications of one simulation on serial, a local process
pool or Dask give the same result as the in-process run for the same seed."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from qmodel import QModelError, load
from qmodel.sim import simulate
from qmodel.sim.distributed import ReplicationTask, run_replication, run_replications
from qmodel.sim.record import Replication
from qmodel.sim.streams import replication_seeds

RUN = dict(replications=4, customers=2000, seed=7)


@pytest.fixture(scope="module")
def web():
    return load("topologies/web_service.yaml")


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as local:
        yield local


def _same(a, b) -> None:
    assert float(a.system.mean_response_time) == float(b.system.mean_response_time)
    assert a.system.mean_response_time.ci95 == b.system.mean_response_time.ci95
    assert float(a.system.percentile(0.95)) == float(b.system.percentile(0.95))
    assert a.to_dict() == b.to_dict()


@pytest.mark.parametrize("method", ["fast", "simpy"])
def test_serial_and_local_pool_match_the_in_process_run(web, method):
    here = simulate(web, method=method, **RUN)
    assert here.system.mean_response_time.ci95 is not None and not here.partial
    _same(here, simulate(web, method=method, executor="serial", **RUN))
    _same(here, simulate(web, method=method, executor="local", workers=2, **RUN))


def test_dask_matches_the_in_process_run(web, cluster):
    distributed = pytest.importorskip("distributed")
    here = simulate(web, **RUN)
    _same(here, simulate(web, executor="dask", scheduler=cluster.scheduler_address, **RUN))
    simpy = simulate(web, method="simpy", **RUN)
    with distributed.Client(cluster) as client:
        _same(simpy, simulate(web, method="simpy", executor="dask", scheduler=client, **RUN))
        assert client.status == "running"  # a client passed in is left open


def test_tasks_and_records_pickle(web):
    _, seqs = replication_seeds(7, 2)
    for use_fast in (True, False):
        task = ReplicationTask(web.network, seqs[1], use_fast, 500, None, None)
        copy = pickle.loads(pickle.dumps(task))
        rep = run_replication(copy)
        assert isinstance(rep, Replication)
        back = pickle.loads(pickle.dumps(rep))
        np.testing.assert_array_equal(back.final, run_replication(task).final)
        assert len(back.samples) == len(rep.samples)


def test_interrupted_runs_keep_the_finished_replications(web, monkeypatch):
    import qmodel.sim.distributed as distributed

    def interrupted(func, tasks, **kwargs):
        return [func(tasks[0]), None, func(tasks[2]), None], True

    monkeypatch.setattr(distributed, "run", interrupted)
    r = simulate(web, executor="local", **RUN)
    assert r.partial and r.replications == 2 and "interrupted: partial results" in r.notes

    monkeypatch.setattr(distributed, "run", lambda func, tasks, **kw: ([None] * len(tasks), True))
    with pytest.raises(KeyboardInterrupt):
        simulate(web, executor="local", **RUN)


@pytest.mark.parametrize("kwargs, message", [
    ({"executor": "cloud"}, "executor must be None or one of serial, local, dask"),
    ({"executor": "local", "trace": True}, "use executor=None"),
])
def test_bad_executor_arguments(web, kwargs, message):
    with pytest.raises(QModelError, match=message):
        simulate(web, replications=2, customers=100, **kwargs)
    with pytest.raises(QModelError, match="executor must be one of"):
        run_replications([], executor="cloud")
