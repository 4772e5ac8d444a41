"""Rebuild the online store from the published marts after a batch run, without a gap.

1. Read the batch: `marts.fct_customer_features` (each customer's features and consent),
   `marts.dim_customers` (customer numbers), `marts.fct_web_sessions` (the sessions, summed
   per customer and per device; each visitor's last session, which events may still extend,
   kept whole), the current segments and scores, and the models the batch published.
2. Write all of it as a new generation beside the current one (readers still see the old).
3. Pause the workers (each finishes and lands its micro-batch), replay onto the new
   generation the events the batch did not load (landing files written after the load),
   switch the generation pointer in one command, resume the workers, drop the old generation.

The live state is then the batch plus what happened since; a customer is never missing (the
old generation serves until the switch) nor a mix of two batches.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from cible import settings, warehouse
from cible.live import behaviour as bh
from cible.live.config import LiveConfig
from cible.live.consent import profiling_allowed
from cible.live.events import event_from_row, iso, parse_timestamp
from cible.live.models import published_models
from cible.live.state import SUPPRESSED_KINDS, Engine, Generation, customer_state, utc_now
from cible.live.store import Store, dumps
from cible.privacy import suppression

log = logging.getLogger(__name__)
LIVE_FILE_PREFIX = "live-"
SCORE_SUFFIX = "_score"


def plain(value):
    """A pandas/numpy value as JSON (nulls as None, times as ISO text)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


def records(frame: pd.DataFrame) -> list[dict]:
    return [{k: plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def feature_windows(as_of_at: datetime, dbt_project_dir: Path | None = None) -> bh.Window:
    """The batch's windows: `recent_window_days` and `long_window_days` of dbt_project.yml
    (a run overriding them with --vars must bootstrap with the same, see docs/live.md)."""
    path = (dbt_project_dir or settings.DBT_PROJECT_DIR) / "dbt_project.yml"
    variables = yaml.safe_load(path.read_text(encoding="utf-8"))["vars"]
    return bh.Window(
        as_of_at=as_of_at,
        recent_start_at=as_of_at - timedelta(days=int(variables["recent_window_days"])),
        long_start_at=as_of_at - timedelta(days=int(variables["long_window_days"])),
    )


@dataclass
class Snapshot:
    """What a bootstrap reads from the warehouse."""

    as_of_at: datetime
    window: bh.Window
    features: pd.DataFrame
    numbers: pd.DataFrame
    sessions: pd.DataFrame
    links: pd.DataFrame
    segments: pd.DataFrame
    segment_names: dict
    scores: pd.DataFrame
    loaded_event_files: set[str]
    models: dict
    # Fingerprints of erased people's anonymous ids and customer numbers (suppression list).
    suppressed: frozenset[str] = frozenset()


def _exists(con, relation: str) -> bool:
    schema, name = relation.split(".")
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? "
            "and table_name = ?",
            [schema, name],
        ).fetchall()[0][0]
    )


def read_snapshot(window_of=feature_windows, warehouse_path: Path | None = None) -> Snapshot:
    """Everything the online store is built from, read in one connection."""
    with warehouse.connect(warehouse_path, read_only=True) as con:
        if not _exists(con, "marts.fct_customer_features"):
            raise RuntimeError(
                "marts.fct_customer_features does not exist: build the warehouse before the "
                "online store (cible run, or the warehouse assets)"
            )
        as_of = con.execute("select max(as_of_at) from marts.fct_customer_features").fetchall()[0][
            0
        ]
        if as_of is None:
            raise RuntimeError("marts.fct_customer_features is empty: nothing to bootstrap from")
        window = window_of(as_of)
        features = con.execute("select * from marts.fct_customer_features").df()
        numbers = con.execute("select customer_id, customer_numbers from marts.dim_customers").df()
        sessions = con.execute(
            "select * from marts.fct_web_sessions where session_started_at >= ? "
            "order by visitor_key, session_started_at, first_event_id",
            [window.long_start_at],
        ).df()
        # Who logged in on each device before the as-of date (two in one session: both).
        links = con.execute(
            """
            select anonymous_id, list(distinct customer_id order by customer_id) as customers
            from (
                select anonymous_id, login_customer_id as customer_id from marts.fct_web_sessions
                where anonymous_id is not null and login_customer_id is not null
                    and session_started_at < ?
                union all
                select anonymous_id, min_login_customer_id from marts.fct_web_sessions
                where anonymous_id is not null and min_login_customer_id is not null
                    and session_started_at < ?
            )
            group by anonymous_id
            """,
            [as_of, as_of],
        ).df()
        segments, names = pd.DataFrame(columns=["customer_id", "segment_id", "segment_kind"]), {}
        if _exists(con, "marts.fct_segment_memberships") and _exists(con, "marts.dim_segments"):
            segments = con.execute(
                "select customer_id, segment_id, segment_kind from marts.fct_segment_memberships "
                "where is_current_run and is_exclusive"
            ).df()
            names = {
                row["segment_id"]: row
                for row in records(
                    con.execute(
                        "select segment_id, segment_kind, name_en, name_fr from marts.dim_segments"
                    ).df()
                )
            }
        scores = (
            con.execute("select * from marts.fct_customer_scores").df()
            if _exists(con, "marts.fct_customer_scores")
            else pd.DataFrame(columns=["customer_id"])
        )
        loaded: set[str] = set()
        if _exists(con, "raw._load_files"):
            loaded = {
                row[0]
                for row in con.execute(
                    """
                    select source_file from raw._load_files
                    where source = 'events' and load_id = (
                        select load_id from raw._load_files where source = 'events'
                        order by loaded_at desc limit 1
                    )
                    """
                ).fetchall()
            }
        suppressed: frozenset[str] = frozenset()
        if suppression.exists(con):
            suppressed = frozenset(
                row[0]
                for row in con.execute(
                    f"select fingerprint from {suppression.RELATION} "
                    f"where reason in ({', '.join('?' * len(suppression.FILTERED_AT_LOAD))}) "
                    f"and identifier_kind in ({', '.join('?' * len(SUPPRESSED_KINDS))})",
                    [*suppression.FILTERED_AT_LOAD, *SUPPRESSED_KINDS],
                ).fetchall()
            )
    return Snapshot(
        as_of_at=as_of,
        window=window,
        features=features,
        numbers=numbers,
        sessions=sessions,
        links=links,
        segments=segments,
        segment_names=names,
        scores=scores,
        loaded_event_files=loaded,
        models=published_models(warehouse_path),
        suppressed=suppressed,
    )


