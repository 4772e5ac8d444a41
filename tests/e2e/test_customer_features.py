"""fct_customer_features against an independent pandas computation from the raw tables.

The pandas side re-implements the rules from their documentation (parsing, validation,
deduplication, sessions, windows) without reading any dbt model except the identity map,
which `test_identity_resolution.py` checks against the truth on its own.
"""

from __future__ import annotations

import shutil

import duckdb
import numpy as np
import pandas as pd
import pytest
from pipeline_support import dbt_command

TRACKING_PLAN = {
    "page_view",
    "product_view",
    "search",
    "scroll",
    "video_play",
    "wishlist_add",
    "add_to_cart",
    "checkout",
    "purchase",
    "login",
}
SESSION_GAP = pd.Timedelta(minutes=30)
FUTURE_MARGIN = pd.Timedelta(hours=24)


def _utc(series: pd.Series) -> pd.Series:
    """Naive UTC from a raw column: ISO 8601 text, or a timestamp when Parquet landed typed."""
    if pd.api.types.is_datetime64_any_dtype(series):
        parsed = pd.to_datetime(series, utc=True)
    else:
        parsed = pd.to_datetime(series.str.strip(), utc=True, format="ISO8601", errors="coerce")
    return parsed.dt.tz_localize(None)


def _loaded(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["_loaded_at"]) + FUTURE_MARGIN


@pytest.fixture(scope="module")
def expected(demo_build) -> pd.DataFrame:
    raw = {
        name: demo_build.query(f"select * from raw.{name}")
        for name in ("orders", "events", "campaign_events", "consents")
    }
    identities = demo_build.query(
        "select customer_number, customer_id from intermediate.int_customer_identities_resolved"
    ).set_index("customer_number")["customer_id"]
    as_of = pd.Timestamp(
        demo_build.query("select max(as_of_at) as as_of from marts.fct_customer_features").iloc[0][
            "as_of"
        ]
    )
    long_start, recent_start = as_of - pd.Timedelta(days=365), as_of - pd.Timedelta(days=90)

    # Orders: valid, in euros, deduplicated, of known customers, before the as-of date.
    orders = raw["orders"].copy()
    orders["ordered_at"] = _utc(orders["ordered_at"])
    orders["amount"] = pd.to_numeric(orders["amount"].str.replace(",", "."), errors="coerce")
    orders.loc[orders["channel"] == "store", "amount"] /= 100
    orders = orders[
        orders["ordered_at"].notna()
        & orders["amount"].notna()
        & (orders["ordered_at"] <= _loaded(orders))
        & (orders["amount"] >= 0)
    ]
    orders = orders.drop_duplicates("order_id", keep="last")
    orders["customer_id"] = orders["customer_number"].map(identities)
    orders = orders[orders["customer_id"].notna() & (orders["ordered_at"] < as_of)]
    in_long = orders["ordered_at"] >= long_start
    by_customer = orders.assign(
        long_orders=in_long.astype(int), long_revenue=orders["amount"].where(in_long, 0.0)
    ).groupby("customer_id")
    features = pd.DataFrame(
        {
            "orders_count": by_customer.size(),
            "orders_count_long_window": by_customer["long_orders"].sum(),
            "revenue_eur": by_customer["amount"].sum(),
            "revenue_long_window_eur": by_customer["long_revenue"].sum(),
            "recency_days": (
                as_of.normalize() - by_customer["ordered_at"].max().dt.normalize()
            ).dt.days,
        }
    )

    # Sessions: valid events, first copy of each id, known customers, 30-minute inactivity.
    events = raw["events"].copy()
    events["occurred_at"] = _utc(events["occurred_at"])
    events["received_at"] = _utc(events["received_at"])
    events = events[
        events["occurred_at"].notna()
        & events["event_type"].isin(TRACKING_PLAN)
        & (events["occurred_at"] <= _loaded(events))
    ]
    events = events.sort_values(["received_at", "_source_file", "_source_line"])
    events = events.drop_duplicates("event_id", keep="first")
    events["login_customer"] = events["customer_number"].map(identities)
    events = events[events["customer_number"].isna() | events["login_customer"].notna()]
    events = events.sort_values(["anonymous_id", "occurred_at", "event_id"])
    gap = events.groupby("anonymous_id")["occurred_at"].diff()
    events["session"] = (
        (gap.isna() | (gap > SESSION_GAP)).astype(int).groupby(events["anonymous_id"]).cumsum()
    )
    logins = events[events["login_customer"].notna() & (events["occurred_at"] < as_of)]
    device_customers = logins.groupby("anonymous_id")["login_customer"].agg(["nunique", "first"])
    sessions = (
        events.groupby(["anonymous_id", "session"])
        .agg(
            started=("occurred_at", "min"),
            ended=("occurred_at", "max"),
            login_customer=("login_customer", "max"),
            page_views=("event_type", lambda types: int((types == "page_view").sum())),
        )
        .reset_index()
    )
    single = device_customers[device_customers["nunique"] == 1]["first"]
    sessions["device_customer"] = sessions["anonymous_id"].map(single)
    sessions["customer_id"] = sessions["login_customer"].fillna(sessions["device_customer"])
    sessions = sessions[
        sessions["customer_id"].notna()
        & (sessions["ended"] < as_of)
        & (sessions["started"] >= long_start)
    ]
    recent = sessions[sessions["started"] >= recent_start]
    features = features.join(
        sessions.groupby("customer_id").size().rename("sessions_long_window"), how="outer"
    )
    features = features.join(
        recent.groupby("customer_id")["page_views"].sum().rename("page_views_recent_window"),
        how="outer",
    )

    # Campaigns first reached in the long window: the share that were opened before as-of.
    campaigns = raw["campaign_events"].copy()
    campaigns["occurred_at"] = _utc(campaigns["occurred_at"])
    campaigns["customer_id"] = campaigns["customer_number"].map(identities)
    campaigns = campaigns[
        campaigns["customer_id"].notna()
        & campaigns["occurred_at"].notna()
        & (campaigns["occurred_at"] < as_of)
    ]
    campaigns = campaigns.drop_duplicates("campaign_event_id")
    first_event = campaigns.groupby(["customer_id", "campaign_id"])["occurred_at"].min()
    per_campaign = campaigns.pivot_table(
        index=["customer_id", "campaign_id"],
        columns="event_type",
        values="campaign_event_id",
        aggfunc="count",
        fill_value=0,
    ).clip(upper=1)
    per_campaign = per_campaign[first_event.reindex(per_campaign.index) >= long_start]
    per_customer = per_campaign.groupby("customer_id").sum()
    features = features.join(
        (per_customer["open"] / per_campaign.groupby("customer_id").size()).rename(
            "campaign_open_rate"
        ),
        how="outer",
    )

    # Consent for e-mail on the as-of date: the latest event before it.
    consents = raw["consents"].copy()
    consents["occurred_at"] = _utc(consents["occurred_at"])
    consents["customer_id"] = consents["customer_number"].map(identities)
    consents = consents[
        consents["customer_id"].notna()
        & (consents["purpose"] == "email")
        & consents["occurred_at"].notna()
        & (consents["occurred_at"] < as_of)
    ]
    latest = consents.sort_values(["occurred_at", "consent_event_id"]).groupby("customer_id").last()
    features = features.join(
        (latest["status"] == "granted").rename("has_email_consent"), how="outer"
    )
    return features


