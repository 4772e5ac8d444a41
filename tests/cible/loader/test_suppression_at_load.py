"""Erased persons kept out at load: from a table, from Parquet files attached in place (copied
without them), from rejected lines; each identifier fingerprinted once for the whole load."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from loader_support import query, rejects, write

from cible.loader import load_landing
from cible.privacy import fingerprints as fp
from cible.privacy import suppression

KEY = "loader-suppression-test-key-0123456789"


def _erase(warehouse, entries: list[tuple[str, str]]) -> None:
    """Put the fingerprints of (kind, value) on the suppression list, as an erasure does."""
    key = KEY.encode()
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(warehouse)) as con:
        suppression.create_table(con)
        suppression.add(
            con,
            [
                suppression.Entry(fp.fingerprint(key, kind, value), kind, suppression.ERASED, "r1")
                for kind, value in entries
            ],
            datetime(2026, 1, 1),
        )


def test_erased_persons_are_kept_out_of_tables_attached_files_and_rejected_lines(
    landing, warehouse, contract, monkeypatch
):
    monkeypatch.setenv(fp.KEY_ENV, KEY)
    (landing / "customers.csv").unlink()
    pq.write_table(
        pa.table(
            {
                "customer_number": ["C1", "C2", "C3"],
                # Written differently from the list's: matched once normalised.
                "email": [" A@Example.fr", "b@example.fr", "c@example.fr"],
            }
        ),
        landing / "customers.parquet",
    )
    write(
        landing / "orders.csv",
        b"order_id,customer_number,amount\n"
        b"O1,C1,10.00\n"
        b"O2,C2,5.00\n"
        b"O3,C2,5.00,EUR,too,many\n"
        b"O4,C3,7.00\n",
    )
    _erase(warehouse, [("customer_number", "C2"), ("email", "a@example.fr")])
    calls = Counter()
    real = fp.fingerprint
    monkeypatch.setattr(
        fp,
        "fingerprint",
        lambda key, kind, value: calls.update([(kind, value)]) or real(key, kind, value),
    )

    report = load_landing(landing, warehouse, contract=contract)

    # C1 by their e-mail, C2 by their number; the attached files are copied without them.
    assert query(warehouse, "select customer_number from raw.customers order by 1") == [("C3",)]
    assert query(
        warehouse,
        "select table_type from information_schema.tables "
        "where table_schema = 'raw' and table_name = 'customers'",
    ) == [("BASE TABLE",)]
    customers, orders = report.source("customers"), report.source("orders")
    assert customers.rows_suppressed == 2 and customers.reconciled
    assert any("still in the landing files" in warning for warning in customers.warnings)
    # Orders hold no e-mail: C1's order stays; C2's order and rejected line are kept out.
    assert query(warehouse, "select order_id from raw.orders order by 1") == [("O1",), ("O4",)]
    assert rejects(warehouse, "orders") == []
    assert orders.rows_suppressed == 2 and orders.reconciled
    # One scan for the whole load: C3's number, in both sources, fingerprinted once.
    assert calls[("customer_number", "C3")] == 1
    assert query(
        warehouse, "select count(*) from duckdb_tables() where table_name like '_cible_checked%'"
    ) == [(0,)]
