#!/usr/bin/env bash
# The whole test suite (unit, property, simulation, browser and load tests) after set-up.
# Extra arguments go to pytest. Exit code 5 (no tests collected) counts as a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --system || exit 1
.venv/bin/python -m pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
fi
exit "$status"
