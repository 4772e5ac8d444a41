"""Point-in-time labels look only at their window, and bad input stops with a clear message."""

import pandas as pd
import pytest
from cible.ml.scoring.config import TargetConfig
from cible.ml.scoring.features import check_features, select_features
from cible.ml.scoring.labels import (
    TrainingDataError,
    build_labels,
    check_history,
    check_labels,
    scoring_population,
    training_cutoff,
)

T = pd.Timestamp("2026-10-02")
PURCHASE = TargetConfig(name="purchase_30d", kind="purchase", horizon_days=30)
CHURN = TargetConfig(name="churn_risk", kind="churn", horizon_days=180, active_window_days=365)
RESPONSE = TargetConfig(
    name="campaign_response", kind="campaign_response", horizon_days=30, response_events=("click",)
)
CUSTOMERS = pd.Index(["a", "b", "c", "d"], name="customer_id")


def orders(*rows):
    return pd.DataFrame(rows, columns=["customer_id", "ordered_at"]).astype(
        {"ordered_at": "datetime64[us]"}
    )


def test_purchase_labels_count_only_orders_inside_the_window():
    frame = orders(
        ("a", "2026-10-02 00:00:00"),  # first instant of the window: in
        ("b", "2026-10-01 23:59:59"),  # just before: out
        ("c", "2026-11-01 00:00:00"),  # the window's exclusive end: out
        ("d", "2026-10-31 23:59:59"),  # last instant: in
    )
    labels = build_labels(PURCHASE, CUSTOMERS, T, frame)
    assert labels.to_dict() == {"a": 1, "b": 0, "c": 0, "d": 1}


def test_churn_labels_cover_active_customers_only():
    frame = orders(
        ("a", "2026-05-01"),  # active, orders again in the window: not churned
        ("a", "2026-12-01"),
        ("b", "2026-01-01"),  # active, never again: churned
        ("c", "2025-01-01"),  # inactive for over a year: not in the population
    )
    labels = build_labels(CHURN, CUSTOMERS, T, frame)
    assert labels.to_dict() == {"a": 0, "b": 1}


def test_campaign_response_needs_a_send_in_the_window():
    events = pd.DataFrame(
        [
            ("a", "send", "2026-10-05"),
            ("a", "click", "2026-10-06"),
            ("b", "send", "2026-10-05"),
            ("b", "open", "2026-10-06"),
            ("c", "click", "2026-10-06"),  # a click without a send in the window
            ("d", "send", "2026-09-05"),  # sent before the cutoff
            ("d", "click", "2026-10-06"),
        ],
        columns=["customer_id", "event_type", "occurred_at"],
    ).astype({"occurred_at": "datetime64[us]"})
    labels = build_labels(RESPONSE, CUSTOMERS, T, orders(), events)
    assert labels.to_dict() == {"a": 1, "b": 0}


def test_the_cutoff_leaves_the_whole_window_inside_the_data():
    assert training_cutoff(pd.Timestamp("2026-11-01"), 30) == T
    assert check_history(PURCHASE, pd.Timestamp("2026-11-01"), pd.Timestamp("2023-10-31"), 365) == T


def test_a_horizon_longer_than_the_data_is_refused_with_the_dates():
    far = TargetConfig(name="purchase_3y", kind="purchase", horizon_days=1000)
    with pytest.raises(TrainingDataError) as error:
        check_history(far, pd.Timestamp("2026-11-01"), pd.Timestamp("2023-10-31"), 365)
    message = str(error.value)
    assert "horizon of 1000 days is too long" in message
    assert "2023-10-31 to 2026-11-01" in message and "365 are needed" in message
    assert "(targets.purchase_3y.horizon_days)" in message
    assert "365 are needed (training.min_history_days)" in message
    with pytest.raises(TrainingDataError, match="no order"):
        check_history(PURCHASE, pd.Timestamp("2026-11-01"), None, 365)


def test_too_few_positives_are_refused_before_training():
    labels = pd.Series([1] * 12 + [0] * 3000)
    with pytest.raises(TrainingDataError) as error:
        check_labels(PURCHASE, labels, 50, T)
    assert "only 12 positive labels among 3012 customers" in str(error.value)
    assert "training.min_positives" in str(error.value)
    check_labels(PURCHASE, pd.Series([1] * 60 + [0] * 60), 50, T)


def test_a_missing_feature_is_named(features_and_labels):
    frame, _ = features_and_labels
    with pytest.raises(TrainingDataError, match="feature\\(s\\) lifetime_spend listed"):
        select_features(frame.reset_index(), ["age", "lifetime_spend"], [])
    spec = select_features(frame.reset_index(), None, [])
    with pytest.raises(TrainingDataError, match="needs feature\\(s\\) age"):
        check_features(frame.drop(columns="age").columns, spec, "model purchase_30d-v0001")


