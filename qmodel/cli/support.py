"""What every qmodel command shares: consoles, exit codes, the error guard, model loading.

Exit codes: 0 success; 1 other error (a file that cannot be written, an unsupported
request, an impossible plan); 2 invalid model or arguments; 3 the model is unstable;
130 interrupted. Errors print as ``field.path: message``; no traceback reaches a user.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from ..errors import ModelError, Problem, QModelError
from ..model.model import Model, load
from ..model.parse import read_yaml

EXIT_OK, EXIT_ERROR, EXIT_INVALID, EXIT_UNSTABLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

# emoji=False: a value echoed from a model (":x:") is printed as typed, never as an emoji;
# text from a model is printed with markup=False or through rich.markup.escape.
out = Console(width=None if sys.stdout.isatty() else 160, emoji=False)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160, emoji=False)


def guarded(func: Callable) -> Callable:
    """Turn qmodel errors into ``path: message`` and an exit code; never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ModelError as exc:
            options = all(p.path.startswith("--") for p in exc.problems)
            err.print(f"[bold red]invalid {'arguments' if options else 'model'}[/]",
                      highlight=False)
            for problem in exc.problems:
                err.print(f"  {problem}", highlight=False, markup=False)
            raise typer.Exit(EXIT_INVALID) from None
        except (QModelError, OSError) as exc:
            err.print(f"error: {exc}", highlight=False, markup=False)
            raise typer.Exit(EXIT_ERROR) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:  # a bug: say so plainly; QMODEL_DEBUG=1 shows the traceback
            if os.environ.get("QMODEL_DEBUG"):
                raise
            err.print(f"internal error: {type(exc).__name__}: {exc}\nThis is a bug in qmodel; "
                      "rerun with QMODEL_DEBUG=1 for details.", highlight=False, markup=False)
            raise typer.Exit(EXIT_ERROR) from None

    return wrapper


def choice(value: str, choices: Sequence[str], option: str) -> str:
    """``value`` if it is one of ``choices``; else a bad argument (exit 2) naming them."""
    if value not in choices:
        raise ModelError([Problem(option, f"must be one of {', '.join(choices)}, got {value!r}")])
    return value


def load_model(path: Path, overrides: list[str] | None = None) -> Model:
    """Load a model and apply ``--set path=value`` overrides (values read as YAML)."""
    model = load(path)
    if not overrides:
        return model
    changes = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ModelError([Problem("--set", f"expected path=value, got {item!r}")])
        changes[key.strip()] = read_yaml(value.strip(), f"--set {key.strip()}")
    return model.with_changes(changes)
