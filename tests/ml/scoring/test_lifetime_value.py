"""BG/NBD, MBG/NBD and Gamma-Gamma: parameters recovered from data simulated with planted
values, and the same fits and predictions as the `lifetimes` library on the same data; which
model each published column comes from (issue #17)."""

import numpy as np
import pandas as pd
import pytest
from cible.ml.scoring.config import TargetConfig, parse_scoring_config
from cible.ml.scoring.lifetime_value import (
    BetaGeoModel,
    GammaGammaModel,
    LifetimeValueModel,
    ModifiedBetaGeoModel,
    transaction_summary,
)
from cible.ml.scoring.training import TrainingPlan, train_lifetime_value
from scoring_data import LIGHT_CONFIG

BG = {"r": 0.6, "alpha": 30.0, "a": 1.5, "b": 4.0}
GG = {"p": 6.0, "q": 10.0, "v": 900.0}


def simulate_bgnbd(n: int, seed: int = 0) -> pd.DataFrame:
    """Customers whose first purchase is at day 0, observed until T (BG/NBD's story)."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(BG["r"], 1 / BG["alpha"], n)
    dropout = rng.beta(BG["a"], BG["b"], n)
    big_t = rng.uniform(180, 720, n)
    frequency, recency = np.zeros(n, dtype=int), np.zeros(n)
    time, alive = np.zeros(n), np.ones(n, dtype=bool)
    while alive.any():
        time[alive] += rng.exponential(1 / rate[alive])
        bought = alive & (time <= big_t)
        frequency[bought] += 1
        recency[bought] = time[bought]
        alive = bought & (rng.random(n) >= dropout)
    return pd.DataFrame({"frequency": frequency, "recency": recency, "T": big_t})


def simulate_gamma_gamma(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    nu = rng.gamma(GG["q"], 1 / GG["v"], n)
    orders = 1 + rng.poisson(3, n)
    values = [rng.gamma(GG["p"], 1 / nu[i], orders[i]).mean() for i in range(n)]
    return pd.DataFrame({"orders": orders, "monetary_value": values})


def test_bgnbd_recovers_planted_parameters():
    data = simulate_bgnbd(6000)
    fitted = BetaGeoModel().fit(data["frequency"], data["recency"], data["T"]).params_
    for name, planted in BG.items():
        assert fitted[name] == pytest.approx(planted, rel=0.25), name


def test_gamma_gamma_recovers_planted_parameters():
    data = simulate_gamma_gamma(4000)
    fitted = GammaGammaModel().fit(data["orders"], data["monetary_value"]).params_
    assert fitted["p"] == pytest.approx(GG["p"], rel=0.1)
    assert fitted["q"] == pytest.approx(GG["q"], rel=0.25)
    mean = fitted["p"] * fitted["v"] / (fitted["q"] - 1)
    assert mean == pytest.approx(GG["p"] * GG["v"] / (GG["q"] - 1), rel=0.05)


def assert_predicts_like_lifetimes(ours, theirs, summary: pd.DataFrame, days: int) -> None:
    """Expected purchases over `days` to 1e-3 and P(alive) to 1e-4 of a `lifetimes` fitter's."""
    args = (summary["frequency"], summary["recency"], summary["T"])
    np.testing.assert_allclose(
        ours.expected_purchases(days, *args),
        theirs.conditional_expected_number_of_purchases_up_to_time(days, *args),
        rtol=1e-3,
    )
    np.testing.assert_allclose(
        ours.probability_alive(*args), theirs.conditional_probability_alive(*args), atol=1e-4
    )


def test_same_fit_and_predictions_as_the_lifetimes_library():
    lifetimes = pytest.importorskip("lifetimes")
    data = simulate_bgnbd(3000, seed=1)
    ours = BetaGeoModel().fit(data["frequency"], data["recency"], data["T"])
    theirs = lifetimes.BetaGeoFitter().fit(data["frequency"], data["recency"], data["T"])
    for name in BG:
        assert ours.params_[name] == pytest.approx(theirs.params_[name], rel=1e-3), name
    assert_predicts_like_lifetimes(ours, theirs, data, 90)
    spend = simulate_gamma_gamma(2000, seed=2)
    ours_gg = GammaGammaModel().fit(spend["orders"], spend["monetary_value"])
    theirs_gg = lifetimes.GammaGammaFitter().fit(spend["orders"], spend["monetary_value"])
    for name in GG:
        assert ours_gg.params_[name] == pytest.approx(theirs_gg.params_[name], rel=1e-3), name
    np.testing.assert_allclose(
        ours_gg.expected_order_value(spend["orders"], spend["monetary_value"]),
        theirs_gg.conditional_expected_average_profit(spend["orders"], spend["monetary_value"]),
        rtol=1e-4,
    )


