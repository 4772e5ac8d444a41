"""Audience exports: who goes, who is held out, who is excluded and why, written where the
campaign tools read it.

Per audience and run: the members of its segment in the current segmentation run that pass
its filters (the *eligible*) lose, in this order, everyone on the suppression list (erased or
objecting), everyone without consent to the audience's purpose in `marts.fct_customer_consents`,
and everyone without the contact the purpose needs; each is counted under that reason. The
others (the *exportable*) are split into the holdout (`cible/activation/holdout.py`), never
exported, and the treated, whose list goes to the destination: CSV and Parquet files, or a
webhook. A full export carries every treated customer; a delta export those who entered and
those who left since the audience's last delivered export. The manifest row, the members and
the holdout draws are appended to the ``activation`` schema in one transaction.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from cible import settings, warehouse
from cible.activation import holdout, identifiers
from cible.activation.config import (
    Audience,
    AudiencesConfig,
    column_problems,
    declared_segments,
    segment_problems,
)
from cible.contract import TableSpec, load_tables
from cible.files import replace_durably
from cible.ml.segmentation import rules
from cible.privacy import fingerprints as fp
from cible.privacy import suppression
from cible.yaml_config import ConfigError

SCHEMA = "activation"
MEMBERSHIPS = "marts.fct_segment_memberships"
SCORES = "marts.fct_customer_scores"
FEATURES = "marts.fct_customer_features"
CONSENTS = "marts.fct_customer_consents"
CUSTOMERS = "marts.dim_customers"
SEGMENTS = "marts.dim_segments"
# Statuses of an export the destination has: the next delta is computed against it.
DELIVERED = ("written", "sent", "empty")
# A weekly audience is exported again once its last export is this old (an hour of slack for
# a daily schedule that runs a little earlier than last week).
WEEK = timedelta(days=7) - timedelta(hours=1)


class ExportError(Exception):
    """An export cannot run (no segments yet, a setting to fix); the message says what to do."""


@dataclass
class ExportOutcome:
    """What one audience's export did: its manifest row and the files written."""

    audience: str
    manifest: dict
    files: list[Path] = field(default_factory=list)
    skipped: str | None = None

    def line(self) -> str:
        """One line for the run's summary."""
        if self.skipped:
            return f"{self.audience}: not exported ({self.skipped})"
        m = self.manifest
        return (
            f"{self.audience}: {m['status']}, {m['sent_count']} sent, {m['held_out_count']} held "
            f"out, excluded {m['excluded_suppressed']} suppressed / {m['excluded_no_consent']} "
            f"without {m['purpose']} consent / {m['excluded_no_identifier']} without contact "
            f"(+{m['entered_count']} -{m['left_count']})"
        )


def declared_tables() -> dict[str, TableSpec]:
    """The tables of the ``activation`` schema, as the dbt source declares them."""
    return load_tables(SCHEMA)


# ---------- checks against the warehouse


