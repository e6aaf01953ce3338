#!/usr/bin/env bash
# The whole test suite (unit, property, simulation, browser and load tests) after set-up.
# Extra arguments go to pytest, in one run. Without arguments it runs in two phases:
#   1. every test not marked `loadtest`, spread over all cores (pytest-xdist): unit,
#      property, simulation, dashboard and real-browser tests;
#   2. the `loadtest` tests — real systems under real load, whose self-checks (rate,
#      send lateness, event-loop lag, CPU waits) fail by design on a busy CPU — alone on
#      the machine, one at a time.
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

if [ "$#" -gt 0 ]; then
    run "$@"
    exit $?
fi
run -n auto -m "not loadtest"
computed=$?
run -m loadtest tests/loadtest
timed=$?
[ "$computed" -eq 0 ] && [ "$timed" -eq 0 ]
