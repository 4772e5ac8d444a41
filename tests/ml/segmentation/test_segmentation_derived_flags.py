"""The flags computed for profiles only (``profiles.derived_flags`` of config/segmentation.yml)."""

import pandas as pd
from cible.ml.segmentation import profiles, rules
from cible.ml.segmentation.config import DEFAULT_CONFIG_PATH, load_segmentation_config


def riviera_flag(departements: pd.Series) -> pd.Series:
    config = load_segmentation_config(DEFAULT_CONFIG_PATH)
    frame = pd.DataFrame({"departement_code": departements})
    return profiles.add_derived_flags(frame, config.profiles.derived_flags)["lives_on_riviera"]


def test_the_riviera_is_the_alpes_maritimes_and_the_var_not_marseille():
    departements = pd.Series(["06", "83", "13", "75", "84", None])
    assert riviera_flag(departements).tolist() == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]


def test_riviera_summer_buyers_live_where_the_flag_says():
    config = load_segmentation_config(DEFAULT_CONFIG_PATH)
    segment = next(
        s for g in config.rule_groups for s in g.segments if s.id == "riviera_summer_buyers"
    )
    departements = pd.Series(["06", "83", "13", "75"])
    frame = pd.DataFrame({"departement_code": departements, "summer_order_share": 0.9})
    assert rules.evaluate(segment.when, frame).tolist() == [True, True, False, False]
    assert rules.evaluate(segment.when, frame).astype(float).tolist() == (
        riviera_flag(departements).tolist()
    )


def test_no_customer_of_the_bouches_du_rhone_lives_on_the_riviera(demo_build):
    features = demo_build.query(
        "select departement_code from marts.fct_customer_features "
        "where departement_code in ('06', '13', '83')"
    )
    flag = riviera_flag(features["departement_code"])
    marseille = features["departement_code"].eq("13")
    # The demo's Riviera persona lives in 06, 83 and 13 (cible/demo/personas.py): all three exist.
    assert marseille.sum() > 0 and (~marseille).sum() > 0
    assert flag[marseille].eq(0).all()
    assert flag[~marseille].eq(1).all()
