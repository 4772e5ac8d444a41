"""Clustering estimators that fit on a sample and assign any number of customers.

Each follows scikit-learn's conventions (parameters only in ``__init__``, ``fit`` returns
``self``, learned state ends in ``_``) and exposes ``predict``, so the whole segmentation is one
``Pipeline`` that is fitted once, persisted, and applied to everyone without refitting. No step
builds a full distance matrix of the population: the k scan and the silhouette use samples,
Ward clusters a capped sample, and density-based methods assign by nearest neighbours.

- :class:`KMeansSegmenter`: K-means (MiniBatchKMeans above a size) with k chosen over a range.
- :class:`WardSegmenter`: agglomerative clustering with Ward's linkage, k chosen the same way.
- :class:`DensitySegmenter`: DBSCAN (eps from the k-distance curve's knee) or HDBSCAN; noise
  is labelled ``-1``.

Cluster labels are numbered by decreasing size (0 is the largest).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, ward
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin, clone
from sklearn.cluster import DBSCAN, HDBSCAN, KMeans, MiniBatchKMeans
from sklearn.metrics import (
    calinski_harabasz_score,
    davies_bouldin_score,
    pairwise_distances_argmin_min,
    silhouette_score,
)
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

NOISE = -1
SCORE_COLUMNS = (
    "k",
    "silhouette",
    "davies_bouldin",
    "calinski_harabasz",
    "smallest_cluster",
    "is_eligible",
    "mean_rank",
    "is_selected",
)


def sample_rows(n_rows: int, size: int | None, random_state) -> np.ndarray:
    """Sorted indices of a uniform sample of `size` rows (all rows when there are fewer)."""
    if size is None or n_rows <= size:
        return np.arange(n_rows)
    return np.sort(check_random_state(random_state).choice(n_rows, size=size, replace=False))


def cluster_indices(X: np.ndarray, labels: np.ndarray, sample_size: int | None, random_state):
    """Silhouette (on a sample), Davies-Bouldin and Calinski-Harabasz, noise left out.

    The silhouette is scikit-learn's ``silhouette_score(X, labels, sample_size=...,
    random_state=...)`` itself (the sample is drawn there), so it can be reproduced exactly.
    Undefined indices (fewer than two clusters) are NaN.
    """
    labels = np.asarray(labels)
    clustered = labels != NOISE
    X, labels = X[clustered], labels[clustered]
    n_labels = len(np.unique(labels))
    if n_labels < 2 or n_labels >= len(labels):
        return {"silhouette": np.nan, "davies_bouldin": np.nan, "calinski_harabasz": np.nan}
    use_sample = sample_size is not None and len(labels) > sample_size
    return {
        "silhouette": float(
            silhouette_score(
                X,
                labels,
                sample_size=sample_size if use_sample else None,
                random_state=random_state,
            )
        ),
        "davies_bouldin": float(davies_bouldin_score(X, labels)),
        "calinski_harabasz": float(calinski_harabasz_score(X, labels)),
    }


def select_k(scores: pd.DataFrame, min_cluster_size: int = 1) -> pd.DataFrame:
    """Choose k from the three indices; returns `scores` with the decision columns added.

    The rule (documented in docs/segmentation.md):

    1. A k is eligible when its smallest cluster has at least `min_cluster_size` customers (a
       k that splits off a tiny group would fail the size gate anyway). If no k is eligible,
       every k is considered.
    2. Among eligible k, each index ranks them: silhouette (higher is better), Davies-Bouldin
       (lower is better), Calinski-Harabasz (higher is better).
    3. The k with the best mean rank wins; a tie goes to the higher silhouette, then to the
       smaller k (the simpler segmentation).

    Args:
        scores: one row per k with ``k``, ``silhouette``, ``davies_bouldin``,
            ``calinski_harabasz`` and ``smallest_cluster``.
    """
    table = scores.copy().sort_values("k").reset_index(drop=True)
    eligible = table["smallest_cluster"] >= min_cluster_size
    if not eligible.any():
        eligible[:] = True
    table["is_eligible"] = eligible.to_numpy()
    candidates = table[eligible].copy()
    ranks = pd.concat(
        [
            candidates["silhouette"].rank(ascending=False, method="min", na_option="bottom"),
            candidates["davies_bouldin"].rank(ascending=True, method="min", na_option="bottom"),
            candidates["calinski_harabasz"].rank(ascending=False, method="min", na_option="bottom"),
        ],
        axis=1,
    )
    table["mean_rank"] = np.nan
    table.loc[candidates.index, "mean_rank"] = ranks.mean(axis=1)
    order = table.loc[candidates.index].sort_values(
        ["mean_rank", "silhouette", "k"], ascending=[True, False, True], na_position="last"
    )
    table["is_selected"] = table.index == order.index[0]
    return table[list(SCORE_COLUMNS)]


def knee_point(values) -> int:
    """Index of the knee of an ascending curve (the k-distance curve of DBSCAN).

    Both axes are scaled to [0, 1]; the knee is the point farthest below the chord joining the
    first and last points, where the curve turns from flat to steep (the "kneedle" rule).
    """
    y = np.sort(np.asarray(values, dtype=float))
    if len(y) < 3 or y[-1] == y[0]:
        return len(y) // 2
    x = np.linspace(0.0, 1.0, len(y))
    y_scaled = (y - y[0]) / (y[-1] - y[0])
    return int(np.argmax(x - y_scaled))


def _relabel_by_size(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels renumbered so that 0 is the largest cluster (noise stays -1), and the old order."""
    clusters = np.unique(labels[labels != NOISE])
    sizes = np.array([(labels == c).sum() for c in clusters])
    order = clusters[np.lexsort((clusters, -sizes))]
    mapping = {old: new for new, old in enumerate(order)}
    mapped = np.array([mapping.get(label, NOISE) for label in labels], dtype=int)
    return mapped, order


