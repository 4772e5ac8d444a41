"""Everything shared by all chunks: reference data, personas as matrices, the product
catalogue, the campaign and survey plans, and the identifier permutations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cible.contract import SourceSpec

from .identity import PHONE_MODULUS, Permutation
from .personas import (
    ANONYMOUS_VISITOR,
    CATEGORY_PRICE_WEIGHTS,
    DEFAULT_WEIGHT,
    DENSITY_WEIGHTS,
    HOUR_PROFILES,
    Persona,
    distribution,
)
from .reference import Reference
from .timeline import DAY, Seasonality, Timeline

if TYPE_CHECKING:
    from .profile import GeneratorProfile

GENDERS = ("F", "M", "X")
PCS_CODES = ("1", "2", "3", "4", "5", "6", "7", "8")
HOUSEHOLD_SIZES = (1, 2, 3, 4, 5, 6)
DEVICE_TYPES = ("desktop", "mobile", "tablet", "app")
TRAFFIC_SOURCES = ("direct", "seo", "sea", "social", "email", "affiliate", "referral")
BROWSE_EVENTS = (
    "page_view",
    "product_view",
    "search",
    "scroll",
    "video_play",
    "wishlist_add",
    "add_to_cart",
)
CONSENT_PURPOSES = ("profiling", "email", "sms", "ads")
CAMPAIGN_CHANNELS = ("email", "sms", "push")
PROMO_TYPES = ("none", "discount", "exclusive", "vip_event", "new_collection")
# Boutiques and the départements whose residents shop there.
STORES = ("PAR-STH", "PAR-MTG", "CAN-CRO", "NIC-MAS", "MON-MC", "LYO-BEL", "BDX-TOU")
STORE_ZONES = {  # zone -> store weights
    "paris": {"PAR-STH": 0.55, "PAR-MTG": 0.45},
    "riviera": {"CAN-CRO": 0.4, "NIC-MAS": 0.35, "MON-MC": 0.25},
    "lyon": {"LYO-BEL": 1.0},
    "bordeaux": {"BDX-TOU": 1.0},
    "elsewhere": {"PAR-STH": 0.35, "PAR-MTG": 0.25, "LYO-BEL": 0.2, "BDX-TOU": 0.2},
}
REGION_ZONES = {"IDF": "paris", "PAC": "riviera", "ARA": "lyon", "NAQ": "bordeaux"}
FAR_FROM_STORE_FACTOR = 0.4  # people without a boutique nearby buy less in store
SKUS_PER_CATEGORY = 300
N_CAMPAIGNS = 60
CAMPAIGN_CHANNEL_MIX = {
    "discount": {"email": 0.45, "sms": 0.35, "push": 0.2},
    "exclusive": {"email": 0.6, "sms": 0.3, "push": 0.1},
    "vip_event": {"email": 0.7, "sms": 0.3},
    "new_collection": {"email": 0.6, "push": 0.4},
    "none": {"email": 0.8, "push": 0.2},
}
SURVEY_DAYS_BEFORE_END = (640, 460, 280, 100)


def _sku_prefix(category: str) -> str:
    parts = category.split("_")
    return "".join(p[0] for p in parts).upper() if len(parts) > 1 else category[:3].upper()


@dataclass(frozen=True)
class Catalogue:
    """Product references per category with a popularity (a few products sell most)."""

    skus: tuple[np.ndarray, ...]  # per category, object arrays
    cumulative: tuple[np.ndarray, ...]

    @classmethod
    def build(cls, categories: tuple[str, ...], rng: np.random.Generator) -> Catalogue:
        skus, cumulative = [], []
        for category in categories:
            numbers = rng.choice(np.arange(10_000, 100_000), SKUS_PER_CATEGORY, replace=False)
            skus.append(np.array([f"{_sku_prefix(category)}{n}" for n in numbers], dtype=object))
            weights = 1.0 / np.arange(1, SKUS_PER_CATEGORY + 1) ** 1.1
            cumulative.append(np.cumsum(weights) / weights.sum())
        return cls(tuple(skus), tuple(cumulative))

    @property
    def vocabulary(self) -> tuple[str, ...]:
        """Every reference; ``sample_codes`` indexes into it."""
        return tuple(sku for skus in self.skus for sku in skus)

    def sample_codes(self, rng: np.random.Generator, category: np.ndarray) -> np.ndarray:
        """A popular-first product of each category, as an index into ``vocabulary``."""
        category = np.asarray(category)
        u = rng.random(len(category))
        out = np.empty(len(category), dtype=np.int64)
        for c in np.unique(category):
            mask = category == c
            index = np.minimum(np.searchsorted(self.cumulative[c], u[mask]), SKUS_PER_CATEGORY - 1)
            out[mask] = c * SKUS_PER_CATEGORY + index
        return out

    def sample(self, rng: np.random.Generator, category: np.ndarray) -> np.ndarray:
        """Like ``sample_codes``, as product references."""
        return np.array(self.vocabulary, dtype=object)[self.sample_codes(rng, category)]


def sample_rows(rng: np.random.Generator, probabilities: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Draw one column index per element, from the probability row ``probabilities[row]``."""
    row = np.asarray(row)
    cumulative = np.cumsum(probabilities, axis=1)
    cumulative /= np.where(cumulative[:, -1:] > 0, cumulative[:, -1:], 1.0)
    u = rng.random(len(row))
    if len(cumulative) > 64:  # one row per element (e.g. per person): few columns
        index = (u[:, None] >= cumulative[row]).sum(axis=1)
    else:
        index = np.empty(len(row), dtype=np.int64)
        for value in np.unique(row):
            mask = row == value
            index[mask] = np.searchsorted(cumulative[value], u[mask], side="right")
    return np.minimum(index, probabilities.shape[1] - 1)


