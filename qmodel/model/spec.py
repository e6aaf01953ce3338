"""The model file format: typed, strict (unknown keys rejected) pydantic models.

This module is the single definition of what a model file may contain; the JSON Schema
published for editors (``qmodel schema``) is generated from it. Times and rates accept
units (``20ms``, ``200/s``); bare numbers are in the file's ``time_unit``. Parsed values
are in seconds. The format is documented in ``docs/model-format.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    WithJsonSchema,
)

from ..distributions import Distribution
from ..errors import shown
from ..units import INFINITE, TIME_UNITS, is_infinite, parse_duration, parse_rate
from . import dist_spec, mmpp, profiles
from .calibration import CalibrationSpec
from .requests import RequestMap
from .slo import read_slo

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"


def _ctx(info: ValidationInfo) -> tuple[str, Path | None]:
    context = info.context or {}
    return context.get("time_unit", "s"), context.get("base_dir")


def _distribution(value: Any, info: ValidationInfo) -> Distribution:
    if isinstance(value, Distribution):
        return value
    time_unit, base_dir = _ctx(info)
    return dist_spec.parse(value, time_unit, base_dir)


def _interarrival(value: Any, info: ValidationInfo) -> Distribution | None:
    """The inter-arrival distribution: the shape given, with mean 1/rate (None: Poisson)."""
    if value is None or isinstance(value, Distribution):
        return value
    if not isinstance(value, dict):
        raise ValueError(
            f"must be a mapping giving the shape, e.g. {{dist: erlang, k: 2}} or {{cv: 2}}, "
            f"got {shown(value)}")
    rate = info.data.get("rate")  # absent when the rate itself is invalid (reported there)
    if isinstance(rate, profiles.RateProfile):
        raise ValueError("a rate profile gives Poisson arrivals at the profile's rate; "
                         "an interarrival shape needs a constant rate")
    if value.get("dist") == "mmpp2":
        return mmpp.parse(value, rate, _ctx(info)[0]) if rate else None
    return dist_spec.parse(value, mean=1.0 / rate if rate else 1.0)


def _slo(value: str | list[str] | None, info: ValidationInfo) -> str | list[str] | None:
    """Checks the SLO's grammar (the text is kept as written)."""
    if value:
        read_slo(value, _ctx(info)[0])
    return value


def _duration(value: Any, info: ValidationInfo) -> float:
    seconds = parse_duration(value, _ctx(info)[0])
    if seconds <= 0:
        raise ValueError(f"must be a positive duration, got {shown(value)}")
    return seconds


def _nonnegative_duration(value: Any, info: ValidationInfo) -> float:
    seconds = parse_duration(value, _ctx(info)[0])
    if seconds < 0:
        raise ValueError(f"must be a non-negative duration, got {shown(value)}")
    return seconds


def _rate(value: Any, info: ValidationInfo) -> float:
    per_second = parse_rate(value, _ctx(info)[0])
    if per_second <= 0:
        raise ValueError(f"must be a positive rate such as 200/s, got {shown(value)}")
    return per_second


MAX_COUNT = 10**9
"""The largest count of anything (PositiveInt); fields that cost memory or time per unit
have lower limits, listed in docs/limits.md."""
MAX_SERVERS = 100_000
"""The most servers of a station (``inf`` for more: a delay)."""
MAX_MEMBERS = 300
"""The most shards or consumers of one component (each is a station)."""
MAX_JOBS = 100_000
"""The most jobs of a closed class (population) or in a batcher's batch."""


def _profile(value: Any, info: ValidationInfo) -> profiles.RateProfile:
    if isinstance(value, profiles.RateProfile):
        return value
    time_unit, base_dir = _ctx(info)
    return profiles.parse(value, time_unit, base_dir)


def _rate_or_profile(value: Any) -> str:
    return "profile" if isinstance(value, (dict, profiles.RateProfile)) else "rate"


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"must be a positive integer, got {shown(value)}")
    if value > MAX_COUNT:
        raise ValueError(f"must be at most {MAX_COUNT:,}, got {shown(value)}")
    return value


