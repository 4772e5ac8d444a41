"""Erasure reaches the BI read copy even when no publish follows, and the verification scans it.

On copies of the shared materialized run's warehouse and published copy: three customers the
copy holds are requested erased, and only the erasure step and the verification run through
Dagster (as a run failing before its publish step leaves them), while two BI readers hold the
copy open. The check of the copy is plain (every text column compared with the customers'
identifiers), independent of the fingerprints the product uses.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from bi_support import start_readers, stop_readers

from cible.bi.publish import PUBLISHED_FILE, RELATIONS_TABLE, read_published_run

# The shared materialized run may be built for this module (minutes on 2 cores).
pytestmark = pytest.mark.timeout(900)

ERASED = 3


def _copy_warehouse(source: Path, root: Path) -> Path:
    warehouse = root / "warehouse" / "cible.duckdb"
    warehouse.parent.mkdir(parents=True)
    shutil.copyfile(source, warehouse)
    return warehouse


def _rows_holding(copy: Path, values: set[str]) -> dict[str, int]:
    """Rows of each table of the copy with one of ``values`` in a text column."""
    found: dict[str, int] = {}
    with duckdb.connect(str(copy), read_only=True) as con:
        con.execute("create temp table wanted (value varchar)")
        con.executemany("insert into wanted values (?)", [[value] for value in sorted(values)])
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where data_type = 'VARCHAR' and table_catalog = current_database() "
            "and table_schema <> 'temp'"
        ).fetchall()
        for schema, table, column in columns:
            rows = con.execute(
                f'select count(*) from "{schema}"."{table}" '
                f'where "{column}" in (select value from wanted)'
            ).fetchall()[0][0]
            if rows:
                found[f"{schema}.{table}.{column}"] = rows
    return found


def _row_counts(copy: Path) -> dict[str, int]:
    with duckdb.connect(str(copy), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema <> 'main'"
        ).fetchall()
        return {
            f"{schema}.{table}": con.execute(
                f'select count(*) from "{schema}"."{table}"'
            ).fetchall()[0][0]
            for schema, table in tables
        }


def _materialize(definitions, keys, warehouse: Path, published: Path, root: Path):
    """Materialize ``keys`` on ``warehouse`` with ``published`` as the BI copy's folder."""
    from cible.orchestration.resources import WarehouseResource
    from dagster import AssetSelection, DagsterInstance, materialize

    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "CIBLE_WAREHOUSE": root / "decoy" / "cible.duckdb",
            "CIBLE_MODELS_DIR": root / "models",  # absent: the shared model store is not touched
            "CIBLE_PUBLISHED_DIR": published,
        }.items():
            patch.setenv(name, str(value))
        patch.delenv("CIBLE_REDIS_URL", raising=False)
        with DagsterInstance.ephemeral() as instance:
            return materialize(
                list(definitions.assets),
                selection=AssetSelection.assets(*keys),
                resources={
                    **definitions.resources,
                    "warehouse": WarehouseResource(path=str(warehouse)),
                },
                instance=instance,
                raise_on_error=False,
            )


def _verified(result) -> list:
    return [
        event.event_specific_data
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
        and event.event_specific_data.check_name == "erasures_verified"
    ]


@pytest.fixture(scope="module")
def purged(materialized_run, tmp_path_factory):
    """Three erasure requests, then the erasure step and the verification (no publish), with
    two readers holding the BI copy open."""
    from cible.orchestration.definitions import build_definitions
    from cible.orchestration.privacy import TABLES, VERIFICATIONS_KEY
    from dagster import AssetKey

    root = tmp_path_factory.mktemp("bi_copy")
    warehouse = _copy_warehouse(materialized_run["warehouse"], root)
    published = root / "published"
    published.mkdir()
    copy = published / PUBLISHED_FILE
    shutil.copyfile(Path(materialized_run["published"]) / PUBLISHED_FILE, copy)
    before_erasure = shutil.copyfile(copy, root / "before_erasure.duckdb")
    with duckdb.connect(str(copy), read_only=True) as con:
        customer_ids = [
            row[0]
            for row in con.execute(
                "select distinct customer_id from marts.fct_customer_scores "
                f"order by md5(customer_id) limit {ERASED}"
            ).fetchall()
        ]
    with duckdb.connect(str(warehouse)) as con:
        marks = ", ".join("?" for _ in customer_ids)
        people = con.execute(
            "select customer_id, min(customer_number) "
            "from intermediate.int_customer_identities_resolved "
            f"where customer_id in ({marks}) group by 1 order by 1",
            customer_ids,
        ).fetchall()
        requests = {f"BI-{index}": number for index, (_, number) in enumerate(people)}
        con.execute(
            "insert into raw.erasure_requests by name select unnest(?) as request_id, "
            "unnest(?) as customer_number, current_timestamp::varchar as requested_at",
            [list(requests), list(requests.values())],
        )
        numbers = {
            row[0]
            for row in con.execute(
                "select customer_number from intermediate.int_customer_identities_resolved "
                f"where customer_id in ({marks})",
                customer_ids,
            ).fetchall()
        }
    identifiers = set(customer_ids) | numbers
    counts_before = _row_counts(copy)
    holding_before = _rows_holding(copy, identifiers)
    run_before = read_published_run(copy)

    definitions = build_definitions(with_demo=False)
    erasure_keys = [AssetKey(["privacy", "privacy_store", table]) for table in TABLES]
    stop = root / "reader.stop"
    readers = start_readers(copy, stop)
    result = _materialize(
        definitions, [*erasure_keys, VERIFICATIONS_KEY], warehouse, published, root
    )
    report = stop_readers(readers, stop)
    return {
        "root": root,
        "definitions": definitions,
        "warehouse": warehouse,
        "published": published,
        "copy": copy,
        "before_erasure": before_erasure,
        "requests": requests,
        "identifiers": identifiers,
        "counts_before": counts_before,
        "holding_before": holding_before,
        "run_before": run_before,
        "result": result,
        "readers": report,
    }


