"""The request map: which HTTP requests stand for each job class of a model when it is
validated against a running service (``qmodel validate MODEL --target URL``).

It is the ``requests:`` section of a model file, or of a separate YAML file given with
``--requests`` (the same section, so errors read the same: ``requests.web.path``)::

    requests:
      keys: 1000                           # key space of {key} (default 1000)
      overhead: {method: GET, path: /noop} # optional: a trivial request (fixed overhead)
      web:                                 # a job class of the model
        method: POST                       # default POST
        path: /work?id={id}                # must start with '/'
        headers: {Content-Type: application/json}
        body: '{"key": "{key}", "op": "{choice:get=3|put=1}"}'
        success: [2xx, 404]                # default [2xx]
      api:                                 # several requests, chosen by weight
        - {weight: 3, method: GET, path: '/items/{key}'}
        - {weight: 1, method: DELETE, path: '/items/{key}'}
      metrics:                             # optional: Prometheus names per component
        app:
          throughput: work_requests_total              # a counter: its rate
          utilization: {metric: work_busy_seconds_total, per: 4}  # counter rate or gauge mean, / per
          service: work_request_duration_seconds       # a histogram: its mean
          # response: a histogram of waiting + service (mean, p95, p99)

Placeholders in ``path``, header values and ``body`` (plain substitution, nothing is
evaluated): ``{id}`` a unique request id, ``{key}`` a key ``k0`` .. ``k<keys-1>`` drawn
uniformly, ``{choice:a|b|c}`` one of the options uniformly, ``{choice:a=3|b=1}`` by
weight. Any other ``{name}`` or ``{name:...}`` is an error; other braces (JSON's) are
text. ``keys``, ``overhead`` and ``metrics`` are reserved and cannot name a class.

This module is pure data (pydantic specs and the template renderer); ``loadtest`` sends
the requests.
"""

from __future__ import annotations

import random
import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from ..errors import ModelError, Problem, shown

RESERVED = ("keys", "overhead", "metrics")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([^{}]*))?\}")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
STATUS_CLASS = re.compile(r"^[1-5]xx$")
MAX_KEYS = 10**9


def parse_template(text: str) -> list[str | tuple[str, Any]]:
    """A template as literal strings and placeholders (``("id", None)``, ``("key", None)``,
    ``("choice", (options, weights))``); raise ValueError naming a bad placeholder."""
    parts: list[str | tuple[str, Any]] = []
    last = 0
    for m in PLACEHOLDER.finditer(text):
        name, arg = m.group(1), m.group(2)
        if m.start() > last:
            parts.append(text[last:m.start()])
        last = m.end()
        if name in ("id", "key") and arg is None:
            parts.append((name, None))
        elif name == "choice" and arg is not None:
            parts.append(("choice", _choices(arg, m.group(0))))
        else:
            raise ValueError(f"unknown placeholder {shown(m.group(0))}: use {{id}}, {{key}}, "
                             "{choice:a|b} or {choice:a=3|b=1}")
    if last < len(text):
        parts.append(text[last:])
    return parts


def _choices(arg: str, whole: str) -> tuple[list[str], list[float]]:
    options, weights = [], []
    for item in arg.split("|"):
        value, sep, weight = item.rpartition("=") if "=" in item else (item, "", "1")
        try:
            w = float(weight)
        except ValueError:
            raise ValueError(f"{whole}: weight {shown(weight)} of {shown(value)} is not a number") from None
        if not w > 0 or w != w or w == float("inf"):
            raise ValueError(f"{whole}: weight of {shown(value)} must be a positive number, "
                             f"got {shown(weight)}")
        options.append(value)
        weights.append(w)
    if not options or (len(options) == 1 and not options[0]):
        raise ValueError(f"{whole}: needs at least one option, e.g. {{choice:a|b}}")
    return options, weights


def render(parts: list[str | tuple[str, Any]], rng: random.Random, request_id: str,
           keys: int) -> str:
    """Fill a parsed template: plain substitution."""
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        elif part[0] == "id":
            out.append(request_id)
        elif part[0] == "key":
            out.append(f"k{rng.randrange(keys)}")
        else:
            options, weights = part[1]
            out.append(rng.choices(options, weights)[0])
    return "".join(out)


