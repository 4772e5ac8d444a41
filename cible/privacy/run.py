"""The privacy steps of a run: pending erasure requests, and retention.

Requests are applied by the Dagster asset ``privacy/erasure`` right after the load and before
dbt builds anything from the raw tables, so every table built afterwards is built without the
erased. Retention is applied by ``privacy/retention`` right after the warehouse is built and
before anything reads it to profile, score, export or publish: who is past retention is read
from the contacts of this build (:mod:`.retention`), so a first run on a long history erases
them before they are ever profiled, and a person whose new contact arrived today is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from cible.privacy import erasure, retention, suppression
from cible.privacy import fingerprints as fp
from cible.privacy.config import PrivacyConfig, load_privacy_config


@dataclass
class PrivacyReport:
    """What the privacy step did."""

    requests: list[str] = field(default_factory=list)
    retention: list[str] = field(default_factory=list)
    outcome: erasure.Outcome = field(default_factory=erasure.Outcome)
    retention_cutoff: date | None = None
    objecting: int | None = None  # customers listed as objecting; None without a key
    bi_copy_caught_up: int = 0  # rows of persons erased in earlier runs found in the BI copy

    def summary(self) -> str:
        if not self.requests and not self.retention:
            cutoff = f" (retention: no contact since {self.retention_cutoff})" * bool(
                self.retention_cutoff
            )
            objecting = (
                f"; {self.objecting} objecting customer(s) on the suppression list"
                if self.objecting is not None
                else ""
            )
            return f"erasure: nothing to erase{cutoff}{objecting}{self._caught_up()}."
        text = (
            f"erasure: {len(self.requests)} request(s) and {len(self.retention)} customer(s)"
            f" past retention erased, {self.outcome.rows_purged:,} rows purged in"
            f" {len(self.outcome.rows_by_place)} places in {self.outcome.seconds:.1f} s"
        )
        if self.objecting is not None:
            text += f"; {self.objecting} objecting customer(s) on the suppression list"
        if self.outcome.landing_files:
            files = ", ".join(sorted(self.outcome.landing_files))
            text += (
                f"; the landing files {files} still hold erased persons: Cible keeps them out"
                " at every load, delete them in the system that exports them"
            )
        return text + "."

    def _caught_up(self) -> str:
        if not self.bi_copy_caught_up:
            return ""
        return (
            f"; the BI copy still held {self.bi_copy_caught_up:,} rows of persons erased in"
            " earlier runs (a restored copy?): removed"
        )


def apply_privacy(
    con: duckdb.DuckDBPyConnection,
    today: date | None = None,
    models_dir: Path | None = None,
    online_store=None,
    config: PrivacyConfig | None = None,
    exports_dir: Path | None = None,
    bi_copy=None,
    include_requests: bool = True,
    include_retention: bool = True,
) -> PrivacyReport:
    """Erase the persons of pending requests and (or) those past retention.

    Args:
        include_requests: apply the pending requests, and refresh the objecting customers and
            the BI copy's catch-up (the step before the build).
        include_retention: erase the customers past retention in the warehouse as built (the
            step after the build).

    Raises:
        PrivacyKeyError: someone is to be erased and no HMAC key is configured; nothing was
            erased.
    """
    config = config or load_privacy_config()
    today = today or datetime.now(UTC).date()
    erasure.create_tables(con)
    pending = erasure.pending_requests(con) if include_requests else []
    stale = retention.stale_customers(con, config.retention, today) if include_retention else []
    report = PrivacyReport(
        retention_cutoff=retention.cutoff(config.retention, today)
        if config.retention.enabled and include_retention
        else None
    )
    if not pending and not stale and not include_requests:
        return report
    if not pending and not stale:
        try:
            key = fp.load_key()
        except fp.PrivacyKeyError:
            return report  # nobody to erase: objectors are listed once a key is set
        now = datetime.now(UTC).replace(tzinfo=None)
        report.objecting = suppression.refresh_objections(con, key, now)
        if bi_copy is not None:
            report.bi_copy_caught_up = erasure.catch_up_bi_copy(con, bi_copy, key, now)
        return report
    key = fp.load_key(f"erasing {len(pending)} requested person(s) and {len(stale)} past retention")
    already = {
        row[0] for row in con.execute(f"select request_id from {erasure.ERASURES}").fetchall()
    }
    late = retention.requests_for(stale, today, key, taken=already)
    now = datetime.now(UTC).replace(tzinfo=None)
    report.outcome = erasure.apply(
        con,
        [*pending, *late],
        key,
        now,
        models_dir=models_dir,
        online_store=online_store,
        exports_dir=exports_dir,
        bi_copy=bi_copy,
    )
    report.requests = [request.request_id for request in pending]
    report.retention = [request.request_id for request in late]
    if include_requests:
        report.objecting = suppression.refresh_objections(con, key, now)
    return report


def verify_erasures(
    con: duckdb.DuckDBPyConnection,
    models_dir: Path | None = None,
    online_store=None,
    exports_dir: Path | None = None,
    bi_copy=None,
) -> tuple[list[erasure.Verification], float]:
    """Verify every erasure on the suppression list; then forget the fingerprints of retention
    purges (kept only so that this scan can prove them: a person past retention who comes back
    with a new contact is welcome).

    Returns:
        The verifications and the seconds the scan took.
    """
    import time

    started = time.perf_counter()
    erasure.create_tables(con)
    listed = con.execute(
        f"select count(*) from {suppression.RELATION} where reason <> ?", [suppression.OBJECTED]
    ).fetchall()[0][0]
    if not listed:
        return [], time.perf_counter() - started
    key = fp.load_key("verifying erasures", "Nothing was verified.")
    now = datetime.now(UTC).replace(tzinfo=None)
    results = erasure.verify(
        con,
        key,
        now,
        models_dir=models_dir,
        online_store=online_store,
        exports_dir=exports_dir,
        bi_copy=bi_copy,
    )
    done = [
        r.request_id for r in results if r.remaining == 0 and r.request_id.startswith("retention-")
    ]
    if done:
        marks = ", ".join("?" for _ in done)
        con.execute(
            f"delete from {suppression.RELATION} where reason = '{retention.RETENTION}' "
            f"and request_id in ({marks})",
            done,
        )
    return results, time.perf_counter() - started
