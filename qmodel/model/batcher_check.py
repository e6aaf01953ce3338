"""Checks of a batcher's window and slide (docs/model-format.md, ``batcher``): whole
multiples of its interval, with a clock alone, the slide at most the window, at most
``MAX_WINDOW_BATCHES`` batch intervals in either."""

from __future__ import annotations

import math
from collections.abc import Iterator

from ..errors import Problem
from ..units import format_duration
from .spec import BatcherNode

MAX_WINDOW_BATCHES = 1_000_000
"""The most batch intervals a batcher's window (or slide) may span."""


def check_window(path: str, node: BatcherNode) -> Iterator[Problem]:
    """A batcher's window and slide: multiples of its interval (a clock alone), the slide
    at most the window, at most ``MAX_WINDOW_BATCHES`` batches in a window.

    >>> node = BatcherNode(kind="batcher", interval=0.2, window=0.3)
    >>> [str(p) for p in check_window("nodes.b", node)]
    ['nodes.b.window: must be a multiple of the batch interval 200ms, got 300ms']
    """
    if node.window is None:
        if node.slide is not None:
            yield Problem(f"{path}.slide", "needs a window")
        return
    if node.interval is None or node.batch_size is not None:
        yield Problem(f"{path}.window", "needs the batches of a clock: an interval and no "
                                        "batch_size")
        return
    for field in ("window", "slide"):
        value = getattr(node, field)
        if value is None:
            continue
        ratio = value / node.interval
        if ratio > MAX_WINDOW_BATCHES:
            yield Problem(f"{path}.{field}", f"spans {ratio:.4g} batch intervals; at most "
                                             f"{MAX_WINDOW_BATCHES:,}")
        elif ratio < 0.5 or not math.isclose(ratio, round(ratio), rel_tol=1e-9):
            yield Problem(f"{path}.{field}", f"must be a multiple of the batch interval "
                                             f"{_shown_time(node.interval)}, got "
                                             f"{_shown_time(value)}")
    if node.slide is not None and node.slide > node.window * (1 + 1e-9):
        yield Problem(f"{path}.slide", f"must not exceed the window "
                                       f"{_shown_time(node.window)}, got "
                                       f"{_shown_time(node.slide)}")


def _shown_time(seconds: float) -> str:
    return format_duration(seconds, "ms" if seconds < 1 else "s")
