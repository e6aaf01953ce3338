#!/usr/bin/env bash
# The whole test suite (unit, property, simulation, browser and load tests) after set-up.
# Extra arguments go to pytest, in one run. Without arguments it runs two sets:
#   - the load tests (`loadtest` marker, in the LOAD_TESTS paths; tests/test_suite.py
#     checks there are none elsewhere): real systems under real load, whose self-checks
#     (rate, send lateness, event-loop lag, CPU waits) fail by design on a busy CPU; in
#     the foreground, one at a time, at normal priority;
#   - every other test (unit, property, simulation, dashboard and real-browser tests),
#     spread over all cores (pytest-xdist), beside them at the lowest priority: it runs on
#     whatever CPU the load tests leave, and a load-test process that wakes up takes a CPU
#     from it at once, so the load tests see a machine as quiet as when they run alone.
#     Lowest at both levels of the scheduler: each task at SCHED_IDLE (a waking normal task
#     preempts it), and in a session of its own whose autogroup runs at nice 19 (with
#     autogroups on, as on most distributions, CPU time is shared between sessions first,
#     and the load tests' servers and locust run in sessions of their own). Its output
#     follows theirs. Even so a kernel without full preemption lets a low-priority task
#     finish its system call first: the load tests marked `alone` (those gated on measured
#     latency, the two-worker stream), which need the whole machine, run last, by themselves.
#     Without `setsid`/`chrt` (util-linux), or with QMODEL_TEST_SEQUENTIAL=1: one set
#     after the other.
# Exit code 5 (no tests collected) in any run counts as a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --system || exit 1

run() {
    .venv/bin/python -m pytest "$@"
    local status=$?
    if [ "$status" -eq 5 ]; then
        echo "pytest collected no tests ($*): failing" >&2
        return 1
    fi
    return "$status"
}

LOAD_TESTS=(tests/loadtest tests/ui/test_validate_page.py)
if [ "$#" -gt 0 ]; then
    run "$@"
    exit $?
fi
lowest() {  # run "$@" in a new session at autogroup nice 19, each task at SCHED_IDLE;
    # the session's id goes to $session_file (Ctrl-C stops that session too)
    setsid --wait bash -c 'echo $$ >"$0"; echo 19 >/proc/self/autogroup 2>/dev/null
        exec chrt -i 0 "$@"' "$session_file" "$@"
}

if [ -z "${QMODEL_TEST_SEQUENTIAL:-}" ] && setsid --wait chrt -i 0 true 2>/dev/null; then
    computed_log=$(mktemp)
    session_file=$(mktemp)
    trap 'pkill -TERM -s "$(cat "$session_file")" 2>/dev/null; kill 0' INT TERM
    (
        lowest .venv/bin/python -m pytest -n auto -m "not loadtest"
        status=$?
        [ "$status" -eq 5 ] && echo "pytest collected no tests (not loadtest): failing" && status=1
        exit "$status"
    ) >"$computed_log" 2>&1 &
    computed_pid=$!
    run -m "loadtest and not alone" "${LOAD_TESTS[@]}"
    timed=$?
    wait "$computed_pid"
    computed=$?
    echo "=== the other tests, run beside the load tests at the lowest priority ==="
    cat "$computed_log"
    rm -f "$computed_log" "$session_file"
    echo "=== the load tests that need the machine to themselves ==="
    run -m "loadtest and alone" "${LOAD_TESTS[@]}"
    alone=$?
    [ "$alone" -eq 0 ] || timed=$alone
else
    run -n auto -m "not loadtest"
    computed=$?
    run -m loadtest "${LOAD_TESTS[@]}"
    timed=$?
fi
[ "$computed" -eq 0 ] && [ "$timed" -eq 0 ]
