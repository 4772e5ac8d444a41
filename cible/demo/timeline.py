"""Time: the day grid, the seasonal profiles and the purchase process (a Poisson process).

All instants are int64 seconds since the Unix epoch, UTC. The history covers the three years
ending at ``end_date`` (inclusive): days ``0 .. H-1`` of the grid, with the cut-off at
``end_date + 1 day, 00:00 UTC``. The grid carries on for ``FUTURE_DAYS`` days after it for the
outcomes the pipeline never sees.

Each person's purchase rate (orders per year) at day ``d`` is

    lambda_i(d) = base_rate[persona] * multiplier_i * season[persona, d] * trend_i(d)

where the season is normalised to a mean of 1 over the history and the trend is 1 except for
personas with a decay (``trend = exp(-(d - t0_i) / tau)`` after ``t0_i``). Orders are drawn day
by day exactly from that rate, so the probability of an order in any window of whole days is
``1 - exp(-integral)``: the truth files hold it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from .personas import Persona

DAY = 86_400
YEAR_DAYS = 365.25
HISTORY_YEARS = 3
FUTURE_DAYS = 90
GIFTING_LEAD_DAYS = 21  # gift buying peaks in the three weeks before the moment ends
SUMMER_MONTHS = (6, 7, 8)


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


@dataclass(frozen=True)
class Timeline:
    """The day grid of the simulation."""

    end_date: date
    start_date: date  # first day of the history
    start_sec: int
    history_days: int  # H: days 0 .. H-1 are history
    n_days: int  # H + FUTURE_DAYS

    @classmethod
    def ending(cls, end_date: date) -> Timeline:
        start = _years_before(end_date, HISTORY_YEARS)
        start_sec = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp())
        history_days = (end_date - start).days + 1
        return cls(end_date, start, start_sec, history_days, history_days + FUTURE_DAYS)

    @property
    def cutoff_sec(self) -> int:
        """End of the history (exclusive): end_date + 1 day at 00:00 UTC."""
        return self.start_sec + self.history_days * DAY

    def day_start(self, day: np.ndarray) -> np.ndarray:
        return self.start_sec + np.asarray(day, dtype=np.int64) * DAY

    def dates(self) -> pd.DatetimeIndex:
        return pd.date_range(self.start_date, periods=self.n_days, freq="D")


def moment_windows(calendar: pd.DataFrame, first_year: int, last_year: int) -> pd.DataFrame:
    """Commercial moments for every year of the grid.

    A moment the calendar does not give for a year (the seed covers a few years) is carried
    over from the nearest year it gives, same month and day, so any ``end_date`` works.

    Returns:
        One row per (moment, year): moment_base, moment_type, year, starts_on, ends_on.
    """
    moments = calendar.copy()
    moments["year"] = moments["starts_on"].dt.year
    moments["moment_base"] = moments["moment_code"].str.replace(r"_\d{4}$", "", regex=True)
    rows = []
    for base, group in moments.groupby("moment_base", sort=True):
        by_year = {int(r.year): r for r in group.itertuples()}
        for year in range(first_year, last_year + 1):
            nearest = min(by_year, key=lambda y, year=year: (abs(y - year), y))
            source = by_year[nearest]
            shift = pd.DateOffset(years=year - nearest)
            rows.append(
                {
                    "moment_base": base,
                    "moment_type": source.moment_type,
                    "year": year,
                    "starts_on": source.starts_on + shift,
                    "ends_on": source.ends_on + shift,
                }
            )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Seasonality:
    """Per-persona daily multipliers and what each day of the grid is."""

    profiles: np.ndarray  # personas x n_days, mean 1 over the history
    cumulative: np.ndarray  # personas x (n_days + 1), integral in years
    in_sales: np.ndarray  # n_days bool
    sales_moment: np.ndarray  # n_days int: index into sales_codes, -1 outside sales
    sales_codes: tuple[str, ...]  # e.g. SOLDESHIVER25
    windows: pd.DataFrame

    @classmethod
    def build(
        cls, timeline: Timeline, calendar: pd.DataFrame, personas: Sequence[Persona]
    ) -> Seasonality:
        days = timeline.dates()
        windows = moment_windows(calendar, days[0].year - 1, days[-1].year + 1)
        indicators = {
            "gifting": np.zeros(timeline.n_days, dtype=bool),
            "sales": np.zeros(timeline.n_days, dtype=bool),
            "vip_event": np.zeros(timeline.n_days, dtype=bool),
            "summer": np.isin(days.month, SUMMER_MONTHS),
        }
        sales_moment = np.full(timeline.n_days, -1, dtype=np.int64)
        sales_codes: list[str] = []
        day_values = days.values
        for window in windows.itertuples():
            start = window.starts_on
            if window.moment_type == "gifting":
                start = window.ends_on - timedelta(days=GIFTING_LEAD_DAYS - 1)
            inside = (day_values >= np.datetime64(start)) & (
                day_values <= np.datetime64(window.ends_on)
            )
            if window.moment_type in indicators:
                indicators[window.moment_type] |= inside
            if window.moment_type == "sales" and inside.any():
                code = f"{window.moment_base.replace('_', '').upper()}{window.year % 100:02d}"
                sales_moment[inside] = len(sales_codes)
                sales_codes.append(code)
        profiles = np.zeros((len(personas), timeline.n_days))
        for i, persona in enumerate(personas):
            profile = np.full(timeline.n_days, float(persona.season.get("base", 1.0)))
            for name, boost in persona.season.items():
                if name != "base" and name in indicators:
                    profile += boost * indicators[name]
            if persona.decay_years is not None:
                profile[:] = 1.0  # decaying personas have a flat season (see module docstring)
            profiles[i] = profile / profile[: timeline.history_days].mean()
        cumulative = np.zeros((len(personas), timeline.n_days + 1))
        cumulative[:, 1:] = np.cumsum(profiles, axis=1) / YEAR_DAYS
        return cls(
            profiles, cumulative, indicators["sales"], sales_moment, tuple(sales_codes), windows
        )


def _decay_primitive(x: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Primitive (in days) of the trend 1 (x <= 0) then exp(-x / tau), x in days after t0."""
    return np.where(x <= 0, x, tau * (1.0 - np.exp(-np.maximum(x, 0) / tau)))


