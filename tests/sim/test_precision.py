"""Stop at precision: replications until every checked mean's interval is narrow enough."""

from __future__ import annotations

import pytest

from qmodel import Model, QModelError
from qmodel.results import Estimate, NodeResult, Result, SystemResult
from qmodel.sim import simulate
from qmodel.sim.precision import MIN_REPLICATIONS, parse_precision, widest

from .theory import single_queue


@pytest.fixture(scope="module")
def mm1():
    return Model.from_dict(single_queue(0.5, 1.0))


def test_a_run_to_precision_stops_when_reached_and_equals_a_fixed_run(mm1):
    run = simulate(mm1, precision="8%", customers=2000, seed=11, progress=False)
    steps = run.convergence
    assert [s["replications"] for s in steps] == list(range(MIN_REPLICATIONS, run.replications + 1))
    assert steps[-1]["worst"] <= 0.08 < max(s["worst"] for s in steps[:-1] or [{"worst": 1}])
    assert widest(run)[0] == pytest.approx(steps[-1]["worst"])
    assert any("stopped at precision" in n for n in run.notes)
    fixed = simulate(mm1, replications=run.replications, customers=2000, seed=11,
                     progress=False)
    assert float(fixed.system.mean_response_time) == float(run.system.mean_response_time)
    # M/M/1 at rho 0.5, mean service 1: R = 2, within the interval the run reached
    low, high = run.system.mean_response_time.ci95
    assert low < 2.0 < high and (high - low) / 2 <= 0.08 * float(run.system.mean_response_time)


def test_a_precision_not_reached_says_so_after_the_replications_allowed(mm1):
    run = simulate(mm1, precision="0.1%", replications=4, customers=500, seed=2,
                   progress=False)
    assert run.replications == 4 and run.convergence[-1]["worst"] > 0.001
    assert any("NOT reached after 4 of 4" in n for n in run.notes)


def test_an_unstable_model_stops_at_the_first_check():
    run = simulate(Model.from_dict(single_queue(2.0, 1.0)), precision="5%", seed=1,
                   progress=False)
    assert run.unstable and run.replications == MIN_REPLICATIONS


def test_widest_skips_zero_means_and_counts_a_nan_interval_as_widest():
    node = NodeResult("a", "a", "queue", 1, "simulation",
                      mean_wait=Estimate(0.0, "simulation", (0.0, 0.0)),
                      utilization=Estimate(0.5, "simulation", (float("nan"), 0.6)))
    result = Result("m", "simulation", "s", {"a": node}, SystemResult("simulation"))
    assert widest(result)[1] == "a.utilization"


@pytest.mark.parametrize("value", ["0%", "100%", "-5%", "abc", "nan", "inf%", True, 1.5])
def test_a_bad_precision_is_refused_by_name(value):
    with pytest.raises(QModelError, match="precision: must be a relative half-width"):
        parse_precision(value)


@pytest.mark.parametrize("kwargs, message", [
    ({"replications": 2}, "at least 3, got 2"),
    ({"executor": "local"}, "not with executor"),
    ({"bins": "1s"}, "not with bins"),
])
def test_precision_with_options_it_cannot_use_is_refused(mm1, kwargs, message):
    with pytest.raises(QModelError, match=message):
        simulate(mm1, precision="5%", **kwargs)


def test_a_nan_width_is_null_in_the_json(mm1):
    run = simulate(mm1, precision="50%", customers=300, seed=1, progress=False)
    run.convergence.append({"replications": 4, "worst": float("nan"), "metric": "q.utilization"})
    assert run.to_dict()["convergence"][-1]["worst"] is None


def test_each_replication_is_reported_as_the_run_converges():
    """``on_replication`` sees the summary after each replication; the last one holds the
    final means and intervals."""
    m = Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "10ms"}},
                         "arrivals": {"web": {"to": "app", "rate": "50/s"}}})
    seen = []
    r = simulate(m, replications=4, customers=2000, seed=3, progress=False,
                        on_replication=seen.append)
    assert [s.replications for s in seen] == [1, 2, 3, 4]
    last, final = seen[-1].system.mean_response_time, r.system.mean_response_time
    assert float(last) == float(final) and last.ci95 == final.ci95
    with pytest.raises(QModelError, match="on_replication: a callable"):
        simulate(m, replications=2, customers=500, executor="serial",
                 on_replication=seen.append)
    with pytest.raises(QModelError, match="on_replication: a callable"):
        simulate(m, replications=2, customers=500, on_replication="print")
