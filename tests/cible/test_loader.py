"""The loader on small hand-written landing files and real DuckDB warehouses."""

from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cible.contract import LOAD_METADATA_COLUMNS, SourceSpec, load_contract
from cible.loader import LoadError, LoadReport, _physical_lines, load_landing, main

# A small contract of our own, so that these tests do not move with the project's.
DEMO_SOURCES = """
version: 2
sources:
  - name: crm
    tables:
      - name: customers
        meta: {cible: {landing: customers, required: true, key: [customer_number]}}
        columns:
          - {name: customer_number, data_type: text, meta: {cible: {required: true}}}
          - {name: email, data_type: text}
          - {name: city, data_type: text}
          - {name: created_at, data_type: timestamp}
  - name: shop
    tables:
      - name: orders
        meta: {cible: {landing: orders, required: true, key: [order_id]}}
        columns:
          - {name: order_id, data_type: text, meta: {cible: {required: true}}}
          - {name: customer_number, data_type: text, meta: {cible: {required: true}}}
          - {name: amount, data_type: numeric}
  - name: web
    tables:
      - name: events
        meta: {cible: {landing: events, required: false, key: [event_id]}}
        columns:
          - {name: event_id, data_type: text, meta: {cible: {required: true}}}
          - {name: event_type, data_type: text}
          - {name: occurred_at, data_type: timestamp}
          - {name: received_at, data_type: timestamp}
          - {name: duration_ms, data_type: integer}
          - {name: scroll_depth_pct, data_type: numeric}
"""

EVENTS_COLUMNS = [
    "event_id",
    "event_type",
    "occurred_at",
    "received_at",
    "duration_ms",
    "scroll_depth_pct",
]


@pytest.fixture
def contract(tmp_path: Path) -> dict[str, SourceSpec]:
    folder = tmp_path / "dbt" / "models" / "staging" / "demo"
    folder.mkdir(parents=True)
    (folder / "_demo__sources.yml").write_text(DEMO_SOURCES, encoding="utf-8")
    return load_contract(tmp_path / "dbt")


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    """A landing folder with valid, tiny customers and orders files."""
    folder = tmp_path / "landing"
    folder.mkdir()
    write(folder / "customers.csv", b"customer_number,email\nC1,a@example.fr\n")
    write(folder / "orders.csv", b"order_id,customer_number,amount\nO1,C1,10.00\n")
    return folder


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "warehouse" / "cible.duckdb"


