"""JMVA files: stored solutions of textbook networks import and solve to the stored
values; the stored values themselves agree with an independent exact MVA; export is
schema-valid and refuses what JMVA cannot hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qmodel.errors import QModelError
from qmodel.io import compare_solution, from_jmt_bytes, read_jmt, to_jmt_bytes
from qmodel.model.model import Model, load

from .mva_reference import closed_mva, open_pf

DATA = Path(__file__).parent / "data"
FILES = sorted((DATA / "jmva").glob("*.jmva"))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_stored_solutions_solve_to_the_stored_values(path):
    model, report = read_jmt(path)
    assert report.exact, report
    table = compare_solution(model, report.solutions[0])
    assert len(table) >= 6
    assert table["rel_diff"].max() < 1e-9, table


def test_stored_values_are_the_textbook_mva():
    """The files' numbers are exact MVA (written out independently in mva_reference)."""
    _, report = read_jmt(DATA / "jmva" / "central_server.jmva")
    stored = report.solutions[0].values
    x, q = closed_mva(np.array([[2.0], [0.1], [0.12], [0.09]]), [True, False, False, False], (5,))
    assert stored["cpu"]["users"]["Throughput"] == pytest.approx(x[0] * 10, rel=1e-12)
    assert stored["disk1"]["users"]["Number of Customers"] == pytest.approx(q[2, 0], rel=1e-12)
    # Little's law over the whole cycle: N = X (Z + R)
    assert sum(v["users"]["Number of Customers"] for v in stored.values()) == pytest.approx(5)
    _, report = read_jmt(DATA / "jmva" / "open_two_station.jmva")
    q = open_pf(np.array([[0.1], [0.125]]), np.array([4.0]))
    assert report.solutions[0].values["disk"]["web"]["Number of Customers"] == pytest.approx(
        q[1, 0]) == pytest.approx(1.0)  # U = 0.5: U / (1 - U)


def test_visits_are_kept_as_revisits():
    model, _ = read_jmt(DATA / "jmva" / "central_server.jmva")
    visits = model.network.visits("users")
    assert visits[model.network.index["cpu"]] == pytest.approx(10.0)
    assert model.network.station("cpu").service["users"].mean == pytest.approx(0.01)


def test_export_is_schema_valid_and_reads_back(jmt_schema):
    model = load("topologies/three_tier_closed.yaml")
    data, report = to_jmt_bytes(model, "jmva")
    jmt_schema.validate(data.decode())
    back, _ = from_jmt_bytes(data)
    import qmodel
    assert qmodel.solve(back).system.throughput == pytest.approx(
        qmodel.solve(model).system.throughput, rel=1e-9)


def test_export_refuses_what_jmva_cannot_hold():
    with pytest.raises(QModelError, match=r"map \(fork\)"):
        to_jmt_bytes(load("topologies/mapreduce_job.yaml"), "jmva")


def test_a_general_service_is_approximated_by_its_mean():
    m = Model.from_dict({"arrivals": {"w": {"to": "q", "rate": 1}},
                         "nodes": {"q": {"kind": "queue", "service": {"mean": 0.5, "cv": 2}}}})
    _, report = to_jmt_bytes(m, "jmva")
    assert [e.item for e in report.approximated] == ["q (class w)"]


def test_a_load_dependent_station_uses_its_one_job_service_time():
    data = b"""<model><parameters>
    <classes number="1"><closedclass name="c" population="2"/></classes>
    <stations number="1"><ldstation name="disk">
    <servicetimes><servicetimes customerclass="c">0.2;0.15</servicetimes></servicetimes>
    <visits><visit customerclass="c">1</visit></visits></ldstation></stations>
    </parameters></model>"""
    model, report = from_jmt_bytes(data, "ld.jmva")
    assert model.network.station("disk").service["c"].mean == pytest.approx(0.2)
    assert [m.item for m in report.approximated] == ["station 'disk'"]
