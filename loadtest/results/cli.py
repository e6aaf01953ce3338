"""``qmodel validate MODEL --results FILE...``: the command's body (exit codes 0 passed, 1
not passed, 2 a bad file, option or model; never a traceback)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from qmodel.errors import ModelError, QModelError


def run(model: Path, files: list[Path], flagged: bool, level_by: str, class_of: list[str],
        hlog_unit: str, tolerance: float, out: Path, seed: int) -> int:
    from ..validate import _console
    from .validate import validate_results

    def fail(message: str) -> int:
        typer.echo(f"error: {message}", err=True)
        return 2

    if not flagged:
        return fail(f"unexpected arguments {' '.join(map(str, files))} (result files go after "
                    "--results)")
    try:
        report = validate_results(model, files, level_by=level_by, class_of=class_of,
                                  tolerance=tolerance, out=out, hlog_unit=hlog_unit, seed=seed,
                                  console=_console())
    except ModelError as exc:
        return fail("; ".join(str(p) for p in exc.problems))
    except (QModelError, ValueError, OSError) as exc:
        return fail(str(exc))
    except Exception as exc:  # a bug: said plainly; QMODEL_DEBUG=1 shows the traceback
        if os.environ.get("QMODEL_DEBUG"):
            raise
        typer.echo(f"internal error: {type(exc).__name__}: {exc}", err=True)
        return 1
    return 0 if report.passed else 1
