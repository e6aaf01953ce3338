"""Load for the reference system, from the plain locust CLI.

    locust -f loadtest/locustfile.py --headless --host http://127.0.0.1:8100 \\
           --arrival-rate 120 --run-time 60s [--shape step] [--samples-out run.csv]
    locust -f loadtest/locustfile.py --headless --host ... --mode closed -u 50 \\
           --think-time 1s --run-time 60s

Open mode: each user is a dispatcher that draws Poisson arrival times at
``arrival-rate / users`` and sends every request in its own greenlet without waiting for
earlier ones (merged Poisson streams are Poisson: split high rates over processes with
``-u N --processes N``, one dispatcher each, ~1,500/s per process at most). Latency runs
from the *intended* send time. Closed mode: ``-u`` users, each sending one request and
thinking an exponential time with mean ``--think-time`` after its response.

``--requests-file FILE`` (JSON, written by the harness from a model's request map:
``qmodel.model.requests.RequestMap.to_locust``) replaces the fixed ``POST --path`` with
the map's requests, chosen by weight, placeholders filled; ``--max-error-rate F`` stops
sending once more than F of at least 50 answers were not a success (the run's side file
says so).

``--profile-file FILE`` (JSON, :mod:`loadtest.profile_file`: a model's rate profile in
seconds) makes the open-loop rate follow the profile from the dispatcher's start: the
arrival times are drawn by the simulator's own thinning
(:func:`qmodel.sim.arrivals.thinned`), each of ``-u`` dispatchers at its share of the rate;
the run ends a second after the profile's ``length`` (``--run-time`` is then a bound).

``--client-file FILE`` (JSON, :func:`loadtest.retrying.client_spec` with the hedge delay
resolved to seconds) makes each request a client of the model: an attempt unanswered
after ``timeout`` is given up (``on_timeout: cancel``: the client also sends ``POST
/cancel?id=`` with the attempt's ``X-Request-Id``; ``continue``: the server finishes it),
retried after the back-off while the retry budget allows (``when``: timeouts, 429s), and
copied after ``hedge.after`` (copy k at k times that) until one answers (the others are
cancelled if ``hedge.cancel``). Arrivals never wait for answers (each request is its own
greenlet). One row per request goes to ``SAMPLES.clients.csv`` (:mod:`loadtest.clients`).

Raw samples go to ``--samples-out`` (``loadtest.samples``); at the end the run checks
itself (rate, inter-arrival CV, send delay, CPU) and prints whether it is valid.
"""

from __future__ import annotations

import gc
import itertools
import json
import random
import sys
import time
from pathlib import Path

try:
    import loadtest  # noqa: F401
except ImportError:  # run from a checkout: locust puts only this directory on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gevent
import numpy as np
import psutil
from hdrh.histogram import HdrHistogram
from locust import FastHttpUser, constant, events, task
from locust.runners import MasterRunner, WorkerRunner

from loadtest.clients import ClientRow, clients_path, write_client_rows
from loadtest.jsonfile import read_json_object
from loadtest.profile_file import read_profile_file
from loadtest.retrying import RetryBudget, backoff_delay
from loadtest.samples import Samples, check_closed, check_open, latency, write_samples
from loadtest.shapes import SHAPES, rate_factor
from qmodel.model.requests import parse_template, render, status_matches
from qmodel.sim.arrivals import thinned
from qmodel.units import parse_duration

