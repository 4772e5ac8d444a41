"""One way in to the DuckDB warehouse for Python steps (the loader too): serialised and patient.

DuckDB lets one process at a time open a database file for writing, and no other process may
open it at all meanwhile. Python steps that may run side by side (segmentation and scoring
after the same dbt build) therefore take an exclusive lock on a sidecar file for the time of
their connection, and wait for a dbt process still holding the file.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from cible import settings
from cible.contract import TableSpec

WAIT_SECONDS = 600.0

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


class WarehouseNameError(ValueError):
    """A warehouse file named like a schema or a DuckDB catalog; the message says what to do."""


def check_name(warehouse: Path) -> None:
    """Refuse a warehouse file whose name DuckDB would confuse with a schema or a catalog."""
    name = warehouse.stem.lower()
    if name in SCHEMA_NAMES or name in DUCKDB_RESERVED_NAMES:
        raise WarehouseNameError(
            f"the warehouse file {display(warehouse)} cannot be named '{warehouse.stem}': DuckDB "
            f"names the database after its file, and '{warehouse.stem}' is also the name of a "
            "schema or database it would clash with; choose another name, e.g. cible.duckdb"
        )


def display(path: Path) -> str:
    """A path as a user would type it: relative to the current folder when under it."""
    try:
        return Path(path).resolve().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return Path(path).as_posix()


@contextmanager
def connect(
    warehouse: Path | None = None,
    read_only: bool = False,
    wait_seconds: float = WAIT_SECONDS,
    memory_limit: str | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the warehouse, held under an exclusive lock until the block ends.

    Args:
        warehouse: the DuckDB file (default: ``settings.warehouse_path()``).
        read_only: open read-only (the lock is taken all the same: DuckDB refuses a reader
            while another process writes).
        wait_seconds: how long to wait for another process (a dbt build) to release the file.
        memory_limit: DuckDB's ``memory_limit`` (``"3GB"``); beyond it DuckDB spills to its
            default temporary folder, ``<warehouse>.tmp`` beside the file.

    Raises:
        WarehouseNameError: the file is named like a schema (``raw.duckdb``), before anything
            is created.
    """
    path = Path(warehouse) if warehouse is not None else settings.warehouse_path()
    check_name(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        while True:
            try:
                con = duckdb.connect(str(path), read_only=read_only)
                break
            except duckdb.IOException as error:
                if "lock" not in str(error).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(1.0)
        try:
            con.execute("set TimeZone = 'UTC'")
            if memory_limit is not None:
                quoted = memory_limit.replace("'", "''")
                con.execute(f"set memory_limit = '{quoted}'")
            yield con
        finally:
            con.close()


def read_table(relation: str, warehouse: Path | None = None) -> pd.DataFrame:
    """A whole table or view as a pandas DataFrame (``schema.name``)."""
    with connect(warehouse, read_only=True) as con:
        return con.execute(f"select * from {relation}").df()


def write_table(
    frame: pd.DataFrame, relation: str, warehouse: Path | None = None, mode: str = "replace"
) -> int:
    """Write a DataFrame to ``schema.name``: ``replace`` it, or ``append`` to it.

    Returns:
        The number of rows written.
    """
    if mode not in {"replace", "append"}:
        raise ValueError(f"mode must be 'replace' or 'append', not {mode!r}")
    schema = relation.rpartition(".")[0]
    with connect(warehouse) as con:
        if schema:
            con.execute(f'create schema if not exists "{schema}"')
        con.register("_cible_frame", frame)
        if mode == "replace" or not table_exists(con, relation):
            con.execute(f"create or replace table {relation} as select * from _cible_frame")
        else:
            con.execute(f"insert into {relation} by name select * from _cible_frame")
        con.unregister("_cible_frame")
    return len(frame)


def table_exists(con: duckdb.DuckDBPyConnection, relation: str) -> bool:
    """Whether ``schema.name`` is a table or view of the connection's database."""
    schema, _, name = relation.rpartition(".")
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? "
            "and table_name = ?",
            [schema or "main", name],
        ).fetchall()[0][0]
    )


def create_declared_table(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> None:
    """Create a declared table (its schema too) unless it exists; a table an earlier Cible
    created gets the columns declared since (null in its earlier rows)."""
    columns = ", ".join(f'"{column.name}" {column.data_type}' for column in spec.columns)
    con.execute(f'create schema if not exists "{spec.schema}"')
    con.execute(f"create table if not exists {spec.relation} ({columns})")
    existing = {
        row[0]
        for row in con.execute(
            "select column_name from information_schema.columns where table_catalog = "
            "current_database() and table_schema = ? and table_name = ?",
            [spec.schema, spec.table_name],
        ).fetchall()
    }
    for column in spec.columns:
        if column.name not in existing:
            con.execute(
                f'alter table {spec.relation} add column "{column.name}" {column.data_type}'
            )


def append_declared(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, spec: TableSpec) -> int:
    """Append a frame to a declared table, creating it on first use.

    The frame is checked against the declaration (:meth:`TableSpec.conform`); DuckDB casts
    each column to its declared type, and a column a writer may leave out is written null.

    Returns:
        The number of rows appended.
    """
    rows = spec.conform(frame)
    create_declared_table(con, spec)
    if len(rows):
        con.register("_cible_declared_frame", rows)
        try:
            con.execute(f"insert into {spec.relation} by name select * from _cible_declared_frame")
        finally:
            con.unregister("_cible_declared_frame")
    return len(rows)
