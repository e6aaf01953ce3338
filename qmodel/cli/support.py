"""What every qmodel command shares: consoles, exit codes, the error guard, model loading.

Exit codes: 0 success; 1 other error (a file that cannot be written, an unsupported
request, an impossible plan); 2 invalid model or arguments; 3 the model is unstable;
4 ``solve`` has no end-to-end answer (the model needs simulation: it says to run
``qmodel simulate``); 130 interrupted. Errors print as ``field.path: message``; no traceback reaches a user.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from ..errors import ModelError, Problem, QModelError
from ..units import unit_needed

if TYPE_CHECKING:  # the model layer (pydantic, numpy) loads with a model: not for --help
    from ..model.model import Model

EXIT_OK, EXIT_ERROR, EXIT_INVALID, EXIT_UNSTABLE, EXIT_SIMULATE, EXIT_INTERRUPTED = \
    0, 1, 2, 3, 4, 130

# emoji=False: a value echoed from a model (":x:") is printed as typed, never as an emoji;
# text from a model is printed with markup=False or through rich.markup.escape.
out = Console(width=None if sys.stdout.isatty() else 160, emoji=False)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160, emoji=False)


_TYPE_NAMES = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "Path": "PATH"}
_RUN_ARGUMENTS = frozenset({"", "bins", "customers", "horizon", "max_events"})
"""Paths the simulation API gives its own arguments' problems (not the model's fields)."""


class TidyHelp(TyperGroup):
    """The ``qmodel`` command group, whose help names values as TEXT, INTEGER, NUMBER or
    PATH (a flag names none) rather than typer's ``<bool>``, ``<list[str]>``."""

    def get_command(self, ctx: Any, name: str) -> Any:
        tidy(self, ctx)
        return super().get_command(ctx, name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        tidy(self, ctx)
        super().format_help(ctx, formatter)


def tidy(command: Any, ctx: Any) -> None:
    """Give every option of ``command`` and its subcommands without a metavar one (their
    ``--help`` too: the help option is made, once, for a context). Arguments keep their
    names (typer shows a metavar in their place)."""
    help_option = command.get_help_option(ctx)
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if param.param_type_name != "option" or param.metavar is not None:
            continue
        bare = param.bare_type().removeprefix("list[").removesuffix("]") \
            if hasattr(param, "bare_type") else ""
        param.metavar = "" if param.is_flag else _TYPE_NAMES.get(bare, "VALUE")
    for sub in getattr(command, "commands", {}).values():
        tidy(sub, ctx)


def guarded(func: Callable) -> Callable:
    """Turn qmodel errors into ``path: message`` and an exit code; never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ModelError as exc:
            options = all(p.path.startswith("--") or p.path in _RUN_ARGUMENTS
                          for p in exc.problems)
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


def with_units(**durations: str | None) -> None:
    """Refuse a duration option typed as a bare number (``--horizon 100``: 100 what?) with
    exit 2, naming the option; every duration option takes ``100s``, ``5min``, ``1h``."""
    bad = [Problem(f"--{name}", why.replace("in this s model", "here"))
           for name, value in durations.items()
           if (why := unit_needed("duration", value, "s"))]
    if bad:
        raise ModelError(bad)


def choice(value: str, choices: Sequence[str], option: str) -> str:
    """``value`` if it is one of ``choices``; else a bad argument (exit 2) naming them."""
    if value not in choices:
        raise ModelError([Problem(option, f"must be one of {', '.join(choices)}, got {value!r}")])
    return value


def load_model(path: Path, overrides: list[str] | None = None) -> Model:
    """Load a model and apply ``--set path=value`` overrides (values read as YAML).

    A rate or duration set without its unit is refused (exit 2), saying what the bare
    number would have meant in the model's ``time_unit``: see :func:`~qmodel.units.unit_needed`.
    """
    from ..model.model import load
    from ..model.parse import read_yaml

    model = load(path)
    if not overrides:
        return model
    changes = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ModelError([Problem("--set", f"expected path=value, got {item!r}")])
        changes[key.strip()] = read_yaml(value.strip(), f"--set {key.strip()}")
    _require_units(model, changes)
    changed = model.with_changes(changes)
    _require_units(changed, changes)
    return changed


def _require_units(model: Model, changes: dict[str, Any]) -> None:
    from ..model.paths import unit_problems

    problems = unit_problems(model, changes, "--set ")
    if problems:
        raise ModelError(problems)
