"""Profiles (means, lifts, distinguishing features, key figures) and generated names."""

import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from cible.ml.segmentation import naming, profiles
from cible.ml.segmentation.config import Descriptor, Texts
from cible.ml.segmentation.vocabulary import VocabularyError, read_vocabulary
from cible.orchestration.dbt import cible_dbt_project
from cible.orchestration.feature_vocabulary import feature_vocabulary


def test_feature_profiles_compare_each_segment_with_its_base():
    values = pd.DataFrame({"spend": [100.0, 300.0, 50.0, 50.0], "share": [0.5, np.nan, 0.1, 0.3]})
    members = {"s": np.array([True, True, False, False])}
    everyone = np.ones(4, dtype=bool)
    table = profiles.feature_profiles(values, members, {"s": everyone}, {"s": "all"})
    spend = table.set_index("feature").loc["spend"]
    assert spend["segment_mean"] == 200.0
    assert spend["base_mean"] == 125.0
    assert spend["lift"] == pytest.approx(1.6)
    assert spend["standardized_difference"] == pytest.approx(75.0 / np.std([100, 300, 50, 50]))
    share = table.set_index("feature").loc["share"]
    assert share["segment_mean"] == 0.5, "missing values are skipped"
    # share: (0.5 - 0.3) / 0.163 = 1.22 standard deviations, more distinctive than spend (0.73).
    assert table.set_index("feature")["importance_rank"].to_dict() == {"share": 1, "spend": 2}


def test_key_figures_use_ratios_of_sums():
    frame = pd.DataFrame(
        {
            "orders_count_long_window": [2, 0],
            "revenue_long_window_eur": [1000.0, 0.0],
            "average_order_value_eur": [500.0, np.nan],
            "campaigns_received": [20, 1],
            "campaigns_opened": [10, 1],
            "campaigns_clicked": [2, 1],
            "campaigns_converted": [1, 1],
            "profile_completeness": [1.0, 0.5],
            "has_profiling_consent": [True, False],
            "has_email_consent": pd.array([False, None], dtype="boolean"),
            "has_sms_consent": [True, False],
        }
    )
    figures = profiles.key_figures(frame, np.array([True, True]), total_customers=10)
    assert figures["customers"] == 2 and figures["customer_share"] == 0.2
    # 2 conversions / 21 campaigns, not the mean of 1/20 and 1/1.
    assert figures["campaign_conversion_rate"] == pytest.approx(2 / 21)
    assert figures["revenue_per_customer_eur"] == 500.0
    assert figures["average_order_value_eur"] == 500.0
    assert figures["marketing_consent_rate"] == 0.5
    assert figures["profiling_consent_rate"] == 0.5


def test_strategic_fit_takes_the_best_matching_rule():
    profile = pd.DataFrame({"feature": ["vip", "promo"], "lift": [3.0, 0.5]})
    rules = [
        SimpleNamespace(feature="vip", min_lift=2.0, score=5),
        SimpleNamespace(feature="promo", min_lift=2.0, score=2),
    ]
    assert profiles.strategic_fit(profile, rules, default=3) == 5
    assert profiles.strategic_fit(profile, rules[1:], default=3) == 3


DESCRIPTORS = {
    "watches": Descriptor(
        label=Texts(en="watches", fr="horlogerie"),
        high=Texts(en="into watches", fr="adeptes d'horlogerie"),
        low=None,
    ),
    "basket": Descriptor(
        label=Texts(en="average order value", fr="panier moyen"),
        high=Texts(en="with high baskets", fr="à panier élevé"),
        low=Texts(en="with small baskets", fr="à petit panier"),
    ),
    "home": Descriptor(label=Texts(en="home collection", fr="art de vivre"), high=None, low=None),
}


def test_names_read_like_a_marketers_in_both_languages():
    traits = [
        ("watches", "high", 2.2, 6.4),
        ("home", "low", -0.9, 0.2),
        ("basket", "high", 1.3, 2.9),
    ]
    assert naming.segment_name(traits, DESCRIPTORS, "fr", 2) == (
        "Clients adeptes d'horlogerie, à panier élevé"
    )
    assert naming.segment_name(traits, DESCRIPTORS, "en", 2) == (
        "Customers into watches, with high baskets"
    )
    sentence = naming.segment_description(traits, DESCRIPTORS, "fr", 1234, 0.123, 1581.0, 1.0)
    assert sentence.startswith("1\u202f234 clients (12,3\u00a0% de la base) adeptes d'horlogerie")
    assert "panier moyen de 1\u202f581\u00a0€" in sentence and sentence.endswith(
        "commande sur 12 mois."
    )
    english = naming.segment_description(traits, DESCRIPTORS, "en", 1234, 0.123, 1581.0, 2.5)
    assert english.startswith("1,234 customers (12.3% of the base) into watches")
    assert english.endswith("an average order of €1,581 and 2.5 orders in 12 months.")


