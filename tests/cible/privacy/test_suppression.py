"""The suppression list's scan: one pass over many relations fingerprints each distinct value of
a kind once and finds what a scan per relation finds."""

from __future__ import annotations

import duckdb

from cible.privacy import erasure, suppression
from cible.privacy import fingerprints as fp


def test_one_scan_fingerprints_each_value_once_and_finds_what_separate_scans_find(monkeypatch):
    """A customer id is in about 40 relations: a scan fingerprints it in the first and, in the
    others, only looks up what it found (values met before are not fingerprinted again)."""
    key = b"scan-test-key-0123456789abcdef01"
    con = duckdb.connect()
    con.execute(
        "create table raw_customers as select 'C' || i as customer_id, "
        "'p' || i || '@example.org' as email from range(300) t(i)"
    )
    con.execute(
        "create table orders as select 'C' || (i % 300) as customer_id, i as amount "
        "from range(900) t(i)"
    )
    con.execute(
        "create table scores as select customer_id, 0.5 as score from raw_customers "
        "union all select 'C-new', 0.1"  # a value met in this relation only
    )
    con.execute(
        "create table _load_rejects as select 'line ' || i || ';p' || i || '@example.org' "
        "as raw_payload from range(5) t(i)"
    )
    erased = {"C7": "r1", "C-new": "r2", "p3@example.org": "r3"}
    kinds = {"C7": "customer_id", "C-new": "customer_id", "p3@example.org": "email"}
    owner = {fp.fingerprint(key, kinds[value], value): rid for value, rid in erased.items()}
    found_alone = {}
    for relation in erasure.relations(con):
        with suppression.Scan(con, owner, key) as scan:
            found_alone[relation.name] = scan.matches(
                relation.sql, relation.key_columns, relation.text_columns
            )
    calls = []
    real = fp.fingerprint
    monkeypatch.setattr(fp, "fingerprint", lambda *args: calls.append(args[1:]) or real(*args))
    with suppression.Scan(con, owner, key) as scan:
        found_together = {
            r.name: scan.matches(r.sql, r.key_columns, r.text_columns)
            for r in erasure.relations(con)
        }
    assert found_together == found_alone
    assert found_together["orders"] == {"r1": {"customer_id": ["C7"]}}
    assert found_together["scores"] == {
        "r1": {"customer_id": ["C7"]},
        "r2": {"customer_id": ["C-new"]},
    }
    assert found_together["_load_rejects"] == {"r3": {"raw_payload": ["line 3;p3@example.org"]}}
    assert set(found_together["raw_customers"]) == {"r1", "r3"}
    # 300 customer ids, once (not in orders and scores again), C-new, 300 e-mails; the tokens.
    customer_ids = [value for kind, value in calls if kind == "customer_id"]
    assert len([v for v in customer_ids if v.startswith("C")]) == 301
    # The 300 e-mails of the column, and at most the 5 of the rejected lines' words.
    assert 300 <= len([v for kind, v in calls if kind == "email" and "@" in v]) <= 305
    # The scan's table of checked values is gone with it.
    assert con.execute(
        "select count(*) from duckdb_tables() where table_name like '_cible_checked%'"
    ).fetchall() == [(0,)]
