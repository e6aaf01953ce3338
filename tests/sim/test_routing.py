"""Routers in front of members: JSQ, round robin, primary/secondary, weights, broker
partitions, rebalance."""

from __future__ import annotations

import pytest
import simpy

from qmodel import Model, solve
from qmodel.sim import fast, simulate
from qmodel.sim.stations import Periodic

from .one_run import completions, one_run
from .theory import mmc_response, mmck, within_ci


def shards(routing: str, rate: float = 3.2, **extra) -> Model:
    return Model.from_dict({
        "nodes": {"db": {"kind": "shards", "shards": 4, "routing": routing, "service": 1.0,
                         **extra}},
        "arrivals": {"a": {"to": "db", "rate": rate}}})


RUN = dict(replications=10, customers=15_000, seed=14)


def test_jsq_beats_random_routing():
    jsq = simulate(shards("jsq"), **RUN)
    rnd = simulate(shards("random"), **RUN)
    assert jsq.system.mean_response_time.ci95[1] < rnd.system.mean_response_time.ci95[0]
    # random splitting of Poisson traffic: four independent M/M/1 at rho = 0.8
    assert within_ci(rnd.system.mean_response_time, 1.0 / (1.0 - 0.8))


@pytest.mark.parametrize("weights", [None, [3, 1]])
@pytest.mark.parametrize("load", [0.5, 2.0])
def test_primary_secondary_over_two_loss_servers_is_erlang_b(weights, load):
    # Each server holds one job and none waits: a job is lost only when both are busy,
    # whichever its primary, so the pair is one M/M/2/2 loss system (Erlang B).
    model = Model.from_dict({
        "nodes": {"s": {"kind": "shards", "shards": 2, "routing": "primary_secondary",
                        "service": 1.0, "capacity": 1, "weights": weights}},
        "arrivals": {"a": {"to": "s", "rate": load}}})
    r = simulate(model, **RUN)
    assert within_ci(r.system.loss_probability, mmck(load, 1.0, 2, 2)["p_loss"])


def test_primary_secondary_lies_between_random_and_a_shared_pool():
    # 4 servers at rho = 0.8: random = 4 x M/M/1 (wait 4), the pool = M/M/4 (wait 0.75)
    ps = simulate(shards("primary_secondary"), **RUN).node("db").mean_wait
    jsq = simulate(shards("jsq"), **RUN).node("db").mean_wait
    assert mmc_response(3.2, 1.0, 4) - 1.0 < ps.ci95[0] and ps.ci95[1] < 0.8 / (1 - 0.8)
    assert jsq.ci95[1] < ps.ci95[0]  # measured 0.94 vs 2.10: JSQ sees every queue
    assert solve(shards("primary_secondary")).node("db-0").method == "needs simulation"


def test_round_robin_beats_random():
    rr = simulate(shards("round_robin"), **RUN)
    rnd = simulate(shards("random"), **RUN)
    assert rr.system.mean_response_time.ci95[1] < rnd.system.mean_response_time.ci95[0]


def test_rebalance_helps_random_routing():
    plain = simulate(shards("random"), **RUN)
    balanced = simulate(shards("random", rebalance=0.5), **RUN)
    assert balanced.system.mean_response_time.ci95[1] < plain.system.mean_response_time.ci95[0]
    # component-level Little's law still holds for the whole component
    db = balanced.node("db")
    assert abs(db.mean_in_system - db.throughput * db.mean_response) < 0.03 * db.mean_in_system


def test_weighted_shards_and_component_view():
    r = simulate(shards("hash", rate=1.6, weights=[4, 2, 1, 1]), replications=10,
                 customers=10_000, seed=3)
    shares = [float(r.node(f"db-{i}").throughput) / float(r.system.throughput) for i in range(4)]
    assert shares == pytest.approx([0.5, 0.25, 0.125, 0.125], abs=0.01)
    db = r.node("db")
    assert within_ci(db.throughput, 1.6)
    assert db.percentile(0.5) is not None and db.percentile(0.99) > db.percentile(0.5)


