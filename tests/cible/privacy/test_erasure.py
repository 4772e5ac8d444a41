"""Erasure everywhere, verified; the suppression list at load; a missing key; retention.

Real runs: the demo generator's files, the loader, `dbt build`, the privacy step. The persons
to erase are chosen from the first build across what makes erasure hard (CRM records merged
into one customer, devices linked only by a login, rows in quarantine), and the scan that
checks them is plain (every text column of every table and view in every schema, compared with
the identifiers read before the erasure), independent of the fingerprints the product uses.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from pipeline_support import dbt_command

from cible.loader import load_landing
from cible.privacy import erasure, retention
from cible.privacy import fingerprints as fp
from cible.privacy.config import load_privacy_config
from cible.privacy.fingerprints import KEY_ENV, KEY_FILE_ENV, PrivacyKeyError, email_sha256
from cible.privacy.run import apply_privacy, verify_erasures

CUSTOMERS = 2_000
SEED = 11
TEXT_TYPES = ("VARCHAR",)


def _query(warehouse: Path, sql: str, parameters=()) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, list(parameters)).df()


def _choose(warehouse: Path) -> pd.DataFrame:
    """50 customers: 15 with merged CRM records, 15 with a device linked only by a login, 10
    with quarantined rows, 10 more; 10 of them named by a hashed e-mail."""
    merged = _query(
        warehouse,
        "select customer_id, anchor_customer_number, email from intermediate.int_customers_merged "
        "where record_count > 1 and email is not null order by customer_id",
    )
    devices = _query(
        warehouse,
        """
        select distinct m.customer_id, m.anchor_customer_number, m.email
        from intermediate.int_devices_resolved d
        join intermediate.int_customers_merged m using (customer_id)
        where not d.is_shared_device and d.anonymous_id in (
            select anonymous_id from raw.events where customer_number is null)
        order by m.customer_id
        """,
    )
    quarantined = _query(
        warehouse,
        """
        select distinct m.customer_id, m.anchor_customer_number, m.email
        from quality.fct_quarantined_rows q
        join intermediate.int_customer_identities_resolved i
          on contains(q.raw_payload, '"' || i.customer_number || '"')
        join intermediate.int_customers_merged m on m.customer_id = i.customer_id
        where q.source_name <> 'customers'
        order by m.customer_id
        """,
    )
    others = _query(
        warehouse,
        "select customer_id, anchor_customer_number, email from intermediate.int_customers_merged "
        "order by md5(customer_id)",
    )
    chosen: list[pd.Series] = []
    seen: set[str] = set()
    for frame, wanted in ((merged, 15), (devices, 15), (quarantined, 10), (others, 10)):
        taken = 0
        for _, row in frame.iterrows():
            if taken == wanted:
                break
            if row["customer_id"] in seen:
                continue
            seen.add(row["customer_id"])
            chosen.append(row)
            taken += 1
        assert taken == wanted, f"the demo has too few customers of a kind ({taken}/{wanted})"
    people = pd.DataFrame(chosen).reset_index(drop=True)
    people["by_email"] = people.index % 5 == 4  # 10 of 50
    return people


def _identifiers(warehouse: Path, customer_ids: list[str]) -> dict[str, set[str]]:
    """Every identifier of these customers, as the first build holds them (plain)."""
    marks = ", ".join("?" for _ in customer_ids)
    numbers = set(
        _query(
            warehouse,
            f"select customer_number from intermediate.int_customer_identities_resolved "
            f"where customer_id in ({marks})",
            customer_ids,
        )["customer_number"]
    )
    n_marks = ", ".join("?" for _ in numbers)
    records = _query(
        warehouse,
        f"select * from raw.customers where customer_number in ({n_marks})",
        sorted(numbers),
    )
    merged = _query(
        warehouse,
        f"select email, phone_e164 from intermediate.int_customers_merged "
        f"where customer_id in ({marks})",
        customer_ids,
    )
    anonymous = set(
        _query(
            warehouse,
            f"select anonymous_id from intermediate.int_devices_resolved "
            f"where customer_id in ({marks}) and not is_shared_device",
            customer_ids,
        )["anonymous_id"]
    ) | set(
        _query(
            warehouse,
            f"select distinct anonymous_id from raw.events where customer_number in ({n_marks})",
            sorted(numbers),
        )["anonymous_id"].dropna()
    )
    emails = {e for e in [*records["email"], *merged["email"]] if isinstance(e, str) and "@" in e}
    phones = {p for p in [*records["phone"], *merged["phone_e164"]] if isinstance(p, str) and p}
    return {
        "customer_id": set(customer_ids),
        "customer_number": numbers,
        "email": emails,
        "email_sha256": {email_sha256(e) for e in emails},
        "phone": phones,
        "anonymous_id": anonymous,
        # Names are not unique: only the pairs no other customer holds can be looked for.
        "names": {
            (first, last)
            for first, last in zip(records["first_name"], records["last_name"], strict=True)
            if isinstance(first, str)
            and isinstance(last, str)
            and not _query(
                warehouse,
                f"select 1 from raw.customers where first_name = ? and last_name = ? "
                f"and customer_number not in ({n_marks})",
                [first, last, *sorted(numbers)],
            ).size
        },
    }


def _plain_scan(warehouse: Path, identifiers: dict[str, set[str]]) -> dict[str, int]:
    """Rows of any table or view, in any schema, holding one of the identifiers in a text column
    (equality), in a copied raw line or payload (substring), or the pair of names."""
    values = sorted(set().union(*(v for k, v in identifiers.items() if k != "names")))
    found: dict[str, int] = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute("create temp table ids (value varchar)")
        con.executemany("insert into ids values (?)", [[v] for v in values])
        con.execute("create temp table names (first_name varchar, last_name varchar)")
        con.executemany("insert into names values (?, ?)", sorted(identifiers["names"]))
        columns = con.execute(
            "select table_schema, table_name, column_name, data_type from "
            "information_schema.columns where table_schema not in ('temp', 'privacy') "
            "and table_catalog = current_database()"
        ).fetchall()
        by_relation: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for schema, table, column, data_type in columns:
            by_relation.setdefault((schema, table), []).append((column, data_type))
        for (schema, table), cols in by_relation.items():
            relation = f'"{schema}"."{table}"'
            names = {c for c, _ in cols}
            for column, data_type in cols:
                if data_type not in TEXT_TYPES:
                    continue
                quoted = f'"{column}"'
                rows = con.execute(
                    f"select count(*) from {relation} where {quoted} in (select value from ids)"
                ).fetchall()[0][0]
                if column in erasure.TEXT_COLUMNS or column in ("error_detail",):
                    # As a whole field: quoted (JSON payloads) or between separators (CSV
                    # lines), so that `anne.martin@x.fr` is not found in `marianne.martin@x.fr`.
                    rows += con.execute(
                        f"select count(*) from {relation} where exists (select 1 from ids where "
                        f"contains({quoted}, '\"' || ids.value || '\"') "
                        f"or contains(',' || {quoted} || ',', ',' || ids.value || ',') "
                        f"or contains(';' || {quoted} || ';', ';' || ids.value || ';'))"
                    ).fetchall()[0][0]
                if rows:
                    found[f"{schema}.{table}.{column}"] = rows
            if {"first_name", "last_name"} <= names:
                rows = con.execute(
                    f"select count(*) from {relation} r join names n "
                    "on r.first_name = n.first_name and r.last_name = n.last_name"
                ).fetchall()[0][0]
                if rows:
                    found[f"{schema}.{table}.(first_name, last_name)"] = rows
    return found


def _write_requests(path: Path, people: pd.DataFrame, emails: dict[str, str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["request_id", "customer_number", "email_sha256", "requested_at"])
        for index, row in people.iterrows():
            requested = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
            if row["by_email"]:
                writer.writerow(
                    [f"T-{index:03d}", "", email_sha256(emails[row["customer_id"]]), requested]
                )
            else:
                writer.writerow([f"T-{index:03d}", row["anchor_customer_number"], "", requested])


@pytest.fixture(scope="module")
def erased(tmp_path_factory):
    """A first build, 50 requests, the load, the privacy step, a second build."""
    from cible.demo import generate

    root = tmp_path_factory.mktemp("erasure")
    landing, warehouse, models = root / "landing", root / "warehouse.duckdb", root / "models"
    generate(landing_dir=landing, truth_dir=root / "truth", n_customers=CUSTOMERS, seed=SEED)
    load_landing(landing_dir=landing, warehouse=warehouse)
    dbt_command(["build"], warehouse)
    people = _choose(warehouse)
    identifiers = _identifiers(warehouse, list(people["customer_id"]))
    before = _plain_scan(warehouse, identifiers)
    for path in landing.glob("erasure_requests*"):
        path.unlink()
    _write_requests(
        landing / "erasure_requests.csv",
        people,
        dict(zip(people["customer_id"], people["email"], strict=True)),
    )
    # A model store with per-customer evaluation rows, as the scoring steps leave it.
    (models / "scoring" / "t" / "t-v0001").mkdir(parents=True)
    pd.DataFrame(
        {"customer_id": [*people["customer_id"], "someone-else"], "score": 0.5}
    ).to_parquet(models / "scoring" / "t" / "t-v0001" / "evaluation.parquet")
    load_landing(landing_dir=landing, warehouse=warehouse)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        pending = erasure.pending_requests(con)
        resolved_together = erasure.resolve_all(con, pending)
        resolved_alone = {request.request_id: erasure.resolve(con, request) for request in pending}
    with duckdb.connect(str(warehouse)) as con:
        report = apply_privacy(con, models_dir=models)
    build = dbt_command(["build"], warehouse, check=False)
    with duckdb.connect(str(warehouse)) as con:
        verifications, _ = verify_erasures(con, models_dir=models)
    return {
        "root": root,
        "landing": landing,
        "warehouse": warehouse,
        "models": models,
        "people": people,
        "identifiers": identifiers,
        "before": before,
        "report": report,
        "build": build,
        "verifications": verifications,
        "resolved_together": resolved_together,
        "resolved_alone": resolved_alone,
    }


def test_the_chosen_persons_were_everywhere_before(erased):
    before = erased["before"]
    assert any(place.startswith("raw.customers.") for place in before)
    assert any(place.startswith("quality.fct_quarantined_rows.") for place in before)
    assert any(place.startswith("raw.events.anonymous_id") for place in before)
    assert any(place.startswith("marts.") for place in before)
    assert before.get("raw.customers.(first_name, last_name)", 0) >= 25


def test_requests_resolved_together_find_what_each_finds_alone(erased):
    """The 50 requests are resolved in set-based queries (one scan of each table for all):
    each gets exactly its own person's identifiers, as when resolved on its own."""
    together, alone = erased["resolved_together"], erased["resolved_alone"]
    assert sorted(together) == [f"T-{i:03d}" for i in range(50)]
    assert together == alone
    people = erased["people"].reset_index(drop=True)
    for index, person in people.iterrows():
        found = together[f"T-{index:03d}"]
        assert person["customer_id"] in found["customer_id"]
        assert found["crm_record"], index
    # No identifier of a person reached another request (people are distinct persons).
    ids = [value for found in together.values() for value in found["customer_id"]]
    assert len(ids) == len(set(ids))


