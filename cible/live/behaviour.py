"""Browsing behaviour as batch computes it, in pure Python: sessions, the web features of
`fct_customer_features` and the decayed behaviour vector.

The rules are the dbt models', line for line:

- sessions (`dbt_project/macros/sessions.sql`, as `int_events_sessionised` and
  `int_sessions_aggregated` apply it): a visitor's events (visitor key: anonymous id, else
  customer number, else event id) ordered by time and event id; a gap of more than the
  timeout (in whole seconds, as `datediff('second')` counts) starts a new session;
- a session (`int_sessions_aggregated`) belongs to the greatest customer id logged in during
  it, else to the one customer who ever logged in on its device (`int_customer_web_features`:
  a device used by two customers links nobody); its device and traffic source are its first
  event's; durations and start times are whole-second differences and local hours;
- the features (`int_customer_web_features`) count sessions started in the long and recent
  windows, with rates and shares null when undefined.

Sessions are summaries that merge, so events may come in any order and the result is the
same. The decayed vector weighs each session's counts by ``2 ** (-age / half_life)``, its age
measured from its last event: a function of the sessions alone, so batch can compute it too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

# Event type -> session count column (dbt macro `event_count_columns`).
EVENT_COUNT_COLUMNS = {
    "page_view": "page_views",
    "product_view": "product_views",
    "search": "searches",
    "video_play": "video_plays",
    "wishlist_add": "wishlist_adds",
    "add_to_cart": "add_to_carts",
    "checkout": "checkouts",
    "purchase": "purchases",
    "scroll": "scrolls",
    "login": "logins",
}
BROWSING_COUNTS = (
    "page_views",
    "product_views",
    "searches",
    "video_plays",
    "wishlist_adds",
    "add_to_carts",
    "checkouts",
    "purchases",
)
DEVICE_TYPES = ("mobile", "desktop", "tablet", "app")
TRAFFIC_SOURCES = ("direct", "seo", "sea", "social", "email", "affiliate", "referral")
DWELL_EVENTS = ("page_view", "product_view")
# What the decayed vector weighs, per half-life.
DECAYED = ("sessions", *BROWSING_COUNTS, "page_dwell_seconds", "video_watch_seconds")
EPOCH = datetime(1970, 1, 1)


def whole_seconds(moment: datetime) -> int:
    """Seconds since 1970, truncated: what `datediff('second')` compares."""
    return (moment - EPOCH) // timedelta(seconds=1)


def seconds_between(start: datetime, end: datetime) -> int:
    return whole_seconds(end) - whole_seconds(start)


def days_between(start: datetime, end: datetime) -> int:
    """Day boundaries crossed, as `datediff('day')`."""
    return (end.date() - start.date()).days


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_time(moment: datetime, zone: str) -> datetime:
    """Naive UTC to naive local time (`to_local_time`)."""
    return moment.replace(tzinfo=ZoneInfo("UTC")).astimezone(_zone(zone)).replace(tzinfo=None)


@dataclass
class Session:
    """One session's summary; mergeable with another of the same visitor."""

    started_at: datetime
    ended_at: datetime
    first_event_id: str
    device_type: str | None = None
    traffic_source: str | None = None
    login_customer_id: str | None = None
    events: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    page_dwell_ms: int = 0
    video_ms: int = 0
    max_scroll_pct: int | None = None

    @property
    def first_key(self) -> tuple[datetime, str]:
        return (self.started_at, self.first_event_id)

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["started_at"] = self.started_at.isoformat()
        out["ended_at"] = self.ended_at.isoformat()
        return out

    @classmethod
    def from_dict(cls, data: dict) -> Session:
        return cls(
            **{
                **data,
                "started_at": datetime.fromisoformat(data["started_at"]),
                "ended_at": datetime.fromisoformat(data["ended_at"]),
                "counts": dict(data.get("counts") or {}),
            }
        )


