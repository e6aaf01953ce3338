"""Reading a file a model names (the model file itself, an empirical distribution's CSV):
a regular file only, bounded in size, never blocking on a FIFO or a device."""

from __future__ import annotations

import os
import stat
from pathlib import Path

MAX_MODEL_BYTES = 1 << 20
"""The largest model file (1 MiB); a model a person writes is a few KB."""
MAX_DATA_BYTES = 16 << 20
"""The largest data file a model names (16 MiB of samples)."""


def read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; otherwise an ``OSError``
    whose ``strerror`` says why (a FIFO, a device or a directory is refused unopened: the
    open does not block, nothing is read from it).

    >>> read_bounded(Path("/dev/zero"), 10)
    Traceback (most recent call last):
    ...
    OSError: [Errno 22] not a regular file (a device, FIFO or directory): '/dev/zero'
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(22, "not a regular file (a device, FIFO or directory)", str(path))
        if info.st_size > limit:
            raise OSError(27, f"larger than {limit // 1024:,} KiB", str(path))
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise OSError(27, f"larger than {limit // 1024:,} KiB", str(path))
    return data