class _CentroidSegmenter(ClusterMixin, TransformerMixin, BaseEstimator):
    """Shared parts of the estimators that assign a customer to the nearest centre."""

    def predict(self, X):
        """The nearest centre's label for each row."""
        check_is_fitted(self, "cluster_centers_")
        X = validate_data(self, X, dtype=float, reset=False)
        return pairwise_distances_argmin_min(X, self.cluster_centers_)[0].astype(int)

    def transform(self, X):
        """Distances to every centre."""
        check_is_fitted(self, "cluster_centers_")
        X = validate_data(self, X, dtype=float, reset=False)
        squared = (
            (X**2).sum(axis=1)[:, None]
            - 2 * X @ self.cluster_centers_.T
            + (self.cluster_centers_**2).sum(axis=1)[None, :]
        )
        return np.sqrt(np.clip(squared, 0, None))

    def _scan(self, X, sample_size, labels_for_k, rows_given=None):
        """Scores every k of the range on a sample and picks one (see :func:`select_k`)."""
        if self.k_min > self.k_max:
            raise ValueError(f"k_min ({self.k_min}) must not exceed k_max ({self.k_max})")
        rows = sample_rows(len(X), sample_size, self.random_state)
        sample = X[rows]
        scores = []
        for k in range(self.k_min, min(self.k_max, len(sample) - 1) + 1):
            labels = labels_for_k(sample, k)
            if self.k_min == self.k_max:
                # Nothing to choose: the run's quality figures are computed on everyone later.
                indices = dict.fromkeys(("silhouette", "davies_bouldin", "calinski_harabasz"))
            else:
                indices = cluster_indices(
                    sample, labels, self.silhouette_sample_size, self.random_state
                )
            scores.append({"k": k, **indices, "smallest_cluster": int(np.bincount(labels).min())})
        if not scores:
            raise ValueError(
                f"n_samples = {len(X)}: too few rows to split into {self.k_min} clusters"
            )
        # `min_cluster_size` is about the rows given to fit: scale it to the sample.
        scale = len(sample) / (rows_given or len(X))
        table = select_k(pd.DataFrame(scores), self.min_cluster_size * scale)
        return table, int(table.loc[table["is_selected"], "k"].iloc[0])


