"""Load the landing folder into the warehouse's ``raw`` schema, with load metadata.

Each source of the contract (:mod:`cible.contract`) is a file ``<landing>/<name>.csv``
(``.csv.gz``, ``.parquet``, ``.jsonl``, ``.json`` lines) or a folder ``<landing>/<name>/`` of
such files. A load replaces ``raw.<name>`` with all of the source's rows, every contract column
in contract order, then ``_source_file``, ``_source_line``, ``_loaded_at`` and ``_load_id``.
Columns are text, except in a source made only of Parquet files, where a typed contract column
that every file stores with one type holding it exactly keeps that type (see
:func:`_land_parquet_source`). Each source is loaded in its own transaction, so a refused
file leaves the previous table in place.

Data errors never abort a load: a malformed line lands in ``raw._load_rejects`` with its
line number and raw text, and every file read is logged in ``raw._load_files``. What does
abort it is a :class:`LoadError` naming the file and the reason: a required source or column
missing, an unreadable file.

All the work runs in DuckDB SQL. A CSV takes two reads to know each row's physical line
(DuckDB's CSV reader has no row number): the parse itself and a scan of the raw lines, from
which the lines where records start are worked out (see :func:`_csv_record_starts`); the k-th
row parsed is the k-th record neither blank nor rejected.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import re
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from cible import settings
from cible.contract import LOAD_METADATA_COLUMNS, ContractError, SourceSpec, load_contract

MEMORY_LIMIT = "3GB"
REJECTS_TABLE = "_load_rejects"
FILES_TABLE = "_load_files"

# Landing file suffixes, longest first, and the format each is read as (``.json`` is taken as
# JSON lines, one object per line, like ``.jsonl``).
SUFFIXES: tuple[tuple[str, str], ...] = (
    (".jsonl.gz", "jsonl"),
    (".ndjson.gz", "jsonl"),
    (".json.gz", "jsonl"),
    (".csv.gz", "csv"),
    (".parquet", "parquet"),
    (".ndjson", "jsonl"),
    (".jsonl", "jsonl"),
    (".json", "jsonl"),
    (".csv", "csv"),
)
CSV_DELIMITERS = (",", ";", "\t", "|")

# Separator of the line scans: four control characters in a row never occur in text, so each
# physical line comes back whole as one field.
_LINE_SEP = "\x1f\x1e\x1d\x1c"
_METADATA_TYPES = ("varchar", "bigint", "timestamp", "varchar")
_UNDECODED = re.compile("[\udc80-\udcff]+")
_INVALID_ENCODING = "INVALID ENCODING"  # `error_type` of DuckDB's CSV rejects
_TEMP_TABLES = (
    "_cible_parsed",
    "_cible_scan",
    "_cible_scan_rejects",
    "_cible_scan_rejects_scan",
    "_cible_numbers",
    "_cible_lines",
    "_cible_open_quotes",
    "_cible_records",
    "_cible_bad",
    "_cible_accepted",
    "_cible_json",
    "_cible_rejects",
    "_cible_rejects_scan",
)


class LoadError(Exception):
    """A landing file or source that cannot be loaded; the message says which and why."""


@dataclass(frozen=True)
class FileReport:
    """What one file gave.

    ``rows_in_file`` is counted independently of the parse (data lines or records of a CSV,
    non-blank lines of a JSONL, rows of a Parquet file), so ``reconciled`` proves that no row
    was lost.
    """

    source_file: str
    file_format: str
    bytes: int
    rows_in_file: int
    rows_loaded: int
    rows_rejected: int
    warnings: tuple[str, ...] = ()

    @property
    def reconciled(self) -> bool:
        return self.rows_in_file == self.rows_loaded + self.rows_rejected


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
    def rows_in_files(self) -> int:
        return sum(file.rows_in_file for file in self.files)

    @property
    def reconciled(self) -> bool:
        return all(file.reconciled for file in self.files)


@dataclass(frozen=True)
class LoadReport:
    """The outcome of :func:`load_landing`: the sources reloaded, in order, and totals."""

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
            f"  from {_display(self.landing_dir)} into {_display(self.warehouse)}",
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
        if not self.reconciled:
            lines.append("Some files do not reconcile (rows in file <> loaded + rejected).")
        if self.warnings:
            lines.append("Warnings:")
            lines += [f"  - {warning}" for warning in self.warnings]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Context:
    """What every file of one load shares."""

    landing: Path
    load_id: str
    loaded_at: datetime


def load_landing(
    landing_dir: Path | None = None,
    warehouse: Path | None = None,
    sources: Iterable[str] | None = None,
    contract: Mapping[str, SourceSpec] | None = None,
) -> LoadReport:
    """Load landing files into ``raw.<source>`` tables, one full reload per source.

    Args:
        landing_dir: the landing folder; defaults to ``settings.landing_dir()``.
        warehouse: the DuckDB file; defaults to ``settings.warehouse_path()``.
        sources: landing names to reload (others are left untouched); defaults to all.
        contract: the source contract; defaults to :func:`cible.contract.load_contract`.

    Returns:
        A :class:`LoadReport` of files, rows loaded and rejected, and warnings.

    Raises:
        LoadError: a required source or column is missing, or a file cannot be read. Sources
            loaded before the error stay loaded; the failing one keeps its previous table.
    """
    landing = Path(landing_dir) if landing_dir is not None else settings.landing_dir()
    warehouse = Path(warehouse) if warehouse is not None else settings.warehouse_path()
    contract = contract if contract is not None else load_contract()
    specs = _select_sources(contract, sources)
    # Find every source's files before writing anything, so that a missing required source
    # stops the load before it starts.
    try:
        found = {spec.landing: _discover(landing, spec) for spec in specs}
    except OSError as error:
        raise LoadError(f"cannot read the landing folder {_display(landing)}: {error}") from error
    context = _Context(
        landing=landing,
        load_id=str(uuid.uuid4()),
        loaded_at=datetime.now(UTC).replace(tzinfo=None),
    )
    reports: list[SourceReport] = []
    with _connect(warehouse) as con:
        _create_log_tables(con)
        for spec in specs:
            paths, warnings = found[spec.landing]
            try:
                reports.append(_load_source(con, context, spec, paths, warnings))
            except LoadError as error:
                if not reports:
                    raise
                done = ", ".join(report.name for report in reports)
                raise LoadError(f"{error} (loaded before the error: {done})") from error
    return LoadReport(
        load_id=context.load_id,
        loaded_at=context.loaded_at,
        landing_dir=landing,
        warehouse=warehouse,
        sources=tuple(reports),
    )


# ---------------------------------------------------------------------------------- discovery


def _select_sources(
    contract: Mapping[str, SourceSpec], sources: Iterable[str] | None
) -> list[SourceSpec]:
    if sources is None:
        return list(contract.values())
    names = [sources] if isinstance(sources, str) else list(dict.fromkeys(sources))
    unknown = [name for name in names if name not in contract]
    if unknown:
        raise LoadError(f"unknown source(s) {unknown}; the contract has {sorted(contract)}")
    return [contract[name] for name in names]


def _format_of(path: Path) -> str | None:
    name = path.name.lower()
    return next((fmt for suffix, fmt in SUFFIXES if name.endswith(suffix)), None)


def _discover(landing: Path, spec: SourceSpec) -> tuple[list[Path], list[str]]:
    """The files of a source, sorted, and warnings; raises LoadError if a required one lacks."""
    name = spec.landing
    base = _display(landing / name)
    entries = sorted(landing.iterdir()) if landing.is_dir() else []
    candidates = [
        entry
        for entry in entries
        if (entry.is_dir() and entry.name.lower() == name)
        or (
            entry.is_file()
            and _format_of(entry) is not None
            and entry.name.lower() in {name + suffix for suffix, _ in SUFFIXES}
        )
    ]
    if len(candidates) > 1:
        listed = ", ".join(entry.name + ("/" if entry.is_dir() else "") for entry in candidates)
        raise LoadError(
            f"source '{name}' is ambiguous: {_display(landing)} holds {listed}; keep one file, "
            f"or put all the parts in the folder {base}/"
        )
    if not candidates:
        if spec.required:
            note = (
                ""
                if landing.is_dir()
                else f" (the landing folder {_display(landing)} does not exist)"
            )
            raise LoadError(
                f"required source '{name}' not found: expected {base}.csv, .parquet or .jsonl, "
                f"or a folder {base}/{note}"
            )
        return [], [f"not found ({base}.csv, .parquet, .jsonl or {base}/): loaded as empty"]
    candidate = candidates[0]
    if candidate.is_file():
        return [candidate], []
    paths, warnings = [], []
    for path in sorted(candidate.rglob("*"), key=lambda p: p.relative_to(candidate).as_posix()):
        relative = path.relative_to(candidate)
        # Hidden files and markers such as Spark's `_SUCCESS` are not data.
        if not path.is_file() or any(part[:1] in "._" for part in relative.parts):
            continue
        if _format_of(path) is None:
            warnings.append(f"ignored {_relative(landing, path)}: not .csv, .parquet or .jsonl")
            continue
        paths.append(path)
    if not paths:
        if spec.required:
            raise LoadError(
                f"required source '{name}': the folder {base}/ holds no .csv, .parquet or "
                ".jsonl file"
            )
        warnings.append(
            f"the folder {base}/ holds no .csv, .parquet or .jsonl file: loaded as empty"
        )
    return paths, warnings


# ---------------------------------------------------------------------------------- warehouse


# DuckDB names a database after its file: a warehouse file named like a schema of the
# warehouse (`raw.duckdb`) makes every `raw.<table>` ambiguous between database and schema.
SCHEMA_NAMES = (
    settings.RAW_SCHEMA,
    "staging",
    "intermediate",
    "marts",
    "quality",
    "reference",
    "ml",
    "main",
)
DUCKDB_RESERVED_NAMES = ("memory", "system", "temp")


def _connect(warehouse: Path) -> duckdb.DuckDBPyConnection:
    name = warehouse.stem.lower()
    if name in SCHEMA_NAMES or name in DUCKDB_RESERVED_NAMES:
        raise LoadError(
            f"the warehouse file {_display(warehouse)} cannot be named '{warehouse.stem}': DuckDB "
            f"names the database after its file, and '{warehouse.stem}' is also the name of a "
            "schema or database it would clash with; choose another name, e.g. cible.duckdb"
        )
    try:
        warehouse.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(warehouse))
    except (OSError, duckdb.Error) as error:
        raise LoadError(f"cannot open the warehouse {_display(warehouse)}: {error}") from error
    con.execute(f"set memory_limit = {_lit(MEMORY_LIMIT)}")
    con.execute(f"set temp_directory = {_lit(str(warehouse.parent / (warehouse.name + '.tmp')))}")
    return con


def _create_log_tables(con: duckdb.DuckDBPyConnection) -> None:
    raw = _ident(settings.RAW_SCHEMA)
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
    ]
    try:
        for statement in statements:
            con.execute(statement)
    except duckdb.Error as error:
        raise LoadError(f"cannot prepare the raw schema: {_first_line(error)}") from error


def _load_source(
    con: duckdb.DuckDBPyConnection,
    context: _Context,
    spec: SourceSpec,
    paths: Sequence[Path],
    warnings: Sequence[str],
) -> SourceReport:
    """Replace ``raw.<source>`` and the source's rejects with its files, in one transaction."""
    if paths and all(_format_of(path) == "parquet" for path in paths):
        return _land_parquet_source(con, context, spec, paths, warnings)
    raw = _ident(settings.RAW_SCHEMA)
    table = f"{raw}.{_ident(spec.landing)}"
    columns = [f"{_ident(name)} varchar" for name in spec.column_names]
    columns += [
        f"{name} {kind}" for name, kind in zip(LOAD_METADATA_COLUMNS, _METADATA_TYPES, strict=True)
    ]
    files: list[FileReport] = []
    current: Path | None = None
    con.begin()
    try:
        _drop_raw_relation(con, spec.landing)
        con.execute(f"create table {table} ({', '.join(columns)})")
        con.execute(f"delete from {raw}.{REJECTS_TABLE} where source = ?", [spec.landing])
        for path in paths:
            current = path
            job = _FileJob(con, context, spec, table, path, _relative(context.landing, path))
            report = _load_file(job)
            con.execute(
                f"insert into {raw}.{FILES_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    context.load_id,
                    spec.landing,
                    report.source_file,
                    report.file_format,
                    report.rows_loaded,
                    report.rows_rejected,
                    report.bytes,
                    context.loaded_at,
                    "\n".join(report.warnings) or None,
                ],
            )
            files.append(report)
        _drop_temp_tables(con)
        con.commit()
    except (duckdb.Error, OSError, EOFError) as error:
        con.rollback()
        where = _relative(context.landing, current) if current is not None else spec.landing
        raise LoadError(f"{where}: {_first_line(error)}") from error
    except BaseException:
        con.rollback()
        raise
    file_warnings = [
        f"{file.source_file}: {warning}" for file in files for warning in file.warnings
    ]
    return SourceReport(
        name=spec.landing,
        table=f"{settings.RAW_SCHEMA}.{spec.landing}",
        found=bool(paths),
        files=tuple(files),
        warnings=(*warnings, *file_warnings),
    )


