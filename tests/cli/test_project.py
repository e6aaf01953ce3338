"""``qmodel project``: save a model with its results, show it, diff two saved scenarios;
a bad project file exits 2 naming what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import qmodel
from qmodel.cli import project as cli_project
from qmodel.cli.main import app
from qmodel.project import SUFFIX, load_project

runner = CliRunner()
MODEL = """name: shop
time_unit: ms
nodes:
  app: {kind: queue, servers: 1, service: 10ms}
arrivals:
  web: {to: app, rate: RATE/s}
"""


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp_path = tmp_path_factory.mktemp("projects")
    for rate in (50, 80):
        (tmp_path / f"shop{rate}.yaml").write_text(MODEL.replace("RATE", str(rate)))
    (tmp_path / "sweep.csv").write_text("rate,mean_ms\n50,20\n80,50\n")
    a = run("project", "save", tmp_path / "shop50.yaml", "--solve", "--sweep",
            tmp_path / "sweep.csv")
    assert a.exit_code == 0, a.output
    assert f"wrote {tmp_path / 'shop50.qmodel.zip'} (shop: the model and solve, sweep)" in a.output
    b = run("project", "save", tmp_path / "shop80.yaml", "--out", tmp_path / "b.qmodel.zip",
            "--solve")
    assert b.exit_code == 0, b.output
    return tmp_path / "shop50.qmodel.zip", tmp_path / "b.qmodel.zip"


def test_save_keeps_the_text_and_the_solve_result(saved: tuple[Path, Path]) -> None:
    assert cli_project.SUFFIX == SUFFIX  # written out there so that --help loads no pandas
    p = load_project(saved[0])
    assert p.model_text == MODEL.replace("RATE", "50")
    expected = qmodel.solve(qmodel.Model.from_yaml(p.model_text)).to_dict()
    assert p.solve["system"] == json.loads(json.dumps(expected["system"]))
    assert p.sweep["mean_ms"].tolist() == [20, 50]


def test_show_gives_the_end_to_end_numbers(saved: tuple[Path, Path]) -> None:
    shown = run("project", "show", saved[0])
    assert shown.exit_code == 0, shown.output
    assert "members: manifest.json, model.yaml, solve.json, sweep.csv" in shown.output
    assert "sweep: 2 rows × 2 columns" in shown.output
    doc = json.loads(run("project", "show", saved[0], "--json").output)
    assert doc["system"]["solve"]["mean_response_time"] == pytest.approx(20.0)  # M/M/1, ms
    assert doc["sweep_rows"] == 2 and doc["name"] == "shop"


def test_diff_tables_and_json(saved: tuple[Path, Path]) -> None:
    table = run("project", "diff", *saved)
    assert table.exit_code == 0, table.output
    assert "model: 1 fields differ" in table.output
    assert "arrivals.web.rate" in table.output and "+150.0%" in table.output
    doc = json.loads(run("project", "diff", *saved, "--json").output)
    assert doc["result"] == "solve"
    row = next(r for r in doc["metrics"]
               if (r["scope"], r["metric"]) == ("system", "mean_response_time"))
    assert (row["A"], row["B"]) == (pytest.approx(20.0), pytest.approx(50.0))
    assert doc["model"] == [{"field": "arrivals.web.rate", "A": "50/s", "B": "80/s",
                             "change": "changed"}]


def test_bad_files_and_requests_exit_2_with_the_reason(saved: tuple[Path, Path]) -> None:
    tmp_path = saved[0].parent
    junk = tmp_path / "junk.qmodel.zip"
    junk.write_text("not a zip")
    unclosed = tmp_path / "unclosed.csv"
    unclosed.write_text('rate,mean\n1,"2\n')
    for args, reason in [
        (("show", junk), "not a project file"),
        (("diff", saved[0], junk), "not a project file"),
        (("show", tmp_path / "none.qmodel.zip"), "No such file"),
        (("diff", *saved, "--result", "simulate"), "both projects need a simulate result"),
        (("diff", *saved, "--result", "sweep"), "--result: must be one of"),
        (("save", tmp_path / "shop50.yaml", "--sweep", unclosed), "--sweep: not a CSV table"),
        (("save", tmp_path / "shop50.yaml", "--sweep", tmp_path), "--sweep: cannot read"),
        (("save", tmp_path / "shop50.yaml", "--validation", junk), "--validation: not JSON"),
    ]:
        result = run("project", *args)
        assert result.exit_code == 2, (args, result.output)
        assert reason in result.output, (args, result.output)
        assert "Traceback" not in result.output