def session_from_row(row: dict) -> bh.Session:
    """A `fct_web_sessions` row as a session summary."""
    counts = {c: int(row[c] or 0) for c in bh.EVENT_COUNT_COLUMNS.values() if row.get(c)}
    return bh.Session(
        started_at=_naive(row["session_started_at"]),
        ended_at=_naive(row["session_ended_at"]),
        first_event_id=row["first_event_id"],
        device_type=row["device_type"],
        traffic_source=row["traffic_source"],
        login_customer_id=row["login_customer_id"],
        events=int(row["events_count"]),
        counts=counts,
        # Batch divides milliseconds by 1000: multiply back to the exact integer.
        page_dwell_ms=round((row["page_dwell_seconds"] or 0) * 1000),
        video_ms=round((row["video_watch_seconds"] or 0) * 1000),
        max_scroll_pct=None
        if row["max_scroll_depth_pct"] is None
        else int(row["max_scroll_depth_pct"]),
    )


def _naive(value) -> datetime:
    return value if isinstance(value, datetime) else parse_timestamp(str(value))


def write_generation(store: Store, config: LiveConfig, snapshot: Snapshot, number: int) -> dict:
    """Write the batch as generation `number` (not yet current); returns its meta."""
    window = snapshot.window
    zone, half_lives = config.store.local_time_zone, tuple(config.worker.half_lives_hours)
    timeout = config.store.session_timeout_minutes * 60
    ends = snapshot.sessions["session_ended_at"]
    latest = _naive(ends.max()) if len(ends) else snapshot.as_of_at
    cut_at = min(snapshot.as_of_at, latest)
    open_after = cut_at - timedelta(seconds=timeout)

    features = {row["customer_id"]: row for row in records(snapshot.features)}
    allowed = {c for c, row in features.items() if profiling_allowed(row)}
    numbers: dict[str, list[str]] = {}
    for customer_id, listed in snapshot.numbers.itertuples(index=False):
        numbers[customer_id] = [n.strip() for n in (listed or "").split(",") if n.strip()]
    links = {row["anonymous_id"]: list(row["customers"]) for row in records(snapshot.links)}
    devices_of: dict[str, list[str]] = defaultdict(list)
    for device, customers in links.items():
        for customer in customers:
            devices_of[customer].append(device)

    # Each visitor's last session stays whole (events may extend it); the others are summed.
    rows = records(snapshot.sessions)
    last_of_visitor = {}
    for index, row in enumerate(rows):
        last_of_visitor[row["visitor_key"]] = index
    login_sessions: dict[str, list] = defaultdict(list)
    device_sessions: dict[str, list] = defaultdict(list)
    open_sessions: dict[str, list] = defaultdict(list)
    # Each device's last activity: an anonymous device's keys expire `anonymous_ttl_days`
    # after it, whatever the number of bootstraps in between (each wrote them for that long
    # again, so a device kept in the warehouse's window was kept a year longer).
    last_seen: dict[str, datetime] = {}
    for index, row in enumerate(rows):
        session = session_from_row(row)
        owner = bh.session_owner(session, links.get(row["anonymous_id"]) or ())
        if owner is not None and owner not in allowed:
            continue  # nothing kept of a customer without profiling consent
        if row["anonymous_id"] is not None:
            device = row["anonymous_id"]
            last_seen[device] = max(last_seen.get(device, session.ended_at), session.ended_at)
        if last_of_visitor[row["visitor_key"]] == index and session.ended_at >= open_after:
            open_sessions[row["visitor_key"]].append((session, row["anonymous_id"] is not None))
        elif session.login_customer_id is not None:
            login_sessions[session.login_customer_id].append(session)
        elif row["anonymous_id"] is not None:
            device_sessions[row["anonymous_id"]].append(session)

    scored: dict[str, dict] = defaultdict(dict)
    lifetime: dict[str, dict] = {}
    targets = [c[: -len(SCORE_SUFFIX)] for c in snapshot.scores.columns if c.endswith(SCORE_SUFFIX)]
    for row in records(snapshot.scores):
        for target in targets:
            if row.get(f"{target}_score") is not None:
                scored[row["customer_id"]][target] = {
                    "score": row[f"{target}_score"],
                    "model_version": row.get(f"{target}_model_version"),
                }
        if row.get("lifetime_value_eur") is not None:
            lifetime[row["customer_id"]] = {
                "lifetime_value_eur": row["lifetime_value_eur"],
                "probability_alive": row.get("probability_alive"),
                "expected_purchases": row.get("expected_purchases"),
                "model_version": row.get("lifetime_value_model_version"),
            }
    segment_of = {
        row["customer_id"]: row
        for row in records(snapshot.segments)
        if row["customer_id"] in allowed
    }
    meta = {
        "as_of_at": iso_naive(window.as_of_at),
        "recent_start_at": iso_naive(window.recent_start_at),
        "long_start_at": iso_naive(window.long_start_at),
        "cut_at": iso_naive(cut_at),
        "half_lives_hours": list(half_lives),
        "session_timeout_minutes": config.store.session_timeout_minutes,
        "local_time_zone": zone,
        "dtypes": {k: str(v) for k, v in snapshot.features.dtypes.items()},
        "models": snapshot.models,
        "segments": {
            k: {"name_en": v["name_en"], "name_fr": v["name_fr"], "segment_kind": v["segment_kind"]}
            for k, v in snapshot.segment_names.items()
        },
        "loaded_event_files": sorted(snapshot.loaded_event_files),
        "suppressed": sorted(snapshot.suppressed),
        "built_at": iso(utc_now()),
        "customers": len(allowed),
    }
    generation = Generation.from_meta(number, meta, None)
    client = store.client
    pipe = client.pipeline(transaction=False)
    pending = 0

    def flush(force: bool = False) -> None:
        nonlocal pending
        if pending >= 2000 or (force and pending):
            pipe.execute()
            pending = 0

    def put(key: str, value, ex: int | None = None, last: datetime | None = None) -> None:
        """Write `value`; with `last` (naive UTC), until `ex` seconds after it, or not at all
        when that has passed."""
        nonlocal pending
        if last is None:
            pipe.set(key, dumps(value), ex=ex)
        else:
            until = int(last.replace(tzinfo=UTC).timestamp()) + ex
            if until <= time.time():
                return
            pipe.set(key, dumps(value), exat=until)
        pending += 1
        flush()

    number_map = {n: c for c, ns in numbers.items() for n in ns}
    items = list(number_map.items())
    for start in range(0, len(items), 5000):
        pipe.hset(store.key(number, "numbers"), mapping=dict(items[start : start + 5000]))
        pending += 1
        flush()
    ttl = store.anonymous_ttl
    device_customers = {d: bh.device_customer(cs) for d, cs in links.items()}
    all_devices = set(links) | set(device_sessions)
    for d in all_devices:
        owner = device_customers.get(d)
        record = {"customers": links.get(d, [])}
        if owner is None or owner in allowed:
            kept = device_sessions.get(d, [])
            record["base"] = bh.window_stats(kept, window, zone).to_dict()
            record["decay"] = bh.decayed(kept, window, half_lives).to_dict()
        # A device someone logged in on holds that link: it lives with the customer's data
        # (erasure, retention), renewed by each bootstrap as before.
        put(store.key(number, "dev", d), record, ttl, None if owner else last_seen.get(d))
    for visitor, held in open_sessions.items():
        anonymous = held[0][1]
        put(
            store.key(number, "vis", visitor),
            {"sessions": [s.to_dict() for s, _ in held], "anonymous": anonymous},
            ttl if anonymous else None,
            max(s.ended_at for s, _ in held) if anonymous else None,
        )
    at = utc_now()
    for c in sorted(allowed):
        cust = {
            "base": features[c],
            "login": bh.window_stats(login_sessions.get(c, []), window, zone).to_dict(),
            "login_decay": bh.decayed(login_sessions.get(c, []), window, half_lives).to_dict(),
            "devices": sorted(devices_of.get(c, [])),
            "numbers": numbers.get(c, []),
            "scored_targets": sorted(scored.get(c, {})),
            "lifetime_value": lifetime.get(c),
        }
        put(store.key(number, "cust", c), cust)
        decay = bh.Decayed.from_dict(cust["login_decay"])
        held: list[bh.Session] = []
        for d in cust["devices"]:
            if device_customers.get(d) == c:
                decay = decay.add(
                    bh.decayed(device_sessions.get(d, []), window, half_lives), half_lives
                )
        for visitor in [*cust["devices"], *cust["numbers"]]:
            linked = links.get(visitor, ())
            held += [
                s for s, _ in open_sessions.get(visitor, []) if bh.session_owner(s, linked) == c
            ]
        decay = decay.add(bh.decayed(held, window, half_lives), half_lives)
        web = {k: features[c].get(k) for k in bh.WEB_FEATURES}
        segment = segment_of.get(c)
        if segment is not None:
            name = meta["segments"].get(segment["segment_id"], {})
            segment = {
                "segment_id": segment["segment_id"],
                "segment_kind": segment["segment_kind"],
                "name_en": name.get("name_en"),
                "name_fr": name.get("name_fr"),
                "model_version": (snapshot.models.get("segmentation") or {}).get("version"),
            }
        state = customer_state(
            c, cust, web, decay, segment, scored.get(c, {}), generation, at, "batch"
        )
        put(store.key(number, "state", c), state)
    for d in all_devices:
        owner = device_customers.get(d)
        if owner is not None:
            put(store.key(number, "vstate", d), {"linked_customer_id": owner}, ttl)
    put(store.key(number, "meta"), meta)
    flush(force=True)
    return meta


