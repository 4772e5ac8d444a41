"""The segmentation model: one fitted `Pipeline` (preprocessing + clusterer), persisted whole
with its version and metadata, and applied to any customers without refitting.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import sklearn
from cible.ml.segmentation import rules
from cible.ml.segmentation.clustering import (
    NOISE,
    DensitySegmenter,
    KMeansSegmenter,
    WardSegmenter,
)
from cible.ml.segmentation.config import RuleSegment, SegmentationConfig, with_not_profiled
from cible.ml.segmentation.preprocessing import build_preprocessor
from sklearn.pipeline import Pipeline

from cible.privacy.consent import PROFILING_ALLOWED

# Bump when the persisted layout changes; `load` refuses other formats (a run then refits).
# 2: the excluded segments are pydantic models (a format-1 pickle of them loads empty).
MODEL_FORMAT = 2
NOISE_SEGMENT_ID = "noise"


def build_clusterer(config: SegmentationConfig, min_cluster_size: int = 1):
    """The unfitted clusterer the configuration asks for."""
    algorithm, sampling = config.algorithm, config.sampling
    if algorithm.name == "kmeans":
        return KMeansSegmenter(
            k_min=algorithm.k_min,
            k_max=algorithm.k_max,
            n_init=algorithm.n_init,
            minibatch_above=algorithm.minibatch_above,
            batch_size=algorithm.minibatch_batch_size,
            selection_sample_size=sampling.k_selection_sample_size,
            silhouette_sample_size=sampling.silhouette_sample_size,
            min_cluster_size=min_cluster_size,
            random_state=algorithm.random_state,
        )
    if algorithm.name == "agglomerative":
        return WardSegmenter(
            k_min=algorithm.k_min,
            k_max=algorithm.k_max,
            sample_size=sampling.hierarchical_sample_size,
            silhouette_sample_size=sampling.silhouette_sample_size,
            min_cluster_size=min_cluster_size,
            random_state=algorithm.random_state,
        )
    if algorithm.name in ("dbscan", "hdbscan"):
        return DensitySegmenter(
            method=algorithm.name,
            eps=algorithm.dbscan_eps,
            min_samples=algorithm.dbscan_min_samples
            if algorithm.name == "dbscan"
            else algorithm.hdbscan_min_samples,
            min_cluster_size=algorithm.hdbscan_min_cluster_size,
            sample_size=sampling.density_sample_size,
            random_state=algorithm.random_state,
        )
    raise ValueError(f"unknown algorithm {algorithm.name!r}")


def build_pipeline(config: SegmentationConfig, min_cluster_size: int = 1) -> Pipeline:
    """Preprocessing and clusterer as one unfitted Pipeline."""
    features, prep = config.features, config.preprocessing
    preprocessor = build_preprocessor(
        log=features.log,
        shares=[(block.weight_column, block.columns) for block in features.shares],
        numeric=features.numeric,
        categorical=features.categorical,
        share_shrinkage=features.share_shrinkage,
        scaler=prep.scaler,
        near_constant_share=prep.near_constant_share,
        max_abs_correlation=prep.max_abs_correlation,
        pca_components=prep.pca_components,
        random_state=config.algorithm.random_state,
    )
    return Pipeline([*preprocessor.steps, ("cluster", build_clusterer(config, min_cluster_size))])


@dataclass
class SegmentationModel:
    """A fitted segmentation, persisted whole.

    Attributes:
        pipeline: preprocessing + clusterer; ``pipeline.predict`` gives cluster labels.
        input_columns: the feature columns the pipeline reads.
        excluded_segments: the rules that take customers out of clustering (prospects, ...).
        segment_ids: cluster label -> stable segment id (``cluster_03``); noise -> ``noise``.
        version: ``segmentation-<run id>``, stored with every run that uses the model.
        metadata: algorithm, k, config fingerprint, library versions, quality at fit time.
    """

    pipeline: Pipeline
    input_columns: list[str]
    excluded_segments: tuple[RuleSegment, ...]
    segment_ids: dict[int, str]
    version: str
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC).replace(tzinfo=None))
    metadata: dict = field(default_factory=dict)
    format: int = MODEL_FORMAT

    @property
    def clusterer(self):
        return self.pipeline[-1]

    def embed(self, frame: pd.DataFrame) -> np.ndarray:
        """Customers in the model's space (what the clusterer sees)."""
        return self.pipeline[:-1].transform(frame[self.input_columns])

    def route(self, frame: pd.DataFrame) -> pd.Series:
        """The excluded segment of each customer, None for customers to cluster."""
        return route(frame, self.excluded_segments)

    def assign(self, frame: pd.DataFrame, id_column: str = "customer_id") -> pd.DataFrame:
        """Every customer's exclusive segment, without refitting anything.

        Returns:
            ``customer_id``, ``segment_id``, ``segment_kind`` (``cluster``, ``noise`` or
            ``excluded``) and ``distance_to_centroid`` (centroid methods only).
        """
        excluded = self.route(frame)
        clustered = excluded.isna().to_numpy()
        if not clustered.any():
            # Nobody to embed (a live batch of prospects, say): scikit-learn refuses 0 rows.
            empty = np.empty((0, 0)), np.empty(0, dtype=int)
            return self.assignments(frame, excluded, *empty, id_column)
        X = self.embed(frame.loc[clustered])
        labels = self.clusterer.predict(X)
        return self.assignments(frame, excluded, X, labels, id_column)

    def assignments(
        self,
        frame: pd.DataFrame,
        excluded: pd.Series,
        X: np.ndarray,
        labels: np.ndarray,
        id_column: str = "customer_id",
    ) -> pd.DataFrame:
        """The assignments frame from routed customers and the labels of the clustered ones
        (rows of `X` and `labels` follow the customers whose `excluded` is None)."""
        clustered = excluded.isna().to_numpy()
        segment_id = excluded.to_numpy(dtype=object).copy()
        kind = np.where(clustered, "cluster", "excluded").astype(object)
        distance = np.full(len(frame), np.nan)
        if clustered.any():
            segment_id[clustered] = [
                self.segment_ids.get(int(label), NOISE_SEGMENT_ID) for label in labels
            ]
            kind[np.flatnonzero(clustered)[labels == NOISE]] = "noise"
            if hasattr(self.clusterer, "cluster_centers_"):
                centres = self.clusterer.cluster_centers_[labels]
                distance[clustered] = np.linalg.norm(X - centres, axis=1)
        return pd.DataFrame(
            {
                "customer_id": frame[id_column].to_numpy(),
                "segment_id": segment_id,
                "segment_kind": kind,
                "distance_to_centroid": distance,
            }
        )

    def save(self, path: Path) -> str:
        """Write the model with joblib; returns the file's SHA-256."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, path, compress=3)
        return hashlib.sha256(path.read_bytes()).hexdigest()

    @staticmethod
    def load(path: Path) -> SegmentationModel:
        """Read a model saved by :meth:`save`, refusing another format or scikit-learn."""
        model = joblib.load(Path(path))
        if not isinstance(model, SegmentationModel) or model.format != MODEL_FORMAT:
            raise ValueError(f"{path} is not a segmentation model of format {MODEL_FORMAT}")
        trained_with = model.metadata.get("sklearn_version")
        if trained_with and trained_with.split(".")[:2] != sklearn.__version__.split(".")[:2]:
            raise ValueError(
                f"{path} was fitted with scikit-learn {trained_with}, this is "
                f"{sklearn.__version__}: refit it (run the segmentation with refit)"
            )
        return model


def route(frame: pd.DataFrame, excluded_segments) -> pd.Series:
    """Each customer's excluded segment (None: to cluster), customers not allowed to be
    profiled first, in `not_profiled`, whatever the segments given.

    Raises:
        ValueError: the frame does not say who may be profiled (read the features through
            `ml.segmentation.store.read_features`, which joins the consent state).
    """
    if PROFILING_ALLOWED not in frame.columns:
        raise ValueError(
            f"the features have no {PROFILING_ALLOWED} column: nothing is segmented without "
            "the consent state (read them with ml.segmentation.store.read_features)"
        )
    return rules.first_match(frame, with_not_profiled(excluded_segments))