def _drop_raw_relation(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop ``raw.<name>`` whether a previous load made it a table or a view."""
    kinds = con.execute(
        "select table_type from information_schema.tables where table_schema = ? "
        "and table_name = ?",
        [settings.RAW_SCHEMA, name],
    ).fetchall()
    for (kind,) in kinds:
        relation = "view" if kind == "VIEW" else "table"
        con.execute(f"drop {relation} {_ident(settings.RAW_SCHEMA)}.{_ident(name)}")


def _land_parquet_source(
    con: duckdb.DuckDBPyConnection,
    context: _Context,
    spec: SourceSpec,
    paths: Sequence[Path],
    warnings: Sequence[str],
) -> SourceReport:
    """Land a source made only of Parquet files: a view over them, or a copy.

    Parquet files are typed, columnar and immutable: copying them into the warehouse would
    only spend time and disk (20M events: ~30 s). By default (`CIBLE_PARQUET_MODE=attach`)
    ``raw.<source>`` is a view that reads them in place; the files must then stay where they
    are until the next load. `CIBLE_PARQUET_MODE=copy` makes it a table of the view's rows
    instead, so both modes give the same columns, types and load metadata. Files with the
    same schema are read by one scan, so DuckDB parallelises across them.

    A typed contract column (a timestamp, a date, a whole or a decimal number) keeps its
    Parquet type when every file of the source stores it with one type that holds it exactly
    (:func:`_native_type`): staging then reads the value as it is instead of printing it as
    text and parsing it back (20M events: 10 s). Every other column is text, as in a copy.
    """
    schemas: list[tuple[Path, list[str], list[str], dict[str, list[int]]]] = []
    files: list[FileReport] = []
    for path in paths:
        relative = _relative(context.landing, path)
        try:
            schema = con.execute(
                f"describe select * from read_parquet({_lit(str(path))}, binary_as_string = true)"
            ).fetchall()
            (rows,) = _fetch_one(
                con,
                f"select coalesce(sum(num_rows), 0) from parquet_file_metadata({_lit(str(path))})",
            )
        except duckdb.Error as error:
            raise LoadError(f"{relative}: {_first_line(error)}") from error
        names, types = [row[0] for row in schema], [row[1] for row in schema]
        matched, extras = _match_columns(spec, names, relative)
        schemas.append((path, names, types, matched))
        files.append(
            FileReport(
                relative,
                "parquet",
                path.stat().st_size,
                int(rows),
                int(rows),
                0,
                tuple(_extras_warning(extras)),
            )
        )
    native = _native_columns(spec, [(types, matched) for _, _, types, matched in schemas])
    groups: dict[tuple[str, ...], list[Path]] = {}
    for path, names, types, matched in schemas:
        values = tuple(
            _attached_value(column.name, names, types, matched, native.get(column.name))
            for column in spec.columns
        )
        groups.setdefault(values, []).append(path)
    prefix = _lit(context.landing.resolve().as_posix() + "/")
    selects = []
    for values, group in groups.items():
        listed = ", ".join(_lit(path.resolve().as_posix()) for path in group)
        columns = ", ".join(
            f"{value} as {_ident(name)}"
            for value, name in zip(values, spec.column_names, strict=True)
        )
        selects.append(
            f"select {columns}, replace(filename, {prefix}, '') as _source_file, "
            f"file_row_number + 1 as _source_line, "
            f"timestamp {_lit(context.loaded_at.isoformat(sep=' '))} as _loaded_at, "
            f"{_lit(context.load_id)} as _load_id "
            f"from read_parquet([{listed}], binary_as_string = true, filename = true, "
            f"file_row_number = true)"
        )
    raw = _ident(settings.RAW_SCHEMA)
    con.begin()
    try:
        _drop_raw_relation(con, spec.landing)
        relation = "view" if settings.parquet_mode() == "attach" else "table"
        con.execute(
            f"create {relation} {raw}.{_ident(spec.landing)} as {' union all '.join(selects)}"
        )
        con.execute(f"delete from {raw}.{REJECTS_TABLE} where source = ?", [spec.landing])
        for report in files:
            con.execute(
                f"insert into {raw}.{FILES_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    context.load_id,
                    spec.landing,
                    report.source_file,
                    f"parquet ({'attached' if relation == 'view' else 'copied'})",
                    report.rows_loaded,
                    0,
                    report.bytes,
                    context.loaded_at,
                    "\n".join(report.warnings) or None,
                ],
            )
        con.commit()
    except duckdb.Error as error:
        con.rollback()
        raise LoadError(f"{spec.landing}: {_first_line(error)}") from error
    file_warnings = [f"{f.source_file}: {warning}" for f in files for warning in f.warnings]
    return SourceReport(
        name=spec.landing,
        table=f"{settings.RAW_SCHEMA}.{spec.landing}",
        found=True,
        files=tuple(files),
        warnings=(*warnings, *file_warnings),
    )


# Parquet types that hold each typed contract column's values exactly, so a column stored with
# one of them lands as it is (doubles hold decimals closely enough for money; an integer column
# stored as double, as pandas writes one with missing values, lands as text: "12.5" must fail
# to parse as an integer, not round to 13).
_NATIVE_TYPES: dict[str, tuple[str, ...]] = {
    "timestamp": (
        "TIMESTAMP",
        "TIMESTAMP WITH TIME ZONE",
        "TIMESTAMP_S",
        "TIMESTAMP_MS",
        "TIMESTAMP_NS",
    ),
    "date": ("DATE",),
    "integer": ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"),
    "numeric": ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "DOUBLE", "FLOAT"),
}


def _native_type(contract_type: str, parquet_type: str) -> bool:
    """Whether a Parquet column of ``parquet_type`` lands as it is for ``contract_type``."""
    kind = parquet_type.upper()
    if contract_type == "numeric" and kind.startswith("DECIMAL"):
        return True
    return kind in _NATIVE_TYPES.get(contract_type, ())


def _native_columns(
    spec: SourceSpec, schemas: Sequence[tuple[Sequence[str], Mapping[str, list[int]]]]
) -> dict[str, str]:
    """The contract columns that keep their Parquet type, with that type.

    A column keeps it when every file holding it stores it with the same type, one that holds
    the contract type exactly; otherwise it lands as text in every file, so that the view has
    one type per column whatever the mix of files.
    """
    native: dict[str, str] = {}
    for column in spec.columns:
        found = {
            types[matched[column.name][0]] for types, matched in schemas if column.name in matched
        }
        if len(found) == 1 and _native_type(column.data_type, parquet_type := found.pop()):
            native[column.name] = parquet_type
    return native


def _attached_value(
    name: str,
    names: Sequence[str],
    types: Sequence[str],
    matched: Mapping[str, list[int]],
    native_type: str | None,
) -> str:
    """SQL for one contract column of an attached file: as stored, as text, or null."""
    if name not in matched:
        return f"cast(null as {native_type})" if native_type else "null"
    position = matched[name][0]
    column = _ident(names[position])
    return column if native_type else _as_text(column, types[position])


@dataclass(frozen=True)
class _FileJob:
    """One file to load into its source's raw table."""

    con: duckdb.DuckDBPyConnection
    context: _Context
    spec: SourceSpec
    table: str
    path: Path
    relative: str

    @property
    def file(self) -> str:
        """The file's path as a SQL literal."""
        return _lit(str(self.path))

    @property
    def metadata(self) -> list[object]:
        """Parameters for ``_source_file``, ``_loaded_at`` and ``_load_id``, in that order."""
        return [self.relative, self.context.loaded_at, self.context.load_id]

    def insert_rejects(self, select_sql: str) -> None:
        """Insert rejects from a query giving ``source_line, reason, error_detail, payload``."""
        self.con.execute(
            f"""
            insert into {_ident(settings.RAW_SCHEMA)}.{REJECTS_TABLE}
            select ?, ?, ?, source_line, reason, error_detail, payload, ?
            from ({select_sql})
            """,
            [self.context.load_id, self.spec.landing, self.relative, self.context.loaded_at],
        )


@dataclass(frozen=True)
class _Counts:
    rows_in_file: int
    rows_loaded: int
    rows_rejected: int
    warnings: list[str]


def _load_file(job: _FileJob) -> FileReport:
    fmt = _format_of(job.path)
    size = job.path.stat().st_size
    _drop_temp_tables(job.con)
    if size == 0:
        return FileReport(job.relative, fmt, 0, 0, 0, 0, ("empty file",))
    # Parquet rows carry their own row number; CSV and JSONL lines get theirs from the order
    # in which they are stored, which holds only while DuckDB preserves insertion order.
    job.con.execute(f"set preserve_insertion_order = {str(fmt != 'parquet').lower()}")
    load = {"csv": _load_csv, "jsonl": _load_jsonl, "parquet": _load_parquet}[fmt]
    counts = load(job)
    return FileReport(
        job.relative,
        fmt,
        size,
        counts.rows_in_file,
        counts.rows_loaded,
        counts.rows_rejected,
        tuple(counts.warnings),
    )


def _drop_temp_tables(con: duckdb.DuckDBPyConnection) -> None:
    for name in _TEMP_TABLES:
        con.execute(f"drop table if exists temp.main.{name}")


def _scan_lines(job: _FileJob, encoding: str, table: str) -> int:
    """Create ``table(ln, line, error_type, error)``: every physical line of the file, numbered.

    A blank line comes back as null. A line DuckDB cannot read (not UTF-8, longer than its
    maximum line size) is set aside in its rejects table with its line number (without quotes
    a record is a line) and its text, with ``?`` for bad bytes and cut at 10,000 characters;
    it is put back in place with the error. Returns how many lines were set aside.
    """
    con = job.con
    con.execute(
        f"""
        create temp table _cible_scan as
        select line from read_csv(
            {job.file}, columns = {{'line': 'VARCHAR'}}, header = false,
            delim = {_lit(_LINE_SEP)}, quote = '', escape = '', auto_detect = false,
            strict_mode = false, encoding = {_lit(encoding)}, store_rejects = true,
            rejects_table = '_cible_scan_rejects', rejects_scan = '_cible_scan_rejects_scan'
        )"""
    )
    set_aside, kept = _fetch_one(
        con,
        "select (select count(distinct line) from _cible_scan_rejects), "
        "(select count(*) from _cible_scan)",
    )
    # Rows keep the file's order (insertion order is preserved) but rowid values do not start
    # at 0 inside a transaction: number the lines by position, skipping the set-aside ones.
    if not set_aside:
        con.execute(
            f"""
            create temp table {table} as
            select
                numbers.range + 1 as ln,
                scan.line,
                cast(null as varchar) as error_type,
                cast(null as varchar) as error
            from _cible_scan as scan positional join range({kept}) as numbers
            """
        )
        return 0
    con.execute(
        f"""
        create temp table _cible_numbers as
        select range + 1 as ln from range({kept + set_aside})
        where range + 1 not in (select line from _cible_scan_rejects)
        order by ln
        """
    )
    con.execute(
        f"""
        create temp table {table} as
        select
            numbers.ln,
            scan.line,
            cast(null as varchar) as error_type,
            cast(null as varchar) as error
        from _cible_scan as scan positional join _cible_numbers as numbers
        union all
        select
            cast(line as bigint),
            trim(min(csv_line), chr(13) || chr(10)),
            min(error_type),
            min(lower(error_type) || coalesce(': ' || error_message, ''))
        from _cible_scan_rejects
        group by line
        """
    )
    return set_aside


# ------------------------------------------------------------------------------- column match


def _match_columns(
    spec: SourceSpec, names: Sequence[str], relative: str, allow_repeats: bool = False
) -> tuple[dict[str, list[int]], list[str]]:
    """Map contract columns to positions in ``names`` (trimmed, case-insensitive).

    Returns the positions per contract column and the names that match none. Raises
    LoadError when a required column is missing, or (unless ``allow_repeats``) when two
    names match the same contract column.
    """
    by_key = {name.strip().lower(): name for name in spec.column_names}
    matched: dict[str, list[int]] = {}
    extras: list[str] = []
    for position, name in enumerate(names):
        column = by_key.get(name.strip().lower())
        if column is None:
            extras.append(name)
        else:
            matched.setdefault(column, []).append(position)
    repeated = {column: [names[p] for p in ps] for column, ps in matched.items() if len(ps) > 1}
    if repeated and not allow_repeats:
        details = "; ".join(f"{column}: {found}" for column, found in repeated.items())
        raise LoadError(f"{relative}: several columns match one contract column ({details})")
    missing = [column for column in spec.required_columns if column not in matched]
    if missing:
        raise LoadError(
            f"{relative}: missing required column(s) {', '.join(missing)}. Expected the "
            f"columns of '{spec.landing}': {', '.join(spec.column_names)} (required: "
            f"{', '.join(spec.required_columns)}); found: {_shorten(', '.join(names)) or 'none'}"
        )
    return matched, extras


def _extras_warning(extras: Sequence[str]) -> list[str]:
    if not extras:
        return []
    listed = ", ".join(repr(name) if not name.strip() else name for name in extras)
    return [f"ignored column(s) not in the contract: {listed}"]


# ---------------------------------------------------------------------------------------- CSV


def _load_csv(job: _FileJob) -> _Counts:
    head = _csv_head(job.path, job.relative)
    if head is None:
        return _Counts(0, 0, 0, ["no header line (blank file)"])
    skip, delimiter, names = head
    matched, extras = _match_columns(job.spec, names, job.relative)
    warnings = _extras_warning(extras)
    con = job.con
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(names))) + "}"
    # 1. Parse with a fixed dialect: DuckDB's sniffer, fed a dirty file, may pick no quote at
    #    all (then every quoted comma splits a field). Bad records go to the rejects table.
    con.execute(
        f"""
        create temp table _cible_parsed as
        select * from read_csv(
            {job.file}, header = true, skip = {skip}, delim = {_lit(delimiter)}, quote = '"',
            escape = '"', auto_detect = false, strict_mode = true, columns = {columns},
            store_rejects = true, rejects_table = '_cible_rejects',
            rejects_scan = '_cible_rejects_scan'
        )"""
    )
    # 2. The physical lines (only quotes and line ends matter here).
    _scan_lines(job, "utf-8", "_cible_lines")
    # 3. Where each record starts. DuckDB numbers records (`line` in its rejects) counting
    #    blank lines, and a record spanning lines once.
    _csv_record_starts(con, delimiter)
    header = skip + 1
    # DuckDB lists an error per missing column, and may list a line twice: one row per record,
    # with the first message of each kind of error.
    con.execute(
        f"""
        create temp table _cible_bad as
        with errors as (
            select
                cast(line as bigint) as record,
                error_type,
                arg_min(error_message, column_idx) as message,
                min(csv_line) as csv_line
            from _cible_rejects
            group by line, error_type
        )
        select
            errors.record,
            records.ln,
            next_record.ln as next_ln,
            string_agg(
                lower(errors.error_type) || coalesce(': ' || errors.message, ''), '; '
                order by errors.error_type
            ) as detail,
            bool_or(errors.error_type = '{_INVALID_ENCODING}') as bad_encoding,
            trim(min(errors.csv_line), chr(13) || chr(10)) as csv_line,
            coalesce(bool_or(records.blank), true) or errors.record <= {header} as unmapped
        from errors
        left join _cible_records as records on records.r = errors.record
        left join _cible_records as next_record on next_record.r = errors.record + 1
        group by errors.record, records.ln, next_record.ln
        """
    )
    # 4. The k-th parsed row is the k-th record that is neither blank, the header nor rejected.
    con.execute(
        f"""
        create temp table _cible_accepted as
        select ln from _cible_records
        where not blank and r > {header} and r not in (select record from _cible_bad)
        order by r
        """
    )
    parsed, accepted, rejected, unmapped, rows_in_file, bad_encoding = _fetch_one(
        con,
        f"""
        select
            (select count(*) from _cible_parsed),
            (select count(*) from _cible_accepted),
            (select count(*) from _cible_bad),
            (select count(*) from _cible_bad where unmapped),
            (select count(*) from _cible_records where not blank and r > {header}),
            (select coalesce(bool_or(bad_encoding), false) from _cible_bad)
        """,
    )
    mapped = parsed == accepted and unmapped == 0
    if not mapped:
        warnings.append(
            f"line numbers unknown (_source_line is null): {rows_in_file} records counted, "
            f"{parsed} parsed and {rejected} rejected (an unbalanced quote?)"
        )
    values = [
        f"p.c{matched[name][0]}" if name in matched else "null" for name in job.spec.column_names
    ]
    rows = "_cible_parsed as p"
    if mapped:
        rows += " positional join _cible_accepted as a"
    # The positional join pairs the two tables in their stored order whatever this setting;
    # writing without keeping order is a third faster.
    con.execute("set preserve_insertion_order = false")
    con.execute(
        f"""
        insert into {job.table}
        select {", ".join(values)}, ?, {"a.ln" if mapped else "cast(null as bigint)"}, ?, ?
        from {rows}
        """,
        job.metadata,
    )
    if rejected:
        _insert_csv_rejects(job, mapped, bad_encoding)
    if bad_encoding:
        (badly_encoded,) = _fetch_one(con, "select count(*) from _cible_bad where bad_encoding")
        warnings.append(_encoding_warning(badly_encoded))
    return _Counts(rows_in_file, parsed, rejected, warnings)


