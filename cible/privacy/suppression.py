"""The suppression list: what Cible keeps of an erased (or objecting) person, and the filter
that keeps them out of every later load.

``privacy.suppression_list`` holds one row per keyed fingerprint (see
:mod:`cible.privacy.fingerprints`), never a plain identifier. The loader calls
:func:`suppress_rows` on each raw relation it writes: rows whose identifier matches an erased
person's fingerprint are removed and counted per file as ``suppressed`` in the load's
bookkeeping and in reconciliation; they are never silently dropped.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pandas as pd

from cible.privacy import fingerprints as fp
from cible.warehouse import table_exists

SCHEMA = "privacy"
LIST_TABLE = "suppression_list"
RELATION = f"{SCHEMA}.{LIST_TABLE}"
# Reasons a fingerprint is on the list; only erased persons are filtered at load (an objecting
# customer still buys: their orders load, their profiling and marketing stop).
ERASED = "erased"
OBJECTED = "objected"
FILTERED_AT_LOAD = (ERASED,)

# Contract columns holding an identifier, by the kind of identifier they hold.
IDENTIFIER_COLUMNS = {
    "customer_number": "customer_number",
    "email": "email",
    "email_sha256": "email_sha256",
    "phone": "phone",
    "anonymous_id": "anonymous_id",
}
# Free text (the loader's rejected lines, payloads) is split into fields and words on these
# characters, each fingerprinted as every kind (`tokens`).
_FIELD_SPLIT = re.compile(r"[,;\t|\"{}\[\]]+")
_TOKEN_SPLIT = re.compile(r"[,;\t|\"'\s{}\[\]:]+")


@dataclass(frozen=True)
class Entry:
    """One fingerprint to add to the list."""

    fingerprint: str
    identifier_kind: str
    reason: str
    request_id: str


def create_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {SCHEMA}")
    con.execute(
        f"""
        create table if not exists {RELATION} (
            fingerprint varchar, identifier_kind varchar, reason varchar, request_id varchar,
            added_at timestamp
        )"""
    )


def exists(con: duckdb.DuckDBPyConnection) -> bool:
    return table_exists(con, RELATION)


def read(
    con: duckdb.DuckDBPyConnection, reasons: Sequence[str] = FILTERED_AT_LOAD
) -> dict[str, set[str]]:
    """The fingerprints on the list for ``reasons``, by identifier kind."""
    if not exists(con):
        return {}
    placeholders = ", ".join("?" for _ in reasons)
    rows = con.execute(
        f"select identifier_kind, fingerprint from {RELATION} where reason in ({placeholders})",
        list(reasons),
    ).fetchall()
    found: dict[str, set[str]] = defaultdict(set)
    for kind, digest in rows:
        found[kind].add(digest)
    return dict(found)


def add(con: duckdb.DuckDBPyConnection, entries: Iterable[Entry], added_at: datetime) -> int:
    """Add entries not already on the list (same fingerprint and reason); returns how many."""
    create_table(con)
    known = {
        (digest, reason)
        for digest, reason in con.execute(f"select fingerprint, reason from {RELATION}").fetchall()
    }
    new = []
    for entry in entries:
        if (entry.fingerprint, entry.reason) in known:
            continue
        known.add((entry.fingerprint, entry.reason))
        new.append(
            [entry.fingerprint, entry.identifier_kind, entry.reason, entry.request_id, added_at]
        )
    if new:
        con.executemany(f"insert into {RELATION} values (?, ?, ?, ?, ?)", new)
    return len(new)


def identifier_columns(columns: Iterable[str]) -> dict[str, str]:
    """The columns of a relation that hold an identifier, with its kind."""
    return {name: IDENTIFIER_COLUMNS[name] for name in columns if name in IDENTIFIER_COLUMNS}


def quote(name: str) -> str:
    """A column or table name quoted for SQL."""
    return '"' + name.replace('"', '""') + '"'


def distinct_text(con: duckdb.DuckDBPyConnection, relation: str, column: str) -> list[str]:
    """The distinct non-null values of a column, as text."""
    return [
        row[0]
        for row in con.execute(
            f"select distinct cast({quote(column)} as varchar) from {relation} "
            f"where {quote(column)} is not null"
        ).fetchall()
    ]


def tokens(text: str | None) -> set[str]:
    """The fields and words of free text (a rejected line, a payload, a list of numbers), each
    a candidate identifier: a phone written with spaces is a field, an e-mail in JSON a word."""
    text = text or ""
    fields = {part.strip() for part in _FIELD_SPLIT.split(text) if part.strip()}
    return fields | {part for part in _TOKEN_SPLIT.split(text) if part}


# The distinct values one scan has fingerprinted, per kind, with their owner (null: nobody's);
# a temp table of the scanning connection, dropped when the scan ends.
_CHECKED = "_cible_checked_values"
_CHECKED_NEW = "_cible_checked_values_new"


class Scan:
    """One pass over many relations for the values whose fingerprint is in ``owner``
    (fingerprint -> its owner: a request id, a reason).

    Each distinct value of a kind is fingerprinted once per pass, not once per relation holding
    it: customer ids are in about 40 relations of the warehouse, customer numbers in most
    sources, and fingerprinting every one of them in each (HMAC in Python) made retention at 1M
    customers take 5 min 39 s. The values already checked stay in a temp table; a column sends
    to Python only the values it has not met yet and the owners' values. A context manager
    (the temp table is dropped at the end).
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, owner: Mapping[str, str], key: bytes):
        self.con, self.owner, self.key = con, owner, key
        # Free text repeats its words (field names, dates, channels): each token is
        # fingerprinted once per pass, as every kind (six HMACs), not once per row holding it.
        self._owner_of_token: dict[str, str | None] = {}
        con.execute(
            f"create or replace temp table {_CHECKED} (kind varchar, value varchar, owner varchar)"
        )

    def __enter__(self) -> Scan:
        return self

    def __exit__(self, *exc_info) -> None:
        self.con.execute(f"drop table if exists {_CHECKED}")

    def matches(
        self, relation: str, key_columns: Mapping[str, str], text_columns: Iterable[str] = ()
    ) -> dict[str, dict[str, list[str]]]:
        """Owner -> column -> the distinct values (text) of that column that are theirs.

        Args:
            relation: a table or view (SQL name).
            key_columns: column -> kind of the identifier it holds.
            text_columns: free text, split into tokens (:func:`tokens`) each compared as every
                kind; a value is its first matching token's owner's.
        """
        hits: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for column, kind in key_columns.items():
            for value, owner in self.owned_values(relation, column, kind):
                hits[owner][column].append(value)
        for column in text_columns:
            for value in distinct_text(self.con, relation, column):
                owner = self.line_owner(value)
                if owner is not None:
                    hits[owner][column].append(value)
        return {owner: dict(columns) for owner, columns in hits.items()}

    def owned_values(self, relation: str, column: str, kind: str) -> list[tuple[str, str]]:
        """(value, owner) of the column's distinct values that are someone's."""
        col = quote(column)
        rows = self.con.execute(
            f"""
            select seen.value, checked.owner, checked.value is null as is_new
            from (
                select distinct cast({col} as varchar) as value
                from {relation} where {col} is not null
            ) as seen
            left join {_CHECKED} as checked on checked.kind = ? and checked.value = seen.value
            where checked.value is null or checked.owner is not null
            """,
            [kind],
        ).fetchall()
        owned = [(value, owner) for value, owner, is_new in rows if not is_new]
        new = [value for value, _, is_new in rows if is_new]
        if not new:
            return owned
        owners = [self.owner.get(fp.fingerprint(self.key, kind, value) or "") for value in new]
        frame = pd.DataFrame({"kind": kind, "value": new, "owner": owners}, dtype=object)
        self.con.register(_CHECKED_NEW, frame)
        try:
            self.con.execute(f"insert into {_CHECKED} select * from {_CHECKED_NEW}")
        finally:
            self.con.unregister(_CHECKED_NEW)
        return owned + [(v, o) for v, o in zip(new, owners, strict=True) if o is not None]

    def line_owner(self, text: str | None) -> str | None:
        """The owner of the first token of free text (a rejected line, a payload) that is
        someone's identifier, of any kind."""
        for token in tokens(text):
            if token not in self._owner_of_token:
                self._owner_of_token[token] = next(
                    (
                        self.owner[digest]
                        for kind in fp.KINDS
                        if (digest := fp.fingerprint(self.key, kind, token)) in self.owner
                    ),
                    None,
                )
            if self._owner_of_token[token] is not None:
                return self._owner_of_token[token]
        return None