def _template(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {shown(value)}")
    parse_template(value)
    return value


def _path(value: Any) -> str:
    value = _template(value)
    if not value.startswith("/"):
        raise ValueError(f"must start with '/', got {shown(value)}")
    if any(c.isspace() for c in value):
        raise ValueError(f"must not contain spaces (URL-encode them), got {shown(value)}")
    return value


def _method(value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in METHODS:
        raise ValueError(f"must be one of {', '.join(METHODS)}, got {shown(value)}")
    return value.upper()


def _status(value: Any) -> int | str:
    if isinstance(value, bool):
        raise ValueError(f"must be a status code (100-599) or a class such as 2xx, got {shown(value)}")
    if isinstance(value, int):
        if not 100 <= value <= 599:
            raise ValueError(f"must be a status code between 100 and 599, got {shown(value)}")
        return value
    if isinstance(value, str) and STATUS_CLASS.match(value.lower()):
        return value.lower()
    if isinstance(value, str) and value.isdigit():
        return _status(int(value))
    raise ValueError(f"must be a status code (100-599) or a class such as 2xx, got {shown(value)}")


def _headers(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError(f"must be a mapping of header name to value, got {shown(value)}")
    out = {}
    for name, v in value.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", name):
            raise ValueError(f"{shown(name)} is not a valid header name")
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise ValueError(f"{name}: must be a string, got {shown(v)}")
        v = str(v)
        if "\n" in v or "\r" in v:
            raise ValueError(f"{name}: must be one line")
        out[name] = _template(v)
    return out


Template = Annotated[str, BeforeValidator(_template)]
Status = Annotated[int | str, BeforeValidator(_status)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RequestSpec(Strict):
    """One HTTP request: method, path, headers and body are templates."""

    method: Annotated[str, BeforeValidator(_method)] = "POST"
    path: Annotated[str, BeforeValidator(_path)] = "/"
    headers: Annotated[dict[str, str], BeforeValidator(_headers)] = Field(default_factory=dict)
    body: Template | None = None
    json_body: Any = Field(default=None, alias="json",
                           description="A mapping or list sent as JSON; its strings are "
                                       "templates.")
    success: list[Status] = Field(default_factory=lambda: ["2xx"], min_length=1,
                                  description="Status codes (200) or classes (2xx) that "
                                              "count as success.")
    weight: float = Field(default=1.0, gt=0, description="Relative weight among the class's "
                                                         "requests.")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_body(self) -> RequestSpec:
        if self.body is not None and self.json_body is not None:
            raise ValueError("give body or json, not both")
        if self.json_body is not None:
            try:
                _walk_templates(self.json_body)
            except ValueError as exc:
                raise ValueError(f"json: {exc}") from None
        return self

    def succeeded(self, status: int) -> bool:
        return status_matches(self.success, status)


def status_matches(success: list[int | str], status: int) -> bool:
    return any(status == s if isinstance(s, int) else status // 100 == int(s[0])
               for s in success)


def _walk_templates(value: Any) -> None:
    if isinstance(value, str):
        parse_template(value)
    elif isinstance(value, dict):
        for v in value.values():
            _walk_templates(v)
    elif isinstance(value, list):
        for v in value:
            _walk_templates(v)


def _metric_ref(value: Any) -> Any:
    return {"metric": value} if isinstance(value, str) else value


class MetricRef(Strict):
    """A Prometheus metric family by name, optionally filtered by labels, divided by
    ``per`` (e.g. the servers, to turn busy workers into utilization)."""

    metric: Annotated[str, Field(pattern=r"^[A-Za-z_:][A-Za-z0-9_:]*$")]
    labels: dict[str, str] = Field(default_factory=dict)
    per: float = Field(default=1.0, gt=0)


Ref = Annotated[MetricRef, BeforeValidator(_metric_ref)]


class ComponentMetrics(Strict):
    """Which scraped metrics stand for one component of the model."""

    throughput: Ref | None = Field(default=None, description="A counter (its rate).")
    utilization: Ref | None = Field(
        default=None, description="A counter of busy or CPU seconds (its rate) or a busy "
                                  "gauge (its average), divided by `per`.")
    service: Ref | None = Field(default=None, description="A histogram or summary of the "
                                                          "time in the handler (its mean).")
    response: Ref | None = Field(default=None, description="A histogram of waiting plus "
                                                           "service (mean, p95, p99).")


Requests = Annotated[list[RequestSpec], BeforeValidator(
    lambda v: [v] if isinstance(v, dict) else v), Field(min_length=1)]


class RequestMap(BaseModel):
    """The ``requests:`` section: one entry per job class (a request or a list of weighted
    requests) plus the reserved ``keys``, ``overhead`` and ``metrics``."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")],
                             Requests]

    keys: int = Field(default=1000, ge=1, le=MAX_KEYS, description="Key space of {key}.")
    overhead: RequestSpec | None = Field(
        default=None, description="A trivial request whose latency is the fixed "
                                  "client/network overhead.")
    metrics: dict[str, ComponentMetrics] = Field(default_factory=dict)

    @property
    def classes(self) -> dict[str, list[RequestSpec]]:
        return dict(self.__pydantic_extra__ or {})

    def success(self, cls: str) -> list[int | str]:
        """The statuses that count as success for a class (the union of its requests')."""
        out: list[int | str] = []
        for r in self.classes.get(cls, []):
            out += [s for s in r.success if s not in out]
        return out

    def to_locust(self, cls: str) -> dict[str, Any]:
        """The plain JSON the locustfile reads for one class (``overhead``: the overhead
        request)."""
        specs = [self.overhead] if cls == "overhead" else self.classes[cls]
        return {"keys": self.keys, "requests": [
            {"method": r.method, "path": r.path, "headers": r.headers, "body": r.body,
             "json": r.json_body, "success": r.success, "weight": r.weight} for r in specs]}


def default_map(classes: list[str]) -> RequestMap:
    """No map given: one ``POST /`` per class (success 2xx)."""
    return RequestMap.model_validate({c: {"method": "POST", "path": "/"} for c in classes})


def read_requests(data: Any, classes: list[str], nodes: list[str] = (),
                  path: str = "requests") -> RequestMap:
    """Validate a ``requests:`` section against the model's classes and components;
    raise :class:`ModelError` with every problem's field path."""
    if not isinstance(data, dict):
        raise ModelError([Problem(path, f"must be a mapping of job class to request, "
                                        f"got {shown(data)}")])
    try:
        spec = RequestMap.model_validate(data)
    except ValidationError as exc:
        raise ModelError(_problems(exc, path, data)) from None
    problems = check_requests(spec, classes, nodes, path)
    if problems:
        raise ModelError(problems)
    return spec


def check_requests(spec: RequestMap, classes: list[str], nodes: list[str] = (),
                   path: str = "requests") -> list[Problem]:
    """Cross-checks with the model: every class mapped names a class of the model, every
    class of the model is mapped, every component of ``metrics`` is a node."""
    problems = []
    known = ", ".join(classes) or "none"
    for name in spec.classes:
        if name not in classes:
            problems.append(Problem(f"{path}.{name}", f"unknown job class {shown(name)}; the "
                                                      f"model's classes: {known}"))
    for name in classes:
        if name not in spec.classes:
            problems.append(Problem(path, f"job class {shown(name)} has no request; map every "
                                          f"class ({known})"))
    if nodes:
        for name in spec.metrics:
            if name not in nodes:
                problems.append(Problem(f"{path}.metrics.{name}", f"unknown component "
                                        f"{shown(name)}; the model's: {', '.join(nodes)}"))
    return problems


def _problems(exc: ValidationError, path: str, data: dict) -> list[Problem]:
    out = []
    for error in exc.errors():
        loc = [str(p) for p in error["loc"] if not (isinstance(p, str) and p.startswith(
            "function-"))]
        if len(loc) > 1 and loc[1] == "0" and isinstance(data.get(loc[0]), dict):
            loc = loc[:1] + loc[2:]  # one request given as a mapping, not a list
        cause = (error.get("ctx") or {}).get("error")
        kind = error["type"]
        if kind == "value_error":
            message = str(cause) if cause is not None else error["msg"]
        elif kind == "missing":
            message = "is required"
        elif kind == "extra_forbidden":
            message = "unknown key"
        elif kind == "string_pattern_mismatch":
            message = "is not a valid name"
        else:
            message = f"{error['msg'].lower()}, got {shown(error.get('input'))}"
        out.append(Problem(".".join([path, *loc]), message))
    return out

