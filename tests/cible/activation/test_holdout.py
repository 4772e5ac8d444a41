"""The holdout stays put across exports and keeps its share in every stratum."""

import numpy as np
import pandas as pd
import pytest

from cible.activation import holdout

SHARE = 0.1
STRATA = {"cluster_01": 6_000, "cluster_02": 4_000, "cluster_03": 2_500, "noise": 1_500}


def population(seed: int = 7) -> pd.DataFrame:
    ids = [f"c{i:06d}" for i in range(sum(STRATA.values()))]
    strata = np.repeat(list(STRATA), list(STRATA.values()))
    return pd.DataFrame(
        {"customer_id": ids, "stratum": np.random.default_rng(seed).permutation(strata)}
    )


def shares(frame: pd.DataFrame) -> pd.Series:
    return frame.groupby("stratum")["is_holdout"].mean()


def export(members: pd.DataFrame, draws: pd.DataFrame, fingerprint: str = "v1") -> pd.DataFrame:
    assigned = holdout.assign(members, draws, "champions_email", fingerprint, SHARE)
    return assigned


def test_five_runs_with_two_percent_moving_keep_everyone_in_their_arm():
    rng = np.random.default_rng(11)
    everyone = population()
    # The audience is the customers of cluster_01 and cluster_02 (a rule segment spanning two
    # clusters); each run 2% of all customers change cluster.
    audience_strata = {"cluster_01", "cluster_02"}
    draws = pd.DataFrame({"customer_id": [], "is_holdout": []})
    arms: dict[str, bool] = {}
    previous_members: set[str] = set()
    for run in range(5):
        if run:
            moving = rng.choice(len(everyone), size=int(0.02 * len(everyone)), replace=False)
            everyone.loc[moving, "stratum"] = rng.choice(list(STRATA), size=len(moving))
        members = everyone[everyone["stratum"].isin(audience_strata)].reset_index(drop=True)
        assigned = export(members, draws)
        current = set(assigned["customer_id"])
        stayed = current & previous_members
        now = dict(zip(assigned["customer_id"], assigned["is_holdout"], strict=True))
        switched = [c for c in stayed if now[c] != arms[c]]
        assert switched == [], f"run {run}: {len(switched)} stayers changed arm"
        # Re-entrants keep the arm they were first drawn in.
        returning = [c for c in current - previous_members if c in arms]
        assert all(now[c] == arms[c] for c in returning)
        for stratum, share in shares(assigned).items():
            assert abs(share - SHARE) <= 0.01, f"run {run}, {stratum}: holdout share {share:.4f}"
        new = assigned[assigned["is_new"]]
        draws = pd.concat([draws, new[["customer_id", "is_holdout"]]], ignore_index=True)
        arms.update(now)
        previous_members = current
    assert len(previous_members) > 9_000


def test_first_draw_has_the_exact_share_per_stratum():
    assigned = export(population(), pd.DataFrame({"customer_id": [], "is_holdout": []}))
    for stratum, size in STRATA.items():
        expected = round(SHARE * size)
        assert assigned.loc[assigned["stratum"] == stratum, "is_holdout"].sum() == expected


def test_a_new_definition_draws_again():
    members = population()
    empty = pd.DataFrame({"customer_id": [], "is_holdout": []})
    first = export(members, empty, "v1")
    second = export(members, empty, "v2")
    same = (first["is_holdout"] == second["is_holdout"]).mean()
    # Two independent 10% draws agree on about 82% of customers, never on all of them.
    assert same == pytest.approx(0.82, abs=0.02)


def test_the_draw_is_deterministic():
    members = population()
    empty = pd.DataFrame({"customer_id": [], "is_holdout": []})

    def arms(frame: pd.DataFrame) -> pd.Series:
        return export(frame, empty).set_index("customer_id")["is_holdout"].sort_index()

    assert arms(members).equals(arms(members.sample(frac=1, random_state=3)))