def write(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def rejects(warehouse: Path, source: str) -> list[tuple]:
    return query(
        warehouse,
        "select source_file, source_line, reason, payload from raw._load_rejects "
        f"where source = '{source}' order by source_file, source_line",
    )


def assert_reconciled(report: LoadReport) -> None:
    for source in report.sources:
        for file in source.files:
            assert file.rows_in_file == file.rows_loaded + file.rows_rejected, file


# ---------------------------------------------------------------------------------------- CSV


def test_csv_rows_line_numbers_and_rejects(landing, warehouse, contract) -> None:
    write(
        landing / "customers.csv",
        b" Customer_Number , EMAIL,city,created_at,loyalty_tier\n"  # 1 header, odd case
        b"C1,ana@example.fr,Paris,2025-01-01T10:00:00+01:00,gold\n"  # 2
        b"\n"  # 3 blank
        b'C2,"Dupont, Jean",Lyon,,silver\n'  # 4 quoted comma
        b"C3,zo\xc3\xa9@example.fr,Besan\xc3\xa7on,,\n"  # 5 accents (UTF-8)
        b"C4,b\xe9atrice@example.fr,Metz,,\n"  # 6 latin-1: rejected
        b"C5,too,many,fields,x,y\n"  # 7 rejected
        b"C6,short\n"  # 8 rejected
        b'C7,"two\n'  # 9 a quoted field over two lines
        b'lines",Caen,,\n'  # 10
        b'C8,"say ""hi""",Nice,,\n'  # 11 escaped quotes
        b"C9,\xc3\x89lise \xe2\x80\x99O,Brest,,\n"  # 12 UTF-8 bytes in 0x80-0x9F
        b"C10,l\x92apostrophe,Brest,,\n"  # 13 Windows-1252: rejected
        b"C11,last,Brest,,",  # 14 no final newline
    )

    report = load_landing(landing, warehouse, contract=contract)

    rows = query(
        warehouse,
        "select customer_number, email, city, created_at, _source_file, _source_line "
        "from raw.customers order by _source_line",
    )
    assert rows == [
        ("C1", "ana@example.fr", "Paris", "2025-01-01T10:00:00+01:00", "customers.csv", 2),
        ("C2", "Dupont, Jean", "Lyon", None, "customers.csv", 4),
        ("C3", "zoé@example.fr", "Besançon", None, "customers.csv", 5),
        ("C7", "two\nlines", "Caen", None, "customers.csv", 9),
        ("C8", 'say "hi"', "Nice", None, "customers.csv", 11),
        ("C9", "Élise ’O", "Brest", None, "customers.csv", 12),
        ("C11", "last", "Brest", None, "customers.csv", 14),
    ]
    # The payload of a badly encoded line reads its bytes as Windows-1252.
    assert rejects(warehouse, "customers") == [
        ("customers.csv", 6, "malformed_line", "C4,béatrice@example.fr,Metz,,"),
        ("customers.csv", 7, "malformed_line", "C5,too,many,fields,x,y"),
        ("customers.csv", 8, "malformed_line", "C6,short"),
        ("customers.csv", 13, "malformed_line", "C10,l’apostrophe,Brest,,"),
    ]
    details = query(
        warehouse,
        "select error_detail from raw._load_rejects where source = 'customers' "
        "order by source_line",
    )
    assert details[0][0].startswith("invalid encoding: ")
    assert details[1][0] == "too many columns: Expected Number of Columns: 5 Found: 6"
    assert details[2][0] == "missing columns: Expected Number of Columns: 5 Found: 2"
    (file,) = report.source("customers").files
    assert (file.rows_in_file, file.rows_loaded, file.rows_rejected) == (11, 7, 4)
    assert file.reconciled
    assert report.source("customers").warnings == (
        "customers.csv: ignored column(s) not in the contract: loyalty_tier",
        "customers.csv: 2 line(s) not valid UTF-8, rejected: if the file was saved as "
        "Windows-1252 or latin-1, save it as UTF-8",
    )


def test_csv_unterminated_quote_keeps_the_lines_it_swallows(landing, warehouse, contract):
    write(
        landing / "customers.csv",
        b"customer_number,email,city\n"
        b"C1,a@x.fr,Paris\n"
        b'C2,"unterminated,Lyon\n'  # 3: the quote runs on ...
        b"C3,c@x.fr,Nice\n"
        b'C4,"d@x.fr",Metz\n'  # ... to the next quote, on line 5
        b"C5,e@x.fr,Caen\n",
    )

    report = load_landing(landing, warehouse, contract=contract)

    assert query(
        warehouse, "select customer_number, _source_line from raw.customers order by 2"
    ) == [("C1", 2), ("C5", 6)]
    assert rejects(warehouse, "customers") == [
        (
            "customers.csv",
            3,
            "malformed_line",
            'C2,"unterminated,Lyon\nC3,c@x.fr,Nice\nC4,"d@x.fr",Metz',
        )
    ]
    assert_reconciled(report)


def test_csv_gz_semicolons_crlf_and_leading_blank_lines(landing, warehouse, contract):
    (landing / "customers.csv").unlink()
    text = (
        b"\r\n\r\n"  # 1, 2
        b"customer_number;email;city\r\n"  # 3
        b"C1;a@x.fr;Paris\r\n"  # 4
        b"\r\n"  # 5
        b'C2;"x\r\ny";Lyon\r\n'  # 6-7
        b"C3;z@x.fr;Nice, France\r\n"  # 8
    )
    write(landing / "customers.csv.gz", gzip.compress(text))

    report = load_landing(landing, warehouse, contract=contract)

    assert query(
        warehouse, "select customer_number, email, city, _source_line from raw.customers order by 4"
    ) == [
        ("C1", "a@x.fr", "Paris", 4),
        ("C2", "x\r\ny", "Lyon", 6),
        ("C3", "z@x.fr", "Nice, France", 8),
    ]
    assert report.source("customers").files[0].file_format == "csv"
    assert_reconciled(report)


def test_csv_header_only_loads_no_row(landing, warehouse, contract) -> None:
    write(landing / "customers.csv", b"customer_number,email\n")

    report = load_landing(landing, warehouse, contract=contract)

    assert query(warehouse, "select count(*) from raw.customers") == [(0,)]
    assert report.source("customers").rows_loaded == 0


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 1 << 20])
@pytest.mark.parametrize("compress", [False, True])
def test_physical_lines_are_found_across_chunks(tmp_path, chunk_size, compress) -> None:
    content = b"a\r\nbb\n\nccc\ndd\xe9d\nlast"
    path = write(tmp_path / ("f.csv.gz" if compress else "f.csv"), content)
    if compress:
        path.write_bytes(gzip.compress(content))

    found = _physical_lines(path, {1, 3, 5, 6, 9}, chunk_size=chunk_size)

    assert found == {1: b"a", 3: b"", 5: b"dd\xe9d", 6: b"last"}


# -------------------------------------------------------------------------------------- JSONL


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


# ------------------------------------------------------------------------------------ Parquet


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


# ------------------------------------------------------------------------------------ folders


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


# ------------------------------------------------------------------------- sources and columns


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