def _insert_csv_rejects(job: _FileJob, mapped: bool, bad_encoding: bool) -> None:
    payload = "bad.csv_line"
    if bad_encoding and mapped:
        spans = job.con.execute(
            """
            select record, ln, coalesce(next_ln, ln + 1) from _cible_bad
            where bad_encoding and not unmapped
            """
        ).fetchall()
        _register_payloads(job, spans)
        payload = (
            "coalesce((select text from _cible_payloads as p where p.key = bad.record), "
            "bad.csv_line)"
        )
    job.insert_rejects(
        f"""
        select
            {"bad.ln" if mapped else "cast(null as bigint)"} as source_line,
            'malformed_line' as reason,
            {"bad.detail" if mapped else "'record ' || bad.record || ': ' || bad.detail"}
                as error_detail,
            {payload} as payload
        from _cible_bad as bad
        order by bad.record
        """
    )
    if bad_encoding and mapped:
        job.con.unregister("_cible_payloads")


def _register_payloads(job: _FileJob, spans: Sequence[tuple[int, int, int]]) -> None:
    """Register ``_cible_payloads(key, text)``: the raw text of badly encoded lines.

    DuckDB shows the bytes it cannot decode as ``?``, and its latin-1 reader refuses a whole
    file for one byte in 0x80-0x9F (so it cannot be asked either, duckdb 2.0.1, 2025-11).
    The lines are few: read them from the file here, each span ``(key, first line, end line
    exclusive)``, valid UTF-8 kept and other bytes read as Windows-1252, the usual culprit.
    """
    wanted = {line for _, start, end in spans for line in range(start, end)}
    raw = _physical_lines(job.path, wanted)
    keys, texts = [], []
    for key, start, end in spans:
        keys.append(key)
        texts.append("\n".join(_decode_mixed(raw.get(line, b"")) for line in range(start, end)))
    payloads = pa.table({"key": pa.array(keys, pa.int64()), "text": pa.array(texts, pa.string())})
    job.con.register("_cible_payloads", payloads)


