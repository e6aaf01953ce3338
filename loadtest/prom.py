"""Scraping a Prometheus endpoint during a run (``qmodel validate --metrics URL``) and
turning a window of scrapes into per-component figures.

A :class:`Scraper` reads the endpoint every ``interval_s`` while locust runs. For a
window ``[since, until)`` the first scrape at or after ``since`` and the last at or
before ``until`` bound it: a counter gives its rate (difference / time between the two
scrapes), a histogram its window's mean (difference of ``_sum`` over difference of
``_count``) and quantiles (differences of the cumulative ``_bucket`` counts, linear
interpolation inside the bucket, as PromQL's ``histogram_quantile``), a summary its mean;
a gauge is averaged over every scrape inside the window. Text is parsed with
``prometheus_client.parser.text_string_to_metric_families``.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from qmodel.model.requests import ComponentMetrics, MetricRef


@dataclass
class Scrape:
    at: float
    families: dict[str, tuple[str, list[tuple[str, dict[str, str], float]]]]


def parse(text: str, at: float) -> Scrape:
    from prometheus_client.parser import text_string_to_metric_families

    families: dict[str, tuple[str, list]] = {}
    for family in text_string_to_metric_families(text):
        samples = [(s.name, dict(s.labels), float(s.value)) for s in family.samples]
        if family.name in families:  # untyped samples come one family per line
            kind, before = families[family.name]
            families[family.name] = (kind, before + samples)
        elif samples or family.type != "unknown":
            families[family.name] = (family.type, samples)
    return Scrape(at, {name: f for name, f in families.items() if f[1]})


@dataclass
class Scraper:
    """Scrapes ``url`` every ``interval_s`` seconds in a thread between start and stop."""

    url: str
    interval_s: float = 2.0
    scrapes: list[Scrape] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def scrape_once(self, client: httpx.Client) -> None:
        before = time.time()
        try:
            response = client.get(self.url, timeout=5.0)
            response.raise_for_status()
            self.scrapes.append(parse(response.text, (before + time.time()) / 2))
        except (httpx.HTTPError, ValueError) as exc:
            self.errors.append(f"{time.strftime('%H:%M:%S')} {exc}")

    def __enter__(self) -> Scraper:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        with httpx.Client() as client:
            while True:
                self.scrape_once(client)
                if self._stop.wait(self.interval_s):
                    self.scrape_once(client)
                    return

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)


def _family(scrape: Scrape, name: str) -> tuple[str, list] | None:
    for candidate in (name, name.removesuffix("_total")):
        if candidate in scrape.families:
            return scrape.families[candidate]
    return None


def _matches(labels: dict[str, str], wanted: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in wanted.items())


def _sum(samples: list, suffix: str, wanted: dict[str, str], le: str | None = None) -> float:
    total = 0.0
    for name, labels, value in samples:
        if name.endswith(suffix) and _matches(labels, wanted) and \
                (le is None or labels.get("le") == le):
            total += value
    return total


def quantile(q: float, bounds: list[float], counts: list[float]) -> float | None:
    """The q-quantile of a cumulative histogram (``bounds`` ascending, the last +Inf),
    by linear interpolation inside the bucket, as ``histogram_quantile``."""
    if not counts or counts[-1] <= 0:
        return None
    rank = q * counts[-1]
    lower, below = 0.0, 0.0
    for bound, count in zip(bounds, counts):
        if count >= rank:
            if math.isinf(bound):
                return lower  # beyond the last finite bucket: its bound
            width = count - below
            return lower + (bound - lower) * ((rank - below) / width if width > 0 else 1.0)
        lower, below = bound, count
    return lower


def figures(scrapes: list[Scrape], since: float, until: float, ref: MetricRef
            ) -> dict[str, Any]:
    """A metric's figures over the window: ``kind`` and ``rate`` (counter), ``mean``
    (gauge average, histogram or summary mean), ``p95``/``p99`` (histogram), each divided
    by ``ref.per``; or ``missing`` saying why there are none."""
    inside = [s for s in scrapes if since <= s.at <= until]
    if len(inside) < 2:
        return {"missing": f"fewer than two scrapes in the window ({len(inside)})"}
    first, last = inside[0], inside[-1]
    found = _family(last, ref.metric)
    if found is None:
        return {"missing": f"{ref.metric} was not in the scrape"}
    kind, _ = found
    if kind == "unknown":  # untyped: a counter by its name, else a gauge
        kind = "counter" if ref.metric.endswith("_total") else "gauge"
    span = last.at - first.at
    start = _family(first, ref.metric) or (kind, [])
    per = ref.per
    if kind == "counter":
        delta = _sum(found[1], "_total", ref.labels) - _sum(start[1], "_total", ref.labels)
        return {"kind": kind, "rate": delta / span / per, "window_s": span}
    if kind == "gauge":
        values = [_sum(f[1], "", ref.labels) for s in inside
                  if (f := _family(s, ref.metric)) is not None]
        return {"kind": kind, "mean": sum(values) / len(values) / per, "scrapes": len(values)}
    if kind in ("histogram", "summary"):
        count = _sum(found[1], "_count", ref.labels) - _sum(start[1], "_count", ref.labels)
        total = _sum(found[1], "_sum", ref.labels) - _sum(start[1], "_sum", ref.labels)
        out = {"kind": kind, "count": count, "rate": count / span / per, "window_s": span,
               "mean": total / count / per if count > 0 else None}
        if kind == "histogram":
            les = sorted({labels["le"] for name, labels, _ in found[1]
                          if name.endswith("_bucket") and "le" in labels},
                         key=lambda v: float(v))
            bounds = [float(le) for le in les]
            counts = [_sum(found[1], "_bucket", ref.labels, le)
                      - _sum(start[1], "_bucket", ref.labels, le) for le in les]
            for q in (0.95, 0.99):
                value = quantile(q, bounds, counts)
                out[f"p{round(q * 100)}"] = None if value is None else value / per
        return out
    return {"missing": f"{ref.metric} is a {kind}, not a counter, gauge, histogram or summary"}


def component_figures(scrapes: list[Scrape], since: float, until: float,
                      mapping: dict[str, ComponentMetrics]) -> dict[str, dict[str, Any]]:
    """Per mapped component and quantity (throughput, utilization, service, response)."""
    out: dict[str, dict[str, Any]] = {}
    for component, spec in mapping.items():
        for quantity in ("throughput", "utilization", "service", "response"):
            ref = getattr(spec, quantity)
            if ref is not None:
                out.setdefault(component, {})[quantity] = \
                    {"metric": ref.metric} | figures(scrapes, since, until, ref)
    return out


def unmapped(scrapes: list[Scrape], mapping: dict[str, ComponentMetrics]) -> list[str]:
    """Metric families scraped that no component maps (listed, never guessed)."""
    if not scrapes:
        return []
    used = set()
    for spec in mapping.values():
        for quantity in ("throughput", "utilization", "service", "response"):
            ref = getattr(spec, quantity)
            if ref is not None:
                used |= {ref.metric, ref.metric.removesuffix("_total")}
    return sorted(name for name in scrapes[-1].families if name not in used)