def session_of(event, login_customer_id: str | None) -> Session:
    """A one-event session (`event`: a :class:`cible.live.events.Event`)."""
    column = EVENT_COUNT_COLUMNS.get(event.event_type)
    duration = event.duration_ms or 0
    return Session(
        started_at=event.occurred_at,
        ended_at=event.occurred_at,
        first_event_id=event.event_id,
        device_type=event.device_type,
        traffic_source=event.traffic_source,
        login_customer_id=login_customer_id,
        events=1,
        counts={column: 1} if column else {},
        page_dwell_ms=duration if event.event_type in DWELL_EVENTS else 0,
        video_ms=duration if event.event_type == "video_play" else 0,
        max_scroll_pct=event.scroll_depth_pct,
    )


def merge(a: Session, b: Session) -> Session:
    """Two sessions of one visitor as one (the events of both)."""
    first = a if a.first_key <= b.first_key else b
    logins = [c for c in (a.login_customer_id, b.login_customer_id) if c is not None]
    scrolls = [s for s in (a.max_scroll_pct, b.max_scroll_pct) if s is not None]
    counts = dict(a.counts)
    for column, count in b.counts.items():
        counts[column] = counts.get(column, 0) + count
    return Session(
        started_at=first.started_at,
        ended_at=max(a.ended_at, b.ended_at),
        first_event_id=first.first_event_id,
        device_type=first.device_type,
        traffic_source=first.traffic_source,
        login_customer_id=max(logins) if logins else None,
        events=a.events + b.events,
        counts=counts,
        page_dwell_ms=a.page_dwell_ms + b.page_dwell_ms,
        video_ms=a.video_ms + b.video_ms,
        max_scroll_pct=max(scrolls) if scrolls else None,
    )


def add_to_sessions(sessions: list[Session], new: Session, timeout_seconds: int) -> list[Session]:
    """A visitor's sessions with `new` added: merged with every session it comes within the
    timeout of (an event between two sessions may join them). Sorted by start."""
    touching, apart = [], []
    for session in sessions:
        before = seconds_between(new.ended_at, session.started_at)  # new, then session
        after = seconds_between(session.ended_at, new.started_at)  # session, then new
        (touching if before <= timeout_seconds and after <= timeout_seconds else apart).append(
            session
        )
    merged = new
    for session in touching:
        merged = merge(merged, session)
    return sorted([*apart, merged], key=lambda s: s.first_key)


@dataclass(frozen=True)
class Window:
    """The feature windows of the latest batch: sessions started on or after each start count.
    The live state keeps the batch's starts until the next batch (docs/live.md)."""

    as_of_at: datetime
    recent_start_at: datetime
    long_start_at: datetime

    def as_of(self, now: datetime) -> datetime:
        """The as-of date at `now`: the day after it, as batch's default (never before the
        batch's own)."""
        tomorrow = datetime.combine(now.date(), datetime.min.time()) + timedelta(days=1)
        return max(self.as_of_at, tomorrow)


@dataclass
class WindowStats:
    """Additive sums of sessions over the windows: what the web features are made of."""

    sessions_long: int = 0
    last_visit_at: datetime | None = None
    devices: dict[str, int] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)
    evening: int = 0
    weekend: int = 0
    sessions_recent: int = 0
    duration_seconds: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    video_seconds: float = 0.0
    scroll_sum: int = 0
    scroll_sessions: int = 0

    def add(self, other: WindowStats) -> WindowStats:
        def plus(x: dict, y: dict) -> dict:
            return {k: x.get(k, 0) + y.get(k, 0) for k in {*x, *y}}

        visits = [v for v in (self.last_visit_at, other.last_visit_at) if v is not None]
        return WindowStats(
            sessions_long=self.sessions_long + other.sessions_long,
            last_visit_at=max(visits) if visits else None,
            devices=plus(self.devices, other.devices),
            sources=plus(self.sources, other.sources),
            evening=self.evening + other.evening,
            weekend=self.weekend + other.weekend,
            sessions_recent=self.sessions_recent + other.sessions_recent,
            duration_seconds=self.duration_seconds + other.duration_seconds,
            counts=plus(self.counts, other.counts),
            video_seconds=self.video_seconds + other.video_seconds,
            scroll_sum=self.scroll_sum + other.scroll_sum,
            scroll_sessions=self.scroll_sessions + other.scroll_sessions,
        )

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["last_visit_at"] = self.last_visit_at.isoformat() if self.last_visit_at else None
        return out

    @classmethod
    def from_dict(cls, data: dict | None) -> WindowStats:
        if not data:
            return cls()
        visit = data.get("last_visit_at")
        return cls(**{**data, "last_visit_at": datetime.fromisoformat(visit) if visit else None})