def test_the_copy_held_them_before_the_erasure(purged):
    assert len(purged["requests"]) == ERASED
    holding = purged["holding_before"]
    assert holding.get("marts.fct_customer_scores.customer_id", 0) >= ERASED
    assert holding.get("marts.fct_segment_memberships.customer_id", 0) >= ERASED


def _logged(purged) -> dict[str, tuple[str, int]]:
    """Request id -> (place kind, rows) of the copy's lines in the erasure log."""
    with duckdb.connect(str(purged["warehouse"]), read_only=True) as con:
        rows = con.execute(
            "select request_id, place_kind, rows_purged from privacy.erasure_places "
            "where place = ?",
            [f"bi_copy:{purged['copy']}"],
        ).fetchall()
    return {request_id: (kind, purged_rows) for request_id, kind, purged_rows in rows}


def test_the_erasure_step_removes_them_from_the_copy_without_a_publish(purged):
    assert purged["result"].success
    copy = purged["copy"]
    assert _rows_holding(copy, purged["identifiers"]) == {}
    # The erased rows only (the step also erased customers past retention): every other row is
    # still there, and no publish replaced the copy.
    removed = sum(purged["counts_before"].values()) - sum(_row_counts(copy).values())
    assert removed == sum(rows for _, rows in _logged(purged).values())
    theirs = sum(
        rows for place, rows in purged["holding_before"].items() if place.endswith(".customer_id")
    )
    assert sum(_logged(purged)[request][1] for request in purged["requests"]) == theirs
    assert read_published_run(copy) == purged["run_before"]
    after = _row_counts(copy)
    with duckdb.connect(str(copy), read_only=True) as con:
        recorded = dict(
            con.execute(f"select relation, row_count from {RELATIONS_TABLE}").fetchall()
        )
    assert recorded == {relation: rows for relation, rows in after.items() if relation in recorded}
    # The new copy was swapped in: no staging file is left beside it.
    assert [path.name for path in purged["published"].iterdir()] == [PUBLISHED_FILE]


def test_the_purge_of_the_copy_is_in_the_erasure_log(purged):
    logged = _logged(purged)
    assert set(purged["requests"]) <= set(logged)
    assert {kind for kind, _ in logged.values()} == {"bi_copy"}
    assert all(rows > 0 for _, rows in logged.values())


def test_the_verification_scans_the_copy_and_passes(purged):
    assert [check.passed for check in _verified(purged["result"])] == [True]


def _restored(purged, root: Path) -> tuple[Path, Path]:
    """A copy of the warehouse after the erasure, and the BI copy as it was before it comes
    back (a backup restored, say)."""
    warehouse = _copy_warehouse(purged["warehouse"], root)
    published = root / "published"
    published.mkdir()
    shutil.copyfile(purged["before_erasure"], published / PUBLISHED_FILE)
    return warehouse, published


def test_a_copy_still_holding_an_erased_person_fails_the_verification(purged, tmp_path):
    from cible.orchestration.privacy import VERIFICATIONS_KEY

    warehouse, published = _restored(purged, tmp_path)
    definitions = purged["definitions"]
    result = _materialize(definitions, [VERIFICATIONS_KEY], warehouse, published, tmp_path)
    [check] = _verified(result)
    assert not check.passed
    remaining = check.metadata["remaining"].value
    assert sorted(remaining) == sorted(purged["requests"])
    place = f"bi_copy:{published / PUBLISHED_FILE}"
    for places in remaining.values():
        assert [entry.split(": ")[0] for entry in places] == [place]
        assert all(int(entry.split(": ")[1]) > 0 for entry in places)


