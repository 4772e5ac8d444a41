"""Where Cible reads and writes, read from the environment in one place.

Two settings point Cible at a user's own data:

- ``CIBLE_LANDING_DIR``: the landing folder holding one file or folder per source
  (default ``data/landing``).
- ``CIBLE_WAREHOUSE``: the DuckDB file of the warehouse (default
  ``data/warehouse/cible.duckdb``). dbt's ``profiles.yml`` reads the same variable.

Relative paths are resolved against Cible's home (``CIBLE_HOME``; by default the checkout when
Cible runs from one, else the folder it was started in), so every entry point (the CLI, dbt,
Dagster, the tests) agrees whatever the current directory.

What Cible ships beside its code (the dbt project, the seed CSVs, the default configs) is found
by :func:`resource`: in a checkout (an editable install) the top-level folders of the
repository; in an installed wheel the copies packaged inside ``cible/``.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# The repository root when Cible runs from a checkout (an editable install, the tests).
_CHECKOUT = PACKAGE_DIR.parent
IS_CHECKOUT = (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "dbt_project").is_dir()

HOME_ENV = "CIBLE_HOME"
LANDING_DIR_ENV = "CIBLE_LANDING_DIR"
WAREHOUSE_ENV = "CIBLE_WAREHOUSE"
TRUTH_DIR_ENV = "CIBLE_TRUTH_DIR"


def resource(name: str) -> Path:
    """A folder or file Cible ships (``dbt_project``, ``seeds``, ``config``).

    A wheel carries them inside the package (``cible/<name>``); a checkout keeps them at the
    top of the repository.
    """
    packaged = PACKAGE_DIR / name
    return packaged if packaged.exists() or not IS_CHECKOUT else _CHECKOUT / name


DBT_PROJECT_DIR = resource("dbt_project")
SEEDS_DIR = resource("seeds")
CONFIG_DIR = resource("config")


def home() -> Path:
    """The folder relative settings are resolved against (``CIBLE_HOME``)."""
    explicit = os.environ.get(HOME_ENV)
    if explicit:
        return Path(explicit).expanduser().resolve()
    return _CHECKOUT if IS_CHECKOUT else Path.cwd().resolve()


def dbt_target_dir() -> Path:
    """Where dbt writes its artifacts (the manifest Dagster reads): the project's ``target/`` in
    a checkout, ``data/dbt/target`` under the home for an installed wheel."""
    return DBT_PROJECT_DIR / "target" if IS_CHECKOUT else home() / "data" / "dbt" / "target"


def logs_dir() -> Path:
    """Where `cible run` and `cible demo` write Dagster's full output (``data/logs``)."""
    return home() / "data" / "logs"


def dagster_home() -> Path:
    """The Dagster instance folder (``DAGSTER_HOME`` if set, else ``.dagster`` under the home)."""
    explicit = os.environ.get("DAGSTER_HOME")
    return Path(explicit) if explicit else home() / ".dagster"


# The demo generator marks the landing folders it writes, so it never overwrites a user's data
# and the landing sensor leaves them to the demo assets.
DEMO_MARKER = ".cible_demo"
DEMO_ENV = "CIBLE_DEMO"


def demo_enabled() -> bool:
    """The demo generator is in the pipeline unless the user points Cible at their own data.

    On by default with the default landing folder, off once ``CIBLE_LANDING_DIR`` is set;
    ``CIBLE_DEMO=1`` or ``0`` decides explicitly.
    """
    explicit = os.environ.get(DEMO_ENV)
    if explicit is not None:
        return explicit.strip().lower() in {"1", "true", "yes"}
    return LANDING_DIR_ENV not in os.environ


AS_OF_ENV = "CIBLE_AS_OF"


def as_of_date() -> str | None:
    """The day features are computed as of (``CIBLE_AS_OF`` or ``cible run --as-of``,
    ``YYYY-MM-DD``); None: the dbt var's default, the day after the latest order or event."""
    value = os.environ.get(AS_OF_ENV, "").strip()
    if not value:
        return None
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise ValueError(
            f"{AS_OF_ENV} (cible run --as-of) must be a day as YYYY-MM-DD, not {value!r}"
        ) from None
    return value


EVENT_PARTITIONS_START_ENV = "CIBLE_EVENT_PARTITIONS_START"


