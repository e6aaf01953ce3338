"""Failures: policy lost loses jobs, retry loses none, migrate moves them to siblings."""

from __future__ import annotations

from qmodel import Model
from qmodel.sim import simulate


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