def iso_naive(moment) -> str:
    return _naive(moment).isoformat()


# ---------------------------------------------------------------------------- swap


def pause_workers(store: Store, timeout: float = 60.0) -> str:
    """Ask every running worker to land its micro-batch and stop; wait for all to answer."""
    token = uuid.uuid4().hex
    store.client.set(store.pause_key, token)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answers = [
            json.loads(value)
            for value in store.client.mget(list(store.client.scan_iter(store.worker_key("*"))))
            if value is not None
        ]
        if all(answer.get("paused") == token for answer in answers):
            return token
        time.sleep(0.05)
    store.client.delete(store.pause_key)
    raise RuntimeError(f"workers did not pause within {timeout:.0f} s; nothing switched")


def resume_workers(store: Store) -> None:
    store.client.delete(store.pause_key)


def unloaded_event_files(landing: Path, loaded: set[str]) -> list[Path]:
    """The live micro-batch files the batch's load did not read."""
    folder = landing / "events"
    if not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.glob(f"{LIVE_FILE_PREFIX}*.jsonl")
        if f"events/{path.name}" not in loaded and path.name not in loaded
    )


def replay_files(
    engine: Engine, generation: Generation, paths: list[Path], chunk: int = 500
) -> int:
    """Apply the events of landing files to `generation` (no dedup against the old one)."""
    pending: list = []
    applied = 0
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            pending.append((event_from_row(row), parse_timestamp(row["received_at"])))
            if len(pending) >= chunk:
                applied += engine.apply(pending, generation=generation, check_seen=False).applied
                pending = []
    if pending:
        applied += engine.apply(pending, generation=generation, check_seen=False).applied
    return applied