@pytest.mark.parametrize("name", ["raw", "Marts", "memory"])
def test_a_warehouse_named_like_a_schema_is_refused_before_anything_is_written(
    landing, tmp_path, contract, name
) -> None:
    write(landing / "customers.csv", b"customer_number\nC1\n")
    write(landing / "orders.csv", b"order_id,customer_number\nO1,C1\n")
    warehouse = tmp_path / "warehouse" / f"{name}.duckdb"

    with pytest.raises(LoadError) as error:
        load_landing(landing, warehouse, contract=contract)

    assert f"cannot be named '{name}'" in str(error.value)
    assert "choose another name" in str(error.value)
    assert not warehouse.exists()


def test_missing_required_column_fails_and_keeps_the_previous_table(
    landing, warehouse, contract
) -> None:
    write(landing / "customers.csv", b"customer_number,email\nC1,a@example.fr\nC2,b,c\n")
    first = load_landing(landing, warehouse, contract=contract)
    write(landing / "customers.csv", b"Email,city\na@example.fr,Paris\n")

    with pytest.raises(LoadError) as error:
        load_landing(landing, warehouse, contract=contract, sources=["customers"])

    message = str(error.value)
    assert message.startswith("customers.csv: missing required column(s) customer_number.")
    assert "customer_number, email, city, created_at" in message
    assert "found: Email, city" in message
    assert query(warehouse, "select customer_number from raw.customers") == [("C1",)]
    assert query(warehouse, "select source_line, load_id from raw._load_rejects") == [
        (3, first.load_id)
    ]
    assert query(warehouse, "select distinct load_id from raw._load_files") == [(first.load_id,)]


def test_a_column_matching_twice_is_refused(landing, warehouse, contract) -> None:
    write(landing / "customers.csv", b"customer_number,Email,email \nC1,a,b\n")

    with pytest.raises(LoadError, match="several columns match one contract column"):
        load_landing(landing, warehouse, contract=contract)


def test_unknown_source_is_refused(landing, warehouse, contract) -> None:
    with pytest.raises(LoadError, match="unknown source"):
        load_landing(landing, warehouse, contract=contract, sources=["nope"])


# -------------------------------------------------------------------------------- reloads


def test_reloading_one_source_keeps_the_other_sources_rejects(landing, warehouse, contract):
    write(landing / "customers.csv", b"customer_number,email\nC1,a\nC2,b,extra\n")
    write(landing / "orders.csv", b"order_id,customer_number\nO1,C1\nO2\n")
    first = load_landing(landing, warehouse, contract=contract)
    assert {row[0] for row in query(warehouse, "select source from raw._load_rejects")} == {
        "customers",
        "orders",
    }

    write(landing / "orders.csv", b"order_id,customer_number\nO1,C1\nO2,C2\nO3,C3\n")
    second = load_landing(landing, warehouse, contract=contract, sources=["orders"])

    assert query(warehouse, "select source, source_line, load_id from raw._load_rejects") == [
        ("customers", 3, first.load_id)
    ]
    assert query(warehouse, "select count(*), min(_load_id) from raw.orders") == [
        (3, second.load_id)
    ]
    assert query(warehouse, "select count(*), min(_load_id) from raw.customers") == [
        (1, first.load_id)
    ]
    assert query(
        warehouse, "select source, count(*) from raw._load_files group by 1 order by 1"
    ) == [("customers", 1), ("orders", 2)]
    assert [source.name for source in second.sources] == ["orders"]


def test_one_load_shares_its_id_and_time(landing, warehouse, contract) -> None:
    report = load_landing(landing, warehouse, contract=contract)

    assert query(
        warehouse,
        "select distinct _load_id, _loaded_at from ("
        "select _load_id, _loaded_at from raw.customers "
        "union all select _load_id, _loaded_at from raw.orders)",
    ) == [(report.load_id, report.loaded_at)]


def test_summary_reports_totals(landing, warehouse, contract) -> None:
    report = load_landing(landing, warehouse, contract=contract)

    summary = report.summary()
    assert report.load_id in summary
    assert "customers" in summary and "events" in summary
    assert "(not found: empty table)" in summary
    assert report.rows_loaded == 2 and report.rows_rejected == 0 and report.files == 2


# ---------------------------------------------------------------------------------------- CLI


def test_main_prints_the_summary(landing, warehouse, monkeypatch, capsys) -> None:
    project_contract = load_contract()
    for name in ("customers", "orders"):
        spec = project_contract[name]
        header = ",".join(spec.required_columns)
        write(
            landing / f"{name}.csv",
            f"{header}\n{','.join('x' * len(spec.required_columns))}\n".encode(),
        )

    code = main(["--landing", str(landing), "--warehouse", str(warehouse), "--source", "orders"])

    assert code == 0
    out = capsys.readouterr().out
    assert "orders" in out and "customers" not in out


def test_main_exits_2_with_the_message_on_a_load_error(tmp_path, warehouse, capsys) -> None:
    code = main(["--landing", str(tmp_path / "nowhere"), "--warehouse", str(warehouse)])

    assert code == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: required source ")
    assert "Traceback" not in captured.err


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