def known_segments(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Segment ids that exist: declared in the segmentation config, or built (dim_segments)."""
    built = set()
    if warehouse.table_exists(con, SEGMENTS):
        built = {row[0] for row in con.execute(f"select segment_id from {SEGMENTS}").fetchall()}
    return built | set(declared_segments())


def known_columns(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Columns a filter may read: those of the features and scores marts."""
    columns: set[str] = set()
    for relation in (FEATURES, SCORES):
        if warehouse.table_exists(con, relation):
            columns |= {row[0] for row in con.execute(f"describe {relation}").fetchall()}
    return columns


def check_against_warehouse(con: duckdb.DuckDBPyConnection, config: AudiencesConfig) -> None:
    """Refuse audiences naming a segment or column the warehouse does not have.

    Raises:
        ConfigError: every problem, with its key path.
    """
    for relation in (MEMBERSHIPS, CONSENTS, CUSTOMERS):
        if not warehouse.table_exists(con, relation):
            raise ExportError(
                f"{relation} does not exist: build the warehouse and run the segmentation "
                "before exporting audiences (dbt build, or materialize the assets upstream)"
            )
    problems = segment_problems(config, known_segments(con))
    problems += column_problems(config, known_columns(con))
    if problems:
        raise ConfigError(problems, str(settings.audiences_config_path()))


# ---------- selecting


def current_runs(con: duckdb.DuckDBPyConnection) -> tuple[str, datetime, str | None]:
    """The current segmentation run (id, as-of) and the scoring run of the scores mart."""
    row = con.execute(
        f"select run_id, as_of_at from {MEMBERSHIPS} where is_current_run limit 1"
    ).fetchall()
    if not row:
        raise ExportError(
            f"{MEMBERSHIPS} has no current run: run the segmentation before exporting audiences"
        )
    scoring = None
    if warehouse.table_exists(con, SCORES):
        found = con.execute(f"select max(scoring_run_id) from {SCORES}").fetchall()
        scoring = found[0][0] if found else None
    return row[0][0], row[0][1], scoring


def eligible(con: duckdb.DuckDBPyConnection, audience: Audience) -> pd.DataFrame:
    """The segment's customers of the current run that pass the filters (``customer_id``,
    ``stratum``: their exclusive segment)."""
    frame = con.execute(
        f"""
        select member.customer_id, exclusive.segment_id as stratum
        from {MEMBERSHIPS} as member
        inner join {MEMBERSHIPS} as exclusive
            on exclusive.customer_id = member.customer_id
            and exclusive.run_id = member.run_id
            and exclusive.is_exclusive
        where member.is_current_run and member.segment_id = ?
        order by member.customer_id
        """,
        [audience.segment],
    ).df()
    if not audience.filters or frame.empty:
        return frame
    values = filter_values(con, audience.columns())
    joined = frame.merge(values, on="customer_id", how="left")
    return frame[rules.evaluate(audience.filters, joined)].reset_index(drop=True)


def filter_values(con: duckdb.DuckDBPyConnection, columns: Sequence[str]) -> pd.DataFrame:
    """The filter columns per customer, from the features and scores marts."""
    frame = None
    for relation in (FEATURES, SCORES):
        if not warehouse.table_exists(con, relation):
            continue
        present = {row[0] for row in con.execute(f"describe {relation}").fetchall()}
        wanted = [c for c in columns if c in present and (frame is None or c not in frame)]
        if not wanted:
            continue
        part = con.execute(
            "select customer_id, " + ", ".join(f'"{c}"' for c in wanted) + f" from {relation}"
        ).df()
        frame = part if frame is None else frame.merge(part, on="customer_id", how="outer")
    return frame if frame is not None else pd.DataFrame({"customer_id": []})


def contacts(
    con: duckdb.DuckDBPyConnection, customer_ids: Iterable[str], purpose: str
) -> pd.DataFrame:
    """Per customer: the contact column the purpose needs, the consent and its legal basis."""
    column, _ = identifiers.CONTACT[purpose]
    ids = pd.DataFrame({"customer_id": pd.Series(list(customer_ids), dtype="string")})
    con.register("_cible_export_ids", ids)
    try:
        return con.execute(
            f"""
            select ids.customer_id, customer.email, customer.phone_e164,
                customer.{column} as contact,
                coalesce(consent.is_allowed, false) as is_allowed, consent.legal_basis
            from _cible_export_ids as ids
            left join {CUSTOMERS} as customer on customer.customer_id = ids.customer_id
            left join {CONSENTS} as consent
                on consent.customer_id = ids.customer_id and consent.purpose = ?
            """,
            [purpose],
        ).df()
    finally:
        con.unregister("_cible_export_ids")


def suppressed_mask(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> pd.Series:
    """Customers on the suppression list (erased or objecting) by customer id, e-mail or
    phone fingerprint."""
    listed = suppression.read(con, (suppression.ERASED, suppression.OBJECTED))
    mask = pd.Series(False, index=frame.index)
    if not listed:
        return mask
    key = fp.load_key("an audience export", "Nothing was exported.")
    for column, kind in (("customer_id", "customer_id"), ("email", "email"),
                         ("phone_e164", "phone")):  # fmt: skip
        digests = listed.get(kind, set())
        if digests:
            mask |= frame[column].map(lambda v, k=kind, d=digests: fp.fingerprint(key, k, v) in d)
    return mask


def classify(
    con: duckdb.DuckDBPyConnection, members: pd.DataFrame, audience: Audience
) -> pd.DataFrame:
    """`members` with their contact, legal basis and ``excluded`` reason (None: exportable)."""
    frame = members.merge(contacts(con, members["customer_id"], audience.purpose), how="left")
    _, kind = identifiers.CONTACT[audience.purpose]
    frame["contact"] = frame["contact"].map(lambda v: identifiers.normalise(kind, v))
    reason = pd.Series(None, index=frame.index, dtype=object)
    reason[frame["contact"].isna()] = "no_identifier"
    reason[~frame["is_allowed"].astype(bool)] = "no_consent"
    reason[suppressed_mask(con, frame)] = "suppressed"
    frame["excluded"] = reason
    return frame


# ---------- history


def _read(con: duckdb.DuckDBPyConnection, table: str, sql: str, params: list) -> pd.DataFrame:
    if not warehouse.table_exists(con, f"{SCHEMA}.{table}"):
        return pd.DataFrame()
    return con.execute(sql.format(table=f"{SCHEMA}.{table}"), params).df()


def last_export(con: duckdb.DuckDBPyConnection, audience: str) -> pd.Series | None:
    """The audience's last export the destination received."""
    frame = _read(
        con,
        "audience_exports",
        "select * from {table} where audience = ? and status in (?, ?, ?) "
        "order by exported_at desc limit 1",
        [audience, *DELIVERED],
    )
    return None if frame.empty else frame.iloc[0]


def previous_arms(con: duckdb.DuckDBPyConnection, audience: str, export_id: str) -> dict[str, str]:
    """Each exportable member of an earlier export with its arm (``treated`` / ``holdout``)."""
    frame = _read(
        con,
        "audience_members",
        "select customer_id, arm from {table} where audience = ? and export_id = ?",
        [audience, export_id],
    )
    return dict(zip(frame["customer_id"], frame["arm"], strict=True)) if not frame.empty else {}


def already_delivered(
    last: pd.Series | None,
    last_arms: dict[str, str],
    audience: Audience,
    as_of_at: datetime,
    arms: dict[str, str],
) -> str | None:
    """Why this export would deliver again what the destination already has, else None.

    The same definition, the same data day and the same members in the same arms as the last
    delivered export: a daily run run again (after a failure or a kill, or by hand) must not
    send the day's audience a second time. Any change (a withdrawal, an objection, a new
    member, another day) is delivered; `force` delivers anyway.
    """
    if last is None or pd.isna(last["as_of_at"]):
        return None
    same_state = (
        last["definition_fingerprint"] == audience.fingerprint()
        and last["destination"] == audience.destination.name
        and last["identifier_type"] == audience.destination.identifier
        and last["mode"] == audience.mode
        and pd.Timestamp(last["as_of_at"]) == pd.Timestamp(as_of_at)
    )
    if not same_state:
        return None
    if last_arms != arms:
        return None
    treated = sum(arm == "treated" for arm in arms.values())
    return (
        f"already delivered for data as of {pd.Timestamp(as_of_at):%Y-%m-%d} in export "
        f"{last['export_id']} with the same {treated} treated and {len(arms) - treated} held "
        "out; force delivers it again"
    )


def previous_draws(con: duckdb.DuckDBPyConnection, audience: Audience) -> pd.DataFrame:
    frame = _read(
        con,
        "audience_holdout",
        "select customer_id, is_holdout from {table} "
        "where audience = ? and definition_fingerprint = ?",
        [audience.name, audience.fingerprint()],
    )
    return frame if not frame.empty else pd.DataFrame({"customer_id": [], "is_holdout": []})


# ---------- writing


def identifier_column(audience: Audience) -> str:
    """The file's identifier column: ``email`` / ``phone``, or ``email_hmac_sha256`` / ...."""
    _, kind = identifiers.CONTACT[audience.purpose]
    hashed = audience.destination.identifier == "hmac_sha256"
    return f"{kind}_hmac_sha256" if hashed else kind


def delivered_rows(
    sent: pd.DataFrame,
    left: pd.DataFrame,
    audience: Audience,
    key: bytes | None,
) -> pd.DataFrame:
    """The rows the destination gets: ``customer_id`` (Cible's pseudonymous id, for joining
    results back), the identifier, and in delta mode ``change`` (entered / left)."""
    _, kind = identifiers.CONTACT[audience.purpose]
    column = identifier_column(audience)

    def identify(values: pd.Series) -> pd.Series:
        if key is None:
            return values
        return values.map(lambda v: identifiers.hmac_sha256(key, kind, v))

    rows = pd.DataFrame({"customer_id": sent["customer_id"], column: identify(sent["contact"])})
    if audience.mode == "delta":
        rows["change"] = "entered"
        gone = pd.DataFrame(
            {
                "customer_id": left["customer_id"],
                column: identify(left["contact"]),
                "change": "left",
            }
        )
        rows = pd.concat([rows, gone], ignore_index=True)
    return rows.sort_values("customer_id", kind="stable").reset_index(drop=True)


def write_files(
    rows: pd.DataFrame, folder: Path, export_id: str, formats: Sequence[str]
) -> list[Path]:
    """The audience's files, each written whole and renamed into place."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        target = folder / f"{export_id}.{fmt}"
        staging = folder / f".{export_id}.{fmt}.tmp"
        if fmt == "csv":
            rows.to_csv(staging, index=False)
        else:
            rows.astype("string").to_parquet(staging, index=False)
        replace_durably(staging, target)
        written.append(target)
    return written


def prune_files(folder: Path, keep_days: int, now: datetime) -> int:
    """Delete the audience's files older than `keep_days` (data minimisation); returns how many."""
    if not folder.is_dir():
        return 0
    limit = (now - timedelta(days=keep_days)).timestamp()
    removed = 0
    for path in folder.iterdir():
        if path.is_file() and path.stat().st_mtime < limit:
            path.unlink()
            removed += 1
    return removed


def webhook_url(audience: Audience) -> str | None:
    destination = audience.destination
    if destination.url_env:
        return os.environ.get(destination.url_env) or None
    return destination.url


def export_id_for(audience: str, now: datetime) -> str:
    digest = hashlib.sha256(f"{audience}:{now.isoformat()}:{os.getpid()}".encode()).hexdigest()
    return f"{audience}-{now:%Y%m%dT%H%M%S}-{digest[:6]}"


# ---------- one audience


def export_audience(
    con: duckdb.DuckDBPyConnection,
    audience: Audience,
    config: AudiencesConfig,
    runs: tuple[str, datetime, str | None],
    now: datetime,
    exports_dir: Path,
    force: bool = False,
) -> tuple[ExportOutcome, dict[str, pd.DataFrame]]:
    """Select, exclude, hold out and deliver one audience.

    Returns:
        The outcome and the rows to append per ``activation`` table (nothing is written to
        the warehouse here; files and webhook calls are).
    """
    last = last_export(con, audience.name)
    if audience.schedule == "weekly" and last is not None and not force:
        age = now - pd.Timestamp(last["exported_at"]).to_pydatetime()
        if age < WEEK:
            return ExportOutcome(audience.name, {}, skipped=f"weekly, last export {age} ago"), {}
    segment_run_id, as_of_at, scoring_run_id = runs
    export_id = export_id_for(audience.name, now)
    members = classify(con, eligible(con, audience), audience)
    exportable = members[members["excluded"].isna()].reset_index(drop=True)
    draws = holdout.assign(
        exportable, previous_draws(con, audience), audience.name, audience.fingerprint(),
        audience.holdout_share,
    )  # fmt: skip
    exportable["is_holdout"] = draws["is_holdout"].to_numpy()
    exportable["arm"] = exportable["is_holdout"].map({True: "holdout", False: "treated"})
    last_arms = previous_arms(con, audience.name, last["export_id"]) if last is not None else {}
    arms = dict(zip(exportable["customer_id"], exportable["arm"], strict=True))
    repeat = None if force else already_delivered(last, last_arms, audience, as_of_at, arms)
    if repeat is not None:
        return ExportOutcome(audience.name, {}, skipped=repeat), {}
    treated = exportable[~exportable["is_holdout"]]
    before = {customer for customer, arm in last_arms.items() if arm == "treated"}
    now_treated = set(treated["customer_id"])
    entered = treated[~treated["customer_id"].isin(before)]
    left_ids = sorted(before - now_treated)
    left = (
        contacts(con, left_ids, audience.purpose)
        if left_ids
        else pd.DataFrame({"customer_id": [], "contact": []})
    )
    key, problem = None, None
    if audience.destination.identifier == "hmac_sha256":
        try:
            key = identifiers.load_key(f"audience {audience.name!r} (identifier: hmac_sha256)")
        except fp.PrivacyKeyError as error:
            problem = str(error)  # this audience fails; the others are exported
    sent = entered if audience.mode == "delta" else treated
    rows = delivered_rows(sent, left if audience.mode == "delta" else left.iloc[0:0], audience, key)

    destination = audience.destination
    files: list[Path] = []
    batches: list = []
    if problem is not None:
        rows = rows.iloc[0:0]
        status, detail, location = "failed", problem, destination.name
    elif destination.type == "file":
        folder = exports_dir / audience.name
        prune_files(folder, config.files.keep_days, now)
        files = write_files(rows, folder, export_id, destination.formats)
        status = "written" if len(treated) else "empty"
        location = ";".join(str(path) for path in files)
        detail = f"{len(rows)} rows written to {len(files)} file(s)"
    else:
        url = webhook_url(audience)
        location = destination.name
        if url is None:
            status, detail = (
                "failed",
                (
                    f"{destination.url_env} is not set: set it to the endpoint, or disable the "
                    "audience (enabled: false)"
                ),
            )
        else:
            from cible.activation.webhook import post_batches

            header = {"audience": audience.name, "identifier_type": destination.identifier}
            batches = post_batches(
                url, rows, header, export_id, destination.batch_size, destination.max_attempts,
                destination.backoff_seconds, destination.timeout_seconds,
            )  # fmt: skip
            failed = [b for b in batches if b.outcome != "sent"]
            status = "failed" if failed else ("sent" if len(treated) else "empty")
            detail = f"{len(batches) - len(failed)} of {len(batches)} batches sent" + (
                f"; first failure: {failed[0].error}" if failed else ""
            )
    counts = members["excluded"].value_counts()
    bases = treated["legal_basis"].fillna("unknown").value_counts().sort_index()
    manifest = {
        "audience": audience.name,
        "export_id": export_id,
        "exported_at": now,
        "as_of_at": as_of_at,
        "segment_run_id": segment_run_id,
        "scoring_run_id": scoring_run_id,
        "definition_fingerprint": audience.fingerprint(),
        "segment_id": audience.segment,
        "destination": destination.name,
        "destination_type": destination.type,
        "identifier_type": destination.identifier,
        "mode": audience.mode,
        "purpose": audience.purpose,
        "consent_basis": "; ".join(f"{basis}: {n}" for basis, n in bases.items()) or "none",
        "eligible_count": len(members),
        "sent_count": len(treated),
        "held_out_count": int(exportable["is_holdout"].sum()),
        "excluded_suppressed": int(counts.get("suppressed", 0)),
        "excluded_no_consent": int(counts.get("no_consent", 0)),
        "excluded_no_identifier": int(counts.get("no_identifier", 0)),
        "entered_count": len(entered),
        "left_count": len(left_ids),
        "rows_written": len(rows),
        "location": location,
        "status": status,
        "status_detail": detail,
        # The measurement settings travel with the export, so `dbt build` alone reports it.
        "uplift_window_days": config.uplift.window_days,
        "uplift_min_per_arm": config.uplift.min_per_arm,
        "uplift_min_expected_conversions": config.uplift.min_expected_conversions,
    }
    new_draws = draws[draws["is_new"]]
    tables = {
        "audience_exports": pd.DataFrame([manifest]),
        "audience_members": pd.DataFrame(
            {
                "audience": audience.name,
                "export_id": export_id,
                "customer_id": exportable["customer_id"],
                "arm": exportable["arm"],
                "stratum": exportable["stratum"],
            }
        ),
        "audience_holdout": pd.DataFrame(
            {
                "audience": audience.name,
                "definition_fingerprint": audience.fingerprint(),
                "customer_id": new_draws["customer_id"],
                "is_holdout": new_draws["is_holdout"],
                "stratum": new_draws["stratum"],
                "assigned_at": now,
            }
        ),
        "webhook_batches": pd.DataFrame(
            [
                {"audience": audience.name, "export_id": export_id, **vars(batch)}
                for batch in batches
            ],
            columns=[
                "audience",
                "export_id",
                "batch_number",
                "idempotency_key",
                "rows",
                "attempts",
                "status_code",
                "outcome",
                "error",
                "finished_at",
            ],
        ),
    }
    return ExportOutcome(audience.name, manifest, files), tables


# ---------- every audience


def export_audiences(
    con: duckdb.DuckDBPyConnection,
    config: AudiencesConfig,
    now: datetime | None = None,
    exports_dir: Path | None = None,
    only: Sequence[str] | None = None,
    force: bool = False,
) -> list[ExportOutcome]:
    """Export every enabled audience (or those named in `only`) and append the run's rows.

    Raises:
        ConfigError: an audience names a segment or column the warehouse does not have.
        ExportError: the warehouse has no segmentation run yet.
    """
    now = now or datetime.now(UTC).replace(tzinfo=None)
    exports_dir = exports_dir or settings.exports_dir()
    check_against_warehouse(con, config)
    runs = current_runs(con)
    outcomes: list[ExportOutcome] = []
    appended: dict[str, list[pd.DataFrame]] = {name: [] for name in declared_tables()}
    for audience in config.enabled():
        if only is not None and audience.name not in only:
            continue
        outcome, tables = export_audience(con, audience, config, runs, now, exports_dir, force)
        outcomes.append(outcome)
        for name, frame in tables.items():
            appended[name].append(frame)
    con.execute("begin transaction")
    try:
        for name, spec in declared_tables().items():
            frames = [frame for frame in appended[name] if len(frame)]
            warehouse.create_declared_table(con, spec)
            if frames:
                warehouse.append_declared(con, pd.concat(frames, ignore_index=True), spec)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return outcomes


def delivered_customers(con: duckdb.DuckDBPyConnection, outcome: ExportOutcome) -> pd.Series | None:
    """The customers an export delivered as members (not `left` rows), read back from its
    files, or from the members table for a webhook."""
    if outcome.skipped:
        return None
    if outcome.files:
        path = outcome.files[0]
        rows = pd.read_csv(path, dtype=str) if path.suffix == ".csv" else pd.read_parquet(path)
        if "change" in rows:
            rows = rows[rows["change"] != "left"]
        return rows["customer_id"]
    frame = _read(
        con,
        "audience_members",
        "select customer_id from {table} where export_id = ? and arm = 'treated'",
        [outcome.manifest["export_id"]],
    )
    return frame["customer_id"] if not frame.empty else pd.Series(dtype=str)


def audit_delivered(con: duckdb.DuckDBPyConnection, outcomes: Sequence[ExportOutcome]) -> list[str]:
    """Who was delivered without consent to the purpose or while suppressed (should be no
    one): one line per audience with a problem."""
    problems = []
    for outcome in outcomes:
        customers = delivered_customers(con, outcome)
        if customers is None or customers.empty:
            continue
        purpose = outcome.manifest["purpose"]
        frame = contacts(con, customers, purpose)
        no_consent = int((~frame["is_allowed"].astype(bool)).sum())
        suppressed = int(suppressed_mask(con, frame).sum())
        if no_consent or suppressed:
            problems.append(
                f"{outcome.audience} ({outcome.manifest['export_id']}): {no_consent} without "
                f"{purpose} consent, {suppressed} suppressed"
            )
    return problems
