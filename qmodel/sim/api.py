"""``simulate``: run independent replications of a model and summarise them."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ModelError, Problem, UnsupportedError
from ..methods import SIMULATE, unknown
from ..model.model import Model
from ..model.network import BEHAVIOURS, Network
from ..model.sizing import sizing_notes
from ..runner import EXECUTORS, Reporter
from ..units import parse_duration
from . import fast_scope
from .behaviours import PILOT_CUSTOMERS, amplification, check_simulable, resolve_hedges
from .budget import check_request_size, check_run_size, default_budget, stopped_note
from .distributed import ReplicationTask, make_runner, run_replications
from .failures import check_failures
from .precision import MIN_REPLICATIONS, Precision, parse_precision
from .resolution import check_resolution
from .streams import replication_seeds
from .summary import SimResult, longest_period, offered_loads, summarize
from .trace import TraceRecorder, write_trace

if TYPE_CHECKING:
    from .timeseries import TimeSeries

SIMULATED_BEHAVIOURS: frozenset[str] = frozenset(BEHAVIOURS)
"""The client and held-thread behaviours (``Network.behaviours``) the engine models."""
DEFAULT_CUSTOMERS = 50_000
MIN_PERIODS = 20
UNSTABLE_ARRIVALS = 100_000
"""An unstable open model is simulated until about this many jobs have arrived."""
DEFAULT_REPLICATIONS = 10
PRECISION_REPLICATIONS = 100
"""With ``precision``, the most replications run unless ``replications`` says otherwise."""
INTERRUPTED = "interrupted: partial results"
"""The note of a run stopped by Ctrl-C (one stopped by its event budget says so)."""


def simulate(model: Model | Network, *, replications: int | None = None,
             seed: int | None = None,
             horizon: float | str | None = None, warmup: float | str | None = None,
             customers: int | None = None, trace: bool | str | Path | None = None,
             progress: bool | Callable[[float], None] | None = None,
             method: str = "auto", executor: str | None = None, scheduler: Any = None,
             workers: int | None = None, bins: float | str | None = None,
             precision: float | str | None = None,
             max_events: int | None = None,
             on_replication: Callable[[SimResult], None] | None = None
             ) -> SimResult | TimeSeries:
    """Simulate ``model`` and return its metrics with 95% confidence intervals.

    Each of ``replications`` independent runs (streams from
    ``numpy.random.SeedSequence(seed).spawn(replications)``; same seed, same numbers)
    stops after ``customers`` jobs have completed or at ``horizon`` (seconds, or a string
    such as ``"1h"``), whichever comes first. Default (neither given): 50,000 completed
    jobs per replication (CI half-widths of a few percent on typical models, in bounded
    time), and at least 20 periods of the model's slowest timer (batch interval, MLFQ
    boost, rebalance). Every mean is the mean over replications with a Student-t 95%
    interval (none with a single replication); percentiles come from a bounded, evenly
    spread sample of each replication (at most 65,536 values per station), so memory does
    not grow with the number of customers unless a trace is asked for.

    Batches (``batches`` in the model) are a transient: a model whose classes are all
    batches runs until the last batch job has left (or ``customers``/``horizon``, if
    given and sooner), with no warm-up cut (statistics from the first batch's arrival).
    ``result.system.makespan`` is the time from the first batch's arrival until the last
    batch job left, ``system.completed`` the batch jobs completed, and
    ``result.per_replication`` lists each replication's makespan, mean turnaround and
    completed count. With open or closed classes too, the run stops as without batches.

    Warm-up: observations before ``warmup`` (seconds or ``"5min"``) are deleted. By
    default each replication deletes the MSER-5 truncation point of its series of
    end-to-end response times (White 1997): the cut that minimises the standard error of
    the mean of what remains, searched over the first half of the run. It needs no
    tuning, adapts to each model's own transient, and was the most robust automatic
    method in the comparison by Hoad, Robinson & Davies (2010).

    ``method``: ``"fast"`` (numba; open networks of FCFS queues and delays with infinite
    capacity and probabilistic routing), ``"simpy"`` (every feature), ``"auto"`` (fast when
    it fits). ``trace``: True for a per-visit DataFrame on the result, or a ``.csv`` /
    ``.parquet`` path. ``progress``: True/False/None (a bar for runs over a second) or a
    callable receiving the fraction done. Ctrl-C returns what completed, marked partial.
    A model whose offered load reaches 1 somewhere, or whose queues grow steadily, is
    reported unstable (``result.unstable``) and gets no means. A run whose clock grows so
    large that doubles no longer resolve its service times raises a :class:`ModelError`
    (a coarser but usable resolution is reported in the notes: :mod:`.resolution`).

    Stop at precision: with ``precision`` (``"5%"`` or 0.05) replications are added one
    at a time until every mean's 95% half-width is within that share of the mean (the
    system's, each class's and each station's means; :mod:`.precision`), from 3 up to
    ``replications`` (default 100). The result's ``convergence`` lists the widest
    half-width after each replication, and a note says whether the precision was reached.
    The answer equals a fixed run of as many replications with the same seed.

    The event budget (:mod:`.budget`): a replication that has processed ``max_events``
    events stops; the replications that finished and the stopped one are summarised,
    marked partial, with a note naming the cause (the next ones are not run: they would
    stop too). Default: 20 times the events the asked-for run should take (about
    ``1 + 2 x visits`` per request), from 1,000,000 to 100,000,000, so that a run that
    cannot finish (requests that never end, a retry storm) answers in bounded time. A model
    one of whose requests may set off more than 1,000,000 visits at worst (every retry,
    hedged copy and call) is refused up front (:class:`ModelError` naming the class).

    ``executor``: None (default) runs the replications one after the other in this
    process; ``"serial"``, ``"local"`` (a process pool of ``workers`` processes, default
    one per CPU) or ``"dask"`` (``scheduler``: an address such as ``"tcp://host:8786"``, a
    ``distributed.Client``, or None for a ``LocalCluster`` of ``workers`` processes) run
    each replication as a task and summarise the records here. The streams are the same,
    so the result is identical to the in-process run for the same seed. Traces need
    ``executor=None``; progress then counts finished replications, and Ctrl-C keeps the
    replications that finished (marked partial).

    ``on_replication`` (with ``executor=None``, without ``bins``) is called after each
    replication with the summary of those done so far (a :class:`SimResult` without the
    final notes): the means and intervals as they converge, e.g. for a live chart.

    Over time: with ``bins`` (seconds, or ``"1s"``) each replication runs from an empty
    system to ``horizon`` (default: the length of the model's rate profiles,
    docs/model-format.md) and the result is a :class:`~.timeseries.TimeSeries`: arrivals,
    throughput, number in system and mean/p95/p99 response time per bin with 95% bands,
    the peak queue and the recovery after a spike (docs/time-varying.md); ``warmup``,
    ``customers``, ``trace``, ``method`` and ``executor`` do not apply, and a callable
    ``progress`` counts finished replications. Without ``bins``, a
    model with a rate profile runs for the profile's length with no warm-up cut (means
    over the whole profile).

    >>> m = Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "0.5s"}},
    ...                      "arrivals": {"web": {"to": "app", "rate": "1/s"}}})
    >>> r = simulate(m, replications=3, customers=2000, seed=1)
    >>> r.method, r.replications, 0.6 < r.system.mean_response_time < 1.5
    ('simulation', 3, True)
    >>> p = simulate(m, precision="20%", customers=2000, seed=1)
    >>> p.replications == p.convergence[-1]["replications"], p.convergence[-1]["worst"] <= 0.2
    (True, True)
    """
    network = model.network if isinstance(model, Model) else model
    if not isinstance(network, Network):
        raise TypeError(f"simulate: expected a Model or a Network, got {type(model).__name__}")
    rule = Precision(parse_precision(precision)) if precision is not None else None
    if replications is None:
        replications = PRECISION_REPLICATIONS if rule else DEFAULT_REPLICATIONS
    if isinstance(replications, bool) or not isinstance(replications, int) or replications < 1:
        raise _option(f"replications must be a positive integer, got {replications!r}")
    if rule is not None and replications < MIN_REPLICATIONS:
        raise _option(f"replications: with precision, the most replications allowed; at "
                      f"least {MIN_REPLICATIONS}, got {replications}")
    if on_replication is not None and (not callable(on_replication) or bins is not None
                                       or executor is not None):
        raise _option("on_replication: a callable, called in this process after each "
                      "replication; not with bins or an executor")
    if rule is not None and (bins is not None or executor is not None):
        raise _option(f"precision: replications run one after the other in this process "
                      f"to decide when to stop; not with {'bins' if bins else 'executor'}")
    horizon_s = _duration("horizon", horizon)
    warmup_s = _duration("warmup", warmup, allow_zero=True)
    if horizon_s is not None and warmup_s is not None and warmup_s >= horizon_s:
        raise _option(f"warmup ({warmup}) must be shorter than the horizon ({horizon})")
    if customers is not None and (isinstance(customers, bool) or not isinstance(customers, int)
                                  or customers < 1):
        raise _option(f"customers must be a positive integer, got {customers!r}")
    if max_events is not None and (isinstance(max_events, bool) or
                                   not isinstance(max_events, int) or max_events < 1):
        raise _option(f"max_events must be a positive integer, got {max_events!r}")
    unmodelled = network.behaviours - SIMULATED_BEHAVIOURS
    if unmodelled:
        raise UnsupportedError("simulation", f"the simulator does not model "
                               f"{', '.join(sorted(unmodelled))} yet")
    hedge_notes: list[str] = []
    if network.behaviours:
        check_simulable(network)
        check_request_size(network)
        network, hedge_notes = resolve_hedges(network, lambda net: simulate(
            net, replications=1, customers=PILOT_CUSTOMERS, seed=seed, progress=False))
    if bins is not None:
        series = _over_time(network, bins, horizon_s, replications, seed,
                            progress if callable(progress) else None, warmup=warmup,
                            customers=customers, trace=trace, method=method,
                            executor=executor, max_events=max_events)
        series.notes += hedge_notes
        return series
    if method not in SIMULATE:
        raise _option(unknown(method, SIMULATE))
    if executor is not None and executor not in EXECUTORS:
        raise _option(f"executor must be None or one of {', '.join(EXECUTORS)}, "
                         f"got {executor!r}")
    if executor is not None and trace:
        raise _option("trace: traces are recorded in this process; use executor=None")
    min_time = 0.0
    batch_only = len(network.batch_classes) == len(network.classes)
    warm_text = f"{warmup_s:g} s" if warmup_s is not None else "MSER-5"
    if batch_only and warmup_s is None:  # a transient: measured from the first batch on
        warmup_s = min(c.at for c in network.batch_classes)
        warm_text = "none (batches: measured from the first batch's arrival)"
    if network.profiles and horizon_s is None and customers is None:
        horizon_s = max(p.length for p in network.profiles.values())
        warmup_s = 0.0 if warmup_s is None else warmup_s
        warm_text = f"{warmup_s:g} s (a rate profile: the run is its {horizon_s:g} s)"
    if horizon_s is None and customers is None and not batch_only:
        customers = DEFAULT_CUSTOMERS
        min_time = MIN_PERIODS * longest_period(network)
    offered = offered_loads(network)
    if network.open_classes and max(offered.values(), default=0.0) >= 1:
        # Unstable: jobs pile up without bound. Stop once about UNSTABLE_ARRIVALS jobs
        # have arrived, which is enough to report the instability, not to run out of memory.
        # Attempts count: a request may be sent (1 + retries) × (1 + hedged copies) times.
        rate = sum(c.rate for c in network.open_classes) * amplification(network)
        enough = UNSTABLE_ARRIVALS / rate
        horizon_s = enough if horizon_s is None else min(horizon_s, enough)
        min_time = min(min_time, horizon_s)
        if warmup_s is not None and warmup_s >= horizon_s:
            warmup_s = None
    check_failures(network)
    if trace not in (None, False, True) and Path(trace).suffix.lower() not in (".csv", ".parquet"):
        raise _option(f"trace: file name must end in .csv or .parquet, got {str(trace)!r}")
    reason = "traces need the simpy engine" if trace else fast_scope.unsupported(network)
    if method == "fast" and reason:
        raise UnsupportedError("simulation (fast path)", reason)
    use_fast = method == "fast" or (method == "auto" and reason is None)

    if max_events is None:
        check_run_size(network, customers, horizon_s, min_time)
    budget = max_events if max_events is not None else \
        default_budget(network, customers, horizon_s, min_time)
    root, seqs = replication_seeds(seed, replications)
    tasks = [ReplicationTask(network, seq, use_fast, customers, horizon_s, warmup_s, min_time,
                             budget) for seq in seqs]
    recorder = TraceRecorder([c.name for c in network.classes]) if trace else None
    if executor is not None:
        reps, partial = run_replications(tasks, executor=executor, scheduler=scheduler,
                                         workers=workers, progress=progress,
                                         label=f"simulating {network.name}")
        if not reps:
            raise KeyboardInterrupt  # stopped before any replication finished
    else:
        def after(done: list) -> bool:  # the summary so far: to the hook, to the rule
            summary = summarize(network, done, seed=root, offered=offered, notes=[],
                                partial=False)
            if on_replication is not None:
                on_replication(summary)
            return rule is not None and rule.reached(summary, len(done))

        watched = rule is not None or on_replication is not None
        reps, partial = _run_here(tasks, recorder, progress, network.name,
                                  after if watched else None)
    out_of_events = any(r.out_of_events for r in reps)
    # the replication's own note (too many jobs at once), else the event budget's
    why = next((n for r in reps for n in r.notes), None) or stopped_note(network, budget)
    if reps[0].final[0] <= 0:  # stopped before anything was simulated
        if out_of_events:
            raise UnsupportedError("simulation", why)
        raise KeyboardInterrupt

    notes = [f"{len(reps)} replication(s) with the {'fast (numba)' if use_fast else 'simpy'} "
             f"engine; warm-up: {warm_text}"] + hedge_notes + sizing_notes(network)
    coarse = check_resolution(network, max(float(r.final[0]) for r in reps))
    if coarse:
        notes.append(coarse)
    early = sum(1 for r in reps if warmup_s is not None and r.warm is None)
    if early:
        notes.append(f"{early} replication(s) ended before the warm-up ({warmup_s:g} s): "
                     f"MSER-5 truncation used for them instead")
    if rule is not None:
        notes.append(rule.note(replications))
    if out_of_events:
        notes.append(why)
    elif partial:
        notes.append(INTERRUPTED)
    result = summarize(network, reps, seed=root, offered=offered, notes=notes,
                       partial=partial or out_of_events)
    if rule is not None:
        result.convergence = [vars(step) for step in rule.history]
    if recorder is not None:
        frame = recorder.frame()
        if trace is True:
            result.trace = frame
        else:
            write_trace(frame, trace)
            result.notes.append(f"trace written to {trace}")
    return result


def _run_here(tasks: list[ReplicationTask], recorder: TraceRecorder | None,
              progress: bool | Callable[[float], None] | None, name: str,
              stop: Callable[[list], bool] | None = None) -> tuple[list, bool]:
    """Run the replications one after the other in this process, until ``stop`` (called
    with the replications so far after each one) says enough; on Ctrl-C keep those that
    finished (or the interrupted first one, marked partial); after one stopped by its
    event budget, run no more."""
    reporter = Reporter(progress, len(tasks), f"simulating {name}")
    reps, partial = [], False
    try:
        for r, task in enumerate(tasks):
            if recorder is not None and not task.use_fast:
                recorder.replication = r
            runner = make_runner(task, reporter.for_replication(r), recorder)
            try:
                reps.append(runner.run())
                if reps[-1].out_of_events:
                    partial = True
                    break
                if stop is not None and stop(reps):
                    break
            except KeyboardInterrupt:
                partial = True
                if not reps:
                    reps.append(runner.record(partial=True))
                break
    finally:
        reporter.close()
    return reps, partial


def _over_time(network: Network, bins: float | str, horizon_s: float | None,
               replications: int, seed: int | None, progress: Callable[[float], None] | None,
               **unused: Any) -> TimeSeries:
    """``simulate(..., bins=)``: the options that do not apply are refused by name."""
    given = [k for k, v in unused.items() if v not in (None, False, "auto")]
    if given:
        raise _option(f"{', '.join(given)}: not used with bins (a run over time starts "
                      "empty, runs to the horizon on the simpy engine, in this process)")
    from .timeseries import simulate_bins  # pandas and the transient solvers: only here

    width = _duration("bins", bins)
    return simulate_bins(network, width, horizon=horizon_s, replications=replications,
                         seed=seed, progress=progress)


def _duration(name: str, value: float | str | None, allow_zero: bool = False) -> float | None:
    if value is None:
        return None
    try:
        seconds = parse_duration(value, "s")
    except ValueError as exc:
        raise _option(f"{name}: {exc}") from None
    if seconds < 0 or (seconds == 0 and not allow_zero) or not math.isfinite(seconds):
        raise _option(f"{name} must be a positive duration, got {value!r}")
    return seconds


def _option(message: str) -> ModelError:
    """A bad argument: a :class:`ModelError` without a field path (the CLI prints it as it
    prints a bad model and exits 2)."""
    return ModelError([Problem("", message)])
