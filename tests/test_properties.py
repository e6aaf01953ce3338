"""Random and malformed models never crash the loader or the solvers: either a result
(obeying Little's law and flow balance) or a ModelError naming field paths."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

import qmodel
from qmodel.errors import ModelError, UnsupportedError

NAMES = ["a", "b", "c", "d"]
junk = st.one_of(st.none(), st.booleans(), st.integers(-3, 5), st.floats(allow_nan=True),
                 st.text(max_size=6), st.lists(st.integers(), max_size=2))
durations = st.one_of(st.sampled_from(["5ms", "20ms", "1s", "0ms", "-1ms", "fast"]),
                      st.floats(0.0, 50.0), junk)
dists = st.one_of(
    durations,
    st.fixed_dictionaries({"dist": st.sampled_from(["exponential", "erlang", "gamma",
                                                    "lognormal", "deterministic", "bogus"]),
                           "mean": durations},
                          optional={"cv": st.one_of(st.floats(0, 3), junk),
                                    "k": st.one_of(st.integers(0, 4), junk)}),
)
routes = st.one_of(st.sampled_from(NAMES + ["zz"]),
                   st.dictionaries(st.sampled_from(NAMES + ["zz"]),
                                   st.one_of(st.floats(0, 0.7), junk), max_size=2))
node = st.fixed_dictionaries(
    {"kind": st.sampled_from(["queue", "delay", "shards", "queue", "nonsense"]),
     "service": dists},
    optional={"servers": st.one_of(st.integers(0, 6), st.just("inf"), junk),
              "next": routes, "capacity": st.one_of(st.integers(0, 8), junk),
              "discipline": st.sampled_from(["fcfs", "ps", "lcfs-pr", "priority", "wat"]),
              "shards": st.integers(0, 4), "unknown_key": junk})
models = st.fixed_dictionaries(
    {"nodes": st.dictionaries(st.sampled_from(NAMES), node, min_size=1, max_size=4)},
    optional={
        "arrivals": st.dictionaries(st.sampled_from(["web", "api"]), st.fixed_dictionaries(
            {"to": routes, "rate": st.one_of(st.sampled_from(["5/s", "50/s", "0/s"]),
                                             st.floats(0, 100), junk)}), max_size=2),
        "users": st.dictionaries(st.sampled_from(["u"]), st.fixed_dictionaries(
            {"to": routes, "population": st.one_of(st.integers(0, 20), junk),
             "think_time": durations}), max_size=1),
        "time_unit": st.sampled_from(["ms", "s", "lightyear"]),
    })


def check_invariants(result: qmodel.Result) -> None:
    """Little's law at every station that has its three numbers (and at least one must,
    when the system has a mean response time), probabilities in [0, 1], utilization < 1."""
    checked = 0
    for n in result.nodes.values():
        if n.mean_in_system is not None and n.throughput is not None and n.mean_response is not None:
            assert math.isclose(n.mean_in_system, n.throughput * n.mean_response,
                                rel_tol=1e-6, abs_tol=1e-9)  # Little's law per station
            checked += 1
        for p in (n.p_wait, n.p_idle, n.p_loss):
            assert p is None or -1e-9 <= p <= 1 + 1e-9
        if n.utilization is not None:
            assert n.utilization < 1 + 1e-9
    if result.system.mean_response_time is not None:
        assert math.isfinite(result.system.mean_response_time)
        assert result.system.mean_response_time >= 0
        assert checked, "a system response time but no station with L, X and R"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models)
def test_random_models_give_a_result_or_field_errors(data):
    try:
        model = qmodel.Model.from_dict(data)
    except ModelError as exc:
        assert exc.problems and all(p.message for p in exc.problems)
        event("field errors")
    else:
        try:
            result = qmodel.solve(model)
        except UnsupportedError as exc:
            assert exc.reason
            event("unsupported")
        else:
            check_invariants(result)
            event("solved")


@st.composite
def open_networks(draw):
    n = draw(st.integers(1, 5))
    names = [f"s{i}" for i in range(n)]
    nodes = {}
    for name in names:
        exits = draw(st.floats(0.1, 1.0))
        targets = draw(st.lists(st.sampled_from(names), max_size=2, unique=True))
        share = (1.0 - exits) / max(len(targets), 1)
        nodes[name] = {"kind": "queue", "servers": draw(st.integers(1, 8)),
                       "service": {"mean": draw(st.floats(0.001, 0.1)),
                                   "cv": draw(st.sampled_from([0.0, 0.5, 1.0, 2.0]))},
                       "next": {t: share for t in targets}}
    rate = draw(st.floats(0.5, 200.0))
    return {"nodes": nodes, "arrivals": {"x": {"to": names[0], "rate": f"{rate}/s"}}}


def _model_or_none(data: dict) -> qmodel.Model | None:
    try:
        return qmodel.Model.from_dict(data)
    except ModelError:
        return None


@settings(max_examples=150, deadline=None)
@given(open_networks())
def test_flow_balance_and_littles_law_on_random_open_networks(data):
    model = _model_or_none(data)
    assume(model is not None)  # e.g. a station no job reaches
    result = qmodel.solve(model)
    check_invariants(result)
    net = model.network
    rate = net.classes[0].rate
    lam = np.array([float(result.nodes[s.name].arrival_rate) for s in net.stations])
    # Flow balance: what arrives at each station is what enters plus what is routed to it.
    expected = rate * net.entry["x"] + net.routing["x"].T @ lam
    assert np.allclose(lam, expected, rtol=1e-9, atol=1e-9)
    if result.stable:
        s = result.system
        assert math.isclose(s.mean_jobs, s.throughput * s.mean_response_time, rel_tol=1e-6)
    else:
        assert result.system.mean_response_time is None
