"""Project files: what is saved comes back as saved, and a hostile file is refused with
the member at fault, before anything large is inflated and without touching the disk."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import qmodel
from qmodel.project import ProjectError, archive, load_project, project_bytes, save_project

TEXT = """# a shop, with a comment kept as typed
name: shop
nodes:
  app: {kind: queue, servers: 2, service: 10ms}
arrivals:
  web: {to: app, rate: 150/s}
"""


@pytest.fixture(scope="module")
def solved() -> dict:
    return qmodel.solve(qmodel.Model.from_yaml(TEXT)).to_dict()


def zipped(members: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, body in members.items():
            zf.writestr(name, body)
    return buffer.getvalue()


def members_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def test_everything_saved_comes_back(tmp_path: Path, solved: dict) -> None:
    sweep = pd.DataFrame({"arrivals.web.rate": [100.0, 150.0], "mean_response_ms": [12.5, 16.0]})
    validation = {"schema": "qmodel.validation/1", "levels": [{"rate": 100, "ok": True}]}
    simulated = dict(solved, method="simulation")
    path = save_project(tmp_path / "shop.qmodel.zip", TEXT, {
        "solve": qmodel.solve(qmodel.Model.from_yaml(TEXT)), "simulate": simulated,
        "sweep": sweep, "validation": validation})
    p = load_project(path)
    assert (p.name, p.model_text, p.qmodel_version) == ("shop", TEXT, "0.1.0")
    assert p.solve == json.loads(json.dumps(solved)) and p.simulate["method"] == "simulation"
    pd.testing.assert_frame_equal(p.sweep, sweep)
    assert p.validation == validation
    assert p.created.endswith("+00:00")
    assert p.members == ["manifest.json", "model.yaml", "simulate.json", "solve.json",
                         "sweep.csv", "validation.json"]
    assert p.model_dict["nodes"]["app"]["servers"] == 2
    assert load_project(path.read_bytes()).model_text == TEXT  # an upload's bytes


def test_results_are_optional_and_the_name_can_be_given() -> None:
    p = load_project(project_bytes(TEXT, name="shop v2"))
    assert (p.name, p.solve, p.simulate, p.sweep, p.validation) == ("shop v2", None, None,
                                                                    None, None)


@pytest.mark.parametrize("results, fault", [
    ({"trace": {}}, "results: unknown kind 'trace'"),
    ({"solve": [1, 2]}, "results.solve: must be a result document"),
    ({"sweep": 3}, "results.sweep: must be a table"),
])
def test_saving_refuses_what_it_cannot_store(results: dict, fault: str) -> None:
    with pytest.raises(ProjectError, match=fault.replace(".", r"\.")):
        project_bytes(TEXT, results)


def test_saving_refuses_a_model_that_is_not_a_mapping() -> None:
    with pytest.raises(ProjectError, match="model.yaml: must be a YAML mapping"):
        project_bytes("- just\n- a list\n")


def good(solved: dict | None = None, **replace: bytes | str | None) -> bytes:
    members = members_of(project_bytes(TEXT, {"solve": solved} if solved else None))
    for name, body in replace.items():
        name = name.replace("_", ".")
        if body is None:
            members.pop(name)
        else:
            members[name] = body
    return zipped(members)


def lie_about_size(data: bytes, name: str, size: int) -> bytes:
    """``data`` with ``name``'s uncompressed size in the central directory set to ``size``."""
    at = data.index(b"PK\x01\x02")
    while True:
        length = struct.unpack("<H", data[at + 28:at + 30])[0]
        if data[at + 46:at + 46 + length].decode() == name:
            return data[:at + 24] + struct.pack("<I", size) + data[at + 28:]
        at = data.index(b"PK\x01\x02", at + 4)


def test_a_file_that_is_not_a_zip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.qmodel.zip"
    path.write_text(TEXT)
    for source in (path, b"", b"PK\x03\x04 truncated"):
        with pytest.raises(ProjectError, match="not a project file"):
            load_project(source)
    with pytest.raises(ProjectError, match="No such file"):
        load_project(tmp_path / "missing.qmodel.zip")
    with pytest.raises(ProjectError, match="not a regular file"):
        load_project(tmp_path)


@pytest.mark.parametrize("name", ["../evil.json", "/etc/cron.d/x", "model/../../x.yaml",
                                  "C:\\x.json", "MODEL.YAML"])
def test_member_names_outside_the_list_are_refused_and_nothing_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ProjectError, match=r"member .* is not part of a project"):
        load_project(zipped({**members_of(good()), name: "{}"}))
    assert list(tmp_path.iterdir()) == []