def test_nothing_of_the_erased_remains_in_any_table_or_view(erased):
    assert erased["build"].returncode == 0, erased["build"].stdout[-3000:]
    assert sorted(erased["report"].requests) == [f"T-{i:03d}" for i in range(50)]
    assert _plain_scan(erased["warehouse"], erased["identifiers"]) == {}


def test_the_model_store_loses_their_rows_and_keeps_the_others(erased):
    frame = pd.read_parquet(erased["models"] / "scoring" / "t" / "t-v0001" / "evaluation.parquet")
    assert list(frame["customer_id"]) == ["someone-else"]


def test_rpt_erasure_requests_shows_each_request_verified(erased):
    report = _query(erased["warehouse"], "select * from marts.rpt_erasure_requests")
    requested = report[report["origin"] == "request"].set_index("request_id")
    assert sorted(requested.index) == [f"T-{i:03d}" for i in range(50)]
    assert set(requested["status"]) == {"verified"}
    assert (requested["verified_remaining"] == 0).all()
    assert (requested["crm_records_found"] >= 1).all()
    # The 15 persons chosen for their merged CRM records: every record found.
    assert (requested.loc[[f"T-{i:03d}" for i in range(15)], "crm_records_found"] >= 2).all()
    assert (requested["rows_purged"] > 0).all()
    assert requested["is_within_legal_limit"].all()
    assert requested["days_taken"].between(2, 4).all()
    assert requested["places_purged"].str.contains("raw.customers").all()
    assert all(v.remaining == 0 for v in erased["verifications"])


