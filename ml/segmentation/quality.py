"""Quality figures of a segmentation and the gates a model must pass to be published.

- internal indices: silhouette (on a sample), Davies-Bouldin, Calinski-Harabasz, all
  scikit-learn's own functions (:func:`ml.segmentation.clustering.cluster_indices`);
- bootstrap stability: the clusterer, its k fixed, is refitted on resamples of the fit sample;
  the adjusted Rand index between each refit's labels and the model's, on the whole fit sample;
- temporal stability: against the previous published run, on the customers both runs
  clustered: the adjusted Rand index and the share of customers keeping their segment id.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score
from sklearn.utils import check_random_state


def bootstrap_stability(
    clusterer, X: np.ndarray, labels: np.ndarray, resamples: int, fraction: float, random_state
) -> list[float]:
    """Adjusted Rand index of refits on `resamples` subsamples against `labels`.

    Args:
        clusterer: a fitted segmenter with ``fixed()`` (an unfitted copy, its k or eps fixed).
        X: the fit sample in model space; `labels` its labels from the fitted model.
        fraction: share of X drawn (without replacement) for each refit.
    """
    rng = check_random_state(random_state)
    size = max(2, round(fraction * len(X)))
    scores = []
    for _ in range(resamples):
        rows = np.sort(rng.choice(len(X), size=min(size, len(X)), replace=False))
        refit = clusterer.fixed()
        if "random_state" in refit.get_params():
            refit.set_params(random_state=int(rng.randint(np.iinfo(np.int32).max)))
        refit.fit(X[rows])
        scores.append(float(adjusted_rand_score(labels, refit.predict(X))))
    return scores


def temporal_stability(previous: pd.Series, current: pd.Series) -> dict:
    """How the segments of two runs agree on the customers both hold.

    Args:
        previous, current: segment id by customer id.

    Returns:
        ``shared_customers``, ``ari`` (adjusted Rand index) and ``keep_share`` (share keeping
        the same segment id); the last two are NaN without shared customers.
    """
    shared = previous.index.intersection(current.index)
    if len(shared) == 0:
        return {"shared_customers": 0, "ari": np.nan, "keep_share": np.nan}
    before = previous.loc[shared].astype(str).to_numpy()
    after = current.loc[shared].astype(str).to_numpy()
    return {
        "shared_customers": len(shared),
        "ari": float(adjusted_rand_score(before, after)),
        "keep_share": float(np.mean(before == after)),
    }


@dataclass(frozen=True)
class Gate:
    """One publication gate: the figure, its floor, and whether it passed."""

    name: str
    value: float | None
    floor: float | None
    passed: bool
    message: str


def evaluate_gates(
    silhouette: float,
    smallest_segment: int,
    minimum_size: int,
    bootstrap_ari: float,
    temporal_keep_share: float | None,
    *,
    silhouette_floor: float,
    bootstrap_ari_floor: float,
    temporal_keep_share_floor: float | None,
) -> list[Gate]:
    """The three gates: silhouette, minimum segment size, stability (bootstrap and temporal).

    A NaN figure fails its gate (a segmentation that cannot be measured is not published).
    Temporal stability is only gated when a floor is set and a previous run exists.
    """

    def at_least(value, floor) -> bool:
        return value is not None and not np.isnan(value) and value >= floor

    stability_ok = at_least(bootstrap_ari, bootstrap_ari_floor)
    message = f"bootstrap ARI {bootstrap_ari:.3f} (floor {bootstrap_ari_floor})"
    if temporal_keep_share_floor is not None and temporal_keep_share is not None:
        temporal_ok = at_least(temporal_keep_share, temporal_keep_share_floor)
        stability_ok = stability_ok and temporal_ok
        message += (
            f"; {temporal_keep_share:.1%} kept their segment (floor "
            f"{temporal_keep_share_floor:.0%})"
        )
    return [
        Gate(
            "silhouette",
            silhouette,
            silhouette_floor,
            at_least(silhouette, silhouette_floor),
            f"silhouette {silhouette:.3f} (floor {silhouette_floor})",
        ),
        Gate(
            "segment_size",
            float(smallest_segment),
            float(minimum_size),
            smallest_segment >= minimum_size,
            f"smallest clustering segment {smallest_segment} customers (minimum {minimum_size})",
        ),
        Gate("stability", bootstrap_ari, bootstrap_ari_floor, stability_ok, message),
    ]
