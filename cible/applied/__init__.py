"""The published models applied inside `dbt build`: today's segments and scores without Dagster.

The dbt Python models `int_segmentation_applied` and `int_scoring_applied`
(`dbt_project/models/intermediate/applied/`) call these functions on dbt's own DuckDB
connection. They run the same code as Dagster's segmentation and scoring steps in their
apply mode (:func:`cible.ml.segmentation.store.run_on` with ``refit=False``,
:func:`cible.ml.scoring.store.score_on`): the published fitted pipelines, never refitted; the
run is appended to the `ml` schema with its gates and drift, exactly as a Dagster run would be,
and the segment and score marts built after them in the same `dbt build` read it. What the
model itself returns is the audit of that application: one row per run (segmentation) or per
target (scoring), with its status.

Dagster's published-mart steps follow its own segmentation and scoring steps, which have just
applied (or refitted) the models: they set ``CIBLE_DBT_APPLIES_MODELS=0`` and the Python
models then record the run Dagster made instead of applying the models a second time.

On Spark the Python models are disabled (dbt-spark runs Python models on Databricks only):
there the Dagster steps (`cible run`, the daily job) apply the models, and `dbt build` rebuilds
the marts from their latest runs (docs/segmentation.md).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from cible import settings, warehouse

SEGMENTATION_COLUMNS = {
    "applied_at": "datetime64[us]",
    "status": "object",
    "run_id": "object",
    "model_version": "object",
    "as_of_at": "datetime64[us]",
    "customers": "Int64",
    "is_published": "boolean",
    "message": "object",
}
SCORING_COLUMNS = {
    "applied_at": "datetime64[us]",
    "target": "object",
    "status": "object",
    "model_version": "object",
    "scoring_run_id": "object",
    "as_of_at": "datetime64[us]",
    "customers": "Int64",
    "message": "object",
}


def _user_errors() -> tuple[type[Exception], ...]:
    """Errors whose message says what to fix: a setting, the features' documented vocabulary,
    the consent state, the privacy key, a history too short to train on."""
    from cible.ml.scoring.labels import TrainingDataError
    from cible.ml.segmentation.vocabulary import VocabularyError
    from cible.privacy.consent import ConsentStateError
    from cible.privacy.fingerprints import PrivacyKeyError
    from cible.yaml_config import ConfigError

    return (ConfigError, VocabularyError, ConsentStateError, PrivacyKeyError, TrainingDataError)


@contextmanager
def errors_as_messages() -> Iterator[None]:
    """Inside a dbt Python model: an error of :func:`_user_errors` shows in dbt's output as its
    message alone, not under a traceback (any other error keeps its traceback: it is a bug).

    dbt-duckdb reports a failed Python model with ``traceback.format_exception``, which reads
    ``sys.tracebacklimit``: set to 0, it prints no frame. The limit stays for the rest of this
    dbt process, which is failing anyway.
    """
    try:
        yield
    except _user_errors():
        sys.tracebacklimit = 0
        raise


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC").tz_localize(None).floor("s")


def _frame(rows: list[dict], columns: dict[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(columns))
    return frame.astype(columns)


def _manifest_path() -> Path:
    """The manifest of the running `dbt build` (dbt writes it once parsed, before any model
    runs), in its target folder: ``--target-path`` of the dbt command this model runs in, else
    ``DBT_TARGET_PATH`` (Dagster gives each invocation its own), else the project's.

    A command told not to write JSON artifacts (``--no-write-json``, ``DBT_WRITE_JSON=false``,
    as Cible's own commands run) leaves none: the project's manifest then, which `dbt parse`
    and every Cible command write (the documentation read from it changes only with the
    project's files)."""
    target = os.environ.get("DBT_TARGET_PATH") or str(settings.dbt_target_dir())
    arguments = sys.argv
    for i, argument in enumerate(arguments):
        if argument == "--target-path" and i + 1 < len(arguments):
            target = arguments[i + 1]
        elif argument.startswith("--target-path="):
            target = argument.split("=", 1)[1]
    path = Path(target)
    if not path.is_absolute():
        path = settings.DBT_PROJECT_DIR / path
    running = path / "manifest.json"
    return running if running.exists() else settings.dbt_target_dir() / "manifest.json"


def _latest_segmentation_run(con: duckdb.DuckDBPyConnection) -> dict | None:
    if not warehouse.table_exists(con, "ml.segment_runs"):
        return None
    rows = con.execute(
        "select run_id, model_version, as_of_at, customers, is_published, failed_gates "
        "from ml.segment_runs order by started_at desc, run_id desc limit 1"
    ).df()
    return rows.iloc[0].to_dict() if not rows.empty else None


def apply_segmentation(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Segment today's customers with the published segmentation model; the run's audit row.

    Raises:
        ConfigError, VocabularyError, ConsentStateError: as Dagster's step would (the message
            says what to fix); nothing is written.
    """
    from cible.ml.segmentation.store import latest_model_path, run_on

    applied_at = _now()
    if not settings.dbt_applies_models():
        latest = _latest_segmentation_run(con) or {}
        return _frame(
            [
                {
                    "applied_at": applied_at,
                    "status": "applied_by_dagster",
                    **{k: latest.get(k) for k in ("run_id", "model_version", "as_of_at")},
                    "customers": latest.get("customers"),
                    "is_published": latest.get("is_published"),
                    "message": "Dagster's segmentation step of this run applied the models",
                }
            ],
            SEGMENTATION_COLUMNS,
        )
    model_path = latest_model_path(con)
    if model_path is None or not model_path.exists():
        message = (
            "no published segmentation model yet: run the weekly refit (Dagster's weekly job, "
            "or `cible run`) once; `dbt build` then applies it"
            if model_path is None
            else f"the published segmentation model file {model_path} is missing"
        )
        return _frame(
            [{"applied_at": applied_at, "status": "no_published_model", "message": message}],
            SEGMENTATION_COLUMNS,
        )
    from cible.applied.vocabulary import manifest_vocabulary

    vocabulary = manifest_vocabulary(_manifest_path(), settings.DBT_PROJECT_DIR)
    result = run_on(con, settings.segmentation_config_path(), refit=False, vocabulary=vocabulary)
    run = result.tables["segment_runs"].iloc[0]
    failed = str(run["failed_gates"] or "")
    return _frame(
        [
            {
                "applied_at": applied_at,
                "status": "applied" if result.is_published else "gates_failed",
                "run_id": result.run_id,
                "model_version": run["model_version"],
                "as_of_at": run["as_of_at"],
                "customers": int(run["customers"]),
                "is_published": bool(result.is_published),
                "message": (
                    f"{int(run['n_clusters'])} clustering segments, published"
                    + (
                        f", replacing run {result.summary['replaced_run_id']} (the same data "
                        "and model)"
                        if result.summary.get("replaced_run_id")
                        else ""
                    )
                    if result.is_published
                    else f"not published, gates failed: {failed}; the marts keep the "
                    "previous published run"
                ),
            }
        ],
        SEGMENTATION_COLUMNS,
    )


def apply_scoring(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Score today's customers with each target's promoted version; one audit row per target.

    A drift past the blocking threshold keeps the run's scores out of the `ml` tables (the marts
    keep the last passing run), as in Dagster's step.
    """
    applied_at = _now()
    if not settings.dbt_applies_models():
        return _frame(
            [
                {
                    "applied_at": applied_at,
                    "status": "applied_by_dagster",
                    "message": "Dagster's scoring step of this run scored the customers",
                    **_latest_scoring_run(con),
                }
            ],
            SCORING_COLUMNS,
        )
    if not warehouse.table_exists(con, "ml.model_registry"):
        return _frame(
            [
                {
                    "applied_at": applied_at,
                    "status": "no_published_model",
                    "message": "no scoring model trained yet: run the weekly retrain (Dagster's "
                    "weekly job, or `cible run`) once; `dbt build` then applies them",
                }
            ],
            SCORING_COLUMNS,
        )
    from cible.ml.scoring.config import load_scoring_config
    from cible.ml.scoring.store import ScoringStore, score_on

    config = load_scoring_config(settings.scoring_config_path())
    outcome = score_on(ScoringStore(con), config, settings.models_dir(), applied_at)
    base = {
        "applied_at": applied_at,
        "scoring_run_id": outcome.scoring_run_id,
        "as_of_at": outcome.as_of_at,
    }
    summary = outcome.score_summary
    customers = dict(zip(summary.get("target", []), summary.get("customers", []), strict=True))
    rows = [
        {
            **base,
            "target": target,
            "status": "blocked_by_drift" if outcome.blocked else "scored",
            "model_version": version,
            "customers": customers.get(target),
            "message": (
                "not published: a drift past the blocking threshold (ml.feature_drift); the marts "
                "keep the last passing run"
                if outcome.blocked
                else "published"
                + (
                    f", replacing run {outcome.replaced_run_id} (the same data and versions)"
                    if outcome.replaced_run_id
                    else ""
                )
            ),
        }
        for target, version in sorted(outcome.versions.items())
    ]
    rows += [
        {**base, "target": target, "status": "not_scored", "message": reason}
        for target, reason in sorted(outcome.skipped.items())
    ]
    return _frame(rows, SCORING_COLUMNS)


def _latest_scoring_run(con: duckdb.DuckDBPyConnection) -> dict:
    """The latest scoring run in the `ml` tables (ids sort by time), published or blocked."""
    tables = [
        t for t in ("customer_scores", "feature_drift") if warehouse.table_exists(con, f"ml.{t}")
    ]
    if not tables:
        return {}
    union = " union all ".join(f"select scoring_run_id from ml.{t}" for t in tables)
    [(run_id,)] = con.execute(f"select max(scoring_run_id) from ({union}) as runs").fetchall()
    return {"scoring_run_id": run_id}