def _physical_lines(path: Path, wanted: set[int], chunk_size: int = 1 << 20) -> dict[int, bytes]:
    """The bytes of the given physical lines (1-based), found by counting newlines by chunk."""
    targets = sorted(wanted)
    found: dict[int, bytes] = {}
    first = 1  # number of the line that `carry` starts
    carry = b""
    index = 0
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as handle:
        while index < len(targets):
            chunk = handle.read(chunk_size)
            if not chunk:
                if carry and targets[index] == first:
                    found[first] = carry.rstrip(b"\r")
                break
            data = carry + chunk
            complete = data.count(b"\n")
            if targets[index] < first + complete:
                lines = data.split(b"\n")
                while index < len(targets) and targets[index] < first + complete:
                    found[targets[index]] = lines[targets[index] - first].rstrip(b"\r")
                    index += 1
            carry = data[data.rfind(b"\n") + 1 :] if complete else data
            first += complete
    return found


def _encoding_warning(lines: int) -> str:
    return (
        f"{lines} line(s) not valid UTF-8, rejected: if the file was saved as Windows-1252 "
        "or latin-1, save it as UTF-8"
    )


def _decode_mixed(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="surrogateescape")
    return _UNDECODED.sub(
        lambda match: bytes(ord(c) - 0xDC00 for c in match.group()).decode(
            "cp1252", errors="replace"
        ),
        text,
    )


