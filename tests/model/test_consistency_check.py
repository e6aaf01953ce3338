"""The ``consistency:`` section: each wrong field is refused at its path with what is wrong,
and a sound one becomes :class:`~qmodel.model.network.Replication` (read branches in order,
each with the write branch that updates it)."""

from __future__ import annotations

import copy

import pytest

import qmodel
from qmodel.errors import ModelError

BASE = {
    "time_unit": "ms",
    "arrivals": {"w": {"to": "put", "rate": "10/s"}, "r": {"to": "get", "rate": "10/s"}},
    "nodes": {
        "put": {"kind": "fork", "branches": ["wa", "wb"], "join": "put_done"},
        "wa": {"kind": "delay", "service": 1, "next": "put_done"},
        "wb": {"kind": "delay", "service": 1, "next": "put_done"},
        "put_done": {"kind": "join"},
        "get": {"kind": "fork", "branches": ["ra", "rb", "rc"], "join": "get_done"},
        "ra": {"kind": "delay", "service": 1, "next": "get_done"},
        "rb": {"kind": "delay", "service": 1, "next": "get_done"},
        "rc": {"kind": "delay", "service": 1, "next": "get_done"},
        "get_done": {"kind": "join", "quorum": 2},
        "pool": {"kind": "fork", "tasks": 3, "task_service": 1, "join": "pool_done"},
        "pool_done": {"kind": "join"},
    },
    "consistency": {"reads": "get_done", "writes": "put", "write_quorum": 1,
                    "replicas": {"rb": "wa", "rc": "wb"}},
}


def model(**section) -> dict:
    data = copy.deepcopy(BASE)
    data["arrivals"]["p"] = {"to": "pool", "rate": "1/s"}
    data["consistency"].update(section)
    return data


def test_a_sound_section_pairs_the_replicas_in_read_branch_order():
    rep = qmodel.Model.from_dict(model()).network.replication
    assert (rep.read_fork, rep.read_join, rep.write_fork, rep.write_quorum) == \
        ("get", "get_done", "put", 1)
    assert rep.updates == (None, "wa", "wb")


@pytest.mark.parametrize(("section", "path", "words"), [
    ({"reads": "get"}, "consistency.reads", "'get' is a fork"),
    ({"reads": "nowhere"}, "consistency.reads", "no such node"),
    ({"reads": "pool_done"}, "consistency.reads", "fork with branches"),
    ({"writes": "put_done"}, "consistency.writes", "'put_done' is a join"),
    ({"writes": "pool"}, "consistency.writes", "runs tasks, not branches"),
    ({"writes": "get"}, "consistency.writes", "other than the read fork"),
    ({"write_quorum": 4}, "consistency.write_quorum", "at most N = 3"),
    ({"write_quorum": 0}, "consistency.write_quorum", ""),
    ({"replicas": {"rz": "wa"}}, "consistency.replicas.rz", "branch of the read fork get"),
    ({"replicas": {"ra": "wz"}}, "consistency.replicas.ra", "branch of the write fork put"),
    ({"replicas": {"ra": "wa", "rb": "wa"}}, "consistency.replicas.rb", "already updates"),
    ({"replicas": {"ra": "wa", "rb": "wb", "rc": "wa", "rd": "wb"}}, "consistency.replicas",
     "at most N = 3"),
])
def test_a_wrong_field_is_refused_at_its_path(section, path, words):
    with pytest.raises(ModelError) as err:
        qmodel.Model.from_dict(model(**section))
    found = {p.path: p.message for p in err.value.problems}
    assert path in found and words in found[path], found
