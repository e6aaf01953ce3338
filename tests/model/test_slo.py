"""The SLO grammar: clauses, units, the model's default, errors that teach the grammar, and
a model file's ``slo:`` checked when it is loaded."""

from __future__ import annotations

import math

import pytest

from qmodel import Model, ModelError
from qmodel.model.slo import GRAMMAR, model_slo, parse_slo

from ..experiments.models import mm1


@pytest.mark.parametrize(("text", "metric", "op", "limit"), [
    ("p95 < 200ms", "p95", "<", 0.2),
    ("mean < 50ms", "mean", "<", 0.05),
    ("p99 <= 1s", "p99", "<=", 1.0),
    ("utilization < 0.8", "utilization", "<", 0.8),
    ("utilization < 80%", "utilization", "<", 0.8),
    ("throughput >= 500/s", "throughput", ">=", 500.0),
    ("wait_p80 <= 20s", "wait_p80", "<=", 20.0),
    ("P99.9 < 2s", "p99.9", "<", 2.0),
    ("makespan < 35s", "makespan", "<", 35.0),
])
def test_clauses(text, metric, op, limit):
    (clause,) = parse_slo(text).clauses
    assert (clause.metric, clause.op) == (metric, op)
    assert clause.limit == pytest.approx(limit)


def test_and_joins_and_a_list_means_all():
    slo = parse_slo(["p95 < 200ms and utilization < 0.8", "mean < 50ms"])
    assert [c.metric for c in slo.clauses] == ["p95", "utilization", "mean"]
    row = {"p95_response_time_s": 0.1, "max_utilization": 0.7, "mean_response_time_s": 0.06}
    assert not slo.met(row) and [str(c) for c in slo.failing(row)] == ["mean < 50ms"]
    assert not slo.met({**row, "mean_response_time_s": math.nan})   # unstable: never met
    assert parse_slo("makespan <= 35s").met({"makespan_s": 35.0})


def test_bare_number_uses_the_model_time_unit():
    assert parse_slo("p95 < 200", time_unit="ms").clauses[0].limit == pytest.approx(0.2)


def test_model_slo_is_the_default(web):
    assert str(model_slo(web, None)) == "p95 < 200ms"
    assert model_slo(mm1(), None) is None
    assert str(model_slo(web, "mean < 1000ms")) == "mean < 1s"


@pytest.mark.parametrize("text", ["p95 << 200ms", "latency < 200ms", "p95 < fast",
                                  "p95 < 200ms or mean < 1s", "p100 < 1s", ""])
def test_unparsable_slo_states_the_grammar(text):
    with pytest.raises(ModelError) as info:
        parse_slo(text, path="--slo")
    problem = info.value.problems[0]
    assert problem.path == "--slo"
    assert "METRIC OP VALUE" in problem.message or "percentile" in problem.message


def model_with(slo, time_unit: str = "s") -> dict:
    return {"time_unit": time_unit,
            "nodes": {"app": {"kind": "queue", "service": "10ms"}},
            "arrivals": {"web": {"to": "app", "rate": "50/s"}}, "slo": slo}


@pytest.mark.parametrize(("slo", "expected"), [
    ("p95 << banana", f"slo: cannot read 'p95 << banana'; an SLO is {GRAMMAR}"),
    (["p95 < 200ms", "latency < 1s"], f"slo.1: cannot read 'latency < 1s'; an SLO is {GRAMMAR}"),
    ("p95 < fast", "slo: 'p95 < fast': must be a duration such as 20ms or 1.5s, got 'fast'; an SLO is "
     + GRAMMAR),
    (["mean < 1s", "p100 < 1s"], "slo.1: p100: a percentile lies between p0 and p100"),
    ("utilization < nan", "slo: 'utilization < nan': a utilization is a fraction between 0 "
                          "and 1 (0.8 or 80%)"),  # it was accepted, and never held
    ("utilization < 120%", "slo: 'utilization < 120%': a utilization is a fraction between 0 "
                           "and 1 (0.8 or 80%)"),
])
def test_a_bad_slo_in_a_model_file_is_rejected_at_load(slo, expected):
    with pytest.raises(ModelError) as info:
        Model.from_dict(model_with(slo))
    assert [str(p) for p in info.value.problems] == [expected]


def test_a_good_slo_loads_as_written_and_reads_in_the_model_time_unit():
    model = Model.from_dict(model_with(["p95 < 200", "utilization < 80%"], "ms"))
    assert model.spec.slo == ["p95 < 200", "utilization < 80%"]
    assert str(model_slo(model, None)) == "p95 < 200ms and utilization < 0.8"
