"""A whole run in memory: routing, fit on a sample, assignment without refit, stable ids,
rule segments, profiles and gates, on synthetic customers."""

import numpy as np
import pandas as pd
import pytest
import segmentation_data
from cible.ml.segmentation.model import SegmentationModel
from cible.ml.segmentation.runner import PreviousRun, SegmentationError, run_segmentation
from cible.orchestration.dbt import cible_dbt_project
from cible.orchestration.feature_vocabulary import feature_vocabulary
from sklearn.metrics import adjusted_rand_score


@pytest.fixture(scope="module")
def synthetic():
    """Shared synthetic customers and their planted groups (read-only)."""
    return segmentation_data.synthetic()


@pytest.fixture(scope="module")
def config():
    """The shipped configuration, validated against the synthetic columns."""
    return segmentation_data.config()


@pytest.fixture(scope="module")
def first(synthetic, config):
    frame, _ = synthetic
    return run_segmentation(frame, config, "run_1")


def with_settings(config, section: str, **settings):
    """`config` with some settings of one section changed (not validated again)."""
    return config.model_copy(update={section: getattr(config, section).model_copy(update=settings)})


def previous_of(result) -> PreviousRun:
    assignments = result.tables["segment_assignments"]
    clusters = assignments[assignments["segment_kind"] == "cluster"]
    numbers = [int(s.split("_")[1]) for s in clusters["segment_id"].unique()]
    return PreviousRun(
        run_id=result.run_id,
        clusters=pd.Series(clusters["segment_id"].to_numpy(), index=clusters["customer_id"]),
        exclusive=pd.Series(assignments["segment_id"].to_numpy(), index=assignments["customer_id"]),
        highest_cluster_number=max(numbers),
    )


def test_documented_features_are_profiled_and_named_with_their_phrases(synthetic, config):
    frame, _ = synthetic
    vocabulary = feature_vocabulary(cible_dbt_project())
    result = run_segmentation(frame, config, "documented", vocabulary=vocabulary)
    profiled = set(result.tables["segment_profile_features"]["feature"])
    documented = {name for name, trait in vocabulary.items() if trait.column in frame.columns}
    assert profiled == set(config.profiles.features) | documented
    assert {"app_session_share", "campaigns_clicked", "lifecycle_stage=lapsed"} <= profiled
    phrases = {
        texts.en
        for trait in [*vocabulary.values(), *config.profiles.descriptors.values()]
        for texts in (trait.high, trait.low)
        if texts is not None
    }
    clusters = result.tables["segment_profiles"].query("segment_kind == 'cluster'")
    assert clusters["name_en"].is_unique and clusters["name_fr"].is_unique
    for name in clusters["name_en"]:
        assert any(name.startswith(f"Customers {phrase}") for phrase in phrases), name
        assert "average" not in name, name


def test_excluded_segments_are_routed_before_clustering(first, synthetic):
    frame, _ = synthetic
    assignments = first.tables["segment_assignments"].set_index("customer_id")
    consent = frame.set_index("customer_id")["has_profiling_consent"]
    assert (assignments.loc[~consent, "segment_id"] == "not_profiled").all()
    prospects = frame.set_index("customer_id")["orders_count"].eq(0) & consent
    assert (assignments.loc[prospects, "segment_id"] == "prospects").all()
    clustered = assignments["segment_kind"] == "cluster"
    assert clustered.sum() == (consent & ~prospects).sum()
    assert len(assignments) == len(frame), "every customer has exactly one exclusive segment"


def test_the_planted_groups_are_recovered(first, synthetic):
    _, groups = synthetic
    assignments = first.tables["segment_assignments"]
    clustered = (assignments["segment_kind"] == "cluster").to_numpy()
    assert first.summary["k"] == 6
    assert adjusted_rand_score(groups[clustered], assignments["segment_id"][clustered]) > 0.95


def test_every_segment_has_a_profile_a_name_and_a_description(first, config):
    segments = first.tables["segment_profiles"]
    declared = [s.id for g in config.rule_groups for s in g.segments]
    assert set(declared) <= set(segments["segment_id"])
    for column in ("name_en", "name_fr", "description_en", "description_fr"):
        assert segments[column].str.len().gt(5).all(), column
    clusters = segments[segments["segment_kind"] == "cluster"]
    assert clusters["name_fr"].str.startswith("Clients ").all()
    assert clusters["name_en"].is_unique and clusters["name_fr"].is_unique
    features = first.tables["segment_profile_features"]
    assert set(features["segment_id"]) == set(segments["segment_id"])
    assert features.groupby("segment_id").size().eq(len(config.profiles.features)).all()


