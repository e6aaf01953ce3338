"""Visits per request, on average and at worst (every retry, hedged copy and call)."""

from __future__ import annotations

from qmodel import Model, load
from qmodel.model.request_size import (
    MAX_VISITS_PER_REQUEST,
    request_size_problems,
    visits_per_request,
    worst_visits,
)


def retrying(count: int, retries: int) -> Model:
    """A front end whose visits make ``count`` calls to a database, with client retries,
    a hedged copy and the calls' own retries."""
    return Model.from_dict({
        "arrivals": {"web": {"to": "app", "rate": "50/s", "timeout": "1s",
                             "retries": {"max": retries}, "hedge": {"after": "50ms"}}},
        "nodes": {"app": {"kind": "queue", "servers": 4, "service": "2ms",
                          "calls": [{"to": "db", "count": count, "timeout": "1s",
                                     "retries": {"max": 1}}]},
                  "db": {"kind": "queue", "servers": 8, "service": "1ms"}}})


def test_worst_case_multiplies_attempts_copies_and_calls():
    net = retrying(10, 3).network
    assert visits_per_request(net) == 11  # 1 visit to app, 10 calls to db
    assert worst_visits(net, net.classes[0]) == 4 * 2 * (1 + 10 * 2)


def test_fork_tasks_count_as_visits():
    net = load("topologies/mapreduce_job.yaml").network
    # 100 map tasks, 20 reduce tasks, two joins and the shuffle
    assert visits_per_request(net) == worst_visits(net, net.classes[0]) == 123


def test_only_a_request_over_the_limit_is_a_problem():
    assert request_size_problems(retrying(1000, 100).network) == []  # 101 x 2 x 2,001
    hostile = load("tests/model/hostile/behaviour_extremes_within_limits.yaml").network
    (problem,) = request_size_problems(hostile)
    assert problem.path == "arrivals.web"
    assert "12,222,111 visits" in problem.message
    assert f"at most {MAX_VISITS_PER_REQUEST:,}" in problem.message
