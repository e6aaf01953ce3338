"""``qmodel import`` and ``qmodel export``: JMT files in and out, the mapping report
printed, exit 2 on a file that cannot be read or a model JMVA cannot hold."""

from __future__ import annotations

from typer.testing import CliRunner

from qmodel.cli.main import app
from qmodel.model.model import load

runner = CliRunner()


def test_import_jmva_writes_a_model_and_checks_the_stored_solution(tmp_path):
    out = tmp_path / "cs.yaml"
    result = runner.invoke(app, ["import", "tests/io/data/jmva/central_server.jmva",
                                 "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "5 mapped, 0 approximated, 0 refused" in result.output
    assert "stored analytical solution vs qmodel solve: largest relative difference" in \
        result.output and "over 12 values" in result.output
    assert load(out).spec.users["users"].population == 5


def test_export_then_import_round_trip(tmp_path):
    target = tmp_path / "ws.jsimg"
    result = runner.invoke(app, ["export", "topologies/spark_streaming.yaml", "--to", "jsimg",
                                 "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert "approximated nodes.batches: JMT has no micro-batcher" in result.output
    assert "refused      slo" in result.output
    result = runner.invoke(app, ["import", str(target), "-o", str(tmp_path / "back.yaml"), "-v"])
    assert result.exit_code == 0, result.output
    assert "mapped       node 'batches'" in result.output


def test_bad_input_exits_2_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.jsimg"
    bad.write_text("<sim>")
    result = runner.invoke(app, ["import", str(bad), "-o", str(tmp_path / "x.yaml")])
    assert result.exit_code == 2 and "not well-formed XML" in result.output
    result = runner.invoke(app, ["import", "topologies/web_service.yaml", "-o", "x.yaml"])
    assert result.exit_code == 2 and "must be a JMT file" in result.output
    result = runner.invoke(app, ["export", "topologies/mapreduce_job.yaml", "--to", "jmva",
                                 "-o", str(tmp_path / "m.jmva")])
    assert result.exit_code == 2 and "map (fork)" in result.output
    result = runner.invoke(app, ["export", "topologies/web_service.yaml", "--to", "xml"])
    assert result.exit_code == 2 and "--to: must be one of jsimg, jmva" in result.output
    assert "Traceback" not in result.output
