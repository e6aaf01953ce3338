"""Hostile model files (``tests/model/hostile/``, each named for what it tries): every one
is answered with a result or a :class:`QModelError` naming the field at fault — through
``qmodel.load`` + ``solve`` and through the CLI's ``check`` and ``solve --json`` — within a
per-file timeout, with short printable messages, never an internal error (exit 1 with a
traceback), and never ``Infinity``/``NaN`` in JSON. Simulating every file that loads runs
with the slow tests; the unstable model with a huge rate is simulated here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import qmodel
from qmodel.cli.main import app
from qmodel.errors import ModelError, QModelError, UnstableError, UnsupportedError

CORPUS = sorted((Path(__file__).parent / "hostile").glob("*.yaml"))
SMALL = [path for path in CORPUS if path.stat().st_size < 10_000]
"""The default suite runs these; the four files near 100 KB take a second or more each to
parse (pure-Python YAML), so they run with the slow tests."""
REFUSED = {
    "yaml_duplicate_key_servers": "nodes.app.servers",
    "yaml_duplicate_node": "nodes.app",
    "yaml_duplicate_top_level": "nodes",
    "text_escape_sequence_in_key": "nodes",
    "num_duration_overflows_with_unit": "nodes.app.service",
    "num_duration_underflows": "nodes.app.service",
    "num_rate_overflows_with_unit": "arrivals.web.rate",
    "num_servers_2_pow_63": "nodes.app.servers",
    "num_servers_401_digits": "nodes.app.servers",
    "num_shard_weights_infinite": "nodes.db.weights.0",
    "num_partition_weights_infinite": "nodes.t.partition_weights.0",
    "dist_empty_list": "nodes.app.service.dist",
    "dist_uniform_inf": "nodes.app.service.high",
    "mlfq_boost_tiny": "nodes.app.mlfq.boost",
    "mlfq_levels_1e7": "nodes.app.mlfq.levels",
    "size_shards_100000": "nodes.db.shards",
    "size_shards_1e9": "nodes.db.shards",
    "size_consumers_1e7": "nodes.t.consumers",
    "size_population_1e9": "users.u.population",
    "size_batcher_batch_1e9": "nodes.app.batch_size",
    "size_batcher_interval_1ns": "nodes.app.interval",
    "size_batches_count_huge": "batches.b.count",
    "size_fork_tasks_1e7": "nodes.f.tasks",
    "size_failure_times_many": "nodes.app.failures.at",
    "size_many_nodes_chain": "nodes",
    "closed_no_think_zero_service": "users.u.think_time",
    "slo_free_text": "slo",
    "slo_p101": "slo",
    "file_absolute_etc_passwd": "nodes.app.service.file",
    "file_dotdot_etc_passwd": "nodes.app.service.file",
    "file_dev_zero": "nodes.app.service.file",
    "file_proc_self_environ": "nodes.app.service.file",
    "file_directory": "nodes.app.service.file",
}
"""Files that must be refused, and a path one of their problems must name."""
TOGETHER = {
    "report_all_type_and_reference": {"nodes.app.servers", "nodes.other.service",
                                      "nodes.app.next", "nodes.other.next"},
    "report_all_reference_and_routing": {"nodes.app.next", "nodes.loop"},
    "dist_several_errors": {"nodes.app.service.k", "nodes.app.service.mean"},
}
"""Files with several independent problems: one does not hide another."""
WHOLE_FILE = ("yaml_nested", "yaml_billion_laughs", "yaml_invalid", "yaml_python_tag",
              "yaml_nul", "yaml_non_string", "yaml_top_level", "yaml_empty", "num_4300")
"""Files refused as a whole (no field path: the text is not a model document)."""

runner = CliRunner()


def printable(text: str) -> bool:
    return not any(ord(c) < 32 and c != "\n" or c == "\x7f" for c in text)


def assert_reported(exc: ModelError, stem: str) -> None:
    assert len(str(exc)) < 5000 and printable(str(exc)), str(exc)[:500]
    paths = [p.path for p in exc.problems]
    assert TOGETHER.get(stem, set()) <= set(paths), exc
    if stem in REFUSED:
        assert REFUSED[stem] in paths, exc
    elif not stem.startswith(WHOLE_FILE):
        assert all(paths), exc  # every problem names its field


@pytest.mark.timeout(20)
@pytest.mark.parametrize("path", [
    pytest.param(path, marks=() if path in SMALL else pytest.mark.slow) for path in CORPUS],
    ids=lambda p: p.stem)
def test_the_api_answers_every_hostile_file(path: Path) -> None:
    try:
        model = qmodel.load(path)
    except ModelError as exc:
        assert_reported(exc, path.stem)
        return
    assert path.stem not in REFUSED, "loaded a file that must be refused"
    try:
        result = qmodel.solve(model)
    except (UnsupportedError, UnstableError):
        return
    text = result.to_json()
    assert "Infinity" not in text and "NaN" not in text


@pytest.mark.timeout(20)
@pytest.mark.parametrize("path", [
    pytest.param(path, marks=() if path in SMALL else pytest.mark.slow) for path in CORPUS],
    ids=lambda p: p.stem)
def test_the_cli_answers_every_hostile_file(path: Path) -> None:
    check = runner.invoke(app, ["check", str(path)])
    assert check.exit_code in (0, 2), check.output
    assert "internal error" not in check.output and printable(check.output), check.output
    if check.exit_code == 0:
        solved = runner.invoke(app, ["solve", str(path), "--json"])
        assert solved.exit_code in (0, 1, 3, 4), solved.output  # 1: no method; 4: simulate
        assert "internal error" not in solved.output
        assert "Infinity" not in solved.output and "NaN" not in solved.output


def test_echoed_text_is_not_markup_or_emoji() -> None:
    result = runner.invoke(app, ["check", "tests/model/hostile/text_rich_markup_and_emoji.yaml"])
    assert result.exit_code == 2
    assert "'[blink]20ms :x: :smiley:'" in result.output and "❌" not in result.output


@pytest.mark.timeout(30)
def test_an_unstable_model_with_a_huge_rate_is_simulated_as_unstable() -> None:
    """1e12 jobs/s into a 20 ms server: the run stops after a bounded number of arrivals
    and says unstable (exit 3) instead of queueing jobs until memory runs out."""
    result = runner.invoke(app, ["simulate", "tests/model/hostile/unstable_huge_rate.yaml",
                                 "--replications", "1", "--seed", "1"])
    assert result.exit_code == 3, result.output
    assert "unstable: app is saturated" in result.output


@pytest.mark.timeout(10)
def test_a_fifo_is_refused_unopened(tmp_path: Path) -> None:
    """Neither a model file nor an empirical CSV that is a FIFO blocks the reader."""
    os.mkfifo(tmp_path / "pipe.csv")
    with pytest.raises(ModelError, match="not a regular file"):
        qmodel.load(tmp_path / "pipe.csv")
    (tmp_path / "m.yaml").write_text(
        "arrivals: {web: {to: app, rate: 1/s}}\n"
        "nodes: {app: {kind: queue, service: {dist: empirical, file: pipe.csv}}}\n")
    with pytest.raises(ModelError, match=r"nodes\.app\.service\.file: cannot read 'pipe.csv': "
                                         "not a regular file"):
        qmodel.load(tmp_path / "m.yaml")


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_every_hostile_file_that_loads_simulates(path: Path) -> None:
    try:
        model = qmodel.load(path)
    except QModelError:
        return
    try:
        qmodel.simulate(model, replications=1, customers=2000, seed=1)
    except (UnsupportedError, UnstableError):
        pass


@pytest.mark.timeout(20)
@pytest.mark.parametrize("value, says", [
    ("{kind: queue, service: 1ms, service: 2ms}", "is given twice"),
    ("[" * 100 + "]" * 100, "nested more than 32 levels deep"),
    ("[&a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1], " + ", ".join(
        f"&{c} [{', '.join(['*' + p] * 10)}]" for p, c in zip("abcde", "bcdef")) + "]",
     "more than 200,000 values once its aliases are expanded"),
    ("2ms\x1b[2J", "unacceptable character #x001b"),
])
def test_set_values_meet_the_model_file_limits(value: str, says: str) -> None:
    result = runner.invoke(app, ["check", "topologies/web_service.yaml",
                                 "--set", f"nodes.app.service={value}"])
    assert result.exit_code == 2, result.output
    assert says in result.output and "internal error" not in result.output
