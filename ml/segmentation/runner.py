"""One segmentation run, in memory: features in, the tables of the `ml` schema out.

:func:`run_segmentation` routes customers to the excluded segments (no profiling consent,
prospects), fits the model on a sample of the others (or applies a given model, never refitting
it), assigns everyone, keeps segment ids stable against the previous run, measures quality,
evaluates the gates, profiles and names every segment and evaluates the rule segments. It
reads and writes nothing: :mod:`ml.segmentation.store` does.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import sklearn
from cible.ml.segmentation import identity, naming, profiles, quality, rules
from cible.ml.segmentation.clustering import NOISE, SCORE_COLUMNS, cluster_indices, sample_rows
from cible.ml.segmentation.config import SegmentationConfig, with_not_profiled
from cible.ml.segmentation.model import SegmentationModel, build_pipeline, route
from cible.ml.segmentation.vocabulary import Vocabulary
from sklearn.decomposition import PCA
from threadpoolctl import threadpool_limits

PROJECTION_SAMPLE = 3_000


class SegmentationError(RuntimeError):
    """The data cannot be segmented as configured (for example too few customers to cluster)."""


@dataclass(frozen=True)
class PreviousRun:
    """What a run needs from the previous published run.

    Attributes:
        clusters: clustering segment id by customer id (customers in a ``cluster`` segment).
        exclusive: exclusive segment id (cluster, noise or excluded) by customer id.
        highest_cluster_number: the highest cluster number ever used, so ids are never reused.
    """

    run_id: str
    clusters: pd.Series
    exclusive: pd.Series
    highest_cluster_number: int


@dataclass
class SegmentationResult:
    """Everything a run produced: the model, the `ml` tables, the gates and a 2-D projection."""

    run_id: str
    model: SegmentationModel
    tables: dict[str, pd.DataFrame]
    gates: list[quality.Gate]
    projection: pd.DataFrame
    summary: dict = field(default_factory=dict)

    @property
    def is_published(self) -> bool:
        return all(gate.passed for gate in self.gates)


def new_run_id(now: datetime | None = None) -> str:
    """A run id that sorts by time: ``20260301T101500_3fa2c1``."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:6]}"