class KMeansSegmenter(_CentroidSegmenter):
    """K-means with k chosen over ``[k_min, k_max]`` (:func:`select_k`).

    Args:
        k_min, k_max: the range of k tried (equal values fix k).
        n_init: K-means restarts per k (the best inertia is kept).
        minibatch_above: above this many rows, MiniBatchKMeans replaces KMeans.
        batch_size: MiniBatchKMeans batch size.
        selection_sample_size: rows used to score each k (the final fit uses all rows given).
        silhouette_sample_size: rows the silhouette is computed on.
        min_cluster_size: smallest acceptable cluster when choosing k, on the selection sample.
        random_state: seed of the samples and of K-means.

    Attributes:
        n_clusters_, cluster_centers_, labels_, inertia_: the chosen model, clusters numbered
            by decreasing size.
        k_scores_: the k scan (one row per k, see :func:`select_k`).
        algorithm_: ``kmeans`` or ``minibatch_kmeans``.
    """

    def __init__(
        self,
        k_min: int = 2,
        k_max: int = 10,
        n_init: int = 10,
        minibatch_above: int = 50_000,
        batch_size: int = 4096,
        selection_sample_size: int | None = 20_000,
        silhouette_sample_size: int | None = 10_000,
        min_cluster_size: int = 1,
        random_state: int | None = None,
    ):
        self.k_min = k_min
        self.k_max = k_max
        self.n_init = n_init
        self.minibatch_above = minibatch_above
        self.batch_size = batch_size
        self.selection_sample_size = selection_sample_size
        self.silhouette_sample_size = silhouette_sample_size
        self.min_cluster_size = min_cluster_size
        self.random_state = random_state

    def _model(self, k: int, n_rows: int):
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        if n_rows > self.minibatch_above:
            return MiniBatchKMeans(
                n_clusters=k, n_init=self.n_init, batch_size=self.batch_size, random_state=seed
            )
        return KMeans(n_clusters=k, n_init=self.n_init, random_state=seed)

    def fit(self, X, y=None):
        X = validate_data(self, X, dtype=float)
        self.k_scores_, k = self._scan(
            X,
            self.selection_sample_size,
            lambda sample, k: self._model(k, len(sample)).fit(sample).labels_,
        )
        model = self._model(k, len(X)).fit(X)
        labels, order = _relabel_by_size(model.labels_)
        self.cluster_centers_ = model.cluster_centers_[order]
        self.labels_ = labels
        self.n_clusters_ = k
        self.inertia_ = float(model.inertia_)
        self.algorithm_ = "minibatch_kmeans" if isinstance(model, MiniBatchKMeans) else "kmeans"
        return self

    def fixed(self):
        """An unfitted copy with k fixed to the one chosen (for bootstrap refits)."""
        return clone(self).set_params(k_min=self.n_clusters_, k_max=self.n_clusters_)


class WardSegmenter(_CentroidSegmenter):
    """Agglomerative clustering with Ward's linkage on a sample, k chosen over a range.

    The Ward tree of the sample is built once (scipy's ``ward``, the tree scikit-learn's
    ``AgglomerativeClustering(linkage="ward")`` builds) and cut at each k. Its memory grows with
    the square of the sample, hence `sample_size`. Customers are assigned to the nearest
    cluster mean.

    Args:
        k_min, k_max, silhouette_sample_size, min_cluster_size, random_state: as for
            :class:`KMeansSegmenter`.
        sample_size: rows the tree is built on.

    Attributes:
        n_clusters_, cluster_centers_ (cluster means), labels_, k_scores_.
    """

    def __init__(
        self,
        k_min: int = 2,
        k_max: int = 10,
        sample_size: int = 5_000,
        silhouette_sample_size: int | None = 10_000,
        min_cluster_size: int = 1,
        random_state: int | None = None,
    ):
        self.k_min = k_min
        self.k_max = k_max
        self.sample_size = sample_size
        self.silhouette_sample_size = silhouette_sample_size
        self.min_cluster_size = min_cluster_size
        self.random_state = random_state

    def fit(self, X, y=None):
        X = validate_data(self, X, dtype=float)
        rows = sample_rows(len(X), self.sample_size, self.random_state)
        sample = X[rows]
        tree = ward(sample) if len(sample) > 1 else None

        def cut(_, k):
            return fcluster(tree, t=k, criterion="maxclust") - 1

        self.k_scores_, k = self._scan(sample, None, cut, rows_given=len(X))
        labels, order = _relabel_by_size(cut(sample, k))
        self.cluster_centers_ = np.vstack([sample[labels == c].mean(axis=0) for c in range(k)])
        self.n_clusters_ = len(order)
        self.labels_ = labels if len(rows) == len(X) else self.predict(X)
        return self

    def fixed(self):
        return clone(self).set_params(k_min=self.n_clusters_, k_max=self.n_clusters_)


