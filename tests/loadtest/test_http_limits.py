"""The gateway's HTTP limits: bad requests get a 4xx answer, never a 500 or a held
connection (in-process: Starlette's TestClient, and a uvicorn server in a thread)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from loadtest.net import LOOPBACK, free_port
from loadtest.refsys.gateway import GatewayConfig, create_app
from loadtest.refsys.http_limits import MAX_BODY_BYTES, BodyLimits, header_timeout_protocol

from .conftest import TOPOLOGIES


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("gateway")
    app = create_app(GatewayConfig(str(TOPOLOGIES / "web_service.yaml"), str(run_dir)))
    with TestClient(app) as client:
        yield client


def test_a_good_event_still_goes_through(client):
    response = client.post("/events", json={"key": "k", "payload": "a b"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("body, status, says", [
    (b"", 400, "empty body"),
    (b"   ", 400, "empty body"),
    (b"[" * 30_000 + b"]" * 30_000, 400, "nested too deep"),
    (b'{"key": "k", "payload": "' + b"x" * MAX_BODY_BYTES + b'"}', 413, "over 65536 bytes"),
])
def test_bad_bodies_are_4xx(client, body, status, says):
    response = client.post("/events", content=body)
    assert response.status_code == status, response.text
    assert says in response.json()["error"]


def test_an_oversized_content_length_is_refused_before_reading(client):
    response = client.post("/events", content=b"{}", headers={"content-length": "99999999"})
    assert response.status_code == 413


@pytest.mark.parametrize("query", ["since=abc", "since=nan", "until=inf", "since=1e999"])
def test_bad_metrics_window_is_400(client, query):
    response = client.get(f"/metrics?{query}")
    assert response.status_code == 400, response.text
    assert "not a finite number" in response.json()["error"]


def test_a_body_sent_too_slowly_is_408():
    async def app(scope, receive, send):
        raise AssertionError("the application saw a body that never finished")

    chunks = [{"type": "http.request", "body": b"{", "more_body": True}]

    async def receive() -> dict:
        if chunks:
            return chunks.pop()
        await asyncio.sleep(3600)  # the rest never comes
        raise AssertionError

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(BodyLimits(app, timeout_s=0.2)({"type": "http", "headers": []}, receive, send))
    assert sent[0]["status"] == 408


def test_headers_sent_too_slowly_close_the_connection():
    """Slowloris: a client that never finishes its headers is cut off at the deadline,
    while a prompt request on another connection is answered."""
    app = Starlette(routes=[Route("/", lambda request: PlainTextResponse("ok"))])
    port = free_port()
    config = uvicorn.Config(app, host=LOOPBACK, port=port, log_level="error",
                            http=header_timeout_protocol(0.3), lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        slow = socket.create_connection((LOOPBACK, port), timeout=5)
        slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        start = time.monotonic()
        with socket.create_connection((LOOPBACK, port), timeout=5) as prompt:
            prompt.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert prompt.recv(100).startswith(b"HTTP/1.1 200")
        assert slow.recv(100) == b""  # closed by the server
        assert 0.2 < time.monotonic() - start < 3
        slow.close()
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.mark.parametrize("query", ["", "?id=", "?id=" + "a" * 81, "?id=%1b%5b2J", "?id=a%20b",
                                   "?id=../x"])
def test_a_bad_cancel_id_is_400(client, query):
    response = client.post("/cancel" + query)
    assert response.status_code == 400 and "id: must be" in response.json()["error"]


def test_cancelling_an_unknown_request_says_so(client):
    response = client.post("/cancel?id=not-inside")
    assert response.status_code == 200 and response.json() == {"id": "not-inside",
                                                                 "cancelled": False}