def event_partitions_start() -> str:
    """The first daily event partition (``CIBLE_EVENT_PARTITIONS_START``, ``YYYY-MM-DD``).

    Where the daily partitions start in the Dagster UI, nothing more: the first partition
    also processes every event before it (orchestration/partitions.py), so a history older
    than this day is never left out.
    """
    value = os.environ.get(EVENT_PARTITIONS_START_ENV, "2025-10-01").strip()
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise ValueError(
            f"{EVENT_PARTITIONS_START_ENV} must be a day as YYYY-MM-DD (your first event day), "
            f"not {value!r}"
        ) from None
    return value


EVENT_LOOKBACK_ENV = "CIBLE_EVENT_LOOKBACK_DAYS"


def event_lookback_days() -> int:
    """Days before a daily event partition that its run processes again
    (``CIBLE_EVENT_LOOKBACK_DAYS``, default 3), so events arriving late by up to that many
    days are merged by the next daily run."""
    value = os.environ.get(EVENT_LOOKBACK_ENV, "3").strip()
    if not value.isdigit() or int(value) > 366:
        raise ValueError(
            f"{EVENT_LOOKBACK_ENV} must be a whole number of days from 0 to 366 (how late an "
            f"event may arrive and still be merged by the daily run), not {value!r}"
        )
    return int(value)


RAW_SCHEMA = "raw"
PARQUET_MODE_ENV = "CIBLE_PARQUET_MODE"
PARQUET_MODES = ("attach", "copy")


