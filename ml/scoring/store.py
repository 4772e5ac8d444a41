"""The warehouse tables scoring writes (schema `ml`) and how rows are appended to them.

Every table keeps its history: training appends one set of rows per model version, scoring
one set per run (older runs beyond `scoring.keep_runs` are purged from the scores tables).
dbt reads them back as the `scoring` source (`dbt_project/models/staging/scoring/`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cible import warehouse as wh

SCHEMA = "ml"
CUSTOMER_SCORES = f"{SCHEMA}.customer_scores"
CUSTOMER_LIFETIME_VALUES = f"{SCHEMA}.customer_lifetime_values"
MODEL_METRICS = f"{SCHEMA}.model_metrics"
MODEL_CURVES = f"{SCHEMA}.model_curves"
FEATURE_IMPORTANCES = f"{SCHEMA}.feature_importances"
FEATURE_DRIFT = f"{SCHEMA}.feature_drift"

# Column order and types of each table, so an empty frame still creates the right table.
COLUMNS: dict[str, dict[str, str]] = {
    CUSTOMER_SCORES: {
        "scoring_run_id": "str",
        "scored_at": "datetime64[us]",
        "as_of_at": "datetime64[us]",
        "customer_id": "str",
        "target": "str",
        "model_version": "str",
        "score": "float64",
        "score_decile": "int64",
    },
    CUSTOMER_LIFETIME_VALUES: {
        "scoring_run_id": "str",
        "scored_at": "datetime64[us]",
        "as_of_at": "datetime64[us]",
        "customer_id": "str",
        "model_version": "str",
        "horizon_days": "int64",
        "expected_purchases": "float64",
        "probability_alive": "float64",
        "expected_order_value_eur": "float64",
        "lifetime_value_eur": "float64",
        "lifetime_value_decile": "Int64",
    },
    MODEL_METRICS: {
        "model_version": "str",
        "target": "str",
        "dataset": "str",
        "metric": "str",
        "value": "float64",
        "computed_at": "datetime64[us]",
    },
    MODEL_CURVES: {
        "model_version": "str",
        "target": "str",
        "curve": "str",
        "point": "int64",
        "x": "float64",
        "y": "float64",
        "customers": "float64",
    },
    FEATURE_IMPORTANCES: {
        "model_version": "str",
        "target": "str",
        "feature": "str",
        "importance_mean": "float64",
        "importance_std": "float64",
        "importance_rank": "int64",
    },
    FEATURE_DRIFT: {
        "scoring_run_id": "str",
        "measured_at": "datetime64[us]",
        "target": "str",
        "model_version": "str",
        "kind": "str",
        "name": "str",
        "psi": "float64",
        "status": "str",
        "psi_warn": "float64",
        "psi_block": "float64",
    },
}


def shaped(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """`frame` with exactly the table's columns, in order and with its types."""
    columns = COLUMNS[table]
    missing = set(columns) - set(frame.columns)
    if missing:
        raise ValueError(f"{table}: missing column(s) {', '.join(sorted(missing))}")
    return frame[list(columns)].astype(columns)


def append(frame: pd.DataFrame, table: str, warehouse: Path | None = None) -> int:
    """Append rows (creating the table on first use)."""
    return wh.write_table(shaped(frame, table), table, warehouse, mode="append")


def metric_rows(model_version: str, target: str, dataset: str, values: dict) -> pd.DataFrame:
    """Long rows of a dict of scalar metrics."""
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    return pd.DataFrame(
        {
            "model_version": model_version,
            "target": target,
            "dataset": dataset,
            "metric": list(values),
            "value": [float(v) for v in values.values()],
            "computed_at": now,
        }
    )


def purge_old_runs(keep_runs: int, warehouse: Path | None = None) -> int:
    """Delete scoring runs beyond the `keep_runs` most recent; returns runs deleted."""
    deleted = 0
    with wh.connect(warehouse) as con:
        tables = {
            row[0]
            for row in con.execute(
                "select table_schema || '.' || table_name from information_schema.tables "
                "where table_schema = ?",
                [SCHEMA],
            ).fetchall()
        }
        if CUSTOMER_SCORES not in tables:
            return 0
        runs = [
            row[0]
            for row in con.execute(
                f"select scoring_run_id from {CUSTOMER_SCORES} group by scoring_run_id "
                "order by max(scored_at) desc"
            ).fetchall()
        ]
        for run in runs[keep_runs:]:
            for table in (CUSTOMER_SCORES, CUSTOMER_LIFETIME_VALUES):
                if table in tables:
                    con.execute(f"delete from {table} where scoring_run_id = ?", [run])
            deleted += 1
    return deleted
