"""What every part of the loader shares: its error, one load's context, one file's job, and
helpers for SQL text and messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from cible.contract import SourceSpec
from cible.loader.source_settings import SourceFormat, SourcesConfig

if TYPE_CHECKING:
    from cible.privacy.suppression import Scan


class LoadError(Exception):
    """A landing file or source that cannot be loaded; the message says which and why."""


@dataclass(frozen=True)
class Context:
    """What every file of one load shares."""

    landing: Path
    load_id: str
    loaded_at: datetime
    # The scan matching values with the suppression list's fingerprints, one for the whole
    # load (each distinct identifier fingerprinted once, whichever sources hold it); None when
    # nobody was erased (cible.privacy.suppression).
    suppressed: Scan | None = None
    formats: SourcesConfig = field(default_factory=SourcesConfig)


@dataclass(frozen=True)
class FileJob:
    """One file to load into its source's raw table."""

    con: duckdb.DuckDBPyConnection
    context: Context
    spec: SourceSpec
    table: str
    path: Path
    relative: str

    @property
    def file(self) -> str:
        """The file's path as a SQL literal."""
        return lit(str(self.path))

    @property
    def fmt(self) -> SourceFormat:
        """How this source's files are written (``config/sources.yml``)."""
        return self.context.formats.of(self.spec.landing)

    @property
    def metadata(self) -> list[object]:
        """Parameters for ``_source_file``, ``_loaded_at`` and ``_load_id``, in that order."""
        return [self.relative, self.context.loaded_at, self.context.load_id]


@dataclass(frozen=True)
class Counts:
    """What a format's reader found in one file (see :class:`~cible.loader.FileReport`)."""

    rows_in_file: int
    rows_loaded: int
    rows_rejected: int
    warnings: list[str]
    lines_in_file: int | None = None  # physical lines by a byte scan, for text files


def fetch_one(con: duckdb.DuckDBPyConnection, sql: str, parameters: Sequence[object] = ()):
    # Fetch everything: a half-read result blocks the connection in duckdb 2.0.
    return con.execute(sql, list(parameters)).fetchall()[0]


def lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def relative(landing: Path, path: Path) -> str:
    """A landing file's path as reports and ``_source_file`` name it."""
    try:
        return path.relative_to(landing).as_posix()
    except ValueError:
        return path.as_posix()


def shorten(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def first_line(error: Exception) -> str:
    # DuckDB adds the query after a blank line (`LINE 1: select ...`): the user's problem is
    # never in Cible's SQL.
    text = str(error).split("\n\nLINE ")[0]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines[:2]) if lines else type(error).__name__
