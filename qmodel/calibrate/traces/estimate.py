"""From jobs and visits to a model: every estimate with its 95% interval and its method.

==============  =============================================================================
arrival rate    root spans of the class / observed window (first to last root start, plus
                one mean gap); Garwood's exact Poisson interval, or the normal interval
                with the renewal variance n·cv² when the arrivals are not Poisson-like
inter-arrival   cv of the gaps between the class's root starts, 95% percentile bootstrap
                (400 resamples); Poisson-like (no ``interarrival`` written) when that
                interval holds 1 or the cv is within 0.1 of it
routing         P(a -> b) = moves a -> b / visits to a over complete jobs, a job's visits
                taken in order of their start; Wilson score interval
visit ratios    mean visits of each component per job of the class, Student-t interval
service         exclusive (self) span time; mean with a Student-t interval; the
                distribution chosen by :func:`qmodel.calibrate.fit.choose`
servers         ``--servers`` when given; else the most visits of the component ever working
                at once (overlap of exclusive intervals): a job in service holds a server,
                so this never exceeds the real pool (the max, not a percentile, since any
                level observed is a lower bound); raised to stay below utilization 1
==============  =============================================================================
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any

import numpy as np
from scipy import stats

from ...errors import ModelError, Problem
from ...model.model import Model
from .. import fit
from ..result import Calibration, Estimate, section, with_unit
from .graph import Graph, concurrency, routes

POISSON_CV_BAND = 0.1
BOOTSTRAP = 400
ROUTE_SPLIT = 0.05  # classes routed apart when their probabilities differ by more

ASSUMPTIONS = [
    "FCFS at every component: spans do not show the order requests were served in",
    "synchronous calls (CLIENT -> SERVER) hold the caller's thread, which qmodel does not "
    "model: the callee is the caller's next station, and the caller's servers are busy "
    "only for its exclusive time",
    "a job visits components one after another in the order their spans start: parallel "
    "calls become serial visits (visit counts and loads are kept; a parallel fan-out's "
    "response time is overestimated)",
    "the client's own time (a CLIENT span minus its callee's span: network, "
    "serialisation) and the wait before a SERVER span starts (accept queues) are in no "
    "component; the model's queues stand for the waiting",
    "service times are independent and identically distributed per component, the same "
    "for every class",
    "arrivals per class are a renewal process (the root spans' starts), stationary over "
    "the observed window",
    "asynchronous hand-offs (PRODUCER -> CONSUMER) pass through a queue: the consumer is "
    "a station and the gap between producer and consumer is its wait",
]


def calibrate(graph: Graph, source: str, servers: dict[str, int] | None = None,
              empirical: bool = False, name: str = "calibrated") -> Calibration:
    """The calibrated model of the jobs in ``graph``; see the module docstring."""
    seen = list(dict.fromkeys(v.component for v in graph.visits))
    unknown = sorted(set(servers or {}) - set(seen))
    if unknown:
        raise ModelError([Problem("--servers", f"no component {', '.join(map(repr, unknown))}"
                                               f"; components: {', '.join(seen)}")])
    warnings = list(graph.notes)
    assumptions = list(ASSUMPTIONS)
    jobs = graph.jobs
    if len(jobs) < 2:
        raise ModelError([Problem("traces", f"{len(jobs)} trace(s) with a root span: at "
                                            "least 2 are needed to estimate arrival rates")])
    starts = np.sort([j.root.start for j in jobs])
    window = float(starts[-1] - starts[0]) * len(starts) / (len(starts) - 1)
    if window <= 0:
        raise ModelError([Problem("traces", "every root span starts at the same instant: "
                                            "no window to estimate arrival rates over")])
    estimates: list[Estimate] = []
    comments: dict[str, str] = {}
    visits_by = defaultdict(list)
    for v in graph.visits:
        visits_by[v.component].append(v)
    counts, moves = routes(jobs)

    # -- classes ----------------------------------------------------------------------
    arrivals: dict[str, Any] = {}
    classes_data: dict[str, Any] = {}
    by_class = defaultdict(list)
    for j in jobs:
        by_class[j.cls].append(j)
    for cls, members in sorted(by_class.items(), key=lambda kv: -len(kv[1])):
        n = len(members)
        rate = n / window
        t = np.sort([j.root.start for j in members])
        gaps = np.diff(t)
        cv, cv_lo, cv_hi = _cv_interval(gaps)
        poisson = cv is None or cv_lo <= 1 <= cv_hi or abs(cv - 1) <= POISSON_CV_BAND
        if poisson:
            lo, hi = stats.chi2.ppf(0.025, 2 * n) / 2 / window, \
                stats.chi2.ppf(0.975, 2 * n + 2) / 2 / window
            how = "root spans / window; Garwood Poisson interval"
        else:
            half = 1.96 * math.sqrt(n * cv**2) / window
            lo, hi = max(rate - half, 0.0), rate + half
            how = "root spans / window; normal interval with renewal variance n·cv²"
        entry = Counter(j.visits[0].component for j in members)
        to: Any = entry.most_common(1)[0][0] if len(entry) == 1 else _probs(entry)
        arrivals[cls] = {"to": to, "rate": with_unit(rate, "1/s")}
        estimates.append(Estimate(f"arrivals.{cls}.rate", cls, "arrival rate", rate, "1/s",
                                  float(lo), float(hi), how, n))
        comments[f"arrivals.{cls}"] = f"root operation {graph.classes[cls]}"
        comments[f"arrivals.{cls}.rate"] = (f"{n:,} root spans in {window:.4g} s; 95% "
                                            f"{with_unit(lo, '1/s')}..{with_unit(hi, '1/s')}")
        if not poisson:
            arrivals[cls]["interarrival"] = {"cv": float(f"{cv:.4g}")}
            estimates.append(Estimate(f"arrivals.{cls}.interarrival.cv", cls,
                                      "inter-arrival cv", cv, "", cv_lo, cv_hi,
                                      "cv of root-span gaps; bootstrap interval", n - 1))
            comments[f"arrivals.{cls}.interarrival"] = (
                f"not Poisson-like: gap cv {cv:.3g}, 95% {cv_lo:.3g}..{cv_hi:.3g} excludes 1")
        complete = [j for j in members if j.complete]
        ratios = {}
        for comp in sorted({v.component for j in complete for v in j.visits}):
            per = np.array([sum(v.component == comp for v in j.visits) for j in complete], float)
            lo_v, hi_v = fit.mean_interval(per)
            ratios[comp] = {"mean": float(per.mean()), "low": lo_v, "high": hi_v}
        classes_data[cls] = {"root": graph.classes[cls], "jobs": n, "complete_jobs":
                             len(complete), "rate_per_s": rate, "interarrival_cv": cv,
                             "interarrival_cv_low": cv_lo, "interarrival_cv_high": cv_hi,
                             "poisson_like": poisson, "visits": ratios}
        if not complete:
            warnings.append(f"class {cls}: no complete trace, so no routes: its jobs leave "
                            "after their entry component")

    # -- routing ------------------------------------------------------------------------
    pooled_visits: Counter = Counter()
    pooled_moves: Counter = Counter()
    for cls in counts:
        pooled_visits.update(counts[cls])
        pooled_moves.update(moves[cls])
    nodes: dict[str, dict[str, Any]] = {}
    edges = []
    for comp in visits_by:
        row = _row(comp, pooled_visits, pooled_moves)
        classes_here = [c for c in counts if counts[c][comp]]
        rows = {c: _row(comp, counts[c], moves[c]) for c in classes_here}
        split = len(classes_here) > 1 and any(
            abs(r.get(b, 0) - row.get(b, 0)) > ROUTE_SPLIT for r in rows.values()
            for b in set(r) | set(row))
        node: dict[str, Any] = {"kind": "queue"}
        nodes[comp] = node
        if comp != graph.labels[comp]:
            node["label"] = graph.labels[comp]
        if split:
            node["class_next"] = {}
            for c, r in rows.items():
                if r:
                    node["class_next"][c] = _written(r)
                    estimates += _route_estimates(f"nodes.{comp}.class_next.{c}", comp, r,
                                                  counts[c][comp], moves[c])
            comments[f"nodes.{comp}.class_next"] = "routes differ by class (moves / visits)"
        elif row:
            node["next"] = _written(row)
            estimates += _route_estimates(f"nodes.{comp}.next", comp, row,
                                          pooled_visits[comp], pooled_moves)
            comments[f"nodes.{comp}.next"] = (f"moves / visits over "
                                              f"{pooled_visits[comp]:,} visits")
        for (a, b), k in pooled_moves.items():
            if a == comp and b is not None:
                edges.append({"from": a, "to": b, "p": k / pooled_visits[a],
                              "async": _is_async(visits_by[b])})

    reachable = _reachable(arrivals, nodes)
    for comp in [c for c in nodes if c not in reachable]:
        warnings.append(f"component {comp} ({len(visits_by[comp])} visits) is reached by no "
                        "complete trace from an entry: left out of the model")
        del nodes[comp]

    # -- service and servers -----------------------------------------------------------
    components: dict[str, Any] = {}
    for comp in list(nodes):
        vs = visits_by[comp]
        x = np.array([v.exclusive for v in vs])
        chosen = fit.choose(x, empirical)
        mean = float(x.mean())
        lo, hi = fit.mean_interval(x)
        node = nodes[comp]
        node["service"] = fit.spec(chosen, mean, x)
        method = f"exclusive span time, mean with t interval; {chosen['dist']}: {chosen['reason']}"
        estimates.append(Estimate(f"nodes.{comp}.service.mean", comp, "mean service time",
                                  mean, "s", max(lo, 0.0), hi, method, len(x),
                                  _fit_summary(chosen)))
        if chosen["dist"] in ("gamma", "lognormal", "hyperexponential"):
            estimates.append(Estimate(f"nodes.{comp}.service.cv", comp, "service time cv",
                                      chosen["cv"], "", None, None,
                                      f"{chosen['dist']} by maximum likelihood", len(x)))
        comments[f"nodes.{comp}.service"] = (
            f"exclusive span time, n={len(x):,}, 95% {with_unit(max(lo, 0), 's')}.."
            f"{with_unit(hi, 's')}; {chosen['dist']} ({_short(chosen)})")
        busy_max, busy_mean = concurrency([b for v in vs for b in v.busy])
        held_max, held_mean = concurrency([(v.entry.start, v.entry.end) for v in vs])
        rate = len(vs) / window
        if servers and comp in servers:
            c = servers[comp]
            comments[f"nodes.{comp}.servers"] = "given by --servers"
            assumptions.append(f"servers of {comp}: {c}, given")
        else:
            c = max(busy_max, 1)
            note = f"the most visits working at once ({busy_max})"
            if c <= rate * mean:
                c = int(math.floor(rate * mean)) + 1
                warnings.append(f"{comp}: at most {busy_max} visits were seen working at once, "
                                f"but its load is {rate * mean:.3g} servers: {c} servers "
                                "keep it below utilization 1")
                note += f", raised to {c} for a utilization below 1"
            comments[f"nodes.{comp}.servers"] = note
            estimates.append(Estimate(f"nodes.{comp}.servers", comp, "servers", float(c), "",
                                      float(min(busy_max, c)), None,
                                      "max overlap of exclusive intervals (a lower bound)",
                                      len(vs)))
            assumptions.append(f"servers of {comp} from concurrency: {c}, the most visits ever "
                               "seen working at once; a lower bound of the real pool, exact "
                               "only when it was saturated at some moment")
        node["servers"] = int(c)
        gaps = [v.entry.start - v.after.end for v in vs if v.after is not None]
        components[comp] = {
            "label": graph.labels[comp], "visits": len(vs), "visit_rate_per_s": rate,
            "mean_s": mean, "low_s": lo, "high_s": hi,
            "inclusive_mean_s": float(np.mean([v.entry.duration for v in vs])),
            "servers": int(c), "servers_given": bool(servers and comp in servers),
            "max_working": busy_max, "mean_working": busy_mean, "max_held": held_max,
            "mean_held": held_mean, "utilization": rate * mean / c,
            "async_wait_mean_s": float(np.mean(gaps)) if gaps else None,
            "fit": _fit_summary(chosen), "histogram": _histogram(x)}
    order = list(dict.fromkeys(v.component for j in jobs for v in j.visits if v.component in nodes))
    nodes = {comp: nodes[comp] for comp in order + sorted(set(nodes) - set(order))}
    for comp, spec_node in nodes.items():  # order the fields as a person writes them
        nodes[comp] = {k: spec_node[k] for k in ("kind", "label", "servers", "service", "next",
                                                 "class_next") if k in spec_node}
    for a in arrivals.values():
        if isinstance(a["to"], str) and a["to"] not in nodes or \
                isinstance(a["to"], dict) and not set(a["to"]) <= set(nodes):
            raise ModelError([Problem("traces", "an entry component was left out; no model")])

    kept = [e for e in estimates if e.component in nodes or e.path.startswith("arrivals.")]
    doc = {"name": name, "description": f"Calibrated from {source}.", "time_unit": "ms",
           "arrivals": arrivals, "nodes": nodes,
           "calibration": section(kept, source, assumptions)}
    model = Model.from_dict(doc)
    counts_data = dict(graph.counts)
    data = {**counts_data, "window_s": window, "classes": classes_data,
            "components": components, "edges": edges, "skew": graph.skew,
            "comments": comments,
            "header": [f"Written by {source}.",
                       f"{counts_data['traces']:,} traces, {counts_data['spans']:,} spans, "
                       f"{counts_data['jobs']:,} jobs ({counts_data['complete_jobs']:,} "
                       f"complete) over {window:.4g} s.",
                       "Estimated fields say how beside them; the calibration: section below "
                       "holds each estimate's 95% interval and the assumptions."]}
    return Calibration(model, kept, source, assumptions, warnings, data)


def _row(comp: str, visits: Counter, moves: Counter) -> dict[str, float]:
    n = visits[comp]
    return {b: k / n for (a, b), k in moves.items() if a == comp and b is not None and n}


def _written(row: dict[str, float]) -> dict[str, float]:
    out = {b: float(f"{p:.6g}") for b, p in sorted(row.items(), key=lambda kv: -kv[1])}
    total = sum(out.values())
    if total > 1:
        out = {b: p / total for b, p in out.items()}
    return out


def _route_estimates(base: str, comp: str, row: dict[str, float], n: int, moves: Counter
                     ) -> list[Estimate]:
    out = []
    for b, p in row.items():
        lo, hi = _wilson(p, n)
        out.append(Estimate(f"{base}.{b}", comp, f"P({comp} -> {b})", p, "", lo, hi,
                            "moves / visits over complete traces; Wilson interval", n))
    return out


def _wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion.

    >>> [round(v, 3) for v in _wilson(0.8, 100)]
    [0.711, 0.867]
    """
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(centre - half, 0.0), min(centre + half, 1.0)


