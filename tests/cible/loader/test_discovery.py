"""Finding each source's files: single files, folders, missing sources."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from loader_support import assert_reconciled, query, rejects, write

from cible.contract import LOAD_METADATA_COLUMNS, load_contract
from cible.loader import LoadError, load_landing


def test_folder_of_mixed_parts(landing, warehouse, contract) -> None:
    folder = landing / "events"
    write(folder / "part-1.csv", b"event_id,event_type\nE1,page_view\nE2,scroll\n")
    write(folder / "2025" / "part-2.jsonl.gz", gzip.compress(b'{"event_id": "E3"}\nnot json\n'))
    pq.write_table(pa.table({"event_id": pa.array(["E4"])}), folder / "part-3.parquet")
    write(folder / "_SUCCESS", b"")
    write(folder / ".DS_Store", b"\x00")
    write(folder / "notes.txt", b"hello")

    report = load_landing(landing, warehouse, contract=contract)

    assert query(
        warehouse,
        "select event_id, _source_file, _source_line from raw.events order by event_id",
    ) == [
        ("E1", "events/part-1.csv", 2),
        ("E2", "events/part-1.csv", 3),
        ("E3", "events/2025/part-2.jsonl.gz", 1),
        ("E4", "events/part-3.parquet", 1),
    ]
    assert rejects(warehouse, "events") == [
        ("events/2025/part-2.jsonl.gz", 2, "malformed_json", "not json")
    ]
    load_id = report.load_id
    assert query(
        warehouse,
        "select source_file, file_format, rows_loaded, rows_rejected, bytes > 0 "
        f"from raw._load_files where load_id = '{load_id}' and source = 'events' order by 1",
    ) == [
        ("events/2025/part-2.jsonl.gz", "jsonl", 1, 1, True),
        ("events/part-1.csv", "csv", 2, 0, True),
        ("events/part-3.parquet", "parquet", 1, 0, True),
    ]
    assert any("notes.txt" in warning for warning in report.source("events").warnings)
    assert report.source("events").rows_loaded == 4
    assert report.source("events").rows_rejected == 1
    assert_reconciled(report)


def test_a_file_and_a_folder_for_one_source_are_ambiguous(landing, warehouse, contract):
    write(landing / "orders" / "part-1.csv", b"order_id,customer_number\nO2,C1\n")

    with pytest.raises(LoadError, match=r"'orders' is ambiguous: .* holds orders/, orders\.csv"):
        load_landing(landing, warehouse, contract=contract)


def test_missing_optional_source_gives_an_empty_table_with_the_contract_columns(
    tmp_path: Path, warehouse: Path
) -> None:
    contract = load_contract()  # the project's own contract
    landing = tmp_path / "project_landing"
    for name in ("customers", "orders"):
        spec = contract[name]
        header = ",".join(spec.required_columns)
        values = ",".join(f"x{i}" for i in range(len(spec.required_columns)))
        write(landing / f"{name}.csv", f"{header}\n{values}\n".encode())

    report = load_landing(landing, warehouse)

    for name, spec in contract.items():
        columns = query(
            warehouse,
            "select column_name, data_type from information_schema.columns "
            f"where table_schema = 'raw' and table_name = '{name}' order by ordinal_position",
        )
        assert [column for column, _ in columns] == [*spec.column_names, *LOAD_METADATA_COLUMNS]
        assert {kind for column, kind in columns[: len(spec.columns)]} == {"VARCHAR"}
        assert [kind for _, kind in columns[len(spec.columns) :]] == [
            "VARCHAR",
            "BIGINT",
            "TIMESTAMP",
            "VARCHAR",
        ]
        expected_rows = 1 if spec.required else 0
        assert query(warehouse, f"select count(*) from raw.{name}") == [(expected_rows,)]
        assert report.source(name).found is spec.required


def test_missing_required_source_names_the_expected_file(
    tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = tmp_path / "landing"
    write(landing / "customers.csv", b"customer_number\nC1\n")
    monkeypatch.chdir(tmp_path)

    with pytest.raises(LoadError) as error:
        load_landing(landing, warehouse)

    assert str(error.value) == (
        "required source 'orders' not found: expected landing/orders.csv, .parquet or .jsonl, "
        "or a folder landing/orders/"
    )
    assert not warehouse.exists()


def test_unknown_source_is_refused(landing, warehouse, contract) -> None:
    with pytest.raises(LoadError, match="unknown source"):
        load_landing(landing, warehouse, contract=contract, sources=["nope"])