def window_stats(sessions, window: Window, zone: str) -> WindowStats:
    """The sums of the sessions that count in the windows."""
    stats = WindowStats()
    for session in sessions:
        if session.started_at < window.long_start_at:
            continue
        local = local_time(session.started_at, zone)
        one = WindowStats(
            sessions_long=1,
            last_visit_at=session.started_at,
            devices={session.device_type: 1} if session.device_type in DEVICE_TYPES else {},
            sources={session.traffic_source: 1}
            if session.traffic_source in TRAFFIC_SOURCES
            else {},
            evening=int(local.hour >= 18),
            weekend=int(local.isoweekday() >= 6),
        )
        if session.started_at >= window.recent_start_at:
            one.sessions_recent = 1
            one.duration_seconds = seconds_between(session.started_at, session.ended_at)
            one.counts = {c: session.counts.get(c, 0) for c in BROWSING_COUNTS}
            one.video_seconds = session.video_ms / 1000.0
            if session.max_scroll_pct is not None:
                one.scroll_sum, one.scroll_sessions = session.max_scroll_pct, 1
        stats = stats.add(one)
    return stats


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def web_features(stats: WindowStats, as_of_at: datetime) -> dict:
    """The web columns of `fct_customer_features` from the sums (`as_of_at` for the days
    since the last visit)."""
    long_, recent = stats.sessions_long, stats.sessions_recent
    counts = stats.counts
    features = {
        "sessions_long_window": long_,
        "sessions_recent_window": recent,
        "days_since_last_visit": days_between(stats.last_visit_at, as_of_at)
        if stats.last_visit_at and long_
        else None,
        "time_on_site_recent_window_seconds": float(stats.duration_seconds),
        "average_session_seconds": _ratio(stats.duration_seconds, recent),
        **{f"{c}_recent_window": counts.get(c, 0) for c in BROWSING_COUNTS},
        "video_watch_recent_window_seconds": float(stats.video_seconds),
        "average_scroll_depth_pct": _ratio(stats.scroll_sum, stats.scroll_sessions),
        # Null without a recent session, as the left join in batch leaves it.
        "add_to_cart_rate": _ratio(counts.get("add_to_carts", 0), counts.get("product_views", 0))
        if recent
        else None,
        "checkout_rate": _ratio(counts.get("checkouts", 0), counts.get("add_to_carts", 0))
        if recent
        else None,
    }
    for device in DEVICE_TYPES:
        features[f"{device}_session_share"] = _ratio(stats.devices.get(device, 0), long_)
    for source in TRAFFIC_SOURCES:
        features[f"{source}_traffic_share"] = _ratio(stats.sources.get(source, 0), long_)
    features["evening_session_share"] = _ratio(stats.evening, long_)
    features["weekend_session_share"] = _ratio(stats.weekend, long_)
    return features


WEB_FEATURES = tuple(web_features(WindowStats(), datetime(2000, 1, 1)))
# Profile completeness counts "has a session in the long window" as one of its 11 signals.
COMPLETENESS_SIGNALS = 11


