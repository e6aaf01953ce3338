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
import yaml
from typer.testing import CliRunner

import qmodel
from qmodel.cli.main import app
from qmodel.errors import ModelError, QModelError, UnstableError, UnsupportedError
from qmodel.model import parse
from qmodel.model.paths import INTEGER_KINDS, catalogue, written

CORPUS = sorted((Path(__file__).parent / "hostile").glob("*.yaml"))
SMALL = [path for path in CORPUS if path.stat().st_size < 10_000]
"""The default suite runs these; the larger files (near 100 KB, and a 574 KB call chain)
run with the slow tests: the commands over the one that loads (16,000 empirical samples)
take seconds."""
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
    "dist_hyperexp_phase_mean_zero": "nodes.app.service.means.0",
    "mlfq_boost_tiny": "nodes.app.mlfq.boost",
    "mlfq_levels_1e7": "nodes.app.mlfq.levels",
    "size_shards_100000": "nodes.db.shards",
    "size_shards_1e9": "nodes.db.shards",
    "size_consumers_1e7": "nodes.t.consumers",
    "size_population_1e9": "users.u.population",
    "size_batcher_batch_1e9": "nodes.app.batch_size",
    "size_batcher_interval_1ns": "nodes.app.interval",
    "window_not_a_multiple": "nodes.app.window",
    "window_zero": "nodes.app.window",
    "window_nan": "nodes.app.window",
    "window_inf": "nodes.app.window",
    "window_huge": "nodes.app.window",
    "window_slide_over_window": "nodes.app.slide",
    "shards_clusters_not_dividing": "nodes.db.clusters",
    "shards_admission_rounds_zero": "nodes.db.admission_rounds",
    "shards_admission_rounds_huge": "nodes.db.admission_rounds",
    "shards_admission_without_batches": "nodes.db.admission_rounds",
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
    "behaviour_timeout_overflows_with_unit": "arrivals.web.timeout",
    "behaviour_timeout_underflows": "nodes.app.calls.0.timeout",
    "behaviour_patience_nan": "nodes.app.patience.mean",
    "behaviour_patience_inf_after_unit": "nodes.app.patience",
    "behaviour_calls_count_huge": "nodes.app.calls.0.count",
    "behaviour_calls_list_too_long": "nodes.a.calls",
    "behaviour_calls_self": "nodes.app.calls.0.to",
    "behaviour_calls_cycle_150_nodes": "nodes.n0.calls",
    "behaviour_calls_chain_10000_nodes": "nodes",
    "behaviour_calls_fanout_product": "nodes.n107.calls",
    "behaviour_calls_100_entries_of_1000": "nodes.a.calls",
    "behaviour_retries_max_huge": "arrivals.web.retries.max",
    "behaviour_retries_when_yaml11_on": "arrivals.web.retries.when.0",
    "behaviour_backoff_factor_inf": "arrivals.web.retries.backoff.factor",
    "behaviour_hedge_after_p1e400": "arrivals.web.hedge.after",
    "behaviour_hedge_copies_huge": "arrivals.web.hedge.copies",
    "behaviour_pool_size_1e9": "pools.conn.size",
    "consistency_replicas_400_unknown": "consistency.replicas",
    "consistency_replicas_markup": "consistency.replicas.[red]ra[/red]",
    "consistency_replicas_one_write_twice": "consistency.replicas.rb",
    "consistency_write_quorum_above_n": "consistency.write_quorum",
    "consistency_write_quorum_huge": "consistency.write_quorum",
    "consistency_writes_is_the_read_fork": "consistency.writes",
}
"""Files that must be refused, and a path one of their problems must name."""
TOGETHER = {
    "report_all_type_and_reference": {"nodes.app.servers", "nodes.other.service",
                                      "nodes.app.next", "nodes.other.next"},
    "report_all_reference_and_routing": {"nodes.app.next", "nodes.loop"},
    "dist_several_errors": {"nodes.app.service.k", "nodes.app.service.mean"},
    "behaviour_backoff_base_overflows": {"arrivals.web.retries.backoff.base",
                                         "arrivals.web.retries.backoff.cap"},
    "behaviour_budget_min_rate_inf": {"arrivals.web.retries.budget.ratio",
                                      "arrivals.web.retries.budget.min",
                                      "arrivals.web.retries.budget.window"},
    "behaviour_hedge_after_p100": {"arrivals.web.hedge.after", "nodes.app.calls.0.hedge.after"},
    "behaviour_pool_name_markup": {"nodes.app.pool", "nodes.app.calls.0.pool"},
    "behaviour_balk_above_huge": {"nodes.app.balk.above", "nodes.app.balk.probabilities.0",
                                  "nodes.app.balk.probabilities.1"},
    "consistency_reads_writes_wrong_kinds": {"consistency.reads", "consistency.writes"},
}
"""Files with several independent problems: one does not hide another."""
WHOLE_FILE = ("yaml_nested", "yaml_billion_laughs", "yaml_invalid", "yaml_python_tag",
              "yaml_nul", "yaml_non_string", "yaml_top_level", "yaml_empty", "num_4300",
              "behaviour_calls_nested_deep", "yaml_recursive_alias")
