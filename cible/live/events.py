"""Live events: validated against the `events` source contract and the tracking plan exactly as
staging (`stg_web__events`) judges them, and written as the landing lines the loader reads.

The collector accepts what staging would keep valid and refuses what staging would flag
invalid, for the same reason (``missing_required_value``, ``unparseable_timestamp``,
``future_timestamp``, ``before_earliest_date``, ``unknown_event_type``); a field staging would
null (a negative duration, a scroll depth outside 0-100) is kept as sent, nulled in the live
state, and flagged by staging again at the next load. What staging cannot see (an unknown
field, a wrong JSON type, text too long, a NUL byte) is refused here too.

Every refused event lands in the landing folder as a quarantine line (:func:`quarantine_line`)
so that the next load puts it in ``quality.fct_quarantined_rows`` with a reason.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache

from cible import settings
from cible.contract import load_contract

SOURCE = "events"
# Reasons staging gives the same row for sure: the quarantine line is then the event itself.
STAGING_REASONS = frozenset({"missing_required_value", "unknown_event_type"})
# Marker of the quarantine lines the loader rejects (a JSON array is not an event).
QUARANTINE_MARKER = "cible_collector_rejected"
LOWERCASED = ("event_type", "page_category", "device_type", "traffic_source")


@cache
def contract_types() -> dict[str, str]:
    """The events contract's columns and types, from the dbt sources file."""
    return dict(load_contract()[SOURCE].data_types)


@cache
def tracking_plan() -> frozenset[str]:
    """The event types of the `tracking_plan` seed."""
    with open(settings.SEEDS_DIR / "tracking_plan.csv", newline="", encoding="utf-8") as handle:
        return frozenset(row["event_type"].strip().lower() for row in csv.DictReader(handle))


@dataclass(frozen=True)
class Event:
    """A valid event as the live state reads it (text trimmed, categories lower-cased, times
    naive UTC, fields staging would null already nulled)."""

    event_id: str
    event_type: str
    occurred_at: datetime
    anonymous_id: str | None = None
    customer_number: str | None = None
    duration_ms: int | None = None
    scroll_depth_pct: int | None = None
    device_type: str | None = None
    traffic_source: str | None = None
    page_category: str | None = None

    @property
    def visitor_key(self) -> str:
        """Whose sessions the event belongs to (batch: `int_events_sessionised`)."""
        return self.anonymous_id or self.customer_number or self.event_id


