"""The shop: a small two-service system qmodel did not write the serving or tracing of.

A frontend and a backend, each a Starlette app under uvicorn (one worker process,
c slots), instrumented by OpenTelemetry's own ASGI and httpx instrumentations, spans
exported as OTLP/JSON lines (:mod:`.app`); :func:`launch` starts and stops both;
:mod:`.check` calibrates a model from their spans and compares its predictions with a
measured run (docs/calibration.md, "A system qmodel did not write").
"""

from .launch import ServiceConfig, Shop, ShopConfig, launch

__all__ = ["ServiceConfig", "Shop", "ShopConfig", "launch"]
