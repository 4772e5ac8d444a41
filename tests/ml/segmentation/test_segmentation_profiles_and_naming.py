"""Profiles (means, lifts, distinguishing features, key figures) and generated names."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from cible.ml.segmentation import naming, profiles
from cible.ml.segmentation.config import Descriptor, Texts


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