STEADY_SKIP_S = (3.0, 1.0)  # analyse from 3 s after the start to 1 s before the end
_rows: list[tuple[float, float, float, int, float]] = []
_histogram = HdrHistogram(1, 600_000_000, 3)  # microseconds
_started: dict[str, float] = {}
_user_ids = itertools.count()
_outcomes = {"answers": 0, "errors": 0, "stopped": ""}
_client_rows: list[ClientRow] = []
ERROR_STOP_MIN_ANSWERS = 50
PROFILE_TAIL_S = 1.0  # a --profile-file run ends this long after the profile


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:
    parser.add_argument("--arrival-rate", type=float, default=0.0,
                        help="Open loop: requests per second over all users and processes")
    parser.add_argument("--mode", choices=["open", "closed"], default="open",
                        help="open: Poisson arrivals; closed: users with think time")
    parser.add_argument("--think-time", type=str, default="1s",
                        help="Closed loop: mean think time (exponential), e.g. 1s, 500ms")
    parser.add_argument("--shape", choices=list(SHAPES), default="constant",
                        help="Open loop: rate over the run (needs --run-time)")
    parser.add_argument("--samples-out", type=str, default="",
                        help="Write raw samples (CSV) here; workers add .workerN")
    parser.add_argument("--path", type=str, default="/events", help="Request path")
    parser.add_argument("--keys", type=int, default=1000, help="Distinct record keys")
    parser.add_argument("--seed", type=int, default=0, help="Random seed")
    parser.add_argument("--requests-file", type=str, default="",
                        help="JSON request map of one class (replaces --path)")
    parser.add_argument("--client-file", type=str, default="",
                        help="JSON client spec: timeout, on_timeout, retries, hedge (seconds)")
    parser.add_argument("--profile-file", type=str, default="",
                        help="Open loop: JSON rate profile the rate follows (seconds)")
    parser.add_argument("--max-error-rate", type=float, default=1.0,
                        help="Stop sending when more than this fraction of answers failed")

    parser.add_argument("--shape-duration", type=float, default=0.0,
                        help="Seconds a shape spans (default: --run-time; locust clears the "
                        "run time in --processes workers)")


def _compile(doc: dict) -> dict:
    """A request map as parsed templates (once per process)."""
    requests = []
    for r in doc["requests"]:
        requests.append({
            "method": r["method"], "path": parse_template(r["path"]),
            "headers": {k: parse_template(v) for k, v in (r.get("headers") or {}).items()},
            "body": parse_template(r["body"]) if r.get("body") is not None else None,
            "json": r.get("json"), "success": r["success"], "weight": r["weight"]})
    return {"keys": doc["keys"], "requests": requests,
            "weights": [r["weight"] for r in requests]}


def _fill_json(value, rng, request_id: str, keys: int):
    if isinstance(value, str):
        return render(parse_template(value), rng, request_id, keys)
    if isinstance(value, dict):
        return {k: _fill_json(v, rng, request_id, keys) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_json(v, rng, request_id, keys) for v in value]
    return value


@events.test_start.add_listener
def _start(environment, **_kw) -> None:
    options = environment.parsed_options
    if options.mode == "open" and options.arrival_rate <= 0:
        raise SystemExit("--arrival-rate must be positive in open mode")
    if options.shape != "constant" and not (options.run_time or options.shape_duration):
        raise SystemExit(f"--shape {options.shape} needs --run-time (every shape is bounded)")
    if options.profile_file:
        if options.mode != "open" or options.shape != "constant":
            raise SystemExit("--profile-file sets the open-loop rate over time; it does not "
                             "combine with --mode closed or --shape")
        try:
            _started["profile"] = read_profile_file(options.profile_file)
        except ValueError as exc:
            raise SystemExit(f"--profile-file: {exc}") from None
    _started["wall"] = time.time()
    _started["cpu"] = sum(psutil.Process().cpu_times()[:2])
    if options.requests_file:
        _started["map"] = _compile(json.loads(Path(options.requests_file).read_text()))
    if options.client_file and options.requests_file:
        raise SystemExit("--client-file plays the model's clients on the reference system's "
                         "requests; it does not combine with --requests-file")
    if options.client_file:
        client = _client_spec(options.client_file)
        if isinstance((client.get("hedge") or {}).get("after", 0), str):
            raise SystemExit("--client-file: hedge.after must be resolved to seconds")
        _started["client"] = client
        retries = client.get("retries") or {}
        _started["budget"] = RetryBudget(retries.get("budget"))
    # Full collections scanned every object of locust, gevent and their imports: 40-50 ms
    # stalls of the dispatcher here (a burst of ~70 sends at 1,500/s). Start-up objects
    # are frozen out of the collector; what the run creates is still collected.
    gc.collect()
    gc.freeze()


