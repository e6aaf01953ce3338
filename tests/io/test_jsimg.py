"""JSIMgraph files: exports validate against JMT's schemas, JMT's own example models
import, and qmodel -> JMT -> qmodel keeps every part that maps."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qmodel.errors import QModelError
from qmodel.io import compare_solution, from_jmt_bytes, read_jmt, to_jmt_bytes, write_jmt
from qmodel.model.model import Model, load

DATA = Path(__file__).parent / "data"
# brkss_warehouse: batches; microservices_pooled_db: calls, pools, clients (refused below)
TOPOLOGIES = sorted(p for p in Path("topologies").glob("*.yaml")
                    if p.stem not in ("brkss_warehouse", "microservices_pooled_db"))


def _stations(net) -> dict:
    return {s.name: (s.kind, s.servers, s.discipline, s.capacity, s.on_full, s.join,
                     tuple(sorted(s.branches)), s.quorum, s.tasks,
                     {c: (type(d).__name__, d.mean, d.scv) for c, d in s.service.items()})
            for s in net.stations}


def _classes(net) -> dict:
    """Priorities are relative (JMT serves the higher number first; qmodel 0 first), so
    they are compared from the lowest."""
    low = min(c.priority for c in net.classes)
    return {c.name: (c.kind, c.rate, c.population, c.priority - low,
                     None if c.interarrival is None else (c.interarrival.mean, c.interarrival.scv),
                     None if c.think is None else (c.think.mean, c.think.scv))
            for c in net.classes}


def assert_same_network(a, b) -> None:
    """Same stations (kind, servers, discipline, capacity, service per class), classes,
    entry vectors and routing matrices, to rounding."""
    sa, sb = _stations(a), _stations(b)
    assert set(sa) == set(sb)
    for name in sa:
        assert repr(sa[name][:9]) == repr(sb[name][:9]), name
        for cls, (kind, mean, scv) in sa[name][9].items():
            other = sb[name][9][cls]
            assert other[0] == kind and other[1:] == pytest.approx((mean, scv), rel=1e-9), \
                (name, cls)
    ca, cb = _classes(a), _classes(b)
    assert set(ca) == set(cb)
    for name in ca:
        assert ca[name][0] == cb[name][0], name
        assert ca[name][1:4] == pytest.approx(cb[name][1:4], rel=1e-12), name
        for x, y in zip(ca[name][4:], cb[name][4:]):
            assert (x is None) == (y is None) and (x is None or x == pytest.approx(y, rel=1e-9))
    perm = [b.index[s.name] for s in a.stations]
    for c in a.classes:
        assert np.allclose(a.entry[c.name], b.entry[c.name][perm])
        assert np.allclose(a.routing[c.name], b.routing[c.name][np.ix_(perm, perm)])


@pytest.mark.parametrize("path", TOPOLOGIES, ids=[p.stem for p in TOPOLOGIES])
def test_topologies_export_valid_jsimg_and_come_back(path, archive_schema):
    model = load(path)
    data, report = to_jmt_bytes(model, "jsimg", path.stem)
    archive_schema.validate(data.decode())
    back, _ = from_jmt_bytes(data, path.name)
    if not report.approximated:  # what maps comes back as it was
        assert_same_network(model.network, back.network)
    else:  # what did not map is named; the rest keeps its stations
        assert {m.item.split()[0] for m in report.approximated}
        assert set(back.network.index) >= {s.name for s in model.network.stations
                                           if s.kind in ("queue", "delay")} - \
            {s.name for s in model.network.stations if s.component != s.name}


def test_what_does_not_map_is_named():
    _, report = to_jmt_bytes(load("topologies/spark_streaming.yaml"), "jsimg")
    assert any(m.item == "nodes.batches" and "micro-batcher" in m.note
               for m in report.approximated)
    assert any(m.item == "slo" for m in report.refused)
    with pytest.raises(QModelError, match="only batch classes"):
        to_jmt_bytes(load("topologies/brkss_warehouse.yaml"), "jsimg")


EXAMPLES = sorted((DATA / "jmt_examples").glob("*.jsimg"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_jmt_examples(path):
    model, report = read_jmt(path)
    assert report.entries and not report.refused
    if path.stem == "open_1class_1stat_mg1ps":  # Coxian service: fitted by mean and cv
        assert [m.note.split(";")[0] for m in report.approximated] == [
            "Coxian: qmodel has none"]


def test_mm1k_example_solves_to_jmt_simulation():
    """JMT's own simulation of its M/M/1/11 example (lambda 9, mu 10) stored in the file:
    4.2899 jobs, 99% interval [4.2465, 4.3333]; exact M/M/1/K gives 4.2769."""
    import qmodel

    model, report = read_jmt(DATA / "jmt_examples" / "open_1class_1stat_mm1k.jsimg")
    station = model.network.stations[0]
    assert station.capacity == 11 and station.rejects
    jobs = qmodel.solve(model).nodes[station.name].mean_in_system
    rho, k = 0.9, 11
    exact = rho / (1 - rho) - (k + 1) * rho ** (k + 1) / (1 - rho ** (k + 1))
    assert jobs == pytest.approx(exact, rel=1e-6)
    assert 4.2465 < jobs < 4.3333
    table = compare_solution(model, report.solutions[0])  # JMT's results, read from the file
    assert table.to_dict("records") == [{
        "station": "M_M_1_11", "measure": "Number of Customers", "stored": 4.2899441115975465,
        "qmodel": pytest.approx(exact), "rel_diff": pytest.approx(0.00304, abs=1e-5)}]


def test_closed_example_keeps_its_think_time_and_names():
    model, _ = read_jmt(DATA / "jmt_examples" / "closed_1class_2stat.jsimg")
    users = model.spec.users["Class1"]
    assert users.population == 5 and users.think_time.mean == pytest.approx(1.0)
    assert model.spec.nodes["Queue_1"].label == "Queue 1"
    assert model.spec.nodes["Queue_1"].discipline == "ps"


_DISTS = st.sampled_from([
    0.05, {"dist": "deterministic", "value": 0.04}, {"dist": "erlang", "k": 3, "mean": 0.05},
    {"dist": "hyperexponential", "probs": [0.3, 0.7], "means": [0.01, 0.08]},
    {"dist": "gamma", "mean": 0.05, "cv": 0.6}, {"dist": "lognormal", "mean": 0.05, "cv": 1.4},
    {"dist": "uniform", "low": 0.01, "high": 0.07}, {"dist": "pareto", "alpha": 2.5, "mean": 0.05}])


@st.composite
def random_models(draw):
    n = draw(st.integers(1, 4))
    names = [f"n{i}" for i in range(n)]
    nodes = {}
    for i, name in enumerate(names):
        kind = draw(st.sampled_from(["queue", "queue", "delay", "shards"]))
        node = {"kind": kind, "service": draw(_DISTS)}
        if kind != "delay":
            node["servers"] = draw(st.integers(1, 3))
            node["discipline"] = draw(st.sampled_from(["fcfs", "ps", "lcfs-pr", "priority"]))
        if kind == "queue" and draw(st.booleans()):
            node["capacity"] = node["servers"] + draw(st.integers(0, 5))
            node["on_full"] = draw(st.sampled_from(["reject", "block"]))
        if kind == "shards":
            node["shards"] = draw(st.integers(2, 3))
            node["routing"] = draw(st.sampled_from(["hash", "round_robin", "jsq"]))
        if i + 1 < n:  # a chain, with a skip ahead now and then
            p = draw(st.sampled_from([0.5, 0.8, 1.0]))
            node["next"] = {names[i + 1]: p}
            if i + 2 < n and p < 1 and draw(st.booleans()):
                node["next"][names[i + 2]] = round(1 - p, 10)
        nodes[name] = node
    doc = {"nodes": nodes}
    if draw(st.booleans()):
        doc["arrivals"] = {"web": {"to": "n0", "rate": 2.0, "priority": 1}}
    if draw(st.booleans()) or "arrivals" not in doc:
        doc["users"] = {"batch": {"to": "n0", "population": draw(st.integers(1, 9)),
                                  "think_time": draw(_DISTS)}}
    if "arrivals" in doc and "users" in doc:  # per-class service and routes
        node = nodes[draw(st.sampled_from(names))]
        if draw(st.booleans()):
            node["class_service"] = {"batch": draw(_DISTS)}
        if draw(st.booleans()):
            node["class_next"] = {"batch": {}}  # batch jobs leave here
    return Model.from_dict(doc)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_models())
def test_round_trip_keeps_random_models(model):
    data, report = to_jmt_bytes(model, "jsimg")
    assert report.exact or not report.approximated
    back, _ = from_jmt_bytes(data)
    assert_same_network(model.network, back.network)


EXACT = [p for p in EXAMPLES if p.stem != "open_1class_1stat_mg1ps"]


@pytest.mark.parametrize("path", EXACT, ids=[p.stem for p in EXACT])
def test_jmt_examples_go_back_to_jmt_and_return_the_same(path, archive_schema):
    model, _ = read_jmt(path)
    data, _ = to_jmt_bytes(model, "jsimg")
    archive_schema.validate(data.decode())
    assert_same_network(model.network, from_jmt_bytes(data)[0].network)


def test_a_bare_jsim_document_reads_like_its_archive():
    archive = (DATA / "jmt_examples" / "closed_2class_2stat.jsimg").read_bytes()
    root = ET.fromstring(archive)
    bare = ET.tostring(root.find("sim"))
    assert_same_network(from_jmt_bytes(archive)[0].network, from_jmt_bytes(bare)[0].network)


def test_write_and_read_files(tmp_path):
    model = load("topologies/web_service.yaml")
    report = write_jmt(model, tmp_path / "w.jsimg")
    assert report.summary().startswith("topologies/web_service.yaml -> w.jsimg")
    back, _ = read_jmt(tmp_path / "w.jsimg")
    assert back.spec.nodes["db"].kind == "shards" and back.spec.nodes["db"].shards == 4
    assert math.isclose(back.spec.arrivals["web"].rate, 200.0)


def test_a_routing_station_over_different_queues_is_folded_into_the_routes():
    model = Model.from_dict({"arrivals": {"w": {"to": "db", "rate": 3}},
                             "nodes": {"db": {"kind": "shards", "shards": 2, "service": 0.1,
                                              "weights": [1, 3]}}})
    data, _ = to_jmt_bytes(model, "jsimg")
    root = ET.fromstring(data)
    member = next(n for n in root.iter("node") if n.get("name") == "db-1")
    lam = next(p for p in member.iter("subParameter") if p.get("name") == "lambda")
    lam.find("value").text = "5.0"  # db-1 no longer serves like db-0: not shards any more
    back, report = from_jmt_bytes(ET.tostring(root))
    assert back.spec.arrivals["w"].to == pytest.approx({"db-0": 0.25, "db-1": 0.75})
    assert back.spec.nodes["db-1"].service.mean == pytest.approx(0.2)
    assert any(m.item == "node 'db'" and "folded" in m.note for m in report.mapped)


def test_a_model_with_calls_and_clients_is_refused_naming_the_field():
    """JMT has no synchronous calls: dropped, the callees would read back unreachable."""
    with pytest.raises(QModelError, match=r"nodes\.orders\.calls: JMT has no synchronous"):
        to_jmt_bytes(load("topologies/microservices_pooled_db.yaml"), "jsimg")
