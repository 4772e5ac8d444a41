"""A load: each source's files found first, then each source replaced in its own transaction."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from cible import settings
from cible.contract import LOAD_METADATA_COLUMNS, SourceSpec, load_contract
from cible.loader.common import Context, FileJob, LoadError, first_line, ident, relative
from cible.loader.csv import load_csv
from cible.loader.discovery import discover, format_of, select_sources
from cible.loader.jsonl import load_jsonl
from cible.loader.lines import SCAN_TABLES
from cible.loader.parquet import attached_select, load_parquet
from cible.loader.reports import (
    FILES_TABLE,
    REJECTS_TABLE,
    FileReport,
    LoadReport,
    SourceReport,
    clear_rejects,
    create_log_tables,
    log_file,
    source_report,
)
from cible.loader.source_settings import load_sources_config
from cible.privacy import fingerprints, suppression
from cible.warehouse import WarehouseNameError, connect, display
from cible.yaml_config import ConfigError

MEMORY_LIMIT = "3GB"
_READERS = {"csv": load_csv, "jsonl": load_jsonl, "parquet": load_parquet}
_METADATA_TYPES = ("varchar", "bigint", "timestamp", "varchar")
_TEMP_TABLES = (
    "_cible_parsed",
    *SCAN_TABLES,
    "_cible_bad",
    "_cible_accepted",
    "_cible_json",
    "_cible_rejects",
    "_cible_rejects_scan",
)


def load_landing(
    landing_dir: Path | None = None,
    warehouse: Path | None = None,
    sources: Iterable[str] | None = None,
    contract: Mapping[str, SourceSpec] | None = None,
    sources_config: Path | None = None,
    accept_shrink: bool | None = None,
) -> LoadReport:
    """Load landing files into ``raw.<source>`` tables, one full reload per source.

    Args:
        landing_dir: the landing folder; defaults to ``settings.landing_dir()``.
        warehouse: the DuckDB file; defaults to ``settings.warehouse_path()``.
        sources: landing names to reload (others are left untouched); defaults to all.
        contract: the source contract; defaults to :func:`cible.contract.load_contract`.
        sources_config: how the files are written; defaults to ``config/sources.yml``
            (``CIBLE_SOURCES_CONFIG``), every setting ``auto`` when absent.
        accept_shrink: load a required source that is empty or shrank past the guard, and
            record it in the warnings; defaults to ``settings.accept_shrink()``.

    Returns:
        A :class:`LoadReport` of files, rows loaded and rejected, and warnings.

    Raises:
        LoadError: a required source or column is missing, a file cannot be read, or a
            required source is empty or shrank past ``guards.max_shrink_share`` (unless
            ``accept_shrink``). All sources are loaded in one transaction: after an error the
            warehouse is as it was.
    """
    landing = Path(landing_dir) if landing_dir is not None else settings.landing_dir()
    path = Path(warehouse) if warehouse is not None else settings.warehouse_path()
    contract = contract if contract is not None else load_contract()
    try:
        formats = load_sources_config(sources_config)
        formats.check(contract)
    except ConfigError as error:
        raise LoadError(str(error)) from error
    specs = select_sources(contract, sources)
    # Find every source's files before writing anything, so that a missing required source
    # stops the load before it starts.
    try:
        found = {spec.landing: discover(landing, spec) for spec in specs}
    except OSError as error:
        raise LoadError(f"cannot read the landing folder {display(landing)}: {error}") from error
    loaded: list[SourceReport] = []
    with ExitStack() as stack:
        # Only opening the warehouse is guarded here: errors of a source's load carry its name.
        try:
            con = stack.enter_context(connect(path, memory_limit=MEMORY_LIMIT))
        except WarehouseNameError as error:
            raise LoadError(str(error)) from error
        except (OSError, duckdb.Error) as error:
            raise LoadError(f"cannot open the warehouse {display(path)}: {error}") from error
        create_log_tables(con)
        context = Context(
            landing=landing,
            load_id=str(uuid.uuid4()),
            loaded_at=datetime.now(UTC).replace(tzinfo=None),
            formats=formats,
            suppressed=_suppression_scan(con, stack),
        )
        # One transaction for every source: a refused file or guard leaves the warehouse as
        # it was, never some sources reloaded and others not (#16, point 7).
        con.begin()
        try:
            for spec in specs:
                paths, warnings = found[spec.landing]
                loaded.append(_replace_source(con, context, spec, paths, warnings))
            loaded = _guard(con, context, specs, loaded, accept_shrink)
            con.commit()
        except LoadError as error:
            con.rollback()
            raise LoadError(f"{error}\nNothing was loaded: the warehouse is as it was.") from error
        except BaseException:
            con.rollback()
            raise
    return LoadReport(
        load_id=context.load_id,
        loaded_at=context.loaded_at,
        landing_dir=landing,
        warehouse=path,
        sources=tuple(loaded),
    )


def _suppression_scan(con: duckdb.DuckDBPyConnection, stack: ExitStack) -> suppression.Scan | None:
    """The scan for the erased persons' fingerprints (one for the whole load), when the list
    holds any."""
    suppressed = suppression.read(con)
    if not suppressed:
        return None
    try:
        key = fingerprints.load_key(
            "the suppression list (erased persons kept out at load)", "Nothing was loaded."
        )
    except fingerprints.PrivacyKeyError as error:
        raise LoadError(str(error)) from error
    owner = {digest: kind for kind, digests in suppressed.items() for digest in digests}
    return stack.enter_context(suppression.Scan(con, owner, key))


def _replace_source(
    con: duckdb.DuckDBPyConnection,
    context: Context,
    spec: SourceSpec,
    paths: Sequence[Path],
    warnings: Sequence[str],
) -> SourceReport:
    """Replace ``raw.<source>`` and the source's rejects with its files (inside the load's
    transaction).

    A source made only of Parquet files becomes a view over them (or a copy of it, see
    :func:`cible.loader.parquet.attached_select`); any other is a table of text columns
    filled file by file.
    """
    table = f"{ident(settings.RAW_SCHEMA)}.{ident(spec.landing)}"
    attached = bool(paths) and all(format_of(path) == "parquet" for path in paths)
    select, files = attached_select(con, context, spec, paths) if attached else (None, [])
    relation = "view" if attached and settings.parquet_mode() == "attach" else "table"
    current: Path | None = None
    try:
        _drop_raw_relation(con, spec.landing)
        clear_rejects(con, spec.landing)
        kind = None
        if select is not None:
            con.execute(f"create {relation} {table} as {select}")
            kind = f"parquet ({'attached' if relation == 'view' else 'copied'})"
        else:
            columns = [f"{ident(name)} varchar" for name in spec.column_names]
            columns += [
                f"{name} {sql_type}"
                for name, sql_type in zip(LOAD_METADATA_COLUMNS, _METADATA_TYPES, strict=True)
            ]
            con.execute(f"create table {table} ({', '.join(columns)})")
            for path in paths:
                current = path
                job = FileJob(con, context, spec, table, path, relative(context.landing, path))
                files.append(_load_file(job))
            _drop_temp_tables(con)
        current = None
        files, note = _suppress(con, context, spec, table, select, relation, files)
        warnings = [*warnings, *note]
        for report in files:
            log_file(con, context, spec.landing, report, kind)
    except (duckdb.Error, OSError, EOFError) as error:
        where = relative(context.landing, current) if current is not None else spec.landing
        raise LoadError(f"{where}: {first_line(error)}") from error
    return source_report(spec.landing, bool(paths), files, warnings)


def _suppress(
    con: duckdb.DuckDBPyConnection,
    context: Context,
    spec: SourceSpec,
    table: str,
    select: str | None,
    relation: str,
    files: list[FileReport],
) -> tuple[list[FileReport], list[str]]:
    """Keep erased persons out of a source just written: their rows and rejected lines are
    removed and counted per file as suppressed.

    Parquet attached in place cannot be edited (they are the user's files): a source whose files
    still hold erased persons is copied instead, without them, and the files are named.
    """
    columns = suppression.identifier_columns(spec.column_names)
    scan = context.suppressed
    if scan is None:
        return files, []
    note: list[str] = []
    if relation == "view" and columns and suppression.matching_values(scan, table, columns):
        con.execute(f"drop view {table}")
        con.execute(f"create table {table} as {select}")
    counts = suppression.suppress_rows(scan, table, columns) if columns else {}
    if relation == "view" and counts:
        note.append(
            f"{sum(counts.values()):,} rows of erased persons are still in the landing files"
            f" {', '.join(sorted(counts))}: Cible keeps them out at every load (this load"
            " copied the source instead of attaching it); delete them in the system that"
            " exports these files"
        )
    rejected = _suppress_rejects(con, context, spec)
    updated = []
    for report in files:
        removed, lines = counts.get(report.source_file, 0), rejected.get(report.source_file, 0)
        if removed or lines:
            report = dataclasses.replace(
                report,
                rows_loaded=report.rows_loaded - removed,
                rows_rejected=report.rows_rejected - lines,
                rows_suppressed=report.rows_suppressed + removed + lines,
            )
        updated.append(report)
    return updated, note


def _suppress_rejects(
    con: duckdb.DuckDBPyConnection, context: Context, spec: SourceSpec
) -> dict[str, int]:
    """Remove this load's rejected lines of the source that name an erased person."""
    rejects = f"{ident(settings.RAW_SCHEMA)}.{ident(REJECTS_TABLE)}"
    rows = con.execute(
        f"select rowid, source_file, payload from {rejects} where source = ? and load_id = ?",
        [spec.landing, context.load_id],
    ).fetchall()
    scan = context.suppressed
    assert scan is not None
    hits = [(rowid, file) for rowid, file, payload in rows if scan.line_owner(payload) is not None]
    counts: dict[str, int] = {}
    for rowid, file in hits:
        con.execute(f"delete from {rejects} where rowid = ?", [rowid])
        counts[file] = counts.get(file, 0) + 1
    return counts


def _guard(
    con: duckdb.DuckDBPyConnection,
    context: Context,
    specs: Sequence[SourceSpec],
    loaded: list[SourceReport],
    accept: bool | None,
) -> list[SourceReport]:
    """Refuse a load where a required source is empty or shrank past the guard (a failed
    upstream export, most likely), or record the override in its warnings."""
    share = context.formats.guards.max_shrink_share
    required = {spec.landing for spec in specs if spec.required}
    problems: dict[str, str] = {}
    for report in loaded:
        if report.name not in required:
            continue
        files = ", ".join(file.source_file for file in report.files)
        previous = _previous_rows(con, context, report.name)
        if report.rows_loaded == 0:
            problems[report.name] = (
                f"{report.name}: no row in {files} (an empty or header-only file: a failed "
                "export?)" + (f", {previous:,} rows at the last load" if previous else "")
            )
        elif previous and report.rows_loaded < previous * (1 - share):
            problems[report.name] = (
                f"{report.name}: {report.rows_loaded:,} rows in {files}, down from "
                f"{previous:,} at the last load (-{1 - report.rows_loaded / previous:.0%}, more "
                f"than guards.max_shrink_share {share:.0%} in config/sources.yml)"
            )
    if not problems:
        return loaded
    accept = settings.accept_shrink() if accept is None else accept
    if not accept:
        raise LoadError(
            "a required source looks like a failed export, so the load was refused:\n  - "
            + "\n  - ".join(problems.values())
            + f"\nIf the data really is so, run again with --accept-shrink (or "
            f"{settings.ACCEPT_SHRINK_ENV}=1)."
        )
    raw = f"{ident(settings.RAW_SCHEMA)}.{ident(FILES_TABLE)}"
    reports = []
    for report in loaded:
        note = problems.get(report.name)
        if note is not None:
            note = f"accepted with --accept-shrink: {note.split(': ', 1)[1]}"
            con.execute(
                f"update {raw} set warnings = coalesce(warnings || chr(10), '') || ? "
                "where load_id = ? and source = ?",
                [note, context.load_id, report.name],
            )
            report = replace(report, warnings=(*report.warnings, note))
        reports.append(report)
    return reports


def _previous_rows(con: duckdb.DuckDBPyConnection, context: Context, source: str) -> int:
    """Rows the latest earlier load of ``source`` gave (0 if none)."""
    raw = f"{ident(settings.RAW_SCHEMA)}.{ident(FILES_TABLE)}"
    (rows,) = con.execute(
        f"""
        select coalesce(sum(rows_loaded), 0) from {raw}
        where source = ? and loaded_at = (
            select max(loaded_at) from {raw} where source = ? and load_id <> ?
        )
        """,
        [source, source, context.load_id],
    ).fetchall()[0]
    return int(rows)


def _drop_raw_relation(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop ``raw.<name>`` whether a previous load made it a table or a view."""
    kinds = con.execute(
        "select table_type from information_schema.tables where table_schema = ? "
        "and table_name = ?",
        [settings.RAW_SCHEMA, name],
    ).fetchall()
    for (kind,) in kinds:
        relation = "view" if kind == "VIEW" else "table"
        con.execute(f"drop {relation} {ident(settings.RAW_SCHEMA)}.{ident(name)}")


def _load_file(job: FileJob) -> FileReport:
    fmt = format_of(job.path)
    size = job.path.stat().st_size
    _drop_temp_tables(job.con)
    if size == 0:
        return FileReport(job.relative, fmt, 0, 0, 0, 0, ("empty file",), lines_in_file=0)
    # Parquet rows carry their own row number; CSV and JSONL lines get theirs from the order
    # in which they are stored, which holds only while DuckDB preserves insertion order.
    job.con.execute(f"set preserve_insertion_order = {str(fmt != 'parquet').lower()}")
    counts = _READERS[fmt](job)
    return FileReport(
        job.relative,
        fmt,
        size,
        counts.rows_in_file,
        counts.rows_loaded,
        counts.rows_rejected,
        tuple(counts.warnings),
        lines_in_file=counts.lines_in_file,
    )


def _drop_temp_tables(con: duckdb.DuckDBPyConnection) -> None:
    for name in _TEMP_TABLES:
        con.execute(f"drop table if exists temp.main.{name}")
