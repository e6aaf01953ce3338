"""qmodel.report: the terminal tables, in one time unit and one rate unit per view."""

from __future__ import annotations

import pandas as pd
from rich.console import Console

from qmodel.report import compare_table


def _text(table) -> str:
    console = Console(width=200, record=True)
    console.print(table)
    return console.export_text()


def test_compare_prints_times_in_the_model_unit_not_seconds_to_six_decimals():
    table = pd.DataFrame([
        {"node": "app", "metric": "throughput", "analytic": 2 / 3600, "simulated": 2.1 / 3600,
         "ci_low": 1.9 / 3600, "ci_high": 2.3 / 3600, "rel_diff": 0.05, "agrees": True},
        {"node": "app", "metric": "mean_wait", "analytic": 0.001394, "simulated": 0.001519,
         "ci_low": 0.000617, "ci_high": 0.002421, "rel_diff": 0.0897, "agrees": True},
        {"node": "system", "metric": "p95_response_time", "analytic": 0.0869,
         "simulated": 0.1, "ci_low": 0.095, "ci_high": 0.105, "rel_diff": 0.15,
         "agrees": False}])
    text = _text(compare_table(table, "ms"))
    assert "times in ms, rates per h" in text
    assert "│ throughput (/h) " in text and "│        2 │       2.1 │" in text
    assert "mean_wait (ms)" in text and "1.394" in text and "[0.617, 2.421]" in text
    assert "p95_response_time (ms)" in text and "+15.0%" in text and "│     no │" in text
    assert "0.001394" not in text


def test_compare_puts_disagreements_first_with_a_verdict_and_marks_values_outside():
    rows = [{"node": f"n{i}", "metric": "mean_wait", "analytic": 1.0, "simulated": 1.0,
             "ci_low": 0.9, "ci_high": 1.1, "rel_diff": 0.0, "agrees": True} for i in range(5)]
    rows.append({"node": "late", "metric": "mean_wait", "analytic": 0.2, "simulated": 1.0,
                 "ci_low": 0.9, "ci_high": 1.1, "rel_diff": 4.0, "agrees": False})
    rows.append({"node": "close", "metric": "mean_wait", "analytic": 1.0, "simulated": 1.04,
                 "ci_low": 1.02, "ci_high": 1.06, "rel_diff": 0.04, "agrees": True})
    text = _text(compare_table(pd.DataFrame(rows), "s"))
    body = [line for line in text.splitlines() if line.startswith("│")]
    assert body[0].startswith("│ late ")
    assert "DISAGREE: 1 of 7 metrics; 2 analytic values outside the 95% interval (✗)" in text
    assert text.count("✗") == 3  # the two rows and the verdict
