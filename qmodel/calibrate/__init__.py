"""From measurements to a calibrated model: spans (OTLP, Jaeger, Zipkin) and metrics
(utilization and throughput per interval) in, a model file with the estimates' 95%
intervals and a calibration report out. See ``docs/calibration.md``."""

from .result import Calibration, Estimate

__all__ = ["Calibration", "Estimate", "from_metrics", "from_traces"]


def __getattr__(name: str):
    # the span and metric readers and scipy load on first use, not with ``qmodel --help``
    if name == "from_traces":
        from .traces import from_traces

        return from_traces
    if name == "from_metrics":
        from .metrics import from_metrics

        return from_metrics
    raise AttributeError(f"module 'qmodel.calibrate' has no attribute {name!r}")
