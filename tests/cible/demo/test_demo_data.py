"""The demo-data generator: determinism, folder safety, defect accounting and planted structure.

Every test generates its data in a temporary folder. Defect counts in truth/defects.json are
recounted from the landing files themselves, the way the pipeline will see them.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from cible.contract import load_contract
from cible.demo import DEFECT_RATES, MARKER, generate
from cible.demo.__main__ import main
from cible.demo.generator import LANDING_NAMES
from cible.demo.reference import load_reference

END_DATE = date(2026, 10, 31)
CUTOFF = pd.Timestamp("2026-11-01", tz="UTC")
FAR_FUTURE = CUTOFF + pd.DateOffset(years=20)
PARIS_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+0[12]:00$")
UTC_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """3,000 persons in chunks of 1,000 (streaming), mixed formats."""
    root = tmp_path_factory.mktemp("mixed")
    manifest = generate(
        root / "landing", root / "truth", n_customers=3000, seed=11, chunk_size=1000
    )
    return root / "landing", root / "truth", manifest


@pytest.fixture(scope="module")
def defects(mixed):
    return json.loads((mixed[1] / "defects.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def contract():
    return load_contract()


def read_csv(path: Path) -> tuple[list[str], pd.DataFrame, int]:
    """Header, well-formed rows (empty field -> None) and the number of malformed lines."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows, malformed = [], 0
        for row in reader:
            if len(row) == len(header):
                rows.append([value if value != "" else None for value in row])
            else:
                malformed += 1
    return header, pd.DataFrame(rows, columns=header, dtype=object), malformed


def read_jsonl(path: Path) -> tuple[pd.DataFrame, int]:
    records, malformed = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            malformed += 1
    return pd.DataFrame(records), malformed


def email_key(value: str | None) -> str | None:
    if value is None:
        return None
    text = unicodedata.normalize("NFKD", value.strip().lower())
    return "".join(c for c in text if not unicodedata.combining(c))


def e164(value: str | None) -> str | None:
    """Mirror of the staging macro ``normalise_phone_e164``."""
    if value is None:
        return None
    text = value.strip()
    digits = re.sub(r"[^0-9]", "", text)
    if text.startswith("+33") and digits.startswith("330"):
        return "+33" + digits[3:]
    if text.startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    if digits.startswith("0") and len(digits) == 10:
        return "+33" + digits[1:]
    return None


def levenshtein(left: str, right: str) -> int:
    previous = list(range(len(right) + 1))
    for i, a in enumerate(left, start=1):
        current = [i]
        for j, b in enumerate(right, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b)))
        previous = current
    return previous[-1]


def name_key(first: str, last: str) -> str:
    return email_key(f"{first} {last}")


@pytest.fixture(scope="module")
def customers(mixed):
    return read_csv(mixed[0] / "customers.csv")


@pytest.fixture(scope="module")
def orders(mixed):
    return read_csv(mixed[0] / "orders.csv")


@pytest.fixture(scope="module")
def events(mixed):
    return pd.read_parquet(mixed[0] / "events")


@pytest.fixture(scope="module")
def records(mixed):
    return pd.read_parquet(mixed[1] / "records.parquet")


@pytest.fixture(scope="module")
def known_numbers(customers):
    return set(customers[1]["customer_number"])


# --------------------------------------------------------------------------- the run itself


def test_same_seed_same_files_and_other_seed_other_files(tmp_path):
    def run(name: str, seed: int) -> Path:
        generate(
            tmp_path / name / "landing",
            tmp_path / name / "truth",
            n_customers=400,
            seed=seed,
            chunk_size=150,
        )
        return tmp_path / name

    first, again, other = run("a", 3), run("b", 3), run("c", 4)
    files = sorted(
        p.relative_to(first) for p in first.rglob("*") if p.is_file() and p.name != "manifest.json"
    )
    assert len(files) > 15
    for relative in files:
        assert (first / relative).read_bytes() == (again / relative).read_bytes(), relative
    manifest_a = json.loads((first / "truth" / "manifest.json").read_text())
    manifest_b = json.loads((again / "truth" / "manifest.json").read_text())
    manifest_a.pop("elapsed_seconds"), manifest_b.pop("elapsed_seconds")
    assert manifest_a == manifest_b
    for name in ("landing/customers.csv", "landing/orders.csv", "truth/persons.parquet"):
        assert (first / name).read_bytes() != (other / name).read_bytes()


