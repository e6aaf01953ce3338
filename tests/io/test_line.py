"""LINE (``line-solver``, pure Python: no Java needed) loads qmodel's exported JSIMgraph
file, and its exact MVA agrees with qmodel's on product-form models."""

from __future__ import annotations

import pytest

import qmodel
from qmodel.io import write_jmt
from qmodel.model.model import Model, load

line_io = pytest.importorskip("line_solver.io")
line_solver = pytest.importorskip("line_solver")


def _line_table(path):
    network = line_io.JSIM2LINE(str(path))
    table = line_solver.SolverMVA(network, method="exact", verbose=False).getAvgTable()
    return {row["Station"]: row for _, row in table.iterrows()}


@pytest.mark.parametrize("model", [
    load("topologies/three_tier_closed.yaml"),
    Model.from_dict({"arrivals": {"web": {"to": "cpu", "rate": 2}},
                     "nodes": {"cpu": {"kind": "queue", "service": 0.1, "next": {"disk": 0.6}},
                               "disk": {"kind": "queue", "service": 0.2, "next": "cpu"}}}),
], ids=["three-tier-closed", "open-feedback"])
def test_line_reads_our_jsimg_and_agrees(model, tmp_path):
    path = tmp_path / "m.jsimg"
    assert not write_jmt(model, path).approximated
    ours = qmodel.solve(model)
    theirs = _line_table(path)
    for name, node in ours.nodes.items():
        assert float(theirs[name]["QLen"]) == pytest.approx(node.mean_in_system, rel=1e-6)
        assert float(theirs[name]["Tput"]) == pytest.approx(node.throughput, rel=1e-6)