def test_broker_partitions_load_their_owners():
    model = Model.from_dict({
        "nodes": {"topic": {"kind": "broker", "partitions": 3, "consumers": 2,
                            "partition_weights": [2, 1, 1], "service": 0.2}},
        "arrivals": {"m": {"to": "topic", "rate": 2.0}}})
    r = simulate(model, replications=10, customers=10_000, seed=4)
    # range assignment: consumer 0 owns partitions 0 and 1 (3/4 of messages)
    assert within_ci(r.node("topic-0").utilization, 2.0 * 0.75 * 0.2)
    assert within_ci(r.node("topic-1").utilization, 2.0 * 0.25 * 0.2)


# ----- rebalancing within groups, with a threshold, of held and partly served jobs --------

SUBMIT = 3600.0  # a batch: closed users who all submit at 1 h and then think for an hour


def hot_shard(population: int, service: float, weights: list[float], rebalance,
              **node) -> Model:
    """A batch sent all to the shards with weight (deterministic service)."""
    return Model.from_dict({
        "users": {"batch": {"to": "db", "population": population,
                            "think_time": {"dist": "deterministic", "value": SUBMIT}}},
        "nodes": {"db": {"kind": "shards", "shards": len(weights), "weights": weights,
                         "service": {"dist": "deterministic", "value": service},
                         "rebalance": rebalance, **node}}})


@pytest.mark.parametrize("groups, received", [(2, [1]), (1, [1, 2, 3])])
def test_rebalancing_moves_jobs_only_within_a_group(groups, received):
    model = hot_shard(200, 0.1, [1, 0, 0, 0], {"period": 0.5, "groups": groups})
    done = list(completions(one_run(model, customers=200)).values())
    assert sum(done) == 200
    assert [i for i in (1, 2, 3) if done[i]] == received


def test_rebalancing_in_groups_needs_simpy():
    open_model = shards("random", rebalance={"period": 0.5, "groups": 2, "threshold": 3})
    assert "rebalance" in fast.unsupported(open_model.network)


@pytest.mark.parametrize("threshold, moved", [(1, 48), (10, 44), (100, 0)])
def test_rebalancing_stops_within_the_threshold(threshold, moved):
    # 100 jobs of 0.3 s on shard 0; at the first rebalance (1 s) 3 are done and one is in
    # service: jobs move while 97 - k - k > threshold; then both shards work at the same
    # pace, one job apart at most, so nothing more moves
    model = hot_shard(100, 0.3, [1, 0], {"period": 1.0, "threshold": threshold})
    assert completions(one_run(model, customers=100))["db-1"] == moved


@pytest.mark.parametrize("capacity", [None, 10])
def test_rebalancing_moves_held_jobs(capacity):
    # with capacity 10 (on_full block) shard 0 holds 90 of its 100 jobs back; rebalancing
    # counts and moves them like the admitted ones
    held = {} if capacity is None else {"capacity": capacity, "on_full": "block"}
    model = hot_shard(100, 0.3, [1, 0], 1.0, **held)
    assert completions(one_run(model, customers=100))["db-1"] == 48


def test_rebalanced_mlfq_jobs_keep_their_progress():
    # 40 jobs of 1 s on shard 0, round robin in 0.1 s quanta: by the first rebalance five
    # have had a quantum and wait in the last level; moved jobs resume where they stopped,
    # so the shards together work exactly 40 s
    model = hot_shard(40, 1.0, [1, 0], 0.5, discipline="mlfq",
                      mlfq={"levels": 2, "quantum": 0.1})
    engine = one_run(model, customers=40)
    assert engine.stations[1].completions == 20
    assert sum(s.area_busy for s in engine.stations) == pytest.approx(40.0, rel=1e-9)


@pytest.mark.timeout(60)
def test_periodic_timers_tick_once_per_period():
    # 4.3 / 0.1 is 42.99...: the tick at 4.3 used to schedule itself again at 4.3, forever
    env = simpy.Environment()
    ticks = []
    Periodic(env, 0.1, lambda: ticks.append(env.now), lambda: False).wake()
    env.run(until=5.05)
    assert len(ticks) == 50 and ticks[42] == pytest.approx(4.3)