def test_refuses_a_landing_folder_that_is_not_a_demo(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "customers.csv").write_text("my own data\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not empty"):
        generate(landing, tmp_path / "truth", n_customers=50)
    assert (landing / "customers.csv").read_text(encoding="utf-8") == "my own data\n"
    with pytest.raises(ValueError, match="outside the landing"):
        generate(tmp_path / "empty", tmp_path / "empty" / "truth", n_customers=50)
    with pytest.raises(ValueError, match="file_format"):
        generate(tmp_path / "l2", tmp_path / "t2", n_customers=50, file_format="xlsx")


def test_a_demo_folder_is_cleared_and_rewritten(tmp_path):
    landing, truth = tmp_path / "landing", tmp_path / "truth"
    generate(landing, truth, n_customers=200, file_format="parquet")
    assert (landing / MARKER).exists()
    (landing / "events" / "part-00042.parquet").write_bytes(b"stale")
    (landing / "notes.txt").write_text("kept", encoding="utf-8")
    generate(landing, truth, n_customers=200)  # now mixed: the .parquet sources must go
    assert not (landing / "events" / "part-00042.parquet").exists()
    assert not (landing / "customers.parquet").exists()
    assert (landing / "customers.csv").exists()
    assert (landing / "notes.txt").read_text(encoding="utf-8") == "kept"