def test_the_landing_files_still_holding_them_are_named(erased):
    places = _query(
        erased["warehouse"],
        "select place, rows_purged from privacy.erasure_places "
        "where place_kind = 'landing_file_still_holds'",
    )
    assert places["place"].str.startswith("landing:events/").any()
    assert (places["rows_purged"] > 0).all()


def test_the_bookkeeping_holds_no_identifier(erased):
    with duckdb.connect(str(erased["warehouse"]), read_only=True) as con:
        text = " ".join(
            str(value)
            for table in ("erasures", "erasure_places", "erasure_verifications", "suppression_list")
            for row in con.execute(f"select * from privacy.{table}").fetchall()
            for value in row
        )
    values = set().union(*(v for k, v in erased["identifiers"].items() if k != "names"))
    assert not [value for value in values if value in text]


def test_a_new_crm_file_bringing_ten_back_is_suppressed_at_load(erased):
    landing, warehouse = erased["landing"], erased["warehouse"]
    people = erased["people"]
    numbers = list(people["anchor_customer_number"][:10])
    folder = landing / "customers"
    folder.mkdir()
    shutil.move(landing / "customers.csv", folder / "part-1.csv")
    original = pd.read_csv(folder / "part-1.csv", dtype=str, keep_default_na=False)
    returning = original[original["customer_number"].isin(numbers)]
    assert len(returning) == 10
    returning.to_csv(folder / "part-2.csv", index=False)
    report = load_landing(landing_dir=landing, warehouse=warehouse)
    customers = report.source("customers")
    part_2 = next(file for file in customers.files if file.source_file.endswith("part-2.csv"))
    assert (part_2.rows_in_file, part_2.rows_loaded, part_2.rows_suppressed) == (10, 0, 10)
    assert customers.reconciled
    build = dbt_command(["build"], warehouse, check=False)
    assert build.returncode == 0, build.stdout[-3000:]
    assert _plain_scan(warehouse, erased["identifiers"]) == {}
    reconciliation = _query(
        warehouse, "select * from quality.rpt_source_reconciliation where source_name = 'customers'"
    ).iloc[0]
    assert reconciliation["unaccounted_rows"] == 0
    assert reconciliation["rows_suppressed_at_load"] == customers.rows_suppressed
    assert reconciliation["rows_suppressed_at_load"] >= 10 + 50