def test_the_next_erasure_step_removes_them_from_a_restored_copy(purged, tmp_path):
    from cible.orchestration.privacy import TABLES, VERIFICATIONS_KEY
    from dagster import AssetKey

    warehouse, published = _restored(purged, tmp_path)
    copy = published / PUBLISHED_FILE
    assert _rows_holding(copy, purged["identifiers"]) == purged["holding_before"]
    keys = [*(AssetKey(["privacy", "privacy_store", table]) for table in TABLES), VERIFICATIONS_KEY]
    result = _materialize(purged["definitions"], keys, warehouse, published, tmp_path)
    # No request is pending: the step still purges the copy of those erased before.
    assert _rows_holding(copy, purged["identifiers"]) == {}
    assert [check.passed for check in _verified(result)] == [True]
    [summary] = [
        event.materialization.metadata["summary"].value
        for event in result.get_asset_materialization_events()
        if event.asset_key == AssetKey(["privacy", "privacy_store", TABLES[0]])
    ]
    assert summary.startswith("erasure: nothing to erase")
    assert "the BI copy still held" in summary
    with duckdb.connect(str(warehouse), read_only=True) as con:
        logged = con.execute(
            "select distinct request_id from privacy.erasure_places where place = ?",
            [f"bi_copy:{copy}"],
        ).fetchall()
    assert set(purged["requests"]) <= {row[0] for row in logged}


def test_readers_holding_the_copy_open_never_error(purged):
    fresh, held = purged["readers"]["fresh"], purged["readers"]["held"]
    run_id = purged["run_before"]["scoring_run_id"]
    for reader in (fresh, held):
        assert "failed" not in reader, reader
        assert reader["errors"] == []
        assert reader["queries"] > 5
        assert reader["seen"] == [run_id]
    # A new connection reads the purged copy: fewer scored customers, nothing in between.
    [(_, rows_before, _), (_, rows_after, _)] = sorted(fresh["answers"], key=lambda a: -a[1])
    scores = "marts.fct_customer_scores"
    assert rows_before - rows_after == (
        purged["counts_before"][scores] - _row_counts(purged["copy"])[scores]
    )
    assert rows_before - rows_after >= purged["holding_before"][f"{scores}.customer_id"]
    # A connection held open keeps the file it opened until it reconnects.
    assert len(held["answers"]) == 1


# ---------- on hand-made copies


KEY = b"bi-copy-tests-key-0123456789"


def _small_copy(path: Path) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.fct_customer_scores as "
            "select 'C' || i as customer_id, 0.5 as score from range(4) t(i)"
        )
        con.execute(
            f"create table {RELATIONS_TABLE} (relation varchar, model varchar, row_count bigint)"
        )
        con.execute(
            f"insert into {RELATIONS_TABLE} values "
            "('marts.fct_customer_scores', 'fct_customer_scores', 4)"
        )
    return path


def _owner(*customer_ids: str) -> dict[str, str]:
    from cible.privacy import fingerprints as fp

    return {fp.fingerprint(KEY, "customer_id", c): f"R-{c}" for c in customer_ids}


def test_a_dry_run_counts_and_a_copy_without_them_is_not_rewritten(tmp_path):
    from cible.privacy.bi_copy import BiCopy

    copy = BiCopy(_small_copy(tmp_path / PUBLISHED_FILE))
    before = (copy.path.stat().st_ino, copy.path.read_bytes())
    assert copy.purge(_owner("C1", "C3"), KEY, dry_run=True) == {"R-C1": 1, "R-C3": 1}
    assert copy.purge(_owner("C9"), KEY) == {}
    assert (copy.path.stat().st_ino, copy.path.read_bytes()) == before
    assert copy.purge(_owner("C1", "C3"), KEY) == {"R-C1": 1, "R-C3": 1}
    with duckdb.connect(str(copy.path), read_only=True) as con:
        assert con.execute(
            "select customer_id from marts.fct_customer_scores order by 1"
        ).fetchall() == [("C0",), ("C2",)]
        assert con.execute(f"select row_count from {RELATIONS_TABLE}").fetchall() == [(2,)]
    assert copy.path.stat().st_ino != before[0]
    assert sorted(path.name for path in tmp_path.iterdir()) == [PUBLISHED_FILE]


def test_a_purge_deletes_what_a_crashed_publish_left_beside_the_copy(tmp_path):
    from cible.bi.publish import staging_path
    from cible.privacy.bi_copy import BiCopy

    copy = BiCopy(_small_copy(tmp_path / PUBLISHED_FILE))
    torn = staging_path(copy.path)
    shutil.copyfile(copy.path, torn)
    torn.with_name(torn.name + ".wal").write_bytes(b"torn")
    assert copy.purge(_owner("C1"), KEY, dry_run=True) == {"R-C1": 1}
    assert len(list(tmp_path.iterdir())) == 3  # a verification deletes nothing
    assert copy.purge(_owner("C1"), KEY) == {"R-C1": 1}
    assert sorted(path.name for path in tmp_path.iterdir()) == [PUBLISHED_FILE]


def test_an_unreadable_copy_is_named_with_what_to_do(tmp_path):
    from cible.privacy.bi_copy import BiCopy
    from cible.privacy.erasure import ErasureError

    path = tmp_path / PUBLISHED_FILE
    path.write_text("not a database")
    for dry_run in (True, False):
        with pytest.raises(ErasureError, match=f"BI copy {path} cannot be opened.*delete it"):
            BiCopy(path).purge(_owner("C1"), KEY, dry_run=dry_run)
    assert path.read_text() == "not a database"
    assert sorted(p.name for p in tmp_path.iterdir()) == [PUBLISHED_FILE]
