from __future__ import annotations

from loadtest.refsys import work
from loadtest.refsys.items import Item
from loadtest.refsys.store import ShardStore, read_key, read_totals, shard_of


def test_events_count_once_per_id(tmp_path):
    store = ShardStore(tmp_path / "s-0.sqlite")
    events = [Item(f"e{i}", "events", "k1" if i % 2 else "k2", "a b", 100.0 + i * 0.4,
                   {"words": 2}) for i in range(5)]
    assert store.apply(events) == 5
    assert store.apply(events[:3]) == 0  # redelivered: ignored
    store.close()
    assert read_totals([tmp_path / "s-0.sqlite"]) == {"events_counted": 5, "events_seen": 5}
    windows = read_key([tmp_path / "s-0.sqlite"], "k2")
    assert [w["count"] for w in windows] == [2, 1] and windows[0]["words"] == 4


def test_shard_of_is_stable():
    assert shard_of("customer-42", 4) == shard_of("customer-42", 4)
    assert {shard_of(f"k{i}", 4) for i in range(100)} == {0, 1, 2, 3}


def test_word_count_map_shuffle_reduce():
    parts = [work.map_task("job1", t) for t in range(3)]
    assert sum(sum(p.values()) for p in parts) == 3 * 4000
    merged = {}
    for bucket in work.shuffle(parts, 4):
        merged.update(work.reduce(bucket))
    assert sum(merged.values()) == 12000
    assert work.map_task("job1", 0) == parts[0]  # deterministic input


def test_parse_event_rejects_bad_bodies():
    assert work.parse_event(b'{"key": "k", "payload": "x y"}') == ("k", "x y")
    for body in (b"[1]", b"not json", b'{"key": 3}'):
        try:
            work.parse_event(body)
        except work.BadRecordError:
            continue
        raise AssertionError(body)
