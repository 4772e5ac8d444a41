"""Parquet files: attached with their types, copied, or rendered as text."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from loader_support import query, write

from cible.loader import LoadError, load_landing


def test_parquet_typed_columns_keep_their_type_the_others_become_text(
    landing, warehouse, contract
) -> None:
    paris = ZoneInfo("Europe/Paris")
    table = pa.table(
        {
            "EVENT_ID": pa.array(["E1", "E2"]),
            "event_type": pa.array(["page_view", None]),
            "occurred_at": pa.array(
                [
                    datetime(2025, 1, 1, 10, 0, tzinfo=paris),
                    datetime(2025, 7, 1, 0, 0, 1, tzinfo=paris),
                ],
                pa.timestamp("us", tz="Europe/Paris"),
            ),
            "received_at": pa.array(
                [datetime(2025, 1, 1, 10, 0, 5, 500000), None], pa.timestamp("ms")
            ),
            # An integer column with a missing value, as pandas writes it: text, so that a
            # fractional value fails to parse in staging instead of being rounded.
            "duration_ms": pa.array([1500.0, None], pa.float64()),
            "scroll_depth_pct": pa.array([12.5, 40.0], pa.float64()),
            "utm_campaign": pa.array(["x", "y"]),
        }
    )
    pq.write_table(table, landing / "events.parquet")

    report = load_landing(landing, warehouse, contract=contract)

    assert query(
        warehouse,
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'raw' and table_name = 'events' order by ordinal_position",
    ) == [
        ("event_id", "VARCHAR"),
        ("event_type", "VARCHAR"),
        ("occurred_at", "TIMESTAMP WITH TIME ZONE"),
        ("received_at", "TIMESTAMP"),
        ("duration_ms", "VARCHAR"),
        ("scroll_depth_pct", "DOUBLE"),
        ("_source_file", "VARCHAR"),
        ("_source_line", "BIGINT"),
        ("_loaded_at", "TIMESTAMP"),
        ("_load_id", "VARCHAR"),
    ]
    assert query(
        warehouse,
        "select event_id, event_type, timezone('UTC', occurred_at), received_at, duration_ms, "
        "scroll_depth_pct, _source_file, _source_line from raw.events order by _source_line",
    ) == [
        (
            "E1",
            "page_view",
            datetime(2025, 1, 1, 9, 0),
            datetime(2025, 1, 1, 10, 0, 5, 500000),
            "1500",
            12.5,
            "events.parquet",
            1,
        ),
        ("E2", None, datetime(2025, 6, 30, 22, 0, 1), None, None, 40.0, "events.parquet", 2),
    ]
    assert report.source("events").warnings == (
        "events.parquet: ignored column(s) not in the contract: utm_campaign",
    )


def test_parquet_values_become_text_in_a_folder_of_mixed_formats(
    landing, warehouse, contract
) -> None:
    folder = landing / "events"
    write(folder / "part-1.csv", b"event_id,occurred_at\nE1,2025-01-01T10:00:00+01:00\n")
    paris = ZoneInfo("Europe/Paris")
    pq.write_table(
        pa.table(
            {
                "event_id": pa.array(["E2"]),
                "occurred_at": pa.array(
                    [datetime(2025, 7, 1, 0, 0, 1, tzinfo=paris)],
                    pa.timestamp("us", tz="Europe/Paris"),
                ),
                "duration_ms": pa.array([1500], pa.int64()),
                "scroll_depth_pct": pa.array([1e-07], pa.float64()),
            }
        ),
        folder / "part-2.parquet",
    )

    load_landing(landing, warehouse, contract=contract)

    assert query(
        warehouse,
        "select event_id, occurred_at, duration_ms, scroll_depth_pct from raw.events "
        "order by event_id",
    ) == [
        ("E1", "2025-01-01T10:00:00+01:00", None, None),
        ("E2", "2025-06-30T22:00:01.000000Z", "1500", "0.0000001"),
    ]


def test_parquet_files_may_disagree_on_types(landing, warehouse, contract) -> None:
    folder = landing / "events"
    folder.mkdir()
    pq.write_table(
        pa.table({"event_id": pa.array(["E1"]), "duration_ms": pa.array([15], pa.int32())}),
        folder / "a.parquet",
    )
    pq.write_table(
        pa.table({"event_id": pa.array(["E2", "E3"]), "duration_ms": pa.array(["n/a", "7"])}),
        folder / "b.parquet",
    )

    load_landing(landing, warehouse, contract=contract)

    assert query(
        warehouse,
        "select event_id, duration_ms, _source_file, _source_line from raw.events"
        " order by event_id",
    ) == [
        ("E1", "15", "events/a.parquet", 1),
        ("E2", "n/a", "events/b.parquet", 1),
        ("E3", "7", "events/b.parquet", 2),
    ]


def test_an_unreadable_parquet_file_is_a_load_error(landing, warehouse, contract) -> None:
    write(landing / "events.parquet", b"not a parquet file at all")

    with pytest.raises(LoadError, match=r"^events\.parquet: ") as error:
        load_landing(landing, warehouse, contract=contract)

    assert "Traceback" not in str(error.value)


def _damaged(path, how: str) -> None:
    """A valid Parquet file of 60 events, then cut in half or with its data pages garbled."""
    table = pa.table({"event_id": [f"E{n}" for n in range(60)], "duration_ms": [5] * 60})
    pq.write_table(table, path, compression="snappy")
    data = bytearray(path.read_bytes())
    if how == "truncated":
        data = data[: len(data) // 2]
    else:
        for index in range(8, 200):
            data[index] ^= 0x5A
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncated", "corrupt"])
@pytest.mark.parametrize("mode", ["attach", "copy", "mixed"])
def test_a_damaged_parquet_file_is_refused_at_load_with_a_clear_message(
    landing, warehouse, contract, monkeypatch, how, mode
) -> None:
    """A corrupt file passed the attach mode ("60 loaded") and failed later in a dbt test; a
    truncated one showed the loader's SQL (#16, point 5)."""
    monkeypatch.setenv("CIBLE_PARQUET_MODE", "copy" if mode == "copy" else "attach")
    folder = landing / "events"
    folder.mkdir()
    _damaged(folder / "part-1.parquet", how)
    if mode == "mixed":
        write(folder / "part-2.jsonl", b'{"event_id": "E100"}\n')

    with pytest.raises(LoadError) as error:
        load_landing(landing, warehouse, contract=contract)

    message = str(error.value)
    assert message.startswith(
        "events/part-1.parquet: not a readable Parquet file, corrupt or cut short ("
    )
    assert "export it again, or move it out of the landing folder" in message
    assert "LINE 1" not in message and "read_parquet" not in message
    assert message.endswith("Nothing was loaded: the warehouse is as it was.")


