#!/usr/bin/env bash
# The whole test suite (unit, property, simulation, browser and load tests) after set-up.
# Extra arguments go to pytest, in one run. Without arguments it runs two sets:
#   - the load tests (`loadtest` marker, in the LOAD_TESTS paths; tests/test_suite.py checks
#     there are none elsewhere): real systems under real load,
#     whose self-checks (rate, send lateness, event-loop lag, CPU waits) fail by design on
#     a busy CPU; in the foreground, one at a time, at normal priority;
#   - every other test (unit, property, simulation, dashboard and real-browser tests),
#     spread over all cores (pytest-xdist), beside them at SCHED_IDLE priority: it runs on
#     whatever CPU the load tests leave, and a load-test process that wakes up takes a CPU
#     from it at once (the kernel preempts SCHED_IDLE tasks on wake-up), so the load tests
#     see a machine as quiet as when they run alone. Its output follows theirs.
#     Without `chrt` (util-linux), or with QMODEL_TEST_SEQUENTIAL=1: one set after the other.
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
if [ -z "${QMODEL_TEST_SEQUENTIAL:-}" ] && chrt -i 0 true 2>/dev/null; then
    trap 'kill 0' INT TERM
    computed_log=$(mktemp)
    (chrt -i -p 0 "$BASHPID" >/dev/null && run -n auto -m "not loadtest") >"$computed_log" 2>&1 &
    computed_pid=$!
    run -m loadtest "${LOAD_TESTS[@]}"
    timed=$?
    wait "$computed_pid"
    computed=$?
    echo "=== the other tests, run beside the load tests at SCHED_IDLE priority ==="
    cat "$computed_log"
    rm -f "$computed_log"
else
    run -n auto -m "not loadtest"
    computed=$?
    run -m loadtest "${LOAD_TESTS[@]}"
    timed=$?
fi
[ "$computed" -eq 0 ] && [ "$timed" -eq 0 ]