class Client(FastHttpUser):
    """One open-loop dispatcher or one closed-loop user (``--mode``)."""

    concurrency = 400
    wait_time = constant(0)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        runner = self.environment.runner
        index = getattr(runner, "worker_index", 0)
        self.rng = random.Random(options.seed * 1_000_003 + index * 1009 + next(_user_ids))
        self.prefix = f"{options.seed}-{index}-{self.rng.getrandbits(32):08x}-"
        self.ids = itertools.count()

    def _request(self, intended: float) -> None:
        if "map" in _started:
            self._mapped(intended, _started["map"])
            return
        options = self.environment.parsed_options
        key = f"k{self.rng.randrange(options.keys)}"
        body = json.dumps({"key": key, "payload": " ".join(
            self.rng.choices(("alpha", "beta", "gamma", "delta"), k=8))})
        if "client" in _started:
            self._client_request(intended, body, _started["client"])
            return
        sent = time.time()
        status, server = 0, 0.0
        try:
            with self.client.post(options.path, data=body, catch_response=True,
                                  headers={"Content-Type": "application/json"}) as response:
                status = response.status_code or 0
                server = float(response.headers.get("X-Server-Time", 0) or 0)
                if status == 429:
                    response.success()  # shed by design; counted in the samples
        except Exception:  # a failed connection is a sample too (status 0)
            status = 0
        done = time.time()
        _rows.append((intended, sent, done, status, server))
        if 200 <= status < 300:
            _histogram.record_value(max(1, int((done - intended) * 1e6)))

    def _post(self, body: str, request_id: str) -> tuple[int, float]:
        """One attempt: its status (0: no answer) and the server's time."""
        options = self.environment.parsed_options
        try:
            with self.client.post(options.path, data=body, catch_response=True, headers={
                    "Content-Type": "application/json", "X-Request-Id": request_id}) as r:
                if r.status_code in (429, 499, 504):
                    r.success()  # refused, withdrawn, a call gave up: counted per request
                return r.status_code or 0, float(r.headers.get("X-Server-Time", 0) or 0)
        except Exception:  # a failed connection is an answer too (status 0)
            return 0, 0.0

    def _cancel(self, request_id: str) -> None:
        try:
            with self.client.post(f"/cancel?id={request_id}", name="/cancel",
                                  catch_response=True) as r:
                r.success()
        except Exception:  # the request is gone either way
            pass

    def _attempt(self, body: str, request_id: str, client: dict
                 ) -> tuple[str, int, int, float]:
        """One attempt with its hedged copies: (``ok``, ``timeout``, ``reject`` or
        ``error``; copies sent; the answer's status; the server's time)."""
        hedge, timeout = client.get("hedge"), client.get("timeout")
        start = time.time()
        ids = [f"{request_id}.0"]
        copies = [gevent.spawn(self._post, body, ids[0])]
        while True:
            wakes = [start + timeout] if timeout else []
            if hedge and len(copies) <= hedge["copies"]:
                wakes.append(start + hedge["after"] * len(copies))
            wait = max(0.0, min(wakes) - time.time()) if wakes else None
            gevent.wait(copies, timeout=wait, count=1)
            answered = [g for g in copies if g.ready()]
            if answered:
                status, server = answered[0].value
                if hedge and hedge.get("cancel", True):
                    for g, rid in zip(copies, ids):
                        if not g.ready():
                            gevent.spawn(self._cancel, rid)
                outcome = "ok" if 200 <= status < 300 else "reject" if status == 429 \
                    else "error"
                return outcome, len(copies), status, server
            if timeout and time.time() >= start + timeout:
                if client.get("on_timeout") == "cancel":
                    for rid in ids:
                        gevent.spawn(self._cancel, rid)
                return "timeout", len(copies), 0, 0.0
            if hedge and len(copies) <= hedge["copies"] and \
                    time.time() >= start + hedge["after"] * len(copies):
                ids.append(f"{request_id}.{len(copies)}")
                copies.append(gevent.spawn(self._post, body, ids[-1]))

    def _client_request(self, intended: float, body: str, client: dict) -> None:
        """One request of a client that times out, retries and hedges (the class's
        client spec); one sample row (its last answer) and one client row."""
        retries = client.get("retries")
        budget: RetryBudget = _started["budget"]
        request_id = self.prefix + str(next(self.ids))
        sent = time.time()
        budget.first(sent)
        attempts = timeouts = rejects = 0
        for retry in itertools.count():
            outcome, copies, status, server = self._attempt(body, f"{request_id}.{retry}",
                                                            client)
            attempts += copies
            timeouts += outcome == "timeout"
            rejects += outcome == "reject"
            if outcome in ("ok", "error") or retries is None or \
                    outcome not in retries["when"] or retry >= retries["max"] or \
                    not budget.allow(time.time()):
                break
            gevent.sleep(backoff_delay(retries.get("backoff"), retry + 1, self.rng))
        done = time.time()
        _rows.append((intended, sent, done, 408 if outcome == "timeout" else status, server))
        _client_rows.append(ClientRow(intended, attempts, timeouts, rejects, outcome == "ok"))
        if outcome == "ok":
            _histogram.record_value(max(1, int((done - intended) * 1e6)))

    def _mapped(self, intended: float, request_map: dict) -> None:
        """One request of the map: chosen by weight, placeholders filled."""
        r = self.rng.choices(request_map["requests"], request_map["weights"])[0]
        keys, request_id = request_map["keys"], self.prefix + str(next(self.ids))
        path = render(r["path"], self.rng, request_id, keys)
        headers = {k: render(v, self.rng, request_id, keys) for k, v in r["headers"].items()}
        body = render(r["body"], self.rng, request_id, keys) if r["body"] is not None else None
        if r["json"] is not None:
            body = json.dumps(_fill_json(r["json"], self.rng, request_id, keys))
            headers.setdefault("Content-Type", "application/json")
        sent = time.time()
        status, server = 0, 0.0
        try:
            with self.client.request(r["method"], path, data=body, headers=headers,
                                     catch_response=True) as response:
                status = response.status_code or 0
                server = float(response.headers.get("X-Server-Time", 0) or 0)
                if status_matches(r["success"], status):
                    response.success()
                else:
                    response.failure(f"status {status}")
        except Exception:  # a failed connection is a sample too (status 0)
            status = 0
        done = time.time()
        _rows.append((intended, sent, done, status, server))
        ok = status_matches(r["success"], status)
        if ok:
            _histogram.record_value(max(1, int((done - intended) * 1e6)))
        self._count(ok)

    def _count(self, ok: bool) -> None:
        _outcomes["answers"] += 1
        _outcomes["errors"] += not ok
        limit = self.environment.parsed_options.max_error_rate
        answers, errors = _outcomes["answers"], _outcomes["errors"]
        if _outcomes["stopped"] or answers < ERROR_STOP_MIN_ANSWERS or \
                errors <= limit * answers:
            return
        _outcomes["stopped"] = (f"error rate {errors / answers:.1%} of {answers} answers "
                                f"exceeded {limit:.1%}: stopped sending at "
                                f"{time.time() - _started['wall']:.1f} s")
        print(_outcomes["stopped"], flush=True)
        runner = self.environment.runner
        if not isinstance(runner, WorkerRunner):
            gevent.spawn_later(0.5, runner.quit)

    @task
    def work(self) -> None:
        options = self.environment.parsed_options
        if _outcomes["stopped"]:  # stopped on errors: send nothing more
            gevent.sleep(1.0)
            return
        if options.mode == "closed":
            self._request(time.time())
            gevent.sleep(self.rng.expovariate(1.0 / parse_duration(options.think_time)))
            return
        self._dispatch(options)

    def _dispatch(self, options) -> None:
        users = max(1, options.num_users or 1)
        rate = options.arrival_rate / users
        duration = float(options.run_time or options.shape_duration or 0)
        start = time.time()
        intended = start
        if "profile" in _started:
            self._follow(_started["profile"].scaled(1.0 / users), start)
            return
        while not _outcomes["stopped"]:
            factor = rate_factor(options.shape, intended - start, duration) if duration else 1.0
            intended += self.rng.expovariate(rate * factor)
            delay = intended - time.time()
            if delay > 0:
                gevent.sleep(delay)
            gevent.spawn(self._request, intended)

    def _follow(self, profile, start: float) -> None:
        """Send at the arrival times of a Poisson process with the profile's rate from
        ``start`` (the simulator's thinning, seeded from this dispatcher's seed) until the
        profile's length, then end the run a second later (``--run-time`` bounds it: on a
        busy machine locust's timer starts seconds before the users do)."""
        _started.setdefault("dispatch", start)
        rng = np.random.default_rng(self.rng.getrandbits(64))
        intended, end = start, start + profile.length
        for gap in thinned(profile, rng):
            intended += gap
            if _outcomes["stopped"] or intended >= end:
                break
            delay = intended - time.time()
            if delay > 0:
                gevent.sleep(delay)
            gevent.spawn(self._request, intended)
        gevent.sleep(max(0.0, end - time.time()))
        runner = self.environment.runner
        if not isinstance(runner, WorkerRunner):
            gevent.spawn_later(PROFILE_TAIL_S, runner.quit)
        gevent.sleep(PROFILE_TAIL_S + 60)  # nothing more to send: wait for the quit