def _csv_head(path: Path, relative: str) -> tuple[int, str, list[str]] | None:
    """Leading blank lines, delimiter and column names of a CSV (None if it has no header)."""
    skip = 0
    try:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rb") as handle:
            while True:
                raw = handle.readline(1 << 20)
                if not raw:
                    return None
                if raw.strip():
                    break
                skip += 1
    except (OSError, EOFError) as error:
        raise LoadError(f"{relative}: cannot read the file: {error}") from error
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    text = text.rstrip("\r\n")
    delimiter = max(CSV_DELIMITERS, key=lambda candidate: _count_unquoted(text, candidate))
    try:
        names = next(csv.reader([text], delimiter=delimiter))
    except csv.Error as error:
        raise LoadError(f"{relative}: cannot read the header line: {error}") from error
    return skip, delimiter, names


def _count_unquoted(text: str, character: str) -> int:
    return sum(part.count(character) for part in text.split('"')[::2])


def _csv_record_starts(con: duckdb.DuckDBPyConnection, delimiter: str) -> None:
    """Build ``_cible_records(ln, blank, r)``: the physical lines where records start.

    A physical line continues the previous record when the record is inside a quoted field
    at the line's start. Each line holding a quote is a function of that state (an open
    field may close, a closed one open); the regular expressions below tell, for both start
    states, whether the line ends inside a quote, following DuckDB's strict reader (a quote
    opens a field only at its start, ``""`` is an escaped quote, text after a closing quote
    runs to the next delimiter). The states then chain along the file with window sums over
    the few lines holding quotes. Where this disagrees with the parse, the counts do not
    reconcile and the caller gives up on line numbers rather than guess.
    """
    d = "\\t" if delimiter == "\t" else "\\" + delimiter
    content = '(?:[^"]|"")*'
    after_close = f'(?:[^{d}"][^{d}]*)?'
    field = f'(?:[^{d}"][^{d}]*|"{content}"{after_close})?'
    opens_from_outside = f'(?:{field}{d})*"{content}'
    stays_open_from_inside = f'{content}|{content}"{after_close}{d}(?:{field}{d})*"{content}'
    con.execute(
        f"""
        create temp table _cible_open_quotes as
        with quoted as (
            select
                ln,
                regexp_full_match(line, {_lit(opens_from_outside)}) as from_outside,
                regexp_full_match(line, {_lit(stays_open_from_inside)}) as from_inside
            from _cible_lines
            where contains(line, '"')
        ),
        chained as (
            select
                ln,
                from_outside,
                from_inside,
                lead(ln) over (order by ln) as next_ln,
                sum(case when from_outside and not from_inside then 1 else 0 end)
                    over running as flips,
                max(case when from_outside = from_inside then ln * 2 + from_outside::int end)
                    over running as last_reset
            from quoted
            window running as (order by ln rows between unbounded preceding and current row)
        ),
        states as (
            select
                ln,
                next_ln,
                (
                    coalesce(last_reset % 2, 0) + flips
                    - coalesce(max(case when from_outside = from_inside then flips end)
                        over running, 0)
                ) % 2 = 1 as open_after
            from chained
            window running as (order by ln rows between unbounded preceding and current row)
        )
        select ln as opened_at, next_ln as closed_at from states where open_after
        """
    )
    (open_spans,) = _fetch_one(con, "select count(*) from _cible_open_quotes")
    if open_spans == 0:
        con.execute(
            """
            create temp table _cible_records as
            select ln, coalesce(line, '') = '' as blank, ln as r from _cible_lines
            """
        )
        return
    # The lines after one that ends inside a quote, up to the next line holding a quote (or
    # the end of the file), continue a record. (An ASOF join here ran for minutes on 100k
    # spans with duckdb 2.0.1, 2025-11; the anti join takes a second.)
    con.execute(
        """
        create temp table _cible_records as
        select lines.ln, lines.blank, row_number() over (order by lines.ln) as r
        from (
            select ln, coalesce(line, '') = '' as blank from _cible_lines
        ) as lines
        anti join (
            select unnest(range(
                opened_at + 1,
                coalesce(closed_at, (select count(*) from _cible_lines)) + 1
            )) as ln
            from _cible_open_quotes
        ) as continued on lines.ln = continued.ln
        """
    )


