"""Reading the features and the previous run from the warehouse, publishing a run to it.

Every read and write goes through :mod:`cible.warehouse` (one process at a time on the DuckDB
file). A run's tables are appended to the `ml` schema in one transaction, keyed by ``run_id``,
so history survives reruns and a crash never leaves half a run. The dbt project reads them back
as the ``segmentation`` source (``dbt_project/models/staging/segmentation``); the column types
below are those of the source file, which a test keeps in step.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from cible.ml.segmentation.config import (
    DEFAULT_CONFIG_PATH,
    SegmentationConfig,
    load_segmentation_config,
)
from cible.ml.segmentation.identity import cluster_number
from cible.ml.segmentation.model import SegmentationModel
from cible.ml.segmentation.runner import PreviousRun, SegmentationResult

from cible import settings, warehouse

ML_SCHEMA = "ml"
FEATURES_RELATION = "marts.fct_customer_features"

TABLE_SCHEMAS: dict[str, dict[str, str]] = {
    "segment_runs": {
        "run_id": "varchar",
        "started_at": "timestamp",
        "finished_at": "timestamp",
        "as_of_at": "timestamp",
        "is_refit": "boolean",
        "algorithm": "varchar",
        "n_clusters": "integer",
        "model_version": "varchar",
        "model_path": "varchar",
        "model_sha256": "varchar",
        "config_fingerprint": "varchar",
        "previous_run_id": "varchar",
        "customers": "integer",
        "clustered_customers": "integer",
        "excluded_customers": "integer",
        "noise_customers": "integer",
        "fit_sample_size": "integer",
        "retired_segment_ids": "varchar",
        "is_published": "boolean",
        "failed_gates": "varchar",
    },
    "segment_quality": {
        "run_id": "varchar",
        "silhouette": "double",
        "silhouette_sample_size": "integer",
        "davies_bouldin": "double",
        "calinski_harabasz": "double",
        "bootstrap_ari_mean": "double",
        "bootstrap_ari_min": "double",
        "bootstrap_resamples": "integer",
        "temporal_ari": "double",
        "temporal_keep_share": "double",
        "temporal_keep_share_all": "double",
        "shared_customers": "integer",
        "segments": "integer",
        "smallest_segment_customers": "integer",
        "largest_segment_customers": "integer",
        "min_segment_size": "integer",
        "noise_share": "double",
        "silhouette_floor": "double",
        "bootstrap_ari_floor": "double",
        "temporal_keep_share_floor": "double",
        "passed_silhouette_gate": "boolean",
        "passed_size_gate": "boolean",
        "passed_stability_gate": "boolean",
    },
    "segment_k_scores": {
        "run_id": "varchar",
        "k": "integer",
        "silhouette": "double",
        "davies_bouldin": "double",
        "calinski_harabasz": "double",
        "smallest_cluster": "integer",
        "is_eligible": "boolean",
        "mean_rank": "double",
        "is_selected": "boolean",
    },
    "segment_assignments": {
        "run_id": "varchar",
        "customer_id": "varchar",
        "segment_id": "varchar",
        "segment_kind": "varchar",
        "distance_to_centroid": "double",
    },
    "rule_segment_memberships": {
        "run_id": "varchar",
        "customer_id": "varchar",
        "segment_id": "varchar",
        "rule_group": "varchar",
    },
    "segment_profiles": {
        "run_id": "varchar",
        "segment_id": "varchar",
        "segment_kind": "varchar",
        "rule_group": "varchar",
        "segment_number": "integer",
        "name_en": "varchar",
        "name_fr": "varchar",
        "description_en": "varchar",
        "description_fr": "varchar",
        "top_features": "varchar",
        "strategic_fit": "integer",
        "customers": "integer",
        "customer_share": "double",
        "orders_per_customer": "double",
        "revenue_per_customer_eur": "double",
        "average_order_value_eur": "double",
        "campaign_open_rate": "double",
        "campaign_click_rate": "double",
        "campaign_conversion_rate": "double",
        "profile_completeness": "double",
        "profiling_consent_rate": "double",
        "marketing_consent_rate": "double",
        "previous_match_distance": "double",
        "is_new_segment": "boolean",
    },
    "segment_profile_features": {
        "run_id": "varchar",
        "segment_id": "varchar",
        "feature": "varchar",
        "base": "varchar",
        "segment_mean": "double",
        "base_mean": "double",
        "base_std": "double",
        "lift": "double",
        "standardized_difference": "double",
        "importance_rank": "integer",
    },
}


def model_directory() -> Path:
    """Where segmentation models are saved: ``segmentation/`` in ``CIBLE_MODELS_DIR``."""
    return settings.models_dir() / "segmentation"


def _kind(duckdb_type: str) -> str:
    upper = duckdb_type.upper()
    if upper == "BOOLEAN":
        return "boolean"
    if upper.startswith(("VARCHAR", "TEXT", "STRING", "ENUM")):
        return "text"
    if upper.startswith(("DATE", "TIME", "TIMESTAMP", "INTERVAL")):
        return "temporal"
    return "numeric"


def feature_columns(warehouse_path: Path | None = None) -> dict[str, str]:
    """Columns of the features table with their kind (numeric, boolean, text, temporal).

    Raises:
        RuntimeError: the features table is not built yet.
    """
    schema, name = FEATURES_RELATION.split(".")
    path = Path(warehouse_path) if warehouse_path else settings.warehouse_path()
    if not path.exists():
        raise RuntimeError(
            f"no warehouse at {path}: build the warehouse first (dbt build, or the warehouse "
            "assets)"
        )
    with warehouse.connect(warehouse_path, read_only=True) as con:
        rows = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, name],
        ).fetchall()
    if not rows:
        raise RuntimeError(
            f"{FEATURES_RELATION} does not exist in {warehouse_path or settings.warehouse_path()}"
            ": build the warehouse first (dbt build, or the warehouse assets)"
        )
    return {column: _kind(data_type) for column, data_type in rows}


def prepare(
    config_path: Path | str = DEFAULT_CONFIG_PATH, warehouse_path: Path | None = None
) -> SegmentationConfig:
    """The configuration, validated against the features table's columns (no data read).

    Raises:
        ConfigError: anything to fix in the configuration or the columns it names.
    """
    return load_segmentation_config(config_path, columns=feature_columns(warehouse_path))


def read_features(config: SegmentationConfig, warehouse_path: Path | None = None) -> pd.DataFrame:
    """The columns of the features table the configuration needs, one row per customer."""
    columns = ["customer_id", "as_of_at", *config.required_columns()]
    columns = list(dict.fromkeys(columns))
    quoted = ", ".join(f'"{column}"' for column in columns)
    with warehouse.connect(warehouse_path, read_only=True) as con:
        return con.execute(f"select {quoted} from {FEATURES_RELATION} order by customer_id").df()


def _table_exists(con, name: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? "
            "and table_name = ?",
            [ML_SCHEMA, name],
        ).fetchall()[0][0]
    )


def read_previous_run(warehouse_path: Path | None = None) -> PreviousRun | None:
    """The latest published run's memberships and the highest cluster number ever used."""
    with warehouse.connect(warehouse_path, read_only=True) as con:
        if not _table_exists(con, "segment_runs"):
            return None
        latest = con.execute(
            f"select run_id from {ML_SCHEMA}.segment_runs where is_published "
            "order by started_at desc, run_id desc limit 1"
        ).fetchall()
        if not latest:
            return None
        run_id = latest[0][0]
        assignments = con.execute(
            f"select customer_id, segment_id, segment_kind from {ML_SCHEMA}.segment_assignments "
            "where run_id = ?",
            [run_id],
        ).df()
        ids = con.execute(
            f"select distinct segment_id from {ML_SCHEMA}.segment_profiles "
            "where segment_kind = 'cluster'"
        ).df()["segment_id"]
    numbers = [n for n in (cluster_number(i) for i in ids) if n is not None]
    clusters = assignments[assignments["segment_kind"] == "cluster"]
    return PreviousRun(
        run_id=run_id,
        clusters=pd.Series(clusters["segment_id"].to_numpy(), index=clusters["customer_id"]),
        exclusive=pd.Series(assignments["segment_id"].to_numpy(), index=assignments["customer_id"]),
        highest_cluster_number=max(numbers, default=0),
    )