def test_a_missing_key_with_pending_requests_stops_before_anything_is_erased(tmp_path, monkeypatch):
    from cible.demo import generate

    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    generate(landing_dir=landing, truth_dir=tmp_path / "truth", n_customers=400, seed=3)
    load_landing(landing_dir=landing, warehouse=warehouse)
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "absent.key"))

    def counts() -> dict[str, int]:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            tables = con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw'"
            ).fetchall()
            return {
                t: con.execute(f'select count(*) from raw."{t}"').fetchall()[0][0]
                for (t,) in tables
            }

    before = counts()
    with duckdb.connect(str(warehouse)) as con:
        assert erasure.pending_requests(con), "the demo holds erasure requests"
        with pytest.raises(PrivacyKeyError, match=f"{KEY_FILE_ENV}.*Nothing was erased"):
            apply_privacy(con)
        assert con.execute(f"select count(*) from {erasure.ERASURES}").fetchall()[0][0] == 0
    assert counts() == before


# ---------- retention, on hand-made files


def _write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def test_retention_purges_three_years_and_a_day_and_keeps_two_years_364_days(tmp_path):
    today = date(2026, 12, 5)
    stale, kept = date(2023, 12, 4), date(2023, 12, 6)  # 3 years + 1 day, 2 years + 364 days
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    landing.mkdir()
    header = ["customer_number", "email", "phone", "first_name", "last_name", "birth_date",
              "gender", "postcode", "city", "country_code", "pcs_code", "household_size",
              "signup_channel", "created_at", "updated_at"]  # fmt: skip
    people = [
        ["R-STALE", "ancien.prospect@example.fr", stale],
        ["R-KEPT", "recent.prospect@example.fr", kept],
        ["R-BUYER", "fidele@example.fr", date(2019, 5, 1)],
        ["R-OPENER", "ouvre.seulement@example.fr", date(2019, 5, 1)],
        # Silent since 2019, back with an order in today's files: the build has it.
        ["R-BACK", "de.retour@example.fr", date(2019, 5, 1)],
    ]
    _write(
        landing / "customers.csv",
        header,
        [
            [
                number,
                email,
                "",
                "Ana",
                number,
                "1980-01-01",
                "F",
                "75001",
                "Paris",
                "FR",
                "",
                "1",
                "web",
                f"{created}T10:00:00Z",
                f"{today}T10:00:00Z",
            ]
            for number, email, created in people
        ],
    )
    _write(
        landing / "orders.csv",
        ["order_id", "customer_number", "ordered_at", "amount", "currency", "channel",
         "store_code", "promo_code"],
        [["O-1", "R-BUYER", "2026-11-30T10:00:00Z", "120.00", "EUR", "web", "", ""],
         ["O-2", "R-BACK", "2026-12-04T18:00:00Z", "80.00", "EUR", "web", "", ""]],
    )  # fmt: skip
    # Opening an e-mail is not contact (CNIL): the opener stays past retention.
    _write(
        landing / "campaign_events.csv",
        ["campaign_event_id", "campaign_id", "customer_number", "channel", "promo_type",
         "event_type", "occurred_at"],
        [["CE-1", "CMP-1", "R-OPENER", "email", "none", "open", "2026-11-01T10:00:00Z"]],
    )  # fmt: skip
    load_landing(landing_dir=landing, warehouse=warehouse)
    build = dbt_command(["build", "--vars", f"{{as_of_date: '{today}'}}"], warehouse, check=False)
    assert "Completed successfully" in build.stdout or build.returncode == 0, build.stdout[-2000:]
    with duckdb.connect(str(warehouse)) as con:
        # The step before the build applies requests only; retention is the next one's, on
        # the contacts of the build (orchestration/privacy.py).
        before_build = apply_privacy(con, today=today, include_retention=False)
        assert before_build.retention == [] and before_build.retention_cutoff is None
        assert con.execute("select count(*) from raw.customers").fetchall()[0][0] == 5
        # As if an earlier run today had erased the first of them and the files had brought
        # them back: a second request that day, not a match of the first that skips them.
        stale_ids = retention.stale_customers(con, load_privacy_config().retention, today)
        first = retention.requests_for(stale_ids, today, fp.load_key())[0].request_id
        con.execute("insert into privacy.erasures (request_id) values (?)", [first])
        report = apply_privacy(con, today=today, include_requests=False)
        left = {
            row[0] for row in con.execute("select customer_number from raw.customers").fetchall()
        }
    assert len(report.retention) == 2 and f"{first}-2" in report.retention
    assert left == {"R-KEPT", "R-BUYER", "R-BACK"}
    assert report.requests == []
    digest = hashlib.sha256(b"ancien.prospect@example.fr").hexdigest()
    assert digest not in str(report.summary())


