"""LINE (``line-solver``, pure Python: no Java needed) loads qmodel's exported JSIMgraph
file, and its exact MVA agrees with qmodel's on product-form models."""

from __future__ import annotations

import pytest

import qmodel
from qmodel.io import write_jmt
from qmodel.model.model import Model, load


@pytest.fixture(scope="module")
def line():
    """``(line_solver, line_solver.io)``, imported here (it takes seconds) rather than when
    the file is collected."""
    return pytest.importorskip("line_solver"), pytest.importorskip("line_solver.io")


def _table(line, network) -> dict:
    table = line[0].SolverMVA(network, method="exact", verbose=False).getAvgTable()
    return {(row["Station"], row["JobClass"]): row for _, row in table.iterrows()}


@pytest.mark.parametrize("model", [
    load("topologies/three_tier_closed.yaml"),
    Model.from_dict({"arrivals": {"web": {"to": "cpu", "rate": 2}},
                     "nodes": {"cpu": {"kind": "queue", "service": 0.1, "next": {"disk": 0.6}},
                               "disk": {"kind": "queue", "service": 0.2, "next": "cpu"}}}),
], ids=["three-tier-closed", "open-feedback"])
def test_line_reads_our_jsimg_and_agrees(line, model, tmp_path):
    path = tmp_path / "m.jsimg"
    assert not write_jmt(model, path).approximated
    cls = model.network.classes[0].name
    theirs = _table(line, line[1].JSIM2LINE(str(path)))
    for name, node in qmodel.solve(model).nodes.items():
        row = theirs[name, cls]
        assert float(row["QLen"]) == pytest.approx(node.mean_in_system, rel=1e-6)
        assert float(row["Tput"]) == pytest.approx(node.throughput, rel=1e-6)


def test_line_reads_our_jmva_and_agrees(line, tmp_path):
    model = load("topologies/three_tier_closed.yaml")
    path = tmp_path / "m.jmva"
    write_jmt(model, path)
    theirs = _table(line, line[1].JMVA2LINE(str(path)))
    for name, node in qmodel.solve(model).nodes.items():
        assert float(theirs[name, "shoppers"]["QLen"]) == pytest.approx(node.mean_in_system,
                                                                         rel=1e-6)


def test_line_agrees_with_the_stored_two_class_solution(line):
    """A third opinion on the stored JMVA values: LINE's own JMVA reader and MVA."""
    from qmodel.io import read_jmt

    path = "tests/io/data/jmva/two_class_closed.jmva"
    _, report = read_jmt(path)
    stored = report.solutions[0].values
    theirs = _table(line, line[1].JMVA2LINE(path))
    assert len(theirs) == 4
    for (station, cls), row in theirs.items():
        expected = stored[station][cls]["Number of Customers"]
        assert float(row["QLen"]) == pytest.approx(expected, rel=1e-6)
