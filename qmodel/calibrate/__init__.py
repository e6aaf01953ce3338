"""From measurements to a calibrated model: spans (OTLP, Jaeger, Zipkin) and metrics
(utilization and throughput per interval) in, a model file with the estimates' 95%
intervals and a calibration report out. See ``docs/calibration.md``."""

from .result import Calibration, Estimate
from .traces import from_traces

__all__ = ["Calibration", "Estimate", "from_traces"]