def matching_values(scan: Scan, relation: str, columns: Mapping[str, str]) -> dict[str, list[str]]:
    """Per column, the distinct values (as text) whose fingerprint is on the scan's list."""
    found: dict[str, list[str]] = defaultdict(list)
    for by_column in scan.matches(relation, columns).values():
        for column, values in by_column.items():
            found[column] += values
    return dict(found)


def match_predicate(con: duckdb.DuckDBPyConnection, hits: Mapping[str, list[str]]) -> str:
    """A predicate true for rows holding one of ``hits``; the values go to a temp table (in
    memory, for this connection only) rather than into SQL text."""
    con.execute("create or replace temp table _cible_suppressed (col varchar, value varchar)")
    con.executemany(
        "insert into _cible_suppressed values (?, ?)",
        [[column, value] for column, values in hits.items() for value in values],
    )
    return " or ".join(
        f"cast({quote(column)} as varchar) in (select value from _cible_suppressed "
        f"where col = '{column}')"
        for column in hits
    )


def suppress_rows(
    scan: Scan, relation: str, columns: Mapping[str, str], file_column: str = "_source_file"
) -> dict[str, int]:
    """Delete from ``relation`` (a table) the rows of suppressed persons.

    Returns:
        Rows removed per value of ``file_column`` (the landing file they came from).
    """
    con = scan.con
    hits = matching_values(scan, relation, columns)
    if not hits:
        return {}
    predicate = match_predicate(con, hits)
    counts = {
        str(file): int(rows)
        for file, rows in con.execute(
            f"select {quote(file_column)}, count(*) from {relation} where {predicate} group by 1"
        ).fetchall()
    }
    con.execute(f"delete from {relation} where {predicate}")
    con.execute("drop table if exists _cible_suppressed")
    return counts


