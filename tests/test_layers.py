"""Layers import one way, checked on every import statement of every module — at the top
of a file, inside a function or under ``TYPE_CHECKING`` alike — and at run time.

The layers, bottom to top (docs/architecture.md draws them)::

    foundation   errors, units, results, result_extras, distributions, runner
    model        qmodel.model            the model file: spec, checks, network, SLOs, paths
    solvers      qmodel.solvers          analytic methods behind one protocol
    solve        qmodel.solve, .methods  the facade that picks a method; the method names
    sim          qmodel.sim              discrete-event simulation
    experiments  qmodel.experiments      sweeps, sensitivity, plans, headroom
    calibrate    qmodel.calibrate        traces and metrics in, a calibrated model out
    io           qmodel.io               JMT (JSIMgraph, JMVA) files in and out
    facade       qmodel (__init__)       the public API
    loadtest     loadtest                the reference system, locust, validation
    cli          qmodel.cli, qmodel.report
    ui           qmodel_ui               the dashboard
    app          app                     the Streamlit entry file

A module may import its own layer and the layers listed under it in ``ALLOWED``; the CLI
and the dashboard are siblings that never import each other.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("qmodel", "qmodel_ui", "loadtest")

# Layer of a module: the longest matching prefix wins; "qmodel" alone is the package's
# __init__, so a new module directly under qmodel/ must be given its layer here.
LAYER_OF = {
    "qmodel.errors": "foundation",
    "qmodel.units": "foundation",
    "qmodel.results": "foundation",
    "qmodel.result_extras": "foundation",
    "qmodel.distributions": "foundation",
    "qmodel.runner": "foundation",
    "qmodel.model": "model",
    "qmodel.solvers": "solvers",
    "qmodel.solve": "solve",
    "qmodel.methods": "solve",
    "qmodel.sim": "sim",
    "qmodel.experiments": "experiments",
    "qmodel.calibrate": "calibrate",
    "qmodel.io": "io",
    "qmodel.project": "io",
    "qmodel": "facade",
    "loadtest": "loadtest",
    "qmodel.cli": "cli",
    "qmodel.report": "cli",
    "qmodel_ui": "ui",
    "app": "app",
}
_BELOW = ["foundation", "model", "solvers", "solve", "sim", "experiments", "calibrate", "io",
          "facade", "loadtest"]
ALLOWED = {layer: set(_BELOW[:i + 1]) for i, layer in enumerate(_BELOW)}
ALLOWED["cli"] = set(_BELOW) | {"cli"}
ALLOWED["ui"] = set(_BELOW) | {"ui"}
ALLOWED["app"] = set(_BELOW) | {"ui", "app"}

# Third-party packages only the outer layers may load.
OUTER_ONLY = {"typer": {"cli", "loadtest"}, "streamlit": {"ui", "app"},
              "streamlit_flow": {"ui", "app"},
              "locust": {"loadtest"}, "gevent": {"loadtest"}}


def layer_of(module: str) -> str | None:
    best = None
    for prefix in LAYER_OF:
        if prefix == "qmodel" and module != prefix:
            continue
        if (module == prefix or module.startswith(prefix + ".")) and \
                (best is None or len(prefix) > len(best)):
            best = prefix
    return None if best is None else LAYER_OF[best]


@cache
def modules() -> dict[str, Path]:
    out = {"app": ROOT / "app.py"}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def imports(name: str, path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` for every import in the file, wherever it stands."""
    is_package = path.name == "__init__.py"
    out: dict[tuple[int, str], None] = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(((node.lineno, alias.name), None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:  # `from pkg import module` imports the module
                sub = f"{target}.{alias.name}"
                out[node.lineno, sub if sub in modules() else target] = None
    return list(out)


def violations(checked: dict[str, Path] | None = None) -> list[str]:
    """Every import that runs against the layers, as ``file:line: what``."""
    found = []
    for name, path in sorted((checked or modules()).items()):
        mine = layer_of(name)
        for line, target in imports(name, path):
            where = f"{path.name if checked else path.relative_to(ROOT)}:{line}"
            top = target.split(".")[0]
            if top in OUTER_ONLY and mine not in OUTER_ONLY[top]:
                found.append(f"{where}: {name} ({mine}) imports {target}")
            if top not in PACKAGES and top != "app":
                continue
            theirs = layer_of(target)
            if theirs not in ALLOWED.get(mine, ()):
                found.append(f"{where}: {name} ({mine}) imports {target} ({theirs})")
    return found


def test_every_module_has_a_layer():
    assert [m for m in modules() if layer_of(m) is None] == []


def test_imports_run_one_way_only():
    assert violations() == []


@pytest.mark.parametrize("source, expected", [
    ("from ..experiments import sweep\n", "qmodel.sim.fake (sim) imports qmodel.experiments"),
    ("def f():\n    from qmodel.cli import main\n", "(sim) imports qmodel.cli"),
    ("import streamlit\n", "imports streamlit"),
])
def test_the_checker_sees_upward_imports_anywhere(tmp_path, source, expected):
    fake = tmp_path / "fake.py"
    fake.write_text(source)
    assert any(expected in v for v in violations({"qmodel.sim.fake": fake}))


def test_import_qmodel_is_free_of_ui_and_load_tools():
    code = ("import sys, qmodel, qmodel.cli; "
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('streamlit', 'locust', 'gevent', 'loadtest', 'qmodel_ui')]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
