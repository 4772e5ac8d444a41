"""The clustering estimators, the rule choosing k and the knee of the k-distance curve."""

import numpy as np
import pandas as pd
import pytest
from cible.ml.segmentation.clustering import (
    NOISE,
    DensitySegmenter,
    KMeansSegmenter,
    WardSegmenter,
    knee_point,
    select_k,
)
from sklearn.cluster import AgglomerativeClustering
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

# Small settings so that scikit-learn's checks (tiny random data sets) run quickly.
CHECKED = [
    KMeansSegmenter(k_min=2, k_max=3, n_init=2, random_state=0),
    WardSegmenter(k_min=2, k_max=3, random_state=0),
    DensitySegmenter(method="dbscan", min_samples=3, random_state=0),
    DensitySegmenter(method="hdbscan", min_samples=3, min_cluster_size=5, random_state=0),
]


@parametrize_with_checks(CHECKED)
def test_segmenters_follow_scikit_learn_conventions(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=1_500, centers=5, cluster_std=0.6, n_features=4, random_state=7)
    return X, y


def scores(rows):
    return pd.DataFrame(
        rows, columns=["k", "silhouette", "davies_bouldin", "calinski_harabasz", "smallest_cluster"]
    )


def test_select_k_takes_the_best_mean_rank_of_the_three_indices():
    table = select_k(
        scores(
            [
                (3, 0.30, 1.20, 900.0, 300),  # ranks 3, 3, 1 -> 2.33
                (4, 0.35, 1.00, 800.0, 200),  # ranks 1, 1, 2 -> 1.33
                (5, 0.34, 1.10, 700.0, 150),  # ranks 2, 2, 3 -> 2.33
            ]
        )
    )
    assert table.loc[table["is_selected"], "k"].item() == 4
    assert table["mean_rank"].tolist() == pytest.approx([7 / 3, 4 / 3, 7 / 3])


def test_select_k_skips_k_whose_smallest_cluster_is_too_small():
    table = select_k(
        scores([(4, 0.30, 1.2, 800.0, 120), (5, 0.40, 1.0, 900.0, 20)]), min_cluster_size=50
    )
    assert table["is_eligible"].tolist() == [True, False]
    assert table.loc[table["is_selected"], "k"].item() == 4
    assert np.isnan(table.loc[1, "mean_rank"])


def test_select_k_breaks_ties_by_silhouette_then_smaller_k():
    table = select_k(scores([(4, 0.3, 1.0, 700.0, 100), (6, 0.3, 1.0, 700.0, 100)]))
    assert table.loc[table["is_selected"], "k"].item() == 4
    table = select_k(scores([(4, 0.30, 1.0, 800.0, 100), (6, 0.31, 1.1, 700.0, 100)]))
    # Ranks (2, 1, 1) and (1, 2, 2): 4 wins on mean rank although 6 has the higher silhouette.
    assert table.loc[table["is_selected"], "k"].item() == 4


def test_select_k_falls_back_to_every_k_when_none_is_eligible():
    table = select_k(scores([(4, 0.3, 1.0, 700.0, 5), (5, 0.4, 0.9, 800.0, 4)]), 100)
    assert table["is_eligible"].all()
    assert table.loc[table["is_selected"], "k"].item() == 5


def test_knee_point_finds_where_the_curve_turns_steep():
    curve = np.concatenate([np.linspace(0.1, 0.5, 90), np.linspace(1.0, 6.0, 10)])
    index = knee_point(curve)
    assert 85 <= index <= 90
    assert knee_point([1.0, 1.0, 1.0]) == 1


def test_kmeans_finds_the_planted_k_and_clusters(blobs):
    X, y = blobs
    model = KMeansSegmenter(k_min=3, k_max=8, random_state=0).fit(X)
    assert model.n_clusters_ == 5
    assert adjusted_rand_score(y, model.labels_) > 0.99
    assert model.k_scores_["is_selected"].sum() == 1
    sizes = np.bincount(model.labels_)
    assert (np.diff(sizes) <= 0).all(), "label 0 is the largest cluster"
    np.testing.assert_array_equal(model.predict(X), model.labels_)