def test_transaction_summary_by_hand():
    orders = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "a"],
            "ordered_at": pd.to_datetime(
                [
                    "2026-01-01 10:00",
                    "2026-01-01 18:00",
                    "2026-01-11 00:00",
                    "2026-01-21 00:00",
                    "2026-02-01 00:00",
                ]
            ),
            "amount": [100.0, 50.0, 150.0, 80.0, 999.0],
        }
    )
    # Orders before 2026-01-31: the period's last day is 2026-01-30.
    summary = transaction_summary(orders, pd.Timestamp("2026-01-31"))
    assert summary.loc["a"].to_dict() == {
        "frequency": 1,  # two purchase days (occasions): one repeat
        "recency": 10.0,
        "T": 29.0,  # to the last day of the period, not the day after it
        "monetary_value": 150.0,  # the repeat occasion only; the February one is later
        "orders": 3,
    }
    assert summary.loc["b", "frequency"] == 0 and summary.loc["b", "T"] == 9.0
    assert np.isnan(summary.loc["b", "monetary_value"])


def test_lifetime_value_is_purchases_times_value_without_discount():
    history = simulate_bgnbd(1500, seed=3)
    history["orders"] = history["frequency"] + 1
    history["monetary_value"] = 200.0
    model = LifetimeValueModel(horizon_days=360, discount_rate_monthly=0.0).fit(history)
    predicted = model.predict(history)
    np.testing.assert_allclose(
        predicted["lifetime_value_eur"],
        predicted["expected_purchases"] * predicted["expected_order_value_eur"],
        rtol=1e-9,
    )
    discounted = LifetimeValueModel(horizon_days=360, discount_rate_monthly=0.02).fit(history)
    assert (
        discounted.predict(history)["lifetime_value_eur"] < predicted["lifetime_value_eur"]
    ).all()
    assert predicted["probability_alive"].between(0, 1).all()


# Fader, Hardie & Lee (2005), on the CDNOW 1/10 sample (2,357 customers, 39-week calibration
# ending 1997-09-30): BG/NBD in weeks, Gamma-Gamma in dollars, and the expected repeat
# transactions of the 39-week holdout (actual: 1,882).
PAPER_BG = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PAPER_GG = {"p": 6.25, "q": 3.74, "v": 15.44}
PAPER_HOLDOUT_FORECAST = 1653


def cdnow_orders() -> pd.DataFrame:
    """The raw CDNOW sample shipped inside the `lifetimes` wheel (no download)."""
    lifetimes = pytest.importorskip("lifetimes")
    from pathlib import Path

    path = Path(lifetimes.__file__).parent / "datasets" / "CDNOW_sample.txt"
    raw = pd.read_csv(path, header=None, sep=r"\s+", names=["customer_id", "index", "date",
                                                              "quantity", "amount"])  # fmt: skip
    return pd.DataFrame(
        {
            "customer_id": raw["customer_id"],
            "ordered_at": pd.to_datetime(raw["date"].astype(str), format="%Y%m%d"),
            "amount": raw["amount"].astype(float),
        }
    )


def test_built_from_raw_cdnow_orders_the_models_give_the_published_figures():
    orders = cdnow_orders()
    calibration = transaction_summary(orders, pd.Timestamp("1997-10-01"))
    assert len(calibration) == 2357 and calibration["frequency"].sum() == 2457
    model = LifetimeValueModel(horizon_days=273).fit(calibration)
    fitted = model.params
    weekly = {**fitted, "alpha": fitted["alpha"] / 7}  # Cible counts days, the paper weeks
    for name, published in PAPER_BG.items():
        assert weekly[name] == pytest.approx(published, rel=0.01), name
    for name, published in PAPER_GG.items():
        assert fitted[name] == pytest.approx(published, rel=0.01), name
    forecast = model.purchases_.expected_purchases(
        273, calibration["frequency"], calibration["recency"], calibration["T"]
    ).sum()
    assert forecast == pytest.approx(PAPER_HOLDOUT_FORECAST, rel=0.01)
    holdout = orders[(orders["ordered_at"] >= "1997-10-01") & (orders["ordered_at"] < "1998-07-01")]
    actual = holdout.groupby("customer_id")["ordered_at"].apply(lambda s: s.dt.floor("D").nunique())
    assert actual.sum() == 1882


