"""locust's --client-file: a bad file is a one-line exit, never a traceback. Run in a
subprocess: importing the locustfile patches the process with gevent."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHECK = ("import sys; from loadtest.locustfile import _client_spec; "
         "print(_client_spec(sys.argv[1]))")


@pytest.mark.parametrize(("content", "says"), [
    (b"{not json", "cannot read"), (b"[1, 2]", "must hold a JSON object"),
    (b"[" * 100_000 + b"]" * 100_000, "cannot read"), (b"{}" + b" " * 70_000, "more than 64 KiB"),
    (None, "cannot read"), (b'{"timeout": NaN}', "NaN is not a number"),
    (b'{"timeout": Infinity}', "Infinity is not a number"), (b'{"timeout": 0.05}', None)])
def test_a_bad_client_file_exits_with_its_reason(tmp_path, content, says):
    path = tmp_path / "client.json"
    if content is not None:
        path.write_bytes(content)
    done = subprocess.run([sys.executable, "-c", CHECK, str(path)], capture_output=True,
                          text=True, timeout=120)
    if says is None:
        assert done.returncode == 0, done.stderr
        return
    assert done.returncode != 0 and says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