def test_traits_without_a_phrase_fall_back_to_a_generic_one():
    traits = [("home", "low", -0.9, 0.2)]
    assert naming.segment_name(traits, DESCRIPTORS, "en", 2) == (
        "Customers with below-average home collection"
    )
    assert naming.segment_name([], DESCRIPTORS, "fr", 2) == "Clients proches du client moyen"


def test_repeated_names_are_made_unique():
    names = {"cluster_01": "Clients A", "cluster_02": "Clients A", "cluster_03": "Clients B"}
    unique = naming.unique_names(names, {"cluster_01": ["x"], "cluster_02": ["y"]})
    assert unique == {
        "cluster_01": "Clients A, x",
        "cluster_02": "Clients A, y",
        "cluster_03": "Clients B",
    }
    unique = naming.unique_names({"a": "N", "b": "N"}, {})
    assert sorted(unique.values()) == ["N", "N (2)"]


def test_traits_of_one_family_take_one_place_in_a_name():
    descriptors = {
        "revenue": Descriptor(
            high=Texts(en="with high spend", fr="à forte dépense"), family="spend"
        ),
        "lifetime": Descriptor(
            high=Texts(en="with high lifetime spend", fr="à forte dépense cumulée"), family="spend"
        ),
        "watches": DESCRIPTORS["watches"],
    }
    traits = [
        ("revenue", "high", 2.0, 3.0),
        ("lifetime", "high", 1.9, 2.8),
        ("watches", "high", 1.0, 2.0),
    ]
    assert naming.segment_name(traits, descriptors, "en", 2) == (
        "Customers with high spend, into watches"
    )


# ---------- the vocabulary of the feature documentation


def test_the_vocabulary_reads_phrases_values_and_exclusions():
    traits = {
        "orders": {"exclude": "a count named through its rate"},
        "visits": {"high": {"en": "who visit", "fr": "qui visitent"}},
        "tablet_share": {
            "family": "device",
            "support": "visits",
            "high": {"en": "browsing on tablets", "fr": "qui naviguent sur tablette"},
        },
        "region": {
            "family": "region",
            "high": {"en": "from the {value} region", "fr": "de la région {value}"},
            "values_from": {"seed": "regions", "code": "code", "label": "name"},
        },
        "density": {
            "high": {"en": "from {value} areas", "fr": "des zones {value}"},
            "values": {"rural": {"en": "rural", "fr": "rurales"}},
        },
    }
    seeds = {
        "regions": [
            {"code": "ARA", "name": "Auvergne-Rhône-Alpes"},
            {"code": "BRE", "name": "Bretagne"},
        ]
    }
    vocabulary = read_vocabulary(traits, seeds)
    assert sorted(vocabulary) == [
        "density=rural",
        "region=ARA",
        "region=BRE",
        "tablet_share",
        "visits",
    ]
    assert vocabulary["region=BRE"].high.fr == "de la région Bretagne"
    assert (vocabulary["region=BRE"].column, vocabulary["region=BRE"].value) == ("region", "BRE")
    assert vocabulary["density=rural"].high.en == "from rural areas"
    assert vocabulary["tablet_share"].support == "visits"
    assert vocabulary["tablet_share"].family == "device"
    assert vocabulary["visits"].family == "visits", "a feature is its own family by default"


@pytest.mark.parametrize(
    ("trait", "message"),
    [
        (None, "features, column visits: no meta.trait; give it phrases"),
        ({"high": {"en": "who visit"}}, "visits: meta.trait.high needs an English and a French"),
        ({"exclude": ""}, "visits: meta.trait.exclude must say why"),
        ({"family": "x"}, "visits: meta.trait has no phrase; give high and/or low"),
        (
            {"high": {"en": "a", "fr": "b"}, "support": "sessions"},
            "support names 'sessions', which is not a column of the features table",
        ),
        (
            {"high": {"en": "a", "fr": "b"}, "values_from": {"seed": "nowhere"}},
            "values_from names the seed 'nowhere', which is not read",
        ),
    ],
)
def test_a_malformed_trait_is_refused_with_the_column_and_the_fix(trait, message):
    with pytest.raises(VocabularyError, match=re.escape(message)):
        read_vocabulary({"visits": trait}, where="features")


@pytest.fixture(scope="module")
def vocabulary():
    """The vocabulary of the real feature documentation (the manifest conftest.py parses)."""
    return feature_vocabulary(cible_dbt_project())


# Counts a documented share or rate is measured on, as a typical customer has them.
TYPICAL_SUPPORT = {
    "orders_count": 6,
    "sessions_long_window": 25,
    "sessions_recent_window": 8,
    "campaigns_received": 12,
    "product_views_recent_window": 20,
    "add_to_carts_recent_window": 4,
}
REGIONS = ("ARA", "BFC", "BRE", "CVL", "GES", "HDF", "IDF", "NAQ", "NOR", "OCC", "PAC", "PDL")


