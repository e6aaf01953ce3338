"""The ``qmodel`` command line: :mod:`.main` (the app and the model commands),
:mod:`.experiments` (sweep, sensitivity, plan, headroom) and :mod:`.support` (consoles,
exit codes, the error guard, model loading). Only this package imports typer; the library
never imports it.
"""

from __future__ import annotations

from .main import main

__all__ = ["main"]
