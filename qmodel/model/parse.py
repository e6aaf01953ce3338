"""Reading model files: safe YAML, schema validation, every problem with its field path."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import FieldError, ModelError, Problem, escape_control, shown
from ..units import TIME_UNITS
from .check import raw_references
from .fields import NODE_BY_KIND
from .files import MAX_MODEL_BYTES, read_bounded
from .spec import NODE_KINDS, UNION_TAGS, ModelSpec

MAX_DEPTH = 32
"""The deepest nesting of a model document (a model needs about 8 levels)."""
MAX_VALUES = 200_000
"""The most values (mappings, lists, scalars) a document may hold once its aliases are
expanded: a few hundred bytes of aliases cannot make a billion values."""


class _PythonLoader(yaml.SafeLoader):
    """The safe loader in pure Python (used when PyYAML is built without libyaml), whose
    composer refuses documents nested deeper than :data:`MAX_DEPTH` as it goes (its
    recursion would otherwise end in a ``RecursionError``)."""

    depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _Refused(f"nested more than {MAX_DEPTH} levels deep",
                               self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


LOADER: type = getattr(yaml, "CSafeLoader", _PythonLoader)
"""The loader :func:`read_yaml` uses: libyaml's (C) when PyYAML has it, about six times
faster on a 100 KB file; its nesting (libyaml stops at 1,000 levels) is bounded by
:func:`_inspect` before anything is built, so both loaders refuse the same files."""


class _Refused(yaml.MarkedYAMLError):
    def __init__(self, problem: str, mark: Any):
        super().__init__(problem=problem, problem_mark=mark)


def read_yaml(text: str, source: str = "<text>") -> Any:
    """Parse YAML text with the safe loader; a syntax error becomes a :class:`ModelError`.

    Bounded: at most :data:`~qmodel.model.files.MAX_MODEL_BYTES` of text, nested at most
    :data:`MAX_DEPTH` deep, at most :data:`MAX_VALUES` values with aliases expanded; a
    key given twice in a mapping is an error at its path (YAML would keep the last).

    >>> read_yaml("nodes: {app: {servers: 8, servers: 1}}")
    Traceback (most recent call last):
    ...
    qmodel.errors.ModelError: nodes.app.servers: is given twice (lines 1 and 1); keep one
    """
    if len(text) > MAX_MODEL_BYTES:
        raise ModelError([Problem("", f"{source}: a model is at most {MAX_MODEL_BYTES // 1024:,}"
                                      f" KiB of text, got {len(text) // 1024:,} KiB")])
    loader = None
    try:
        loader = LOADER(text)
        node = loader.get_single_node()
        if node is not None:
            _inspect(node, source)
        return loader.construct_document(node) if node is not None else None
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: an int beyond Python's limit
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        if problem == "exceeded maximum nesting depth":  # libyaml's limit (1,000), met first
            raise ModelError([Problem("", f"{source}: refused{where}: nested more than "
                                          f"{MAX_DEPTH} levels deep")]) from None
        if isinstance(exc, _Refused):
            raise ModelError([Problem("", f"{source}: refused{where}: {problem}")]) from None
        raise ModelError([Problem("", f"{source}: not valid YAML{where}: "
                                      f"{plain_yaml_error(exc, text)}")]) from None
    finally:
        if loader is not None:
            loader.dispose()


def _inspect(root: yaml.Node, source: str) -> None:
    """Refuse a document nested too deep, an alias bomb, a recursive alias, keys given
    twice and control characters (which would move a terminal's cursor when echoed),
    before anything is built."""
    _bound_depth(root)
    sizes: dict[int, int] = {}
    twice: list[Problem] = []
    inside: set[int] = set()  # the nodes being walked: an alias to one is a cycle

    def walk(node: yaml.Node, path: list[str]) -> int:
        if id(node) in sizes:  # an alias: counted again, checked once
            return sizes[id(node)]
        if id(node) in inside:
            raise _Refused("an alias refers to a node that holds it (a recursive "
                           "structure)", node.start_mark)
        inside.add(id(node))
        total = 1
        if isinstance(node, yaml.MappingNode):
            first: dict[tuple, yaml.Node] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    seen = first.setdefault((key.tag, key.value), key)
                    if seen is not key:
                        twice.append(Problem(".".join(path + [key.value]), (
                            f"is given twice (lines {seen.start_mark.line + 1} and "
                            f"{key.start_mark.line + 1}); keep one")))
                name = key.value if isinstance(key, yaml.ScalarNode) else "?"
                total += walk(key, path) + walk(value, path + [str(name)])
        elif isinstance(node, yaml.SequenceNode):
            total += sum(walk(item, path + [str(i)]) for i, item in enumerate(node.value))
        elif escape_control(node.value) != node.value:
            twice.append(Problem(".".join(path), f"{shown(node.value)}: contains a control "
                                                 "character; remove it"))
        sizes[id(node)] = total
        inside.discard(id(node))
        if total > MAX_VALUES:
            raise _Refused(f"more than {MAX_VALUES:,} values once its aliases are expanded",
                           node.start_mark)
        return total

    walk(root, [])
    if twice:
        raise ModelError(twice)


def _bound_depth(root: yaml.Node) -> None:
    """Refuse a document nested deeper than :data:`MAX_DEPTH`, counted as written (an
    alias is not followed), at the first node too deep; without recursion."""
    seen: set[int] = set()
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if depth > MAX_DEPTH:
            raise _Refused(f"nested more than {MAX_DEPTH} levels deep", node.start_mark)
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = node.value
        else:
            continue
        stack.extend((child, depth + 1) for child in reversed(children))


def read_file(path: str | Path) -> Any:
    """Read and parse a model file; an unreadable file becomes a :class:`ModelError`.
    Only a regular file of at most :data:`~qmodel.model.files.MAX_MODEL_BYTES` is read."""
    path = Path(path)
    try:
        text = read_bounded(path, MAX_MODEL_BYTES).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ModelError([Problem("", f"cannot read {path}: {reason}")]) from None
    return read_yaml(text, str(path))


def validate_spec(data: Any, base_dir: Path | None = None) -> ModelSpec:
    """Validate a model document against the format; raise :class:`ModelError` listing
    every problem."""
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise ModelError([Problem("", f"a model must be a mapping with 'nodes', got {kind}")])
    time_unit = data.get("time_unit", "s")
    if not isinstance(time_unit, str) or time_unit not in TIME_UNITS:
        time_unit = "s"  # reported by the schema; keep parsing the rest
    context = {"time_unit": time_unit, "base_dir": base_dir}
    try:
        return ModelSpec.model_validate(data, context=context)
    except ValidationError as exc:
        # a type error must not hide a broken reference: those are read from the document
        raise ModelError(_dedupe(_problems(exc, data) + list(raw_references(data)))) from None


def _problems(exc: ValidationError, data: dict) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = _strip_tags(list(error["loc"]), data)
        path, message = _describe(error, loc, data)
        problems.append(Problem(path, message))
        cause = (error.get("ctx") or {}).get("error")
        for field, more in getattr(cause, "others", ()):  # a distribution's other problems
            problems.append(Problem(_dotted(loc + field.split(".")), more))
    return _dedupe(problems)


def _strip_tags(loc: list, data: dict) -> list:
    """Drop the discriminator tags pydantic puts after a node name (nodes.app.queue.x)
    and after a field that takes one of several forms (nodes.app.failures.one.mttf)."""
    if len(loc) >= 3 and loc[0] == "nodes" and loc[2] in NODE_KINDS:
        node = (data.get("nodes") or {}).get(loc[1])
        if isinstance(node, dict) and node.get("kind") == loc[2]:
            loc = loc[:2] + loc[3:]
    if len(loc) >= 3 and loc[0] == "requests" and loc[2] == 0 and \
            isinstance((data.get("requests") or {}).get(loc[1]), dict):
        loc = loc[:2] + loc[3:]  # a class's one request, given as a mapping
    return [part for i, part in enumerate(loc)
            if not (i and part in UNION_TAGS.get(loc[i - 1], ()))]


def _dotted(loc: list) -> str:
    return ".".join(str(part) for part in loc)


def _lookup(data: Any, loc: list) -> Any:
    for part in loc:
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return None
    return data


def _describe(error: dict, loc: list, data: dict) -> tuple[str, str]:
    kind, given = error["type"], error.get("input")
    ctx = error.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, FieldError) and cause.field:
        return _dotted(loc + cause.field.split(".")), cause.message
    if kind in ("value_error", "assertion_error"):
        return _dotted(loc), str(cause) if cause is not None else error["msg"]
    if kind == "missing":
        return _dotted(loc), "is required"
    if kind == "extra_forbidden":
        return _dotted(loc), _unknown_key(loc, data)
    if kind == "union_tag_invalid":
        return _dotted(loc + ["kind"]), f"must be one of {', '.join(NODE_KINDS)}, got {shown(ctx.get('tag'))}"
    if kind == "union_tag_not_found":
        if not isinstance(given, dict):
            return _dotted(loc), f"must be a mapping with a kind, got {shown(given)}"
        return _dotted(loc + ["kind"]), f"is required: one of {', '.join(NODE_KINDS)}"
    if kind == "too_long":  # a mapping's length is not counted past the limit (pydantic)
        got = ctx.get("actual_length")
        return _dotted(loc), (f"must have at most {ctx.get('max_length'):,} items, got "
                              + (f"{got:,}" if got is not None else "more"))
    if kind == "literal_error":
        return _dotted(loc), f"must be one of {ctx.get('expected')}, got {shown(given)}"
    if kind == "string_pattern_mismatch":
        return _dotted(loc[:-1]), (
            f"name {shown(given)} must start with a letter or _ and contain only "
            "letters, digits, _ and - (no dots)")
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        op = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=",
              "less_than": "<"}[kind]
        bound = next(iter(ctx.values()), "")
        return _dotted(loc), f"must be {op} {bound}, got {shown(given)}"
    expected = {"dict_type": "a mapping", "list_type": "a list", "string_type": "a string",
                "int_type": "an integer", "int_parsing": "an integer",
                "int_from_float": "a whole number", "float_type": "a number",
                "float_parsing": "a number", "finite_number": "a finite number",
                "bool_type": "true or false",
                "model_type": "a mapping", "model_attributes_type": "a mapping"}.get(kind)
    if expected:
        return _dotted(loc), f"must be {expected}, got {shown(given)}"
    return _dotted(loc), f"{error['msg']}, got {shown(given)}"


def _unknown_key(loc: list, data: dict) -> str:
    allowed = _allowed_keys(loc[:-1], data)
    hint = ""
    if allowed:
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"; did you mean {shown(close[0])}?" if close else f"; allowed: {', '.join(sorted(allowed))}"
    return f"unknown key{hint}"


def _allowed_keys(parent: list, data: dict) -> list[str]:
    from . import spec

    if not parent:
        return list(spec.ModelSpec.model_fields)
    if parent[0] == "nodes" and len(parent) == 2:
        node = _lookup(data, parent)
        kind = node.get("kind") if isinstance(node, dict) else None
        cls = NODE_BY_KIND.get(kind) if isinstance(kind, str) else None
        return list(cls.model_fields) if cls else []
    if parent[0] == "arrivals" and len(parent) == 2:
        return list(spec.OpenClass.model_fields)
    if parent[0] == "users" and len(parent) == 2:
        return list(spec.ClosedClass.model_fields)
    if parent[0] == "batches" and len(parent) == 2:
        return list(spec.BatchClass.model_fields)
    if parent[-1] == "mlfq":
        return list(spec.MLFQ.model_fields)
    if parent[-1] == "failures" or (isinstance(parent[-1], int) and parent[-2] == "failures"):
        return list(spec.Failures.model_fields)  # one block, or one of a list
    if parent[-1] == "rebalance":
        return list(spec.Rebalance.model_fields)
    return []


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for problem in problems:
        if (problem.path, problem.message) not in seen:
            seen.add((problem.path, problem.message))
            out.append(problem)
    return out


_OPENED = {"flow mapping": "{", "flow sequence": "[", "quoted scalar": "quote"}


def plain_yaml_error(exc: Exception, text: str = "") -> str:
    """A YAML parser's complaint (libyaml's or PyYAML's words) as one plain sentence; its
    own words when no rule fits. ``text`` (the document) lets it name the character at
    fault.

    >>> try:
    ...     yaml.load("nodes:\\n  a: {kind: queue\\n  b: 1\\n", Loader=yaml.SafeLoader)
    ... except yaml.YAMLError as exc:
    ...     print(plain_yaml_error(exc))
    the { opened at line 2 is not closed (a missing } or a missing comma)
    """
    problem = str(getattr(exc, "problem", None) or exc)
    context = str(getattr(exc, "context", None) or "")
    opened = getattr(exc, "context_mark", None)
    at = f" at line {opened.line + 1}" if opened is not None else ""
    for kind, bracket in _OPENED.items():
        if context.endswith(kind):
            if bracket == "quote":
                return f"the quoted text opened{at} is not closed (a missing quote)"
            close = "}" if bracket == "{" else "]"
            return f"the {bracket} opened{at} is not closed (a missing {close} or a missing comma)"
    if "mapping values are not allowed" in problem:
        return ("a second ': ' on one line (put a value that contains ': ' in quotes, or "
                "start the nested mapping on a new, indented line)")
    if any(words in problem for words in ("expected <block end>", "expected ':'",
                                          "did not find expected key",
                                          "did not find expected '-'")):
        return ("this line's indentation does not line up with the lines above it (or a line "
                "is not 'key: value')")
    found = _at_mark(text, getattr(exc, "problem_mark", None))
    if "cannot start any token" in problem:
        if found == "\t" or "'\\t'" in problem:
            return "a tab character: indent with spaces"
        what = f"{found!r}" if found and found.isprintable() else "a character"
        return f"{what} cannot start a value here (put the value in quotes)"
    if "undefined alias" in problem:
        return "an *alias with no &anchor before it (put a value starting with * in quotes)"
    if "could not determine a constructor" in problem:
        return "a YAML tag (!!…) that a model file cannot use: model files hold plain values"
    return problem


def _at_mark(text: str, mark: object) -> str:
    """The character of ``text`` at a parser's mark ('' when there is none)."""
    line, column = getattr(mark, "line", None), getattr(mark, "column", None)
    if line is None or column is None:
        return ""
    lines = text.split("\n", line + 1)
    return lines[line][column] if line < len(lines) and column < len(lines[line]) else ""