def customers(vocabulary, n: int, seed: int = 0) -> pd.DataFrame:
    """Customers alike on every documented numeric feature (uniform noise), typical supports,
    regions spread evenly."""
    rng = np.random.default_rng(seed)
    numeric = sorted({t.column for t in vocabulary.values() if t.value is None})
    frame = pd.DataFrame(rng.random((n, len(numeric))), columns=numeric)
    for column, count in TYPICAL_SUPPORT.items():
        frame[column] = rng.poisson(count, n).astype(float)
    frame["recency_days"] = rng.normal(120, 60, n).clip(1)
    frame["region_code"] = rng.choice(REGIONS, n)
    return frame


def name_of(frame: pd.DataFrame, members: np.ndarray, vocabulary, language="en", prior=3.0) -> str:
    """The name of the segment `members`, as the runner gives it (against everyone)."""
    values, support = profiles.profile_values(frame, [], vocabulary)
    everyone = np.ones(len(frame), dtype=bool)
    table = profiles.feature_profiles(
        values, {"s": members}, {"s": everyone}, {"s": "all"}, support, support_prior=prior
    )
    traits = profiles.distinguishing_traits(table, 0.3, len(table))
    return naming.segment_name(traits, vocabulary, language, 2)


def segment(n: int = 1_000, size: int = 100) -> np.ndarray:
    return np.arange(n) < size


@pytest.mark.parametrize(
    ("planted", "english", "french"),
    [
        (
            {"tablet_session_share": 0.9},
            "Customers browsing on tablets",
            "Clients qui naviguent sur tablette",
        ),
        (
            # The others' features are noise from 0 to 1.
            {"call_centre_order_share": 1.0, "average_items_per_order": 3.0},
            "Customers who buy several items per order, who order by phone",
            "Clients qui achètent plusieurs articles par commande, qui commandent par téléphone",
        ),
        (
            {"region_code": "ARA"},
            "Customers from the Auvergne-Rhône-Alpes region",
            "Clients de la région Auvergne-Rhône-Alpes",
        ),
        (
            {"weekend_session_share": 0.95},
            "Customers who browse at weekends",
            "Clients qui naviguent le week-end",
        ),
    ],
    ids=["tablet", "call_centre_and_items", "region", "weekend"],
)
def test_a_segment_is_named_for_what_sets_it_apart(vocabulary, planted, english, french):
    """Traits the hand-written vocabulary of before could not name."""
    frame = customers(vocabulary, 1_000)
    members = segment()
    for column, value in planted.items():
        frame.loc[members, column] = value
    assert name_of(frame, members, vocabulary) == english
    assert name_of(frame, members, vocabulary, "fr") == french


def test_a_share_measured_on_few_sessions_gives_way_to_a_reliable_trait(vocabulary):
    """Dormant customers: all of their 1 or 2 sessions a year on mobile, no order for long."""
    rng = np.random.default_rng(1)
    frame = customers(vocabulary, 1_000)
    # Measured on 25 sessions, the others' mobile shares stay near their habit.
    frame["mobile_session_share"] = rng.normal(0.3, 0.1, len(frame)).clip(0, 1)
    members = segment()
    frame.loc[members, "mobile_session_share"] = 1.0
    frame.loc[members, "sessions_long_window"] = np.resize([1.0, 2.0], members.sum())
    frame.loc[members, "recency_days"] = 500.0
    name = name_of(frame, members, vocabulary)
    assert name == "Customers who have not ordered for long, rarely online"
    # Unweighted, the mobile share measured on 1.5 sessions would lead the name.
    assert name_of(frame, members, vocabulary, prior=0.0).startswith("Customers browsing on mobile")
    values, support = profiles.profile_values(frame, [], vocabulary)
    everyone = np.ones(len(frame), dtype=bool)
    weighted = profiles.feature_profiles(
        values, {"s": members}, {"s": everyone}, {"s": "all"}, support, support_prior=3.0
    ).set_index("feature")
    assert weighted.loc["mobile_session_share", "reliability"] == pytest.approx(1.5 / 4.5)
    assert weighted.loc["recency_days", "reliability"] == 1.0
    assert weighted.loc["recency_days", "importance_rank"] == 1


def test_reliability_is_the_share_of_the_support_over_support_and_prior():
    assert profiles.reliability(np.array([1.5, 20.0, np.inf]), 3.0) == pytest.approx(
        [1.5 / 4.5, 20 / 23, 1.0]
    )
    assert profiles.reliability(np.array([0.0, 2.0]), 0.0).tolist() == [1.0, 1.0]


def test_top_features_show_the_reliability_behind_a_rank():
    traits = [("recency_days", "high", 1.7, 2.65), ("mobile_session_share", "high", 3.0, 2.1)]
    text = profiles.traits_text(traits, {"recency_days": 1.0, "mobile_session_share": 1.5 / 4.5})
    assert text == (
        "recency_days +1.7 sd (x2.65); mobile_session_share +3.0 sd (x2.10, reliability 0.33)"
    )
    assert profiles.traits_text([("age", "low", -1.2, None)], {}) == "age -1.2 sd"
