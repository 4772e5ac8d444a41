"""Where Cible reads and writes, read from the environment in one place.

Two settings point Cible at a user's own data:

- ``CIBLE_LANDING_DIR``: the landing folder holding one file or folder per source
  (default ``data/landing`` in the project).
- ``CIBLE_WAREHOUSE``: the DuckDB file of the warehouse (default
  ``data/warehouse/cible.duckdb`` in the project). dbt's ``profiles.yml`` reads the same variable.

Relative paths are resolved against the project root, so every entry point (the CLI, dbt,
Dagster, the tests) agrees whatever the current directory.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
REFERENCE_SEEDS_DIR = PROJECT_ROOT / "seeds" / "reference"

LANDING_DIR_ENV = "CIBLE_LANDING_DIR"
WAREHOUSE_ENV = "CIBLE_WAREHOUSE"
TRUTH_DIR_ENV = "CIBLE_TRUTH_DIR"

RAW_SCHEMA = "raw"
PARQUET_MODE_ENV = "CIBLE_PARQUET_MODE"
PARQUET_MODES = ("attach", "copy")


def _resolve(value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (PROJECT_ROOT / path)


def landing_dir() -> Path:
    """The landing folder the loader reads (``CIBLE_LANDING_DIR``)."""
    return _resolve(os.environ.get(LANDING_DIR_ENV, "data/landing"))


def warehouse_path() -> Path:
    """The DuckDB warehouse file (``CIBLE_WAREHOUSE``)."""
    return _resolve(os.environ.get(WAREHOUSE_ENV, "data/warehouse/cible.duckdb"))


def truth_dir() -> Path:
    """Where the demo generator writes its truth files (never read by the pipeline)."""
    return _resolve(os.environ.get(TRUTH_DIR_ENV, "data/truth"))


def parquet_mode() -> str:
    """How the loader lands a source made only of Parquet files (``CIBLE_PARQUET_MODE``).

    ``attach`` (default): ``raw.<source>`` is a view over the files, read in place;
    ``copy``: the rows are copied into a table, so the files may be moved afterwards.
    """
    mode = os.environ.get(PARQUET_MODE_ENV, "attach").strip().lower()
    if mode not in PARQUET_MODES:
        raise ValueError(
            f"{PARQUET_MODE_ENV} must be one of {', '.join(PARQUET_MODES)}, not {mode!r}"
        )
    return mode


MODELS_DIR_ENV = "CIBLE_MODELS_DIR"


def models_dir() -> Path:
    """Where fitted models and their metadata are stored (``CIBLE_MODELS_DIR``)."""
    return _resolve(os.environ.get(MODELS_DIR_ENV, "data/models"))


SEGMENTATION_CONFIG_ENV = "CIBLE_SEGMENTATION_CONFIG"
SCORING_CONFIG_ENV = "CIBLE_SCORING_CONFIG"


def segmentation_config_path() -> Path:
    """The segmentation settings (``CIBLE_SEGMENTATION_CONFIG``, default
    ``config/segmentation.yml``); a run's ``config_path`` overrides it."""
    return _resolve(os.environ.get(SEGMENTATION_CONFIG_ENV, "config/segmentation.yml"))


def scoring_config_path() -> Path:
    """The scoring settings (``CIBLE_SCORING_CONFIG``, default ``config/scoring.yml``); a
    run's ``config_path`` overrides it."""
    return _resolve(os.environ.get(SCORING_CONFIG_ENV, "config/scoring.yml"))


ALERT_WEBHOOK_ENV = "CIBLE_ALERT_WEBHOOK"


def ops_dir() -> Path:
    """Where operations records (failed runs) are written (``CIBLE_OPS_DIR``)."""
    return _resolve(os.environ.get("CIBLE_OPS_DIR", "data/ops"))


def alert_webhook() -> str | None:
    """URL that receives a JSON POST when a run fails (``CIBLE_ALERT_WEBHOOK``), if any."""
    return os.environ.get(ALERT_WEBHOOK_ENV) or None