@dataclass(frozen=True)
class PersonaMatrices:
    """Persona distributions aligned on the reference values (rows: personas)."""

    gender: np.ndarray
    pcs: np.ndarray
    household: np.ndarray
    signup_channel: np.ndarray
    categories: np.ndarray
    channels: np.ndarray
    devices: np.ndarray
    device_types: np.ndarray  # the last row is the anonymous visitor
    traffic: np.ndarray  # idem
    event_mix: np.ndarray  # idem
    hours: np.ndarray  # idem
    consents: np.ndarray
    income: np.ndarray
    survey: np.ndarray  # personas x survey questions: mean answer
    departements: np.ndarray  # personas x départements

    @classmethod
    def build(cls, personas: tuple[Persona, ...], reference: Reference) -> PersonaMatrices:
        with_visitor = (*personas, ANONYMOUS_VISITOR)
        categories = distribution(personas, "categories", reference.categories, DEFAULT_WEIGHT)
        codes = reference.departements["departement_code"].tolist()
        density = reference.departements["density_class"].map(DENSITY_WEIGHTS).fillna(1.0)
        departements = np.zeros((len(personas), len(codes)))
        for i, persona in enumerate(personas):
            if persona.departements:
                departements[i] = [persona.departements.get(code, 0.0) for code in codes]
            else:
                departements[i] = density.to_numpy()
        departements /= departements.sum(axis=1, keepdims=True)
        interests = reference.survey_questions["interest"].tolist()
        survey = np.array([[p.survey_interests.get(i, 3.0) for i in interests] for p in personas])
        return cls(
            gender=distribution(personas, "gender", GENDERS),
            pcs=distribution(personas, "pcs", PCS_CODES),
            household=distribution(personas, "household_size", HOUSEHOLD_SIZES),
            signup_channel=distribution(personas, "signup_channel", reference.channels),
            categories=categories,
            channels=distribution(personas, "channels", reference.channels),
            devices=np.array([p.devices for p in personas]),
            device_types=distribution(with_visitor, "device_types", DEVICE_TYPES),
            traffic=distribution(with_visitor, "traffic_sources", TRAFFIC_SOURCES),
            event_mix=distribution(with_visitor, "event_mix", BROWSE_EVENTS),
            hours=np.array([HOUR_PROFILES[p.hour_profile] for p in with_visitor]),
            consents=np.array(
                [[p.consents.get(c, 0.5) for c in CONSENT_PURPOSES] for p in personas]
            ),
            income=np.array([p.income_band for p in personas]),
            survey=survey,
            departements=departements,
        )


