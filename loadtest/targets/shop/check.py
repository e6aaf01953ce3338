"""Calibrate a model of the shop from its own spans, predict, and compare with a measured
run, client side.

    python -m loadtest.targets.shop.check [--rho 0.5 ...] [--calibration-s 10]
           [--duration-s 15] [--out shop-check]

1. **Calibration run**: the open-loop locust dispatcher sends Poisson ``POST /order`` to
   the frontend at the rate giving utilization ``calibration_rho`` at the busier service.
   Its spans (OTLP JSON lines, one file per service) go to ``qmodel.calibrate.from_traces``
   twice: servers given (the slots) and servers inferred from concurrency.
2. **Overhead**, from the same run: what the client sees but no span holds — the client's
   latency minus the frontend's ``X-Server-Time`` (locust, loopback, uvicorn's HTTP), and
   per backend call, the call's duration minus the backend's ``X-Server-Time`` (the httpx
   client and its instrumentation, loopback, the backend's HTTP). Their means are added
   to the model's end to end: ``outer + p * hop``, to the mean and (as a constant shift) to
   the p95.
3. **Measured runs**, one per ``rho``, each independent of the calibration run; the
   calibrated model (servers given) is solved at each run's *measured* rate and compared
   with the run's client-side mean and p95 over its steady window.

A run counts only if it checks itself: the load generator's checks
(``loadtest.samples.check_open``: rate, Poisson gaps, send delay, client CPU) and the
services' own (:func:`system_problems`: CPU run-queue wait within the reference system's
limit, slot time = draws); an INVALID run is run again (``retries``), never compared.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qmodel.calibrate import Calibration, from_traces

from ...loadgen import LoadSpec, run_locust
from ...predict import predict, with_rates
from ...samples import RUNQUEUE_WAIT_LIMIT, RunCheck, Samples, check_open, latency
from .launch import Shop, ShopConfig, launch

SKIP_S = (2.0, 1.0)   # steady window: from 2 s after the first send to 1 s before the last
SERVICES = ("frontend", "backend")


@dataclass
class Run:
    """One measured load level."""

    rho: float
    rate: float
    achieved_rate: float
    window: tuple[float, float]
    client: dict[str, Any]
    server: dict[str, Any]
    outer_overhead_s: float
    counts: dict[str, dict[str, float]]
    system: dict[str, dict[str, Any]]
    problems: list[str]
    attempts: int = 1
    span_offsets: dict[str, int] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def hop_overhead_s(self) -> float:
        c = self.counts["frontend"]
        return c["hop_s"] / c["calls"] if c["calls"] else 0.0


def _delta(after: dict, before: dict) -> dict[str, dict[str, float]]:
    return {s: {k: after[s]["counts"][k] - before[s]["counts"][k]
                for k in after[s]["counts"]} for s in SERVICES}


DELIVERED_TOLERANCE = 0.02  # slot time against draws, mean over a run


def system_problems(stats: dict[str, dict], counts: dict[str, dict[str, float]]
                    ) -> list[str]:
    """The services' own check over a window: no process waited for a CPU beyond the
    reference system's limit (the machine's other load), and each service's slots
    delivered its draws (mean slot time within 2% of the mean draw).

    The reference system also limits the event-loop lag p99 to 2 ms as a stand-in for
    "delivers its draws". Here that is checked directly; the lag is reported, not gated:
    the frontend's own handlers (uvicorn's pure-Python HTTP, the instrumented httpx
    call: ~4 ms of CPU per request in 1-2 ms pieces) keep its loop busy ~20% of the time
    at 50/s: its lag p99 was 1.9-3.4 ms on a quiet machine, 4-11 ms on a busy one."""
    problems = []
    for service in SERVICES:
        system = stats[service]["system"]
        wait = system.get("runqueue_wait_s_per_s")
        if wait is None:
            problems.append(f"{service}: too few probe samples in the window")
        elif wait > RUNQUEUE_WAIT_LIMIT:
            problems.append(f"{service} waited {wait:.2f} s/s for a CPU (limit "
                            f"{RUNQUEUE_WAIT_LIMIT:g}): the machine is loaded")
        c = counts[service]
        if c["drawn_s"] > 0 and abs(c["held_s"] / c["drawn_s"] - 1) > DELIVERED_TOLERANCE:
            problems.append(f"{service}: slots held {c['held_s'] / c['drawn_s'] - 1:+.1%} "
                            f"over the draws (limit {DELIVERED_TOLERANCE:.0%})")
    return problems


def measure(shop: Shop, rate: float, duration_s: float, out: Path, rho: float = 0.0,
            seed: int = 0, retries: int = 1) -> Run:
    """One open-loop run at ``rate``; run again (up to ``retries`` times) while INVALID."""
    for attempt in range(1, retries + 2):
        shop.flush()
        offsets = {s: p.stat().st_size if p.exists() else 0 for s, p in shop.span_files.items()}
        before = shop.stats()
        csv = out / f"rho{rho:g}-{attempt}.csv"
        samples: Samples = run_locust(shop.frontend_url, [(LoadSpec(
            "open", duration_s, rate=rate, path="/order", seed=seed + attempt), csv)])[0]
        after = shop.stats()
        since = min(m["started"] for m in samples.meta) + SKIP_S[0]
        until = max(m["stopped"] for m in samples.meta) - SKIP_S[1]
        check: RunCheck = check_open(samples, rate, since, until)
        system = shop.stats(since, until)
        inside = samples.window(since, until)
        ok = (inside.status >= 200) & (inside.status < 300)
        counts = _delta(after, before)
        problems = list(check.problems) + system_problems(system, counts)
        if not ok.all():
            problems.append(f"{int((~ok).sum())} requests failed")
        lat = latency(inside)
        run = Run(rho, rate, check.achieved_rate, (since, until), lat["client"], lat["server"],
                  float(np.mean(inside.done[ok] - inside.intended[ok] - inside.server_s[ok])),
                  counts, {s: system[s]["system"] for s in SERVICES},
                  problems, attempt, offsets)
        if run.valid:
            return run
    return run


def calibrate(shop: Shop, run: Run, out: Path, servers: dict[str, int] | None
              ) -> Calibration:
    """A model from the spans ``run`` (its last attempt) left in the span files, copied
    aside (later runs stay out)."""
    shop.flush()
    spans = out / "calibration-spans"
    spans.mkdir(parents=True, exist_ok=True)
    files = []
    for service, path in shop.span_files.items():
        copy = spans / path.name
        if not copy.exists():
            with open(path, "rb") as f:
                f.seek(run.span_offsets.get(service, 0))
                data = f.read()
            copy.write_bytes(data[:data.rfind(b"\n") + 1])  # whole lines
        files.append(copy)
    return from_traces(files, servers=servers)


@dataclass
class Comparison:
    rho: float
    measured_rate: float
    predicted_model: dict[str, float]
    predicted_client: dict[str, float]
    measured_client: dict[str, float]
    error: dict[str, float]
    valid: bool
    own_overhead_s: float = 0.0  # the run's own outer + p * hop (a diagnostic, not gated)
    error_own_overhead: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def compare(cal: Calibration, run: Run, overhead_s: float) -> Comparison:
    """The calibrated model at ``run``'s measured rate plus the overhead, against ``run``."""
    (cls,) = cal.model.spec.arrivals
    result = predict(with_rates(cal.model, {cls: run.achieved_rate}))
    if not result.stable:
        model = {"mean_s": float("inf"), "p95_s": float("inf")}
    else:
        model = {"mean_s": float(result.system.mean_response_time),
                 "p95_s": float(result.system.p95_response_time)}
    client = {k: v + overhead_s for k, v in model.items()}
    measured = {"mean_s": run.client["mean_s"], "p95_s": run.client["p95_s"]}
    error = {k: measured[k] / client[k] - 1 for k in client}
    own = run.outer_overhead_s + cal.estimate("nodes.frontend.next.backend").value \
        * run.hop_overhead_s
    return Comparison(run.rho, run.achieved_rate, model, client, measured, error, run.valid,
                      own_overhead_s=own, problems=run.problems, error_own_overhead={
                          k: measured[k] / (model[k] + own) - 1 for k in model})


