"""The qmodel command line: tables, JSON, exit codes, errors without tracebacks."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import qmodel
from qmodel.cli.main import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_check_ok():
    result = run("check", "topologies/web_service.yaml")
    assert result.exit_code == 0
    assert "ok web-service: 3 components, 6 stations, 1 classes" in result.output


def test_solve_prints_tables():
    result = run("solve", "topologies/web_service.yaml")
    assert result.exit_code == 0, result.output
    assert "db-3" in result.output and "mean response" in result.output


def test_solve_json_schema():
    result = run("solve", "topologies/web_service.yaml", "--json")
    doc = json.loads(result.output)
    assert doc["schema"] == "qmodel.result/1"
    assert doc["units"] == {"time": "s", "rate": "1/s"}
    # Erlang C by direct summation over the three tiers: 34.79301036 ms.
    assert doc["system"]["mean_response_time"]["value"] == pytest.approx(0.03479301036, rel=1e-9)
    assert doc["nodes"]["app"]["utilization"]["method"] == "exact"


def test_invalid_model_exit_2_with_field_paths(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes:\n  app: {kind: queue, servers: 0, service: 2ms}\n"
                   "arrivals:\n  web: {to: app, rate: 5/s}\n")
    result = run("solve", str(bad))
    assert result.exit_code == 2
    assert "nodes.app.servers: must be a positive integer, got 0" in result.output
    assert "Traceback" not in result.output


def test_unstable_exit_3(tmp_path):
    result = run("solve", "topologies/web_service.yaml", "--set", "arrivals.web.rate=400/s")
    assert result.exit_code == 3
    assert "app is saturated" in result.output


def test_set_refuses_a_bare_rate_or_duration_and_says_what_it_would_mean():
    result = run("solve", "topologies/replicated_store.yaml", "--set", "arrivals.writes.rate=300",
                 "--set", "nodes.leader.service={mean: 2, cv: 1}")
    assert result.exit_code == 2
    assert "--set arrivals.writes.rate: give a unit, e.g. 300/s (a bare 300 would mean " \
           "300/ms = 300,000/s in this ms model)" in result.output
    assert "--set nodes.leader.service.mean: give a unit, e.g. 2ms or 2s" in result.output
    ok = run("check", "topologies/replicated_store.yaml", "--set", "arrivals.writes.rate=300/s",
             "--set", "nodes.leader.service={mean: 2ms, cv: 1}", "--set", "nodes.leader.servers=2")
    assert ok.exit_code == 0, ok.output


def test_set_override_and_bad_override():
    result = run("solve", "topologies/web_service.yaml", "--set", "nodes.app.servers=16",
                 "--json")
    assert json.loads(result.output)["nodes"]["app"]["servers"] == 16
    result = run("check", "topologies/web_service.yaml", "--set", "nodes.app.servers")
    assert result.exit_code == 2 and "--set: expected path=value" in result.output


def test_schema_is_json_schema():
    doc = json.loads(run("schema").output)
    assert doc["title"] == "qmodel model file"
    assert "nodes" in doc["properties"]


def test_missing_file_is_a_clean_error():
    result = run("solve", "no/such/file.yaml")
    assert result.exit_code == 2 and "cannot read" in result.output
    assert "Traceback" not in result.output


def test_simulate_json_has_confidence_intervals():
    result = run("simulate", "topologies/web_service.yaml", "--replications", "3",
                 "--customers", "3000", "--seed", "7", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["method"] == "simulation"
    mean = doc["system"]["mean_response_time"]
    low, high = mean["ci95"]
    assert low <= mean["value"] <= high
    assert doc["system"]["mean_response_time"]["value"] == pytest.approx(0.0348, rel=0.15)


def test_simulate_rejects_bad_arguments():
    result = run("simulate", "topologies/web_service.yaml", "--replications", "0")
    assert result.exit_code == 2 and "--replications: must be a positive integer" in result.output
    result = run("simulate", "topologies/web_service.yaml", "--max-events", "0")
    assert result.exit_code == 2 and "--max-events: must be a positive integer" in result.output


def test_simulate_refuses_a_run_far_over_its_budget_at_once():
    """An hour of a model at 10^9 requests/s (about 10^13 events) ran for minutes before it
    stopped at the event budget; it is refused before it starts, as arguments."""
    result = run("simulate", "tests/model/hostile/billion_per_second.yaml", "--horizon", "1h")
    assert result.exit_code == 2, result.output
    assert result.output.startswith("invalid arguments\n  horizon: one replication would ")
    assert "ask for a shorter horizon, or give max_events (--max-events)" in \
        " ".join(result.output.split())


def test_simulate_stopped_by_its_event_budget_reports_partial_results():
    """As an interrupted run: what was simulated, marked partial, a line on stderr and
    exit 0; the note says why it stopped."""
    args = ["simulate", "topologies/web_service.yaml", "--replications", "3", "--seed", "1",
            "--max-events", "4000", "--method", "simpy"]
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["partial"] is True and doc["replications"] == 1
    assert doc["notes"][-1].startswith("stopped after 4,000 events (the event budget")
    assert "stopped at a limit of the run (see its note): partial results" in result.stderr
    table = run(*args)
    assert table.exit_code == 0 and "note: stopped after 4,000 events" in table.stdout


def test_compare_flags_agreement():
    result = run("compare", "topologies/web_service.yaml", "--replications", "3", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows and all("agrees" in row for row in rows)


def test_compare_of_an_unstable_model_says_why_and_simulates_nothing():
    """(It printed an empty table and exit 0.)"""
    result = run("compare", "topologies/web_service.yaml", "--set", "arrivals.web.rate=1e6/s")
    assert result.exit_code == 3, result.output
    assert "unstable: app is saturated" in result.output and "analytic vs" not in result.output


def test_load_testing_commands_are_forwarded():
    result = run("validate", "--help")
    assert result.exit_code == 0 and "--duration" in result.output
    result = run("refsys", "serve", "--help")
    assert result.exit_code == 0 and "--broker" in result.output


def test_simulate_on_a_process_pool_matches_in_process():
    args = ["simulate", "topologies/web_service.yaml", "--replications", "2", "--customers",
            "1500", "--seed", "3", "--json"]
    here = json.loads(run(*args).output)
    pool = json.loads(run(*args, "--executor", "local").output)
    assert here["system"]["mean_response_time"] == pool["system"]["mean_response_time"]
    bad = run(*args, "--executor", "cloud")
    assert bad.exit_code == 2 and "executor must be" in bad.output


def test_solve_a_batch_says_needs_simulation_and_gives_the_makespan_bound():
    result = run("solve", "topologies/brkss_warehouse.yaml")
    assert result.exit_code == 4, result.output
    assert "run `qmodel simulate topologies/brkss_warehouse.yaml`" in result.output
    bound = next(line for line in result.output.splitlines() if "makespan lower bound" in line)
    assert "30 s" in bound                     # 180,000 x 2 ms over 12 nodes
    assert "needs simulation: batch arrivals" in result.output


def test_simulate_a_batch_prints_its_makespan():
    small = ["--set", "batches.batch.size=600",     # admitted 600 / 12 / 10 = 5 at a time
             "--replications", "2", "--seed", "1"]
    result = run("simulate", "topologies/brkss_warehouse.yaml", *small)
    assert result.exit_code == 0, result.output
    assert any(line.split("│")[1].strip() == "makespan" and "ms" in line
               for line in result.output.splitlines() if line.count("│") > 2)
    doc = json.loads(run("simulate", "topologies/brkss_warehouse.yaml", *small, "--json").output)
    assert 0.1 <= doc["system"]["makespan"]["value"] < 0.2         # bound: 600 x 2 ms / 12
    assert doc["system"]["completed"]["value"] == 600 and len(doc["per_replication"]) == 2


def test_only_the_cli_package_imports_typer():
    """Library code never imports the command line (or typer): importing every module of
    qmodel outside qmodel.cli leaves both out of sys.modules."""
    code = ("import importlib, pathlib, sys; "
            "names = sorted('.'.join(p.with_suffix('').parts).removesuffix('.__init__') "
            "for p in pathlib.Path('qmodel').rglob('*.py')); "
            "[importlib.import_module(n) for n in names if not n.startswith('qmodel.cli')]; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'typer' "
            "or m.startswith('qmodel.cli')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("command, choices", [
    ("solve", "auto, open, mva, amva, ctmc, batches, layered, qbd"),
    ("simulate", "auto, simpy, fast"),
])
def test_an_unknown_method_is_a_bad_argument_naming_the_choices(command, choices):
    result = run(command, "topologies/web_service.yaml", "--method", "magic")
    assert result.exit_code == 2
    assert "invalid arguments" in result.output
    assert f"--method: must be one of {choices}, got 'magic'" in result.output


def test_solve_needing_simulation_says_so_once_and_exits_4(tmp_path):
    mlfq = tmp_path / "mlfq.yaml"  # two stations that only simulation can answer
    mlfq.write_text("arrivals:\n  web: {to: app, rate: 10/s}\nnodes:\n"
                    "  app: {kind: queue, service: 20ms, discipline: mlfq,\n"
                    "        mlfq: {levels: 3, quantum: 5ms}, next: {db: 1}}\n"
                    "  db: {kind: queue, service: 10ms, discipline: mlfq,\n"
                    "       mlfq: {levels: 2, quantum: 2ms}}\n")
    result = run("solve", str(mlfq))
    assert result.exit_code == 4, result.output
    lines = result.output.splitlines()
    assert sum("needs simulation" in line for line in lines if line.startswith("note:")) == 1
    assert "needs simulation: MLFQ scheduling" in result.output
    assert " ".join(result.output.split()).count(f"run `qmodel simulate {mlfq}`") == 1


def test_solve_prints_each_class_end_to_end():
    """The replicated store: reads 1.745 ms beside writes 6.083 ms (leader 1.25 ms + apply
    3.333 ms + the join's wait for the slower follower), as ``qmodel.solve`` has them; and
    the table of stale reads of its consistency section."""
    result = run("solve", "topologies/replicated_store.yaml")
    assert result.exit_code == 0, result.output
    table = result.output[result.output.index("classes (end to end)"):]
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in table.splitlines() if line.startswith("│")}
    assert rows["writes"][2:4] == ["200", "6.083"] and rows["reads"][2:4] == ["800", "1.745"]
    solved = qmodel.solve(qmodel.load("topologies/replicated_store.yaml")).classes
    assert float(solved["writes"].mean_response_time) * 1000 == pytest.approx(6.083, abs=5e-4)
    assert "mean R ms" in table
    stale = result.output[result.output.index("consistency: stale reads, R = 2 of N = 3, "
                                              "W = 1"):]
    assert "P(stale), replication slow (k-staleness) │ 0.3333 │ exact" in " ".join(stale.split())
    assert "time to 99.9% fresh reads (ms)" in stale


def test_solve_shows_the_aria_bounds_of_a_mapreduce_job():
    result = run("solve", "topologies/mapreduce_job.yaml")
    assert result.exit_code == 0, result.output
    table = " ".join(result.output[result.output.index("ARIA bounds, class jobs"):].split())
    assert "max = E[max of n tasks]" in table
    assert "│ map │ 100 │ 40 │ 20 │ 254.9 │ 50 │ 177.2 │ 304.4 │" in table
    assert "│ job (+ 30 s outside the stages) │ │ │ │ │ 120 │ 289.1 │ 458.1 │" in table


def test_solve_shows_the_stale_reads_of_the_consistency_section():
    result = run("solve", "topologies/replicated_store.yaml", "--json")
    assert result.exit_code == 0, result.output
    stale = json.loads(result.output)["consistency"]
    assert (stale["n"], stale["r"], stale["w"]) == (3, 2, 1)
    assert stale["p_stale_k"] == {"value": pytest.approx(1 / 3), "method": "exact"}
    times = [row["t_s"] for row in stale["p_stale_at"]]
    probs = [row["p"]["value"] for row in stale["p_stale_at"]]
    assert times[0] == 0.0 and times[-1] == stale["t_999_s"]["value"]
    assert probs == sorted(probs, reverse=True) and probs[-1] <= 0.001


def test_rates_read_per_hour_and_unstable_is_said_in_words(tmp_path):
    slow = tmp_path / "slow.yaml"
    slow.write_text("time_unit: min\nnodes:\n  clerk: {kind: queue, service: 10min}\n"
                    "arrivals:\n  claims: {to: clerk, rate: 2/h}\n")
    result = run("solve", str(slow))
    assert result.exit_code == 0, result.output
    assert "rates per h" in result.output and "λ/h" in result.output
    assert re.search(r"│ throughput +│ +2/h │", result.output)      # not 0.0005556 /s
    assert re.search(r"│ saturation arrival rate +│ +6/h │", result.output)   # 1 / 10 min
    assert "R min" in result.output
    busy = run("solve", str(slow), "--set", "arrivals.claims.rate=7/h")
    assert busy.exit_code == 3
    assert re.search(r"│ mean response +│ unstable │", busy.output)
    assert "1.17 ≥ 1" in busy.output                       # 7/h x 10 min offered per server
    assert "stable only below a total arrival rate of 6/h" in busy.output


@pytest.mark.parametrize("command", [["solve"], ["simulate"], ["compare"], ["check"],
                                     ["sweep"], ["sensitivity"], ["plan"], ["headroom"],
                                     ["calibrate", "traces"], ["calibrate", "metrics"]])
def test_help_names_values_without_python_types(command):
    text = run(*command, "--help").output
    assert "--set" in text or "--output" in text
    assert not re.search(r"<(bool|str|int|float|list\[str\])>", text), text
    assert re.search(r"--\w+ +(TEXT|INTEGER|NUMBER|PATH) ", text)


def test_solve_a_model_no_analytic_method_models_says_simulate(tmp_path):
    path = tmp_path / "impatient.yaml"  # a fixed patience: Erlang-A takes exponential ones
    path.write_text("nodes: {a: {kind: queue, service: 1ms,\n"
                    "            patience: {dist: deterministic, value: 1s}}}\n"
                    "arrivals: {w: {to: a, rate: 10/s}}\n")
    result = run("solve", str(path))
    assert result.exit_code == 4, result.output
    # the family that models patience says why it cannot take this one
    assert "layered: a: patience is solved when exponential (Erlang-A)" in result.output
    assert "it does not model" not in result.output
    assert f"run `qmodel simulate {path}`" in result.output.replace("\n", "")
    named = run("solve", str(path), "--method", "open")
    assert named.exit_code == 1 and "open: it does not model patience" in named.output


@pytest.mark.parametrize("option", ["--horizon", "--warmup", "--bins"])
def test_simulate_duration_options_need_a_unit(option):
    result = run("simulate", "topologies/web_service.yaml", option, "100")
    assert result.exit_code == 2, result.output
    assert f"{option}: give a unit, e.g. 100ms or 100s" in result.output


def test_simulate_to_a_precision_prints_how_it_stopped():
    result = run("simulate", "topologies/web_service.yaml", "--precision", "10%",
                 "--customers", "2000", "--seed", "7", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["convergence"][-1]["worst"] <= 0.10
    assert doc["replications"] == doc["convergence"][-1]["replications"]
    assert any(note.startswith("stopped at precision") for note in doc["notes"])
    bad = run("simulate", "topologies/web_service.yaml", "--precision", "5")
    assert bad.exit_code == 2 and "--precision: must be a relative half-width" in bad.output