@pytest.fixture(scope="module")
def actual(demo_build) -> pd.DataFrame:
    return demo_build.query("select * from marts.fct_customer_features").set_index("customer_id")


def test_one_row_per_resolved_customer(demo_build, actual):
    customers = demo_build.query("select count(*) as n from marts.dim_customers").iloc[0]["n"]
    assert actual.index.is_unique
    assert 0.95 * customers <= len(actual) <= customers


@pytest.mark.parametrize(
    "column",
    [
        "orders_count",
        "orders_count_long_window",
        "recency_days",
        "sessions_long_window",
        "page_views_recent_window",
    ],
)
def test_counts_equal_the_independent_computation(expected, actual, column):
    fill = None if column == "recency_days" else 0
    mine = actual[column]
    theirs = expected[column].reindex(actual.index)
    if fill is not None:
        theirs = theirs.fillna(fill)
    assert mine.notna().sum() > 100, "the column holds data"
    pd.testing.assert_series_equal(mine.astype("float"), theirs.astype("float"), check_names=False)


@pytest.mark.parametrize("column", ["revenue_eur", "revenue_long_window_eur", "campaign_open_rate"])
def test_amounts_and_rates_equal_the_independent_computation(expected, actual, column):
    theirs = expected[column].reindex(actual.index)
    if column.startswith("revenue"):
        theirs = theirs.fillna(0.0)
    assert actual[column].notna().sum() > 100
    np.testing.assert_allclose(
        actual[column].astype(float), theirs.astype(float), rtol=1e-9, atol=1e-6, equal_nan=True
    )


def test_email_consent_equals_the_independent_computation(expected, actual):
    theirs = expected["has_email_consent"].reindex(actual.index).fillna(False).astype(bool)
    assert actual["has_email_consent"].any() and not actual["has_email_consent"].all()
    assert (actual["has_email_consent"] == theirs).all()