def frontend_parts(span_dir: Path) -> dict[str, float]:
    """The frontend's exclusive span time in two parts, from its spans: *before the call*
    (SERVER start to CLIENT start, or to SERVER end without a call; the slot is held for
    it) and *after the call* (CLIENT end to SERVER end: reading the answer and
    responding, with no slot held), each as a mean per frontend visit, and the mean draw
    (attribute ``shop.drawn_s``)."""
    spans: dict[str, list[dict]] = {}
    for line in (span_dir / "frontend.jsonl").read_text(encoding="utf-8").splitlines():
        for resource in json.loads(line).get("resourceSpans", []):
            for scope in resource.get("scopeSpans", []):
                for span in scope.get("spans", []):
                    spans.setdefault(span["traceId"], []).append(span)
    before, after, drawn = [], [], []
    for trace in spans.values():
        server = [s for s in trace if s["kind"] in ("SPAN_KIND_SERVER", 2)]
        client = [s for s in trace if s["kind"] in ("SPAN_KIND_CLIENT", 3)]
        if len(server) != 1:
            continue
        start, end = int(server[0]["startTimeUnixNano"]), int(server[0]["endTimeUnixNano"])
        attributes = {a["key"]: a["value"] for a in server[0].get("attributes", [])}
        drawn.append(attributes["shop.drawn_s"]["doubleValue"])
        if client:
            before.append((int(client[0]["startTimeUnixNano"]) - start) / 1e9)
            after.append((end - int(client[0]["endTimeUnixNano"])) / 1e9)
        else:
            before.append((end - start) / 1e9)
            after.append(0.0)
    return {"visits": len(drawn), "before_call_mean_s": float(np.mean(before)),
            "after_call_mean_s": float(np.mean(after)), "drawn_mean_s": float(np.mean(drawn))}


