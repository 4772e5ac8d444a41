"""Erasure in the BI read copy (``cible_bi.duckdb``, written by :mod:`cible.bi.publish`).

The copy holds the published marts until the next publish; a run that fails after its erasure
step never republishes it. So the erasure step purges it too, with the warehouse's scan (the
same identifier columns, the same fingerprints), and the verification scans it. The live copy
is never written in place: BI tools hold it open read-only, and DuckDB admits no writer beside
them. The purge writes a new file and swaps it in like a publish (a reader sees the old copy or
the new one, never half of one, and is never blocked).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import duckdb

from cible.bi.publish import (
    RELATIONS_TABLE,
    leftover_files,
    published_path,
    staging_path,
    swap,
)
from cible.privacy import erasure, suppression
from cible.warehouse import table_exists


class BiCopy:
    """The published copy at ``path``; absent until the first publish."""

    kind = "bi_copy"

    def __init__(self, path: Path):
        self.path = Path(path)
        self.place = f"bi_copy:{self.path}"

    def purge(self, owner: Mapping[str, str], key: bytes, dry_run: bool = False) -> dict[str, int]:
        """Remove (or with ``dry_run`` count) the requests' rows from every table of the copy;
        a purge also deletes the staging files a crashed publish left beside it.

        Returns:
            Request id -> rows removed (or found).

        Raises:
            ErasureError: the copy cannot be opened; it was left as it was.
        """
        if not dry_run:
            # Callers hold the warehouse lock, as the publish step does: no publish runs
            # meanwhile, so a staging file is a crash's leftover, never read, maybe holding them.
            for leftover in leftover_files(self.path):
                leftover.unlink(missing_ok=True)
        if not self.path.exists():
            return {}
        # Read-only first: most runs find nobody, and then the copy is not rewritten.
        with self._connect(self.path, read_only=True) as con:
            found = _purge_rows(con, owner, key, delete=False)
        if dry_run or not found:
            return found
        staging = staging_path(self.path)
        try:
            shutil.copyfile(self.path, staging)
            with self._connect(staging, read_only=False) as con:
                counts = _purge_rows(con, owner, key, delete=True)
            if counts:
                swap(staging, self.path)
        finally:
            staging.unlink(missing_ok=True)
        return counts

    def _connect(self, path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as error:
            raise erasure.ErasureError(
                f"the BI copy {self.path} cannot be opened to erase or verify ({error}), so it "
                "may still hold erased persons: delete it (the next successful run publishes it "
                "again), then run again."
            ) from None


def _purge_rows(
    con: duckdb.DuckDBPyConnection, owner: Mapping[str, str], key: bytes, delete: bool
) -> dict[str, int]:
    counts: dict[str, int] = {}
    purged: list[erasure.Relation] = []
    with suppression.Scan(con, owner, key) as scan:
        for relation in erasure.relations(con):
            found = scan.matches(relation.sql, relation.key_columns, relation.text_columns)
            if found and delete and not relation.is_view:
                erasure.mark_rows(con, relation, found)
                per_request = erasure.delete_marked(con, relation, found)
            else:
                per_request = {
                    request_id: erasure.count_rows(con, relation, columns)
                    for request_id, columns in found.items()
                }
            for request_id, rows in per_request.items():
                counts[request_id] = counts.get(request_id, 0) + rows
            if found:
                purged.append(relation)
    if delete and purged and table_exists(con, f"main.{RELATIONS_TABLE}"):
        # The copy's own bookkeeping keeps matching its tables.
        for relation in purged:
            con.execute(
                f"update main.{RELATIONS_TABLE} set row_count = "
                f"(select count(*) from {relation.sql}) where relation = ?",
                [relation.place],
            )
    con.execute("drop table if exists _cible_suppressed")
    return counts


def configured_copy() -> BiCopy | None:
    """The published copy when one exists or a publish left a staging file
    (``CIBLE_PUBLISHED_DIR``), else None."""
    path = published_path()
    return BiCopy(path) if path.exists() or leftover_files(path) else None