def test_kmeans_switches_to_minibatch_above_the_threshold(blobs):
    X, y = blobs
    model = KMeansSegmenter(k_min=5, k_max=5, minibatch_above=1_000, random_state=0).fit(X)
    assert model.algorithm_ == "minibatch_kmeans"
    assert adjusted_rand_score(y, model.labels_) > 0.99


def test_kmeans_scores_k_on_a_sample(blobs):
    X, _ = blobs
    model = KMeansSegmenter(k_min=4, k_max=6, selection_sample_size=300, random_state=0).fit(X)
    assert model.k_scores_["smallest_cluster"].max() <= 300
    assert len(model.labels_) == len(X)


def test_ward_cuts_the_same_tree_as_scikit_learn(blobs):
    X, _ = blobs
    sample = X[:600]
    ours = WardSegmenter(k_min=4, k_max=4, sample_size=600).fit(sample)
    theirs = AgglomerativeClustering(n_clusters=4, linkage="ward").fit(sample)
    assert adjusted_rand_score(theirs.labels_, ours.labels_) == pytest.approx(1.0)


def test_ward_fits_a_sample_and_assigns_everyone(blobs):
    X, y = blobs
    model = WardSegmenter(k_min=3, k_max=7, sample_size=400, random_state=0).fit(X)
    assert model.n_clusters_ == 5
    assert len(model.labels_) == len(X)
    assert adjusted_rand_score(y, model.labels_) > 0.98


def test_dbscan_takes_eps_from_the_knee_and_labels_noise(blobs):
    X, y = blobs
    outliers = np.random.default_rng(0).uniform(-30, 30, size=(20, 4))
    data = np.vstack([X, outliers])
    model = DensitySegmenter(method="dbscan", min_samples=10, random_state=0).fit(data)
    assert model.eps_ > 0
    assert model.n_clusters_ == 5
    assert (model.labels_[-20:] == NOISE).mean() > 0.9
    clustered = model.labels_[: len(X)] != NOISE
    assert adjusted_rand_score(y[clustered], model.labels_[: len(X)][clustered]) > 0.99
    # Assigning new customers uses the fitted core samples and eps.
    np.testing.assert_array_equal(model.predict(data), model.labels_)


def test_density_methods_fit_a_sample_and_assign_the_rest(blobs):
    X, y = blobs
    for method in ("dbscan", "hdbscan"):
        model = DensitySegmenter(method=method, min_samples=10, sample_size=500, random_state=0)
        model.fit(X)
        assert len(model.labels_) == len(X)
        assert model.n_clusters_ == 5, method
        assigned = model.labels_ != NOISE
        assert assigned.mean() > 0.9, method
        assert adjusted_rand_score(y[assigned], model.labels_[assigned]) > 0.98, method


def test_dbscan_weighs_identical_rows_by_their_count():
    """A hundred customers sharing one feature vector form a dense core, not 100 points."""
    rng = np.random.default_rng(0)
    duplicated = np.zeros((100, 2))
    scattered = rng.uniform(5, 50, size=(40, 2))
    model = DensitySegmenter(method="dbscan", eps=1.0, min_samples=20).fit(
        np.vstack([duplicated, scattered])
    )
    assert (model.labels_[:100] == 0).all()
    assert (model.labels_[100:] == NOISE).all()


def test_fixed_copies_keep_the_chosen_k(blobs):
    X, _ = blobs
    model = KMeansSegmenter(k_min=3, k_max=7, random_state=0).fit(X)
    fixed = model.fixed()
    assert (fixed.k_min, fixed.k_max) == (5, 5)
    assert not hasattr(fixed, "labels_")
