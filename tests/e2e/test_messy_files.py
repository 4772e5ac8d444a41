"""A team's own files, hand-made here, loaded and built with the real dbt project (#16)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from pipeline_support import dbt_command

from cible.loader import load_landing

# The reconciliation and the quarantine, with the tests of those models only.
BUILD = [
    "build",
    "--select",
    "+rpt_source_reconciliation +fct_quarantined_rows",
    "--indirect-selection",
    "cautious",
]
CUSTOMERS = (
    "customer_number,email,first_name,created_at\n"
    + "".join(f"C{n},c{n}@example.fr,Ana,2024-01-0{1 + n % 9}T10:00:00Z\n" for n in range(1, 11))
    + "C3,c3@example.fr,Ana,2024-01-04T10:00:00Z\n"  # a re-exported record: a duplicate
    + '"1,23457E+11",x@example.fr,Léa,2024-01-02T10:00:00Z\n'  # Excel's rounding of a number
    + "C12,n@example.fr,Jo\x00e,2024-01-02T10:00:00Z\n"  # a NUL byte in a name
    + "C13,o@example.fr,Zoé,1899-12-31T10:00:00Z\n"  # a placeholder creation date
)


def _orders() -> str:
    lines = ["order_id,customer_number,ordered_at,amount,currency,channel"]
    lines += [
        f"O{n},C{1 + n % 10},2025-03-{1 + n % 28:02d}T12:00:00Z,{n}.50,EUR,web"
        for n in range(1, 31)
    ]
    lines[5] = 'O5,C6,2025-03-06T12:00:00Z,5.50,EUR,"web'  # a stray quote ...
    lines[15] = 'O15,C6,2025-03-16T12:00:00Z,15.50,EUR",web'  # ... and a second one
    lines.append("O31,C99,2025-03-20T12:00:00Z,1.00,EUR,web")  # an unknown customer
    lines.append("O32,C1,2025-03-20T12:00:00Z,1.00")  # too few fields: rejected at load
    lines.append("O33,C1,not a date,1.00,EUR,web")  # quarantined at staging
    lines.append("O30,C1,2025-03-03T12:00:00Z,30.50,EUR,web")  # a re-sent order: a duplicate
    lines.append("O34,C1,2025-03-20T12:00:00+25:00,1.00,EUR,web")  # value rules (#16, point 6)
    lines.append("O35,C1,2025-03-20T12:00:00+99:99,1.00,EUR,web")
    lines.append("O36,C1,0001-01-01T00:00:00Z,1.00,EUR,web")
    lines.append("1.23E+5,C1,2025-03-20T12:00:00Z,1.00,EUR,web")
    lines.append("O29,C10,2025-03-02T12:00:00Z,99.99,EUR,web")  # O29 again, another amount
    lines.append("O37,C1,2025-03-20T12:00:00Z,10.00,USD,web")  # no USD rate in the seed
    lines.append("O38,C1,2025-03-20T12:00:00Z,1e3,EUR,web")  # casts to 1000: a mangled cell
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def messy_build(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("messy")
    landing, warehouse = root / "landing", root / "warehouse.duckdb"
    landing.mkdir()
    (landing / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
    (landing / "orders.csv").write_text(_orders(), encoding="utf-8")
    load_landing(landing_dir=landing, warehouse=warehouse)
    dbt_command(BUILD, warehouse)
    return warehouse


def _reconciliation(warehouse: Path, source: str) -> dict:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        frame = con.execute(
            "select * from quality.rpt_source_reconciliation where source_name = ?", [source]
        ).df()
    return frame.iloc[0].to_dict()


def test_every_order_line_is_in_exactly_one_category(messy_build) -> None:
    orders = _reconciliation(messy_build, "orders")
    assert {key: int(value) for key, value in orders.items() if key != "source_name"} == {
        "rows_in_files": 41,
        "rows_in_raw": 40,
        "rows_loaded_reported": 40,
        "rows_rejected_at_load": 1,
        "rows_suppressed_at_load": 0,
        "rows_quarantined_at_staging": 8,
        "rows_quarantined_after_identity": 1,
        "duplicates_removed": 1,
        "rows_quarantined_as_conflicting": 1,
        # Orders are not processed by day of occurrence: none waits for a run.
        "rows_awaiting_next_run": 0,
        "rows_awaiting_backfill": 0,
        "rows_clean": 29,
        "unaccounted_rows": 0,
    }
    customers = _reconciliation(messy_build, "customers")
    assert (customers["rows_in_files"], customers["duplicates_removed"]) == (14, 1)
    assert customers["rows_quarantined_at_staging"] == 2
    assert customers["unaccounted_rows"] == 0


def test_a_key_sent_twice_with_other_content_is_quarantined_with_both_payloads(
    messy_build,
) -> None:
    """The later receipt is kept, as before, but the other is no longer dropped unseen."""
    with duckdb.connect(str(messy_build), read_only=True) as con:
        rows = con.execute(
            "select stage, raw_key, source_line, raw_payload from quality.fct_quarantined_rows "
            "where reason = 'conflicting_duplicate'"
        ).fetchall()
        kept = con.execute("select amount from marts.fct_orders where order_id = 'O29'").fetchall()
    ((stage, key, line, payload),) = rows
    assert (stage, key, line) == ("deduplication", "O29", 30)
    quarantined, _, kept_payload = payload.partition(', "kept": ')
    assert '"amount":"29.50"' in quarantined.replace(" ", "")
    assert '"amount":"99.99"' in kept_payload.replace(" ", "")
    assert [float(amount) for (amount,) in kept] == [99.99]


def test_values_a_parse_would_accept_are_quarantined_with_their_reason(messy_build) -> None:
    with duckdb.connect(str(messy_build), read_only=True) as con:
        reasons = con.execute(
            "select source_name, source_line, reason from quality.fct_quarantined_rows "
            "where issue_level = 'row' and stage = 'staging' order by 1, 2"
        ).fetchall()
    assert reasons == [
        ("customers", 13, "exponent_identifier"),
        ("customers", 14, "control_character"),
        # The second stray quote's line, read alone: its currency is `EUR"`, not euros.
        ("orders", 16, "unknown_currency"),
        ("orders", 34, "unparseable_timestamp"),
        ("orders", 36, "impossible_offset"),
        ("orders", 37, "impossible_offset"),
        ("orders", 38, "before_earliest_date"),
        ("orders", 39, "exponent_identifier"),
        ("orders", 41, "unknown_currency"),
        ("orders", 42, "exponent_number"),
    ]


def test_dates_before_a_columns_earliest_plausible_day_are_refused_and_the_day_is_a_setting(
    messy_build, tmp_path
) -> None:
    """Per-column plausible dates (#16, point 6): a CRM record's 1899 creation date is nulled and
    logged, the year-0001 order quarantined; a house with older records sets the column's day."""
    query = (
        "select source_name, source_line, issue_level, reason from quality.fct_quarantined_rows "
        "where reason = 'before_earliest_date' order by 1, 2"
    )
    with duckdb.connect(str(messy_build), read_only=True) as con:
        assert con.execute(query).fetchall() == [
            ("customers", 15, "field", "before_earliest_date"),
            ("orders", 38, "row", "before_earliest_date"),
        ]
        (created,) = con.execute(
            "select created_at from staging.stg_crm__customers where customer_number = 'C13'"
        ).fetchone()
    assert created is None

    warehouse = tmp_path / messy_build.name
    warehouse.write_bytes(messy_build.read_bytes())
    older = (
        "{earliest_plausible_dates: "
        "{customers.created_at: '1850-01-01', orders.ordered_at: '0001-01-01'}}"
    )
    dbt_command([*BUILD, "--vars", older], warehouse)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(query).fetchall() == []
        (created,) = con.execute(
            "select created_at from staging.stg_crm__customers where customer_number = 'C13'"
        ).fetchone()
        kept = con.execute(
            "select count(*) from marts.fct_orders where order_id = 'O36'"
        ).fetchone()
    assert created is not None and created.year == 1899
    assert kept == (1,)


def test_rows_a_parse_lost_silently_are_unaccounted_and_fail_the_build(
    messy_build, tmp_path
) -> None:
    """The loss of #16 point 1: rows gone while the loader's own counts agree with the table."""
    warehouse = tmp_path / messy_build.name
    warehouse.write_bytes(messy_build.read_bytes())
    with duckdb.connect(str(warehouse)) as con:
        con.execute("delete from raw.orders where _source_line between 7 and 16")
        con.execute("update raw._load_files set rows_loaded = 29 where source = 'orders'")

    result = dbt_command(BUILD, warehouse, check=False)

    assert _reconciliation(warehouse, "orders")["unaccounted_rows"] == 10
    assert result.returncode != 0
    assert "Failure in test cible_expression_is_true_rpt_source_reconciliation_unaccounted" in (
        result.stdout
    )
