"""Progress of a run: a rich progress bar for runs longer than a second, or a callback."""

from __future__ import annotations

import time
from collections.abc import Callable

AUTO_AFTER_S = 1.0


class Reporter:
    """Turns per-replication fractions into overall progress.

    ``progress`` is True (always show a bar), False (never), None (show a bar once the
    run has taken more than a second and is not nearly done) or a callable that receives
    the overall fraction done (0..1).
    """

    def __init__(self, progress: bool | Callable[[float], None] | None, replications: int,
                 label: str):
        self.callback = progress if callable(progress) else None
        self.mode = "callback" if self.callback else {True: "bar", False: "off"}.get(progress,
                                                                                    "auto")
        self.replications = replications
        self.label = label
        self.t0 = time.perf_counter()
        self.bar = None
        self.task = None

    def for_replication(self, r: int) -> Callable[[float], None] | None:
        if self.mode == "off":
            return None
        return lambda frac: self.update((r + frac) / self.replications)

    def update(self, done: float) -> None:
        if self.callback is not None:
            self.callback(done)
            return
        if self.bar is None:
            elapsed = time.perf_counter() - self.t0
            if self.mode == "auto" and (elapsed < AUTO_AFTER_S or done > 0.8):
                return
            self._open()
        self.bar.update(self.task, completed=done)

    def _open(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                            TextColumn("{task.percentage:>3.0f}%"), TimeRemainingColumn(),
                            console=Console(stderr=True), transient=True)
        self.task = self.bar.add_task(self.label, total=1.0)
        self.bar.start()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
