"""Who may be profiled live: read in one place, so the privacy work (one consent state per
customer and purpose, issue 12) changes only this module."""

from __future__ import annotations

from collections.abc import Mapping

# The column of `marts.fct_customer_features` the batch publishes today.
PROFILING_CONSENT_COLUMN = "has_profiling_consent"


def profiling_allowed(features: Mapping | None) -> bool:
    """Whether a customer may be profiled live (segment, scores, behaviour kept), from the
    batch's published row for them. No row, or no consent on it, means no."""
    if not features:
        return False
    return features.get(PROFILING_CONSENT_COLUMN) is True
