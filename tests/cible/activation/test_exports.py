"""Audience exports of the whole Dagster run (`materialized_run`, 1,500 demo customers): what
was delivered, read back from the files, against the consent state and the suppression list."""

import os
import shutil
from datetime import UTC, datetime

import duckdb
import pandas as pd
import pytest

from cible.activation import identifiers
from cible.activation.config import load_audiences_config, parse_audiences_config
from cible.activation.exports import check_against_warehouse, export_audiences
from cible.privacy import erasure, suppression
from cible.privacy import fingerprints as fp
from cible.yaml_config import ConfigError
from tests.cible.activation.receiver import Receiver

ELIGIBLE_PARTS = (
    "sent_count",
    "held_out_count",
    "excluded_no_consent",
    "excluded_suppressed",
    "excluded_no_identifier",
)


def read(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str) if str(path).endswith(".csv") else pd.read_parquet(path)


def query(warehouse, sql: str, params=()) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, list(params)).df()


@pytest.fixture(scope="module")
def exports(materialized_run) -> pd.DataFrame:
    return query(materialized_run["warehouse"], "select * from marts.fct_audience_exports")


@pytest.fixture
def writable(materialized_run, tmp_path):
    """A copy of the run's warehouse and audience files, for tests that export or erase."""
    shutil.copy(materialized_run["warehouse"], tmp_path / "warehouse.duckdb")
    shutil.copytree(materialized_run["exports"], tmp_path / "exports")
    return tmp_path / "warehouse.duckdb", tmp_path / "exports"


def test_every_enabled_audience_was_exported_and_counts_reconcile(exports):
    enabled = {audience.name for audience in load_audiences_config().enabled()}
    assert set(exports["audience"]) == enabled
    assert (exports["eligible_count"] == exports[list(ELIGIBLE_PARTS)].sum(axis=1)).all()
    assert set(exports["status"]) <= {"written", "empty"}
    # The demo has customers without e-mail consent in every segment: exclusions are real.
    assert exports["excluded_no_consent"].sum() > 0
    assert exports["sent_count"].sum() > 0


def test_no_delivered_customer_lacks_consent_or_is_suppressed(materialized_run, exports):
    """Counted over every audience of the demo, from the files themselves."""
    key = fp.load_key()
    with duckdb.connect(str(materialized_run["warehouse"]), read_only=True) as con:
        listed = suppression.read(con, (suppression.ERASED, suppression.OBJECTED))
        assert listed, "the demo holds erasure requests: the suppression list is not empty"
        delivered = 0
        for export in exports.itertuples():
            for location in filter(None, export.location.split(";")):
                rows = read(location)
                assert len(rows) == export.rows_written
                ids = rows.loc[rows.get("change", pd.Series("entered", index=rows.index)) != "left"]
                ids = ids["customer_id"].tolist()
                delivered += len(ids)
                allowed = con.execute(
                    "select customer_id from marts.fct_customer_consents "
                    "where purpose = ? and is_allowed",
                    [export.purpose],
                ).df()
                assert set(ids) <= set(allowed["customer_id"]), export.audience
                for kind in ("customer_id",):
                    hits = [c for c in ids if fp.fingerprint(key, kind, c) in listed.get(kind, ())]
                    assert hits == []
    assert delivered > 0
    check = next(
        c for c in materialized_run["checks"] if c.check_name.startswith("exports_respect")
    )
    assert check.passed


def test_holdout_is_never_in_the_files_and_keeps_its_share(materialized_run, exports):
    members = query(materialized_run["warehouse"], "select * from activation.audience_members")
    config = {a.name: a for a in load_audiences_config().audiences}
    for export in exports.itertuples():
        mine = members[members["export_id"] == export.export_id]
        held = set(mine.loc[mine["arm"] == "holdout", "customer_id"])
        assert len(held) == export.held_out_count
        for location in filter(None, export.location.split(";")):
            assert not held & set(read(location)["customer_id"])
        for _, group in mine.groupby("stratum"):
            share = (group["arm"] == "holdout").mean()
            # A stratum of n customers reaches the share to within half a customer, 0.5/n.
            tolerance = max(0.01, 0.5 / len(group) + 1e-9)
            assert abs(share - config[export.audience].holdout_share) <= tolerance


