"""Capacity plans: equal to brute force on small cases, the Erlang C inverse problem,
and impossible plans that name the component blocking them."""

from __future__ import annotations

import pytest

from qmodel import Model, ModelError
from qmodel.experiments import PlanError, plan, sweep

from .models import batch

SHOP_COST = {"nodes.lb": 1, "nodes.api": 2, "nodes.db.servers": 3}
SHOP_LIMITS = {"nodes.lb": 4, "nodes.api": 12, "nodes.db.servers": 6}


@pytest.mark.parametrize(("slo", "load", "ceiling"), [
    ("mean < 23ms", "300/s", 0.9),
    ("mean < 23ms", "450/s", 0.9),
    ("mean < 25ms and utilization < 0.7", "300/s", None),
    ("mean < 28ms", "450/s", 0.8),
])
def test_best_first_equals_brute_force_on_a_network(shop, slo, load, ceiling):
    kwargs = dict(slo=slo, load=load, cost=SHOP_COST, limits=SHOP_LIMITS,
                  max_utilization=ceiling)
    brute = plan(shop, search="brute", **kwargs)
    smart = plan(shop, search="best-first", **kwargs)
    assert smart.configuration == brute.configuration
    assert smart.cost == brute.cost
    assert smart.configuration != smart.lower_bounds          # the SLO binds, not the ceiling
    assert smart.evaluated < brute.evaluated
    assert brute.evaluated >= 4 * 12 * 6


def test_best_first_equals_brute_force_with_percentiles_and_shards(web):
    kwargs = dict(slo="p95 < 90ms", load="400/s", cost={"nodes.app": 1, "nodes.db": 4},
                  limits={"nodes.app": (10, 16), "nodes.db": (2, 6)})
    brute = plan(web, search="brute", **kwargs)
    smart = plan(web, search="best-first", **kwargs)
    assert smart.configuration == brute.configuration == {"nodes.app.servers": 14,
                                                          "nodes.db.shards": 5}
    assert smart.lower_bounds == {"nodes.app.servers": 13, "nodes.db.shards": 3}
    assert smart.metrics["p95_response_time_s"] < 0.090


def test_plan_starts_from_the_utilization_lower_bounds(web):
    result = plan(web, slo="p95 < 200ms", load="800/s", cost={"nodes.app": 1, "nodes.db": 4})
    # app: 800/s x 25ms / 0.8 = 25 servers; db: 640/s x 6ms / 0.8 = 4.8 -> 5 shards
    assert result.lower_bounds == {"nodes.app.servers": 25, "nodes.db.shards": 5}
    assert result.configuration == result.lower_bounds and result.cost == 45
    assert result.model.network.classes[0].rate == 800.0


def call_centre(agents: int = 11) -> Model:
    """Call Centre Helper's worked example: 100 calls per 30 min, AHT 180 s."""
    return Model.from_dict({
        "nodes": {"agents": {"kind": "queue", "servers": agents, "service": "180s"}},
        "arrivals": {"calls": {"to": "agents", "rate": "200/h"}}})


def test_erlang_c_staffing_inverse_problem():
    """Servers needed for "80% answered within 20 s" (published answer: 14 agents, see
    tests/solvers/test_mmc.py) - via plan, not a hand-written search."""
    result = plan(call_centre(), slo="wait_p80 <= 20s", cost={"nodes.agents": 1},
                  max_utilization=0.85)
    assert result.configuration == {"nodes.agents.servers": 14}
    brute = plan(call_centre(), slo="wait_p80 <= 20s", cost={"nodes.agents": 1},
                 max_utilization=0.85, limits={"nodes.agents": 30}, search="brute")
    assert brute.configuration == result.configuration


def test_impossible_latency_names_the_blocking_component(web):
    with pytest.raises(PlanError) as info:
        plan(web, slo="p95 < 20ms", load="800/s", cost={"nodes.app": 1, "nodes.db": 4},
             limits={"nodes.app": 40, "nodes.db": 12})
    assert info.value.component == "app"
    assert "no configuration within the limits meets p95 < 20ms" in str(info.value)
    assert "nodes.app blocks it" in str(info.value)


def test_impossible_utilization_names_an_uncosted_component(web):
    with pytest.raises(PlanError, match="nodes.db is at 0.96") as info:
        plan(web, slo="p95 < 200ms", load="800/s", cost={"nodes.app": 1})
    assert info.value.component == "db"


def test_limits_too_low_name_the_component(web):
    with pytest.raises(PlanError) as info:
        plan(web, load="800/s", cost={"nodes.app": 1, "nodes.db": 4}, limits={"nodes.app": 20})
    assert info.value.component == "app"


def test_bad_cost_keys_are_model_errors(web):
    with pytest.raises(ModelError, match="no component 'api'"):
        plan(web, cost={"nodes.api": 1})
    with pytest.raises(ModelError, match="must be a positive finite number"):
        plan(web, cost={"nodes.app": 0})
    with pytest.raises(ModelError, match="must be a positive finite number, got inf"):
        plan(web, cost={"nodes.app": float("inf")})  # every plan would cost inf


def test_plan_a_batch_to_finish_within_a_makespan_slo():
    """200 jobs of 10 ms on average: the bound (2 s / c < 420 ms) starts the search at 5
    servers, whose simulated makespan misses the SLO; 6 is the fewest that meet it, as a
    sweep with the same seed shows. The utilization ceiling does not apply to a batch."""
    model = batch()
    result = plan(model, slo="makespan < 420ms", cost={"nodes.cpu": 1},
                  limits={"nodes.cpu": 32}, replications=3, seed=1)
    assert result.lower_bounds == {"nodes.cpu.servers": 5}
    assert result.configuration == {"nodes.cpu.servers": 6} and result.evaluated == 3
    table = sweep(model, {"nodes.cpu.servers": [5, 6]}, replications=3, seed=1,
                  executor="serial")
    assert table["makespan_s"].tolist()[0] >= 0.42
    assert result.metrics["makespan_s"] == table["makespan_s"].tolist()[1] < 0.42
    assert str(result) == "cost 6: nodes.cpu.servers=6 meets makespan < 420ms"
    with pytest.raises(PlanError, match="nodes.cpu blocks it: makespan >= 666.7ms") as info:
        plan(model, slo="makespan < 420ms", cost={"nodes.cpu": 1}, limits={"nodes.cpu": 3},
             replications=3)
    assert info.value.component == "cpu"
