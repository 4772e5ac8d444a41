"""What a load reports: to the caller (:class:`LoadReport` and its parts) and in the warehouse,
where every file read is logged in ``raw._load_files`` and every line refused in
``raw._load_rejects``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from cible import settings
from cible.loader.common import Context, FileJob, LoadError, first_line, ident
from cible.warehouse import display

REJECTS_TABLE = "_load_rejects"
FILES_TABLE = "_load_files"


@dataclass(frozen=True)
class FileReport:
    """What one file gave.

    ``rows_in_file`` is counted independently of the parse (for a CSV, the physical lines of
    a byte scan, ``lines_in_file``, less the header, blank lines and the rest of quoted fields
    over several lines; non-blank lines of a JSONL; rows of a Parquet file), so
    ``reconciled`` proves that no row was lost. ``rows_suppressed`` are rows of erased
    persons the suppression list kept out (cible.privacy.suppression).
    """

    source_file: str
    file_format: str
    bytes: int
    rows_in_file: int
    rows_loaded: int
    rows_rejected: int
    warnings: tuple[str, ...] = ()
    rows_suppressed: int = 0
    lines_in_file: int | None = None

    @property
    def reconciled(self) -> bool:
        return self.rows_in_file == self.rows_loaded + self.rows_rejected + self.rows_suppressed


@dataclass(frozen=True)
class SourceReport:
    """What one source gave: its files, row counts and warnings."""

    name: str
    table: str
    found: bool
    files: tuple[FileReport, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def rows_loaded(self) -> int:
        return sum(file.rows_loaded for file in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(file.rows_rejected for file in self.files)

    @property
    def rows_suppressed(self) -> int:
        return sum(file.rows_suppressed for file in self.files)

    @property
    def rows_in_files(self) -> int:
        return sum(file.rows_in_file for file in self.files)

    @property
    def reconciled(self) -> bool:
        return all(file.reconciled for file in self.files)


@dataclass(frozen=True)
class LoadReport:
    """The outcome of :func:`~cible.loader.load_landing`: the sources reloaded, in order, and
    totals."""

    load_id: str
    loaded_at: datetime
    landing_dir: Path
    warehouse: Path
    sources: tuple[SourceReport, ...] = ()

    def source(self, name: str) -> SourceReport:
        """The report of one source; KeyError if this load did not reload it."""
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(name)

    @property
    def files(self) -> int:
        return sum(len(source.files) for source in self.sources)

    @property
    def rows_loaded(self) -> int:
        return sum(source.rows_loaded for source in self.sources)

    @property
    def rows_rejected(self) -> int:
        return sum(source.rows_rejected for source in self.sources)

    @property
    def rows_suppressed(self) -> int:
        return sum(source.rows_suppressed for source in self.sources)

    @property
    def warnings(self) -> list[str]:
        return [
            f"{source.name}: {warning}" for source in self.sources for warning in source.warnings
        ]

    @property
    def reconciled(self) -> bool:
        """Every CSV and JSONL file gave as many rows loaded and rejected as it holds."""
        return all(source.reconciled for source in self.sources)

    def summary(self) -> str:
        """A short text table of the load, for a terminal."""
        width = max([len("source"), *(len(source.name) for source in self.sources)])
        lines = [
            f"Load {self.load_id} at {self.loaded_at:%Y-%m-%d %H:%M:%S} UTC",
            f"  from {display(self.landing_dir)} into {display(self.warehouse)}",
            f"  {'source':<{width}}  {'files':>5}  {'rows loaded':>12}  {'rejected':>9}",
        ]
        for source in self.sources:
            note = "" if source.found else "  (not found: empty table)"
            lines.append(
                f"  {source.name:<{width}}  {len(source.files):>5}  {source.rows_loaded:>12,}"
                f"  {source.rows_rejected:>9,}{note}"
            )
        lines.append(
            f"  {'total':<{width}}  {self.files:>5}  {self.rows_loaded:>12,}"
            f"  {self.rows_rejected:>9,}"
        )
        if self.rows_rejected:
            lines.append(f"Rejected lines are in {settings.RAW_SCHEMA}.{REJECTS_TABLE}.")
        if self.rows_suppressed:
            lines.append(
                f"{self.rows_suppressed:,} rows of erased persons were kept out by the"
                " suppression list (counted per file in"
                f" {settings.RAW_SCHEMA}.{FILES_TABLE}.rows_suppressed)."
            )
        if not self.reconciled:
            lines.append(
                "Some files do not reconcile (rows in file <> loaded + rejected + suppressed)."
            )
        if self.warnings:
            lines.append("Warnings:")
            lines += [f"  - {warning}" for warning in self.warnings]
        return "\n".join(lines)


def source_report(
    name: str, found: bool, files: list[FileReport], warnings: tuple[str, ...] | list[str]
) -> SourceReport:
    """A source's report: its own warnings, then each file's, prefixed with the file."""
    file_warnings = [
        f"{file.source_file}: {warning}" for file in files for warning in file.warnings
    ]
    return SourceReport(
        name=name,
        table=f"{settings.RAW_SCHEMA}.{name}",
        found=found,
        files=tuple(files),
        warnings=(*warnings, *file_warnings),
    )


def create_log_tables(con: duckdb.DuckDBPyConnection) -> None:
    raw = ident(settings.RAW_SCHEMA)
    statements = [
        f"create schema if not exists {raw}",
        f"""
        create table if not exists {raw}.{REJECTS_TABLE} (
            load_id varchar, source varchar, source_file varchar, source_line bigint,
            reason varchar, error_detail varchar, payload varchar, loaded_at timestamp
        )""",
        f"""
        create table if not exists {raw}.{FILES_TABLE} (
            load_id varchar, source varchar, source_file varchar, file_format varchar,
            rows_loaded bigint, rows_rejected bigint, bytes bigint, loaded_at timestamp,
            warnings varchar
        )""",
        # Added with the suppression list; a warehouse from an earlier Cible gains it.
        f"alter table {raw}.{FILES_TABLE} add column if not exists rows_suppressed bigint"
        " default 0",
        # Added for #16 (2026-12): warehouses loaded before keep their table and gain these.
        f"alter table {raw}.{FILES_TABLE} add column if not exists rows_in_file bigint",
        f"alter table {raw}.{FILES_TABLE} add column if not exists lines_in_file bigint",
    ]
    try:
        for statement in statements:
            con.execute(statement)
    except duckdb.Error as error:
        raise LoadError(f"cannot prepare the raw schema: {first_line(error)}") from error


def clear_rejects(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """Forget a source's rejects: its reload replaces them (other sources keep theirs)."""
    con.execute(
        f"delete from {ident(settings.RAW_SCHEMA)}.{REJECTS_TABLE} where source = ?", [source]
    )


