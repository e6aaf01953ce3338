"""Loss of time resolution (qmodel.sim.resolution): a clock so large that doubles no
longer resolve the services is refused, a coarse one is reported."""

from __future__ import annotations

import pytest

import qmodel
from qmodel.errors import ModelError
from qmodel.sim.resolution import check_resolution, shortest_service


def tiny_rate(rate: float) -> qmodel.Model:
    return qmodel.Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "10ms"}},
                                   "arrivals": {"web": {"to": "app", "rate": rate}}})


def test_a_clock_past_the_resolution_of_the_services_is_refused():
    # 200 jobs at 1e-12/s (the smallest rate a model may have): the clock reaches ~2e14 s,
    # where doubles are 2^-5 s apart, three times the 10 ms service
    with pytest.raises(ModelError, match="rounded to steps of 0.0312 s.*0.01 s"):
        qmodel.simulate(tiny_rate(1e-12), replications=2, customers=200, seed=1)


def test_a_coarse_clock_is_reported_and_a_fine_one_is_not():
    model = tiny_rate(1.0).network
    assert shortest_service(model) == pytest.approx(0.01)
    assert check_resolution(model, 1e4) is None
    note = check_resolution(model, 1e11)  # steps of 1.5e-5 s: 0.0015 of 10 ms
    assert note is not None and "0.0015 of the shortest mean service" in note
    r = qmodel.simulate(tiny_rate(1e-7), replications=2, customers=200, seed=1)
    assert any(n.startswith("time resolution") for n in r.notes)
    assert float(r.system.mean_response_time) > 0
