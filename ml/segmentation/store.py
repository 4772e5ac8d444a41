"""Reading the features and the previous run from the warehouse, publishing a run to it.

A run holds one connection (:func:`cible.warehouse.connect`: one process at a time on the
DuckDB file) from its first read to its last write; the functions below take it. A run's
tables are appended to the `ml` schema in one transaction, keyed by ``run_id``, so history
survives and a crash never leaves half a run; a run that only repeats the latest one (same
data, settings and decision) replaces it in that transaction, so a rerun after a crash leaves
the history one uninterrupted run would have. The tables are declared once, as the
``segmentation`` source dbt reads them back from
(``dbt_project/models/staging/segmentation/_segmentation__sources.yml``): they are created,
ordered and checked from that declaration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
from cible.ml.segmentation.config import (
    DEFAULT_CONFIG_PATH,
    SegmentationConfig,
    load_segmentation_config,
)
from cible.ml.segmentation.identity import cluster_number
from cible.ml.segmentation.model import SegmentationModel
from cible.ml.segmentation.runner import PreviousRun, SegmentationResult, input_fingerprint
from cible.ml.segmentation.vocabulary import Vocabulary

from cible import settings, warehouse
from cible.contract import TableSpec, load_tables
from cible.privacy.consent import PROFILING_ALLOWED, profiling_allowed_sql, require_consent_state

ML_SCHEMA = "ml"
SOURCE_NAME = "segmentation"
FEATURES_RELATION = "marts.fct_customer_features"


def declared_tables() -> dict[str, TableSpec]:
    """The `ml` tables a run writes, as the ``segmentation`` source declares them."""
    return {
        name: spec
        for name, spec in load_tables(ML_SCHEMA).items()
        if spec.source_name == SOURCE_NAME
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


def feature_columns(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Columns of the features table with their kind (numeric, boolean, text, temporal).

    Raises:
        RuntimeError: the features table is not built yet.
    """
    schema, name = FEATURES_RELATION.split(".")
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, name],
    ).fetchall()
    if not rows:
        raise RuntimeError(
            f"{FEATURES_RELATION} does not exist: build the warehouse first (dbt build, or the "
            "warehouse assets)"
        )
    return {column: _kind(data_type) for column, data_type in rows}


def prepare(
    con: duckdb.DuckDBPyConnection, config_path: Path | str = DEFAULT_CONFIG_PATH
) -> SegmentationConfig:
    """The configuration, validated against the features table's columns (no data read).

    Raises:
        ConfigError: anything to fix in the configuration or the columns it names.
    """
    return load_segmentation_config(config_path, columns=feature_columns(con))


def read_features(
    con: duckdb.DuckDBPyConnection,
    config: SegmentationConfig,
    vocabulary: Vocabulary | None = None,
) -> pd.DataFrame:
    """The columns of the features table the configuration and the vocabulary need, one row
    per customer, and whether the consent state allows each to be profiled
    (`is_profiling_allowed`).

    Raises:
        ConsentStateError: there is no consent state to obey.
    """
    require_consent_state(con)
    documented = [c for trait in (vocabulary or {}).values() for c in (trait.column, trait.support)]
    present = feature_columns(con)
    columns = ["customer_id", "as_of_at", *config.required_columns()]
    columns += [column for column in documented if column in present]
    columns = list(dict.fromkeys(column for column in columns if column != PROFILING_ALLOWED))
    quoted = ", ".join(f'"{column}"' for column in columns)
    return con.execute(
        f"select {quoted}, {profiling_allowed_sql()} as {PROFILING_ALLOWED} "
        f"from {FEATURES_RELATION} order by customer_id"
    ).df()


def _latest_published(
    con: duckdb.DuckDBPyConnection, column: str, condition: str = "", params: list | None = None
):
    """`column` of the latest published run (meeting `condition`, with `params`), or None."""
    if not warehouse.table_exists(con, f"{ML_SCHEMA}.segment_runs"):
        return None
    rows = con.execute(
        f"select {column} from {ML_SCHEMA}.segment_runs where is_published {condition} "
        "order by started_at desc, run_id desc limit 1",
        params or [],
    ).fetchall()
    return rows[0][0] if rows else None


def read_previous_run(
    con: duckdb.DuckDBPyConnection, excluding: str | None = None
) -> PreviousRun | None:
    """The latest published run's memberships and the highest cluster number ever used;
    `excluding` a run that is being replaced, as if it had never happened."""
    other, params = ("", []) if excluding is None else ("and run_id <> ?", [excluding])
    run_id = _latest_published(con, "run_id", other, params)
    if run_id is None:
        return None
    assignments = con.execute(
        f"select customer_id, segment_id, segment_kind from {ML_SCHEMA}.segment_assignments "
        "where run_id = ?",
        [run_id],
    ).df()
    ids = con.execute(
        f"select distinct segment_id from {ML_SCHEMA}.segment_profiles "
        f"where segment_kind = 'cluster' {other}",
        params,
    ).df()["segment_id"]
    numbers = [n for n in (cluster_number(i) for i in ids) if n is not None]
    clusters = assignments[assignments["segment_kind"] == "cluster"]
    return PreviousRun(
        run_id=run_id,
        clusters=pd.Series(clusters["segment_id"].to_numpy(), index=clusters["customer_id"]),
        exclusive=pd.Series(assignments["segment_id"].to_numpy(), index=assignments["customer_id"]),
        highest_cluster_number=max(numbers, default=0),
    )