def _servers(value: Any) -> int | float:
    if is_infinite(value):
        return INFINITE
    if isinstance(value, str):
        raise ValueError(f"must be a positive integer or 'inf', got {shown(value)}")
    if isinstance(value, int) and not isinstance(value, bool) and value > MAX_SERVERS:
        raise ValueError(f"must be at most {MAX_SERVERS:,} (or inf), got {shown(value)}")
    return _positive_int(value)


def _next(value: Any) -> dict[str, float]:
    if isinstance(value, str):
        return {value: 1.0}
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        raise ValueError("a list sends each job to one place only: give probabilities, "
                         f"e.g. {{{', '.join(f'{v}: 0.5' for v in value[:2])}}}, got {shown(value)}")
    if not isinstance(value, dict):
        raise ValueError(f"must be a node name or a mapping of node to probability, got {shown(value)}")
    out = {}
    for target, p in value.items():
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"{target}: probability must be a number in [0, 1], got {shown(p)}")
        out[str(target)] = float(p)
    total = sum(out.values())
    if total > 1 + 1e-9:
        raise ValueError(f"probabilities sum to {total:g}, more than 1")
    return out


def _schema(schema: dict) -> WithJsonSchema:
    return WithJsonSchema(schema)


_DURATION_SCHEMA = {
    "anyOf": [
        {"type": "number", "exclusiveMinimum": 0},
        {"type": "string", "pattern": r"^\s*[0-9.eE+-]+\s*(ns|us|ms|s|sec|min|h|d)?\s*$"},
    ],
    "description": "A duration: 20ms, 1.5s, 2min, or a number in the model's time_unit.",
}
_NONNEG_DURATION_SCHEMA = {
    "anyOf": [{"type": "number", "minimum": 0}, _DURATION_SCHEMA["anyOf"][1]],
    "description": "A duration (0 allowed): 0s, 20ms, 1h, or a number in the model's "
                   "time_unit.",
}
_RATE_SCHEMA = {
    "anyOf": [
        {"type": "number", "exclusiveMinimum": 0},
        {"type": "string", "pattern": r"^\s*[0-9.eE+-]+\s*(/\s*(ns|us|ms|s|sec|min|h|d)|rps|qps|tps)?\s*$"},
    ],
    "description": "A rate: 200/s, 12/min, or a number per time_unit.",
}
_DIST_SCHEMA = {
    "anyOf": [
        _DURATION_SCHEMA,
        {
            "type": "object",
            "description": "A distribution: {dist: NAME, ...parameters} or {mean, cv}.",
            "properties": {
                "dist": {"enum": list(dist_spec.DIST_NAMES)},
                "mean": _DURATION_SCHEMA,
                "cv": {"type": "number", "minimum": 0},
                "rate": _RATE_SCHEMA,
                "value": _DURATION_SCHEMA,
                "k": {"type": "integer", "minimum": 1},
                "probs": {"type": "array", "items": {"type": "number"}},
                "means": {"type": "array", "items": _DURATION_SCHEMA},
                "low": _DURATION_SCHEMA,
                "high": _DURATION_SCHEMA,
                "alpha": {"type": "number", "exclusiveMinimum": 1},
                "scale": _DURATION_SCHEMA,
                "samples": {"type": "array", "items": _DURATION_SCHEMA},
                "file": {"type": "string"},
                "column": {"type": ["string", "integer"]},
            },
            "additionalProperties": False,
        },
    ]
}
_NEXT_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": NAME_PATTERN},
        {"type": "object", "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1}},
    ],
    "description": "Next hop: a node name, or node -> probability (the rest leaves).",
}

Dist = Annotated[Any, BeforeValidator(_distribution), _schema(_DIST_SCHEMA)]
Duration = Annotated[float, BeforeValidator(_duration), _schema(_DURATION_SCHEMA)]
NonNegDuration = Annotated[float, BeforeValidator(_nonnegative_duration),
                           _schema(_NONNEG_DURATION_SCHEMA)]