def test_cli_prints_a_summary(tmp_path, capsys):
    code = main(
        [
            "--customers",
            "150",
            "--seed",
            "2",
            "--landing",
            str(tmp_path / "l"),
            "--truth",
            str(tmp_path / "t"),
            "--format",
            "parquet",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "Rows written" in out and "customers" in out and "Done in" in out
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "data.csv").write_text("x", encoding="utf-8")
    assert (
        main(
            [
                "--customers",
                "10",
                "--landing",
                str(tmp_path / "mine"),
                "--truth",
                str(tmp_path / "t2"),
            ]
        )
        == 2
    )


def test_chunks_give_the_same_kind_of_output(tmp_path, mixed, events, defects):
    whole = tmp_path / "whole"
    generate(whole / "landing", whole / "truth", n_customers=3000, seed=11, chunk_size=5000)
    one = json.loads((whole / "truth" / "defects.json").read_text())
    for name, rows in defects["rows_written"].items():
        assert rows == pytest.approx(one["rows_written"][name], rel=0.15, abs=25), name
    # identifiers stay unique across chunks
    customers = read_csv(mixed[0] / "customers.csv")[1]
    assert (
        customers["customer_number"].nunique() == len(customers) - defects["customers"]["re_export"]
    )
    orders = read_csv(mixed[0] / "orders.csv")[1]
    assert orders["order_id"].is_unique
    assert events["event_id"].nunique() == len(events) - defects["events"]["duplicate_event"]
    sessions = events.drop_duplicates("session_id")
    assert sessions["session_id"].is_unique
    answers = read_jsonl(mixed[0] / "survey_answers.jsonl")[0]
    assert answers["answer_id"].is_unique
    consents = read_csv(mixed[0] / "consents.csv")[1]
    assert consents["consent_event_id"].is_unique
    persons = pd.read_parquet(mixed[1] / "persons.parquet")
    assert persons["person_id"].is_unique and len(persons) == 3000


def test_no_events_when_asked_for_none(tmp_path):
    generate(tmp_path / "landing", tmp_path / "truth", n_customers=200, events_per_customer=0)
    assert pq.read_table(tmp_path / "landing" / "events").num_rows == 0


# --------------------------------------------------------------------------- layout


def test_mixed_layout_follows_the_contract(mixed, contract):
    landing, truth, manifest = mixed
    expected = {
        "customers.csv",
        "orders.csv",
        "order_lines",
        "events",
        "campaign_events.csv",
        "survey_answers.jsonl",
        "partner_enrichment.jsonl",
        "consents.csv",
        "erasure_requests.csv",
        MARKER,
    }
    assert {p.name for p in landing.iterdir()} == expected
    for name in ("customers", "orders", "campaign_events", "consents", "erasure_requests"):
        header = (landing / f"{name}.csv").read_text(encoding="utf-8").splitlines()[0]
        assert header.split(",") == list(contract[name].column_names)
    for name in ("survey_answers", "partner_enrichment"):
        first = json.loads((landing / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()[0])
        assert list(first) == list(contract[name].column_names)
    assert len(list((landing / "events").glob("part-*.parquet"))) >= 3  # one per chunk
    events = pq.read_schema(next((landing / "events").glob("*.parquet")))
    assert events.names == list(contract["events"].column_names)
    assert events.field("occurred_at").type == pa.timestamp("us", tz="UTC")
    assert events.field("duration_ms").type == pa.int64()
    lines = pq.read_schema(next((landing / "order_lines").glob("*.parquet")))
    assert lines.field("unit_price").type == pa.float64()
    assert {f"{name}.parquet" for name in ("persons", "records", "devices", "outcomes")} <= {
        p.name for p in truth.iterdir()
    }
    assert manifest["sources"]["customers"]["path"] == "customers.csv"
    assert manifest["sources"]["events"]["path"] == "events/"


def test_parquet_mode_has_every_source_in_parquet_and_no_malformed_line(tmp_path, contract):
    landing, truth = tmp_path / "landing", tmp_path / "truth"
    generate(landing, truth, n_customers=1500, seed=5, file_format="parquet", chunk_size=600)
    report = json.loads((truth / "defects.json").read_text())
    for name in LANDING_NAMES:
        path = landing / (name if name in ("events", "order_lines") else f"{name}.parquet")
        table = pq.read_table(path)
        assert table.schema.names == list(contract[name].column_names)
        assert table.num_rows == report["rows_written"][name], name
        assert report[name].get("malformed_line", 0) == 0
        for field in table.schema:
            data_type = contract[name].data_types[field.name]
            if data_type == "timestamp":
                assert field.type == pa.timestamp("us", tz="UTC")
            elif data_type == "integer":
                assert field.type == pa.int64()
    assert not list(landing.glob("*.csv")) and not list(landing.glob("*.jsonl"))
    orders = pq.read_table(landing / "orders.parquet").to_pandas()
    store = orders[orders["channel"] == "store"]["amount"]
    assert (store == store.round()).all() and store.median() > 10_000  # cents


def test_timestamps_carry_an_offset(mixed, customers, orders):
    landing = mixed[0]
    for frame, column in (
        (customers[1], "created_at"),
        (customers[1], "updated_at"),
        (orders[1], "ordered_at"),
    ):
        assert frame[column].str.match(PARIS_TIMESTAMP).all(), column
    at = orders[1]["ordered_at"]
    parsed = pd.to_datetime(at, format="ISO8601", utc=True)
    rendered = (
        parsed.dt.tz_convert("Europe/Paris")
        .dt.strftime("%Y-%m-%dT%H:%M:%S%z")
        .str.replace(r"(\d\d)(\d\d)$", r"\1:\2", regex=True)
    )
    assert (rendered == at).all()
    assert at.str.contains(r"-07-\d\dT.*\+02:00$").any()
    assert at.str.contains(r"-01-\d\dT.*\+01:00$").any()
    campaign = read_csv(landing / "campaign_events.csv")[1]
    assert campaign["occurred_at"].str.match(UTC_TIMESTAMP).all()
    answers = read_jsonl(landing / "survey_answers.jsonl")[0]
    assert answers["answered_at"].str.match(UTC_TIMESTAMP).all()
    assert customers[1]["birth_date"].dropna().str.match(r"^\d{4}-\d{2}-\d{2}$").all()


# --------------------------------------------------------------------------- defect accounting


def test_customer_defects_match_the_file(customers, defects, records):
    _header, frame, malformed = customers
    counts = defects["customers"]
    assert malformed == counts["malformed_line"] > 0
    assert len(frame) == defects["rows_written"]["customers"]
    for field in ("email", "phone", "birth_date", "postcode"):
        assert frame[field].isna().sum() == counts[f"missing_{field}"] > 0, field
    years = frame["birth_date"].dropna().str[:4].astype(int)
    assert (years >= 2050).sum() == counts["negative_age"] > 0
    assert (years < 1900).sum() == counts["implausible_age"] > 0
    assert years.between(2050, 2099).sum() == (years >= 2050).sum()
    assert frame["customer_number"].duplicated().sum() == counts["re_export"] > 0
    assert (records["record_kind"] == "duplicate_person").sum() == counts["duplicate_person"]
    assert (
        records.loc[records["record_kind"] == "primary", "household_of"].notna().sum()
        == counts["household_shared_phone"]
        > 0
    )
    assert len(records) == len(frame)
    rates = DEFECT_RATES["customers"]
    n_persons = (records["record_kind"] == "primary").sum()
    assert counts["missing_phone"] == pytest.approx(rates["missing_phone"] * n_persons, rel=0.2)
    assert counts["duplicate_person"] / n_persons == pytest.approx(0.08 * 1.25, rel=0.25)


def test_re_exports_are_later_copies(customers):
    frame = customers[1]
    again = frame[frame["customer_number"].duplicated(keep=False)]
    updated = pd.to_datetime(again["updated_at"], format="ISO8601", utc=True)
    first, second = updated.groupby(again["customer_number"]).agg(["first", "last"]).T.values
    assert (second > first).all()


def test_order_defects_match_the_file(mixed, orders, defects, known_numbers):
    landing = mixed[0]
    _, frame, malformed = orders
    counts = defects["orders"]
    assert malformed == counts["malformed_line"]
    assert len(frame) == defects["rows_written"]["orders"]
    ordered = pd.to_datetime(frame["ordered_at"], format="ISO8601", utc=True)
    future = ordered > FAR_FUTURE
    unknown = ~frame["customer_number"].isin(known_numbers)
    assert future.sum() == counts["future_timestamp"] > 0
    assert unknown.sum() == counts["unknown_customer"] > 0
    assert frame["customer_number"][unknown].str.match(r"^C99\d{6}$").all()
    assert (frame["channel"] == "store").sum() == counts["amount_in_cents"]
    lines = pd.read_parquet(landing / "order_lines")
    assert len(lines) == defects["rows_written"]["order_lines"]
    defective = set(frame["order_id"][future | unknown])
    assert (
        lines["order_id"].isin(defective).sum()
        == defects["order_lines"]["lines_of_defective_orders"]
    )


def test_order_total_is_the_sum_of_its_lines(mixed, orders):
    frame = orders[1]
    lines = pd.read_parquet(mixed[0] / "order_lines")
    store = frame["channel"] == "store"
    assert frame["amount"][store].str.match(r"^\d+$").all()
    assert frame["amount"][~store].str.match(r"^\d+\.\d{2}$").all()
    euros = np.where(store, frame["amount"].astype(float) / 100, frame["amount"].astype(float))
    total = (lines["quantity"] * lines["unit_price"]).groupby(lines["order_id"]).sum()
    assert np.allclose(total.reindex(frame["order_id"]).to_numpy(), euros, atol=0.005)
    assert frame["order_id"].is_unique and set(lines["order_id"]) == set(frame["order_id"])
    assert frame["store_code"][store].notna().all() and frame["store_code"][~store].isna().all()
    assert frame["currency"].eq("EUR").all()


def test_event_defects_match_the_files(events, defects, known_numbers):
    counts = defects["events"]
    tracking = set(load_reference().event_types)
    assert len(events) == defects["rows_written"]["events"]
    assert events["event_id"].duplicated().sum() == counts["duplicate_event"] > 0
    assert (~events["event_type"].isin(tracking)).sum() == counts["unknown_event_type"] > 0
    assert (events["occurred_at"] > FAR_FUTURE).sum() == counts["future_timestamp"] > 0
    first = events.sort_values("received_at").drop_duplicates("event_id")
    delay = first["received_at"] - first["occurred_at"]
    assert (delay >= pd.Timedelta(days=1.5)).sum() == counts["late_event"] > 0
    assert delay[delay >= pd.Timedelta(0)].le(pd.Timedelta(days=10)).all()
    unknown = events["customer_number"].notna() & ~events["customer_number"].isin(known_numbers)
    assert unknown.sum() == counts["unknown_customer"] > 0
    copies = events[events["event_id"].duplicated(keep=False)].sort_values("received_at")
    payload = [c for c in events.columns if c != "received_at"]
    assert copies.groupby("event_id")[payload].nunique().le(1).all().all()


def test_other_source_defects_match_the_files(mixed, defects, known_numbers):
    landing = mixed[0]
    _, campaign, malformed = read_csv(landing / "campaign_events.csv")
    assert malformed == defects["campaign_events"]["malformed_line"]
    assert (
        (~campaign["customer_number"].isin(known_numbers)).sum()
        == defects["campaign_events"]["unknown_customer"]
        > 0
    )
    assert len(campaign) == defects["rows_written"]["campaign_events"]
    answers, malformed = read_jsonl(landing / "survey_answers.jsonl")
    assert malformed == defects["survey_answers"]["malformed_line"] > 0
    assert (
        (~answers["answer_value"].between(1, 5)).sum()
        == defects["survey_answers"]["out_of_range"]
        > 0
    )
    assert len(answers) == defects["rows_written"]["survey_answers"]
    _, consents, malformed = read_csv(landing / "consents.csv")
    assert malformed == defects["consents"]["malformed_line"]
    assert len(consents) == defects["rows_written"]["consents"]
    partners, malformed = read_jsonl(landing / "partner_enrichment.jsonl")
    assert malformed == 0 and len(partners) == defects["rows_written"]["partner_enrichment"]
    _, erasures, malformed = read_csv(landing / "erasure_requests.csv")
    assert malformed == 0 and len(erasures) == defects["rows_written"]["erasure_requests"]
    assert set(defects["rates"]) == set(DEFECT_RATES)


def test_malformed_lines_never_open_a_quote(mixed):
    for name in ("customers", "orders", "campaign_events", "consents"):
        text = (mixed[0] / f"{name}.csv").read_text(encoding="utf-8")
        assert '"' not in text
        rows = list(csv.reader(io.StringIO(text)))
        assert sum(len(row) != len(rows[0]) for row in rows) > 0 or name == "consents"


# --------------------------------------------------------------------------- identity truth


def test_identity_rules_hold(customers, records):
    frame = customers[1].drop_duplicates("customer_number")
    truth = records.drop_duplicates("customer_number")
    data = frame.merge(truth, on="customer_number", validate="one_to_one")
    data["email_key"] = data["email"].map(email_key)
    data["phone_e164"] = data["phone"].map(e164)
    assert data["phone"].notna().eq(data["phone_e164"].notna()).all()
    assert data["customer_number"].str.match(r"^C\d{8}$").all()
    assert not data["customer_number"].str.startswith("C99").any()
    by_email = data.dropna(subset=["email_key"]).groupby("email_key")["person_id"].nunique()
    assert (by_email == 1).all(), "two persons share an e-mail"
    by_phone = data.dropna(subset=["phone_e164"]).groupby("phone_e164")["person_id"].unique()
    shared_phone = by_phone[by_phone.map(len) > 1]
    households = data[data["household_of"].notna()]
    assert len(shared_phone) > 0
    pairs = {frozenset(p) for p in shared_phone}
    assert pairs == {
        frozenset(p) for p in zip(households["person_id"], households["household_of"], strict=True)
    }
    primary = data[data["record_kind"] == "primary"].set_index("person_id")
    for a, b in (tuple(p) for p in pairs):
        left, right = primary.loc[a], primary.loc[b]
        assert left["last_name"] == right["last_name"]
        assert levenshtein(email_key(left["first_name"]), email_key(right["first_name"])) >= 3
        assert left["email_key"] != right["email_key"]
    duplicates = data[data["record_kind"] == "duplicate_person"]
    assert set(duplicates["duplicate_variant"]) == {
        "email_case_spaces",
        "email_accents",
        "phone_only_new_email",
        "name_typo",
    }
    for row in duplicates.itertuples():
        main_record = primary.loc[row.person_id]
        same_email = row.email_key is not None and row.email_key == main_record["email_key"]
        same_phone = row.phone_e164 is not None and row.phone_e164 == main_record["phone_e164"]
        close_names = (
            levenshtein(
                name_key(row.first_name, row.last_name),
                name_key(main_record["first_name"], main_record["last_name"]),
            )
            <= 2
        )
        assert same_email or (same_phone and close_names), row.customer_number
        if row.duplicate_variant == "email_case_spaces":
            assert row.email != row.email.strip() and row.email.strip() != main_record["email"]
        if row.duplicate_variant == "email_accents":
            assert row.email != main_record["email"] and same_email
    assert data["email"].str.contains("[éèëêïîôüç]", regex=True, na=False).any()
    assert data["phone"].str.startswith("+41", na=False).any()


def test_store_orders_prefer_the_store_record(orders, records):
    frame = orders[1]
    kind = records.drop_duplicates("customer_number").set_index("customer_number")["record_kind"]
    store = frame[frame["channel"] == "store"]["customer_number"].map(kind)
    web = frame[frame["channel"] == "web"]["customer_number"].map(kind)
    assert (store == "duplicate_person").mean() > 0.02
    assert (web.dropna() == "primary").all()


# --------------------------------------------------------------------------- web behaviour


def test_sessions_are_plausible(events, records, mixed):
    tracking = set(load_reference().event_types)
    valid = events[events["event_type"].isin(tracking) & (events["occurred_at"] < CUTOFF)]
    valid = valid.drop_duplicates("event_id").sort_values(["session_id", "occurred_at"])
    assert valid.groupby("session_id")["anonymous_id"].nunique().eq(1).all()
    assert valid.groupby("anonymous_id")["device_type"].nunique().eq(1).all()
    shifted = events.loc[events["occurred_at"] > FAR_FUTURE, "session_id"]
    whole = valid[~valid["session_id"].isin(shifted)]
    gaps = whole.groupby("session_id")["occurred_at"].diff().dropna().dt.total_seconds()
    assert gaps.between(5, 300).all()
    bounds = (
        valid.groupby(["anonymous_id", "session_id"])["occurred_at"]
        .agg(["min", "max"])
        .reset_index()
        .sort_values(["anonymous_id", "min"])
    )
    between = bounds.groupby("anonymous_id")["min"].shift(-1) - bounds["max"]
    assert (between.dropna() >= pd.Timedelta(hours=1)).all()
    assert valid["occurred_at"].min() >= CUTOFF - pd.Timedelta(days=366)
    primary = set(records.loc[records["record_kind"] == "primary", "customer_number"])
    logged = valid["customer_number"].dropna()
    assert logged.isin(primary).mean() > 0.99
    assert (valid["event_type"] == "login").sum() > 0
    assert valid.loc[valid["event_type"] == "scroll", "scroll_depth_pct"].between(0, 100).all()
    devices = pd.read_parquet(mixed[1] / "devices.parquet")
    assert devices["person_id"].isna().mean() == pytest.approx(0.25, abs=0.12)
    anonymous = valid["anonymous_id"].isin(devices.loc[devices["person_id"].isna(), "anonymous_id"])
    assert anonymous.mean() == pytest.approx(0.15, abs=0.05)
    assert valid["customer_number"][anonymous].isna().all()
    person_of = records.drop_duplicates("customer_number").set_index("customer_number")["person_id"]
    logins = valid.dropna(subset=["customer_number"]).assign(
        person=lambda d: d["customer_number"].map(person_of)
    )
    persons = logins.groupby("anonymous_id")["person"].nunique()
    shared = set(devices.loc[devices["is_shared"], "anonymous_id"])
    assert shared and (persons[persons.index.isin(shared)] >= 2).all()
    assert (persons[~persons.index.isin(shared)] <= 1).all()


# --------------------------------------------------------------------------- planted structure


@pytest.fixture(scope="module")
def person_orders(mixed, orders, records):
    frame = orders[1]
    person_of = records.drop_duplicates("customer_number").set_index("customer_number")["person_id"]
    persons = pd.read_parquet(mixed[1] / "persons.parquet").set_index("person_id")
    data = frame.assign(
        person_id=frame["customer_number"].map(person_of),
        at=pd.to_datetime(frame["ordered_at"], format="ISO8601", utc=True),
        euros=np.where(
            frame["channel"] == "store",
            frame["amount"].astype(float) / 100,
            frame["amount"].astype(float),
        ),
    ).dropna(subset=["person_id"])
    data = data[data["at"] < CUTOFF]
    return data.join(persons["persona"], on="person_id"), persons


def test_personas_differ_in_behaviour(person_orders, events, records):
    data, persons = person_orders
    mean_order = persons.groupby("persona")["mean_order_value"].mean()
    assert mean_order["parisian_vip"] > 3 * mean_order["young_mobile_browsers"]
    by = data.groupby("persona")
    store = by["channel"].apply(lambda s: (s == "store").mean())
    assert store["parisian_vip"] > 0.4 and store["riviera_seasonal"] > 0.4
    assert store["young_mobile_browsers"] < 0.15
    promo = by["promo_code"].apply(lambda s: s.notna().mean())
    assert promo["promo_hunters"] > 0.5 and promo.drop("promo_hunters").max() < 0.15
    month = data["at"].dt.month
    summer = month.isin([6, 7, 8]).groupby(data["persona"]).mean()
    assert summer["riviera_seasonal"] > 0.6
    gifting = (month.isin([5, 12])).groupby(data["persona"]).mean()
    assert gifting["gift_buyers"] > 0.6
    assert persons["region"][persons["persona"] == "parisian_vip"].eq("IDF").all()
    assert persons["region"][persons["persona"] == "riviera_seasonal"].eq("PAC").all()
    person_of = records.drop_duplicates("customer_number").set_index("customer_number")["person_id"]
    per_person = (
        events["customer_number"].map(person_of).dropna().map(persons["persona"]).value_counts()
        / persons["persona"].value_counts()
    )
    assert per_person["young_mobile_browsers"] > 2 * per_person["gift_buyers"]
    assert per_person["lapsed_big_spenders"] < 0.2 * per_person["parisian_vip"]
    assert 0.05 < persons["is_prospect"].mean() < 0.15


def test_kmeans_recovers_the_personas_of_buyers(person_orders, mixed):
    data, persons = person_orders
    lines = pd.read_parquet(mixed[0] / "order_lines").merge(
        data[["order_id", "person_id"]], on="order_id"
    )
    by = data.groupby("person_id")
    features = pd.DataFrame(
        {
            "orders": np.log1p(by.size()),
            "order_value": np.log(by["euros"].mean()),
            "recency": (CUTOFF - by["at"].max()).dt.days,
            "store": by["channel"].apply(lambda s: (s == "store").mean()),
            "promo": by["promo_code"].apply(lambda s: s.notna().mean()),
            "summer": by["at"].apply(lambda s: s.dt.month.isin([6, 7, 8]).mean()),
            "gifting": by["at"].apply(lambda s: s.dt.month.isin([5, 12]).mean()),
        }
    ).join(pd.crosstab(lines["person_id"], lines["product_category"], normalize="index"))
    features = features.fillna(0)
    labels = persons.loc[features.index, "persona"]
    clusters = KMeans(7, n_init=10, random_state=0).fit_predict(
        StandardScaler().fit_transform(features)
    )
    assert adjusted_rand_score(labels, clusters) >= 0.8


def test_true_probabilities_are_calibrated(person_orders, mixed):
    data, persons = person_orders
    outcomes = pd.read_parquet(mixed[1] / "outcomes.parquet").set_index("person_id")
    joined = persons.join(outcomes)
    assert joined["p_purchase_30d"].mean() == pytest.approx(
        (joined["orders_next_30d"] > 0).mean(), abs=0.03
    )
    assert joined["expected_orders_90d"].mean() == pytest.approx(
        joined["orders_next_90d"].mean(), rel=0.1
    )
    recent = data[data["at"] >= CUTOFF - pd.Timedelta(days=30)]["person_id"].unique()
    assert joined["p_purchase_30d_before_end"].mean() == pytest.approx(
        joined.index.isin(recent).mean(), abs=0.03
    )
    lapsed = joined[joined["persona"] == "lapsed_big_spenders"]
    assert lapsed["purchase_rate_per_year"].max() < 0.5
    assert (joined.loc[joined["is_prospect"]].index.isin(data["person_id"])).sum() == 0