def calibration_figures(config: ShopConfig, cal: Calibration, inferred: Calibration,
                        run: Run) -> dict[str, Any]:
    """Routing and service means: calibrated against drawn (the run's own draws, from the
    services' counters) and nominal; servers given against inferred."""
    c = run.counts
    route = cal.estimate("nodes.frontend.next.backend")
    (cls,) = cal.model.spec.arrivals
    out: dict[str, Any] = {
        "arrivals": {"class": cls, "rate": cal.estimate(f"arrivals.{cls}.rate").value,
                     "interarrival": cal.model.to_dict()["arrivals"][cls].get("interarrival")},
        "p_call": {"nominal": config.p_call,
                   "drawn": c["frontend"]["calls"] / c["frontend"]["requests"],
                   "calibrated": route.value, "ci95": [route.low, route.high],
                   "requests": c["frontend"]["requests"]}}
    for service in SERVICES:
        e = cal.estimate(f"nodes.{service}.service.mean")
        nominal = getattr(config, service)
        out[service] = {
            "nominal_mean_s": nominal.mean_s,
            "drawn_mean_s": c[service]["drawn_s"] / c[service]["requests"],
            "held_mean_s": c[service]["held_s"] / c[service]["requests"],
            "calibrated_mean_s": e.value, "ci95": [e.low, e.high],
            "fit": (e.fit or {}).get("dist"), "visits": c[service]["requests"],
            "servers": nominal.servers,
            "servers_inferred": inferred.model.spec.nodes[service].servers}
    return out


def check(config: ShopConfig, out: Path, rhos: list[float], calibration_rho: float = 0.5,
          calibration_s: float = 10.0, duration_s: float = 15.0, retries: int = 1
          ) -> dict[str, Any]:
    """The whole check; a JSON-able report (also written to ``out/report.json``)."""
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with launch(config, out / "shop") as shop:
        first = measure(shop, config.rate_for(calibration_rho), calibration_s, out / "calib",
                        calibration_rho, seed=100, retries=retries)
        cal = calibrate(shop, first, out, {"frontend": config.frontend.servers,
                                           "backend": config.backend.servers})
        inferred = calibrate(shop, first, out, None)
        overhead = first.outer_overhead_s + cal.estimate(
            "nodes.frontend.next.backend").value * first.hop_overhead_s
        runs = [measure(shop, config.rate_for(rho), duration_s, out / "runs", rho,
                        seed=200 + 10 * i, retries=retries) for i, rho in enumerate(rhos)]
    comparisons = [compare(cal, run, overhead) for run in runs]
    comparisons_inferred = [compare(inferred, run, overhead) for run in runs]
    report = {
        "config": asdict(config),
        "calibration_run": asdict(first),
        "calibration": calibration_figures(config, cal, inferred, first)
        | {"frontend_parts": frontend_parts(out / "calibration-spans")},
        "overhead": {"outer_mean_s": first.outer_overhead_s,
                     "hop_mean_s": first.hop_overhead_s, "added_s": overhead},
        "runs": [asdict(r) for r in runs],
        "comparisons": [asdict(c) for c in comparisons],
        "comparisons_inferred_servers": [asdict(c) for c in comparisons_inferred],
        "wall_s": time.monotonic() - started}
    (out / "report.json").write_text(json.dumps(report, indent=2, default=float))
    shutil.copy(out / "report.json", out / "report.last.json")
    return report


