"""The one optional part of the dashboard: load-test validation, which needs the
``loadtest`` extra (locust, httpx, fastapi, ...) on top of the dashboard's."""

from __future__ import annotations

import importlib

OURS = ("qmodel", "qmodel_ui", "loadtest")


def missing_package(module: str) -> str | None:
    """The third-party package ``module`` needs but cannot find, or None when it imports.

    Only a ``ModuleNotFoundError`` for a package outside this project means "not
    installed"; any other error, or a module missing inside it, is a bug and propagates.

    >>> missing_package("qmodel.sim") is None
    True
    """
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if not top or top in OURS:
            raise
        return top
    return None
