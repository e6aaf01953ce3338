"""A fuzzer over mutated models (hypothesis): a value anywhere in a library topology (or
the documented model with calls, pools, clients, patience and balking) is
replaced by a hostile one, a key is dropped or an unknown one added. ``Model.from_dict``,
``qmodel.solve`` and the CLI's ``check`` answer with a model, a result or a
:class:`QModelError` (exit 0 or 2): never another exception, and JSON never holds
``Infinity``/``NaN``. A few examples run by default; many more, with a short simulation of
each model that loads, run with the slow tests."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import qmodel
from qmodel.cli.main import app
from qmodel.errors import QModelError, UnstableError, UnsupportedError

TOPOLOGIES = ["web_service", "kafka_stream", "mapreduce_job", "three_tier_closed",
              "microservices_gateway", "spark_streaming"]
DOCS = {name: yaml.safe_load(Path(f"topologies/{name}.yaml").read_text())
        for name in TOPOLOGIES}
DOCS["held_threads"] = yaml.safe_load(  # calls, pools, timeouts, retries, hedging, ...
    Path("docs/model-format.md").read_text().split("## Held threads", 1)[1]
    .split("```yaml\n", 1)[1].split("```", 1)[0])

HOSTILE = st.one_of(
    st.sampled_from([0, -1, 2**63, 10**400, 1e308, -0.0, math.inf, math.nan, 1e-320, "1e308d",
                     "1e-320", "1e9/ns", "inf", "", "[red]x[/] :x:", "\x1b[2J", "../etc/passwd",
                     [], {}, None, True, [[[[[[[[[[1]]]]]]]]]], {"dist": []},
                     {"dist": "pareto", "alpha": 1.0000001, "mean": "1ms"},
                     {"dist": "empirical", "file": "/dev/zero"}, "x" * 5000]),
    st.integers(), st.floats(), st.text(max_size=20),
    st.lists(st.integers(min_value=-3, max_value=3), max_size=4),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value in a document (keys and list indexes)."""
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += paths(value, prefix + (key,))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out += paths(value, prefix + (i,))
    return out


@st.composite
def mutated(draw: st.DrawFn) -> dict:
    """A library model with one to three values replaced, dropped or added beside."""
    doc = yaml.safe_load(yaml.safe_dump(DOCS[draw(st.sampled_from(sorted(DOCS)))]))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths(doc)))
        *parents, last = path
        holder = doc
        for part in parents:
            holder = holder[part]
        action = draw(st.sampled_from(["replace", "replace", "drop", "add"]))
        if action == "replace":
            holder[last] = draw(HOSTILE)
        elif action == "drop" and isinstance(holder, dict):
            del holder[last]
        elif action == "add" and isinstance(holder, dict):
            holder[draw(st.text(min_size=1, max_size=8))] = draw(HOSTILE)
        if not isinstance(doc.get("nodes"), dict):
            break  # the rest of the paths are gone
    return doc


def answers(doc: dict, simulate: bool = False) -> None:
    try:
        model = qmodel.Model.from_dict(doc, base_dir="topologies")
    except QModelError as exc:
        assert len(str(exc)) < 20_000
        return
    try:
        text = qmodel.solve(model).to_json()
        assert "Infinity" not in text and "NaN" not in text
    except (UnsupportedError, UnstableError):
        pass
    if simulate:
        try:
            qmodel.simulate(model, replications=1, customers=300, seed=1)
        except QModelError:
            pass


FAST = settings(max_examples=10, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MANY = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.timeout(120)
@FAST
@given(mutated())
def test_the_api_answers_mutated_models(doc: dict) -> None:
    answers(doc)


@pytest.mark.timeout(120)
@settings(FAST, max_examples=8)
@given(mutated())
def test_the_cli_checks_mutated_models(tmp_path_factory: pytest.TempPathFactory,
                                       doc: dict) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "model.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code in (0, 2), result.output
    assert "internal error" not in result.output


@pytest.mark.slow
@pytest.mark.timeout(3600)
@MANY
@given(mutated())
def test_many_mutated_models_solve_and_simulate(doc: dict) -> None:
    answers(doc, simulate=True)