# -------------------------------------------------------------------------------------- JSONL


def _load_jsonl(job: _FileJob) -> _Counts:
    if _starts_with_bracket(job.path, job.relative):
        raise LoadError(
            f"{job.relative}: holds a JSON array; Cible reads JSON lines (one object per line)"
        )
    con = job.con
    set_aside = _scan_lines(job, "utf-8", "_cible_lines")
    con.execute(
        """
        create temp table _cible_json as
        select
            ln,
            line,
            error_type,
            error,
            case
                when error is not null then 'unreadable'
                when trim(coalesce(line, ''), ' ' || chr(9) || chr(13)) = '' then 'blank'
                when not json_valid(line) then 'invalid'
                when json_type(line) <> 'OBJECT' then 'not_object'
                else 'object'
            end as status
        from _cible_lines
        """
    )
    objects, invalid, lines = _fetch_one(
        con,
        """
        select
            count(*) filter (where status = 'object'),
            count(*) filter (where status in ('invalid', 'not_object')),
            count(*) filter (where status <> 'blank')
        from _cible_json
        """,
    )
    keys = [
        row[0]
        for row in con.execute(
            """
            select distinct key from (
                select unnest(json_keys(line)) as key from _cible_json where status = 'object'
            ) order by key
            """
        ).fetchall()
    ]
    matched: dict[str, list[int]] = {}
    warnings: list[str] = []
    if objects:
        # Keys may differ in case from one line to the next: take whichever is there.
        matched, extras = _match_columns(job.spec, keys, job.relative, allow_repeats=True)
        warnings += _extras_warning(extras)
    pointers = "[" + ", ".join(_lit(_json_pointer(key)) for key in keys) + "]"
    con.execute("set preserve_insertion_order = false")  # each row carries its line number
    values = [
        "coalesce(" + ", ".join(f"v[{p + 1}]" for p in matched[name]) + ")"
        if name in matched
        else "null"
        for name in job.spec.column_names
    ]
    con.execute(
        f"""
        insert into {job.table}
        select {", ".join(values)}, ?, ln, ?, ?
        from (
            select ln, json_extract_string(line, cast({pointers} as varchar[])) as v
            from _cible_json where status = 'object'
        )
        """,
        job.metadata,
    )
    if invalid:
        job.insert_rejects(
            """
            select
                ln as source_line,
                'malformed_json' as reason,
                case status
                    when 'invalid' then 'not valid JSON'
                    else 'a JSON ' || case json_type(line)
                        when 'ARRAY' then 'array' when 'VARCHAR' then 'string'
                        when 'BOOLEAN' then 'boolean' when 'NULL' then 'null'
                        else 'number' end || ', not an object'
                end as error_detail,
                line as payload
            from _cible_json where status in ('invalid', 'not_object')
            order by ln
            """
        )
    if set_aside:
        badly_encoded = con.execute(
            f"""
            select ln, ln, ln + 1 from _cible_json
            where status = 'unreadable' and error_type = '{_INVALID_ENCODING}'
            """
        ).fetchall()
        _register_payloads(job, badly_encoded)
        job.insert_rejects(
            """
            select
                lines.ln as source_line,
                'malformed_line' as reason,
                lines.error as error_detail,
                coalesce(payloads.text, lines.line) as payload
            from _cible_json as lines
            left join _cible_payloads as payloads on payloads.key = lines.ln
            where lines.status = 'unreadable'
            order by lines.ln
            """
        )
        con.unregister("_cible_payloads")
        if badly_encoded:
            warnings.append(_encoding_warning(len(badly_encoded)))
    return _Counts(lines, objects, invalid + set_aside, warnings)


