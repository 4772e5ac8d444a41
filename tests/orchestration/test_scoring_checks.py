"""The drift checks' sentence: the largest PSI, its column, and why a large one did not block."""

from types import SimpleNamespace

import pandas as pd
from cible.orchestration.scoring import _drift_description

DRIFT = SimpleNamespace(psi_warn=0.1, psi_block=0.25)


def test_a_large_drift_on_a_column_that_cannot_block_says_so():
    rows = pd.DataFrame(
        {"name": ["sessions_90d", "orders_365d"], "psi": [0.699, 0.12], "status": ["warn", "warn"]}
    )
    assert _drift_description("warn", rows, DRIFT) == (
        "warn: largest PSI 0.699 on sessions_90d, not a blocking column "
        "(warn above 0.1, block above 0.25)"
    )


def test_a_blocking_drift_names_its_column_without_excuse():
    rows = pd.DataFrame({"name": ["orders_365d"], "psi": [0.4], "status": ["block"]})
    assert _drift_description("block", rows, DRIFT) == (
        "block: largest PSI 0.400 on orders_365d (warn above 0.1, block above 0.25)"
    )
    assert _drift_description("ok", rows.iloc[0:0], DRIFT).startswith("ok: no column measured")


def test_a_column_constant_when_the_model_learned_is_not_the_one_named():
    """No web history a year back: `days_since_last_visit` drifts hugely but cannot move the
    scores (status ok); the check names the column that made it warn."""
    rows = pd.DataFrame(
        {
            "name": ["days_since_last_visit", "orders_365d"],
            "psi": [8.715, 0.12],
            "status": ["ok", "warn"],
        }
    )
    assert _drift_description("warn", rows, DRIFT) == (
        "warn: largest PSI 0.120 on orders_365d (warn above 0.1, block above 0.25)"
    )