def _probs(counter: Counter) -> dict[str, float]:
    total = sum(counter.values())
    names = [k for k, _ in counter.most_common()]
    out = {k: float(f"{counter[k] / total:.6g}") for k in names[:-1]}
    out[names[-1]] = 1.0 - sum(out.values())
    return out


def _cv_interval(gaps: np.ndarray, seed: int = 0
                 ) -> tuple[float | None, float | None, float | None]:
    if len(gaps) < 3 or gaps.mean() <= 0:
        return None, None, None  # too few gaps to judge: taken as Poisson
    cv = float(gaps.std(ddof=1) / gaps.mean())
    rng = np.random.default_rng(seed)
    take = gaps if len(gaps) <= 5000 else rng.choice(gaps, 5000, replace=False)
    idx = rng.integers(0, len(take), size=(BOOTSTRAP, len(take)))
    sample = take[idx]
    cvs = sample.std(axis=1, ddof=1) / sample.mean(axis=1)
    lo, hi = np.percentile(cvs, [2.5, 97.5])
    return cv, float(lo), float(hi)


def _is_async(visits: list) -> bool:
    return bool(visits) and all(v.after is not None for v in visits[:50])


def _reachable(arrivals: dict[str, Any], nodes: dict[str, Any]) -> set[str]:
    frontier = []
    for a in arrivals.values():
        frontier += [a["to"]] if isinstance(a["to"], str) else list(a["to"])
    seen: set[str] = set()
    while frontier:
        n = frontier.pop()
        if n in seen or n not in nodes:
            continue
        seen.add(n)
        node = nodes[n]
        frontier += list(node.get("next", {}))
        for r in node.get("class_next", {}).values():
            frontier += list(r)
    return seen


def _fit_summary(chosen: dict[str, Any]) -> dict[str, Any]:
    def clean(f: dict[str, Any]) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in f.items() if k != "candidates"}
    return {**clean(chosen), "candidates": [clean(c) for c in chosen.get("candidates", [])]}


def _short(chosen: dict[str, Any]) -> str:
    if chosen["distance"] is None:
        return chosen["reason"]
    return f"KS D={chosen['distance']:.3g}, cv {chosen['cv']:.3g}"


def _histogram(x: np.ndarray, bins: int = 40) -> dict[str, list[float]]:
    top = float(np.percentile(x, 99.5)) if len(x) else 0.0
    if top <= 0:
        top = float(x.max()) if len(x) and x.max() > 0 else 1e-3
    counts, edges = np.histogram(x[x <= top], bins=bins, range=(0, top))
    return {"edges_s": [float(e) for e in edges], "counts": [int(c) for c in counts],
            "above": int((x > top).sum())}  # the top 0.5% are left out of the picture
