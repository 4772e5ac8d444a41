"""Erasure (GDPR art. 17) that reaches every place Cible keeps a person, and proves it.

A request names a person by ``customer_number`` or ``email_sha256``. :func:`resolve` finds
every identifier the warehouse holds for them (merged CRM records, their e-mails and phones,
the anonymous ids their logins linked, their customer id); those identifiers exist in plain
text only in memory, for the time of the purge. What is kept afterwards are keyed fingerprints
(:mod:`cible.privacy.fingerprints`) on the suppression list, and the bookkeeping in the
``privacy`` schema: which request was applied when, and how many rows each place lost.

Purge and verification work the same way, by fingerprint: every column that holds an
identifier (named in :data:`COLUMN_KINDS`, or a free-text column in :data:`TEXT_COLUMNS`
whose tokens are compared one by one) of every table and view in every schema, every
Parquet table of the model store, the online store when one is configured, and the BI read
copy when one is published (:mod:`cible.privacy.bi_copy`) is read as distinct values; a
value whose fingerprint belongs to a request is that request's. So a verification needs no
plain identifier: it runs again, days later, from the list alone.

All or nothing per run: the key is loaded and every request resolved before the first delete,
and the warehouse's deletes, the suppression list and the bookkeeping commit in one
transaction.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from cible import settings
from cible.files import replace_durably
from cible.privacy import fingerprints as fp
from cible.privacy import suppression
from cible.warehouse import table_exists

SCHEMA = suppression.SCHEMA
ERASURES = f"{SCHEMA}.erasures"
PLACES = f"{SCHEMA}.erasure_places"
VERIFICATIONS = f"{SCHEMA}.erasure_verifications"
REQUESTS = f"{settings.RAW_SCHEMA}.erasure_requests"

REQUEST = "request"
RETENTION = "retention"
# Not an identifier kind: the CRM records found, counted in the bookkeeping.
CRM_RECORD = "crm_record"

# Columns that hold one identifier, by name (the personal data register tags them; see
# docs/personal_data.md), with the kind of identifier.
COLUMN_KINDS = {
    "customer_id": "customer_id",
    "login_customer_id": "customer_id",
    "min_login_customer_id": "customer_id",
    "linked_customer_id": "customer_id",
    "customer_number": "customer_number",
    "anchor_customer_number": "customer_number",
    "record_number": "customer_number",
    "linked_record_number": "customer_number",
    "anonymous_id": "anonymous_id",
    "email": "email",
    "email_sha256": "email_sha256",
    "phone": "phone",
    "phone_e164": "phone",
}
# Free text that may copy identifiers (raw rows, lists of numbers, match evidence): split into
# tokens, each compared as every kind. Scanned in tables only: in a view such text is computed
# from the same rows' identifier columns, which are scanned.
TEXT_COLUMNS = (
    "payload",
    "raw_payload",
    "customer_numbers",
    "evidence",
    "proof",
    "identifier",
    "linked_to",
)
# Tagged personal columns that identify nobody alone (many people share a name, a birth date,
# a postcode): their rows go with the identifier column of the same row. Every tagged column
# name is in one of the four lists (tests/cible/privacy/test_erasure_columns.py).
# `visitor_key` (sessions) copies the same row's `anonymous_id`, or else the number of the
# customer whose `login_customer_id` is on the row (a dbt test on `int_sessions_aggregated`
# checks it): its rows go with those columns.
DESCRIPTIVE_COLUMNS = ("first_name", "last_name", "birth_date", "postcode", "city", "visitor_key")
# Tagged personal columns kept by design: the suppression list's fingerprints (schema
# `privacy`, never scanned), which keep an erased person out of later loads.
KEPT_BY_DESIGN = ("fingerprint",)
# Never scanned: the fingerprints and the bookkeeping themselves.
SKIPPED_SCHEMAS = (SCHEMA, "information_schema", "pg_catalog")


class ErasureError(Exception):
    """An erasure that cannot be applied (nothing was erased) or a place that cannot be
    purged or scanned (the message names it)."""


@dataclass(frozen=True)
class ErasureRequest:
    """One person to erase: by customer number, hashed e-mail or (retention) customer id."""

    request_id: str
    origin: str
    received_at: datetime | None
    customer_number: str | None = None
    email_sha256: str | None = None
    customer_id: str | None = None


@dataclass
class Outcome:
    """What one run of :func:`apply` did."""

    applied: list[str] = field(default_factory=list)
    rows_by_place: dict[str, int] = field(default_factory=dict)
    landing_files: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rows_purged(self) -> int:
        return sum(self.rows_by_place.values())


# ---------- bookkeeping tables


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The privacy schema's tables (empty until the first erasure), so dbt always finds them."""
    suppression.create_table(con)
    con.execute(
        f"""create table if not exists {ERASURES} (
            request_id varchar, origin varchar, received_at timestamp, applied_at timestamp,
            crm_records_found bigint, identifiers_found bigint, status varchar
        )"""
    )
    con.execute(
        f"""create table if not exists {PLACES} (
            request_id varchar, place varchar, place_kind varchar, rows_purged bigint,
            applied_at timestamp
        )"""
    )
    con.execute(
        f"""create table if not exists {VERIFICATIONS} (
            request_id varchar, verified_at timestamp, places_scanned bigint,
            remaining bigint, remaining_places varchar
        )"""
    )