"""Files refused as a whole (no field path: the text is not a model document)."""
LOADS = {"behaviour_extremes_within_limits", "dist_deterministic_zero", "dist_erlang_k_huge",
         "dist_pareto_alpha_1e_minus_9", "dist_pareto_alpha_just_above_1", "mlfq_quantum_1ns",
         "num_priority_huge", "size_closed_classes_state_space", "unstable_huge_rate",
         "empirical_samples_huge_count", "mmpp2_fit_lag1_at_limit",
         "mmpp2_fit_extreme_within_limits", "billion_per_second"}
"""The files that load (every other one is refused); the API test holds this list true."""

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
        assert path.stem not in LOADS, exc
        assert_reported(exc, path.stem)
        return
    assert path.stem not in REFUSED, "loaded a file that must be refused"
    assert path.stem in LOADS, "loads: add it to LOADS (the what-if commands run over those)"
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


EXPERIMENTS = ("sweep", "sensitivity", "plan", "headroom", "compare")


def experiment(command: str, path: Path, model: qmodel.Model | None) -> list[str]:
    """The arguments of a what-if command over ``path`` with the smallest settings: one
    replication where a command simulates, an analytic sweep of two values of the model's
    first parameter, an SLO for headroom."""
    return {
        "sweep": ["sweep", str(path), "--vary", two_values(model), "--method", "analytic"],
        "sensitivity": ["sensitivity", str(path), "--replications", "1"],
        "plan": ["plan", str(path), "--replications", "1", "--json"],
        "headroom": ["headroom", str(path), "--slo", "mean < 1s", "--json"],
        "compare": ["compare", str(path), "--replications", "1", "--seed", "1", "--json"],
    }[command]


def two_values(model: qmodel.Model | None) -> str:
    """``--vary``: the first parameter of ``model`` at its value and (a count) one more, or
    twice at its value; a placeholder for a file that does not load."""
    params = catalogue(model) if model is not None else {}
    for p in params.values():
        if p.kind in INTEGER_KINDS and p.value is not None and p.value < 1000:
            return f"{p.path}={int(p.value)}..{int(p.value) + 1}"
    for p in params.values():
        if text := written(model, p):
            return f"{p.path}=[{text}, {text}]"
    return "nodes.app.servers=1..2"