def test_rule_segments_skip_customers_without_profiling_consent(first, synthetic):
    frame, _ = synthetic
    members = first.tables["rule_segment_memberships"]
    no_consent = set(frame.loc[~frame["has_profiling_consent"], "customer_id"])
    assert no_consent.isdisjoint(members["customer_id"])
    champions = frame[
        frame["has_profiling_consent"]
        & (frame["recency_score"] >= 4)
        & (frame["frequency_score"] >= 4)
        & (frame["monetary_score"] >= 3)
    ]
    found = members.loc[members["segment_id"] == "rfm_champions", "customer_id"]
    assert set(found) == set(champions["customer_id"])
    tiers = members[members["rule_group"] == "rfm_tier"]
    assert tiers["customer_id"].is_unique


def test_quality_and_gates_are_reported(first):
    quality = first.tables["segment_quality"].iloc[0]
    assert quality["bootstrap_resamples"] == 5
    assert quality["bootstrap_ari_mean"] > 0.9
    assert quality["silhouette"] > 0.2
    assert first.is_published
    assert first.tables["segment_runs"]["failed_gates"].iloc[0] == ""
    k_scores = first.tables["segment_k_scores"]
    assert k_scores["is_selected"].sum() == 1


def test_a_second_run_keeps_segment_ids(first, synthetic, config):
    frame, _ = synthetic
    changed = frame.sample(frac=0.95, random_state=1)
    reseeded = with_settings(config, "algorithm", random_state=7)
    second = run_segmentation(changed, reseeded, "run_2", previous=previous_of(first))
    quality = second.tables["segment_quality"].iloc[0]
    assert quality["temporal_keep_share"] > 0.95
    before = first.tables["segment_profiles"].set_index("segment_id")["name_en"]
    after = second.tables["segment_profiles"].set_index("segment_id")["name_en"]
    clusters = [s for s in after.index if s.startswith("cluster_")]
    assert sorted(clusters) == sorted(s for s in before.index if s.startswith("cluster_"))
    assert (before[clusters] == after[clusters]).mean() >= 0.8
    assert not second.tables["segment_profiles"]["is_new_segment"].any()


def test_a_different_clustering_gets_new_ids_above_every_used_one(first, synthetic, config):
    frame, _ = synthetic
    fixed = with_settings(config, "algorithm", k_min=3, k_max=3)
    second = run_segmentation(frame, fixed, "run_2", previous=previous_of(first))
    ids = set(second.tables["segment_assignments"].query("segment_kind == 'cluster'")["segment_id"])
    assert len(ids) == 3
    new = {i for i in ids if int(i.split("_")[1]) > 6}
    retired = second.tables["segment_runs"]["retired_segment_ids"].iloc[0].split(",")
    assert len(retired) >= 3
    assert not set(retired) & ids
    assert new, "merged clusters do not inherit an old id"


def test_a_persisted_model_assigns_everyone_without_refitting(first, synthetic, config, tmp_path):
    frame, _ = synthetic
    path = tmp_path / "model.joblib"
    digest = first.model.save(path)
    assert len(digest) == 64
    loaded = SegmentationModel.load(path)
    scaler = loaded.pipeline.named_steps["features"].named_transformers_["log"]["scale"]
    mean_before = scaler.mean_.copy()
    shifted = frame.assign(revenue_eur=frame["revenue_eur"] * 3)
    again = run_segmentation(shifted, config, "run_3", previous=previous_of(first), model=loaded)
    np.testing.assert_array_equal(scaler.mean_, mean_before)
    assert again.tables["segment_runs"]["is_refit"].iloc[0] == np.False_
    assert again.tables["segment_runs"]["model_version"].iloc[0] == "segmentation-run_1"
    same = run_segmentation(frame, config, "run_4", model=loaded)
    pd.testing.assert_series_equal(
        same.tables["segment_assignments"]["segment_id"],
        first.tables["segment_assignments"]["segment_id"],
    )