def test_hashed_identifiers_follow_the_recipe(materialized_run, exports):
    ads = exports[exports["identifier_type"] == "hmac_sha256"]
    assert len(ads), "the demo declares an ad audience"
    key = os.environ["CIBLE_ACTIVATION_KEY"].encode()
    emails = query(
        materialized_run["warehouse"], "select customer_id, email from marts.dim_customers"
    )
    email = dict(zip(emails["customer_id"], emails["email"], strict=True))
    rows = read(ads.iloc[0]["location"].split(";")[0])
    assert list(rows.columns) == ["customer_id", "email_hmac_sha256"]
    assert len(rows) > 0
    for row in rows.itertuples():
        assert row.email_hmac_sha256 == identifiers.hmac_sha256(
            key, "email", email[row.customer_id]
        )
        assert "@" not in row.email_hmac_sha256


def test_a_rerun_delivers_nothing_twice_and_an_objection_is_delivered(writable):
    """A run repeated on the same day (after a kill, or by hand) sends no audience a second
    time; an objection since is a change, delivered at once (the customer leaves)."""
    warehouse, folder = writable
    config = load_audiences_config()
    with duckdb.connect(str(warehouse)) as con:
        (exports_before,) = con.execute(
            "select count(*) from activation.audience_exports"
        ).fetchone()
        delivered = dict(
            con.execute(
                "select audience, status in ('written', 'sent', 'empty') "
                "from marts.fct_audience_exports where is_latest"
            ).fetchall()
        )
        again = {o.audience: o for o in export_audiences(con, config, exports_dir=folder)}
        assert delivered and set(again) == set(delivered)
        for name, was_delivered in delivered.items():
            # A weekly audience is skipped for its schedule before its content is compared.
            assert (again[name].skipped is not None) == was_delivered, again[name].line()
        assert "already delivered for data as of" in again["champions_email"].skipped
        (exports_after,) = con.execute(
            "select count(*) from activation.audience_exports"
        ).fetchone()
        # Only an audience whose last attempt failed is attempted (and recorded) again.
        assert exports_after - exports_before == sum(not ok for ok in delivered.values())

        before = con.execute(
            "select customer_id from activation.audience_members "
            "where audience = 'champions_email' and arm = 'treated' order by customer_id limit 1"
        ).fetchall()[0][0]
        digest = fp.fingerprint(fp.load_key(), "customer_id", before)
        suppression.add(
            con,
            [suppression.Entry(digest, "customer_id", suppression.OBJECTED, "objection-1")],
            datetime.now(UTC).replace(tzinfo=None),
        )
        outcomes = export_audiences(con, config, exports_dir=folder)
    champions = next(o for o in outcomes if o.audience == "champions_email")
    assert champions.skipped is None
    assert champions.manifest["excluded_suppressed"] == 1
    assert champions.manifest["left_count"] == 1 and champions.manifest["entered_count"] == 0
    assert before not in set(read(champions.files[0])["customer_id"])


def test_unknown_segment_or_column_is_refused_against_the_warehouse(materialized_run):
    config = parse_audiences_config(
        {
            "audiences": [
                {"name": "a", "segment": "cluster_99", "purpose": "email"},
                {"name": "b", "segment": "rfm_champions", "purpose": "email",
                 "filters": {"column": "purchase_31d_decile", "op": ">=", "value": 8}},
            ]
        }
    )  # fmt: skip
    with (
        duckdb.connect(str(materialized_run["warehouse"]), read_only=True) as con,
        pytest.raises(ConfigError) as error,
    ):
        check_against_warehouse(con, config)
    message = str(error.value)
    assert "audiences[0].segment" in message and "cluster_99" in message
    assert "audiences[1].filters" in message and "purchase_31d_decile" in message