def categories() -> list[pytest.param]:
    """What the what-if commands run over: every file that loads (all five commands), and
    of the refused ones the first of each kind (``yaml_``, ``num_``, ``behaviour_``…), one
    command each in turn: all five read a file through the same loader, which the API and
    CLI tests run over every file."""
    params, kinds = [], {}
    for path in CORPUS:
        kind = path.stem.split("_")[0]
        if path.stem in LOADS:
            params.append(pytest.param(path, EXPERIMENTS, id=path.stem,
                                       marks=() if path in SMALL else pytest.mark.slow))
        elif kind not in kinds and path in SMALL:
            kinds[kind] = EXPERIMENTS[len(kinds) % len(EXPERIMENTS)]
            params.append(pytest.param(path, (kinds[kind],), id=path.stem))
    return params


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("path", "commands"), categories())
def test_the_what_if_commands_answer_hostile_files(path: Path, commands: tuple) -> None:
    """``sweep``, ``sensitivity``, ``plan``, ``headroom`` and ``compare`` answer a file
    that loads with a result, exit 2 naming a field, exit 3 (unstable) or exit 1 saying
    what cannot be done (no method models it, no plan meets the SLO); a refused file with
    exit 2 and the field at fault."""
    model = qmodel.load(path) if path.stem in LOADS else None
    for command in commands:
        result = runner.invoke(app, experiment(command, path, model))
        output = result.output
        assert result.exit_code in (0, 1, 2, 3), (command, output)
        assert "internal error" not in output and "Traceback" not in output, (command, output)
        assert printable(output) and "Infinity" not in output and "NaN" not in output, output
        if result.exit_code == 1:
            assert output.startswith("error: ") and "Errno" not in output, (command, output)
        if model is None:
            assert result.exit_code == 2, (command, output)
            if path.stem in REFUSED:
                assert f"  {REFUSED[path.stem]}: " in output, (command, output)


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


TOO_LARGE_TO_SIMULATE = {"behaviour_extremes_within_limits": "arrivals.web"}
"""Files that load but whose simulation is refused up front (one request may set off
more visits than :data:`qmodel.sim.budget.MAX_VISITS_PER_REQUEST`), and the path named."""


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
    except ModelError as exc:
        assert TOO_LARGE_TO_SIMULATE.get(path.stem) in [p.path for p in exc.problems], exc
        return
    except (UnsupportedError, UnstableError):
        pass
    assert path.stem not in TOO_LARGE_TO_SIMULATE


@pytest.mark.timeout(10)
def test_a_model_whose_requests_explode_is_refused_by_simulate_at_once() -> None:
    """Every field within its limit, but one request may set off 12 million visits:
    ``simulate`` says so with the class's path (exit 2) instead of running without end."""
    result = runner.invoke(app, ["simulate", "tests/model/hostile/"
                                 "behaviour_extremes_within_limits.yaml", "--seed", "1"])
    assert result.exit_code == 2, result.output
    assert "arrivals.web: one request may set off 12,222,111 visits" in result.output
    check = runner.invoke(app, ["check", "tests/model/hostile/"
                                "behaviour_extremes_within_limits.yaml"])
    assert check.exit_code == 0, check.output  # valid: solve and the what-if commands answer
    assert "note: simulate refuses it: arrivals.web: one request may set off" in check.output


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


def read_with(loader: type, path: Path) -> tuple:
    parse.LOADER = loader
    try:
        return "read", parse.read_file(path)
    except ModelError as exc:
        return "refused", [p.path for p in exc.problems], "nested more than" in str(exc)


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML without libyaml")
def test_libyaml_reads_every_file_as_the_pure_python_loader_does(monkeypatch) -> None:
    """Model files are parsed by libyaml (:data:`qmodel.model.parse.LOADER`, ten times
    faster): it gives the same documents as PyYAML's pure-Python loader, and refuses the
    same files at the same paths (its wording of a syntax error differs)."""
    monkeypatch.setattr(parse, "LOADER", parse.LOADER)
    assert parse.LOADER is yaml.CSafeLoader
    for path in SMALL + sorted(Path("topologies").glob("*.yaml")):
        assert read_with(yaml.CSafeLoader, path) == read_with(parse._PythonLoader, path), path
