"""The rate profile a load run follows, as a file for locust's ``--profile-file``.

The harness writes a model class's :class:`~qmodel.model.profiles.RateProfile` as the
profile mapping of a model file (seconds, per second: :meth:`RateProfile.to_spec`);
locust reads it back with the model's own parser, so the dispatcher's rate at each
instant is the simulator's (:func:`qmodel.sim.arrivals.thinned` draws both). The file is
read bounded, and a bad one is refused with a one-line reason.
"""

from __future__ import annotations

import json
from pathlib import Path

from qmodel.errors import QModelError
from qmodel.model.profiles import RateProfile, parse

from .jsonfile import read_json_object

MAX_PROFILE_FILE = 1024 * 1024
"""The largest ``--profile-file`` (a model's ``file`` profile is capped at about this)."""


def write_profile_file(path: str | Path, profile: RateProfile) -> Path:
    """Write ``profile`` to ``path`` (JSON) and return the path.

    >>> import tempfile
    >>> p = parse({"profile": "step", "from": 10, "to": 30, "at": 5})
    >>> out = write_profile_file(Path(tempfile.mkdtemp()) / "p.json", p)
    >>> read_profile_file(out).rate_at([4.0, 6.0]).tolist()
    [10.0, 30.0]
    """
    path = Path(path)
    path.write_text(json.dumps(profile.to_spec()))
    return path


def read_profile_file(path: str | Path) -> RateProfile:
    """The profile in ``path``: a JSON object of at most :data:`MAX_PROFILE_FILE` bytes
    that the model's profile parser accepts (times in seconds, rates per second); a
    ``ValueError`` naming what is wrong otherwise."""
    doc = read_json_object(path, MAX_PROFILE_FILE, "a rate profile")
    if doc.get("profile") == "file":
        raise ValueError("must hold the profile's points, not name another file")
    try:
        return parse(doc)
    except QModelError as exc:
        raise ValueError(str(exc)) from None
