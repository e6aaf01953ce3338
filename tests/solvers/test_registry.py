"""qmodel.solve as a registry: which method auto picks, why the others were passed over,
errors for unknown or unsupported methods, and adding a method by adding one entry."""

from __future__ import annotations

import json

import pytest

import qmodel
from qmodel import methods
from qmodel.errors import QModelError, UnsupportedError
from qmodel.solvers import registry
from qmodel.solvers.methods import open as open_method
from qmodel.solvers.protocol import Method


def chosen(result: qmodel.Result) -> str:
    """The registered method that produced ``result``: the one not passed over."""
    (name,) = set(registry.names()) - set(result.passed_over)
    return name


def queue(**node) -> dict:
    return {"kind": "queue", "service": 1.0, **node}


def open_model(rate: float = 0.5, **nodes) -> qmodel.Model:
    first = next(iter(nodes))
    return qmodel.Model.from_dict({"nodes": nodes,
                                   "arrivals": {"x": {"to": first, "rate": rate}}})


def tandem(capacity: int, service: float = 1.0) -> dict:
    return {"a": queue(capacity=capacity, service=service, next="b"),
            "b": queue(capacity=capacity, service=service, next="c"),
            "c": queue(capacity=capacity, service=service)}


CLOSED = {"nodes": {"cpu": queue(service=0.1)},
          "users": {"u": {"to": "cpu", "population": 5, "think_time": 1.0}}}

# What the if-chain before the registry chose, per rule:
AUTO_CHOICES = [
    # open networks -> product form / QNA
    ("M/M/1", open_model(a=queue()), "open", "product-form"),
    ("M/D/1 tandem", open_model(a=queue(service={"dist": "deterministic", "value": 1},
                                        next="b"), b=queue()), "open", "open"),
    # a buffer that rejects, Markovian -> the exact CTMC
    ("M/M/1/3", open_model(a=queue(capacity=3)), "ctmc", "ctmc"),
    # a buffer that blocks under PS -> CTMC; under FCFS it is the plain queue -> open
    ("PS, blocking", open_model(a=queue(capacity=2, on_full="block", discipline="ps")),
     "ctmc", "ctmc"),
    ("FCFS, blocking", open_model(a=queue(capacity=2, on_full="block")), "open",
     "product-form"),
    # a rejecting buffer that is not Markovian -> open (M/G/1/K)
    ("M/D/1/3", open_model(a=queue(capacity=3, service={"dist": "deterministic",
                                                          "value": 1})), "open", "open"),
    # the CTMC fails (too many states) -> open
    ("large tandem", open_model(**tandem(100)), "open", "open"),
    # the CTMC fails (a station without a buffer is unstable) -> open, reported unstable
    ("unstable", open_model(rate=2.0, a=queue(capacity=3, service=0.5, next="b"),
                            b=queue()), "open", "open"),
    # closed -> MVA; mixed -> mixed MVA
    ("closed", qmodel.Model.from_dict(CLOSED), "mva", "mva"),
    ("mixed", qmodel.Model.from_dict({**CLOSED, "arrivals": {"x": {"to": "cpu",
                                                                    "rate": 1.0}}}),
     "mva", "mva"),
    # batches -> the makespan bound
    ("batches", qmodel.Model.from_dict({"nodes": {"a": queue()},
                                         "batches": {"b": {"to": "a", "size": 5}}}),
     "batches", "needs simulation"),
]


@pytest.mark.parametrize("label, model, name, result_method", AUTO_CHOICES,
                         ids=[c[0] for c in AUTO_CHOICES])
def test_auto_picks_the_same_method_as_before(label, model, name, result_method):
    r = qmodel.solve(model)
    assert chosen(r) == name and r.method == result_method
    assert all(r.passed_over.values())  # every method passed over says why


def test_passed_over_reasons():
    r = qmodel.solve(open_model(a=queue()))
    assert r.passed_over == {
        "batches": "the model has no batch classes",
        "ctmc": "no buffer rejects jobs or blocks under ps or lcfs-pr: product form is exact",
        "mva": "the model has only open classes; use open or auto",
        "amva": "the model has only open classes; use open or auto",
        "layered": "the model has no held threads, timeouts, retries, hedging, patience "
                   "or balking; use open",
        "qbd": "the model has no MMPP-2 arrivals; use open",
    }
    assert qmodel.solve(open_model(a=queue(capacity=3))).passed_over["open"] == \
        "auto prefers 'ctmc'"
    too_large = qmodel.solve(open_model(**tandem(100))).passed_over["ctmc"]
    assert too_large.startswith("ctmc: the state space has 1,030,301 states")
    unstable = qmodel.solve(open_model(rate=2.0, a=queue(capacity=3, service=0.5, next="b"),
                                       b=queue())).passed_over["ctmc"]
    assert "unstable" in unstable
    closed = qmodel.solve(qmodel.Model.from_dict(CLOSED), method="amva")
    assert closed.passed_over["mva"] == "method='amva' was asked for"
    assert qmodel.solve(qmodel.Model.from_dict(CLOSED)).passed_over["amva"].startswith(
        "only when named")


def test_passed_over_is_in_the_json():
    doc = json.loads(qmodel.solve(open_model(a=queue())).to_json())
    assert doc["passed_over"]["mva"] == "the model has only open classes; use open or auto"
    sim = qmodel.simulate(open_model(a=queue()), replications=2, customers=200, seed=1,
                          progress=False)
    assert sim.to_dict()["passed_over"] == {}


