"""The load-testing commands; the ``qmodel`` CLI mounts this app with a lazy import::

    qmodel refsys serve MODEL [--port 8100] [--broker embedded|redis] [--otel-traces FILE]
                        [--redis-fsync everysec|always]
    qmodel validate MODEL --load 0.3,0.5,0.7,0.85 --duration 60s [--mode open|closed]
                    [--otel-traces FILE]
    qmodel validate MODEL --shape [--bins 1s] [--replications 20]
    qmodel validate MODEL --soak 30min --load 0.7 [--bins 10s]
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from qmodel.errors import QModelError

app = typer.Typer(help="The reference system and prediction-vs-measurement validation.",
                  no_args_is_help=True)
refsys = typer.Typer(help="The reference batch/stream system.", no_args_is_help=True)
app.add_typer(refsys, name="refsys")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@refsys.command("serve")
def serve(model: Path = typer.Argument(..., help="Model file"),
          port: int = typer.Option(8100, help="Port on 127.0.0.1"),
          broker: str = typer.Option("embedded", help="embedded or redis"),
          run_dir: Path | None = typer.Option(None, help="Stores, traces and logs"),
          seed: int = typer.Option(0, help="Random seed of the emulated service times"),
          otel_traces: Path | None = typer.Option(
              None, help="Write OpenTelemetry spans to FILE (OTLP JSON lines) at stop"),
          redis_fsync: str = typer.Option(
              "everysec", help="The Redis it starts: everysec, or always (fsync before each "
              "reply: nothing accepted is lost even if the machine dies)")) -> None:
    """Run the reference system for MODEL on 127.0.0.1 until Ctrl-C."""
    from .refsys.supervisor import RefSystem

    try:
        system = RefSystem(str(model), port=port, backend=broker, run_dir=run_dir, seed=seed,
                           otel_traces=otel_traces, redis_fsync=redis_fsync)
        system.start()
    except (QModelError, ValueError, RuntimeError, TimeoutError) as exc:
        _fail(str(exc))
    typer.echo(f"reference system for {model} on {system.url} (broker: {broker}); "
               f"run dir {system.run_dir}; Ctrl-C stops it")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        typer.echo("stopping: draining what is inside")
    finally:
        system.stop()
        if otel_traces is not None:
            typer.echo(f"spans written to {otel_traces}")


@app.command("validate")
def validate_command(
        model: Path = typer.Argument(..., help="Model file"),
        load: str = typer.Option("0.3,0.5,0.7,0.85", help="Comma-separated load levels: "
                                 "bottleneck utilization (open) or population fraction "
                                 "(closed)"),
        duration: str = typer.Option("60s", help="Measured window per level"),
        mode: str = typer.Option("open", help="open or closed"),
        warmup: str = typer.Option("5s", help="Discarded at the start of each run"),
        repeats: int = typer.Option(1, help="Runs per level (averaged)"),
        tolerance: float = typer.Option(0.10, help="Relative tolerance"),
        broker: str = typer.Option("embedded", help="embedded or redis"),
        out: Path = typer.Option(Path("validation.html"), help="HTML report (+ .json)"),
        url: str | None = typer.Option(None, help="Use a running system instead"),
        retries: int = typer.Option(1, help="Runs again a run that fails its self-checks"),
        keep: bool = typer.Option(False, help="Keep samples, traces, stores and logs"),
        otel_traces: Path | None = typer.Option(
            None, help="Write the system's OpenTelemetry spans to FILE (OTLP JSON lines)"),
        seed: int = typer.Option(0),
        target: str | None = typer.Option(None, help="Validate your own HTTP service at "
                                          "this URL (client-side latency gated)"),
        requests: Path | None = typer.Option(None, help="Request map (YAML with requests:); "
                                             "default: the model's requests: section"),
        metrics: str | None = typer.Option(None, help="Prometheus endpoint of the target to "
                                           "scrape and compare (mapped in requests.metrics)"),
        allow_host: list[str] = typer.Option([], help="Allow a non-loopback target host "
                                             "(repeatable)"),
        max_error_rate: float = typer.Option(0.05, help="Stop a level above this fraction "
                                             "of failed requests"),
        max_rate: float | None = typer.Option(None, help="Cap on a level's total rate, per "
                                              "second (default 2000)"),
        max_duration: str | None = typer.Option(None, help="Cap on a window (default 10m)"),
        master_bind: str = typer.Option("127.0.0.1", help="Where locust's master listens "
                                        "above one process's rate (for remote workers)"),
        calibration: str = typer.Option("20s", help="Length of the low-load calibration "
                                        "run"),
        results: list[Path] = typer.Option(None, help="Compare with result files already "
                                           "written (locust, k6, wrk/wrk2, .hlog, plain CSV) "
                                           "instead of running load; files may follow it"),
        level_by: str = typer.Option("file", help="--results levels: file or window:30s"),
        class_of: list[str] = typer.Option(None, help="--results: NAME=CLASS (repeatable)"),
        hlog_unit: str = typer.Option("us", help="--results: value unit of .hlog files"),
        shape: bool = typer.Option(False, "--shape", help="Run the model's rate profile once "
                                   "and compare the series over time with its simulation"),
        bins: str = typer.Option("1s", help="--shape: width of a time bin"),
        replications: int = typer.Option(20, help="--shape: simulated replications"),
        soak: str | None = typer.Option(None, "--soak", help="Hold one --load for this long "
                                        "(e.g. 30min) and report drift of latency and "
                                        "memory"),
        more: list[Path] = typer.Argument(None, hidden=True)) -> None:
    """Start the system (or use --target), run locust per load level, compare with the
    model; or, with --results FILE..., compare with result files a load test already
    wrote."""
    if soak is not None:
        raise typer.Exit(_soak(model, soak, load, bins, calibration, warmup, broker, seed,
                               retries, keep, out, url or target or results or more or shape))
    if shape:
        raise typer.Exit(_shape(model, bins, replications, calibration, warmup, broker, seed,
                                retries, keep, out, url or target or results or more))
    if results or more:
        from .results.cli import run as run_results

        raise typer.Exit(run_results(model, [*(results or []), *(more or [])], bool(results),
                                     level_by, class_of or [], hlog_unit, tolerance, out, seed))
    from .validate import validate

    levels: list[float | str] = []
    for item in (x.strip() for x in load.split(",")):
        if not item:
            continue
        if "/" in item:
            levels.append(item)
            continue
        try:
            levels.append(float(item))
        except ValueError:
            _fail(f"--load: must be comma-separated numbers or rates (50/s), got {load!r}")
    try:
        report = validate(model, levels, duration, mode=mode, warmup=warmup, repeats=repeats,
                          tolerance=tolerance, backend=broker, out=out, url=url, seed=seed,
                          retries=retries, keep=keep, target=target, requests=requests,
                          metrics=metrics, allow_hosts=allow_host,
                          max_error_rate=max_error_rate, max_rate=max_rate,
                          max_duration=max_duration, master_bind=master_bind,
                          calibration=calibration, otel_traces=otel_traces)
    except (QModelError, ValueError) as exc:
        _fail(str(exc))
    raise typer.Exit(0 if report.passed else 1)


def _shape(model: Path, bins: str, replications: int, calibration: str, warmup: str,
           broker: str, seed: int, retries: int, keep: bool, out: Path, other: object) -> int:
    """``validate --shape``: 0 passed, 1 failed or invalid, 2 bad input."""
    from .shape import validate_shape

    if other:
        _fail("--shape runs the reference system it starts: not with --url, --target or "
              "--results")
    try:
        report = validate_shape(model, bins=bins, replications=replications,
                                calibration=calibration, warmup=warmup, backend=broker,
                                seed=seed, retries=retries, keep=keep, out=out)
    except (QModelError, ValueError) as exc:
        _fail(str(exc))
    return 0 if report.passed else 1


def _soak(model: Path, duration: str, load: str, bins: str, calibration: str, warmup: str,
          broker: str, seed: int, retries: int, keep: bool, out: Path, other: object) -> int:
    """``validate --soak``: 0 as the model says (steady below saturation, growing at or
    above), 1 not or invalid, 2 bad input."""
    from .soak import validate_soak

    if other:
        _fail("--soak runs the reference system it starts at one load: not with --url, "
              "--target, --results or --shape")
    try:
        level = float(load)
    except ValueError:
        _fail(f"--load: --soak holds one load level (a utilization such as 0.7), got {load!r}")
    try:
        report = validate_soak(model, duration, load=level, bins=bins, calibration=calibration,
                               warmup=warmup, backend=broker, seed=seed, retries=retries,
                               keep=keep, out=out.with_suffix(".json"))
    except (QModelError, ValueError) as exc:
        _fail(str(exc))
    return 0 if report.passed else 1


def main() -> None:
    app()


if __name__ == "__main__":
    main()
