"""Parquet files: attached in place (or copied) when a source holds only Parquet, typed
contract columns keeping their type; rendered as text, like a CSV's, in a folder of mixed
formats."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb

from cible.contract import SourceSpec
from cible.loader.columns import extras_warning, match_columns
from cible.loader.common import (
    Context,
    Counts,
    FileJob,
    LoadError,
    fetch_one,
    first_line,
    ident,
    lit,
    relative,
)
from cible.loader.reports import FileReport

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


def attached_select(
    con: duckdb.DuckDBPyConnection, context: Context, spec: SourceSpec, paths: Sequence[Path]
) -> tuple[str, list[FileReport]]:
    """The query of a source made only of Parquet files, and a report per file.

    Parquet files are typed, columnar and immutable: copying them into the warehouse would
    only spend time and disk (20M events: ~30 s). By default (`CIBLE_PARQUET_MODE=attach`)
    ``raw.<source>`` is a view of this query, which reads them in place; the files must then
    stay where they are until the next load. `CIBLE_PARQUET_MODE=copy` makes it a table of its
    rows instead, so both modes give the same columns, types and load metadata. Files with the
    same schema are read by one scan, so DuckDB parallelises across them.

    A typed contract column (a timestamp, a date, a whole or a decimal number) keeps its
    Parquet type when every file of the source stores it with one type that holds it exactly
    (:func:`_native_type`): staging then reads the value as it is instead of printing it as
    text and parsing it back (20M events: 10 s). Every other column is text, as in a copy.
    """
    schemas: list[tuple[Path, list[str], list[str], dict[str, list[int]]]] = []
    files: list[FileReport] = []
    for path in paths:
        name = relative(context.landing, path)
        try:
            schema = con.execute(
                f"describe select * from read_parquet({lit(str(path))}, binary_as_string = true)"
            ).fetchall()
            (rows,) = fetch_one(
                con,
                f"select coalesce(sum(num_rows), 0) from parquet_file_metadata({lit(str(path))})",
            )
            names, types = [row[0] for row in schema], [row[1] for row in schema]
            _read_every_value(con, path, names)
        except duckdb.Error as error:
            raise LoadError(unreadable(name, error)) from error
        matched, extras = match_columns(spec, names, name)
        schemas.append((path, names, types, matched))
        files.append(
            FileReport(
                name,
                "parquet",
                path.stat().st_size,
                int(rows),
                int(rows),
                0,
                tuple(extras_warning(extras)),
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
    prefix = lit(context.landing.resolve().as_posix() + "/")
    selects = []
    for values, group in groups.items():
        listed = ", ".join(lit(path.resolve().as_posix()) for path in group)
        columns = ", ".join(
            f"{value} as {ident(name)}"
            for value, name in zip(values, spec.column_names, strict=True)
        )
        selects.append(
            f"select {columns}, replace(filename, {prefix}, '') as _source_file, "
            f"file_row_number + 1 as _source_line, "
            f"timestamp {lit(context.loaded_at.isoformat(sep=' '))} as _loaded_at, "
            f"{lit(context.load_id)} as _load_id "
            f"from read_parquet([{listed}], binary_as_string = true, filename = true, "
            f"file_row_number = true)"
        )
    return " union all ".join(selects), files


def _read_every_value(con: duckdb.DuckDBPyConnection, path: Path, names: Sequence[str]) -> None:
    """Decompress every column once: an attached file is otherwise read only by the first
    model that selects from it, and a corrupt page then fails a dbt test far from its cause.
    (Costs one scan of the file, a fraction of a copy.)"""
    columns = ", ".join(ident(name) for name in names)
    fetch_one(
        con,
        f"select count(*), max(hash({columns})) "
        f"from read_parquet({lit(str(path))}, binary_as_string = true)",
    )


def unreadable(name: str, error: duckdb.Error) -> str:
    """The message for a Parquet file DuckDB cannot read (truncated, corrupt, not Parquet)."""
    reason = first_line(error).replace(" Error: ", ": ", 1)
    return (
        f"{name}: not a readable Parquet file, corrupt or cut short ({reason}); export it "
        "again, or move it out of the landing folder"
    )


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
    column = ident(names[position])
    return column if native_type else as_text(column, types[position])


def load_parquet(job: FileJob) -> Counts:
    """Insert a Parquet file's rows, as text, into the table of a source of mixed formats."""
    reader = f"read_parquet({job.file}, binary_as_string = true, file_row_number = true)"
    try:
        schema = job.con.execute(f"describe select * exclude (file_row_number) from {reader}")
    except duckdb.Error as error:
        raise LoadError(unreadable(job.relative, error)) from error
    names, types = zip(*[(row[0], row[1]) for row in schema.fetchall()], strict=True)
    matched, extras = match_columns(job.spec, names, job.relative)
    values = [
        as_text(ident(names[matched[name][0]]), types[matched[name][0]])
        if name in matched
        else "null"
        for name in job.spec.column_names
    ]
    try:
        (loaded,) = fetch_one(
            job.con,
            f"""
            insert into {job.table}
            select {", ".join(values)}, ?, file_row_number + 1, ?, ?
            from {reader}
            """,
            job.metadata,
        )
    except duckdb.Error as error:
        raise LoadError(unreadable(job.relative, error)) from error
    return Counts(loaded, loaded, 0, extras_warning(extras))


def as_text(expression: str, duckdb_type: str) -> str:
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