def _decay_inverse(y: np.ndarray, tau: np.ndarray) -> np.ndarray:
    inner = np.clip(1.0 - np.maximum(y, 0) / tau, 1e-300, None)
    return np.where(y <= 0, y, -tau * np.log(inner))


@dataclass
class RateModel:
    """The purchase process of a set of persons (one chunk).

    Attributes:
        persona: persona index of each person.
        rate: base_rate * individual multiplier (orders per year, before season and trend).
        t0: day (float) the decay starts, NaN for personas without a decay.
        tau: decay time constant in days (NaN without a decay).
    """

    seasonality: Seasonality
    persona: np.ndarray
    rate: np.ndarray
    t0: np.ndarray
    tau: np.ndarray

    def integral(self, d1: np.ndarray, d2: np.ndarray) -> np.ndarray:
        """Expected number of orders of each person over days [d1, d2)."""
        d1 = np.asarray(d1, dtype=np.int64)
        d2 = np.maximum(np.asarray(d2, dtype=np.int64), d1)
        cumulative = self.seasonality.cumulative
        years = cumulative[self.persona, d2] - cumulative[self.persona, d1]
        decays = ~np.isnan(self.t0)
        if decays.any():
            t0, tau = self.t0[decays], self.tau[decays]
            span = _decay_primitive(d2[decays] - t0, tau) - _decay_primitive(d1[decays] - t0, tau)
            years[decays] = span / YEAR_DAYS
        return self.rate * years

    def rate_on(self, day: int) -> np.ndarray:
        """Instantaneous rate (orders per year) at the start of ``day``."""
        profiles = self.seasonality.profiles
        rate = self.rate * profiles[self.persona, min(day, profiles.shape[1] - 1)]
        decays = ~np.isnan(self.t0)
        trend = np.ones_like(rate)
        trend[decays] = np.exp(-np.maximum(day - self.t0[decays], 0) / self.tau[decays])
        return rate * trend

    def sample_days(
        self, rng: np.random.Generator, person: np.ndarray, d1: np.ndarray, d2: np.ndarray
    ) -> np.ndarray:
        """Day of each order, ``person[k]`` being the order's person, drawn in [d1, d2)."""
        n = len(person)
        day = np.zeros(n, dtype=np.int64)
        if n == 0:
            return day
        u = rng.random(n)
        persona = self.persona[person]
        lo, hi = d1[person].astype(np.int64), d2[person].astype(np.int64)
        decays = ~np.isnan(self.t0[person])
        cumulative = self.seasonality.cumulative
        for p in np.unique(persona[~decays]):
            sel = np.flatnonzero((persona == p) & ~decays)
            c = cumulative[p]
            target = c[lo[sel]] + u[sel] * (c[hi[sel]] - c[lo[sel]])
            day[sel] = np.searchsorted(c, target, side="right") - 1
        if decays.any():
            sel = np.flatnonzero(decays)
            t0, tau = self.t0[person[sel]], self.tau[person[sel]]
            a = _decay_primitive(lo[sel] - t0, tau)
            b = _decay_primitive(hi[sel] - t0, tau)
            day[sel] = np.floor(_decay_inverse(a + u[sel] * (b - a), tau) + t0).astype(np.int64)
        return np.clip(day, lo, hi - 1)


def hour_of_day(
    rng: np.random.Generator, profile_index: np.ndarray, profiles: np.ndarray
) -> np.ndarray:
    """Seconds after midnight UTC, the hour drawn from each row's hour profile."""
    profile_index = np.asarray(profile_index)
    cumulative = np.cumsum(profiles, axis=1)
    cumulative /= cumulative[:, -1:]
    u = rng.random(len(profile_index))
    hour = np.empty(len(profile_index), dtype=np.int64)
    for value in np.unique(profile_index):
        mask = profile_index == value
        hour[mask] = np.searchsorted(cumulative[value], u[mask], side="right")
    hour = np.minimum(hour, profiles.shape[1] - 1)
    return hour * 3600 + rng.integers(0, 3600, len(profile_index))