def pending_requests(con: duckdb.DuckDBPyConnection) -> list[ErasureRequest]:
    """Valid requests of ``raw.erasure_requests`` not applied yet (invalid ones are quarantined
    by ``stg_privacy__erasure_requests`` with their reason)."""
    if not table_exists(con, REQUESTS):
        return []
    applied = (
        {row[0] for row in con.execute(f"select request_id from {ERASURES}").fetchall()}
        if table_exists(con, ERASURES)
        else set()
    )
    rows = con.execute(
        f"select trim(request_id), nullif(trim(customer_number), ''),"
        f" nullif(lower(trim(email_sha256)), ''), cast(requested_at as varchar) from {REQUESTS}"
    ).fetchall()
    requests = []
    for request_id, number, digest, requested in rows:
        if not request_id or request_id in applied or (number is None and digest is None):
            continue
        if digest is not None and fp.normalise("email_sha256", digest) is None:
            continue
        received = pd.to_datetime(requested, errors="coerce", utc=True)
        requests.append(
            ErasureRequest(
                request_id=request_id,
                origin=REQUEST,
                received_at=None if pd.isna(received) else received.tz_localize(None),
                customer_number=number,
                email_sha256=digest,
            )
        )
    return sorted(requests, key=lambda request: request.request_id)


# ---------- finding a person


_PAIRS = "_cible_erasure_pairs"


def _pairs_query(
    con: duckdb.DuckDBPyConnection, values: Mapping[str, set[str]], sql: str
) -> list[tuple]:
    """Run `sql` joined to every request's values at once: `sql` reads the registered table
    `_cible_erasure_pairs (request_id, value)`; nothing runs when no request has a value.

    One scan of a table for all requests: resolving 3,000 requests one at a time scanned the
    events 3,000 times (hours at 20M events, 2026-12-07)."""
    frame = pd.DataFrame(
        [(request_id, value) for request_id, items in values.items() for value in sorted(items)],
        columns=["request_id", "value"],
        dtype="object",
    )
    if frame.empty:
        return []
    con.register(_PAIRS, frame)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.unregister(_PAIRS)


def _add(target: Mapping[str, set[str]], rows: Iterable[tuple]) -> None:
    """Add each row's value (second column) to its request's set; empty values are nothing."""
    for request_id, value in rows:
        if value:
            target[request_id].add(str(value))


def resolve(con: duckdb.DuckDBPyConnection, request: ErasureRequest) -> dict[str, set[str]]:
    """Every identifier the warehouse holds for the request's person, by kind (plain text)."""
    return resolve_all(con, [request])[request.request_id]


