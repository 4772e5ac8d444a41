"""Population stability index: arithmetic, binning and statuses."""

import numpy as np
import pandas as pd
import pytest
from cible.ml.scoring import drift


def test_psi_arithmetic():
    expected = np.array([0.5, 0.5])
    actual = np.array([0.25, 0.75])
    by_hand = (0.25 - 0.5) * np.log(0.25 / 0.5) + (0.75 - 0.5) * np.log(0.75 / 0.5)
    assert drift.psi(expected, actual) == pytest.approx(by_hand)
    assert drift.psi(expected, expected) == 0.0
    # An emptied bin is floored, so the index stays finite and large.
    assert 1 < drift.psi([0.5, 0.5], [1.0, 0.0]) < 10


def test_the_same_population_is_stable_and_a_shift_is_not():
    rng = np.random.default_rng(0)
    reference = drift.profile(pd.Series(rng.normal(0, 1, 20_000)))
    assert len(reference["shares"]) == 11  # 10 quantile bins + missing
    same = drift.psi(
        reference["shares"], drift.shares_like(reference, pd.Series(rng.normal(0, 1, 20_000)))
    )
    shifted = drift.psi(
        reference["shares"], drift.shares_like(reference, pd.Series(rng.normal(0.5, 1, 20_000)))
    )
    assert same < 0.01 and shifted > 0.2


def test_missing_values_and_categories_have_their_own_bins():
    reference = drift.profile(pd.Series(["a", "a", "b", None]))
    assert reference["categories"] == ["a", "b"]
    assert reference["shares"] == [0.5, 0.25, 0.0, 0.25]  # a, b, other, missing
    now = drift.shares_like(reference, pd.Series(["a", "c", "c", "c"]))
    assert now.tolist() == [0.25, 0.0, 0.75, 0.0]
    numbers = drift.profile(pd.Series([1.0, 2.0, np.nan, np.nan]), bins=2)
    assert numbers["shares"][-1] == 0.5


def test_booleans_and_nullable_integers_profile_as_numbers():
    values = pd.Series([True, False, None, True], dtype="boolean")
    assert drift.profile(values)["kind"] == "numeric"
    assert drift.profile(pd.Series([1, None, 3], dtype="Int32"))["kind"] == "numeric"


def test_statuses_follow_the_thresholds_and_blocking_list():
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 5000), "y": rng.normal(0, 1, 5000)})
    profiles = drift.profile_frame(reference, ["x", "y"])
    now = pd.DataFrame({"x": rng.normal(2, 1, 5000), "y": rng.normal(0, 1, 5000)})
    table = drift.drift_table(profiles, now, warn=0.1, block=0.25).set_index("name")
    assert table.loc["x", "status"] == "block" and table.loc["y", "status"] == "ok"
    only_y_blocks = drift.drift_table(profiles, now, 0.1, 0.25, blocking=["y"]).set_index("name")
    assert only_y_blocks.loc["x", "status"] == "warn"


def test_a_column_constant_in_the_reference_never_warns_but_keeps_its_psi():
    """No web history when the model learned: every customer in one bin. Its values today
    cannot move the scores (the pipeline dropped it), so its drift is reported, not flagged."""
    rng = np.random.default_rng(2)
    reference = pd.DataFrame(
        {"days_since_last_visit": np.full(3000, np.nan), "sessions": np.zeros(3000)}
    )
    profiles = drift.profile_frame(reference, ["days_since_last_visit", "sessions"])
    now = pd.DataFrame(
        {
            "days_since_last_visit": rng.integers(0, 300, 3000).astype(float),
            "sessions": rng.poisson(4, 3000).astype(float),
        }
    )
    table = drift.drift_table(profiles, now, warn=0.1, block=0.25).set_index("name")
    assert table.loc["days_since_last_visit", "psi"] > 1
    assert (table["status"] == "ok").all()
    # One value and some missing: learned (the missing indicator varies).
    partly = drift.profile_frame(reference.assign(sessions=[0.0, np.nan] * 1500), ["sessions"])
    assert drift.drift_table(partly, now, 0.1, 0.25)["status"].tolist() == ["block"]
    # Two values in one bin (a rare 1 among 0s) were learned: a drift to negatives still flags.
    rare = drift.profile_frame(reference.assign(sessions=[1.0] + [0.0] * 2999), ["sessions"])
    assert sum(share > 0 for share in rare["sessions"]["shares"]) == 1
    negative = now.assign(sessions=-1.0)
    assert drift.drift_table(rare, negative, 0.1, 0.25)["status"].tolist() == ["block"]
    # A profile made before distinct values were counted: judged on its PSI.
    del profiles["days_since_last_visit"]["distinct"]
    old = drift.drift_table(profiles, now, 0.1, 0.25).set_index("name")
    assert old.loc["days_since_last_visit", "status"] == "block"