class DensitySegmenter(ClusterMixin, BaseEstimator):
    """DBSCAN or HDBSCAN on a sample, then everyone assigned by nearest neighbours.

    Identical rows of the sample are merged first (many customers share a feature vector):
    DBSCAN weighs each distinct row by its count, HDBSCAN (which takes no weights) sees each
    distinct row once.

    Assignment of a customer: DBSCAN's rule for border points, the label of the nearest core
    sample when it lies within ``eps``, noise otherwise; for HDBSCAN, the label of the nearest
    clustered sample when it lies within `noise_radius_` (the 99th percentile of the clustered
    samples' distances to their ``min_samples``-th clustered neighbour), noise otherwise.

    Args:
        method: ``dbscan`` or ``hdbscan``.
        eps: DBSCAN radius; None takes the knee of the k-distance curve (k = min_samples).
        min_samples: DBSCAN core-point neighbours; HDBSCAN's ``min_samples`` (None: its default).
        min_cluster_size: HDBSCAN's smallest cluster.
        sample_size: rows clustered.
        random_state: seed of the sample.

    Attributes:
        labels_, n_clusters_, eps_ (DBSCAN), noise_radius_, k_distances_ (DBSCAN's sorted
        k-distance curve, for plots), noise_share_.
    """

    def __init__(
        self,
        method: str = "dbscan",
        eps: float | None = None,
        min_samples: int | None = 10,
        min_cluster_size: int = 50,
        sample_size: int = 20_000,
        random_state: int | None = None,
    ):
        self.method = method
        self.eps = eps
        self.min_samples = min_samples
        self.min_cluster_size = min_cluster_size
        self.sample_size = sample_size
        self.random_state = random_state

    def fit(self, X, y=None):
        if self.method not in ("dbscan", "hdbscan"):
            raise ValueError(f"method must be 'dbscan' or 'hdbscan', not {self.method!r}")
        X = validate_data(self, X, dtype=float)
        rows = sample_rows(len(X), self.sample_size, self.random_state)
        unique, inverse, counts = np.unique(
            X[rows], axis=0, return_inverse=True, return_counts=True
        )
        inverse = inverse.ravel()
        min_samples = self.min_samples or 5
        if self.method == "dbscan":
            neighbours = min(min_samples, len(unique))
            distances, _ = NearestNeighbors(n_neighbors=neighbours).fit(unique).kneighbors(unique)
            self.k_distances_ = np.sort(distances[:, -1])
            self.eps_ = float(
                self.eps
                if self.eps is not None
                else self.k_distances_[knee_point(self.k_distances_)]
            )
            if self.eps_ <= 0:
                self.eps_ = float(self.k_distances_[self.k_distances_ > 0].min(initial=1.0))
            model = DBSCAN(eps=self.eps_, min_samples=min_samples).fit(unique, sample_weight=counts)
            unique_labels = model.labels_
            anchors = model.core_sample_indices_
            self.noise_radius_ = self.eps_
        else:
            model = HDBSCAN(
                min_cluster_size=min(self.min_cluster_size, max(2, len(unique))),
                min_samples=self.min_samples,
                copy=True,
            ).fit(unique)
            unique_labels = model.labels_
            anchors = np.flatnonzero(unique_labels != NOISE)
            self.eps_ = None
            self.k_distances_ = None
            self.noise_radius_ = self._radius(unique[anchors], min_samples)
        unique_labels, _ = _relabel_by_size(unique_labels)
        self.anchors_ = unique[anchors]
        self.anchor_labels_ = unique_labels[anchors]
        self.n_clusters_ = len(np.unique(unique_labels[unique_labels != NOISE]))
        self.anchor_index_ = (
            NearestNeighbors(n_neighbors=1).fit(self.anchors_) if len(anchors) else None
        )
        self.labels_ = unique_labels[inverse] if len(rows) == len(X) else self.predict(X)
        self.noise_share_ = float(np.mean(self.labels_ == NOISE))
        return self

    @staticmethod
    def _radius(points: np.ndarray, min_samples: int) -> float:
        if len(points) < 2:
            return 0.0
        k = min(min_samples + 1, len(points))
        distances, _ = NearestNeighbors(n_neighbors=k).fit(points).kneighbors(points)
        return float(np.quantile(distances[:, -1], 0.99))

    def predict(self, X):
        """Each row's cluster, or -1 (noise) when no clustered sample is close enough."""
        check_is_fitted(self, "anchors_")
        X = validate_data(self, X, dtype=float, reset=False)
        if self.anchor_index_ is None:
            return np.full(len(X), NOISE, dtype=int)
        distances, nearest = self.anchor_index_.kneighbors(X)
        labels = self.anchor_labels_[nearest[:, 0]].astype(int)
        labels[distances[:, 0] > self.noise_radius_ + 1e-12] = NOISE
        return labels

    def fixed(self):
        """An unfitted copy with eps fixed to the one chosen (for bootstrap refits)."""
        return clone(self).set_params(eps=self.eps_) if self.method == "dbscan" else clone(self)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags
