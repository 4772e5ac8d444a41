"""Customer lifetime value: BG/NBD and MBG/NBD for the number of future purchases and
P(alive), and Gamma-Gamma for the value of an order (Fader, Hardie & Lee 2005, "Counting your
customers the easy way" and "RFM and CLV"; Batislam, Denizel & Filiztekin 2007 and Hoppe &
Wagner 2007 for MBG/NBD).

Both purchase models are fitted (each takes well under a second) and each column comes from the
one that measures better (issue #17). `probability_alive` comes from MBG/NBD: BG/NBD lets a
customer drop out only at a repeat purchase, so a one-time buyer is "alive" with probability 1
however long ago they bought, and its P(alive) ranked dormant one-time buyers first (AUC 0.29
against "bought in the next 180 days" on independent data). MBG/NBD also lets them drop out at
the first purchase. Expected purchases (and so lifetime value) come from the model with the
lower purchase error on the calibration hold-out (`LifetimeValueModel.use_for_purchases`),
BG/NBD unless told: on CDNOW, MBG/NBD forecasts the 39 holdout weeks at 1,577 repeat purchases
against BG/NBD's 1,653 (actual 1,882).

Written with scipy rather than taken from a library (docs/scoring.md says why): the
likelihoods and conditional expectations are the published closed forms, the same as the
`lifetimes` package computes; `tests/ml/scoring/test_lifetime_value.py` checks both fits
against `lifetimes` on the same data and against parameters planted in simulated data.

Time is in days. A customer's summary as of a date (`transaction_summary`) is: `frequency` x
= repeat purchase occasions (days with orders after the first), `recency` t_x = days from the
first occasion to the last, `T` = days from the first occasion to the last day of the period,
and `monetary_value` = mean value of the repeat occasions; Gamma-Gamma is fitted on the
customers with one, over their x occasions. Built from raw orders this way, the CDNOW sample
gives the published parameters (tests/ml/scoring/test_lifetime_value.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

DAY = pd.Timedelta(days=1)
# Log-parameters are kept within these bounds: a parameter running off to infinity (BG/NBD's
# a and b when nobody drops out) stops there instead of stalling the optimiser.
LOG_BOUNDS = (-12.0, 18.0)


def _minimize(objective, start: np.ndarray):
    """Minimise over log-parameters: L-BFGS-B, then Nelder-Mead polish from its end point."""
    bounds = [LOG_BOUNDS] * len(start)
    result = minimize(objective, start, method="L-BFGS-B", bounds=bounds)
    polished = minimize(
        objective,
        result.x,
        method="Nelder-Mead",
        bounds=bounds,
        options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 2000},
    )
    return polished if polished.fun <= result.fun else result


def transaction_summary(
    orders: pd.DataFrame, as_of: pd.Timestamp, customer_ids: pd.Index | None = None
) -> pd.DataFrame:
    """Per-customer frequency, recency, T and monetary value from orders before `as_of`, as
    the models define them (Fader, Hardie & Lee 2005): a purchase *occasion* is a customer's
    day with orders (same-day orders are one occasion, worth their sum); `frequency` counts the
    repeat occasions, `recency` the days from the first occasion to the last, `T` the days from
    the first occasion to the last day of the period (the day before `as_of`), and
    `monetary_value` is the mean value of the repeat occasions (NaN without one: the first
    purchase, often of another kind, is left out of the spend model).

    Args:
        orders: `customer_id`, `ordered_at`, `amount`.
        as_of: the end of the period, exclusive (orders before it count).
        customer_ids: customers to keep (others dropped; those without orders left out).
    """
    before = orders[orders["ordered_at"] < as_of]
    if customer_ids is not None:
        before = before[before["customer_id"].isin(customer_ids)]
    occasions = (
        before.assign(day=before["ordered_at"].dt.floor("D"))
        .groupby(["customer_id", "day"], as_index=False)
        .agg(value=("amount", "sum"), orders=("amount", "size"))
        .sort_values(["customer_id", "day"])
    )
    grouped = occasions.groupby("customer_id")
    first, last = grouped["day"].min(), grouped["day"].max()
    last_day = (pd.Timestamp(as_of) - pd.Timedelta(microseconds=1)).floor("D")
    repeat = occasions[occasions.groupby("customer_id").cumcount() > 0]
    summary = pd.DataFrame(
        {
            "frequency": grouped.size() - 1,
            "recency": (last - first) / DAY,
            "T": (last_day - first) / DAY,
            "monetary_value": repeat.groupby("customer_id")["value"].mean().astype(float),
            "orders": grouped["orders"].sum(),
        }
    )
    return summary.astype({"frequency": int, "orders": int})


def purchase_days(orders: pd.DataFrame, start: pd.Timestamp, customer_ids: pd.Index) -> pd.Series:
    """Each customer's purchase occasions (days with orders) from `start` on: what a purchase
    model's forecast for a holdout starting then is compared with (0 for none)."""
    later = orders[orders["ordered_at"] >= start]
    return (
        later.assign(day=later["ordered_at"].dt.floor("D"))
        .groupby("customer_id")["day"]
        .nunique()
        .reindex(customer_ids, fill_value=0)
    )


# ---------- BG/NBD


def bgnbd_log_likelihood(params: np.ndarray, x, t_x, T) -> np.ndarray:
    """Log-likelihood of each customer under BG/NBD with params (r, alpha, a, b)."""
    r, alpha, a, b = params
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    alive = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        dropped = np.where(
            x > 0,
            betaln(a + 1, b + np.maximum(x, 1) - 1) - betaln(a, b) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return common + np.logaddexp(alive, dropped)


def mbgnbd_log_likelihood(params: np.ndarray, x, t_x, T) -> np.ndarray:
    """Log-likelihood of each customer under MBG/NBD with params (r, alpha, a, b)."""
    r, alpha, a, b = params
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    alive = betaln(a, b + x + 1) - betaln(a, b) - (r + x) * np.log(alpha + T)
    dropout_odds = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return common + alive + np.logaddexp(0.0, dropout_odds)


@dataclass
class BetaGeoModel:
    """BG/NBD fitted by maximum likelihood (optionally with an L2 penalty on log-params)."""

    penalizer: float = 0.0
    params_: dict[str, float] = field(default_factory=dict)
    log_likelihood = staticmethod(bgnbd_log_likelihood)

    def fit(self, frequency, recency, T, weights=None) -> BetaGeoModel:
        x, t_x, big_t = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
        scale = 1.0 / max(big_t.max(), 1.0)  # fit on a unit time scale (better conditioned)

        def objective(log_params):
            params = np.exp(log_params)
            ll = self.log_likelihood(params, x, t_x * scale, big_t * scale)
            penalty = self.penalizer * np.sum(log_params**2)
            return -(w * ll).sum() / w.sum() + penalty

        result = _minimize(objective, np.log([0.5, 0.5, 1.0, 1.0]))
        r, alpha, a, b = np.exp(result.x)
        self.params_ = {"r": r, "alpha": alpha / scale, "a": a, "b": b}
        self.converged_ = bool(result.success)
        self.log_likelihood_ = float(-result.fun * w.sum())
        return self

    def _p(self):
        if not self.params_:
            raise RuntimeError("BetaGeoModel is not fitted")
        p = self.params_
        return p["r"], p["alpha"], p["a"], p["b"]

    def expected_purchases(self, t, frequency, recency, T) -> np.ndarray:
        """E[purchases in (T, T + t]] given the customer's history."""
        r, alpha, a, b = self._p()
        x, t_x, big_t = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        t = np.asarray(t, dtype=float)
        z = t / (alpha + big_t + t)
        hyp = hyp2f1(r + x, b + x, a + b + x - 1, z)
        numerator = (
            (a + b + x - 1)
            / (a - 1)
            * (1 - ((alpha + big_t) / (alpha + big_t + t)) ** (r + x) * hyp)
        )
        return numerator / (1 + self._dropout_odds(x, t_x, big_t))

    def _dropout_odds(self, x, t_x, big_t) -> np.ndarray:
        r, alpha, a, b = self._p()
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            odds = (a / (b + x - 1)) * ((alpha + big_t) / (alpha + t_x)) ** (r + x)
        return np.where(x > 0, odds, 0.0)

    def probability_alive(self, frequency, recency, T) -> np.ndarray:
        """P(the customer is still active) given their history."""
        x, t_x, big_t = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        return 1.0 / (1.0 + self._dropout_odds(x, t_x, big_t))


@dataclass
class ModifiedBetaGeoModel(BetaGeoModel):
    """MBG/NBD: BG/NBD where a customer may also drop out right after the first purchase, so
    P(alive) of a one-time buyer falls with the time since that purchase."""

    log_likelihood = staticmethod(mbgnbd_log_likelihood)

    def expected_purchases(self, t, frequency, recency, T) -> np.ndarray:
        """E[purchases in (T, T + t]] given the customer's history (Hoppe & Wagner 2007)."""
        r, alpha, a, b = self._p()
        x, t_x, big_t = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        t = np.asarray(t, dtype=float)
        hyp = hyp2f1(r + x, b + x + 1, a + b + x, t / (alpha + big_t + t))
        numerator = (
            (a + b + x) / (a - 1) * (1 - ((alpha + big_t) / (alpha + big_t + t)) ** (r + x) * hyp)
        )
        return numerator / (1 + self._dropout_odds(x, t_x, big_t))

    def _dropout_odds(self, x, t_x, big_t) -> np.ndarray:
        r, alpha, a, b = self._p()
        with np.errstate(over="ignore"):
            return (a / (b + x)) * ((alpha + big_t) / (alpha + t_x)) ** (r + x)


# The purchase models by the name the registry, the metrics and the metadata use.
PURCHASE_MODELS = {"bg_nbd": BetaGeoModel, "mbg_nbd": ModifiedBetaGeoModel}
# P(alive) always comes from MBG/NBD (see the module's docstring).
ALIVE_MODEL = "mbg_nbd"
DEFAULT_PURCHASE_MODEL = "bg_nbd"


# ---------- Gamma-Gamma


def gamma_gamma_log_likelihood(params: np.ndarray, x, m) -> np.ndarray:
    """Log-likelihood of each customer's mean order value m over x orders, params (p, q, v)."""
    p, q, v = params
    x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
    return (
        gammaln(p * x + q)
        - gammaln(p * x)
        - gammaln(q)
        + q * np.log(v)
        + (p * x - 1) * np.log(m)
        + (p * x) * np.log(x)
        - (p * x + q) * np.log(x * m + v)
    )


@dataclass
class GammaGammaModel:
    """Gamma-Gamma spend model: order values ~ Gamma(p, nu), nu ~ Gamma(q, v) per customer."""

    penalizer: float = 0.0
    params_: dict[str, float] = field(default_factory=dict)

    def fit(self, orders, monetary_value) -> GammaGammaModel:
        """Fit on customers with at least one repeat occasion and a positive mean value.

        Args:
            orders: the number of values that make each mean (repeat occasions, `frequency`).
        """
        x, m = np.asarray(orders, dtype=float), np.asarray(monetary_value, dtype=float)
        keep = (x > 0) & (m > 0)
        x, m = x[keep], m[keep]
        scale = 1.0 / np.median(m)

        def objective(log_params):
            ll = gamma_gamma_log_likelihood(np.exp(log_params), x, m * scale)
            return -ll.mean() + self.penalizer * np.sum(log_params**2)

        result = _minimize(objective, np.log([1.0, 2.0, 1.0]))
        p, q, v = np.exp(result.x)
        self.params_ = {"p": p, "q": q, "v": v / scale}
        self.converged_ = bool(result.success)
        # The observed mean value of a repeat occasion, for customers without one when the fit
        # has no finite population mean (q <= 1: a base mixing very different spenders, as the
        # demo's, pushes q there).
        self.observed_mean_ = float(np.average(m, weights=x))
        return self

    def expected_order_value(self, orders, monetary_value) -> np.ndarray:
        """E[value of an occasion | the customer's x repeat occasions with mean m]; for a
        customer without one, the population mean p v / (q - 1), or the observed mean of repeat
        occasions when the fit has no finite mean (q <= 1)."""
        if not self.params_:
            raise RuntimeError("GammaGammaModel is not fitted")
        p, q, v = self.params_["p"], self.params_["q"], self.params_["v"]
        x = np.nan_to_num(np.asarray(orders, dtype=float))
        m = np.nan_to_num(np.asarray(monetary_value, dtype=float))
        population = p * v / (q - 1) if q > 1 else getattr(self, "observed_mean_", np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            conditional = (p * (v + x * m)) / (p * x + q - 1)
        return np.where(x > 0, conditional, population)


# ---------- together


@dataclass
class LifetimeValueModel:
    """BG/NBD and MBG/NBD + Gamma-Gamma, fitted once, applied to any as-of summary.

    Attributes:
        candidates_: every purchase model fitted, by name (`PURCHASE_MODELS`).
        purchases_: the one forecasting purchases and lifetime value (BG/NBD unless
            :meth:`use_for_purchases` chose another).
        alive_: the one giving P(alive) (MBG/NBD); None in versions saved before issue #17,
            whose P(alive) came from `purchases_`.
    """

    horizon_days: int = 365
    discount_rate_monthly: float = 0.01
    penalizer: float = 0.0
    purchases_: BetaGeoModel | None = None
    spend_: GammaGammaModel | None = None
    alive_: BetaGeoModel | None = None
    candidates_: dict[str, BetaGeoModel] = field(default_factory=dict)

    def fit(self, summary: pd.DataFrame) -> LifetimeValueModel:
        self.candidates_ = {
            name: model(self.penalizer).fit(summary["frequency"], summary["recency"], summary["T"])
            for name, model in PURCHASE_MODELS.items()
        }
        self.purchases_ = self.candidates_[DEFAULT_PURCHASE_MODEL]
        self.alive_ = self.candidates_[ALIVE_MODEL]
        repeat = summary[summary["frequency"] > 0]
        self.spend_ = GammaGammaModel(self.penalizer).fit(
            repeat["frequency"], repeat["monetary_value"]
        )
        return self

    def use_for_purchases(self, name: str) -> LifetimeValueModel:
        """Forecast purchases and lifetime value with the fitted candidate `name`."""
        self.purchases_ = self.candidates_[name]
        return self

    @property
    def column_models(self) -> dict[str, str]:
        """Which model produced each published column."""
        purchases = self.purchase_model
        return {
            "expected_purchases": purchases,
            "probability_alive": self.alive_model,
            "expected_order_value_eur": "gamma_gamma",
            "lifetime_value_eur": f"{purchases}_gamma_gamma",
        }

    @property
    def purchase_model(self) -> str:
        return _name_of(self.purchases_)

    @property
    def alive_model(self) -> str:
        return _name_of(self.alive_ or self.purchases_)

    @property
    def family(self) -> str:
        """The registry's model family: `<purchase model>_gamma_gamma`, then
        `+<model>_alive` when P(alive) comes from another model."""
        family = f"{self.purchase_model}_gamma_gamma"
        alive = self.alive_model
        return family if alive == self.purchase_model else f"{family}+{alive}_alive"

    def predict(self, summary: pd.DataFrame) -> pd.DataFrame:
        """Per customer: expected purchases over the horizon, P(alive), expected order value
        and the discounted lifetime value over the horizon (monthly steps)."""
        if self.purchases_ is None or self.spend_ is None:
            raise RuntimeError("LifetimeValueModel is not fitted")
        x, t_x, big_t = summary["frequency"], summary["recency"], summary["T"]
        value = self.spend_.expected_order_value(summary["frequency"], summary["monetary_value"])
        months = int(np.ceil(self.horizon_days / 30))
        lifetime_value = np.zeros(len(summary))
        previous = np.zeros(len(summary))
        for month in range(1, months + 1):
            cumulative = self.purchases_.expected_purchases(
                min(30 * month, self.horizon_days), x, t_x, big_t
            )
            lifetime_value += (
                (cumulative - previous) * value / (1 + self.discount_rate_monthly) ** month
            )
            previous = cumulative
        alive = self.alive_ or self.purchases_
        return pd.DataFrame(
            {
                "expected_purchases": previous,
                "probability_alive": alive.probability_alive(x, t_x, big_t),
                "expected_order_value_eur": value,
                "lifetime_value_eur": lifetime_value,
            },
            index=summary.index,
        )

    @property
    def params(self) -> dict[str, float]:
        """The purchase model's and Gamma-Gamma's parameters, then P(alive)'s as `alive_*`."""
        assert self.purchases_ is not None and self.spend_ is not None
        alive = self.alive_ or self.purchases_
        return {
            **self.purchases_.params_,
            **self.spend_.params_,
            **{f"alive_{name}": value for name, value in alive.params_.items()},
        }


def _name_of(model: BetaGeoModel | None) -> str:
    return next(name for name, kind in PURCHASE_MODELS.items() if type(model) is kind)
