"""Population stability index (PSI) between the training population and today's.

At training, each feature and the score get a *profile*: the share of customers in each bin
(quantile bins of the training values for numbers, categories for text, and a bin for missing
values). At scoring, today's values are put in the same bins and

    PSI = sum over bins of (actual - expected) * ln(actual / expected)

with empty bins floored at `EPSILON` so that a bin emptied or filled shows as a large, finite
PSI. Common reading: under 0.1 stable, 0.1 to 0.25 worth a look, above 0.25 shifted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from cible.ml.scoring.features import to_float

EPSILON = 1e-4
MAX_CATEGORIES = 30
OTHER = "__other__"


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI of two vectors of bin shares (each summing to 1)."""
    expected = np.clip(np.asarray(expected, dtype=float), EPSILON, None)
    actual = np.clip(np.asarray(actual, dtype=float), EPSILON, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def _numeric(values: pd.Series) -> np.ndarray:
    return to_float(values)


def _numeric_shares(values: np.ndarray, edges: list[float]) -> np.ndarray:
    present = values[~np.isnan(values)]
    counts = np.bincount(np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1)
    shares = np.append(counts, np.isnan(values).sum()).astype(float)
    return shares / max(len(values), 1)


def profile(values: pd.Series, bins: int = 10) -> dict:
    """The bins of `values`, the share of them in each and how many distinct values (a missing
    value counts as one) they hold (JSON-serialisable)."""
    distinct = int(values.nunique(dropna=False))
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        numbers = _numeric(values)
        present = numbers[~np.isnan(numbers)]
        edges = (
            np.unique(np.quantile(present, np.linspace(0, 1, bins + 1))[1:-1]).tolist()
            if len(present)
            else []
        )
        return {
            "kind": "numeric",
            "edges": edges,
            "shares": _numeric_shares(numbers, edges).tolist(),
            "distinct": distinct,
        }
    text = values.astype(object).where(values.notna(), None)
    counts = text.value_counts(dropna=True)
    categories = [str(c) for c in counts.index[:MAX_CATEGORIES]]
    return {
        "kind": "categorical",
        "categories": categories,
        "shares": _categorical_shares(text, categories).tolist(),
        "distinct": distinct,
    }


def _categorical_shares(text: pd.Series, categories: list[str]) -> np.ndarray:
    as_str = text.map(lambda v: None if v is None else str(v))
    counts = [int((as_str == c).sum()) for c in categories]
    missing = int(as_str.isna().sum())
    other = len(as_str) - sum(counts) - missing
    return np.array([*counts, other, missing], dtype=float) / max(len(as_str), 1)


def shares_like(reference: Mapping, values: pd.Series) -> np.ndarray:
    """Today's shares of `values` in the bins of a reference profile."""
    if reference["kind"] == "numeric":
        return _numeric_shares(_numeric(values), list(reference["edges"]))
    text = values.astype(object).where(values.notna(), None)
    return _categorical_shares(text, list(reference["categories"]))


def profile_frame(frame: pd.DataFrame, columns: Iterable[str], bins: int = 10) -> dict[str, dict]:
    """A profile per column."""
    return {column: profile(frame[column], bins) for column in columns}


def drift_table(
    profiles: Mapping[str, Mapping],
    frame: pd.DataFrame,
    warn: float,
    block: float,
    kind: str = "feature",
    blocking: Iterable[str] | None = None,
) -> pd.DataFrame:
    """PSI of each profiled column of `frame` against its reference, with a status.

    A column that held one value in the reference (no web history yet when the model learned)
    is `ok` whatever its PSI: the model learned nothing from it and its preprocessing drops it
    (:class:`cible.ml.scoring.features.DropConstantColumns`), so it cannot move the scores. Its
    PSI is still reported. Profiles made before they counted distinct values (models fitted
    before that step existed, which kept such columns) are judged on their PSI.

    Args:
        blocking: the columns whose drift may block (None: all); others at most warn.

    Returns:
        One row per column: kind, name, psi, status (`ok`, `warn` or `block`).
    """
    blocking_set = None if blocking is None else set(blocking)
    rows = []
    for name, reference in profiles.items():
        if name not in frame.columns:
            continue
        value = psi(reference["shares"], shares_like(reference, frame[name]))
        can_block = blocking_set is None or name in blocking_set
        if reference.get("distinct", 2) <= 1:
            status = "ok"
        elif value > block and can_block:
            status = "block"
        elif value > warn:
            status = "warn"
        else:
            status = "ok"
        rows.append({"kind": kind, "name": name, "psi": value, "status": status})
    return pd.DataFrame(rows, columns=["kind", "name", "psi", "status"])
