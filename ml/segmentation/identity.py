"""Stable segment ids: "cluster_03" means the same customers' profile from one run to the next.

A new clustering is matched to the previous published run by Hungarian matching
(``scipy.optimize.linear_sum_assignment``) on centroids, both sets measured in the new model's
space: the previous segments' centroids are the means, in that space, of the customers the
previous run put in them. A matched cluster whose centroid lies within ``max_match_distance``
of its partner keeps the partner's id; any other cluster gets a new number, above every number
ever used, so an id is never reused; previous segments left without a partner are retired.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

CLUSTER_ID_PATTERN = re.compile(r"^cluster_(\d+)$")


def cluster_id(number: int) -> str:
    """The id of clustering segment `number` (``cluster_01``)."""
    return f"cluster_{number:02d}"


def cluster_number(segment_id: str) -> int | None:
    """The number in a clustering segment id, None for other ids."""
    match = CLUSTER_ID_PATTERN.match(str(segment_id))
    return int(match.group(1)) if match else None


def centroids_by_segment(
    X: np.ndarray, customer_ids: pd.Index, previous: pd.Series, min_customers: int
) -> dict[str, np.ndarray]:
    """Centroids, in the current model space, of the previous run's clustering segments.

    Args:
        X: the current customers in model space, rows aligned with `customer_ids`.
        previous: the previous run's clustering segment id by customer id.
        min_customers: a previous segment with fewer shared customers is not matched.
    """
    position = pd.Series(np.arange(len(customer_ids)), index=customer_ids)
    shared = previous[previous.index.isin(customer_ids)]
    centroids = {}
    for segment_id, members in shared.groupby(shared, sort=True):
        if len(members) >= min_customers:
            centroids[str(segment_id)] = X[position.loc[members.index].to_numpy()].mean(axis=0)
    return centroids


def match_clusters(
    current: Mapping[int, np.ndarray], previous: Mapping[str, np.ndarray], max_distance: float
) -> dict[int, tuple[str, float]]:
    """Hungarian matching of current clusters to previous segments by centroid distance.

    Returns:
        ``{current label: (previous segment id, distance)}`` for the pairs within
        `max_distance`; other current labels are absent.
    """
    if not current or not previous:
        return {}
    labels, ids = list(current), list(previous)
    distance = np.array([[np.linalg.norm(current[a] - previous[b]) for b in ids] for a in labels])
    # Pairs too far apart to match all cost the same large amount, so that they cannot make
    # the assignment give up a close pair to save distance on pairs that are rejected anyway.
    cost = np.where(distance <= max_distance, distance, max_distance * (len(labels) + len(ids) + 1))
    rows, columns = linear_sum_assignment(cost)
    return {
        labels[r]: (ids[c], float(distance[r, c]))
        for r, c in zip(rows, columns, strict=True)
        if distance[r, c] <= max_distance
    }


def assign_ids(
    labels_by_size: list[int], matches: Mapping[int, tuple[str, float]], highest_number: int
) -> dict[int, str]:
    """Segment id of every current cluster label: the matched id, or a fresh number.

    Args:
        labels_by_size: the current labels, largest cluster first (fresh numbers follow it).
        matches: from :func:`match_clusters`.
        highest_number: the highest cluster number ever used (0 for a first run).
    """
    ids = {}
    next_number = highest_number + 1
    for label in labels_by_size:
        if label in matches:
            ids[label] = matches[label][0]
        else:
            ids[label] = cluster_id(next_number)
            next_number += 1
    return ids
