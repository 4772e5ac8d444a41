"""`rpt_audience_uplift` finds a planted treatment effect inside its interval, does not call a
null effect significant, and flags groups too small to conclude (a real dbt run over a copy of
the whole-run warehouse with planted exports, members and orders)."""

import shutil
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest

from cible import warehouse as wh
from cible.activation.exports import declared_tables
from tests.pipeline_support import dbt_command

AS_OF = datetime(2031, 3, 1)
WINDOW = 30
# audience -> (customers per arm, holdout conversion rate, treated conversion rate)
PLANTED = {"planted": (20_000, 0.10, 0.13), "null": (20_000, 0.10, 0.10), "tiny": (40, 0.10, 0.40)}


def planted_rows(seed: int = 17):
    rng = np.random.default_rng(seed)
    exports, members, orders = [], [], []
    for audience, (n, holdout_rate, treated_rate) in PLANTED.items():
        export_id = f"{audience}-planted"
        exports.append(
            {
                "audience": audience, "export_id": export_id, "exported_at": AS_OF,
                "as_of_at": AS_OF, "segment_run_id": "r", "scoring_run_id": None,
                "definition_fingerprint": "f", "segment_id": "s", "destination": "file:csv",
                "destination_type": "file", "identifier_type": "plain", "mode": "full",
                "purpose": "email", "consent_basis": "consent: 1", "eligible_count": 2 * n,
                "sent_count": n, "held_out_count": n, "excluded_suppressed": 0,
                "excluded_no_consent": 0, "excluded_no_identifier": 0, "entered_count": n,
                "left_count": 0, "rows_written": n, "location": "x", "status": "written",
                "status_detail": "planted", "uplift_window_days": WINDOW,
                "uplift_min_per_arm": 100, "uplift_min_expected_conversions": 5,
            }
        )  # fmt: skip
        for arm, rate in (("treated", treated_rate), ("holdout", holdout_rate)):
            ids = [f"{audience}-{arm}-{i:05d}" for i in range(n)]
            members += [(audience, export_id, c, arm, "cluster_01") for c in ids]
            converted = rng.random(n) < rate
            for customer, hit in zip(ids, converted, strict=True):
                if hit:  # an order inside the window
                    day = rng.uniform(0.5, WINDOW - 0.5)
                    orders.append((customer, AS_OF + timedelta(days=day)))
                elif rng.random() < 0.2:  # outside it: before the export, or after the window
                    day = rng.choice([-10.0, WINDOW + 5.0])
                    orders.append((customer, AS_OF + timedelta(days=day)))
    # The data reaches past every window.
    orders.append(("someone-else", AS_OF + timedelta(days=WINDOW + 30)))
    members = pd.DataFrame(
        members, columns=["audience", "export_id", "customer_id", "arm", "stratum"]
    )
    orders = pd.DataFrame(orders, columns=["customer_id", "ordered_at"])
    orders["order_id"] = [f"planted-{i}" for i in range(len(orders))]
    orders["amount"] = 100.0
    return pd.DataFrame(exports), members, orders


@pytest.fixture(scope="module")
def uplift(materialized_run, tmp_path_factory) -> pd.DataFrame:
    root = tmp_path_factory.mktemp("uplift")
    warehouse = root / "warehouse.duckdb"
    shutil.copy(materialized_run["warehouse"], warehouse)
    exports, members, orders = planted_rows()
    specs = declared_tables()
    with duckdb.connect(str(warehouse)) as con:
        for table in ("audience_exports", "audience_members"):
            con.execute(f"delete from activation.{table}")
        wh.append_declared(con, exports, specs["audience_exports"])
        wh.append_declared(con, members, specs["audience_members"])
        con.register("planted_orders", orders)
        con.execute("insert into marts.fct_orders by name select * from planted_orders")
    dbt_command(["build", "--select", "rpt_audience_uplift"], warehouse)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute("select * from marts.rpt_audience_uplift").df().set_index("audience")


def test_planted_effect_is_found_inside_the_interval(uplift):
    row = uplift.loc["planted"]
    assert row["treated_n"] == row["holdout_n"] == 20_000
    assert row["ci_low"] < 0.03 < row["ci_high"]
    assert row["is_significant"] and not row["is_too_small"]
    assert row["uplift"] == pytest.approx(row["treated_rate"] - row["holdout_rate"])
    assert row["status"] == "significant at 95%"


def test_null_effect_is_not_significant(uplift):
    row = uplift.loc["null"]
    assert row["ci_low"] < 0 < row["ci_high"]
    assert not row["is_significant"]
    assert row["status"] == "not significant at 95%"


def test_too_small_groups_are_flagged_not_significant(uplift):
    row = uplift.loc["tiny"]
    assert row["is_too_small"] and not row["is_significant"]
    assert row["status"].startswith("too small")
    # The difference is large: only the flag keeps it from being reported significant.
    assert row["ci_low"] > 0


def test_conversions_outside_the_window_do_not_count(uplift):
    _, members, orders = planted_rows()
    inside = orders[
        (orders["ordered_at"] > AS_OF) & (orders["ordered_at"] <= AS_OF + timedelta(days=WINDOW))
    ]
    expected = members.merge(inside, on="customer_id").drop_duplicates("customer_id")
    for audience in PLANTED:
        mine = expected[expected["audience"] == audience]
        row = uplift.loc[audience]
        assert row["treated_conversions"] == (mine["arm"] == "treated").sum()
        assert row["holdout_conversions"] == (mine["arm"] == "holdout").sum()
