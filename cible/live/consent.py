"""Who may be profiled live: read in one place.

The batch decides each customer's consent once (`marts.fct_customer_consents`, see
docs/privacy.md) and publishes the profiling decision in `marts.fct_customer_features` as
`has_profiling_consent` (the same intermediate model pivoted), which the online store keeps
per customer. A withdrawal reaches the live path with the next bootstrap.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from cible.privacy.consent import PROFILING_ALLOWED

# The column of `marts.fct_customer_features` carrying the consent state's profiling decision.
PROFILING_CONSENT_COLUMN = "has_profiling_consent"


def profiling_allowed(features: Mapping | None) -> bool:
    """Whether a customer may be profiled live (segment, scores, behaviour kept), from the
    batch's published row for them. No row, or no consent on it, means no."""
    if not features:
        return False
    return features.get(PROFILING_CONSENT_COLUMN) is True


def with_profiling_decision(rows: pd.DataFrame) -> pd.DataFrame:
    """Feature rows with the column the segmentation model routes on (`is_profiling_allowed`):
    the batch's decision, false when it is missing."""
    if PROFILING_CONSENT_COLUMN in rows.columns:
        allowed = rows[PROFILING_CONSENT_COLUMN].astype("boolean").fillna(False).astype(bool)
    else:
        allowed = pd.Series(False, index=rows.index)
    return rows.assign(**{PROFILING_ALLOWED: allowed.to_numpy()})
