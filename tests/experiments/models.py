"""Small models the experiment tests build."""

from __future__ import annotations

from qmodel import Model


def mm1(rate: str = "50/s", service: str = "10ms", servers: int = 1, **extra) -> Model:
    """An M/M/c queue ``cpu`` fed by the open class ``jobs``."""
    return Model.from_dict({"nodes": {"cpu": {"kind": "queue", "servers": servers,
                                              "service": service}},
                            "arrivals": {"jobs": {"to": "cpu", "rate": rate}}, **extra})


def shop() -> Model:
    """Two open classes, a think-time delay, a retry loop and shards: a Jackson network
    with several classes, feedback and an infinite-server station (times in ms)."""
    return Model.from_dict({
        "name": "shop", "time_unit": "ms",
        "arrivals": {"browse": {"to": "lb", "rate": "120/s"},
                     "buy": {"to": "lb", "rate": "30/s"}},
        "nodes": {
            "lb": {"kind": "queue", "servers": 2, "service": "1ms", "next": "api"},
            "api": {"kind": "queue", "servers": 4, "service": "15ms",
                    "next": {"cache": 0.6, "db": 0.3}},
            "cache": {"kind": "delay", "service": "2ms", "next": {"api": 0.1}},
            "db": {"kind": "shards", "shards": 3, "servers": 2, "service": "12ms"},
        },
        "slo": "p95 < 150ms"})


def batch(service: str | dict = "10ms", size: int = 200, servers: int = 1) -> Model:
    """One batch of ``size`` jobs at time 0 on the queue ``cpu`` (``servers`` servers)."""
    return Model.from_dict({"nodes": {"cpu": {"kind": "queue", "servers": servers,
                                              "service": service}},
                            "batches": {"load": {"to": "cpu", "size": size}}})
