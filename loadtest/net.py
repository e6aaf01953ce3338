"""Loopback helpers: free ports and waiting for a server to answer."""

from __future__ import annotations

import socket
import time

import httpx

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout_s: float, alive=lambda: True) -> httpx.Response:
    """Poll ``url`` until it answers 200; raise TimeoutError (or RuntimeError when
    ``alive()`` turns false, e.g. the server process died)."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"server died before {url} answered (last: {last})")
        try:
            response = httpx.get(url, timeout=2.0)
            if response.status_code == 200:
                return response
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer 200 within {timeout_s:g} s (last: {last})")