def input_fingerprint(features: pd.DataFrame) -> str:
    """A hash of the data a run reads (columns, order and values), which two runs share only
    when they read the same data."""
    digest = hashlib.sha256(",".join(map(str, features.columns)).encode())
    digest.update(pd.util.hash_pandas_object(features, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:32]


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def run_segmentation(
    features: pd.DataFrame,
    config: SegmentationConfig,
    run_id: str,
    previous: PreviousRun | None = None,
    model: SegmentationModel | None = None,
    vocabulary: Vocabulary | None = None,
    fingerprint: str | None = None,
) -> SegmentationResult:
    """Segment every customer of `features` (one row per customer, ``customer_id`` column).

    Args:
        features: the features table (``marts.fct_customer_features`` or the columns of it
            the configuration needs).
        config: the validated configuration.
        run_id: this run's id (:func:`new_run_id`).
        previous: the previous published run, for stable ids and temporal stability.
        model: a fitted model to apply as it is; None fits a new one.
        vocabulary: the documented features (:mod:`ml.segmentation.vocabulary`), profiled and
            named with their phrases besides ``profiles.features``.
        fingerprint: :func:`input_fingerprint` of `features`, when the caller has it already.

    Raises:
        SegmentationError: fewer customers to cluster than the configuration needs.
    """
    with threadpool_limits(limits=config.algorithm.threads):
        return _run(
            features,
            config,
            run_id,
            previous,
            model,
            vocabulary or {},
            fingerprint or input_fingerprint(features),
        )


def _run(
    features: pd.DataFrame,
    config: SegmentationConfig,
    run_id: str,
    previous: PreviousRun | None,
    model: SegmentationModel | None,
    vocabulary: Vocabulary,
    fingerprint: str,
) -> SegmentationResult:
    started_at = _utc_now()
    refit = model is None
    seed = config.algorithm.random_state
    frame = profiles.add_derived_flags(
        features.reset_index(drop=True), config.profiles.derived_flags
    )
    excluded_rules = with_not_profiled(
        config.excluded_segments if refit else model.excluded_segments
    )
    routed = route(frame, excluded_rules)
    clustered_mask = routed.isna().to_numpy()
    clustered = frame.loc[clustered_mask]
    n_clustered = len(clustered)
    minimum_size = config.quality.minimum_size(n_clustered)
    needed = max(10, 2 * config.algorithm.k_max)
    if n_clustered < needed:
        counts = routed.value_counts()
        excluded = ", ".join(f"{segment} {count}" for segment, count in counts.items())
        why = ""
        if counts.get("not_profiled", 0) * 2 > len(frame):
            why = (
                "; most customers may not be profiled: see how marts.fct_customer_consents "
                "decided (rule_applied, proof) and the consent_when_absent setting "
                "(docs/privacy.md)"
            )
        raise SegmentationError(
            f"only {n_clustered} customers are left to cluster after the excluded segments "
            f"({len(frame) - n_clustered} excluded: {excluded}); at least {needed} are needed "
            f"for k up to {config.algorithm.k_max}{why}"
        )

    fit_rows = sample_rows(n_clustered, config.sampling.fit_sample_size, seed)
    if refit:
        pipeline = build_pipeline(
            config, min_cluster_size=max(1, minimum_size * len(fit_rows) / n_clustered)
        )
        input_columns = config.features.input_columns()
        pipeline.fit(clustered.iloc[fit_rows][input_columns])
        model = SegmentationModel(
            pipeline=pipeline,
            input_columns=input_columns,
            excluded_segments=tuple(excluded_rules),
            segment_ids={},
            version=f"segmentation-{run_id}",
        )
    X = model.embed(clustered)
    labels = model.clusterer.predict(X)
    customer_index = pd.Index(clustered["customer_id"].to_numpy())

    cluster_labels = np.unique(labels[labels != NOISE])
    sizes = {int(c): int((labels == c).sum()) for c in cluster_labels}
    matches: dict[int, tuple[str, float]] = {}
    if refit:
        labels_by_size = sorted(sizes, key=lambda c: (-sizes[c], c))
        if previous is not None:
            previous_centroids = identity.centroids_by_segment(
                X, customer_index, previous.clusters, config.stable_ids.min_shared_customers
            )
            current_centroids = {c: X[labels == c].mean(axis=0) for c in labels_by_size}
            matches = identity.match_clusters(
                current_centroids, previous_centroids, config.stable_ids.max_match_distance
            )
        model.segment_ids = identity.assign_ids(
            labels_by_size, matches, previous.highest_cluster_number if previous else 0
        )

    # ---------- assignments (the labels above, not a second prediction)
    assignments = model.assignments(frame, routed, X, labels)
    assignments.insert(0, "run_id", run_id)
    kinds = assignments["segment_kind"].to_numpy()
    cluster_series = pd.Series(
        assignments["segment_id"].to_numpy()[kinds == "cluster"],
        index=assignments["customer_id"].to_numpy()[kinds == "cluster"],
    )
    exclusive_series = pd.Series(
        assignments["segment_id"].to_numpy(), index=assignments["customer_id"].to_numpy()
    )

    # ---------- quality
    indices = cluster_indices(X, labels, config.sampling.silhouette_sample_size, seed)
    if refit:
        bootstrap = quality.bootstrap_stability(
            model.clusterer,
            X[fit_rows],
            labels[fit_rows],
            config.quality.bootstrap_resamples,
            config.quality.bootstrap_fraction,
            seed,
        )
    else:
        bootstrap = list(model.metadata.get("bootstrap_ari", []))
    temporal = {"shared_customers": 0, "ari": np.nan, "keep_share": np.nan}
    temporal_all = {"keep_share": np.nan}
    if previous is not None:
        temporal = quality.temporal_stability(previous.clusters, cluster_series)
        temporal_all = quality.temporal_stability(previous.exclusive, exclusive_series)
    smallest = min(sizes.values()) if sizes else 0
    bootstrap_mean = float(np.mean(bootstrap)) if bootstrap else np.nan
    gates = quality.evaluate_gates(
        indices["silhouette"],
        smallest,
        minimum_size,
        bootstrap_mean,
        temporal["keep_share"] if previous is not None else None,
        silhouette_floor=config.quality.silhouette_floor,
        bootstrap_ari_floor=config.quality.bootstrap_ari_floor,
        temporal_keep_share_floor=config.quality.temporal_keep_share_floor,
    )
    passed = {gate.name: gate.passed for gate in gates}
    algorithm = getattr(model.clusterer, "algorithm_", None) or config.algorithm.name
    if refit:
        model.metadata = {
            "algorithm": algorithm,
            "n_clusters": len(sizes),
            "config_fingerprint": config.fingerprint(),
            "model_fingerprint": config.model_fingerprint(),
            "sklearn_version": sklearn.__version__,
            "fit_sample_size": len(fit_rows),
            "feature_names": [str(n) for n in model.pipeline[:-1].get_feature_names_out()],
            "dropped_features": dict(model.pipeline.named_steps["filter"].dropped_),
            "silhouette": indices["silhouette"],
            "bootstrap_ari": bootstrap,
            "run_id": run_id,
        }

    # ---------- rule segments and profiles
    skipping = [s.id for s in excluded_rules if s.skip_rule_segments]
    eligible = ~np.isin(assignments["segment_id"].to_numpy(), skipping)
    memberships = rules.rule_memberships(frame.loc[eligible], config.rule_groups)
    memberships.insert(0, "run_id", run_id)
    profile_frame, segments = _profiles(
        frame, assignments, memberships, clustered_mask, config, run_id, vocabulary
    )
    if refit:
        for label, segment_id in model.segment_ids.items():
            row = segments["segment_id"] == segment_id
            segments.loc[row, "previous_match_distance"] = matches.get(label, (None, np.nan))[1]
    previous_ids = set(previous.clusters.unique()) if previous is not None else set()
    current_ids = set(cluster_series.unique())
    segments["is_new_segment"] = [
        kind == "cluster" and sid not in previous_ids
        for kind, sid in zip(segments["segment_kind"], segments["segment_id"], strict=True)
    ]

    finished_at = _utc_now()
    as_of = features["as_of_at"].max() if "as_of_at" in features else pd.NaT
    failed = [gate.name for gate in gates if not gate.passed]
    runs = pd.DataFrame(
        [
            {
                "run_id": run_id,
                "started_at": started_at,
                "finished_at": finished_at,
                "as_of_at": pd.Timestamp(as_of) if pd.notna(as_of) else pd.NaT,
                "is_refit": refit,
                "algorithm": algorithm,
                "n_clusters": len(sizes),
                "model_version": model.version,
                "model_path": None,
                "model_sha256": None,
                "config_fingerprint": config.fingerprint(),
                "input_fingerprint": fingerprint,
                "previous_run_id": previous.run_id if previous is not None else None,
                "customers": len(frame),
                "clustered_customers": int(n_clustered),
                "excluded_customers": int((kinds == "excluded").sum()),
                "noise_customers": int((kinds == "noise").sum()),
                "fit_sample_size": len(fit_rows),
                "retired_segment_ids": ",".join(sorted(previous_ids - current_ids)),
                "is_published": not failed,
                "failed_gates": ",".join(failed),
            }
        ]
    )
    quality_row = pd.DataFrame(
        [
            {
                "run_id": run_id,
                "silhouette": indices["silhouette"],
                "silhouette_sample_size": int(
                    min(config.sampling.silhouette_sample_size, int((labels != NOISE).sum()))
                ),
                "davies_bouldin": indices["davies_bouldin"],
                "calinski_harabasz": indices["calinski_harabasz"],
                "bootstrap_ari_mean": bootstrap_mean,
                "bootstrap_ari_min": float(np.min(bootstrap)) if bootstrap else np.nan,
                "bootstrap_resamples": len(bootstrap),
                "temporal_ari": temporal["ari"],
                "temporal_keep_share": temporal["keep_share"],
                "temporal_keep_share_all": temporal_all["keep_share"],
                "shared_customers": temporal["shared_customers"],
                "segments": len(sizes),
                "smallest_segment_customers": smallest,
                "largest_segment_customers": max(sizes.values()) if sizes else 0,
                "min_segment_size": minimum_size,
                "noise_share": float(np.mean(labels == NOISE)) if len(labels) else 0.0,
                "silhouette_floor": config.quality.silhouette_floor,
                "bootstrap_ari_floor": config.quality.bootstrap_ari_floor,
                "temporal_keep_share_floor": config.quality.temporal_keep_share_floor,
                "passed_silhouette_gate": passed["silhouette"],
                "passed_size_gate": passed["segment_size"],
                "passed_stability_gate": passed["stability"],
            }
        ]
    )
    k_scores = getattr(model.clusterer, "k_scores_", None) if refit else None
    k_table = (
        k_scores.assign(run_id=run_id)[["run_id", *k_scores.columns]]
        if k_scores is not None
        else pd.DataFrame(columns=["run_id", *SCORE_COLUMNS])
    )
    projection = _projection(X, assignments.loc[kinds != "excluded", "segment_id"].to_numpy(), seed)
    return SegmentationResult(
        run_id=run_id,
        model=model,
        tables={
            "segment_runs": runs,
            "segment_quality": quality_row,
            "segment_k_scores": k_table,
            "segment_assignments": assignments,
            "rule_segment_memberships": memberships,
            "segment_profiles": segments,
            "segment_profile_features": profile_frame,
        },
        gates=gates,
        projection=projection,
        summary={
            "algorithm": algorithm,
            "k": len(sizes),
            "sizes": dict(sorted(cluster_series.value_counts().items())),
            **indices,
            "bootstrap_ari_mean": bootstrap_mean,
            "temporal_keep_share": temporal["keep_share"],
        },
    )


def _profiles(
    frame: pd.DataFrame,
    assignments: pd.DataFrame,
    memberships: pd.DataFrame,
    clustered_mask: np.ndarray,
    config: SegmentationConfig,
    run_id: str,
    vocabulary: Vocabulary,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The long feature profiles and one summary row per segment (names, figures, fit)."""
    everyone = np.ones(len(frame), dtype=bool)
    members: dict[str, np.ndarray] = {}
    bases: dict[str, np.ndarray] = {}
    base_names: dict[str, str] = {}
    kinds: dict[str, str] = {}
    groups: dict[str, str | None] = {}
    segment_ids = assignments["segment_id"].to_numpy()
    segment_kinds = assignments["segment_kind"].to_numpy()
    for segment_id in sorted(set(segment_ids)):
        mask = segment_ids == segment_id
        kind = segment_kinds[mask][0]
        members[segment_id] = mask
        in_clustering = kind in ("cluster", "noise")
        bases[segment_id] = clustered_mask if in_clustering else everyone
        base_names[segment_id] = "clustered" if in_clustering else "all"
        kinds[segment_id], groups[segment_id] = kind, None
    for segment in config.excluded_segments:
        if segment.id not in members:
            members[segment.id] = np.zeros(len(frame), dtype=bool)
            bases[segment.id], base_names[segment.id] = everyone, "all"
            kinds[segment.id], groups[segment.id] = "excluded", None
    position = pd.Series(np.arange(len(frame)), index=frame["customer_id"].to_numpy())
    for group in config.rule_groups:
        for segment in group.segments:
            mask = np.zeros(len(frame), dtype=bool)
            ids = memberships.loc[memberships["segment_id"] == segment.id, "customer_id"]
            mask[position.loc[ids.to_numpy()].to_numpy()] = True
            members[segment.id], bases[segment.id] = mask, everyone
            base_names[segment.id], kinds[segment.id] = "all", "rule"
            groups[segment.id] = group.group

    values, support = profiles.profile_values(frame, config.profiles.features, vocabulary)
    ranked = profiles.feature_profiles(
        values, members, bases, base_names, support, config.profiles.support_prior
    )
    ranked.insert(0, "run_id", run_id)
    long = ranked.drop(columns="reliability")
    declared = config.segment_texts()
    fits = {s.id: s.strategic_fit for s in config.excluded_segments}
    fits.update({s.id: s.strategic_fit for g in config.rule_groups for s in g.segments})
    descriptors = {**vocabulary, **config.profiles.descriptors}

    rows, names, more = [], {"en": {}, "fr": {}}, {"en": {}, "fr": {}}
    for segment_id, mask in members.items():
        figures = profiles.key_figures(frame, mask, len(frame))
        own = ranked[ranked["segment_id"] == segment_id]
        traits = profiles.distinguishing_traits(
            own, config.profiles.min_standardized_difference, len(own)
        )
        kind = kinds[segment_id]
        row = {
            "run_id": run_id,
            "segment_id": segment_id,
            "segment_kind": kind,
            "rule_group": groups[segment_id],
            "segment_number": identity.cluster_number(segment_id),
            "previous_match_distance": np.nan,
            "top_features": profiles.traits_text(
                traits[: config.profiles.top_features], own.set_index("feature")["reliability"]
            ),
            **figures,
        }
        if kind == "cluster":
            for language in ("en", "fr"):
                names[language][segment_id] = naming.segment_name(
                    traits, descriptors, language, config.profiles.name_traits
                )
                named = naming.readable_traits(traits, descriptors, config.profiles.name_traits)
                more[language][segment_id] = [
                    naming.trait_phrase(f, d, descriptors, language)
                    for f, d, _, _ in naming.readable_traits(traits, descriptors, len(traits))
                    if (f, d, _, _) not in named
                ]
                row[f"description_{language}"] = naming.segment_description(
                    traits,
                    descriptors,
                    language,
                    figures["customers"],
                    figures["customer_share"] or 0.0,
                    figures["average_order_value_eur"],
                    figures["orders_per_customer"],
                )
            row["strategic_fit"] = profiles.strategic_fit(
                own, config.priority.strategic_fit_rules, config.priority.default_strategic_fit
            )
        elif kind == "noise":
            for language in ("en", "fr"):
                row[f"name_{language}"] = naming.NOISE_TEXTS["name"][language]
                row[f"description_{language}"] = naming.NOISE_TEXTS["description"][language]
            row["strategic_fit"] = 1
        else:
            name, description = declared[segment_id]
            row.update(
                name_en=name.en,
                name_fr=name.fr,
                description_en=description.en,
                description_fr=description.fr,
            )
            fit = fits.get(segment_id)
            row["strategic_fit"] = fit if fit is not None else config.priority.default_strategic_fit
        rows.append(row)
    for language in ("en", "fr"):
        unique = naming.unique_names(names[language], more[language])
        for row in rows:
            if row["segment_id"] in unique:
                row[f"name_{language}"] = unique[row["segment_id"]]
    columns = [
        "run_id",
        "segment_id",
        "segment_kind",
        "rule_group",
        "segment_number",
        "name_en",
        "name_fr",
        "description_en",
        "description_fr",
        "top_features",
        "strategic_fit",
        "customers",
        "customer_share",
        "orders_per_customer",
        "revenue_per_customer_eur",
        "average_order_value_eur",
        "campaign_open_rate",
        "campaign_click_rate",
        "campaign_conversion_rate",
        "profile_completeness",
        "profiling_consent_rate",
        "marketing_consent_rate",
        "previous_match_distance",
    ]
    segments = pd.DataFrame(rows)[columns]
    segments["segment_number"] = segments["segment_number"].astype("Int64")
    return long, segments


def _projection(X: np.ndarray, segment_ids: np.ndarray, seed) -> pd.DataFrame:
    """A 2-D PCA projection of a sample of the clustered customers, for plots."""
    rows = sample_rows(len(X), PROJECTION_SAMPLE, seed)
    if len(rows) < 3 or X.shape[1] < 2:
        return pd.DataFrame({"x": [], "y": [], "segment_id": []})
    points = PCA(n_components=2, random_state=seed).fit_transform(X[rows])
    return pd.DataFrame({"x": points[:, 0], "y": points[:, 1], "segment_id": segment_ids[rows]})
