"""The metastability sweep of a model: its inputs read from the model file, checked
against the retry fixed point called directly and against answers worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qmodel import Model
from qmodel.errors import ModelError
from qmodel.experiments.metastability import (
    JITTER_NOTE,
    Tabulated,
    figure,
    loads,
    metastability,
    remedies,
    setting,
)
from qmodel.model.parse import read_yaml
from qmodel.solvers.retry_fixed_point import (
    MGcTimeouts,
    MMcTimeouts,
    RetryPolicy,
    fixed_points,
    hysteresis,
)


def retrying(**client) -> dict:
    """8 servers of 20 ms (400/s), a client at 250/s with a 100 ms timeout, 3 retries."""
    web = {"to": "app", "rate": "250/s", "timeout": "100ms", "retries": {"max": 3}} | client
    return {"nodes": {"app": {"kind": "queue", "servers": 8, "service": "20ms"}},
            "arrivals": {"web": web}}


@pytest.fixture
def model() -> Model:
    return Model.from_dict(retrying())


def problems(doc: dict, **kwargs) -> dict[str, str]:
    with pytest.raises(ModelError) as caught:
        metastability(Model.from_dict(doc), **kwargs)
    return {p.path: p.message for p in caught.value.problems}


def test_reads_the_fixed_points_inputs_in_seconds_whatever_the_time_unit():
    doc = {"time_unit": "ms", **retrying(on_timeout="cancel")}
    doc["nodes"]["app"]["service"] = {"dist": "gamma", "mean": 20, "cv": 0.5}
    doc["arrivals"]["web"]["retries"]["budget"] = {"ratio": 0.2}
    s = setting(Model.from_dict(doc))
    assert (s.job_class, s.node, s.servers, s.on_timeout) == ("web", "app", 8, "cancel")
    assert s.rate == pytest.approx(250.0) and s.capacity == pytest.approx(400.0)
    assert s.mean_service == pytest.approx(0.02) and s.scv == pytest.approx(0.25)
    assert s.policy == RetryPolicy(timeout=0.1, max_retries=3, budget=0.2)
    assert not s.exact and "Erlang-A" in s.station(1000.0).method


def test_the_sweep_is_the_fixed_points_on_the_same_queue(model):
    r = metastability(model, low=50.0, high=500.0, points=10)
    direct = hysteresis(np.linspace(50.0, 500.0, 10), MMcTimeouts(8, 0.02),
                        RetryPolicy(timeout=0.1, max_retries=3))
    assert r.interval == pytest.approx(direct.metastable)
    for column in ("lam0", "lam_eff", "goodput", "p_timeout"):
        assert r.table[column].to_numpy() == pytest.approx(direct.table[column].to_numpy())
    assert (r.table.state == direct.table.state).all()
    assert r.table.amplification.to_numpy() == pytest.approx((r.table.lam_eff / r.table.lam0)
                                                             .to_numpy())
    assert r.method.startswith("exact")


def test_the_loop_its_band_and_the_class_inside_it(model):
    r = metastability(model, points=12)
    # by hand: wasted work makes the overloaded state exist once lam0 (m + 1) >= c / S
    assert r.interval[0] == pytest.approx(400.0 / 4, rel=1e-6)
    assert r.interval[0] < 250.0 < r.interval[1] < 400.0
    assert r.inside and [p.state for p in r.here] == ["healthy", "saturated"]
    both = r.table[(r.table.lam0 > r.interval[0]) & (r.table.lam0 < r.interval[1])]
    up, down = both[both.direction == "up"], both[both.direction == "down"]
    assert (up.branch == "healthy").all() and (down.branch == "saturated").all()
    assert (up.goodput.to_numpy() > 0.99 * up.lam0.to_numpy()).all()
    assert (down.goodput == 0.0).all() and (both.state == "metastable").all()
    assert "metastable from 100/s to" in str(r) and "healthy" in str(r)
    doc = r.to_dict()
    assert doc["metastable"] == pytest.approx(list(r.interval)) and doc["inside"]
    assert len(doc["sweep"]) == 24


def test_no_retries_one_state_the_m_m_1_tail_by_hand():
    # M/M/1 (10 ms) at 50/s with a 20 ms timeout and no retries: R ~ Exp(mu - lam)
    doc = {"nodes": {"app": {"kind": "queue", "service": "10ms"}},
           "arrivals": {"web": {"to": "app", "rate": "50/s", "timeout": "20ms",
                                "retries": {"max": 0}}}}
    r = metastability(Model.from_dict(doc), low=10.0, high=150.0, points=15)
    assert r.interval is None and (r.table.n_stable == 1).all()
    (point,) = r.here
    assert point.p_timeout == pytest.approx(math.exp(-(100 - 50) * 0.02), rel=1e-9)
    assert point.goodput == pytest.approx(50 * (1 - math.exp(-1.0)), rel=1e-9)
    up, down = (r.table[r.table.direction == d].sort_values("lam0") for d in ("up", "down"))
    assert up.goodput.to_numpy() == pytest.approx(down.goodput.to_numpy())  # no loop


def test_ample_servers_leave_one_state_on_the_sweep(model):
    ample = model.with_changes({"nodes.app.servers": 40})   # 2000/s: (m + 1) lam0 < c / S
    r = metastability(ample, low=80.0, high=480.0, points=12)
    assert r.interval is None and not r.inside and (r.table.branch == "healthy").all()


def test_an_approximate_queue_is_labelled_and_its_states_solve_the_direct_map():
    doc = retrying()
    doc["nodes"]["app"]["service"] = {"dist": "gamma", "mean": "20ms", "cv": 0.7}
    s = setting(Model.from_dict(doc))
    station = s.station(600.0 * 4)
    assert isinstance(station, Tabulated) and "approximation" in station.method
    direct = MGcTimeouts(8, 0.02, 0.49)
    points = fixed_points(330.0, station, s.policy)
    assert [p.state for p in points] == ["healthy", "unstable", "saturated"]
    lam = np.array([p.lam_eff for p in points])     # each solves lam = lam0 A(p(lam))
    assert lam == pytest.approx(330.0 * s.policy.amplification(direct.p_timeout(lam, 0.1)),
                                rel=1e-3)
    assert points[0].mean_in_time == pytest.approx(direct.mean_in_time(lam[:1], 0.1)[0], rel=5e-3)


def test_remedies_name_model_paths_and_agree_with_the_fixed_points(model):
    table = remedies(model, points=12).set_index("change")
    removes = set(table.index[table.removes])
    assert removes == {"arrivals.web.retries.max=0", "arrivals.web.retries.budget.ratio=0.1",
                       "arrivals.web.on_timeout=cancel"}
    assert set(table.index) == removes | {
        "as is", "arrivals.web.retries.max=2", "arrivals.web.timeout=0.05s",
        "arrivals.web.timeout=0.2s", "nodes.app.servers=9", "nodes.app.servers=10",
        "arrivals.web.retries.backoff.jitter=full"}
    jitter = table.loc["arrivals.web.retries.backoff.jitter=full"]
    assert jitter.note == JITTER_NOTE
    assert jitter.metastable_low == table.loc["as is"].metastable_low
    # one more server: the fixed point's own sweep on 9 servers; by hand its low end is
    # where 4 attempts per request fill 9 servers: 9 / 20ms / 4 = 112.5/s
    nine = hysteresis(loads(setting(model), points=12), MMcTimeouts(9, 0.02),
                      RetryPolicy(0.1, 3)).metastable
    assert table.loc["nodes.app.servers=9", ["metastable_low", "metastable_high"]].tolist() \
        == pytest.approx(list(nine))
    assert nine[0] == pytest.approx(112.5, rel=1e-6)
    assert table.loc["arrivals.web.retries.max=0", "at_rate"] == "healthy"
    assert table.loc["as is", "at_rate"] == "metastable"
    for change in table.index.drop("as is"):    # each label is a --set that loads
        path, value = change.split("=")
        if "jitter" not in path:
            setting(model.with_changes({path: read_yaml(value, path)}))


def test_the_figure_draws_both_branches_and_the_band(model):
    r = metastability(model, points=8)
    fig = figure(r)
    assert [t.name for t in fig.data] == ["goodput, up", "attempts, up", "goodput, down",
                                          "attempts, down"]
    assert fig.data[0].line.color != fig.data[2].line.color
    band = [s for s in fig.layout.shapes if s.type == "rect"]
    assert band[0].x0 == pytest.approx(r.interval[0]) and band[0].x1 == pytest.approx(r.interval[1])
    lines = {(s.x0, s.y0) for s in fig.layout.shapes if s.type == "line"}
    assert (250.0, 0) in lines and (0, 400.0) in lines       # the class now, the capacity


@pytest.mark.parametrize(("change", "path"), [
    ({"hedge": {"after": "10ms"}}, "arrivals.web.hedge"),
    ({"retries": {"max": 2, "budget": {"ratio": 0.1, "min": "5/s"}}},
     "arrivals.web.retries.budget.min"),
    ({"retries": {"max": 2, "when": ["reject"]}}, "arrivals.web.retries.when"),
    ({"interarrival": {"dist": "deterministic"}}, "arrivals.web.interarrival"),
    ({"timeout": None}, "arrivals.web.timeout"),
])
def test_refuses_what_the_fixed_point_does_not_model_at_its_field(change, path):
    doc = retrying(**change)
    doc["arrivals"]["web"] = {k: v for k, v in doc["arrivals"]["web"].items() if v is not None}
    assert path in problems(doc)


def test_refuses_chains_shared_queues_capacities_and_ambiguous_classes():
    chain = retrying()
    chain["nodes"]["app"]["next"] = "db"
    chain["nodes"]["db"] = {"kind": "queue", "service": "1ms"}
    assert "visits app, db" in problems(chain)["arrivals.web.to"]
    shared = retrying()
    shared["arrivals"]["batch"] = {"to": "app", "rate": "10/s"}
    assert "arrivals.batch" in problems(shared)
    assert "choose one" in problems(shared | {"arrivals": {
        "a": retrying()["arrivals"]["web"], "b": retrying()["arrivals"]["web"]}})["arrivals"]
    assert "no open class 'api'" in problems(retrying(), job_class="api")["arrivals.api"]
    full = retrying()
    full["nodes"]["app"]["capacity"] = 20
    assert "nodes.app.capacity" in problems(full)
    delay = retrying()
    delay["nodes"]["app"] = {"kind": "delay", "service": "20ms"}
    assert "finite number of servers" in problems(delay)["nodes.app"]


@pytest.mark.parametrize(("kwargs", "path"), [
    ({"points": 1}, "--points"), ({"points": True}, "--points"),
    ({"low": 0.0}, "--from"), ({"high": math.inf}, "--to"), ({"low": 300.0, "high": 200.0}, "--to"),
])
def test_refuses_a_bad_sweep(model, kwargs, path):
    with pytest.raises(ModelError) as caught:
        metastability(model, **kwargs)
    assert caught.value.problems[0].path == path


@pytest.mark.parametrize("change", [{"nodes.app.servers": 10_000}, {"nodes.app.service": "1ns"},
                                    {"arrivals.web.timeout": "1e6s"}])
def test_extreme_settings_give_finite_numbers(model, change):
    """10,000 servers, a 1 ns service, a timeout of a million seconds: the M/M/c tail is
    written so that no exponential overflows (it was NaN here)."""
    result = metastability(model.with_changes(change), points=4)
    columns = result.table[["lam_eff", "goodput", "p_timeout", "amplification"]]
    assert np.isfinite(columns.to_numpy(dtype=float)).all()
    assert ((0 <= result.table["p_timeout"]) & (result.table["p_timeout"] <= 1)).all()