# Behavioural columns: everything but the CRM's current socio-demographics (no history kept).
POINT_IN_TIME_COLUMNS = [
    "orders_count",
    "orders_count_long_window",
    "revenue_eur",
    "revenue_long_window_eur",
    "recency_days",
    "average_order_value_eur",
    "store_order_share",
    "promo_order_share",
    "leather_goods_revenue_share",
    "gifting_period_order_share",
    "sessions_long_window",
    "sessions_recent_window",
    "page_views_recent_window",
    "add_to_cart_rate",
    "mobile_session_share",
    "campaigns_received",
    "campaign_open_rate",
    "campaign_exclusive_offer_click_rate",
    "interest_exclusivity",
    "partner_income_band",
    "has_email_consent",
    "has_profiling_consent",
    "lifecycle_stage",
    "rfm_cell",
]
RAW_TIMESTAMPS = {
    "orders": "ordered_at",
    "events": "occurred_at",
    "campaign_events": "occurred_at",
    "survey_answers": "answered_at",
    "partner_enrichment": "fetched_at",
    "consents": "occurred_at",
}


def test_no_feature_uses_data_from_the_as_of_date_on(demo_build, tmp_path):
    """Features as of T are the same whether or not the data from T on exists."""
    end = pd.Timestamp(demo_build.manifest()["end_date"])
    as_of = (end - pd.Timedelta(days=75)).strftime("%Y-%m-%d")
    full, truncated = tmp_path / "full.duckdb", tmp_path / "truncated.duckdb"
    shutil.copy(demo_build.warehouse, full)
    shutil.copy(demo_build.warehouse, truncated)
    with duckdb.connect(str(truncated)) as con:
        con.execute("set TimeZone = 'UTC'")
        deleted = 0
        for table, column in RAW_TIMESTAMPS.items():
            # Raw Parquet sources are views over the files: keep the earlier rows in a table.
            before = con.execute(f"select count(*) from raw.{table}").fetchall()[0][0]
            con.execute(
                f"create table raw.{table}_kept as select * from raw.{table} "
                f"where not coalesce(try_cast({column} as timestamptz) "
                f">= timestamptz '{as_of} 00:00:00+00', false)"
            )
            kind = con.execute(
                "select table_type from information_schema.tables "
                f"where table_schema = 'raw' and table_name = '{table}'"
            ).fetchall()[0][0]
            con.execute(f"drop {'view' if kind == 'VIEW' else 'table'} raw.{table}")
            con.execute(f"alter table raw.{table}_kept rename to {table}")
            deleted += before - con.execute(f"select count(*) from raw.{table}").fetchall()[0][0]
    assert deleted > 1000, "the later data existed"

    variables = f"{{as_of_date: '{as_of}'}}"
    frames = []
    for warehouse in (full, truncated):
        dbt_command(["run", "--select", "+fct_customer_features", "--vars", variables], warehouse)
        with duckdb.connect(str(warehouse), read_only=True) as con:
            frames.append(
                con.execute(
                    "select customer_id, "
                    + ", ".join(POINT_IN_TIME_COLUMNS)
                    + " from marts.fct_customer_features order by customer_id"
                ).df()
            )
    with_future, without_future = frames
    assert (
        with_future.merge(without_future, on="customer_id").shape[0] == len(without_future) > 1000
    )
    merged = with_future.set_index("customer_id").loc[without_future["customer_id"]]
    pd.testing.assert_frame_equal(merged.reset_index(), without_future, check_dtype=False)


def test_a_feature_snapshot_as_of_another_date_builds_beside_the_current_one(demo_build, tmp_path):
    """`schema_prefix` + `as_of_date`: training features in their own schemas, nothing clobbered."""
    warehouse = tmp_path / "snapshot.duckdb"
    shutil.copy(demo_build.warehouse, warehouse)
    current = "select customer_id, as_of_at, orders_count, rfm_cell from {}.fct_customer_features"
    before = demo_build.query(current.format("marts") + " order by customer_id")
    dbt_command(
        [
            "run",
            "--select",
            "+fct_customer_features",
            "--vars",
            "{as_of_date: '2026-08-01', schema_prefix: 'training_'}",
        ],
        warehouse,
    )
    with duckdb.connect(str(warehouse), read_only=True) as con:
        after = con.execute(current.format("marts") + " order by customer_id").df()
        snapshot = con.execute(current.format("training_marts")).df()
        seed_schemas = con.execute(
            "select distinct table_schema from information_schema.tables "
            "where table_name = 'geo_departements'"
        ).fetchall()
    pd.testing.assert_frame_equal(before, after)
    assert set(snapshot["as_of_at"]) == {pd.Timestamp("2026-08-01")}
    assert 0 < len(snapshot) < len(before)
    assert snapshot["orders_count"].sum() < before["orders_count"].sum()
    assert seed_schemas == [("reference",)]
