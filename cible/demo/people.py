"""The persons of a chunk: persona, who they are, where they live and their purchase process."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .context import (
    GENDERS,
    HOUSEHOLD_SIZES,
    PCS_CODES,
    REGION_ZONES,
    Context,
    sample_rows,
)
from .identity import FIRST_NAMES_F, FIRST_NAMES_M, LAST_NAMES, cities, postcodes
from .personas import order_value_gamma
from .timeline import DAY, YEAR_DAYS, RateModel, hour_of_day

OLD_CUSTOMER_YEARS = 8  # customers created before the history go back this far


def build_people(ctx: Context, rng: np.random.Generator, first_index: int, n: int) -> pd.DataFrame:
    """One row per person of the chunk (global index ``first_index .. first_index + n - 1``)."""
    m = ctx.matrices
    timeline = ctx.timeline
    personas = ctx.personas
    shares = np.array([p.share for p in personas])
    persona = rng.choice(len(personas), size=n, p=shares / shares.sum())
    people = pd.DataFrame(
        {
            "person_index": np.arange(first_index, first_index + n, dtype=np.int64),
            "persona": persona,
        }
    )
    people["person_id"] = "P" + pd.Series(people["person_index"]).map("{:08d}".format)
    people["persona_name"] = np.array([p.name for p in personas], dtype=object)[persona]

    # --- who they are
    gender = np.array(GENDERS, dtype=object)[sample_rows(rng, m.gender, persona)]
    people["gender"] = gender
    age_mean = np.array([p.age_mean for p in personas])[persona]
    age_sd = np.array([p.age_sd for p in personas])[persona]
    age_years = np.clip(rng.normal(age_mean, age_sd), 18.5, 92)
    end_day = np.datetime64(timeline.end_date, "D").astype(np.int64)
    people["birth_day"] = (end_day - age_years * YEAR_DAYS).astype(np.int64)
    female = (gender == "F") | ((gender == "X") & (rng.random(n) < 0.5))
    first_f = np.array(FIRST_NAMES_F, dtype=object)[rng.integers(0, len(FIRST_NAMES_F), n)]
    first_m = np.array(FIRST_NAMES_M, dtype=object)[rng.integers(0, len(FIRST_NAMES_M), n)]
    people["first_name"] = np.where(female, first_f, first_m)
    people["last_name"] = np.array(LAST_NAMES, dtype=object)[rng.integers(0, len(LAST_NAMES), n)]
    people["pcs_code"] = np.array(PCS_CODES, dtype=object)[sample_rows(rng, m.pcs, persona)]
    people["household_size"] = np.array(HOUSEHOLD_SIZES)[sample_rows(rng, m.household, persona)]
    channels = np.array(ctx.reference.channels, dtype=object)
    people["signup_channel"] = channels[sample_rows(rng, m.signup_channel, persona)]

    # --- where they live
    geo = ctx.reference.departements
    departement_index = sample_rows(rng, m.departements, persona)
    departement = geo["departement_code"].to_numpy(dtype=object)[departement_index]
    people["departement"] = departement
    people["region_code"] = geo["region_code"].to_numpy(dtype=object)[departement_index]
    people["postcode"] = postcodes(rng, departement)
    names = dict(zip(geo["departement_code"], geo["departement_name"], strict=True))
    people["city"] = cities(rng, departement, names)
    zone = people["region_code"].map(REGION_ZONES).fillna("elsewhere")
    zone = people["persona_name"].map(ctx.persona_zones).fillna(zone)
    people["zone"] = zone.map(ctx.zones.index).astype(np.int64)

    # --- when they became customers
    period = sample_rows(rng, np.array([p.signup_period for p in personas]), persona)
    u = rng.random(n)
    start, cutoff = timeline.start_sec, timeline.cutoff_sec
    year = int(YEAR_DAYS * DAY)
    created = np.select(
        [period == 0, period == 1],
        [start - u * OLD_CUSTOMER_YEARS * year, start + u * (cutoff - year - start)],
        cutoff - year + u * (year - DAY),
    )
    created = created.astype(np.int64) // DAY * DAY  # sign-ups follow the persona's hours
    people["created_sec"] = np.minimum(created + hour_of_day(rng, persona, m.hours), cutoff - 1)
    # Purchases start the day after sign-up (whole days keep the truth exact).
    first_day = np.ceil((people["created_sec"].to_numpy() - start) / DAY)
    people["first_day"] = np.clip(first_day, 0, timeline.history_days).astype(np.int64)

    # --- purchase process
    model = ctx.profile.purchase_model
    base_rate = np.array([p.base_rate for p in personas])[persona]
    shape = model.rate_multiplier_shape
    multiplier = rng.gamma(shape, 1.0 / shape, n)
    people["rate"] = base_rate * multiplier
    decay = np.array([p.decay_years or np.nan for p in personas])[persona]
    lo = np.array([(p.decay_start_years or (np.nan, np.nan))[0] for p in personas])[persona]
    hi = np.array([(p.decay_start_years or (np.nan, np.nan))[1] for p in personas])[persona]
    before_end = lo + rng.random(n) * (hi - lo)
    people["decay_t0"] = timeline.history_days - before_end * YEAR_DAYS
    people["decay_tau"] = decay * YEAR_DAYS
    p_value, q_value = model.order_value_p, model.order_value_q
    gamma = np.array([order_value_gamma(p, p_value, q_value) for p in personas])[persona]
    nu = rng.gamma(q_value, 1.0 / gamma, n)
    people["order_value_nu"] = nu
    people["mean_order_value"] = p_value / nu

    # --- what partners know
    people["income_band"] = sample_rows(rng, m.income, persona) + 1
    owner_p = np.array([p.property_owner for p in personas])[persona]
    people["is_property_owner"] = rng.random(n) < owner_p
    children_p = np.where(people["household_size"].to_numpy() >= 3, 0.85, 0.08)
    people["has_children"] = rng.random(n) < children_p
    affinity = np.array([p.luxury_affinity for p in personas])[persona]
    people["luxury_affinity"] = (
        np.clip(rng.normal(affinity[:, 0], affinity[:, 1]), 0, 100).round().astype(np.int64)
    )
    return people


def rate_model(ctx: Context, people: pd.DataFrame) -> RateModel:
    return RateModel(
        seasonality=ctx.seasonality,
        persona=people["persona"].to_numpy(),
        rate=people["rate"].to_numpy(),
        t0=people["decay_t0"].to_numpy(dtype=np.float64),
        tau=people["decay_tau"].to_numpy(dtype=np.float64),
    )