def test_feature_kinds_and_exclusions(features_and_labels):
    frame, _ = features_and_labels
    spec = select_features(frame.reset_index(), None, ["age"])
    assert "gender" in spec.categorical and "partner_is_property_owner" in spec.numeric
    assert not {"customer_id", "as_of_at", "last_order_at", "age"} & set(spec.columns)
    # Consent flags decide who is profiled, never how: not inputs, even when listed.
    assert "has_email_consent" in frame.columns and "has_email_consent" not in spec.columns
    listed = select_features(frame.reset_index(), ["age", "has_email_consent"], [])
    assert listed.columns == ["age"]


def test_churn_scores_only_active_customers():
    frame = pd.DataFrame(
        {
            "as_of_at": pd.Timestamp("2026-11-01"),
            "last_order_at": pd.to_datetime(["2026-10-01", "2025-01-01", None]),
        }
    )
    assert scoring_population(CHURN, frame).tolist() == [True, False, False]
    assert scoring_population(PURCHASE, frame).all()


def test_a_short_history_names_the_settings_of_each_kind_of_target():
    """Nine months of orders: the message named training.min_history_days for lifetime value,
    which does not read it (#16, point 8)."""
    from cible.ml.scoring.config import parse_scoring_config
    from cible.ml.scoring.training import plan_training
    from scoring_data import LIGHT_CONFIG

    config = parse_scoring_config(
        {
            **LIGHT_CONFIG,
            "targets": {
                "purchase_30d": {"kind": "purchase", "horizon_days": 30},
                "lifetime_value": {
                    "kind": "lifetime_value",
                    "horizon_days": 365,
                    "holdout_days": 250,
                },
            },
        }
    )
    with pytest.raises(TrainingDataError) as error:
        plan_training(config, pd.Timestamp("2026-11-01"), pd.Timestamp("2026-02-01"))
    purchase, lifetime = str(error.value).split("\n")
    assert "(targets.purchase_30d.horizon_days)" in purchase
    assert "365 are needed (training.min_history_days)" in purchase
    assert "(targets.lifetime_value.holdout_days)" in lifetime
    assert "training.min_history_days" not in lifetime
    assert "90 are needed (the calibration period lifetime value needs, fixed)" in lifetime


def test_the_same_season_last_year_labels_the_window_a_year_before_the_scored_one():
    now = pd.Timestamp("2026-11-01")
    assert training_cutoff(now, 30, "same_season_last_year") == pd.Timestamp("2025-11-01")
    assert training_cutoff(now, 180, "same_season_last_year") == pd.Timestamp("2025-11-01")
    # A window longer than a year would reach today.
    with pytest.raises(TrainingDataError, match="400 days a year back would reach"):
        training_cutoff(now, 400, "same_season_last_year")
    # 29 February: the calendar day a year before.
    leap = training_cutoff(pd.Timestamp("2028-02-29"), 30, "same_season_last_year")
    assert leap == pd.Timestamp("2027-02-28")


def test_targets_labelled_a_year_back_share_one_snapshot_and_fall_back_when_history_is_short():
    from cible.ml.scoring.config import parse_scoring_config
    from cible.ml.scoring.training import plan_training
    from scoring_data import LIGHT_CONFIG

    targets = {
        "purchase_30d": {"kind": "purchase", "horizon_days": 30},
        "churn_risk": {"kind": "churn", "horizon_days": 180},
        "purchase_400d": {"kind": "purchase", "horizon_days": 400},
        "lifetime_value": {"kind": "lifetime_value", "horizon_days": 365, "holdout_days": 250},
    }
    training = {**LIGHT_CONFIG["training"], "label_window": "same_season_last_year"}
    config = parse_scoring_config({**LIGHT_CONFIG, "targets": targets, "training": training})
    now = pd.Timestamp("2026-11-01")

    plans = {p.target.name: p for p in plan_training(config, now, pd.Timestamp("2023-06-01"))}
    for name in ("purchase_30d", "churn_risk"):
        assert plans[name].cutoff == pd.Timestamp("2025-11-01")
        assert (plans[name].window_rule, plans[name].note) == ("same_season_last_year", None)
        assert plans[name].schema_prefix == "training_last_year_"
    assert plans["lifetime_value"].cutoff == now - pd.Timedelta(days=250)
    # Too long a horizon for a year back: the latest window, its own snapshot, and why.
    long = plans["purchase_400d"]
    assert long.cutoff == now - pd.Timedelta(days=400)
    assert (long.window_rule, long.schema_prefix) == ("latest", "training_400d_")
    assert "would reach the current as-of date" in long.note

    # 18 months of orders: a year back leaves 6 months before the cutoff, 365 days are needed.
    config = config.subset(["purchase_30d", "churn_risk", "lifetime_value"])
    short = {p.target.name: p for p in plan_training(config, now, pd.Timestamp("2025-05-01"))}
    purchase = short["purchase_30d"]
    assert purchase.cutoff == pd.Timestamp("2026-10-02")
    assert purchase.window_rule == "latest" and purchase.schema_prefix == "training_30d_"
    assert "same_season_last_year not possible" in purchase.note
    assert "365 are needed" in purchase.note
