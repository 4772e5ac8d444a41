"""The landing of live lines on a real Redis: a worker that died between a file's rename and
its marks finds them again at its start, refused items (whose id is not in their line)
included, and a start never fails on the files of the folder."""

from __future__ import annotations

import json

import pytest

from cible.live.config import load_live_config
from cible.live.landing import IDS_SUFFIX, LIVE_PREFIX, QUARANTINE_PREFIX, Lander
from cible.live.store import Store

pytestmark = pytest.mark.xdist_group("live_landing")


@pytest.fixture
def store(redis_server, tmp_path):
    config_path = tmp_path / "live.yml"
    config_path.write_text(f"store: {{key_prefix: landing-{tmp_path.name}}}\n")
    return Store.connect(redis_server.url, load_live_config(config_path))


def event_line(event_id: str) -> str:
    return json.dumps({"event_id": event_id, "event_type": "page_view"})


def test_a_crash_between_rename_and_marks_is_recovered_for_both_kinds(store, tmp_path):
    landing = tmp_path / "landing"
    lander = Lander(landing, "w0", store)
    # A refused line carries no id of the broker's message: [marker, reason, ...] or the event.
    refused = json.dumps(["cible_collector_rejected", "unknown_event_type", "x", "t", {}])
    lander._write(LIVE_PREFIX, [event_line("e-1"), event_line("e-2")])
    lander._write(QUARANTINE_PREFIX, [refused], ["q:m-1"])
    # A crash here: files renamed into place, nothing marked.
    assert lander.landed(["e-1", "e-2", "q:m-1"]) == set()
    # And a refused file whose write never completed: only its ids file exists.
    orphan = landing / "events" / f".{QUARANTINE_PREFIX}w0-20261207T101010000000-000009.jsonl"
    orphan.with_name(orphan.name + IDS_SUFFIX).write_text(json.dumps(["q:m-2"]))
    # Another worker's ids file is left alone (it may be between its two writes).
    other = landing / "events" / f".{QUARANTINE_PREFIX}w0-b-20261207T101010000000-000001.jsonl"
    other.with_name(other.name + IDS_SUFFIX).write_text(json.dumps(["q:m-3"]))

    again = Lander(landing, "w0", store)
    assert again.recover() == 3
    assert again.landed(["e-1", "e-2", "q:m-1", "q:m-2", "q:m-3"]) == {"e-1", "e-2", "q:m-1"}
    hidden = sorted(p.name for p in (landing / "events").glob(f".*{IDS_SUFFIX}"))
    assert hidden == [other.name + IDS_SUFFIX]

    # The redelivered messages change nothing; the one never written is written now.
    again.add(LIVE_PREFIX, "e-1", event_line("e-1"))
    again.add(QUARANTINE_PREFIX, "q:m-1", refused)
    again.add(QUARANTINE_PREFIX, "q:m-2", refused)
    written = again.flush()
    assert len(written) == 1 and written[0].name.startswith(QUARANTINE_PREFIX)
    assert written[0].read_text().splitlines() == [refused]
    assert sorted(p.name for p in (landing / "events").glob(f".*{IDS_SUFFIX}")) == hidden


def test_a_flush_leaves_no_ids_file_and_marks_everything(store, tmp_path):
    lander = Lander(tmp_path / "landing", "w1", store)
    lander.add(LIVE_PREFIX, "e-9", event_line("e-9"))
    lander.add(QUARANTINE_PREFIX, "q:m-9", '{"event_type": 3}')
    assert len(lander.flush()) == 2
    assert lander.landed(["e-9", "q:m-9"]) == {"e-9", "q:m-9"}
    assert list((tmp_path / "landing" / "events").glob(".*")) == []