def _resolve(value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (home() / path)


def landing_dir() -> Path:
    """The landing folder the loader reads (``CIBLE_LANDING_DIR``)."""
    return _resolve(os.environ.get(LANDING_DIR_ENV, "data/landing"))


def warehouse_path(value: str | None = None) -> Path:
    """The DuckDB warehouse file: ``value`` when given (a Dagster resource's setting), else
    ``CIBLE_WAREHOUSE``; relative paths resolved against the home."""
    return _resolve(value or os.environ.get(WAREHOUSE_ENV, "data/warehouse/cible.duckdb"))


PRIVACY_KEY_ENV = "CIBLE_PRIVACY_KEY"
PRIVACY_KEY_FILE_ENV = "CIBLE_PRIVACY_KEY_FILE"
# The demo's key file, created by `cible demo` when no key is set; a user sets one of the two
# settings above instead (docs/privacy.md).
DEMO_PRIVACY_KEY_FILE = "data/secrets/privacy.key"


def privacy_key_file() -> tuple[Path, bool]:
    """The file holding the suppression list's HMAC key, and whether the user named it
    (``CIBLE_PRIVACY_KEY_FILE``) rather than it being the demo's default."""
    explicit = os.environ.get(PRIVACY_KEY_FILE_ENV)
    return _resolve(explicit or DEMO_PRIVACY_KEY_FILE), bool(explicit)


PRIVACY_CONFIG_ENV = "CIBLE_PRIVACY_CONFIG"


def privacy_config_path() -> Path:
    """The privacy settings (``CIBLE_PRIVACY_CONFIG``, default ``config/privacy.yml``)."""
    return _resolve(os.environ.get(PRIVACY_CONFIG_ENV, str(CONFIG_DIR / "privacy.yml")))


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


SOURCES_CONFIG_ENV = "CIBLE_SOURCES_CONFIG"
ACCEPT_SHRINK_ENV = "CIBLE_ACCEPT_SHRINK"


def accept_shrink() -> bool:
    """Load a required source even when it is empty or shrank past the guard
    (``CIBLE_ACCEPT_SHRINK=1``, or ``--accept-shrink`` on ``cible run`` and ``cible load``)."""
    return os.environ.get(ACCEPT_SHRINK_ENV, "").strip().lower() in {"1", "true", "yes"}


def sources_config_path() -> Path:
    """How the landing files are written (``CIBLE_SOURCES_CONFIG``, default
    ``config/sources.yml``)."""
    return _resolve(os.environ.get(SOURCES_CONFIG_ENV, str(CONFIG_DIR / "sources.yml")))


def segmentation_config_path() -> Path:
    """The segmentation settings (``CIBLE_SEGMENTATION_CONFIG``, default
    ``config/segmentation.yml``); a run's ``config_path`` overrides it."""
    return _resolve(os.environ.get(SEGMENTATION_CONFIG_ENV, str(CONFIG_DIR / "segmentation.yml")))


def scoring_config_path() -> Path:
    """The scoring settings (``CIBLE_SCORING_CONFIG``, default ``config/scoring.yml``); a
    run's ``config_path`` overrides it."""
    return _resolve(os.environ.get(SCORING_CONFIG_ENV, str(CONFIG_DIR / "scoring.yml")))


AUDIENCES_CONFIG_ENV = "CIBLE_AUDIENCES_CONFIG"
EXPORTS_DIR_ENV = "CIBLE_EXPORTS_DIR"
ACTIVATION_KEY_ENV = "CIBLE_ACTIVATION_KEY"
ACTIVATION_KEY_FILE_ENV = "CIBLE_ACTIVATION_KEY_FILE"
# The demo's key of the hashed identifiers sent to ad platforms, created by `cible demo` when
# no key is set. Not the privacy key: it is shared with the ad platforms (docs/activation.md).
DEMO_ACTIVATION_KEY_FILE = "data/secrets/activation.key"


def audiences_config_path() -> Path:
    """The audiences (``CIBLE_AUDIENCES_CONFIG``, default ``config/audiences.yml``)."""
    return _resolve(os.environ.get(AUDIENCES_CONFIG_ENV, str(CONFIG_DIR / "audiences.yml")))


def exports_dir() -> Path:
    """Where audience files are written (``CIBLE_EXPORTS_DIR``, default ``data/exports``)."""
    return _resolve(os.environ.get(EXPORTS_DIR_ENV, "data/exports"))


def activation_key_file() -> tuple[Path, bool]:
    """The file holding the key of hashed identifiers, and whether the user named it."""
    explicit = os.environ.get(ACTIVATION_KEY_FILE_ENV)
    return _resolve(explicit or DEMO_ACTIVATION_KEY_FILE), bool(explicit)


ALERT_WEBHOOK_ENV = "CIBLE_ALERT_WEBHOOK"


def ops_dir() -> Path:
    """Where operations records (failed runs) are written (``CIBLE_OPS_DIR``)."""
    return _resolve(os.environ.get("CIBLE_OPS_DIR", "data/ops"))


def alert_webhook() -> str | None:
    """URL that receives a JSON POST when a run fails (``CIBLE_ALERT_WEBHOOK``), if any."""
    return os.environ.get(ALERT_WEBHOOK_ENV) or None


# Live segments (cible/live, docs/live.md): the broker and the online store are the user's own
# services, one URL each; the other live knobs are in config/live.yml (CIBLE_LIVE_CONFIG).
BROKER_URL_ENV = "CIBLE_BROKER_URL"
REDIS_URL_ENV = "CIBLE_REDIS_URL"
LIVE_CONFIG_ENV = "CIBLE_LIVE_CONFIG"


def broker_url() -> str:
    """The RabbitMQ the live path publishes to and consumes from (``CIBLE_BROKER_URL``)."""
    return os.environ.get(BROKER_URL_ENV, "amqp://guest:guest@127.0.0.1:5672/")


def redis_url() -> str:
    """The Redis holding the live state, the online store (``CIBLE_REDIS_URL``)."""
    return os.environ.get(REDIS_URL_ENV, "redis://127.0.0.1:6379/0")


def live_config_path() -> Path:
    """The live settings (``CIBLE_LIVE_CONFIG``, default ``config/live.yml``)."""
    return _resolve(os.environ.get(LIVE_CONFIG_ENV, str(CONFIG_DIR / "live.yml")))


PUBLISHED_DIR_ENV = "CIBLE_PUBLISHED_DIR"


def published_dir() -> Path:
    """Where the BI copy of the marts and the dashboard are published (``CIBLE_PUBLISHED_DIR``,
    default ``data/published``; docs/bi.md)."""
    return _resolve(os.environ.get(PUBLISHED_DIR_ENV, "data/published"))


DBT_APPLIES_MODELS_ENV = "CIBLE_DBT_APPLIES_MODELS"


def dbt_applies_models() -> bool:
    """Whether `dbt build`'s Python models apply the published segmentation and scoring models
    (`cible.applied`); Dagster's steps set ``CIBLE_DBT_APPLIES_MODELS=0`` for the dbt build that
    follows their own application."""
    return os.environ.get(DBT_APPLIES_MODELS_ENV, "1").strip().lower() not in {"0", "false", "no"}
