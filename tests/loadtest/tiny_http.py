"""A tiny, fast HTTP/1.1 server for load-generator tests (asyncio protocol, keep-alive).

    python tests/loadtest/tiny_http.py PORT [DELAY_MS]

Every request is answered ``200 ok`` after ``DELAY_MS`` (default 0; exponential with
that mean when negative is not allowed: a fixed delay). ``GET /__count`` answers the
number of requests served so far and the time of the first and last one (epoch
seconds), as JSON; it is not counted itself.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
STATE = {"count": 0, "first": None, "last": None}


class Http(asyncio.Protocol):
    def __init__(self, delay_s: float):
        self.delay_s = delay_s
        self.buffer = b""

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip() or 0)
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length:]
            if head.startswith(b"GET /__count"):
                body = json.dumps(STATE).encode()
                self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                continue
            now = time.time()
            STATE["count"] += 1
            STATE["first"] = STATE["first"] or now
            STATE["last"] = now
            if self.delay_s > 0:
                asyncio.get_running_loop().call_later(self.delay_s, self._answer)
            else:
                self.transport.write(OK)

    def _answer(self) -> None:
        if not self.transport.is_closing():
            self.transport.write(OK)


async def main(port: int, delay_s: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Http(delay_s), "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.0))
