"""A small JSON file the load generator is handed (a client policy, a rate profile):
read bounded, finite numbers only, a JSON object or a ``ValueError`` saying why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json_object(path: str | Path, limit: int, holds: str) -> dict[str, Any]:
    """The JSON object in ``path`` if it is at most ``limit`` bytes, has no NaN or
    Infinity and nests within Python's recursion limit; ``holds`` names what it holds,
    for the messages.

    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
    ...     _ = f.write('{"rate": NaN}')
    >>> try:
    ...     read_json_object(f.name, 1024, "a rate profile")
    ... except ValueError as exc:
    ...     print(str(exc).split(": ", 1)[1])
    NaN is not a number a rate profile can hold
    >>> os.unlink(f.name)
    """
    def not_a_number(word: str) -> float:
        raise ValueError(f"{word} is not a number {holds} can hold")

    try:
        with open(path, "rb") as f:
            raw = f.read(limit + 1)
        if len(raw) > limit:
            raise ValueError(f"more than {limit // 1024} KiB")
        doc = json.loads(raw, parse_constant=not_a_number)
    except (OSError, ValueError, RecursionError) as exc:
        raise ValueError(f"cannot read {str(path)!r}: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"must hold a JSON object ({holds})")
    return doc
