"""JSON lines files: objects, line numbers and rejects."""

from __future__ import annotations

import pytest
from loader_support import query, rejects, write

from cible.loader import LoadError, load_landing


def test_jsonl_rows_line_numbers_and_rejects(landing, warehouse, contract) -> None:
    write(
        landing / "events.jsonl",
        b'{"event_id": "E1", "Event_Type": "page_view", "occurred_at": '
        b'"2025-01-01T10:00:00+01:00", "duration_ms": 1500, "utm": "x"}\n'  # 1
        b"\n"  # 2 blank
        b'{"event_id": "E2", broken\n'  # 3
        b"[1, 2]\n"  # 4
        b'{"event_id": "E3", "event_type": "caf\xe9"}\n'  # 5 latin-1
        b'  {"EVENT_ID": "E4", "scroll_depth_pct": 12.5, "event_type": {"nested": [1]}}  \n'  # 6
        b'{"event_id": "E5", "event_type": "\xc3\x89t\xc3\xa9", "duration_ms": null}\n',  # 7
    )

    report = load_landing(landing, warehouse, contract=contract)

    rows = query(
        warehouse,
        "select event_id, event_type, occurred_at, duration_ms, scroll_depth_pct, "
        "_source_file, _source_line from raw.events order by _source_line",
    )
    assert rows == [
        ("E1", "page_view", "2025-01-01T10:00:00+01:00", "1500", None, "events.jsonl", 1),
        ("E4", '{"nested":[1]}', None, None, "12.5", "events.jsonl", 6),
        ("E5", "Été", None, None, None, "events.jsonl", 7),
    ]
    assert rejects(warehouse, "events") == [
        ("events.jsonl", 3, "malformed_json", '{"event_id": "E2", broken'),
        ("events.jsonl", 4, "malformed_json", "[1, 2]"),
        ("events.jsonl", 5, "malformed_line", '{"event_id": "E3", "event_type": "café"}'),
    ]
    (file,) = report.source("events").files
    assert (file.rows_in_file, file.rows_loaded, file.rows_rejected) == (6, 3, 3)
    assert report.source("events").warnings == (
        "events.jsonl: ignored column(s) not in the contract: utm",
        "events.jsonl: 1 line(s) not valid UTF-8, rejected: if the file was saved as "
        "Windows-1252 or latin-1, save it as UTF-8",
    )


def test_json_array_file_is_refused(landing, warehouse, contract) -> None:
    write(landing / "events.json", b'[{"event_id": "E1"}]\n')

    with pytest.raises(LoadError, match=r"events\.json: holds a JSON array"):
        load_landing(landing, warehouse, contract=contract)