@dataclass
class BootstrapReport:
    generation: int
    previous: int | None
    customers: int
    replayed_files: int
    replayed_events: int
    seconds: float


def bootstrap(
    store: Store,
    config: LiveConfig,
    landing: Path | None = None,
    warehouse_path: Path | None = None,
    snapshot: Snapshot | None = None,
    pause_timeout: float = 60.0,
) -> BootstrapReport:
    """Build a new generation from the warehouse and switch to it (see the module's doc)."""
    started = time.perf_counter()
    landing = Path(landing) if landing is not None else settings.landing_dir()
    snapshot = snapshot or read_snapshot(warehouse_path=warehouse_path)
    number = store.next_generation()
    meta = write_generation(store, config, snapshot, number)
    engine = Engine(store, config)
    generation = engine.generation(number)
    pause_workers(store, pause_timeout)
    try:
        files = unloaded_event_files(landing, snapshot.loaded_event_files)
        replayed = replay_files(engine, generation, files)
        previous = store.switch(number)
    finally:
        resume_workers(store)
    if previous is not None and previous != number:
        store.drop_generation(previous)
    return BootstrapReport(
        generation=number,
        previous=previous,
        customers=meta["customers"],
        replayed_files=len(files),
        replayed_events=replayed,
        seconds=time.perf_counter() - started,
    )