def resolve_all(
    con: duckdb.DuckDBPyConnection, requests: Sequence[ErasureRequest]
) -> dict[str, dict[str, set[str]]]:
    """Every identifier the warehouse holds for each request's person, by kind (plain text).

    Each request is resolved on its own (a fixed point: CRM records sharing an e-mail, records
    merged into one customer id), all of them together in set-based queries: each table is
    read once per round, whatever the number of requests.
    """
    requests = list({request.request_id: request for request in requests}.values())
    numbers: dict[str, set[str]] = {r.request_id: set() for r in requests}
    email_keys: dict[str, set[str]] = {r.request_id: set() for r in requests}
    ids: dict[str, set[str]] = {r.request_id: set() for r in requests}
    found: dict[str, dict[str, set[str]]] = {r.request_id: defaultdict(set) for r in requests}
    for request in requests:
        if request.customer_number:
            numbers[request.request_id].add(request.customer_number.strip().upper())
        if request.customer_id:
            ids[request.request_id].add(request.customer_id)
    customers = f"{settings.RAW_SCHEMA}.customers"
    identities = "intermediate.int_customer_identities_resolved"
    has_customers, has_identities = (
        table_exists(con, customers),
        table_exists(con, identities),
    )
    email_key = "lower(strip_accents(trim(cast(email as varchar))))"
    digests = {r.request_id: {r.email_sha256} for r in requests if r.email_sha256}
    if digests and has_customers:
        _add(
            email_keys,
            _pairs_query(
                con,
                digests,
                f"select pairs.request_id, keys.email_key from {_PAIRS} as pairs "
                f"join (select distinct {email_key} as email_key from {customers}) as keys "
                "on sha256(keys.email_key) = pairs.value",
            ),
        )

    def size() -> tuple[int, int, int]:
        return tuple(sum(map(len, kind.values())) for kind in (numbers, email_keys, ids))

    for _ in range(4):
        before = size()
        if has_identities:
            _add(
                numbers,
                _pairs_query(
                    con,
                    ids,
                    f"select pairs.request_id, identities.customer_number from {_PAIRS} as pairs "
                    f"join {identities} as identities "
                    "on cast(identities.customer_id as varchar) = pairs.value",
                ),
            )
        if has_customers:
            record = f"customer_number, email, phone, {email_key} as email_key"
            rows = _pairs_query(
                con,
                numbers,
                f"select pairs.request_id, crm.* from {_PAIRS} as pairs "
                f"join (select {record}, upper(trim(cast(customer_number as varchar))) "
                f"as number_key from {customers}) as crm on crm.number_key = pairs.value",
            ) + _pairs_query(
                con,
                email_keys,
                f"select pairs.request_id, crm.* from {_PAIRS} as pairs "
                f"join (select {record}, null as number_key from {customers}) as crm "
                "on crm.email_key = pairs.value",
            )
            for request_id, number, email, phone, key, _ in rows:
                if number:
                    numbers[request_id].add(str(number).strip().upper())
                    found[request_id][CRM_RECORD].add(str(number).strip().upper())
                if email:
                    found[request_id]["email"].add(str(email))
                if key and "@" in key:
                    email_keys[request_id].add(key)
                if phone:
                    found[request_id]["phone"].add(str(phone))
        if has_identities:
            _add(
                ids,
                _pairs_query(
                    con,
                    numbers,
                    f"select pairs.request_id, identities.customer_id from {_PAIRS} as pairs "
                    f"join {identities} as identities "
                    "on cast(identities.customer_number as varchar) = pairs.value",
                ),
            )
        if size() == before:
            break
    anonymous: dict[str, set[str]] = {r.request_id: set() for r in requests}
    events = f"{settings.RAW_SCHEMA}.events"
    if table_exists(con, events):
        _add(
            anonymous,
            _pairs_query(
                con,
                numbers,
                f"select distinct pairs.request_id, events.anonymous_id from {_PAIRS} as pairs "
                f"join (select anonymous_id, upper(trim(cast(customer_number as varchar))) "
                f"as number_key from {events}) as events on events.number_key = pairs.value",
            ),
        )
    devices = "intermediate.int_devices_resolved"
    if table_exists(con, devices):
        _add(
            anonymous,
            _pairs_query(
                con,
                ids,
                f"select pairs.request_id, devices.anonymous_id from {_PAIRS} as pairs "
                f"join {devices} as devices on cast(devices.customer_id as varchar) = pairs.value "
                "where not devices.is_shared_device",
            ),
        )
    resolved = {}
    for request in requests:
        rid = request.request_id
        by_kind = found[rid]
        by_kind["customer_number"] |= numbers[rid]
        by_kind["customer_id"] |= ids[rid]
        by_kind["email"] |= email_keys[rid]
        by_kind["email_sha256"] |= {
            hashlib.sha256(key.encode("utf-8")).hexdigest() for key in email_keys[rid]
        }
        if request.email_sha256:
            by_kind["email_sha256"].add(request.email_sha256)
        by_kind["anonymous_id"] |= anonymous[rid]
        resolved[rid] = {kind: values for kind, values in by_kind.items() if values}
    return resolved


