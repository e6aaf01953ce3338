"""Failures: policy lost loses jobs, retry loses none, migrate moves them to siblings;
failures of chosen members, each on its own or together; held-back jobs."""

from __future__ import annotations

import pickle

import pytest

from qmodel import Model
from qmodel.sim import fast, simulate

from .one_run import completions, one_run


def failing(policy: str, kind: str = "queue", **extra) -> Model:
    node = {"kind": kind, "service": 0.5,
            "failures": {"at": [100.0, 300.0], "duration": 20.0, "policy": policy}, **extra}
    return Model.from_dict({"nodes": {"q": node}, "arrivals": {"a": {"to": "q", "rate": 1.0}}})


RUN = dict(replications=3, horizon=500.0, warmup=0, seed=5)


def test_lost_policy_loses_jobs():
    r = simulate(failing("lost"), **RUN)
    assert r.system.loss_probability > 0.03  # ~40 of ~500 arrivals hit a dead server
    assert r.node("q").p_loss > 0


def test_retry_policy_loses_nothing_but_waits():
    retry = simulate(failing("retry"), **RUN)
    assert retry.system.loss_probability == 0
    lost = simulate(failing("lost"), **RUN)
    assert retry.system.mean_response_time > lost.system.mean_response_time


def test_migrate_moves_work_to_a_sibling():
    migrate = simulate(failing("migrate", kind="shards", shards=2, routing="random"), **RUN)
    retry = simulate(failing("retry", kind="shards", shards=2, routing="random"), **RUN)
    assert migrate.system.loss_probability == 0
    assert migrate.system.mean_response_time < retry.system.mean_response_time


def test_random_failures_delay_jobs_but_conserve_work():
    model = Model.from_dict({"nodes": {"q": {"kind": "queue", "service": 0.2, "failures": {
        "mttf": 50.0, "mttr": 5.0, "policy": "retry"}}},
        "arrivals": {"a": {"to": "q", "rate": 1.0}}})
    r = simulate(model, replications=4, customers=5_000, seed=1)
    # the same work (plus restarted work) is done, but jobs wait out the repairs
    assert 0.19 < r.node("q").utilization < 0.23
    assert r.node("q").mean_response > 1.5 * 0.2 / (1 - 0.2)


# ----- failures of chosen members, failover, held-back jobs --------------------------------

SUBMIT = 3600.0  # a batch: closed users who all submit at 1 h and then think for an hour


def batch(population: int, **node) -> Model:
    return Model.from_dict({
        "users": {"batch": {"to": "nodes", "population": population,
                            "think_time": {"dist": "deterministic", "value": SUBMIT}}},
        "nodes": {"nodes": {"kind": "shards", "routing": "round_robin", **node}}})


def test_failures_of_listed_members_only():
    model = Model.from_dict({
        "nodes": {"db": {"kind": "shards", "shards": 3, "routing": "round_robin", "service": 0.5,
                         "failures": [
                             {"members": [0], "at": [100.0], "duration": 50.0, "policy": "lost"},
                             {"members": [2], "mttf": 100.0, "mttr": 20.0, "policy": "lost"}]}},
        "arrivals": {"a": {"to": "db", "rate": 3.0}}})
    assert "failures" in fast.unsupported(model.network)
    losses = [s.losses for s in one_run(model, horizon=500.0).stations]
    assert losses[0] > 30 and losses[2] > 0 and losses[1] == 0


@pytest.mark.parametrize("together", [True, False])
def test_members_failing_together_are_down_at_the_same_instants(together):
    # saturated members serve whenever they are up: equal busy time means equal down time
    model = Model.from_dict({
        "users": {"u": {"to": "db", "population": 3000}},
        "nodes": {"db": {"kind": "shards", "shards": 4, "routing": "round_robin",
                         "service": {"dist": "deterministic", "value": 0.1},
                         "failures": {"members": [0, 1, 2], "together": together,
                                      "mttf": 50.0, "mttr": 5.0}}}})
    busy = [s.area_busy for s in one_run(model, horizon=500.0).stations]
    assert busy[3] > max(busy[:3])  # never fails
    if together:
        assert busy[1] == pytest.approx(busy[0], rel=1e-9)
        assert busy[2] == pytest.approx(busy[0], rel=1e-9)
    else:
        assert max(busy[:3]) - min(busy[:3]) > 1.0


