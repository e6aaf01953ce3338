"""OpenTelemetry spans of the reference system, written as OTLP JSON (off by default).

Off (no ``--otel-traces``): no :class:`Tracing` exists, the parts skip every span call,
no thread is started, no file written, and items carry empty ``headers``.

On: each process's SDK ``BatchSpanProcessor`` exports every second (or every 512 spans)
to ``RUN_DIR/otel/PROCESS.jsonl`` as compact span records (:class:`SpanRecordExporter`:
encoding OTLP there would cost the serving process's event loop); :meth:`Tracing.shutdown`
on a graceful stop writes the rest, and the supervisor's :func:`merge` writes every
process's records to the file asked for in the OpenTelemetry Collector file exporter's
format: one ``ExportTraceServiceRequest`` per line as OTLP/JSON
(:func:`loadtest.refsys.otlp.encode`: the document the SDK's protobuf encoder and
``json_format`` would write, at a seventh of their cost). ``kill -9`` loses
the spans that process had ended but not yet exported (up to one second's worth) and
those of the items it was serving.

One trace per request. Spans (attribute ``qmodel.span`` says which of the three):

- ``request``: ``POST /events`` (or ``/jobs``), SERVER, service ``refsys`` (the HTTP
  front door, not a model component): from the request's arrival to the answer (200 when
  the item left the system, 202 when a broker took it). The root, or the child of the
  client's W3C ``traceparent``.
- ``handoff``: the item leaves for the next component (:meth:`Tracing.handoff`), service
  = the sender's component (``refsys`` for the first hop): PRODUCER ``publish TOPIC``
  into a broker (embedded or Redis), PRODUCER ``send in-STATION`` into a worker
  station's Redis input stream, PRODUCER ``enqueue STATION`` into a station's queue in
  the same process. It ends at the item's enqueue time, the one its next trace row has:
  when the station's queue took it, or when the message was written, before the round
  trip to Redis (the trace rows count that transit as waiting too; the publisher's loop
  may notice the reply many milliseconds after the consumer started). So the queue wait
  at the next station is that visit's start minus this span's end, as in the rows.
- ``visit``: ``serve STATION``, one per item per station (a batch's items each get
  one, with the batch's times), service = the station's component: exactly the service
  (the trace row's start and end, the queue wait excluded), always CONSUMER: every
  hand-off between components is asynchronous (a queue, a broker or a stream sits
  between sender and server), and the messaging kinds tell a reader so: it takes the gap
  as the wait, not a synchronous call. Attributes ``qmodel.component``,
  ``qmodel.station``, ``qmodel.class``, ``qmodel.item_id`` and
  ``qmodel.target_service_s`` (the drawn time; the delivered one is the duration). A
  visit's only child is the hand-off after it (the sender's own work), so its exclusive
  time is its duration.

A reader building a model counts visits per root for visit ratios (hand-offs belong to
the sender), and takes the request span as the arrival: its exclusive time is the
response time (its one child is the first hand-off), not a service — ``qmodel calibrate
traces --outside refsys`` says so.

The item carries the context of the span that last handed it on, in ``Item.headers``
(W3C ``traceparent``/``tracestate``, injected and extracted by the trace-context
propagator); a visit is the child of the hand-off that brought the item, and the
hand-off after it is the visit's child (a consumer hands on inside its service: its
visit span is opened at the start of service, :meth:`Tracing.start_visit`). A hand-off
is the sender's own work (PRODUCER), so a reader does not subtract it from the
visit's exclusive time. Through Redis the headers travel as stream fields beside the
item, as message headers do; in one process the item object carries them.

``service.name``: a process hosts several components, so :class:`Tracing` keeps one
``TracerProvider`` per component, each with its own resource (``service.name`` the
component, ``service.instance.id`` the process), all feeding the process's one
``BatchSpanProcessor`` (so one export thread and one file per process).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SynchronousMultiSpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import (
    Span,
    SpanKind,
    Tracer,
    set_span_in_context,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.status import StatusCode

from .items import Item
from .otlp import SCOPE, encode, record

ENTRY = "refsys"          # service.name of the HTTP front door
EXPORT_EVERY_MS = 1000    # what kill -9 can lose
LINE_SPANS = 256          # spans per OTLP/JSON line of the merged file
RECORDS_PER_SLICE = 16    # span records built between two offers of the GIL
_PROPAGATOR = TraceContextTextMapPropagator()


def _ns(epoch_s: float) -> int:
    return round(epoch_s * 1e9)


class SpanRecordExporter(SpanExporter):
    """Appends exported spans to a file as compact records, one JSON array per line.

    Encoding OTLP costs ~0.1-0.2 ms of CPU per span; done here, on the processor's
    thread of a process whose event loop serves the system, it made the gateway wait for
    the CPU and its loop late (lag p99 3-9 ms against the 2 ms its self-check allows).
    A record costs a tenth of that; :func:`merge` builds the OTLP/JSON from the records
    with the SDK's encoder once the system has stopped."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = open(path, "a", encoding="utf-8")
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        parts = []
        for i in range(0, len(spans), RECORDS_PER_SLICE):
            parts += [json.dumps(record(span), separators=(",", ":")) + "\n"
                      for span in spans[i:i + RECORDS_PER_SLICE]]
            time.sleep(0)  # let a waiting event loop have the GIL (a slice is ~0.3 ms)
        text = "".join(parts)
        with self._lock:
            if self._file is None:
                return SpanExportResult.FAILURE
            self._file.write(text)
            self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class Tracing:
    """One process's spans: a tracer per component, one batch processor, one file
    (``directory/process.jsonl``)."""

    def __init__(self, directory: Path, process: str):
        self.path = directory / f"{process}.jsonl"
        self.process = process
        self._processor = BatchSpanProcessor(SpanRecordExporter(self.path),
                                             schedule_delay_millis=EXPORT_EVERY_MS)
        self._tracers: dict[str, Tracer] = {}

    def tracer(self, service: str) -> Tracer:
        """The tracer whose spans have ``service.name`` = ``service``."""
        tracer = self._tracers.get(service)
        if tracer is None:
            processors = SynchronousMultiSpanProcessor()
            processors.add_span_processor(self._processor)
            resource = Resource.create({"service.name": service,
                                        "service.instance.id": self.process})
            provider = TracerProvider(resource=resource, shutdown_on_exit=False,
                                      active_span_processor=processors)
            tracer = self._tracers[service] = provider.get_tracer(SCOPE)
        return tracer

    @contextmanager
    def request(self, headers: Mapping[str, str], method: str, route: str, item: Item,
                start_s: float) -> Iterator[Span]:
        """The SERVER span of one HTTP request (child of the client's ``traceparent``,
        if any); ``item`` gets its context. The caller sets the status code."""
        span = self.tracer(ENTRY).start_span(
            f"{method} {route}", context=_PROPAGATOR.extract(headers), kind=SpanKind.SERVER,
            start_time=_ns(start_s),
            attributes={"qmodel.span": "request", "http.request.method": method,
                        "http.route": route, "qmodel.class": item.cls,
                        "qmodel.item_id": item.id})
        item.headers = _inject(span)
        try:
            yield span
        finally:
            span.end()

    @contextmanager
    def handoff(self, item: Item, sender: str | None, name: str,
                attributes: Mapping[str, str]) -> Iterator[None]:
        """A PRODUCER hand-off span around sending ``item`` on
        from ``sender`` (None: from outside, :data:`ENTRY`); the item carries its
        context from the start (the message is written inside)."""
        span = self.tracer(sender or ENTRY).start_span(
            name, context=_PROPAGATOR.extract(item.headers), kind=SpanKind.PRODUCER,
            attributes={"qmodel.span": "handoff", **attributes})
        item.headers = _inject(span)
        try:
            yield
        except Exception as exc:
            span.set_status(StatusCode.ERROR, str(exc))
            raise
        finally:
            end = time.time_ns()
            queued = _ns(item.t_enq)  # stamped by the send (a join or fork does not)
            span.end(end_time=queued if span.start_time <= queued <= end else end)

    def visit(self, item: Item, parent: Mapping[str, str], component: str, station: str,
              start_s: float, end_s: float, target_s: float) -> None:
        """The span of one service of ``item`` at ``station``, from ``start_s`` to
        ``end_s`` (epoch seconds, the trace row's), child of ``parent`` (headers); the
        item's next hand-off is its child."""
        self.start_visit(item, parent, component, station, start_s,
                         target_s).end(end_time=_ns(end_s))

    def start_visit(self, item: Item, parent: Mapping[str, str], component: str,
                    station: str, start_s: float, target_s: float) -> Span:
        """A visit span opened at ``start_s`` (for a station that hands ``item`` on before
        its service ends, a consumer); the caller ends it with :meth:`end_visit`."""
        span = self.tracer(component).start_span(
            f"serve {station}", context=_PROPAGATOR.extract(parent),
            kind=SpanKind.CONSUMER, start_time=_ns(start_s),
            attributes={"qmodel.span": "visit", "qmodel.component": component,
                        "qmodel.station": station, "qmodel.class": item.cls,
                        "qmodel.item_id": item.id, "qmodel.target_service_s": target_s})
        item.headers = _inject(span)  # what this visit hands on is its child
        return span

    @staticmethod
    def end_visit(span: Span, end_s: float) -> None:
        """End a visit span opened by :meth:`start_visit` at ``end_s`` (epoch seconds)."""
        span.end(end_time=_ns(end_s))

    def shutdown(self) -> None:
        """Export what is left and close the file."""
        self._processor.shutdown()


def _inject(span: Span) -> dict[str, str]:
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=set_span_in_context(span))
    return carrier


def merge(directory: Path, out: Path) -> int:
    """Every process's span records (complete lines only: a killed process's last line may
    be cut) as OTLP/JSON lines in ``out``, ``LINE_SPANS`` spans a line; returns the lines
    written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = 0
    with open(out, "w", encoding="utf-8") as f:
        for path in sorted(directory.glob("*.jsonl")):
            text = path.read_text(encoding="utf-8")
            records = text[:text.rfind("\n") + 1].splitlines()
            for i in range(0, len(records), LINE_SPANS):
                f.write(encode([json.loads(r) for r in records[i:i + LINE_SPANS]]) + "\n")
                lines += 1
    return lines