def fingerprint_entries(
    key: bytes, identifiers: Mapping[str, Mapping[str, set[str]]], reasons: Mapping[str, str]
) -> list[suppression.Entry]:
    """The suppression-list entries of each request's plain identifiers (one per fingerprint,
    the first request holding it keeps it), with the request's reason."""
    entries: dict[str, suppression.Entry] = {}
    for request_id, by_kind in identifiers.items():
        for kind, values in by_kind.items():
            if kind not in fp.KINDS:
                continue
            for digest in fp.fingerprints(key, kind, values).values():
                entries.setdefault(
                    digest, suppression.Entry(digest, kind, reasons[request_id], request_id)
                )
    return list(entries.values())


# ---------- scanning by fingerprint


@dataclass(frozen=True)
class Relation:
    schema: str
    name: str
    is_view: bool
    key_columns: dict[str, str]  # column -> kind
    text_columns: tuple[str, ...]

    @property
    def place(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def sql(self) -> str:
        return f'"{self.schema}"."{self.name}"'


def relations(con: duckdb.DuckDBPyConnection) -> list[Relation]:
    """Every table and view with a column that can hold an identifier."""
    rows = con.execute(
        "select t.table_schema, t.table_name, t.table_type, c.column_name "
        "from information_schema.tables t join information_schema.columns c "
        "on c.table_schema = t.table_schema and c.table_name = t.table_name "
        "order by t.table_schema, t.table_name, c.ordinal_position"
    ).fetchall()
    grouped: dict[tuple[str, str], tuple[bool, dict[str, str], list[str]]] = {}
    for schema, name, kind, column in rows:
        if schema in SKIPPED_SCHEMAS or name.startswith("_cible_"):
            continue
        is_view, keys, texts = grouped.setdefault((schema, name), (kind == "VIEW", {}, []))
        lowered = column.lower()
        if lowered in COLUMN_KINDS:
            keys[column] = COLUMN_KINDS[lowered]
        elif lowered in TEXT_COLUMNS and not is_view:
            texts.append(column)
    return [
        Relation(schema, name, is_view, keys, tuple(texts))
        for (schema, name), (is_view, keys, texts) in grouped.items()
        if keys or texts
    ]


def _predicate(con: duckdb.DuckDBPyConnection, columns: Mapping[str, list[str]]) -> str:
    return suppression.match_predicate(con, columns)


def count_rows(
    con: duckdb.DuckDBPyConnection, relation: Relation, columns: Mapping[str, list[str]]
) -> int:
    predicate = _predicate(con, columns)
    return int(
        con.execute(f"select count(*) from {relation.sql} where {predicate}").fetchall()[0][0]
    )


def delete_rows(
    con: duckdb.DuckDBPyConnection, relation: Relation, columns: Mapping[str, list[str]]
) -> int:
    """Delete the rows holding one of ``columns``' values; returns how many there were."""
    rows = count_rows(con, relation, columns)
    con.execute(f"delete from {relation.sql} where {_predicate(con, columns)}")
    return rows


# The values to purge (registered for one statement), then the rows of one table holding them.
_HITS, _MARKED = "_cible_erasure_hits", "_cible_erasure_rows"


def mark_rows(
    con: duckdb.DuckDBPyConnection,
    relation: Relation,
    found: Mapping[str, Mapping[str, list[str]]],
) -> None:
    """Mark (temp table ``_cible_erasure_rows``: row id, request id) every row of a table
    holding one of ``found``'s values (request id -> column -> values), in one join per column
    for all requests: purging 3,000 requests one after the other scanned the events table four
    times each. A row holding values of several requests goes to the first of ``found``, as
    deleting request after request gave it."""
    hits = pd.DataFrame(
        [
            (position, request_id, column, value)
            for position, (request_id, columns) in enumerate(found.items())
            for column, values in columns.items()
            for value in values
        ],
        columns=["position", "request_id", "col", "value"],
    )
    joined = " union all ".join(
        f"select t.rowid as row_id, h.position, h.request_id from {relation.sql} as t "
        f"join {_HITS} as h on h.col = '{column.replace(chr(39), chr(39) * 2)}' "
        f"and cast(t.{suppression.quote(column)} as varchar) = h.value"
        for column in sorted(set(hits["col"]))
    )
    con.register(_HITS, hits)
    try:
        con.execute(
            f"create or replace temp table {_MARKED} as select row_id, "
            f"arg_min(request_id, position) as request_id from ({joined}) group by row_id"
        )
    finally:
        con.unregister(_HITS)


def marked_rows_by(
    con: duckdb.DuckDBPyConnection, relation: Relation, columns: Sequence[str]
) -> list[tuple]:
    """The marked rows counted by these columns of the table (the count last)."""
    listed = ", ".join(suppression.quote(column) for column in columns)
    return con.execute(
        f"select {listed}, count(*) from {relation.sql} "
        f"where rowid in (select row_id from {_MARKED}) group by all"
    ).fetchall()


def delete_marked(
    con: duckdb.DuckDBPyConnection, relation: Relation, requests: Iterable[str]
) -> dict[str, int]:
    """Delete the marked rows; how many were each request's (0 for a request with none)."""
    counts = dict(con.execute(f"select request_id, count(*) from {_MARKED} group by 1").fetchall())
    con.execute(f"delete from {relation.sql} where rowid in (select row_id from {_MARKED})")
    con.execute(f"drop table if exists {_MARKED}")
    return {request_id: int(counts.get(request_id, 0)) for request_id in requests}


# ---------- applying


def apply(
    con: duckdb.DuckDBPyConnection,
    requests: Sequence[ErasureRequest],
    key: bytes,
    now: datetime,
    models_dir: Path | None = None,
    online_store=None,
    exports_dir: Path | None = None,
    bi_copy=None,
) -> Outcome:
    """Purge every listed person from the warehouse, the model store, the online store and the
    BI copy.

    Args:
        con: a writable connection to the warehouse (the caller holds the only writer).
        requests: what to erase (see :func:`pending_requests`, :mod:`cible.privacy.retention`).
        key: the HMAC key (:func:`cible.privacy.fingerprints.load_key`).
        now: the applied-at time (UTC, naive).
        models_dir: the model store folder; its Parquet tables are purged too.
        online_store: an :class:`cible.privacy.online_store.OnlineStore`, when live is on.
        exports_dir: the audience files' folder; their rows are purged too.
        bi_copy: a :class:`cible.privacy.bi_copy.BiCopy`, when a copy is published; purged
            of everyone on the suppression list, earlier requests too (:func:`catch_up_bi_copy`).
    """
    import time

    started = time.perf_counter()
    outcome = Outcome()
    if not requests:
        return outcome
    create_tables(con)
    identifiers = resolve_all(con, requests)
    reasons = {
        request.request_id: suppression.ERASED if request.origin == REQUEST else RETENTION
        for request in requests
    }
    entries = fingerprint_entries(key, identifiers, reasons)
    owner = {entry.fingerprint: entry.request_id for entry in entries}
    places: list[list[object]] = []
    file_changes: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    con.begin()
    try:
        with suppression.Scan(con, owner, key) as scan:
            for relation in relations(con):
                if relation.is_view and relation.schema != settings.RAW_SCHEMA:
                    continue  # a view over purged tables follows them
                found = scan.matches(relation.sql, relation.key_columns, relation.text_columns)
                if not found:
                    continue
                if relation.is_view:
                    _materialise_view(con, relation)
                mark_rows(con, relation, found)
                if relation.is_view:
                    for file, rows in marked_rows_by(con, relation, ["_source_file"]):
                        outcome.landing_files[str(file)] = (
                            outcome.landing_files.get(str(file), 0) + rows
                        )
                if relation.schema == settings.RAW_SCHEMA:
                    _note_files(con, relation, file_changes)
                for request_id, rows in delete_marked(con, relation, found).items():
                    places.append([request_id, relation.place, "warehouse", rows, now])
        _update_load_files(con, file_changes)
        suppression.add(con, entries, now)
        for request in requests:
            found = identifiers[request.request_id]
            con.execute(
                f"insert into {ERASURES} values (?, ?, ?, ?, ?, ?, ?)",
                [
                    request.request_id,
                    request.origin,
                    request.received_at,
                    now,
                    len(found.get(CRM_RECORD, ())),
                    sum(len(values) for kind, values in found.items() if kind in fp.KINDS),
                    "applied",
                ],
            )
        if places:
            con.executemany(f"insert into {PLACES} values (?, ?, ?, ?, ?)", places)
        con.execute("drop table if exists _cible_suppressed")
        con.commit()
    except BaseException:
        con.rollback()
        raise
    # Outside the warehouse: not transactional, but idempotent (a rerun finds what is left by
    # fingerprint, without the plain identifiers).
    extra: list[list[object]] = []
    if models_dir is not None:
        for place, per_request in purge_model_store(models_dir, owner, key).items():
            extra += [[rid, place, "model_store", rows, now] for rid, rows in per_request.items()]
    if exports_dir is not None:
        for place, per_request in purge_export_files(exports_dir, owner, key).items():
            extra += [[rid, place, "export_file", rows, now] for rid, rows in per_request.items()]
    if online_store is not None:
        extra += _store_places(online_store, owner, key, now)
    if bi_copy is not None:
        extra += _store_places(bi_copy, erased_owner(con), key, now)
    for file, rows in outcome.landing_files.items():
        extra.append(["*", f"landing:{file}", "landing_file_still_holds", rows, now])
    if extra:
        con.executemany(f"insert into {PLACES} values (?, ?, ?, ?, ?)", extra)
    for row in [*places, *extra]:
        if row[2] != "landing_file_still_holds":
            outcome.rows_by_place[row[1]] = outcome.rows_by_place.get(row[1], 0) + row[3]
    outcome.applied = [request.request_id for request in requests]
    outcome.seconds = time.perf_counter() - started
    return outcome


def _materialise_view(con: duckdb.DuckDBPyConnection, relation: Relation) -> None:
    """A raw view over the user's Parquet files becomes a table, so rows can be removed (the
    files stay the user's; the next load keeps the rows out by the suppression list)."""
    temporary = f'"{relation.schema}"."_cible_materialised"'
    con.execute(f"create or replace table {temporary} as select * from {relation.sql}")
    con.execute(f"drop view {relation.sql}")
    con.execute(f'alter table {temporary} rename to "{relation.name}"')


def _note_files(
    con: duckdb.DuckDBPyConnection,
    relation: Relation,
    changes: dict[tuple[str, str], list[int]],
) -> None:
    """Count, per landing file, the marked raw rows (index 0) or rejected lines (index 1), so
    the load's bookkeeping still reconciles (they become ``rows_suppressed``)."""
    if relation.name == "_load_rejects":
        for source, file, rows in marked_rows_by(con, relation, ["source", "source_file"]):
            changes[(str(source), str(file))][1] += int(rows)
        return
    if relation.name.startswith("_"):
        return
    for file, rows in marked_rows_by(con, relation, ["_source_file"]):
        changes[(relation.name, str(file))][0] += int(rows)


def _update_load_files(
    con: duckdb.DuckDBPyConnection, changes: Mapping[tuple[str, str], list[int]]
) -> None:
    files = f"{settings.RAW_SCHEMA}._load_files"
    if not changes or not table_exists(con, files):
        return
    con.execute(f"alter table {files} add column if not exists rows_suppressed bigint default 0")
    for (source, file), (rows, lines) in changes.items():
        con.execute(
            f"""
            update {files} set rows_loaded = rows_loaded - ?, rows_rejected = rows_rejected - ?,
                rows_suppressed = coalesce(rows_suppressed, 0) + ?
            where source = ? and source_file = ?
              and loaded_at = (select max(loaded_at) from {files} where source = ?)
            """,
            [rows, lines, rows + lines, source, file, source],
        )


# ---------- outside the warehouse


def erased_owner(
    con: duckdb.DuckDBPyConnection, request_ids: Iterable[str] | None = None
) -> dict[str, str]:
    """Fingerprint -> request id of the erased persons on the suppression list (objectors are
    listed, not erased), of ``request_ids`` only when given."""
    wanted = set(request_ids) if request_ids is not None else None
    return {
        digest: request_id
        for digest, request_id in con.execute(
            f"select fingerprint, request_id from {suppression.RELATION} where reason <> ?",
            [suppression.OBJECTED],
        ).fetchall()
        if wanted is None or request_id in wanted
    }


def _store_places(store, owner: Mapping[str, str], key: bytes, now: datetime) -> list[list]:
    """Purge a place outside the warehouse; its rows of ``privacy.erasure_places``."""
    return [
        [rid, store.place, store.kind, rows, now] for rid, rows in store.purge(owner, key).items()
    ]


def catch_up_bi_copy(con: duckdb.DuckDBPyConnection, bi_copy, key: bytes, now: datetime) -> int:
    """Purge the BI copy of everyone erased so far and log it; returns the rows removed.

    The erasure step runs it even without a request: a copy restored from a backup, or one
    whose purge failed after the warehouse had committed, still holds people erased in an
    earlier run, and a run publishes only after its verification.
    """
    create_tables(con)
    owner = erased_owner(con)
    if not owner:
        return 0
    rows = _store_places(bi_copy, owner, key, now)
    if rows:
        con.executemany(f"insert into {PLACES} values (?, ?, ?, ?, ?)", rows)
    return sum(row[3] for row in rows)


def _stores(*stores) -> list:
    """The places outside the warehouse that are set up: objects with ``place``, ``kind`` and
    ``purge(owner, key, dry_run=False) -> {request_id: rows}``."""
    return [store for store in stores if store is not None]


# ---------- the model store


def purge_model_store(
    models_dir: Path, owner: Mapping[str, str], key: bytes, dry_run: bool = False
) -> dict[str, dict[str, int]]:
    """Remove the requests' rows from the model store's Parquet tables (evaluation and
    out-of-fold predictions are per customer). Fitted pipelines hold parameters, not rows.

    Returns:
        Place (file path) -> request id -> rows removed (or found, with ``dry_run``).
    """
    return purge_files(models_dir, ("*.parquet",), owner, key, dry_run)


def purge_export_files(
    exports_dir: Path, owner: Mapping[str, str], key: bytes, dry_run: bool = False
) -> dict[str, dict[str, int]]:
    """Remove the requests' rows from the audience files (CSV and Parquet; each row carries
    the customer id beside the e-mail, phone or their keyed hash: docs/activation.md)."""
    return purge_files(exports_dir, ("*.csv", "*.parquet"), owner, key, dry_run)


def purge_files(
    folder: Path,
    patterns: Sequence[str],
    owner: Mapping[str, str],
    key: bytes,
    dry_run: bool = False,
) -> dict[str, dict[str, int]]:
    """Remove the requests' rows from the files under `folder` matching `patterns`, each
    rewritten whole and renamed into place (a reader never sees a half-written file).

    Returns:
        Place (file path) -> request id -> rows removed (or found, with ``dry_run``).
    """
    result: dict[str, dict[str, int]] = {}
    if not Path(folder).is_dir():
        return result
    paths = sorted({path for pattern in patterns for path in Path(folder).rglob(pattern)})
    for path in paths:
        csv = path.suffix == ".csv"
        frame = pd.read_csv(path, dtype=str, keep_default_na=False) if csv else None
        frame = frame if csv else pd.read_parquet(path)
        columns = {
            column: COLUMN_KINDS[column.lower()]
            for column in frame.columns
            if column.lower() in COLUMN_KINDS
        }
        if not columns:
            continue
        owners = pd.Series(None, index=frame.index, dtype=object)
        for column, kind in columns.items():
            digests = fp.fingerprints(key, kind, frame[column].dropna().astype(str).unique())
            mine = {value: owner[d] for value, d in digests.items() if d in owner}
            if mine:
                found = frame[column].astype(str).map(mine)
                owners = owners.fillna(found)
        hit = owners.notna()
        if not hit.any():
            continue
        result[str(path)] = owners[hit].value_counts().astype(int).to_dict()
        if not dry_run:
            staging = path.with_name(f".{path.name}.erasure.tmp")
            kept = frame.loc[~hit]
            if csv:
                kept.to_csv(staging, index=False)
            else:
                kept.to_parquet(staging, index=False)
            replace_durably(staging, path)
    return result


# ---------- verifying


@dataclass(frozen=True)
class Verification:
    request_id: str
    places_scanned: int
    remaining: int
    remaining_places: tuple[str, ...]


def verify(
    con: duckdb.DuckDBPyConnection,
    key: bytes,
    now: datetime,
    models_dir: Path | None = None,
    online_store=None,
    bi_copy=None,
    request_ids: Iterable[str] | None = None,
    exports_dir: Path | None = None,
    record: bool = True,
) -> list[Verification]:
    """Scan every table and view, the model store, the online store and the BI copy for the
    fingerprints on the suppression list; record per request what remains (0 when verified).

    Args:
        request_ids: only these requests (default: every request on the list).
        record: append the results to ``privacy.erasure_verifications``.
    """
    create_tables(con)
    owner = erased_owner(con, request_ids)
    requests = sorted(set(owner.values()))
    if not requests:
        return []
    remaining: dict[str, dict[str, int]] = {request_id: {} for request_id in requests}
    scanned = 0
    with suppression.Scan(con, owner, key) as scan:
        for relation in relations(con):
            scanned += 1
            for request_id, columns in scan.matches(
                relation.sql, relation.key_columns, relation.text_columns
            ).items():
                remaining[request_id][relation.place] = count_rows(con, relation, columns)
    for folder, purge in ((models_dir, purge_model_store), (exports_dir, purge_export_files)):
        if folder is None:
            continue
        scanned += 1
        for place, per_request in purge(folder, owner, key, dry_run=True).items():
            for request_id, rows in per_request.items():
                remaining[request_id][place] = rows
    for store in _stores(online_store, bi_copy):
        scanned += 1
        for request_id, rows in store.purge(owner, key, dry_run=True).items():
            remaining[request_id][store.place] = rows
    con.execute("drop table if exists _cible_suppressed")
    results = [
        Verification(
            request_id,
            scanned,
            sum(places.values()),
            tuple(f"{place}: {rows}" for place, rows in sorted(places.items())),
        )
        for request_id, places in remaining.items()
    ]
    if record:
        con.executemany(
            f"insert into {VERIFICATIONS} values (?, ?, ?, ?, ?)",
            [
                [r.request_id, now, r.places_scanned, r.remaining, "; ".join(r.remaining_places)]
                for r in results
            ],
        )
    return results
