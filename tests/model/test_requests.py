"""The request map (``requests:``): its format, field-path errors, the cross-checks with
the model's classes and components, and the template renderer."""

from __future__ import annotations

import random

import pytest

import qmodel
from qmodel.errors import ModelError
from qmodel.model.requests import parse_template, read_requests, render, status_matches

BASE = {"nodes": {"app": {"kind": "queue", "servers": 4, "service": "20ms"}},
        "arrivals": {"web": {"to": "app", "rate": "100/s"}}}


def errors(section, classes=("web",), nodes=("app",)) -> list[str]:
    with pytest.raises(ModelError) as info:
        read_requests(section, list(classes), list(nodes))
    return [str(p) for p in info.value.problems]


def test_a_full_map_reads_with_defaults():
    m = read_requests({
        "keys": 50, "overhead": {"method": "get", "path": "/noop"},
        "web": [{"weight": 3, "path": "/items/{key}", "method": "GET"},
                {"path": "/items", "json": {"id": "{id}", "tags": ["{choice:a|b}"]},
                 "success": [201, "4xx"]}],
        "metrics": {"app": {"throughput": "work_requests_total",
                            "utilization": {"metric": "busy_seconds_total", "per": 4}}}},
        ["web"], ["app"])
    first, second = m.classes["web"]
    assert (first.method, first.success, first.weight) == ("GET", ["2xx"], 3.0)
    assert second.method == "POST" and second.json_body["tags"] == ["{choice:a|b}"]
    assert m.overhead.method == "GET" and m.keys == 50
    assert m.metrics["app"].utilization.per == 4
    assert m.success("web") == ["2xx", 201, "4xx"]
    assert m.to_locust("web")["requests"][1]["json"] == {"id": "{id}", "tags": ["{choice:a|b}"]}


def test_field_paths_of_bad_requests():
    assert errors({"web": {"path": "x"}}) == ["requests.web.path: must start with '/', got 'x'"]
    assert errors({"web": [{"path": "/a"}, {"path": "b"}]}) == [
        "requests.web.1.path: must start with '/', got 'b'"]
    assert errors({"web": {"method": "FETCH"}}) == [
        "requests.web.method: must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, "
        "got 'FETCH'"]
    assert errors({"web": {"pth": "/"}}) == ["requests.web.pth: unknown key"]
    assert errors({"web": {"path": "/", "headers": {"X-A": "a\nb"}}}) == [
        "requests.web.headers: X-A: must be one line"]


def test_bad_placeholders_are_named():
    assert errors({"web": {"path": "/{foo}"}}) == [
        "requests.web.path: unknown placeholder '{foo}': use {id}, {key}, {choice:a|b} or "
        "{choice:a=3|b=1}"]
    assert errors({"web": {"body": "{choice:a=x|b}"}}) == [
        "requests.web.body: {choice:a=x|b}: weight 'x' of 'a' is not a number"]
    assert errors({"web": {"body": "{choice:a=0}"}}) == [
        "requests.web.body: {choice:a=0}: weight of 'a' must be a positive number, got '0'"]
    assert errors({"web": {"json": {"a": ["{id:x}"]}}}) == [
        "requests.web: json: unknown placeholder '{id:x}': use {id}, {key}, {choice:a|b} or "
        "{choice:a=3|b=1}"]
    assert errors({"web": {"body": "x", "json": {}}}) == [
        "requests.web: give body or json, not both"]


def test_bad_statuses():
    assert errors({"web": {"success": [700, "6xx", True, "ok"]}}) == [
        "requests.web.success.0: must be a status code between 100 and 599, got 700",
        "requests.web.success.1: must be a status code (100-599) or a class such as 2xx, "
        "got '6xx'",
        "requests.web.success.2: must be a status code (100-599) or a class such as 2xx, "
        "got True",
        "requests.web.success.3: must be a status code (100-599) or a class such as 2xx, "
        "got 'ok'"]
    assert status_matches(["2xx", 404], 204) and status_matches(["2xx", 404], 404)
    assert not status_matches(["2xx", 404], 500) and not status_matches(["2xx"], 0)


def test_unknown_and_missing_classes_and_components_are_named():
    assert errors({"wbe": {"path": "/"}}, ["web", "api"]) == [
        "requests.wbe: unknown job class 'wbe'; the model's classes: web, api",
        "requests: job class 'web' has no request; map every class (web, api)",
        "requests: job class 'api' has no request; map every class (web, api)"]
    assert errors({"web": {}, "metrics": {"db": {"throughput": "x_total"}}}) == [
        "requests.metrics.db: unknown component 'db'; the model's: app"]


def test_the_section_in_a_model_file():
    model = qmodel.Model.from_dict(BASE | {"requests": {"web": {"path": "/work"}}})
    assert model.spec.requests.classes["web"][0].path == "/work"
    with pytest.raises(ModelError) as info:
        qmodel.Model.from_dict(BASE | {"requests": {"web": {"path": "work"}}})
    assert str(info.value) == "requests.web.path: must start with '/', got 'work'"
    with pytest.raises(ModelError) as info:
        qmodel.Model.from_dict(BASE | {"requests": {"api": {}}})
    assert "requests.api: unknown job class 'api'; the model's classes: web" in str(info.value)


def test_render_is_plain_substitution():
    parts = parse_template('{"id": "{id}", "k": "{key}", "c": "{choice:a=1|b=0.0001}", '
                           '"x": "{__import__}x"}'.replace("{__import__}", ""))
    text = render(parts, random.Random(3), "r-7", 5)
    assert text.startswith('{"id": "r-7", "k": "k') and '"c": "a"' in text
    keys = {render(parse_template("{key}"), rng, "", 3) for rng in
            [random.Random(i) for i in range(50)]}
    assert keys == {"k0", "k1", "k2"}
    with pytest.raises(ValueError):
        parse_template("{__class__}")