Rate = Annotated[float, BeforeValidator(_rate), _schema(_RATE_SCHEMA)]
PositiveInt = Annotated[int, BeforeValidator(_positive_int),
                        _schema({"type": "integer", "minimum": 1})]
Servers = Annotated[int | float, BeforeValidator(_servers),
                    _schema({"anyOf": [{"type": "integer", "minimum": 1}, {"const": "inf"}]})]
Next = Annotated[dict[str, float], BeforeValidator(_next), _schema(_NEXT_SCHEMA)]
Interarrival = Annotated[
    Any, BeforeValidator(_interarrival),
    _schema({"anyOf": [{"type": "object", "additionalProperties": True}, {"type": "null"}]})]
"""Parsed once, at load, into the :class:`Distribution` of the gaps (None: Poisson);
``rate`` is validated first, so the mean is ``1/rate``."""
Profile = Annotated[Any, BeforeValidator(_profile), _schema({
    "type": "object", "required": ["profile"],
    "properties": {"profile": {"enum": list(profiles.PROFILES)}},
    "description": "A rate over time: {profile: step|ramp|spike|sine|piecewise|file, ...} "
                   "(docs/model-format.md)."})]
RateOrProfile = Annotated[
    Annotated[Rate, Tag("rate")] | Annotated[Profile, Tag("profile")],
    Discriminator(_rate_or_profile),
]
"""A constant rate, or a :class:`~qmodel.model.profiles.RateProfile` (time-varying)."""
Probability = Annotated[float, Field(ge=0, le=1)]
Weights = list[Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]]
Discipline = Literal["fcfs", "ps", "lcfs-pr", "priority", "priority-preemptive", "mlfq"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MLFQ(Strict):
    """Multi-level feedback queue: round robin with a quantum in the upper levels, FCFS in
    the last; a job that uses up its level's allotment moves down; every ``boost`` all
    jobs go back to the top level."""

    levels: PositiveInt = Field(3, le=100)
    quantum: Duration | list[Duration] = Field(
        description="Time slice per level (one value for all, or one per upper level).")
    allotment: Duration | list[Duration] | None = Field(
        default=None, description="CPU time a job may use in a level before demotion "
                                  "(default: one quantum).")
    boost: Duration | None = Field(default=None, description="Priority boost period.")


class Failures(Strict):
    """Failure and recovery of a component (simulation only): at given times and/or
    randomly (``mttf``/``mttr``), of every member or the ``members`` listed, each on its
    own or ``together``. ``policy`` says what happens to the work in a failed member."""

    mttf: Duration | None = None
    mttr: Duration | None = None
    at: list[NonNegDuration] = Field(default_factory=list, max_length=10_000,
                                     description="Failure times.")
    duration: Duration | None = Field(
        default=None, description="Down time of each failure listed in `at`.")
    policy: Literal["lost", "retry", "migrate"] = "retry"
    members: list[Annotated[int, Field(ge=0)]] | None = Field(
        default=None, description="Shards or consumers (by index) that fail; default every "
                                  "member.")
    together: bool = Field(
        default=False, description="The members fail and recover at the same instants (one "
                                   "failure process for the group, e.g. a cluster) instead of "
                                   "each on its own.")


class Rebalance(Strict):
    """Push migration between the shards of a component (simulation only)."""

    period: Duration = Field(description="How often to move jobs that have not started "
                                          "from the most to the least loaded shard.")
    groups: PositiveInt = Field(
        default=1, description="Split the shards into this many equal consecutive groups "
                               "(clusters); jobs move only within a group.")
    threshold: PositiveInt = Field(
        default=1, description="Move only while the most and least loaded shards of a group "
                               "differ by more than this many jobs.")


UNION_TAGS = {"failures": ("one", "list"), "rebalance": ("duration", "mapping"),
              "rate": ("rate", "profile")}
"""The tag pydantic puts after these fields' names in error locations: which form was given."""


def _one_or_list(value: Any) -> str:
    return "list" if isinstance(value, list) else "one"


def _duration_or_mapping(value: Any) -> str:
    return "mapping" if isinstance(value, (dict, Rebalance)) else "duration"


FailureBlocks = Annotated[
    Annotated[Failures, Tag("one")] | Annotated[list[Failures], Tag("list")],
    Discriminator(_one_or_list),
]
RebalanceSpec = Annotated[
    Annotated[Duration, Tag("duration")] | Annotated[Rebalance, Tag("mapping")],
    Discriminator(_duration_or_mapping),
]


def failure_blocks(node: Any) -> list[Failures]:
    """The failure blocks of a node, as a list (empty when it never fails)."""
    failures = getattr(node, "failures", None)
    if failures is None:
        return []
    return list(failures) if isinstance(failures, list) else [failures]


class NodeBase(Strict):
    label: str | None = Field(default=None, description="Display name.")
    next: Next = Field(default_factory=dict)
    class_next: dict[str, Next] = Field(
        default_factory=dict, description="Per-class routing that replaces `next`.")


class ServiceFields(NodeBase):
    service: Dist
    class_service: dict[str, Dist] = Field(
        default_factory=dict, description="Per-class service times that replace `service`.")


class QueueFields(ServiceFields):
    servers: Servers = 1
    discipline: Discipline = "fcfs"
    capacity: PositiveInt | None = Field(
        default=None, le=1_000_000, description="Max jobs in the component (queue + service); "
                                  "on_full says what happens to arrivals beyond it.")
    mlfq: MLFQ | None = None
    failures: FailureBlocks | None = Field(
        default=None, description="One failure block or a list of them (simulation only).")
    on_full: Literal["reject", "block"] = Field(
        default="reject", description="When full: reject (lost; HTTP 429) or block (held in "
                                      "order until there is room).")


class QueueNode(QueueFields):
    """A service station with ``servers`` servers (``inf`` for infinite)."""

    kind: Literal["queue"]


class DelayNode(ServiceFields):
    """An infinite-server station: think time, network hop, fixed latency."""

    kind: Literal["delay"]


class ShardsNode(QueueFields):
    """``shards`` identical queues behind a router; expands to nodes NAME-0 .. NAME-(n-1)."""

    kind: Literal["shards"]
    shards: PositiveInt = Field(le=MAX_MEMBERS)
    routing: Literal["hash", "round_robin", "random", "jsq", "primary_secondary"] = "hash"
    weights: Weights | None = Field(
        default=None, description="Share of traffic per shard (key skew); default uniform.")
    rebalance: RebalanceSpec | None = Field(
        default=None, description="Simulation: push migration, every this long (a duration) "
                                  "or as a mapping {period, groups, threshold}.")


class BrokerNode(ServiceFields):
    """A topic with ``partitions`` partitions consumed by a group of ``consumers``;
    each partition belongs to one consumer. Expands to consumers NAME-0 .. NAME-(g-1)."""

    kind: Literal["broker"]
    partitions: PositiveInt = Field(le=100_000)
    consumers: PositiveInt = Field(le=MAX_MEMBERS)
    assignment: Literal["range", "round_robin"] = "range"
    partition_weights: Weights | None = Field(
        default=None, description="Share of messages per partition (key skew).")
    capacity: PositiveInt | None = Field(default=None, le=1_000_000)
    failures: FailureBlocks | None = Field(
        default=None, description="One failure block or a list of them (simulation only).")


class BatcherNode(NodeBase):
    """Micro-batches, processed in ``fixed`` + ``per_item`` × size: a batch every
    ``interval`` (even empty), at every ``batch_size``-th item, or with both at
    ``batch_size`` items or ``interval`` after the batch's first item."""

    kind: Literal["batcher"]
    interval: Duration | None = Field(default=None, description=(
        "Alone: a batch at every tick of this clock. With batch_size: the longest a batch "
        "waits after its first item."))
    batch_size: PositiveInt | None = Field(default=None, le=MAX_JOBS,
                                           description="Items that close a batch.")
    fixed: Dist | None = Field(default=None, description="Per-batch overhead.")
    per_item: Dist | None = Field(default=None, description="Per-item processing time.")
    servers: PositiveInt = Field(default=1, description="Batches processed concurrently.")


class ForkNode(Strict):
    """A job splits into tasks — one per branch, or ``tasks`` tasks over ``slots`` slots in
    waves — and continues from ``join`` when all are done."""

    kind: Literal["fork"]
    label: str | None = None
    join: str
    branches: list[str] | None = None
    tasks: PositiveInt | None = Field(default=None, le=10_000)
    slots: Servers = Field(INFINITE, json_schema_extra={"default": "inf"})
    task_service: Dist | None = None
    class_task_service: dict[str, Dist] = Field(default_factory=dict)


class JoinNode(NodeBase):
    """Waits for the tasks of a job from its fork — all of them, or the first ``quorum`` —
    then sends the job on; tasks that arrive after the quorum are discarded."""

    kind: Literal["join"]
    quorum: PositiveInt | None = Field(
        default=None, description="Tasks to wait for (default: all); the others still run "
                                  "and are discarded when they arrive.")


Node = Annotated[
    QueueNode | DelayNode | ShardsNode | BrokerNode | BatcherNode | ForkNode | JoinNode,
    Field(discriminator="kind"),
]
NODE_KINDS = ("queue", "delay", "shards", "broker", "batcher", "fork", "join")


class OpenClass(Strict):
    """Jobs arriving from outside at ``rate`` (Poisson unless ``interarrival`` says)."""

    to: Next
    rate: RateOrProfile = Field(description="A rate (200/s) or a profile over time, e.g. "
                                            "{profile: spike, base: 100/s, peak: 300/s, "
                                            "at: 1min, duration: 30s}.")
    interarrival: Interarrival = Field(
        default=None, description="Shape of the inter-arrival distribution, e.g. "
                                  "{dist: erlang, k: 2} or {cv: 2}; its mean is 1/rate.")
    priority: int = Field(default=0, description="0 is served first.")


class ClosedClass(Strict):
    """``population`` users who think for ``think_time`` and then send a job."""

    to: Next
    population: PositiveInt = Field(le=MAX_JOBS)
    think_time: Dist | None = None
    priority: int = 0


class BatchClass(Strict):
    """``size`` jobs that arrive together at ``at`` (a one-off bulk arrival), repeated
    every ``every`` when ``count`` > 1. A transient: simulation runs until it is done."""

    to: Next
    size: PositiveInt = Field(le=1_000_000, description="Jobs in each batch.")
    at: NonNegDuration = Field(default=0.0, description="When the (first) batch arrives.")
    every: Duration | None = Field(default=None, description="Time between repeated batches.")
    count: PositiveInt | None = Field(
        default=None, description="Number of batches (default 1; required with every).")
    priority: int = Field(default=0, description="0 is served first.")


class ModelSpec(Strict):
    """A qmodel model file."""

    name: str = "model"
    description: str = ""
    time_unit: Literal[tuple(u for u in TIME_UNITS if u not in ("µs", "sec"))] = "s"
    nodes: dict[Annotated[str, Field(pattern=NAME_PATTERN)], Node]
    arrivals: dict[Annotated[str, Field(pattern=NAME_PATTERN)], OpenClass] = Field(
        default_factory=dict)
    users: dict[Annotated[str, Field(pattern=NAME_PATTERN)], ClosedClass] = Field(
        default_factory=dict)
    batches: dict[Annotated[str, Field(pattern=NAME_PATTERN)], BatchClass] = Field(
        default_factory=dict, description="Bulk arrivals: a batch of jobs at a given time.")
    slo: Annotated[str | list[str] | None, AfterValidator(_slo)] = Field(
        default=None, description='Service level objectives, e.g. "p95 < 200ms".')
    requests: RequestMap | None = Field(
        default=None, description="HTTP requests per job class, for validating a running "
                                  "service (`qmodel validate --target`); see "
                                  "docs/loadtest.md.")
    calibration: CalibrationSpec | None = Field(
        default=None, description="Where the parameters came from and their 95% intervals "
                                  "(written by qmodel calibrate).")


def json_schema() -> dict:
    """The JSON Schema of the model format (for editors)."""
    schema = ModelSpec.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "qmodel model file"
    return schema
