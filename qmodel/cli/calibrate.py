"""``qmodel calibrate``: measurements in, a calibrated model file out.

    qmodel calibrate traces spans.json [--format otlp|jaeger|zipkin] -o model.yaml
    qmodel calibrate metrics metrics.csv --model model.yaml -o calibrated.yaml

Exit codes as every command (:mod:`qmodel.cli.support`): 2 for a malformed input file or
bad arguments, naming the record at fault.
"""

from __future__ import annotations

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Calibrate a model from traces or metrics.")