def log_file(
    con: duckdb.DuckDBPyConnection,
    context: Context,
    source: str,
    report: FileReport,
    file_format: str | None = None,
) -> None:
    """Log one file read in ``raw._load_files`` (``file_format`` overrides the report's)."""
    raw = ident(settings.RAW_SCHEMA)
    con.execute(
        f"insert into {raw}.{FILES_TABLE} (load_id, source, source_file, file_format, "
        "rows_loaded, rows_rejected, bytes, loaded_at, warnings, rows_in_file, lines_in_file, "
        "rows_suppressed) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            context.load_id,
            source,
            report.source_file,
            file_format or report.file_format,
            report.rows_loaded,
            report.rows_rejected,
            report.bytes,
            context.loaded_at,
            "\n".join(report.warnings) or None,
            report.rows_in_file,
            report.lines_in_file,
            report.rows_suppressed,
        ],
    )


def insert_reject_rows(job: FileJob, rows: list[tuple[int, str, str, str]]) -> None:
    """Insert rejects decided in Python: ``(source_line, reason, error_detail, payload)``."""
    if not rows:
        return
    job.con.executemany(
        f"insert into {ident(settings.RAW_SCHEMA)}.{REJECTS_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [job.context.load_id, job.spec.landing, job.relative, *row, job.context.loaded_at]
            for row in rows
        ],
    )


def insert_rejects(job: FileJob, select_sql: str) -> None:
    """Insert rejects from a query giving ``source_line, reason, error_detail, payload``."""
    job.con.execute(
        f"""
        insert into {ident(settings.RAW_SCHEMA)}.{REJECTS_TABLE}
        select ?, ?, ?, source_line, reason, error_detail, payload, ?
        from ({select_sql})
        """,
        [job.context.load_id, job.spec.landing, job.relative, job.context.loaded_at],
    )