def test_erasure_reaches_the_audience_files_and_the_verification_scans_them(writable):
    warehouse, folder = writable
    with duckdb.connect(str(warehouse)) as con:
        customer, number = con.execute(
            "select m.customer_id, c.anchor_customer_number from activation.audience_members m "
            "join marts.dim_customers c using (customer_id) "
            "where m.audience = 'champions_email' and m.arm = 'treated' "
            "order by m.customer_id limit 1"
        ).fetchall()[0]
        files = [
            p
            for p in folder.rglob("*")
            if p.is_file() and customer in p.read_bytes().decode("latin-1")
        ]
        assert files, "the chosen customer is in the exported files"
        kept = {path: path.read_bytes() for path in files}
        key, now = fp.load_key(), datetime.now(UTC).replace(tzinfo=None)
        request = erasure.ErasureRequest("E-1", erasure.REQUEST, now, customer_number=number)
        outcome = erasure.apply(con, [request], key, now, exports_dir=folder)
        assert any(place.startswith(str(folder)) for place in outcome.rows_by_place)
        for path in files:
            assert customer not in set(read(path)["customer_id"])
        assert (
            con.execute(
                "select count(*) from activation.audience_members where customer_id = ?", [customer]
            ).fetchall()[0][0]
            == 0
        )
        [verified] = erasure.verify(con, key, now, exports_dir=folder, request_ids=["E-1"])
        assert verified.remaining == 0
        # A file restored from a backup brings the person back: the verification finds it.
        for path, content in kept.items():
            path.write_bytes(content)
        [found] = erasure.verify(con, key, now, exports_dir=folder, request_ids=["E-1"])
        assert found.remaining >= len(files)
        assert any(str(folder) in place for place in found.remaining_places)


def test_a_webhook_audience_is_posted_exactly_once_and_recorded(
    writable, receiver_url, monkeypatch
):
    warehouse, folder = writable
    receiver = Receiver(failure_rate=0.3, seed=9)
    monkeypatch.setenv("CIBLE_SMS_WEBHOOK_URL", receiver_url(receiver))
    loyal = next(a for a in load_audiences_config().audiences if a.name == "loyal_sms_webhook")
    destination = loyal.destination.model_copy(
        update={"batch_size": 25, "backoff_seconds": 0.001, "max_attempts": 8}
    )
    config = parse_audiences_config(
        {
            "audiences": [
                {**loyal.model_dump(), "enabled": True, "destination": destination.model_dump()}
            ]
        }
    )
    with duckdb.connect(str(warehouse)) as con:
        [outcome] = export_audiences(con, config, exports_dir=folder)
        batches = con.execute(
            "select * from activation.webhook_batches where export_id = ? order by batch_number",
            [outcome.manifest["export_id"]],
        ).df()
        treated = con.execute(
            "select customer_id from activation.audience_members "
            "where export_id = ? and arm = 'treated'",
            [outcome.manifest["export_id"]],
        ).df()
    manifest = outcome.manifest
    assert manifest["status"] == "sent" and manifest["destination_type"] == "webhook"
    assert manifest["sent_count"] == len(treated) > 25
    assert receiver.failures > 0
    assert len(batches) == len(receiver.applied) == -(-manifest["sent_count"] // 25)
    assert set(batches["idempotency_key"]) == set(receiver.applied)
    assert (batches["outcome"] == "sent").all() and batches["attempts"].max() > 1
    posted = [m["customer_id"] for batch in receiver.applied.values() for m in batch]
    assert sorted(posted) == sorted(treated["customer_id"])
    assert all(m["phone"].startswith("+") for batch in receiver.applied.values() for m in batch)


def test_a_webhook_without_its_endpoint_is_recorded_failed(writable, monkeypatch):
    warehouse, folder = writable
    monkeypatch.delenv("CIBLE_SMS_WEBHOOK_URL", raising=False)
    loyal = next(a for a in load_audiences_config().audiences if a.name == "loyal_sms_webhook")
    config = parse_audiences_config({"audiences": [{**loyal.model_dump(), "enabled": True}]})
    with duckdb.connect(str(warehouse)) as con:
        [outcome] = export_audiences(con, config, exports_dir=folder)
    assert outcome.manifest["status"] == "failed"
    assert "CIBLE_SMS_WEBHOOK_URL is not set" in outcome.manifest["status_detail"]


def test_a_missing_hashing_key_fails_that_audience_only(writable, monkeypatch):
    warehouse, folder = writable
    monkeypatch.delenv("CIBLE_ACTIVATION_KEY", raising=False)
    monkeypatch.setenv("CIBLE_ACTIVATION_KEY_FILE", str(folder / "no-such.key"))
    with duckdb.connect(str(warehouse)) as con:
        outcomes = export_audiences(con, load_audiences_config(), exports_dir=folder, force=True)
    status = {o.audience: o.manifest["status"] for o in outcomes}
    assert status["at_risk_ads"] == "failed"
    ads = next(o for o in outcomes if o.audience == "at_risk_ads")
    assert "CIBLE_ACTIVATION_KEY" in ads.manifest["status_detail"] and not ads.files
    assert {s for name, s in status.items() if name != "at_risk_ads"} <= {"written", "empty"}