class Invalid(ValueError):
    """An event refused, with staging's reason code and a sentence for the sender."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _text(name: str, value, max_length: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Invalid("wrong_type", f"{name} must be text, not {type(value).__name__}")
    text = str(value)
    if "\x00" in text:
        raise Invalid("nul_byte", f"{name} holds a NUL character")
    if len(text) > max_length:
        raise Invalid("value_too_long", f"{name} is {len(text)} characters (at most {max_length})")
    return text.strip() or None


def _integer(name: str, value) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value.strip())
    if isinstance(value, str) and not value.strip():
        return None
    raise Invalid("wrong_type", f"{name} must be a whole number, not {value!r}"[:200])


def parse_timestamp(value: str) -> datetime:
    """ISO 8601 text as naive UTC; text without an offset is UTC (staging's rule)."""
    parsed = datetime.fromisoformat(value.strip())
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def iso(moment: datetime) -> str:
    """Naive UTC as ISO 8601 with its offset, the landing files' form."""
    return moment.replace(tzinfo=UTC).isoformat()


def validate(
    item,
    received_at: datetime,
    max_text_length: int = 256,
    future_tolerance_hours: float = 24,
    earliest_date: date = date(1990, 1, 1),
) -> tuple[dict, Event, list[str]]:
    """One sent event checked against the contract and the tracking plan.

    Args:
        item: the decoded JSON value sent for the event.
        received_at: the collector's clock (naive UTC), written as `received_at`.

    Returns:
        The landing row (contract columns; numbers as sent), the :class:`Event` the live
        state reads, and warnings about fields staging will null.

    Raises:
        Invalid: the event is refused (reason code and a sentence).
    """
    if not isinstance(item, dict):
        raise Invalid("not_an_object", f"an event is a JSON object, not {type(item).__name__}")
    types = contract_types()
    by_lower = {name.lower(): name for name in types}
    unknown = [key for key in item if str(key).lower() not in by_lower]
    if unknown:
        listed = ", ".join(repr(key)[:60] for key in unknown[:5])
        raise Invalid(
            "unknown_field", f"{listed} not in the events contract ({', '.join(types)})"[:500]
        )
    values = {by_lower[str(key).lower()]: value for key, value in item.items()}
    row: dict = {}
    for name, kind in types.items():
        value = values.get(name)
        if kind == "integer":
            row[name] = _integer(name, value)
        else:
            row[name] = _text(name, value, max_text_length)
    for name in LOWERCASED:
        if row[name] is not None:
            row[name] = row[name].lower()
    if row["event_id"] is None or row["event_type"] is None or row["occurred_at"] is None:
        missing = [n for n in ("event_id", "event_type", "occurred_at") if row[n] is None]
        raise Invalid("missing_required_value", f"{', '.join(missing)} missing or blank")
    try:
        occurred_at = parse_timestamp(row["occurred_at"])
    except ValueError:
        raise Invalid(
            "unparseable_timestamp",
            f"occurred_at {row['occurred_at']!r} is not an ISO 8601 time"[:200],
        ) from None
    if occurred_at > received_at + timedelta(hours=future_tolerance_hours):
        raise Invalid(
            "future_timestamp",
            f"occurred_at {iso(occurred_at)} is more than {future_tolerance_hours:g} h after "
            f"its receipt ({iso(received_at)})",
        )
    if occurred_at.date() < earliest_date:
        raise Invalid(
            "before_earliest_date",
            f"occurred_at {iso(occurred_at)} is before {earliest_date.isoformat()}, the earliest "
            "plausible day (setting collector.earliest_plausible_date)",
        )
    if row["event_type"] not in tracking_plan():
        known = ", ".join(sorted(tracking_plan()))
        raise Invalid(
            "unknown_event_type", f"{row['event_type']!r} is not in the tracking plan ({known})"
        )
    warnings = []
    duration, scroll = row["duration_ms"], row["scroll_depth_pct"]
    if duration is not None and duration < 0:
        warnings.append("duration_ms is negative: ignored")
        duration = None
    if scroll is not None and not 0 <= scroll <= 100:
        warnings.append("scroll_depth_pct is outside 0-100: ignored")
        scroll = None
    row["occurred_at"] = iso(occurred_at)
    row["received_at"] = iso(received_at)
    event = Event(
        event_id=row["event_id"],
        event_type=row["event_type"],
        occurred_at=occurred_at,
        anonymous_id=row["anonymous_id"],
        customer_number=row["customer_number"],
        duration_ms=duration,
        scroll_depth_pct=scroll,
        device_type=row["device_type"],
        traffic_source=row["traffic_source"],
        page_category=row["page_category"],
    )
    return row, event, warnings


def event_from_row(row: dict) -> Event:
    """The :class:`Event` of a landing row written by :func:`validate` (worker side)."""
    duration, scroll = row.get("duration_ms"), row.get("scroll_depth_pct")
    return Event(
        event_id=row["event_id"],
        event_type=row["event_type"],
        occurred_at=parse_timestamp(row["occurred_at"]),
        anonymous_id=row.get("anonymous_id"),
        customer_number=row.get("customer_number"),
        duration_ms=duration if duration is not None and duration >= 0 else None,
        scroll_depth_pct=scroll if scroll is not None and 0 <= scroll <= 100 else None,
        device_type=row.get("device_type"),
        traffic_source=row.get("traffic_source"),
        page_category=row.get("page_category"),
    )


def landing_line(row: dict) -> str:
    """A valid event as one JSON line of the landing folder (contract column names)."""
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"))


def quarantine_line(item, error: Invalid, received_at: datetime) -> str:
    """A refused event as a landing line the next load quarantines with a reason.

    Where staging would give the same reason for sure, the line is the event itself, which
    staging flags; otherwise it is a JSON array (``["cible_collector_rejected", reason,
    detail, received_at, event]``), which the loader rejects as not an object, keeping the
    line (and so the reason) as the payload of its quarantine row.
    """
    if error.reason in STAGING_REASONS and isinstance(item, dict):
        row = {key: _as_text(value) for key, value in item.items()}
        row["received_at"] = iso(received_at)
        return json.dumps(row, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(
        [QUARANTINE_MARKER, error.reason, error.detail, iso(received_at), item],
        ensure_ascii=True,
        separators=(",", ":"),
    )


def _as_text(value):
    return value if value is None or isinstance(value, str) else json.dumps(value)