def _samples_path(environment) -> Path | None:
    options = environment.parsed_options
    if not options.samples_out:
        return None
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        return Path(f"{options.samples_out}.worker{runner.worker_index}")
    return Path(options.samples_out)


@events.test_stop.add_listener
def _stop(environment, **_kw) -> None:
    path = _samples_path(environment)
    if path is None or isinstance(environment.runner, MasterRunner) or "wall" not in _started:
        return
    gevent.sleep(0.5)  # let requests in flight finish
    wall = time.time() - _started["wall"]
    cpu = sum(psutil.Process().cpu_times()[:2]) - _started["cpu"]
    options = environment.parsed_options
    write_samples(path, list(_rows), {
        "mode": options.mode, "arrival_rate": options.arrival_rate,
        "users": options.num_users, "think_time": options.think_time,
        "shape": options.shape, "started": _started["wall"], "stopped": time.time(),
        "dispatch_started": _started.get("dispatch"), "profile": bool(options.profile_file),
        "cpu_percent": 100.0 * cpu / wall if wall > 0 else None,
        "stopped_on_errors": _outcomes["stopped"]})
    _rows.clear()
    if "client" in _started:
        write_client_rows(clients_path(path), list(_client_rows))
        _client_rows.clear()


@events.quitting.add_listener
def _verdict(environment, **_kw) -> None:
    options = environment.parsed_options
    if isinstance(environment.runner, WorkerRunner):
        return
    if _histogram.get_total_count():
        print("latency from intended send (HDR, ms): " + ", ".join(
            f"p{q:g}={_histogram.get_value_at_percentile(q) / 1000:.2f}"
            for q in (50, 95, 99, 99.9)))
    if not options.samples_out:
        return
    expected = max(1, options.processes or 1) if isinstance(environment.runner,
                                                            MasterRunner) else 1
    deadline = time.time() + 10
    base = Path(options.samples_out)
    while time.time() < deadline:
        if len(list(base.parent.glob(base.name + "*.json"))) >= expected:
            break
        gevent.sleep(0.2)
    samples = Samples.read(base)
    if not samples.meta:
        return
    start = min(m["started"] for m in samples.meta) + STEADY_SKIP_S[0]
    end = max(m["stopped"] for m in samples.meta) - STEADY_SKIP_S[1]
    if options.mode == "open" and options.shape == "constant" and not options.profile_file:
        check = check_open(samples, options.arrival_rate, start, end)
    elif options.mode == "closed":
        check = check_closed(samples, options.num_users, parse_duration(options.think_time),
                             start, end)
    else:
        check = None
    summary = {"latency": latency(samples.window(start, end)), "window": [start, end],
               "check": check.to_json() if check else None}
    Path(f"{base}.summary.json").write_text(json.dumps(summary, indent=2))
    if check is not None:
        verdict = "VALID" if check.valid else "INVALID: " + "; ".join(check.problems)
        print(f"self-check ({check.mode} loop): {verdict}")


MAX_CLIENT_FILE = 64 * 1024
"""The largest ``--client-file`` (one class's client policy is a few hundred bytes)."""


def _client_spec(path: str) -> dict:
    """The ``--client-file`` policy: a JSON object of at most :data:`MAX_CLIENT_FILE`
    bytes, or exit with a one-line reason (no traceback)."""
    try:
        return read_json_object(path, MAX_CLIENT_FILE, "a client policy")
    except ValueError as exc:
        raise SystemExit(f"--client-file: {exc}") from None


if __name__ == "__main__":  # `locust --help` does not load a locustfile (locust #2917)
    import argparse

    _help = argparse.ArgumentParser(
        prog="locust -f loadtest/locustfile.py",
        description="The options this locustfile adds to locust's own (`locust --help`).")
    _arguments(_help)
    _help.parse_args()
