#!/usr/bin/env bash
# The whole test suite (unit, property, simulation, browser and load tests) after set-up.
# Extra arguments go to pytest, in one run. Without arguments it runs in two phases:
#   1. every test that only computes, spread over all cores (pytest-xdist);
#   2. every test that measures time — the load tests, their timing checks and the
#      real-browser tests — alone on the machine, one at a time (a busy CPU makes their
#      self-checks fail, by design).
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
TIMED=(tests/loadtest tests/ui/test_browser.py)
run -n auto --dist loadfile "${TIMED[@]/#/--ignore=}"
computed=$?
run "${TIMED[@]}"
timed=$?
[ "$computed" -eq 0 ] && [ "$timed" -eq 0 ]