def latest_model_path(warehouse_path: Path | None = None) -> Path | None:
    """The model file of the latest published run that fitted one."""
    with warehouse.connect(warehouse_path, read_only=True) as con:
        if not _table_exists(con, "segment_runs"):
            return None
        rows = con.execute(
            f"select model_path from {ML_SCHEMA}.segment_runs where is_published "
            "and model_path is not null order by started_at desc, run_id desc limit 1"
        ).fetchall()
    return Path(rows[0][0]) if rows else None


def _typed(frame: pd.DataFrame, schema: dict[str, str]) -> pd.DataFrame:
    """`frame` with exactly the schema's columns, in order (missing ones null)."""
    missing = [column for column in schema if column not in frame.columns]
    extra = [column for column in frame.columns if column not in schema]
    if extra:
        raise ValueError(f"columns {extra} are not in the ml table schema")
    out = frame.copy()
    for column in missing:
        out[column] = None
    return out[list(schema)]


def publish(
    result: SegmentationResult,
    warehouse_path: Path | None = None,
    model_dir: Path | None = None,
) -> Path | None:
    """Save the model (when the run fitted one) and append the run's tables to the `ml` schema,
    all in one transaction.

    Returns:
        The model file written, or None for a run that applied an existing model.
    """
    runs = result.tables["segment_runs"].copy()
    model_path = None
    if bool(runs["is_refit"].iloc[0]):
        model_path = (model_dir or model_directory()) / f"{result.run_id}.joblib"
        digest = result.model.save(model_path)
        runs["model_path"] = str(model_path)
        runs["model_sha256"] = digest
    tables = {**result.tables, "segment_runs": runs}
    with warehouse.connect(warehouse_path) as con:
        con.execute(f'create schema if not exists "{ML_SCHEMA}"')
        con.execute("begin transaction")
        try:
            for name, schema in TABLE_SCHEMAS.items():
                columns = ", ".join(f'"{c}" {t}' for c, t in schema.items())
                con.execute(f"create table if not exists {ML_SCHEMA}.{name} ({columns})")
                frame = _typed(tables[name], schema)
                if len(frame):
                    con.register("_segmentation_frame", frame)
                    con.execute(
                        f"insert into {ML_SCHEMA}.{name} by name select * from _segmentation_frame"
                    )
                    con.unregister("_segmentation_frame")
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
    return model_path