def refresh_objections(con: duckdb.DuckDBPyConnection, key: bytes, added_at: datetime) -> int:
    """Put on the list, with the reason ``objected``, the fingerprints of every customer whose
    consent state records an objection (``marts.fct_customer_consents``, last build), and only
    them: a person who granted again since leaves it. Exports read it; the load does not filter
    them (an objecting customer still buys).

    Returns:
        The number of objecting customers listed.
    """
    create_table(con)
    consents = "marts.fct_customer_consents"
    identities = "intermediate.int_customer_identities_resolved"
    if not all(table_exists(con, name) for name in (consents, identities, "raw.customers")):
        return 0
    rows = con.execute(
        f"""
        with objecting as (
            select distinct customer_id from {consents} where rule_applied = 'objection'
        )
        select o.customer_id, i.customer_number, c.email, c.phone
        from objecting o
        join {identities} i on i.customer_id = o.customer_id
        left join raw.customers c on upper(trim(c.customer_number)) = i.customer_number
        """
    ).fetchall()
    entries = []
    for customer_id, number, email, phone in rows:
        for kind, value in (
            ("customer_id", customer_id),
            ("customer_number", number),
            ("email", email),
            ("phone", phone),
        ):
            digest = fp.fingerprint(key, kind, value)
            if digest is not None:
                entries.append(Entry(digest, kind, OBJECTED, "objection"))
    con.execute(f"delete from {RELATION} where reason = ?", [OBJECTED])
    add(con, entries, added_at)
    return len({row[0] for row in rows})