def test_objecting_customers_are_listed_by_fingerprint_and_leave_when_they_grant_again(
    erased, tmp_path
):
    from cible.privacy import suppression

    warehouse = tmp_path / "copy.duckdb"
    shutil.copy(erased["warehouse"], warehouse)
    key, now = fp.load_key(), datetime.now(UTC).replace(tzinfo=None)
    with duckdb.connect(str(warehouse)) as con:
        objecting = [
            row[0]
            for row in con.execute(
                "select customer_id from marts.fct_customer_consents where purpose = 'email' "
                "order by customer_id limit 3"
            ).fetchall()
        ]
        marks = ", ".join("?" for _ in objecting)
        con.execute(
            f"update marts.fct_customer_consents set rule_applied = 'objection' "
            f"where purpose = 'email' and customer_id in ({marks})",
            objecting,
        )
        assert suppression.refresh_objections(con, key, now) == 3
        listed = suppression.read(con, reasons=(suppression.OBJECTED,))
        assert {fp.fingerprint(key, "customer_id", c) for c in objecting} == listed["customer_id"]
        # Not erased: the load does not filter them and the verification does not count them.
        assert suppression.read(con) == suppression.read(con, reasons=(suppression.ERASED,))
        assert all(v.remaining == 0 for v in verify_erasures(con)[0])
        con.execute(
            "update marts.fct_customer_consents set rule_applied = 'latest_event_granted' "
            "where rule_applied = 'objection'"
        )
        assert suppression.refresh_objections(con, key, now) == 0
        assert suppression.read(con, reasons=(suppression.OBJECTED,)) == {}