def load_model(path: Path) -> SegmentationModel:
    """A persisted segmentation model (see :meth:`SegmentationModel.load`)."""
    return SegmentationModel.load(path)


def refit_reason(
    config: SegmentationConfig, model: SegmentationModel | None, now: datetime | None = None
) -> str | None:
    """Why a run must fit a new model rather than apply `model`; None when it need not.

    A model is refitted when there is none, when it is older than ``model.refit_after_days``,
    or when the settings that shape it changed since it was fitted.
    """
    if model is None:
        return "no published model"
    now = now or datetime.now(UTC).replace(tzinfo=None)
    age_days = (now - model.created_at).total_seconds() / 86_400
    if age_days >= config.model.refit_after_days:
        return f"the published model is {age_days:.1f} days old"
    if model.metadata.get("model_fingerprint") != config.model_fingerprint():
        return "the population, features, preprocessing, algorithm or sampling changed"
    return None


def run_and_publish(
    config_path: Path | str = DEFAULT_CONFIG_PATH,
    warehouse_path: Path | None = None,
    refit: bool | None = None,
    run_id: str | None = None,
    model_dir: Path | None = None,
) -> SegmentationResult:
    """A whole run against the warehouse: validate, read, segment, publish.

    The configuration is validated against the features table before any data is read.

    Args:
        refit: True fits a new model, False applies the latest published model as it is,
            None decides (:func:`refit_reason`).

    Raises:
        ConfigError: the configuration needs fixing (nothing was read or written).
        RuntimeError: `refit` is False and no published model can be applied.
    """
    from cible.ml.segmentation.runner import new_run_id, run_segmentation

    config = prepare(config_path, warehouse_path)
    model = None
    if refit is not True:
        path = latest_model_path(warehouse_path)
        if path is not None and path.exists():
            try:
                model = load_model(path)
            except ValueError:
                if refit is False:
                    raise
        if refit is False and model is None:
            raise RuntimeError("no published segmentation model to apply: run with refit first")
        if refit is None and refit_reason(config, model) is not None:
            model = None
    features = read_features(config, warehouse_path)
    result = run_segmentation(
        features,
        config,
        run_id or new_run_id(),
        previous=read_previous_run(warehouse_path),
        model=model,
    )
    publish(result, warehouse_path, model_dir)
    return result