def latest_run(con: duckdb.DuckDBPyConnection) -> dict | None:
    """The latest run, published or not: what a new run compares itself with to know whether
    it repeats it (:func:`same_input`)."""
    if not warehouse.table_exists(con, f"{ML_SCHEMA}.segment_runs"):
        return None
    # Every column: a history an earlier Cible wrote has no `input_fingerprint` yet.
    rows = con.execute(
        f"select * from {ML_SCHEMA}.segment_runs order by started_at desc, run_id desc limit 1"
    ).df()
    return None if rows.empty else rows.iloc[0].to_dict()


def same_input(latest: dict | None, fingerprint: str, config: SegmentationConfig) -> bool:
    """Whether the latest run segmented the same data (`fingerprint`: :func:`input_fingerprint`
    of the features read) with the same settings: a new run on it is a rerun of it (after a
    killed daily run, a second `dbt build` with no new data, a step materialized twice)."""
    return (
        latest is not None
        and latest.get("input_fingerprint") == fingerprint
        and latest["config_fingerprint"] == config.fingerprint()
    )


def latest_model_path(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The model file of the latest published run that fitted one: in this home's model
    folder when it is there (`segment_runs` keeps the absolute path it was saved to, and a
    home copied or moved elsewhere reads its own files), else where it was saved."""
    path = _latest_published(con, "model_path", "and model_path is not null")
    if path is None:
        return None
    here = model_directory() / Path(path).name
    return here if here.is_file() else Path(path)


def publish(
    con: duckdb.DuckDBPyConnection,
    result: SegmentationResult,
    model_dir: Path | None = None,
    replacing: str | None = None,
) -> Path | None:
    """Save the model (when the run fitted one) and append the run's tables to the `ml` schema,
    all in one transaction; the rows of the run it `replac`es (a rerun on the same data) are
    deleted in the same transaction.

    Returns:
        The model file written, or None for a run that applied an existing model.

    Raises:
        ContractError: a table of the run does not match its declaration.
    """
    runs = result.tables["segment_runs"].copy()
    model_path = None
    if bool(runs["is_refit"].iloc[0]):
        model_path = (model_dir or model_directory()) / f"{result.run_id}.joblib"
        digest = result.model.save(model_path)
        runs["model_path"] = str(model_path)
        runs["model_sha256"] = digest
    tables = {**result.tables, "segment_runs": runs}
    con.execute("begin transaction")
    try:
        for name, spec in declared_tables().items():
            if replacing is not None and warehouse.table_exists(con, spec.relation):
                con.execute(f"delete from {spec.relation} where run_id = ?", [replacing])
            warehouse.append_declared(con, tables[name], spec)
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
    vocabulary: Vocabulary | None = None,
) -> SegmentationResult:
    """A whole run against the warehouse, on one connection: validate, read, segment, publish.

    The configuration is validated against the features table before any data is read.

    Args:
        refit: True fits a new model, False applies the latest published model as it is,
            None decides (:func:`refit_reason`).
        vocabulary: the documented features, profiled and named with their phrases
            (:mod:`ml.segmentation.vocabulary`).

    Raises:
        ConfigError: the configuration needs fixing (nothing was read or written).
        RuntimeError: no warehouse or features table yet, or `refit` is False and no
            published model can be applied.
    """
    path = Path(warehouse_path) if warehouse_path else settings.warehouse_path()
    if not path.exists():
        raise RuntimeError(
            f"no warehouse at {path}: build the warehouse first (dbt build, or the warehouse "
            "assets)"
        )
    with warehouse.connect(path) as con:
        return run_on(con, config_path, refit, run_id, model_dir, vocabulary)


def run_on(
    con: duckdb.DuckDBPyConnection,
    config_path: Path | str = DEFAULT_CONFIG_PATH,
    refit: bool | None = None,
    run_id: str | None = None,
    model_dir: Path | None = None,
    vocabulary: Vocabulary | None = None,
) -> SegmentationResult:
    """:func:`run_and_publish` on a connection the caller holds (a dbt Python model's)."""
    from cible.ml.segmentation.runner import new_run_id, run_segmentation

    config = prepare(con, config_path)
    features = read_features(con, config, vocabulary)
    fingerprint = input_fingerprint(features)
    last_run = latest_run(con)
    model = None
    if refit is not True:
        latest = latest_model_path(con)
        if latest is not None and latest.exists():
            try:
                model = load_model(latest)
            except ValueError:
                if refit is False:
                    raise
        if refit is False and model is None:
            raise RuntimeError("no published segmentation model to apply: run with refit first")
        if refit is None and refit_reason(config, model) is not None:
            model = None
    # One run per data, settings and decision: a run that repeats the latest one (the same
    # features and settings, and a refit again, or the same model applied again)
    # replaces it, so a rerun leaves the run history as one uninterrupted run would have.
    # (A fresh model applied to the data it was just fitted on is a new run: the weekly refit
    # then the daily run of the same day.)
    repeats = same_input(last_run, fingerprint, config)
    repeats = repeats and bool(last_run["is_refit"]) == (model is None)
    if repeats and model is not None:
        repeats = model.version == last_run["model_version"]
    replacing = last_run["run_id"] if repeats else None
    result = run_segmentation(
        features,
        config,
        run_id or new_run_id(),
        previous=read_previous_run(con, excluding=replacing),
        model=model,
        vocabulary=vocabulary,
        fingerprint=fingerprint,
    )
    result.summary["replaced_run_id"] = replacing
    saved = publish(con, result, model_dir, replacing=replacing)
    if replacing is not None and isinstance(last_run["model_path"], str):
        # The replaced run's model file, when it is this home's: nothing refers to it now.
        replaced = (model_dir or model_directory()) / Path(last_run["model_path"]).name
        if replaced.is_file() and replaced != saved:
            replaced.unlink()
    return result