def test_a_bad_model_fails_its_gates(synthetic, config):
    frame, _ = synthetic
    bad = with_settings(config, "algorithm", k_min=25, k_max=25)
    bad = with_settings(bad, "quality", silhouette_floor=0.5)
    result = run_segmentation(frame, bad, "bad")
    failed = {gate.name for gate in result.gates if not gate.passed}
    assert {"silhouette", "segment_size"} <= failed
    assert not result.is_published
    recorded = result.tables["segment_runs"]["failed_gates"].iloc[0].split(",")
    assert set(recorded) == failed


def test_too_few_customers_to_cluster_is_an_explained_error(synthetic, config):
    frame, _ = synthetic
    with pytest.raises(
        SegmentationError, match=r"only 0 customers .*not_profiled 2000.*consent_when_absent"
    ):
        run_segmentation(frame.assign(is_profiling_allowed=False), config, "none")


def test_the_consent_state_routes_customers_whatever_the_configuration_says(synthetic, config):
    """No setting can cluster a customer the consent state does not allow: not an empty list
    of excluded segments, not a consent flag saying otherwise, not an old model."""
    frame, _ = synthetic
    rng = np.random.default_rng(3)
    refused = rng.random(len(frame)) < 0.2
    # The state rules, not the features' flag (a flag as of another date, or tampered with).
    frame = frame.assign(has_profiling_consent=True, is_profiling_allowed=~refused)
    bare = config.model_copy(
        update={"population": config.population.model_copy(update={"excluded_segments": ()})}
    )
    result = run_segmentation(frame, bare, "bare")
    assignments = result.tables["segment_assignments"]
    assert (assignments.loc[refused, "segment_id"] == "not_profiled").all()
    assert (assignments.loc[~refused, "segment_id"] != "not_profiled").all()
    refused_ids = set(frame.loc[refused, "customer_id"])
    in_rules = result.tables["rule_segment_memberships"]["customer_id"]
    assert len(in_rules) and refused_ids.isdisjoint(in_rules), "no rule segment for them"
    # A model saved without the built-in segment (an earlier Cible) routes the same.
    model = result.model
    model.excluded_segments = ()
    assert (model.route(frame).loc[refused] == "not_profiled").all()
    assert model.assign(frame)["segment_id"][refused].eq("not_profiled").all()


def test_a_batch_with_nobody_to_cluster_is_assigned(first, synthetic):
    """A live micro-batch may hold only excluded customers: no embedding of 0 rows."""
    frame, _ = synthetic
    prospects = frame[frame["is_profiling_allowed"] & frame["orders_count"].eq(0)].head(3)
    refused = frame[~frame["is_profiling_allowed"]].head(2)
    assigned = first.model.assign(pd.concat([prospects, refused]))
    assert assigned["segment_id"].tolist() == ["prospects"] * 3 + ["not_profiled"] * 2
    assert (assigned["segment_kind"] == "excluded").all()
    assert first.model.assign(frame.head(0)).empty


def test_features_without_the_consent_state_are_refused(synthetic, config):
    frame, _ = synthetic
    with pytest.raises(ValueError, match="is_profiling_allowed"):
        run_segmentation(frame.drop(columns="is_profiling_allowed"), config, "no_state")


@pytest.mark.parametrize("algorithm", ["agglomerative", "dbscan", "hdbscan"])
def test_every_algorithm_runs_end_to_end(synthetic, config, algorithm):
    frame, groups = synthetic
    chosen = with_settings(config, "algorithm", name=algorithm, k_max=8)
    result = run_segmentation(frame, chosen, algorithm)
    assignments = result.tables["segment_assignments"]
    clustered = assignments["segment_kind"].isin(["cluster", "noise"]).to_numpy()
    labels = assignments["segment_id"][clustered]
    assert result.summary["k"] >= 3
    assert adjusted_rand_score(groups[clustered], labels) > 0.6
    if algorithm != "agglomerative":
        segments = result.tables["segment_profiles"]
        assert set(assignments["segment_kind"]) <= {"cluster", "noise", "excluded"}
        if (assignments["segment_kind"] == "noise").any():
            assert "noise" in set(segments["segment_id"])