def summary(report: dict[str, Any]) -> str:
    cal = report["calibration"]
    a = cal.get("arrivals", {})
    lines = [f"arrivals {a.get('class')}: {a.get('rate', 0):.2f}/s, interarrival "
             f"{a.get('interarrival') or 'Poisson-like'}"]
    lines += [f"routing frontend->backend: calibrated {cal['p_call']['calibrated']:.4f} "
             f"(drawn {cal['p_call']['drawn']:.4f}, nominal {cal['p_call']['nominal']:g}, "
             f"{cal['p_call']['requests']} requests)"]
    for s in SERVICES:
        c = cal[s]
        lines.append(f"{s}: service mean calibrated {c['calibrated_mean_s'] * 1e3:.3f} ms, "
                     f"drawn {c['drawn_mean_s'] * 1e3:.3f} ms "
                     f"({c['calibrated_mean_s'] / c['drawn_mean_s'] - 1:+.1%}), held "
                     f"{c['held_mean_s'] * 1e3:.3f} ms, nominal {c['nominal_mean_s'] * 1e3:g} "
                     f"ms; fit {c['fit']}; servers {c['servers']} (inferred "
                     f"{c['servers_inferred']})")
    f = cal["frontend_parts"]
    lines.append(f"frontend exclusive time per visit: before the call "
                 f"{f['before_call_mean_s'] * 1e3:.3f} ms (drawn {f['drawn_mean_s'] * 1e3:.3f}"
                 f" ms, {f['before_call_mean_s'] / f['drawn_mean_s'] - 1:+.1%}), after the "
                 f"call {f['after_call_mean_s'] * 1e3:.3f} ms (no slot held)")
    o = report["overhead"]
    lines.append(f"overhead: client-side outer {o['outer_mean_s'] * 1e3:.2f} ms, hop "
                 f"{o['hop_mean_s'] * 1e3:.2f} ms per call; added {o['added_s'] * 1e3:.2f} ms")
    for key, title in (("comparisons", "servers given"),
                       ("comparisons_inferred_servers", "servers inferred")):
        for c in report[key]:
            m, p, e = c["measured_client"], c["predicted_client"], c["error"]
            lines.append(
                f"[{title}] rho {c['rho']:g} at {c['measured_rate']:.1f}/s "
                f"({'valid' if c['valid'] else 'INVALID: ' + '; '.join(c['problems'])}): "
                f"mean measured {m['mean_s'] * 1e3:.2f} ms, predicted "
                f"{p['mean_s'] * 1e3:.2f} ms ({e['mean_s']:+.1%}); p95 measured "
                f"{m['p95_s'] * 1e3:.2f} ms, predicted {p['p95_s'] * 1e3:.2f} ms "
                f"({e['p95_s']:+.1%}); with the run's own overhead "
                f"{c['own_overhead_s'] * 1e3:.2f} ms: {c['error_own_overhead']['mean_s']:+.1%}"
                f" / {c['error_own_overhead']['p95_s']:+.1%}")
    for r in [report["calibration_run"], *report["runs"]]:
        lines.append(f"run rho {r['rho']:g} (attempt {r['attempts']}): " + "; ".join(
            f"{s} loop lag p99 {r['system'][s].get('loop_lag_p99_s', float('nan')) * 1e3:.1f}"
            f" ms, CPU wait {r['system'][s].get('runqueue_wait_s_per_s', float('nan')):.2f}"
            f" s/s, {r['system'][s].get('cpu_cores', float('nan')):.2f} cores"
            for s in SERVICES))
    lines.append(f"wall {report['wall_s']:.1f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rho", type=float, action="append",
                        help="a measured level (repeatable; default 0.5)")
    parser.add_argument("--calibration-rho", type=float, default=0.5)
    parser.add_argument("--calibration-s", type=float, default=10.0)
    parser.add_argument("--duration-s", type=float, default=15.0)
    parser.add_argument("--retries", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("shop-check"))
    args = parser.parse_args(argv)
    report = check(ShopConfig(), args.out, args.rho or [0.5], args.calibration_rho,
                   args.calibration_s, args.duration_s, args.retries)
    print(summary(report))


if __name__ == "__main__":
    main()