@pytest.mark.parametrize("held", [{}, {"capacity": 10, "on_full": "block"}])
def test_failover_deals_a_failed_clusters_work_over_every_survivor(held):
    # 100 jobs per node, 10 ms each; cluster 8..11 fails for good after 20 jobs, with 80
    # jobs in each of its nodes (held back beyond capacity 10 or not): 320 jobs dealt
    # over the 8 survivors, 40 each
    model = batch(1200, shards=12, service={"dist": "deterministic", "value": 0.01},
                  failures={"members": [8, 9, 10, 11], "together": True, "at": [SUBMIT + 0.205],
                            "duration": "1h", "policy": "migrate"}, **held)
    engine = one_run(model, customers=1200)
    assert list(completions(engine).values()) == [140] * 8 + [20] * 4


def stranding(discipline: str) -> Model:
    """Nodes that admit 20 jobs at a time and fail at random with migrate (as BRKSS)."""
    mlfq = {"mlfq": {"levels": 3, "quantum": [0.002, 0.008]}} if discipline == "mlfq" else {}
    return batch(2400, shards=12, discipline=discipline, capacity=20, on_full="block",
                 service={"dist": "hyperexponential", "probs": [0.9, 0.1],
                          "means": [0.001, 0.011]},
                 failures={"mttf": 2.0, "mttr": 0.3, "policy": "migrate"}, **mlfq)


@pytest.mark.parametrize("discipline", ["fcfs", "mlfq"])
@pytest.mark.parametrize("seed", [5, 6, 7])
def test_migrate_moves_held_jobs_too(discipline, seed):
    # held jobs stayed with their failed node, whose queue had moved away: nothing
    # completed there to admit them, and the batch never finished
    engine = one_run(stranding(discipline), seed=seed, customers=2400, horizon=SUBMIT + 60)
    assert engine.done == 2400 and engine.losses == 0 and engine.env.now < SUBMIT + 60
    assert sum(completions(engine).values()) == 2400


@pytest.mark.parametrize("policy, lost", [("lost", 5), ("retry", 0)])
def test_held_jobs_are_admitted_after_the_repair(policy, lost):
    # 50 jobs of 100 ms, 5 admitted at a time; the queue fails after 5 jobs for 1 s
    model = Model.from_dict({
        "users": {"batch": {"to": "q", "population": 50,
                            "think_time": {"dist": "deterministic", "value": SUBMIT}}},
        "nodes": {"q": {"kind": "queue", "service": {"dist": "deterministic", "value": 0.1},
                        "capacity": 5, "on_full": "block",
                        "failures": {"at": [SUBMIT + 0.55], "duration": 1.0,
                                     "policy": policy}}}})
    engine = one_run(model, customers=50 - lost, horizon=SUBMIT + 60)
    assert (engine.done, engine.losses) == (50 - lost, lost)
    assert engine.env.now == pytest.approx(SUBMIT + 1.55 + (45 - lost) * 0.1)  # none waits


def test_member_failures_and_groups_pickle_and_repeat_for_a_seed():
    network = stranding("mlfq").with_changes({
        "nodes.nodes.rebalance": {"period": 0.1, "groups": 3, "threshold": 2},
        "nodes.nodes.failures": [
            {"mttf": 2.0, "mttr": 0.3, "policy": "migrate"},
            {"members": [8, 9, 10, 11], "together": True, "at": [SUBMIT + 0.1],
             "duration": 0.2, "policy": "migrate"}]}).network
    copy = pickle.loads(pickle.dumps(network))  # as replications travel to workers
    assert (copy.failures, copy.routers) == (network.failures, network.routers)
    a, b = (one_run(net, seed=3, customers=2400) for net in (copy, network))
    assert completions(a) == completions(b) and a.env.now == b.env.now
