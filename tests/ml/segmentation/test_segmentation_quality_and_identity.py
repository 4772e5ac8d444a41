"""Quality figures (equal to scikit-learn's), stability, gates, and stable segment ids."""

import numpy as np
import pandas as pd
import pytest
from cible.ml.segmentation import identity, quality
from cible.ml.segmentation.clustering import NOISE, KMeansSegmenter, cluster_indices
from sklearn.datasets import make_blobs
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)


@pytest.fixture(scope="module")
def blobs():
    return make_blobs(n_samples=2_000, centers=4, cluster_std=0.8, random_state=3)


def test_indices_are_scikit_learns_on_the_same_data(blobs):
    X, y = blobs
    figures = cluster_indices(X, y, sample_size=500, random_state=11)
    assert figures["silhouette"] == silhouette_score(X, y, sample_size=500, random_state=11)
    assert figures["davies_bouldin"] == davies_bouldin_score(X, y)
    assert figures["calinski_harabasz"] == calinski_harabasz_score(X, y)


def test_indices_leave_noise_out(blobs):
    X, y = blobs
    labels = y.copy()
    labels[:100] = NOISE
    figures = cluster_indices(X, labels, sample_size=None, random_state=0)
    kept = labels != NOISE
    assert figures["silhouette"] == pytest.approx(silhouette_score(X[kept], labels[kept]))
    assert np.isnan(cluster_indices(X, np.zeros(len(X), dtype=int), None, 0)["silhouette"])


def test_bootstrap_stability_is_high_for_clear_clusters_and_low_for_noise(blobs):
    X, _ = blobs
    model = KMeansSegmenter(k_min=4, k_max=4, n_init=3, random_state=0).fit(X)
    clear = quality.bootstrap_stability(model, X, model.labels_, 5, 0.8, random_state=0)
    assert len(clear) == 5
    assert min(clear) > 0.95
    uniform = np.random.default_rng(0).uniform(size=(600, 8))
    model = KMeansSegmenter(k_min=6, k_max=6, n_init=1, random_state=0).fit(uniform)
    vague = quality.bootstrap_stability(model, uniform, model.labels_, 5, 0.5, random_state=0)
    assert np.mean(vague) < np.mean(clear)


def test_temporal_stability_on_shared_customers():
    previous = pd.Series(["c1", "c1", "c2", "c2", "c3"], index=list("abcde"))
    current = pd.Series(["c1", "c2", "c2", "c2", "c4"], index=list("abcdf"))
    figures = quality.temporal_stability(previous, current)
    assert figures["shared_customers"] == 4
    assert figures["keep_share"] == 0.75
    assert figures["ari"] == adjusted_rand_score(["c1", "c1", "c2", "c2"], ["c1", "c2", "c2", "c2"])
    empty = quality.temporal_stability(previous, pd.Series(["x"], index=["z"]))
    assert empty["shared_customers"] == 0 and np.isnan(empty["keep_share"])


def gates(**overrides):
    arguments = {
        "silhouette": 0.2,
        "smallest_segment": 100,
        "minimum_size": 50,
        "bootstrap_ari": 0.9,
        "temporal_keep_share": None,
        "silhouette_floor": 0.1,
        "bootstrap_ari_floor": 0.8,
        "temporal_keep_share_floor": 0.7,
    }
    arguments.update(overrides)
    return {gate.name: gate for gate in quality.evaluate_gates(**arguments)}


def test_gates_pass_and_fail_on_their_floors():
    assert all(gate.passed for gate in gates().values())
    assert not gates(silhouette=0.05)["silhouette"].passed
    assert not gates(silhouette=float("nan"))["silhouette"].passed
    assert gates(silhouette=0.1)["silhouette"].passed, "the floor itself passes"
    assert not gates(smallest_segment=49)["segment_size"].passed
    assert not gates(bootstrap_ari=0.5)["stability"].passed
    assert not gates(temporal_keep_share=0.6)["stability"].passed
    assert gates(temporal_keep_share=0.6, temporal_keep_share_floor=None)["stability"].passed
    assert "49 customers (minimum 50)" in gates(smallest_segment=49)["segment_size"].message


def test_hungarian_matching_recovers_permuted_centroids():
    previous = {
        "cluster_01": np.array([0.0, 0.0]),
        "cluster_02": np.array([5.0, 0.0]),
        "cluster_03": np.array([0.0, 5.0]),
    }
    current = {0: np.array([5.1, 0.1]), 1: np.array([0.1, 4.9]), 2: np.array([-0.1, 0.0])}
    matches = identity.match_clusters(current, previous, max_distance=1.0)
    assert {label: match[0] for label, match in matches.items()} == {
        0: "cluster_02",
        1: "cluster_03",
        2: "cluster_01",
    }


def test_new_clusters_get_numbers_never_used_and_vanished_ones_retire():
    previous = {"cluster_01": np.array([0.0, 0.0]), "cluster_04": np.array([5.0, 0.0])}
    current = {0: np.array([0.2, 0.0]), 1: np.array([20.0, 20.0]), 2: np.array([-20.0, 3.0])}
    matches = identity.match_clusters(current, previous, max_distance=1.0)
    ids = identity.assign_ids([0, 1, 2], matches, highest_number=6)
    assert ids == {0: "cluster_01", 1: "cluster_07", 2: "cluster_08"}
    assert "cluster_04" not in ids.values()


def test_previous_centroids_are_measured_in_the_current_space():
    X = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 10.0], [12.0, 10.0], [50.0, 50.0]])
    customers = pd.Index(["a", "b", "c", "d", "e"])
    previous = pd.Series(
        ["cluster_01", "cluster_01", "cluster_02", "cluster_02", "cluster_03"],
        index=["a", "b", "c", "d", "gone"],
    )
    centroids = identity.centroids_by_segment(X, customers, previous, min_customers=2)
    assert set(centroids) == {"cluster_01", "cluster_02"}
    np.testing.assert_allclose(centroids["cluster_02"], [11.0, 10.0])


def test_cluster_ids_round_trip():
    assert identity.cluster_id(3) == "cluster_03"
    assert identity.cluster_number("cluster_12") == 12
    assert identity.cluster_number("prospects") is None