def test_batches_take_the_model_whatever_the_method():
    model = AUTO_CHOICES[-1][1]
    for name in methods.SOLVE:
        r = qmodel.solve(model, method=name)
        assert chosen(r) == "batches" and r.system.makespan_bound == pytest.approx(5.0)
        assert r.passed_over["open"].startswith("'batches' takes every model it supports")


def test_unknown_method_lists_the_valid_names():
    with pytest.raises(QModelError) as err:
        qmodel.solve(open_model(a=queue()), method="jackson")
    assert not isinstance(err.value, ValueError)
    assert str(err.value) == ("method must be one of auto, open, mva, amva, ctmc, batches, "
                              "layered, qbd, got 'jackson'")


@pytest.mark.parametrize("model, method, reason", [
    (open_model(a=queue()), "mva", "the model has only open classes; use open or auto"),
    (qmodel.Model.from_dict(CLOSED), "open", "the model has closed classes; use mva or amva"),
    (qmodel.Model.from_dict(CLOSED), "ctmc", "the CTMC solver takes one open class"),
    (open_model(a=queue()), "batches", "the model has no batch classes"),
])
def test_a_named_method_that_cannot_solve_the_model_says_why(model, method, reason):
    with pytest.raises(UnsupportedError) as err:
        qmodel.solve(model, method=method)
    assert (err.value.solver, err.value.reason) == (method, reason)


def test_a_new_method_is_one_registry_entry(monkeypatch):
    def solve(network):
        result = open_method.solve(network)
        result.notes.append("solved by toy")
        return result

    toy = Method("toy", "a test solver", rank=5, supports=open_method.supports, solve=solve)
    monkeypatch.setattr(registry, "REGISTRY", (*registry.REGISTRY, toy))
    model = open_model(a=queue())
    auto = qmodel.solve(model)
    assert chosen(auto) == "toy" and "solved by toy" in auto.notes
    assert auto.passed_over["open"] == "auto prefers 'toy'"
    assert qmodel.solve(model, method="open").passed_over["toy"] == \
        "method='open' was asked for"
    with pytest.raises(UnsupportedError, match="toy: the model has closed classes"):
        qmodel.solve(qmodel.Model.from_dict(CLOSED), method="toy")


def test_auto_falls_back_when_a_method_fails_and_raises_the_last_error(monkeypatch):
    def refuse(network):
        raise UnsupportedError("flaky", "not today")

    flaky = Method("flaky", "always fails", rank=5, supports=open_method.supports,
                   solve=refuse)
    monkeypatch.setattr(registry, "REGISTRY", (*registry.REGISTRY, flaky))
    r = qmodel.solve(open_model(a=queue()))
    assert chosen(r) == "open" and r.passed_over["flaky"] == "flaky: not today"
    only = Method("only", "the one method", rank=0, supports=open_method.supports,
                  solve=refuse)
    monkeypatch.setattr(registry, "REGISTRY", (only,))
    with pytest.raises(UnsupportedError, match="flaky: not today"):
        qmodel.solve(open_model(a=queue()))


def test_one_vocabulary_for_solve_simulate_and_sweep():
    assert methods.SOLVE == ("auto", *registry.names())
    assert methods.SIMULATE == ("auto", "simpy", "fast")
    assert methods.SWEEP == ("auto", "analytic", "simulate", *registry.names())
    assert "mva (exact Mean Value Analysis for closed and mixed networks)" in methods.help_text(methods.SOLVE)
    model = open_model(a=queue())
    with pytest.raises(QModelError, match="method must be one of auto, simpy, fast"):
        qmodel.simulate(model, method="mva")
    with pytest.raises(QModelError, match="method must be one of auto, analytic, simulate, op"):
        qmodel.sweep(model, {"arrivals.x.rate": "[0.1, 0.2]"}, method="fast")


def test_a_sweep_takes_an_analytic_method_by_name():
    model = qmodel.Model.from_dict(CLOSED)
    for name in ("mva", "amva"):
        table = qmodel.sweep(model, {"users.u.population": "[5, 10]"}, method=name,
                             executor="serial")
        expected = [qmodel.solve(model.with_changes({"users.u.population": n}), method=name)
                    .system.mean_response_time for n in (5, 10)]
        assert table.attrs["method"] == name
        assert table["mean_response_time_s"].tolist() == expected
    with pytest.raises(QModelError, match="open: the model has closed classes"):
        qmodel.sweep(model, {"users.u.population": "[5]"}, method="open", executor="serial")


@pytest.mark.parametrize("options, message", [
    ({"quantiles": [1.5]}, "quantiles: a quantile must be a number between 0 and 1"),
    ({"quantiles": ["p95"]}, "quantiles: a quantile must be a number between 0 and 1"),
    ({"metric": "p150_response_time"}, "metric: a quantile must be a number between 0 and 1"),
    ({"executor": "cloud"}, "executor must be one of serial, local, dask"),
])
def test_bad_sweep_options_raise_qmodel_errors(options, message):
    model = open_model(a=queue(next="b"), b=queue())
    with pytest.raises(QModelError, match=message):
        qmodel.sweep(model, {"arrivals.x.rate": "[0.1, 0.2]"}, **options)
