"""The gateway's HTTP limits: a body size limit (413), a body read timeout (408) and a
header read timeout (the connection is closed).

uvicorn bounds the header *size* (``h11_max_incomplete_event_size``) and the idle time
between requests (``timeout_keep_alive``), but not the time a client takes to send its
headers: a client sending one header byte a second holds a connection forever
(slowloris). :func:`header_timeout_protocol` adds that deadline to uvicorn's h11
protocol; :class:`BodyLimits` reads the body, whole, under a size limit and a deadline,
before the application sees the request.
"""

from __future__ import annotations

import asyncio
import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_BODY_BYTES = 64 * 1024
BODY_TIMEOUT_S = 10.0
HEADER_TIMEOUT_S = 10.0


def header_timeout_protocol(timeout_s: float = HEADER_TIMEOUT_S) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a deadline of ``timeout_s`` for a request's headers,
    counted from the connection (or the previous response): pass it as
    ``uvicorn.run(..., http=...)``. Late, the connection is closed."""

    class HeaderTimeoutProtocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(timeout_s, self._expired)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _expired(self) -> None:
            self._header_timer = None
            # IDLE: this request's headers are not all in (a whole request moves h11 on)
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

    return HeaderTimeoutProtocol


class BodyLimits:
    """ASGI middleware: a request body over ``max_bytes`` is answered 413 (by its
    ``Content-Length`` before reading, else as soon as it grows past), one not received
    within ``timeout_s`` 408; otherwise the application gets the body as one message.

    >>> BodyLimits(app=None).max_bytes
    65536
    """

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES,
                 timeout_s: float = BODY_TIMEOUT_S):
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await _answer(send, 413, f"request body over {self.max_bytes} bytes")
            return
        try:
            async with asyncio.timeout(self.timeout_s):
                body = await self._read(receive)
        except TimeoutError:
            await _answer(send, 408, f"request body not received within {self.timeout_s:g} s")
            return
        if body is None:
            await _answer(send, 413, f"request body over {self.max_bytes} bytes")
            return
        delivered = False

        async def replay() -> dict:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect

        await self.app(scope, replay, send)

    async def _read(self, receive) -> bytes | None:
        """The whole body, or None once it exceeds ``max_bytes``."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


async def _answer(send, status: int, error: str) -> None:
    body = json.dumps({"error": error}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