def test_a_zip_bomb_is_refused_from_its_directory_before_inflating(
        monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = good(model_yaml=b"#" * (archive.MAX_MODEL_BYTES + 1))  # 1 MiB of '#': 1 KiB zipped
    assert len(bomb) < 10_000
    big_in_all = good(sweep_csv="a\n" + "1\n" * 600)
    opened = []
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda *a, **k: opened.append(a) or 1 / 0)
    with pytest.raises(ProjectError, match=r"model.yaml: 1,048,577 bytes uncompressed; at most"):
        load_project(bomb)
    monkeypatch.setattr(archive, "MAX_TOTAL_BYTES", 1000)
    with pytest.raises(ProjectError, match=r"bytes uncompressed in all; a project holds at "
                                           r"most 1,000"):
        load_project(big_in_all)
    assert opened == []


def test_a_member_larger_than_it_declares_is_not_read_past_its_size() -> None:
    liar = lie_about_size(good(sweep_csv="a\n" + "1\n" * 100_000), "sweep.csv", 10)
    with pytest.raises(ProjectError, match="sweep.csv: cannot be read"):
        load_project(liar)


def test_a_huge_directory_is_refused_before_zipfile_parses_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    many = zipped({f"m{i}": "" for i in range(500)})
    commented = io.BytesIO(good())
    with zipfile.ZipFile(commented, "a") as zf:
        zf.writestr(zipfile.ZipInfo("validation.json"), "{}")
        zf.infolist()[-1].extra = b"\0" * 65_535
    monkeypatch.setattr(zipfile, "ZipFile", lambda *a, **k: 1 / 0)
    with pytest.raises(ProjectError, match="holds 500 members; a project has at most 8"):
        load_project(many)
    with pytest.raises(ProjectError, match=r"its zip directory is 65,\d+ bytes; a project's "
                                           r"is at most 65,536"):
        load_project(commented.getvalue())


def test_too_many_or_repeated_members_are_refused() -> None:
    many = zipped({f"m{i}": "" for i in range(archive.MAX_MEMBERS + 1)})
    with pytest.raises(ProjectError, match="holds 9 members; a project has at most 8"):
        load_project(many)
    buffer = io.BytesIO(good())
    with zipfile.ZipFile(buffer, "a") as zf, pytest.warns(UserWarning, match="Duplicate"):
        zf.writestr("model.yaml", "name: other\n")
    with pytest.raises(ProjectError, match="model.yaml: appears twice"):
        load_project(buffer.getvalue())


def manifest(**fields: object) -> str:
    base = {"schema": "qmodel.project/1", "name": "shop", "qmodel_version": "0.1.0",
            "created": "2026-01-01T00:00:00+00:00"}
    return json.dumps({k: v for k, v in {**base, **fields}.items() if v is not ...})


def broken(solved: dict, path: list, value: object) -> str:
    doc = json.loads(json.dumps(solved))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(doc)


@pytest.mark.parametrize("change, fault", [
    ({"manifest_json": None}, "manifest.json: missing"),
    ({"manifest_json": "[1]"}, "manifest.json: must be a JSON object"),
    ({"manifest_json": manifest(schema="other/1")}, "manifest.json: schema must be"),
    ({"manifest_json": manifest(name=7)}, "manifest.json: name must be text, got 7"),
    ({"manifest_json": manifest(created=...)}, "manifest.json: created must be text"),
    ({"manifest_json": "{"}, "manifest.json: not valid JSON"),
    ({"validation_json": "[" * 10_000 + "]" * 10_000}, "validation.json: nested too deeply"),
    ({"model_yaml": None}, "model.yaml: missing"),
    ({"model_yaml": "- a\n- list\n"}, "model.yaml: must be a YAML mapping"),
    ({"model_yaml": "a: &x [*x]\n"}, "model.yaml: "),
    ({"model_yaml": b"name: \xff\n"}, "model.yaml: is not UTF-8 text"),
    ({"solve_json": "[]"}, "solve.json: must be a JSON object"),
    ({"solve_json": '{"schema": "qmodel.result/1", "x": NaN}'}, "solve.json: not valid JSON"),
    ({"validation_json": '"ok"'}, "validation.json: must be a JSON object"),
    ({"sweep_csv": ""}, "sweep.csv: not a CSV table"),
])
def test_wrong_members_name_the_member_at_fault(change: dict, fault: str) -> None:
    with pytest.raises(ProjectError, match="^" + fault.replace(".", r"\.").replace("[", r"\[")):
        load_project(good(**change))


@pytest.mark.parametrize("path, value, fault", [
    (["schema"], "qmodel.result/9", "solve.json: schema must be 'qmodel.result/1'"),
    (["time_unit"], "fortnight", "solve.json: time_unit must be one of"),
    (["system"], [], "solve.json: system must be an object"),
    (["nodes", "app"], 3, "solve.json: nodes.app must be an object"),
    (["nodes", "app", "utilization", "value"], "high",
     "solve.json: nodes.app.utilization.value must be a number or null, got 'high'"),
    (["system", "throughput", "value"], True,
     "solve.json: system.throughput.value must be a number or null"),
])
def test_wrong_types_in_a_result_name_the_field(solved: dict, path: list, value: object,
                                                fault: str) -> None:
    with pytest.raises(ProjectError, match="^" + fault.replace(".", r"\.")):
        load_project(good(solve_json=broken(solved, path, value)))
