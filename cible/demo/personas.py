"""The seven latent personas of the demo Maison and the parameters that make them differ.

Each persona sets every source: who the person is (age, gender, place, PCS, household), how
often and how much they buy (a Gamma-Gamma order value model and a seasonal Poisson rate),
what they buy and where, how they browse, how they answer campaigns and surveys, what the
data partners know about them and which consents they give. Distributions are plain dicts
keyed by the values of the reference seeds (categories, channels, event types, interests), so
a key that a seed does not define is ignored and a seed value no persona names gets a small
default weight.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

# Individual purchase-rate multiplier: Gamma(shape, 1/shape), mean 1 (shape >= 6 keeps personas
# apart while leaving realistic spread within each).
RATE_MULTIPLIER_SHAPE = 8.0
# Gamma-Gamma order values (Fader, Hardie & Lee): each order z ~ Gamma(p, rate nu_i), each
# person's nu_i ~ Gamma(q, rate gamma), so the person's mean order value is p / nu_i and the
# persona mean is p * gamma / (q - 1). p and q are shared; gamma sets each persona's mean.
ORDER_VALUE_P = 6.0
ORDER_VALUE_Q = 10.0

HOUR_PROFILES: dict[str, tuple[float, ...]] = {
    # Relative weights of the 24 UTC hours (Paris is UTC+1 or +2) for web and app activity.
    "day": (1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2, 4, 6, 7, 7, 6, 6, 7, 7, 6, 5, 4, 3, 3, 2, 2, 1),
    "evening": (1, 0.5, 0.3, 0.2, 0.2, 0.3, 0.6, 1, 2, 3, 3, 3, 4, 4, 3, 3, 4, 5, 7, 9, 9, 7, 4, 2),
    "night": (4, 3, 2, 1, 0.5, 0.3, 0.5, 1, 1.5, 2, 2, 2, 3, 3, 2, 2, 3, 4, 6, 8, 10, 10, 9, 6),
}


@dataclass(frozen=True)
class Persona:
    """Parameters of one persona (see the module docstring)."""

    name: str
    share: float
    # --- who
    age_mean: float
    age_sd: float
    gender: Mapping[str, float]
    departements: Mapping[str, float] | None  # None: spread by density over all départements
    pcs: Mapping[str, float]
    household_size: Mapping[int, float]
    signup_channel: Mapping[str, float]
    signup_period: tuple[float, float, float]  # before the history window, inside it, last year
    # --- purchases
    base_rate: float  # orders per year (before the individual multiplier and the season)
    mean_order_value: float  # euros, persona mean of the Gamma-Gamma model
    season: Mapping[str, float]  # "base" plus boosts for gifting / sales / vip_event / summer
    categories: Mapping[str, float]
    extra_lines_mean: float  # order lines = 1 + Poisson(extra_lines_mean), at most 6
    channels: Mapping[str, float]
    promo_share: float
    decay_years: float | None = None  # lapsed: rate decays with this time constant...
    decay_start_years: tuple[float, float] | None = None  # ...from this long before end_date
    # --- web and app
    web_weight: float = 1.0  # relative number of events
    events_per_session: float = 6.0
    event_gap_seconds: tuple[float, float] = (10.0, 120.0)
    devices: tuple[float, float, float] = (0.5, 0.4, 0.1)  # 1, 2 or 3 devices
    device_types: Mapping[str, float] = field(default_factory=dict)
    traffic_sources: Mapping[str, float] = field(default_factory=dict)
    event_mix: Mapping[str, float] = field(default_factory=dict)
    login_share: float = 0.5
    hour_profile: str = "evening"
    video_seconds: tuple[float, float] = (3.0, 60.0)
    scroll_depth: tuple[int, int] = (10, 100)
    # --- campaigns: open | send, click | open (| send for SMS), conversion | click
    open_rate: Mapping[str, float] = field(default_factory=dict)
    click_rate: float = 0.1
    conversion_rate: float = 0.05
    promo_affinity: Mapping[str, float] = field(default_factory=dict)
    # --- declared and bought data
    consents: Mapping[str, float] = field(default_factory=dict)
    survey_interests: Mapping[str, float] = field(default_factory=dict)
    income_band: tuple[float, float, float, float, float] = (0.2, 0.2, 0.2, 0.2, 0.2)
    property_owner: float = 0.5
    luxury_affinity: tuple[float, float] = (50.0, 15.0)
    # --- boutiques: the store zone (context.STORE_ZONES) whatever the region; None: the region's
    store_zone: str | None = None


PERSONAS: tuple[Persona, ...] = (
    Persona(
        name="parisian_vip",
        share=0.08,
        age_mean=46,
        age_sd=9,
        gender={"F": 0.62, "M": 0.36, "X": 0.02},
        departements={"75": 0.6, "92": 0.25, "78": 0.15},
        pcs={"2": 0.2, "3": 0.6, "4": 0.1, "5": 0.03, "7": 0.07},
        household_size={1: 0.2, 2: 0.35, 3: 0.2, 4: 0.18, 5: 0.05, 6: 0.02},
        signup_channel={"web": 0.2, "app": 0.2, "store": 0.55, "call_centre": 0.05},
        signup_period=(0.75, 0.22, 0.03),
        base_rate=5.0,
        mean_order_value=2600.0,
        season={"base": 1.0, "vip_event": 4.0, "gifting": 0.6},
        categories={
            "leather_goods": 0.46,
            "jewellery": 0.2,
            "watches": 0.08,
            "ready_to_wear": 0.13,
            "shoes": 0.06,
            "accessories": 0.03,
            "fragrance_beauty": 0.02,
            "home": 0.02,
        },
        extra_lines_mean=0.5,
        channels={"store": 0.62, "app": 0.28, "web": 0.08, "call_centre": 0.02},
        promo_share=0.02,
        web_weight=2.2,
        events_per_session=12,
        event_gap_seconds=(40, 300),
        devices=(0.3, 0.5, 0.2),
        device_types={"app": 0.45, "desktop": 0.35, "tablet": 0.15, "mobile": 0.05},
        traffic_sources={"direct": 0.5, "email": 0.2, "seo": 0.15, "sea": 0.05, "referral": 0.1},
        event_mix={
            "page_view": 3,
            "product_view": 4,
            "search": 1,
            "scroll": 2,
            "video_play": 0.5,
            "wishlist_add": 1.5,
            "add_to_cart": 0.4,
        },
        login_share=0.85,
        hour_profile="day",
        video_seconds=(10, 90),
        scroll_depth=(50, 100),
        open_rate={"email": 0.45, "push": 0.35},
        click_rate=0.22,
        conversion_rate=0.12,
        promo_affinity={
            "none": 1.0,
            "discount": 0.3,
            "exclusive": 2.5,
            "vip_event": 3.0,
            "new_collection": 1.5,
        },
        consents={"profiling": 0.85, "email": 0.8, "sms": 0.6, "ads": 0.4},
        survey_interests={
            "craftsmanship": 4.6,
            "exclusivity": 4.7,
            "sustainability": 3.2,
            "price_sensitivity": 1.3,
            "gifting": 2.8,
            "trend": 3.5,
            "art_culture": 4.4,
        },
        income_band=(0.0, 0.0, 0.05, 0.25, 0.7),
        property_owner=0.8,
        luxury_affinity=(86, 7),
        store_zone="paris",
    ),
    Persona(
        name="gift_buyers",
        share=0.18,
        age_mean=43,
        age_sd=11,
        gender={"F": 0.4, "M": 0.58, "X": 0.02},
        departements=None,
        pcs={"2": 0.1, "3": 0.3, "4": 0.3, "5": 0.2, "6": 0.05, "7": 0.05},
        household_size={1: 0.15, 2: 0.35, 3: 0.2, 4: 0.2, 5: 0.07, 6: 0.03},
        signup_channel={"web": 0.6, "store": 0.25, "app": 0.1, "call_centre": 0.05},
        signup_period=(0.55, 0.38, 0.07),
        base_rate=1.6,
        mean_order_value=380.0,
        season={"base": 0.12, "gifting": 6.0},
        categories={
            "accessories": 0.38,
            "fragrance_beauty": 0.32,
            "leather_goods": 0.12,
            "jewellery": 0.1,
            "home": 0.08,
        },
        extra_lines_mean=0.4,
        channels={"web": 0.55, "store": 0.28, "app": 0.12, "call_centre": 0.05},
        promo_share=0.05,
        web_weight=0.5,
        events_per_session=6,
        event_gap_seconds=(15, 200),
        devices=(0.6, 0.3, 0.1),
        device_types={"desktop": 0.5, "mobile": 0.35, "tablet": 0.1, "app": 0.05},
        traffic_sources={"seo": 0.3, "sea": 0.25, "direct": 0.2, "email": 0.15, "affiliate": 0.1},
        event_mix={
            "page_view": 4,
            "product_view": 3,
            "search": 2,
            "scroll": 1.5,
            "video_play": 0.2,
            "wishlist_add": 0.2,
            "add_to_cart": 0.5,
        },
        login_share=0.4,
        hour_profile="evening",
        open_rate={"email": 0.25, "push": 0.2},
        click_rate=0.12,
        conversion_rate=0.08,
        promo_affinity={
            "none": 1.2,
            "discount": 1.0,
            "exclusive": 0.8,
            "vip_event": 0.5,
            "new_collection": 1.0,
        },
        consents={"profiling": 0.7, "email": 0.7, "sms": 0.35, "ads": 0.5},
        survey_interests={
            "gifting": 4.7,
            "craftsmanship": 3.2,
            "exclusivity": 2.5,
            "sustainability": 3.0,
            "price_sensitivity": 3.0,
            "trend": 2.5,
            "art_culture": 2.5,
        },
        income_band=(0.05, 0.15, 0.35, 0.3, 0.15),
        property_owner=0.6,
        luxury_affinity=(55, 10),
    ),
    Persona(
        name="young_mobile_browsers",
        share=0.20,
        age_mean=24,
        age_sd=3.5,
        gender={"F": 0.6, "M": 0.34, "X": 0.06},
        departements=None,
        pcs={"3": 0.05, "4": 0.2, "5": 0.35, "6": 0.05, "8": 0.35},
        household_size={1: 0.45, 2: 0.35, 3: 0.1, 4: 0.07, 5: 0.02, 6: 0.01},
        signup_channel={"app": 0.5, "web": 0.45, "store": 0.05},
        signup_period=(0.12, 0.56, 0.32),
        base_rate=1.0,
        mean_order_value=190.0,
        season={"base": 1.0, "sales": 0.5},
        categories={
            "shoes": 0.48,
            "ready_to_wear": 0.32,
            "accessories": 0.08,
            "fragrance_beauty": 0.1,
            "leather_goods": 0.02,
        },
        extra_lines_mean=0.6,
        channels={"app": 0.6, "web": 0.36, "store": 0.04},
        promo_share=0.06,
        web_weight=6.0,
        events_per_session=4.0,
        event_gap_seconds=(5, 30),
        devices=(0.3, 0.5, 0.2),
        device_types={"mobile": 0.55, "app": 0.4, "desktop": 0.03, "tablet": 0.02},
        traffic_sources={
            "social": 0.55,
            "direct": 0.15,
            "seo": 0.1,
            "sea": 0.1,
            "referral": 0.05,
            "affiliate": 0.05,
        },
        event_mix={
            "page_view": 2,
            "product_view": 5,
            "search": 1,
            "scroll": 2.5,
            "video_play": 2,
            "wishlist_add": 0.5,
            "add_to_cart": 1.5,
        },
        login_share=0.35,
        hour_profile="night",
        video_seconds=(5, 120),
        scroll_depth=(20, 100),
        open_rate={"email": 0.15, "push": 0.3},
        click_rate=0.15,
        conversion_rate=0.03,
        promo_affinity={
            "none": 0.8,
            "discount": 1.3,
            "exclusive": 1.0,
            "vip_event": 0.4,
            "new_collection": 2.0,
        },
        consents={"profiling": 0.6, "email": 0.5, "sms": 0.3, "ads": 0.7},
        survey_interests={
            "trend": 4.6,
            "sustainability": 4.0,
            "price_sensitivity": 3.6,
            "craftsmanship": 2.5,
            "exclusivity": 3.2,
            "gifting": 2.2,
            "art_culture": 2.6,
        },
        income_band=(0.3, 0.4, 0.2, 0.08, 0.02),
        property_owner=0.1,
        luxury_affinity=(40, 12),
    ),
    Persona(
        name="lapsed_big_spenders",
        share=0.10,
        age_mean=58,
        age_sd=8,
        gender={"F": 0.5, "M": 0.48, "X": 0.02},
        departements=None,
        pcs={"2": 0.2, "3": 0.4, "4": 0.1, "7": 0.3},
        household_size={1: 0.2, 2: 0.5, 3: 0.15, 4: 0.1, 5: 0.04, 6: 0.01},
        signup_channel={"store": 0.5, "web": 0.35, "call_centre": 0.15},
        signup_period=(1.0, 0.0, 0.0),
        base_rate=6.0,
        mean_order_value=1500.0,
        season={"base": 1.0},
        categories={
            "watches": 0.32,
            "jewellery": 0.25,
            "ready_to_wear": 0.18,
            "home": 0.15,
            "leather_goods": 0.1,
        },
        extra_lines_mean=0.5,
        channels={"web": 0.45, "store": 0.35, "call_centre": 0.2},
        promo_share=0.02,
        decay_years=0.4,
        decay_start_years=(2.0, 2.5),
        web_weight=0.03,
        events_per_session=4,
        event_gap_seconds=(20, 150),
        devices=(0.9, 0.1, 0.0),
        device_types={"desktop": 0.8, "tablet": 0.15, "mobile": 0.05},
        traffic_sources={"direct": 0.5, "email": 0.3, "seo": 0.2},
        event_mix={
            "page_view": 4,
            "product_view": 2,
            "search": 1,
            "scroll": 1,
            "wishlist_add": 0.1,
            "add_to_cart": 0.1,
        },
        login_share=0.6,
        hour_profile="day",
        open_rate={"email": 0.08, "push": 0.05},
        click_rate=0.03,
        conversion_rate=0.01,
        promo_affinity={
            "none": 0.5,
            "discount": 0.5,
            "exclusive": 0.6,
            "vip_event": 0.6,
            "new_collection": 0.5,
        },
        consents={"profiling": 0.6, "email": 0.65, "sms": 0.3, "ads": 0.25},
        survey_interests={
            "craftsmanship": 4.2,
            "exclusivity": 3.8,
            "sustainability": 2.8,
            "price_sensitivity": 2.0,
            "gifting": 2.8,
            "trend": 2.0,
            "art_culture": 3.6,
        },
        income_band=(0.0, 0.05, 0.15, 0.35, 0.45),
        property_owner=0.85,
        luxury_affinity=(70, 9),
    ),
    Persona(
        name="promo_hunters",
        share=0.18,
        age_mean=36,
        age_sd=8,
        gender={"F": 0.65, "M": 0.33, "X": 0.02},
        departements=None,
        pcs={"3": 0.1, "4": 0.35, "5": 0.35, "6": 0.1, "8": 0.1},
        household_size={1: 0.25, 2: 0.3, 3: 0.2, 4: 0.17, 5: 0.06, 6: 0.02},
        signup_channel={"web": 0.65, "app": 0.3, "store": 0.05},
        signup_period=(0.45, 0.47, 0.08),
        base_rate=2.0,
        mean_order_value=230.0,
        season={"base": 0.12, "sales": 6.0},
        categories={
            "accessories": 0.3,
            "ready_to_wear": 0.25,
            "leather_goods": 0.2,
            "shoes": 0.13,
            "fragrance_beauty": 0.12,
        },
        extra_lines_mean=1.0,
        channels={"web": 0.6, "app": 0.32, "store": 0.06, "call_centre": 0.02},
        promo_share=0.75,
        web_weight=1.2,
        events_per_session=7,
        event_gap_seconds=(10, 90),
        devices=(0.4, 0.45, 0.15),
        device_types={"mobile": 0.45, "desktop": 0.35, "app": 0.15, "tablet": 0.05},
        traffic_sources={
            "email": 0.3,
            "affiliate": 0.25,
            "sea": 0.2,
            "direct": 0.1,
            "social": 0.1,
            "seo": 0.05,
        },
        event_mix={
            "page_view": 3,
            "product_view": 4,
            "search": 2.5,
            "scroll": 1,
            "video_play": 0.2,
            "wishlist_add": 0.8,
            "add_to_cart": 1.2,
        },
        login_share=0.55,
        hour_profile="evening",
        open_rate={"email": 0.35, "push": 0.3},
        click_rate=0.2,
        conversion_rate=0.1,
        promo_affinity={
            "none": 0.6,
            "discount": 3.5,
            "exclusive": 1.5,
            "vip_event": 0.3,
            "new_collection": 0.6,
        },
        consents={"profiling": 0.75, "email": 0.92, "sms": 0.8, "ads": 0.6},
        survey_interests={
            "price_sensitivity": 4.8,
            "trend": 3.4,
            "craftsmanship": 2.4,
            "exclusivity": 2.0,
            "gifting": 3.0,
            "sustainability": 2.6,
            "art_culture": 2.0,
        },
        income_band=(0.15, 0.35, 0.35, 0.12, 0.03),
        property_owner=0.4,
        luxury_affinity=(35, 10),
    ),
    Persona(
        name="riviera_seasonal",
        share=0.08,
        age_mean=55,
        age_sd=9,
        gender={"F": 0.58, "M": 0.4, "X": 0.02},
        departements={"06": 0.5, "83": 0.3, "13": 0.2},
        pcs={"2": 0.25, "3": 0.35, "4": 0.05, "7": 0.35},
        household_size={1: 0.15, 2: 0.55, 3: 0.12, 4: 0.12, 5: 0.05, 6: 0.01},
        signup_channel={"store": 0.7, "web": 0.2, "app": 0.05, "call_centre": 0.05},
        signup_period=(0.65, 0.27, 0.08),
        base_rate=2.2,
        mean_order_value=1150.0,
        season={"base": 0.2, "summer": 5.0},
        categories={
            "ready_to_wear": 0.3,
            "leather_goods": 0.22,
            "accessories": 0.18,
            "shoes": 0.15,
            "jewellery": 0.1,
            "home": 0.05,
        },
        extra_lines_mean=0.8,
        channels={"store": 0.72, "web": 0.18, "app": 0.06, "call_centre": 0.04},
        promo_share=0.02,
        web_weight=0.6,
        events_per_session=6,
        event_gap_seconds=(20, 200),
        devices=(0.5, 0.4, 0.1),
        device_types={"tablet": 0.35, "desktop": 0.3, "mobile": 0.25, "app": 0.1},
        traffic_sources={"direct": 0.45, "seo": 0.2, "email": 0.2, "referral": 0.15},
        event_mix={
            "page_view": 4,
            "product_view": 3,
            "search": 1,
            "scroll": 2,
            "video_play": 1,
            "wishlist_add": 0.6,
            "add_to_cart": 0.4,
        },
        login_share=0.6,
        hour_profile="day",
        scroll_depth=(30, 100),
        open_rate={"email": 0.3, "push": 0.25},
        click_rate=0.12,
        conversion_rate=0.05,
        promo_affinity={
            "none": 1.0,
            "discount": 0.4,
            "exclusive": 1.3,
            "vip_event": 1.5,
            "new_collection": 1.8,
        },
        consents={"profiling": 0.7, "email": 0.75, "sms": 0.45, "ads": 0.35},
        survey_interests={
            "art_culture": 4.2,
            "craftsmanship": 4.0,
            "exclusivity": 3.8,
            "trend": 3.6,
            "sustainability": 3.2,
            "price_sensitivity": 2.0,
            "gifting": 3.0,
        },
        income_band=(0.0, 0.05, 0.2, 0.4, 0.35),
        property_owner=0.85,
        luxury_affinity=(72, 9),
        store_zone="riviera",
    ),
    Persona(
        name="beauty_regulars",
        share=0.18,
        age_mean=38,
        age_sd=10,
        gender={"F": 0.86, "M": 0.1, "X": 0.04},
        departements=None,
        pcs={"2": 0.05, "3": 0.2, "4": 0.3, "5": 0.3, "7": 0.05, "8": 0.1},
        household_size={1: 0.3, 2: 0.3, 3: 0.18, 4: 0.15, 5: 0.05, 6: 0.02},
        signup_channel={"web": 0.6, "app": 0.3, "store": 0.1},
        signup_period=(0.5, 0.42, 0.08),
        base_rate=3.0,
        mean_order_value=115.0,
        season={"base": 1.0, "gifting": 0.5},
        categories={"fragrance_beauty": 0.86, "accessories": 0.08, "home": 0.06},
        extra_lines_mean=1.2,
        channels={"web": 0.58, "app": 0.32, "store": 0.08, "call_centre": 0.02},
        promo_share=0.08,
        web_weight=1.0,
        events_per_session=6,
        event_gap_seconds=(10, 120),
        devices=(0.5, 0.4, 0.1),
        device_types={"mobile": 0.4, "app": 0.3, "desktop": 0.25, "tablet": 0.05},
        traffic_sources={"direct": 0.3, "email": 0.3, "seo": 0.2, "social": 0.1, "sea": 0.1},
        event_mix={
            "page_view": 3,
            "product_view": 4,
            "search": 1,
            "scroll": 1.5,
            "video_play": 0.8,
            "wishlist_add": 0.5,
            "add_to_cart": 1.0,
        },
        login_share=0.7,
        hour_profile="evening",
        open_rate={"email": 0.4, "push": 0.35},
        click_rate=0.2,
        conversion_rate=0.08,
        promo_affinity={
            "none": 1.0,
            "discount": 1.1,
            "exclusive": 0.8,
            "vip_event": 0.4,
            "new_collection": 1.6,
        },
        consents={"profiling": 0.8, "email": 0.85, "sms": 0.5, "ads": 0.55},
        survey_interests={
            "sustainability": 3.8,
            "trend": 3.8,
            "price_sensitivity": 3.0,
            "craftsmanship": 3.0,
            "exclusivity": 2.6,
            "gifting": 3.2,
            "art_culture": 2.8,
        },
        income_band=(0.1, 0.3, 0.35, 0.2, 0.05),
        property_owner=0.5,
        luxury_affinity=(50, 10),
    ),
)

# Visitors who never log in (cookies of people outside the CRM).
ANONYMOUS_VISITOR = Persona(
    name="anonymous_visitor",
    share=0.0,
    age_mean=35,
    age_sd=12,
    gender={},
    departements=None,
    pcs={},
    household_size={},
    signup_channel={},
    signup_period=(1.0, 0.0, 0.0),
    base_rate=0.0,
    mean_order_value=1.0,
    season={"base": 1.0},
    categories={
        "ready_to_wear": 0.2,
        "leather_goods": 0.2,
        "shoes": 0.15,
        "fragrance_beauty": 0.2,
        "accessories": 0.15,
        "jewellery": 0.05,
        "watches": 0.03,
        "home": 0.02,
    },
    extra_lines_mean=0.0,
    channels={},
    promo_share=0.0,
    events_per_session=4,
    event_gap_seconds=(5, 120),
    device_types={"mobile": 0.55, "desktop": 0.35, "tablet": 0.1},
    traffic_sources={
        "seo": 0.3,
        "sea": 0.2,
        "social": 0.25,
        "direct": 0.1,
        "referral": 0.1,
        "affiliate": 0.05,
    },
    event_mix={
        "page_view": 4,
        "product_view": 3,
        "search": 1,
        "scroll": 1.5,
        "video_play": 0.5,
        "wishlist_add": 0.1,
        "add_to_cart": 0.3,
    },
    login_share=0.0,
)

# Weight of a density class when spreading people over départements: the seed has no population
# column, so the density class stands in for it (urban départements are about six times as
# populous as rural ones).
DENSITY_WEIGHTS = {"urban": 6.0, "intermediate": 2.4, "rural": 1.0}
# Relative price level of a category, used to split an order's value between its lines.
CATEGORY_PRICE_WEIGHTS = {
    "leather_goods": 4.0,
    "ready_to_wear": 2.0,
    "shoes": 2.0,
    "jewellery": 5.0,
    "watches": 8.0,
    "fragrance_beauty": 0.3,
    "accessories": 1.0,
    "home": 1.5,
}
DEFAULT_WEIGHT = 0.01


def distribution(
    personas: Sequence[Persona], attribute: str, keys: Sequence, default: float = 0.0
) -> np.ndarray:
    """Probability matrix (personas x keys) of a dict attribute, rows normalised to 1."""
    matrix = np.array(
        [[float(getattr(p, attribute).get(key, default)) for key in keys] for p in personas]
    )
    totals = matrix.sum(axis=1, keepdims=True)
    totals[totals == 0] = 1.0
    return matrix / totals


def order_value_gamma(
    persona: Persona, p: float = ORDER_VALUE_P, q: float = ORDER_VALUE_Q
) -> float:
    """Rate parameter gamma of nu ~ Gamma(q, gamma) giving the persona's mean order value."""
    return persona.mean_order_value * (q - 1.0) / p