def _starts_with_bracket(path: Path, relative: str) -> bool:
    try:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rb") as handle:
            head = handle.read(4096)
    except (OSError, EOFError) as error:
        raise LoadError(f"{relative}: cannot read the file: {error}") from error
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[")


def _json_pointer(key: str) -> str:
    return "/" + key.replace("~", "~0").replace("/", "~1")


# ------------------------------------------------------------------------------------ Parquet


def _load_parquet(job: _FileJob) -> _Counts:
    reader = f"read_parquet({job.file}, binary_as_string = true, file_row_number = true)"
    schema = job.con.execute(f"describe select * exclude (file_row_number) from {reader}")
    names, types = zip(*[(row[0], row[1]) for row in schema.fetchall()], strict=True)
    matched, extras = _match_columns(job.spec, names, job.relative)
    values = [
        _as_text(_ident(names[matched[name][0]]), types[matched[name][0]])
        if name in matched
        else "null"
        for name in job.spec.column_names
    ]
    (loaded,) = _fetch_one(
        job.con,
        f"""
        insert into {job.table}
        select {", ".join(values)}, ?, file_row_number + 1, ?, ?
        from {reader}
        """,
        job.metadata,
    )
    return _Counts(loaded, loaded, 0, _extras_warning(extras))


def _as_text(expression: str, duckdb_type: str) -> str:
    """SQL rendering a typed Parquet value as the text a CSV export would hold."""
    kind = duckdb_type.upper()
    if kind == "VARCHAR":
        return expression
    if kind in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        # Keep the instant: UTC with its marker, so staging need not guess a zone.
        return f"strftime(timezone('UTC', {expression}), '%Y-%m-%dT%H:%M:%S.%fZ')"
    if kind.startswith("TIMESTAMP"):
        return f"strftime(cast({expression} as timestamp), '%Y-%m-%dT%H:%M:%S.%f')"
    if kind in ("DOUBLE", "FLOAT", "REAL"):
        # Plain decimals: 1234.0 -> 1234 (an integer column with nulls, written by pandas),
        # 1e-07 -> 0.0000001; NaN and infinities stay as they are.
        e = expression
        return (
            f"case when {e} is null then null"
            f" when not isfinite({e}) then cast({e} as varchar)"
            f" when {e} = trunc({e}) and abs({e}) < 1e38 then cast(cast({e} as hugeint) as varchar)"
            f" when contains(cast({e} as varchar), 'e')"
            f" then rtrim(rtrim(printf('%.20f', {e}), '0'), '.')"
            f" else cast({e} as varchar) end"
        )
    if kind.endswith("]") or kind.startswith(("STRUCT", "MAP", "UNION")):
        return f"cast(to_json({expression}) as varchar)"
    return f"cast({expression} as varchar)"


# -------------------------------------------------------------------------------------- utils


def _fetch_one(con: duckdb.DuckDBPyConnection, sql: str, parameters: Sequence[object] = ()):
    # Fetch everything: a half-read result blocks the connection in duckdb 2.0.
    return con.execute(sql, list(parameters)).fetchall()[0]


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _relative(landing: Path, path: Path) -> str:
    try:
        return path.relative_to(landing).as_posix()
    except ValueError:
        return path.as_posix()


def _display(path: Path) -> str:
    """A path as a user would type it: relative to the current folder when under it."""
    try:
        return Path(path).resolve().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _shorten(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return " ".join(lines[:2]) if lines else type(error).__name__


# ---------------------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cible.loader``: load the landing folder and print a summary."""
    parser = argparse.ArgumentParser(
        prog="python -m cible.loader",
        description="Load the landing folder into the warehouse's raw schema.",
    )
    parser.add_argument("--landing", type=Path, help="landing folder (default: CIBLE_LANDING_DIR)")
    parser.add_argument("--warehouse", type=Path, help="DuckDB file (default: CIBLE_WAREHOUSE)")
    parser.add_argument(
        "--source",
        action="append",
        dest="sources",
        metavar="NAME",
        help="reload only this source (repeatable; default: all)",
    )
    args = parser.parse_args(argv)
    try:
        report = load_landing(args.landing, args.warehouse, args.sources)
    except (LoadError, ContractError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