def test_parquet_is_attached_by_default_and_copied_on_request(
    landing, warehouse, contract, monkeypatch
) -> None:
    folder = landing / "events"
    folder.mkdir()
    for part, ids in (("a", ["E1", "E2"]), ("b", ["E3"])):
        pq.write_table(
            pa.table({"event_id": pa.array(ids), "duration_ms": pa.array([1] * len(ids))}),
            folder / f"{part}.parquet",
        )
    contents = "select event_id, duration_ms, _source_file, _source_line from raw.events order by 1"
    kind = (
        "select table_type from information_schema.tables "
        "where table_schema = 'raw' and table_name = 'events'"
    )

    types = (
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'raw' and table_name = 'events' order by ordinal_position"
    )

    attached = load_landing(landing, warehouse, contract=contract)
    attached_rows, attached_types = query(warehouse, contents), query(warehouse, types)
    assert query(warehouse, kind) == [("VIEW",)]
    monkeypatch.setenv("CIBLE_PARQUET_MODE", "copy")
    copied = load_landing(landing, warehouse, contract=contract)
    assert query(warehouse, kind) == [("BASE TABLE",)]
    assert query(warehouse, types) == attached_types
    assert ("duration_ms", "BIGINT") in attached_types
    assert (
        query(warehouse, contents)
        == attached_rows
        == [
            ("E1", 1, "events/a.parquet", 1),
            ("E2", 1, "events/a.parquet", 2),
            ("E3", 1, "events/b.parquet", 1),
        ]
    )
    assert attached.source("events").rows_loaded == copied.source("events").rows_loaded == 3
    monkeypatch.setenv("CIBLE_PARQUET_MODE", "attach")
    load_landing(landing, warehouse, contract=contract)
    assert query(warehouse, kind) == [("VIEW",)]


def test_an_unknown_parquet_mode_is_a_clear_error(landing, warehouse, contract, monkeypatch):
    pq.write_table(pa.table({"event_id": pa.array(["E1"])}), landing / "events.parquet")
    monkeypatch.setenv("CIBLE_PARQUET_MODE", "symlink")
    with pytest.raises(ValueError, match="CIBLE_PARQUET_MODE must be one of attach, copy"):
        load_landing(landing, warehouse, contract=contract)