def persona_manifest(
    personas: Sequence[Persona] = PERSONAS,
    shape: float = RATE_MULTIPLIER_SHAPE,
    p: float = ORDER_VALUE_P,
    q: float = ORDER_VALUE_Q,
) -> dict:
    """Persona parameters for manifest.json (what a model should be able to recover)."""
    return {
        "rate_multiplier": {"distribution": "gamma", "shape": shape, "scale": 1.0 / shape},
        "order_value_model": (
            "gamma-gamma: order value z ~ Gamma(shape=p, rate=nu_i), nu_i ~ Gamma(shape=q, "
            "rate=gamma); person mean p/nu_i; persona mean p*gamma/(q-1)"
        ),
        "personas": {
            persona.name: {
                "share": persona.share,
                "base_rate_per_year": persona.base_rate,
                "season": dict(persona.season),
                "decay_years": persona.decay_years,
                "decay_start_years_before_end": list(persona.decay_start_years)
                if persona.decay_start_years
                else None,
                "order_value": {
                    "p": p,
                    "q": q,
                    "gamma": order_value_gamma(persona, p, q),
                    "mean": persona.mean_order_value,
                },
                "categories": dict(persona.categories),
                "channels": dict(persona.channels),
                "promo_share": persona.promo_share,
                "age_mean": persona.age_mean,
            }
            for persona in personas
        },
    }
