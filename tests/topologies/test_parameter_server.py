"""Parameter server with synchronous rounds: a round is the slowest worker plus the
slowest server shard (Li et al., OSDI 2014; Chen et al. 2016), so more workers give
diminishing returns; simulation against qmodel.solvers.forkjoin.expected_max."""

from __future__ import annotations

import pytest

import qmodel
from qmodel.distributions import Gamma
from qmodel.sim import simulate
from qmodel.solvers import forkjoin

from .helpers import close, load

NETWORK = 0.005
PER_GRADIENT = 0.005                   # a shard aggregates one worker's gradient slice in 5 ms


def round_time(workers: int, shards: int) -> float:
    compute = forkjoin.expected_max([Gamma(0.1, 0.3)] * workers)
    update = forkjoin.expected_max([Gamma(workers * PER_GRADIENT / shards, 0.5)] * shards)
    return compute + NETWORK + update


def sized(model: qmodel.Model, workers: int, shards: int) -> qmodel.Model:
    return model.with_changes({
        "nodes.compute.tasks": workers, "nodes.compute.slots": workers,
        "nodes.update.tasks": shards, "nodes.update.slots": shards,
        "nodes.update.task_service": {"dist": "gamma", "mean":
                                      f"{workers * PER_GRADIENT / shards}s", "cv": 0.5}})


@pytest.fixture(scope="module")
def ps() -> qmodel.Model:
    return load("parameter_server")


@pytest.mark.parametrize("workers, shards", [(16, 4), (32, 8)])
def test_a_round_is_the_slowest_worker_plus_the_slowest_shard(ps, workers, shards):
    sim = simulate(sized(ps, workers, shards), replications=3, customers=1_500, seed=workers)
    assert close(sim.system.mean_response_time, round_time(workers, shards), 0.02)


def test_one_training_job_is_solved_as_its_own_rounds(ps):
    # one job alone: a round is the slowest of 16 workers, the network, the slowest shard
    r = qmodel.solve(ps)
    assert r.system.method == "exact"
    assert float(r.system.mean_response_time) == pytest.approx(round_time(16, 4), rel=1e-6)
    assert float(r.system.throughput) == pytest.approx(1 / round_time(16, 4), rel=1e-6)


def test_more_workers_give_diminishing_returns():
    # samples per second with one mini-batch per worker per round, 4 shards
    throughput = {w: w / round_time(w, 4) for w in (4, 16, 64)}
    assert throughput[16] / throughput[4] < 0.8 * 4
    assert throughput[64] / throughput[16] < throughput[16] / throughput[4]
    # the file's configuration matches the formula: 16 workers x 5 ms / 4 shards = 20 ms
    update = load("parameter_server").network.station("update").service["training"]
    assert update.mean == pytest.approx(16 * PER_GRADIENT / 4)