def with_live_web_features(base: dict, live: dict) -> dict:
    """A batch feature row with its web columns replaced by live ones, and the completeness
    score that depends on them recomputed."""
    row = {**base, **live}
    completeness = base.get("profile_completeness")
    if completeness is not None and not _isnan(completeness):
        signals = round(completeness * COMPLETENESS_SIGNALS)
        signals += int(live["sessions_long_window"] > 0) - int(
            (base.get("sessions_long_window") or 0) > 0
        )
        row["profile_completeness"] = signals / COMPLETENESS_SIGNALS
    return row


def _isnan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


# ---------------------------------------------------------------------------------- decay


def session_quantities(session: Session) -> dict[str, float]:
    """What a session adds to the decayed vector, before weighting."""
    return {
        "sessions": 1.0,
        **{c: float(session.counts.get(c, 0)) for c in BROWSING_COUNTS},
        "page_dwell_seconds": session.page_dwell_ms / 1000.0,
        "video_watch_seconds": session.video_ms / 1000.0,
    }


@dataclass
class Decayed:
    """Decayed sums at a reference time: ``values[name][i]`` for half-life ``i``."""

    reference_at: datetime | None = None
    values: dict[str, list[float]] = field(default_factory=dict)

    def at(self, moment: datetime, half_lives_hours) -> Decayed:
        """The same sums seen from `moment` (later or earlier)."""
        if self.reference_at is None:
            return Decayed(moment, {name: [0.0] * len(half_lives_hours) for name in DECAYED})
        hours = (moment - self.reference_at).total_seconds() / 3600.0
        factors = [2.0 ** (-hours / h) for h in half_lives_hours]
        return Decayed(
            moment,
            {
                name: [v * f for v, f in zip(vs, factors, strict=True)]
                for name, vs in self.values.items()
            },
        )

    def add(self, other: Decayed, half_lives_hours) -> Decayed:
        if other.reference_at is None:
            return self
        if self.reference_at is None:
            return other
        moment = max(self.reference_at, other.reference_at)
        a, b = self.at(moment, half_lives_hours), other.at(moment, half_lives_hours)
        return Decayed(
            moment,
            {
                name: [x + y for x, y in zip(a.values[name], b.values[name], strict=True)]
                for name in DECAYED
            },
        )

    def to_dict(self) -> dict:
        return {
            "reference_at": self.reference_at.isoformat() if self.reference_at else None,
            "values": self.values,
        }

    @classmethod
    def from_dict(cls, data: dict | None) -> Decayed:
        if not data or not data.get("reference_at"):
            return cls()
        return cls(datetime.fromisoformat(data["reference_at"]), data["values"])


def decayed(sessions, window: Window, half_lives_hours) -> Decayed:
    """The decayed vector of sessions (those counting in the long window), referenced at the
    latest session end."""
    kept = [s for s in sessions if s.started_at >= window.long_start_at]
    if not kept:
        return Decayed()
    reference = max(s.ended_at for s in kept)
    values = {name: [0.0] * len(half_lives_hours) for name in DECAYED}
    for session in kept:
        hours = (reference - session.ended_at).total_seconds() / 3600.0
        quantities = session_quantities(session)
        for i, h in enumerate(half_lives_hours):
            weight = 2.0 ** (-hours / h)
            for name in DECAYED:
                values[name][i] += quantities[name] * weight
    return Decayed(reference, values)


# ------------------------------------------------------------------------------ attribution


def device_customer(customers: list[str] | tuple[str, ...] | set[str]) -> str | None:
    """The customer a device's anonymous sessions belong to: the one customer who logged in
    on it; nobody when none or several did."""
    distinct = set(customers)
    return next(iter(distinct)) if len(distinct) == 1 else None


def session_owner(session: Session, device_customers) -> str | None:
    """Who a session counts for: its login, else its device's one customer."""
    return session.login_customer_id or device_customer(device_customers or ())
