"""Data of the segmentation unit tests: the project's configuration and synthetic customers.

Plain cached functions, not a conftest: a second `conftest` module in tests/ml would shadow
the one `tests/ml/scoring` imports by name. Test modules wrap them in fixtures.
"""

from functools import cache

from cible.ml.segmentation.config import SegmentationConfig, load_segmentation_config
from cible.ml.segmentation.synthetic import synthetic_features


@cache
def synthetic():
    """2,000 synthetic customers in six planted groups, with prospects and non-consenting ones.

    Returns:
        ``(features, groups)``; treat them as read-only (they are shared).
    """
    return synthetic_features(2_000, seed=3)


@cache
def config() -> SegmentationConfig:
    """config/segmentation.yml, validated against the synthetic frame's columns."""
    frame, _ = synthetic()
    return load_segmentation_config(columns=list(frame.columns))


def consent_state(frame):
    """The consent state rows (`marts.fct_customer_consents`, profiling) that decide the
    synthetic frame's `is_profiling_allowed`."""
    import pandas as pd

    allowed = frame["is_profiling_allowed"].to_numpy()
    return pd.DataFrame(
        {
            "customer_id": frame["customer_id"].to_numpy(),
            "purpose": "profiling",
            "is_allowed": allowed,
            "legal_basis": "consent",
            "rule_applied": pd.Series(allowed).map(
                {True: "latest_event_granted", False: "absent_denied"}
            ),
            "proof": "synthetic",
        }
    )