def plan_campaigns(
    timeline: Timeline, seasonality: Seasonality, rng: np.random.Generator
) -> pd.DataFrame:
    """About sixty campaigns over the history, timed on the commercial calendar."""
    first, last = pd.Timestamp(timeline.start_date), pd.Timestamp(timeline.end_date)
    planned: list[tuple[pd.Timestamp, str]] = []
    for window in seasonality.windows.itertuples():
        if window.moment_type == "sales":
            planned.append((window.starts_on, "discount"))
            if window.moment_base.startswith("soldes"):
                planned.append((window.starts_on - pd.Timedelta(days=4), "exclusive"))
        elif window.moment_type == "vip_event":
            planned.append((window.starts_on - pd.Timedelta(days=12), "vip_event"))
        elif window.moment_type == "gifting":
            planned.append((window.ends_on - pd.Timedelta(days=18), "none"))
    for year in range(first.year, last.year + 1):
        for month in (3, 9):
            planned.append((pd.Timestamp(year, month, 5), "new_collection"))
    planned = [(day, promo) for day, promo in planned if first <= day <= last]
    newsletters = [
        day for day in pd.date_range(first, last, freq="MS") + pd.Timedelta(days=14) if day <= last
    ]
    missing = max(0, N_CAMPAIGNS - len(planned))
    chosen = rng.choice(len(newsletters), min(missing, len(newsletters)), replace=False)
    planned += [(newsletters[i], "none") for i in sorted(chosen)]
    if len(planned) > N_CAMPAIGNS:
        keep = rng.choice(len(planned), N_CAMPAIGNS, replace=False)
        planned = [planned[i] for i in sorted(keep)]
    plan = (
        pd.DataFrame(planned, columns=["day", "promo_type"])
        .sort_values("day", kind="stable")
        .reset_index(drop=True)
    )
    channels = []
    for promo in plan["promo_type"]:
        mix = CAMPAIGN_CHANNEL_MIX[promo]
        channels.append(str(rng.choice(list(mix), p=np.array(list(mix.values())))))
    plan["channel"] = channels
    plan["share"] = np.where(
        plan["promo_type"] == "vip_event",
        rng.uniform(0.08, 0.2, len(plan)),
        rng.uniform(0.12, 0.4, len(plan)),
    )
    day_sec = plan["day"].values.astype("datetime64[s]").astype(np.int64)
    plan["sent_sec"] = day_sec + 8 * 3600 + rng.integers(0, 2 * 3600, len(plan))
    plan["campaign_id"] = [f"CMP-{day:%Y}-{k + 1:03d}" for k, day in enumerate(plan["day"])]
    plan["channel_index"] = plan["channel"].map(CAMPAIGN_CHANNELS.index)
    plan["promo_index"] = plan["promo_type"].map(PROMO_TYPES.index)
    return plan[plan["sent_sec"] < timeline.cutoff_sec].reset_index(drop=True)


def plan_surveys(timeline: Timeline) -> pd.DataFrame:
    launched = [timeline.cutoff_sec - days * DAY for days in SURVEY_DAYS_BEFORE_END]
    ids = [f"SRV-{pd.Timestamp(s, unit='s'):%Y-%m}" for s in launched]
    return pd.DataFrame({"survey_id": ids, "launched_sec": np.array(launched, dtype=np.int64)})


@dataclass(frozen=True)
class Context:
    """Shared, read-only inputs of every chunk."""

    reference: Reference
    contracts: dict[str, SourceSpec]
    timeline: Timeline
    seasonality: Seasonality
    personas: tuple[Persona, ...]
    matrices: PersonaMatrices
    catalogue: Catalogue
    category_price: np.ndarray
    campaigns: pd.DataFrame
    surveys: pd.DataFrame
    customer_numbers: Permutation
    phone_numbers: Permutation
    hex_multiplier: int
    hex_offset: int
    store_weights: np.ndarray  # zones x stores
    zones: tuple[str, ...]
    n_chunks: int
    profile: GeneratorProfile

    @property
    def persona_zones(self) -> dict[str, str]:
        """Personas that shop in one store zone whatever their region: name -> zone."""
        return {p.name: p.store_zone for p in self.personas if p.store_zone}

    @classmethod
    def build(
        cls,
        reference: Reference,
        contracts: dict[str, SourceSpec],
        end_date: date,
        rng: np.random.Generator,
        n_chunks: int,
        profile: GeneratorProfile,
    ) -> Context:
        personas = profile.to_personas()
        timeline = Timeline.ending(end_date)
        seasonality = Seasonality.build(timeline, reference.calendar, personas)
        zones = tuple(STORE_ZONES)
        store_weights = np.array([[STORE_ZONES[z].get(s, 0.0) for s in STORES] for z in zones])
        return cls(
            reference=reference,
            contracts=contracts,
            timeline=timeline,
            seasonality=seasonality,
            personas=personas,
            matrices=PersonaMatrices.build(personas, reference),
            catalogue=Catalogue.build(reference.categories, rng),
            category_price=np.array(
                [CATEGORY_PRICE_WEIGHTS.get(c, 1.0) for c in reference.categories]
            ),
            campaigns=plan_campaigns(timeline, seasonality, rng),
            surveys=plan_surveys(timeline),
            customer_numbers=Permutation.random(rng, 99_000_000),  # C99xxxxxx stays unused
            phone_numbers=Permutation.random(rng, PHONE_MODULUS),
            hex_multiplier=int(rng.integers(1 << 40, 1 << 62)) | 1,
            hex_offset=int(rng.integers(0, 1 << 62)),
            store_weights=store_weights / store_weights.sum(axis=1, keepdims=True),
            zones=zones,
            n_chunks=n_chunks,
            profile=profile,
        )
