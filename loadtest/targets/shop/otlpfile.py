"""A span exporter that appends OTLP/JSON lines to a file: the OpenTelemetry Collector
file exporter's format (one ``ExportTraceServiceRequest`` per line), which
``qmodel.calibrate.from_traces`` reads.

Each line is encoded by :func:`loadtest.refsys.otlp.otlp_json` (the document the SDK's
own OTLP encoder and protobuf's ``json_format`` write, ids in hex as the OTLP/JSON
mapping asks, at a fraction of their cost). Lines hold at most ``LINE_SPANS`` spans
with a 1 ms sleep after each: encoding costs ~40 µs of CPU per span on the batch
processor's thread, and a whole batch encoded under the GIL would keep the server's
event loop waiting (up to the 5 ms switch interval) at every wake-up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from loadtest.refsys.otlp import otlp_json  # the one OTLP/JSON line encoder

LINE_SPANS = 4
YIELD_S = 0.001
class OtlpJsonLinesExporter(SpanExporter):
    """Appends every exported batch to ``path`` as OTLP/JSON lines (flushed per line, so
    a reader sees whole lines once :meth:`force_flush` of the processor returned)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = open(self.path, "a", encoding="utf-8")
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        for i in range(0, len(spans), LINE_SPANS):
            line = otlp_json(spans[i:i + LINE_SPANS]) + "\n"
            with self._lock:
                if self._file is None:
                    return SpanExportResult.FAILURE
                self._file.write(line)
                self._file.flush()
            time.sleep(YIELD_S)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