def test_mbgnbd_gives_the_same_fit_and_predictions_as_lifetimes_on_cdnow():
    lifetimes = pytest.importorskip("lifetimes")
    calibration = transaction_summary(cdnow_orders(), pd.Timestamp("1997-10-01"))
    args = (calibration["frequency"], calibration["recency"], calibration["T"])
    ours = ModifiedBetaGeoModel().fit(*args)
    theirs = lifetimes.ModifiedBetaGeoFitter().fit(*args)
    for name in ("r", "alpha", "a", "b"):
        assert ours.params_[name] == pytest.approx(theirs.params_[name], rel=0.01), name
    assert_predicts_like_lifetimes(ours, theirs, calibration, 273)


def test_a_one_time_buyer_fades_under_mbgnbd_and_never_under_bgnbd():
    history = simulate_bgnbd(3000, seed=4)
    history["monetary_value"] = np.where(history["frequency"] > 0, 50.0, np.nan)
    model = LifetimeValueModel().fit(history)
    one_timers = pd.DataFrame(
        {"frequency": 0, "recency": 0.0, "T": [30.0, 180.0, 720.0], "monetary_value": np.nan}
    )
    alive = model.predict(one_timers)["probability_alive"].to_numpy()
    assert (np.diff(alive) < 0).all() and alive[-1] < 1
    bgnbd = model.candidates_["bg_nbd"].probability_alive(0, 0.0, one_timers["T"])
    np.testing.assert_array_equal(bgnbd, 1.0)


def test_p_alive_comes_from_mbgnbd_whichever_model_forecasts_purchases():
    history = simulate_bgnbd(2000, seed=5)
    history["monetary_value"] = np.where(history["frequency"] > 0, 80.0, np.nan)
    model = LifetimeValueModel().fit(history)
    assert model.column_models["expected_purchases"] == "bg_nbd"  # the default
    by_bgnbd = model.predict(history)
    by_mbgnbd = model.use_for_purchases("mbg_nbd").predict(history)
    assert model.family == "mbg_nbd_gamma_gamma"
    assert not np.allclose(by_bgnbd["expected_purchases"], by_mbgnbd["expected_purchases"])
    pd.testing.assert_series_equal(by_bgnbd["probability_alive"], by_mbgnbd["probability_alive"])
    np.testing.assert_allclose(
        by_bgnbd["probability_alive"],
        model.candidates_["mbg_nbd"].probability_alive(
            history["frequency"], history["recency"], history["T"]
        ),
    )
    # A version saved before issue #17 has no `alive_`: P(alive) is its purchase model's.
    older = LifetimeValueModel().fit(history)
    del older.alive_, older.candidates_
    assert older.column_models["probability_alive"] == "bg_nbd"
    np.testing.assert_allclose(
        older.predict(history)["probability_alive"],
        older.purchases_.probability_alive(history["frequency"], history["recency"], history["T"]),
    )


def test_training_publishes_the_purchase_model_with_the_lower_holdout_error():
    """On CDNOW, BG/NBD forecasts the holdout closer than MBG/NBD (Fader, Hardie & Lee's 1,653
    against 1,882 actual): it forecasts purchases, MBG/NBD gives P(alive), and the metrics
    carry both candidates' figures."""
    pytest.importorskip("lifetimes")
    orders = cdnow_orders()
    orders = orders[orders["ordered_at"] < "1998-07-01"]
    target = TargetConfig(
        name="lifetime_value", kind="lifetime_value", horizon_days=273, holdout_days=273
    )
    plan = TrainingPlan(target=target, cutoff=pd.Timestamp("1997-10-01"), schema_prefix=None)
    config = parse_scoring_config(
        {**LIGHT_CONFIG, "gates": {"lifetime_value": {"max_purchase_error": 0.5}}}
    )
    trained = train_lifetime_value(plan, config, orders)
    metrics = trained.metrics
    errors = {name: metrics[f"{name}_holdout_purchase_error"] for name in ("bg_nbd", "mbg_nbd")}
    assert errors["bg_nbd"] < errors["mbg_nbd"]
    assert trained.model_family == "bg_nbd_gamma_gamma+mbg_nbd_alive"
    assert trained.metadata["column_models"] == {
        "expected_purchases": "bg_nbd",
        "probability_alive": "mbg_nbd",
        "expected_order_value_eur": "gamma_gamma",
        "lifetime_value_eur": "bg_nbd_gamma_gamma",
    }
    assert metrics["holdout_purchase_error"] == errors["bg_nbd"]
    assert metrics["holdout_actual_purchases"] == 1882
    assert metrics["holdout_predicted_purchases"] == pytest.approx(PAPER_HOLDOUT_FORECAST, rel=0.01)
    assert metrics["probability_alive_auc"] == metrics["mbg_nbd_probability_alive_auc"]
    assert 0.5 < metrics["probability_alive_auc"] <= 1
    rows = trained.rows["model_metrics"]
    assert {"mbg_nbd_holdout_purchase_error", "probability_alive_auc"} <= set(rows["metric"])
