"""The model file format: typed, strict (unknown keys rejected) pydantic models.

This module is the single definition of what a model file may contain; the JSON Schema
published for editors (``qmodel schema``) is generated from it. Times and rates accept
units (``20ms``, ``200/s``); bare numbers are in the file's ``time_unit``. Parsed values
are in seconds. The value types are in :mod:`.field_types`; the behaviours of clients and
held threads (calls, pools, timeouts, retries, hedging, patience, balking) in
:mod:`.behaviour_spec`. The format is documented in ``docs/model-format.md``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Discriminator, Field, Tag

from ..units import INFINITE, TIME_UNITS
from .behaviour_spec import ClientFields, HeldFields, Pool
from .calibration import CalibrationSpec
from .field_types import (
    MAX_JOBS,
    MAX_MEMBERS,
    NAME_PATTERN,
    Discipline,
    Dist,
    Duration,
    Interarrival,
    Next,
    NonNegDuration,
    PositiveInt,
    RateOrProfile,
    Servers,
    Strict,
    Weights,
    checked_slo,
)
from .requests import RequestMap


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
    groups: PositiveInt | None = Field(
        default=None, description="Split the shards into this many equal consecutive groups "
                                  "(clusters); jobs move only within a group. Default: the "
                                  "node's clusters, else 1.")
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


class QueueFields(ServiceFields, HeldFields):
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
    clusters: PositiveInt | None = Field(default=None, le=MAX_MEMBERS, description=(
        "Split the shards into this many equal clusters of consecutive shards (BRKSS: c); "
        "push migration stays within a cluster."))
    admission_rounds: PositiveInt | None = Field(default=None, le=MAX_JOBS, description=(
        "Admit each shard's share of the batches in this many rounds: capacity = share / "
        "rounds, rounded up, with on_full: block (BRKSS: 10)."))


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
    window: Duration | None = Field(default=None, description=(
        "Windowed results (with interval alone): one job per slide over the items of the "
        "last window; a multiple of interval."))
    slide: Duration | None = Field(default=None, description=(
        "How often a windowed result is computed (default: interval); a multiple of "
        "interval, at most the window."))


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


class OpenClass(ClientFields):
    """Jobs arriving from outside at ``rate`` (Poisson unless ``interarrival`` says); as a
    client it may time out, retry and hedge (:class:`~.behaviour_spec.ClientFields`)."""

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


class Consistency(Strict):
    """Probabilistically bounded staleness (Bailis et al., VLDB 2012) of a replicated
    store: the read fan-out ``reads`` (a join: N = its fork's branches, R = its quorum),
    the fork ``writes`` that carries a committed write to the replicas, the write quorum
    ``write_quorum`` (W: the write commits when W replicas hold it) and, per read branch,
    the write branch that updates the same replica (a read branch not listed holds the
    write from the start of ``writes``, as a leader does)."""

    reads: str = Field(description="The join of the read fan-out (R = its quorum).")
    writes: str = Field(description="The fork that carries a committed write to the "
                                    "replicas.")
    write_quorum: PositiveInt = Field(
        le=MAX_MEMBERS, description="W: replicas that hold a write when it commits.")
    replicas: dict[Annotated[str, Field(pattern=NAME_PATTERN)],
                   Annotated[str, Field(pattern=NAME_PATTERN)]] = Field(
        default_factory=dict, max_length=MAX_MEMBERS,
        description="Read branch -> the write branch that updates that replica; a read "
                    "branch not listed holds the write from the start of `writes`.")


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
    pools: dict[Annotated[str, Field(pattern=NAME_PATTERN)], Pool] = Field(
        default_factory=dict, description="Named finite resources (connections, locks) that "
                                          "components hold for a call or a visit.")
    slo: Annotated[str | list[str] | None, AfterValidator(checked_slo)] = Field(
        default=None, description='Service level objectives, e.g. "p95 < 200ms".')
    requests: RequestMap | None = Field(
        default=None, description="HTTP requests per job class, for validating a running "
                                  "service (`qmodel validate --target`); see "
                                  "docs/loadtest.md.")
    calibration: CalibrationSpec | None = Field(
        default=None, description="Where the parameters came from and their 95% intervals "
                                  "(written by qmodel calibrate).")
    consistency: Consistency | None = Field(
        default=None, description="Read and write quorums of a replicated store, for the "
                                  "probability of a stale read (PBS).")


def json_schema() -> dict:
    """The JSON Schema of the model format (for editors)."""
    schema = ModelSpec.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "qmodel model file"
    return schema
