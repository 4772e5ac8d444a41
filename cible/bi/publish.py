"""The BI read path: the marts BI tools read, copied to their own DuckDB file, swapped atomically.

A BI tool connected to the warehouse would block the run (DuckDB admits one writer and no
reader beside it) or see a half-built run. So at the end of a successful run the marts tagged
``meta: {published: true}`` in dbt are copied, in the run's own connection, into a new file
next to the published one, which then replaces it with one ``os.replace``. A reader that has
the old file open keeps reading the old run (its inode stays until it closes); a new
connection opens the new run. Nothing here writes the published file in place. See docs/bi.md.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from cible import settings
from cible.files import replace_durably
from cible.warehouse import table_exists

PUBLISHED_FILE = "cible_bi.duckdb"
# Bookkeeping tables of the published copy (schema `main`): which run it holds, and what.
RUN_TABLE = "_published_run"
RELATIONS_TABLE = "_published_relations"
META_KEY = "published"
# The catalog name the new copy is attached under in the run's connection.
_CATALOG = "cible_bi_publishing"


class PublishError(Exception):
    """A publish that cannot be made; the published copy is left as it was."""


@dataclass(frozen=True)
class PublishedModel:
    """A dbt model tagged for the BI copy, and where it is in the warehouse."""

    name: str
    schema: str
    alias: str

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.alias}"


@dataclass
class Published:
    """What one publish did."""

    path: Path
    run_id: str
    scoring_run_id: str | None
    segment_run_id: str | None
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def published_path() -> Path:
    """The published copy (``<CIBLE_PUBLISHED_DIR>/cible_bi.duckdb``)."""
    return settings.published_dir() / PUBLISHED_FILE


def published_models(manifest: Mapping) -> list[PublishedModel]:
    """The models whose dbt config carries ``meta: {published: true}``, by name.

    Adding a mart to the BI copy is that one line of YAML on the model.
    """
    models = [
        PublishedModel(node["name"], node["schema"], node.get("alias") or node["name"])
        for node in manifest.get("nodes", {}).values()
        if node.get("resource_type") == "model"
        and (node.get("config", {}).get("meta") or {}).get(META_KEY) is True
    ]
    return sorted(models, key=lambda model: model.name)


def load_manifest(path: Path) -> dict:
    """The dbt manifest (written by `cible.dbt_cli.parse_project`)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PublishError(
            f"the dbt manifest {path} is missing: run `dbt parse` (the CLI and `make dev` do) "
            "before publishing"
        ) from None


def _scalar(con: duckdb.DuckDBPyConnection, relation: str, sql: str) -> str | None:
    if not table_exists(con, relation):
        return None
    value = con.execute(sql).fetchall()[0][0]
    return None if value is None else str(value)


def publish(
    con: duckdb.DuckDBPyConnection,
    models: Sequence[PublishedModel],
    target: Path,
    run_id: str,
) -> Published:
    """Copy ``models`` from the warehouse of ``con`` into a new file and swap it over ``target``.

    Args:
        con: a connection to the warehouse (the run's; the caller holds the warehouse lock).
        models: what to copy (:func:`published_models`).
        target: the published file; replaced atomically, never written in place.
        run_id: the run publishing (Dagster's run id), recorded in ``_published_run``.

    Raises:
        PublishError: a model to publish is missing from the warehouse; nothing was swapped.
    """
    started = time.perf_counter()
    missing = [model.relation for model in models if not table_exists(con, model.relation)]
    if missing:
        raise PublishError(
            f"cannot publish the BI copy: {', '.join(missing)} not in the warehouse (tagged "
            f"`meta: {{{META_KEY}: true}}` in dbt); build them first, or remove the tag. The "
            f"published copy {target} still holds the previous run."
        )
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_path(target)
    outcome = Published(
        path=target,
        run_id=run_id,
        scoring_run_id=_scalar(
            con,
            "marts.fct_customer_scores",
            "select max(scoring_run_id) from marts.fct_customer_scores",
        ),
        segment_run_id=_scalar(
            con,
            "marts.dim_segment_runs",
            "select max(run_id) from marts.dim_segment_runs where is_current",
        ),
    )
    quoted = str(staging).replace("'", "''")
    con.execute(f"attach '{quoted}' as {_CATALOG}")
    try:
        for model in models:
            con.execute(f'create schema if not exists {_CATALOG}."{model.schema}"')
            con.execute(
                f'create table {_CATALOG}."{model.schema}"."{model.alias}" as '
                f'select * from "{model.schema}"."{model.alias}"'
            )
            outcome.rows[model.relation] = int(
                con.execute(
                    f'select count(*) from {_CATALOG}."{model.schema}"."{model.alias}"'
                ).fetchall()[0][0]
            )
        published_at = datetime.now(UTC).replace(tzinfo=None)
        con.execute(
            f"create table {_CATALOG}.main.{RUN_TABLE} as select ? as run_id, "
            "? as scoring_run_id, ? as segment_run_id, ?::timestamp as published_at",
            [run_id, outcome.scoring_run_id, outcome.segment_run_id, published_at],
        )
        con.execute(
            f"create table {_CATALOG}.main.{RELATIONS_TABLE} "
            "(relation varchar, model varchar, row_count bigint)"
        )
        con.executemany(
            f"insert into {_CATALOG}.main.{RELATIONS_TABLE} values (?, ?, ?)",
            [[model.relation, model.name, outcome.rows[model.relation]] for model in models],
        )
        con.execute(f"checkpoint {_CATALOG}")
    except BaseException:
        con.execute(f"detach {_CATALOG}")
        staging.unlink(missing_ok=True)
        raise
    con.execute(f"detach {_CATALOG}")
    swap(staging, target)
    outcome.seconds = time.perf_counter() - started
    return outcome


def staging_path(target: Path) -> Path:
    """A new file beside ``target``, written whole before :func:`swap` makes it the target."""
    return target.with_name(f"{target.name}.tmp-{uuid.uuid4().hex[:12]}")


def leftover_files(target: Path) -> list[Path]:
    """Staging files a crashed publish or purge left beside ``target`` (whole or torn copies
    of the marts); only meaningful under the warehouse lock, which every writer holds."""
    return sorted(Path(target).parent.glob(f"{Path(target).name}.tmp-*"))


def swap(staging: Path, target: Path) -> None:
    """Make ``staging`` the ``target`` in one step, durable before and after the rename."""
    # A leftover write-ahead log of an older copy would be replayed into the new file.
    target.with_name(target.name + ".wal").unlink(missing_ok=True)
    replace_durably(staging, target)


def read_published_run(path: Path | None = None) -> dict | None:
    """The run the published copy holds (``_published_run``), None before the first publish."""
    path = Path(path) if path is not None else published_path()
    if not path.exists():
        return None
    with duckdb.connect(str(path), read_only=True) as con:
        frame = con.execute(f"select * from main.{RUN_TABLE}").df()
    return frame.iloc[0].to_dict() if len(frame) else None
