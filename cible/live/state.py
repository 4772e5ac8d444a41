"""Applying events to the online store: sessions, device links, each affected customer's live
features, segment and scores, written in one Redis transaction per batch of events.

Reads are watched (optimistic locking): if another worker changes a key this batch read (two
devices of one customer hashed to two queues), the transaction fails and the batch is
computed again from the new values. Events already applied (`<p>:seen:<id>`) change nothing.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import redis

from cible.live import behaviour as bh
from cible.live.config import LiveConfig
from cible.live.consent import profiling_allowed
from cible.live.events import Event, iso
from cible.live.models import LiveModels, frame, load_models
from cible.live.store import Store, dumps, loads
from cible.privacy import fingerprints as fp

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 20


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# Identifiers of an event the suppression list is checked for: an erased person's device or
# customer number coming back is not profiled live, as the loader drops its rows from files.
SUPPRESSED_KINDS = ("anonymous_id", "customer_number")


@dataclass
class Generation:
    """One generation of the store as the engine reads it: windows, cut and models."""

    number: int
    meta: dict
    window: bh.Window
    cut_at: datetime
    models: LiveModels
    suppressed: frozenset[str] = frozenset()

    @classmethod
    def from_meta(cls, number: int, meta: dict, models: LiveModels) -> Generation:
        window = bh.Window(
            as_of_at=datetime.fromisoformat(meta["as_of_at"]),
            recent_start_at=datetime.fromisoformat(meta["recent_start_at"]),
            long_start_at=datetime.fromisoformat(meta["long_start_at"]),
        )
        cut_at = datetime.fromisoformat(meta["cut_at"])
        return cls(number, meta, window, cut_at, models, frozenset(meta.get("suppressed", ())))


@dataclass
class Outcome:
    """What a batch did."""

    applied: int = 0
    duplicates: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    customers: int = 0
    segment_events: list[dict] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # receipt to written, per event
    received: list[datetime] = field(default_factory=list)
    attempts: int = 0

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + count


def customer_state(
    customer_id: str,
    cust: dict,
    features: dict,
    decay: bh.Decayed,
    segment: dict | None,
    scores: dict,
    generation: Generation,
    updated_at: datetime,
    source: str,
    features_as_of_at: datetime | None = None,
) -> dict:
    """The record the look-up API serves for a customer (`features_as_of_at`: the as-of date
    of `days_since_last_visit`, the batch's until an event comes)."""
    return {
        "customer_id": customer_id,
        "customer_numbers": cust.get("numbers", []),
        "segment": segment,
        "scores": scores,
        "lifetime_value": cust.get("lifetime_value"),
        "features": features,
        "decayed": decay.to_dict(),
        "half_lives_hours": list(generation.meta["half_lives_hours"]),
        "updated_at": iso(updated_at),
        "source": source,
        "batch_as_of_at": generation.meta["as_of_at"],
        "features_as_of_at": (features_as_of_at or generation.window.as_of_at).isoformat(),
        "generation": generation.number,
    }


class Engine:
    """Applies batches of events to the current generation of the store."""

    def __init__(self, store: Store, config: LiveConfig):
        self.store = store
        self.config = config
        self.timeout = config.store.session_timeout_minutes * 60
        self.zone = config.store.local_time_zone
        self.half_lives = tuple(config.worker.half_lives_hours)
        self._generation: Generation | None = None
        self._privacy_key: bytes | None = None

    # ---------------------------------------------------------------- generations

    @property
    def loaded(self) -> Generation | None:
        """The generation whose models are loaded, if any (nothing is read)."""
        return self._generation

    def generation(self, number: int | None = None) -> Generation:
        """The generation to write (the current one by default), its models loaded once."""
        number = self.store.generation() if number is None else number
        if number is None:
            raise RuntimeError(
                "the online store is empty: run the bootstrap first (`cible live bootstrap`, "
                "or the live_online_store asset)"
            )
        if self._generation is None or self._generation.number != number:
            meta = self.store.meta(number)
            if meta is None:
                raise RuntimeError(f"generation {number} of the online store has no meta")
            previous = self._generation
            same_models = previous is not None and previous.meta.get("models") == meta.get("models")
            models = previous.models if same_models else load_models(meta.get("models") or {})
            self._generation = Generation.from_meta(number, meta, models)
            if not same_models:
                self._warm_up(self._generation)
            # The fitted models and the generation are long-lived: out of the collector's
            # sight, a micro-batch's garbage collections stop rescanning them (a 500-event
            # batch spent about 15% of its time there; 2026-12-05).
            gc.freeze()
        return self._generation

    def _warm_up(self, generation: Generation, customers: int = 8) -> None:
        """Segment and score a few stored customers once, writing nothing, before any event
        is applied with newly loaded models: the first micro-batches otherwise pay the
        pipelines' first calls. A worker is ready (its first heartbeat) only after it. (The
        first-minute p95 of 1.1-1.6 s at 1,000 events/s measured before it, 2026-12-07, was
        mostly the load sent before the worker had started: docs/live.md, "Measured".)
        A warm-up that fails is logged and changes nothing."""
        store, g = self.store, generation.number
        try:
            # A few customer numbers at random, their customers' stored records.
            numbers = store.client.hrandfield(store.key(g, "numbers"), customers) or []
            ids = sorted(
                {c.decode() for c in store.client.hmget(store.key(g, "numbers"), numbers) if c}
                if numbers
                else set()
            )
            stored = store.client.mget([store.key(g, "cust", c) for c in ids]) if ids else []
            records = {c: loads(raw) for c, raw in zip(ids, stored, strict=True) if raw}
            as_of = generation.window.as_of(utc_now())
            rows = [
                bh.with_live_web_features(
                    record["base"],
                    bh.web_features(bh.WindowStats.from_dict(record.get("login")), as_of),
                )
                for record in records.values()
            ]
            self._predict(rows, records, generation)
        except Exception as error:  # a warm-up never stops the worker
            log.warning("warm-up of generation %s failed: %s", generation.number, error)

    # ---------------------------------------------------------------- applying

    def apply(
        self,
        events: Iterable[tuple[Event, datetime]],
        generation: Generation | None = None,
        check_seen: bool = True,
        outbox: str | None = None,
        now: datetime | None = None,
    ) -> Outcome:
        """Apply `(event, received_at)` pairs; retried from scratch when a watched key moved.

        Args:
            check_seen: skip events already applied (off when a bootstrap replays the landing
                files onto a new generation, which has seen none of them).
            outbox: the worker whose outbox receives the segment events, written with the
                state (None: returned only).
        """
        events = list(events)
        generation = generation or self.generation()
        for attempt in range(1, MAX_ATTEMPTS + 1):
            with self.store.client.pipeline(transaction=True) as pipe:
                try:
                    outcome = self._apply(pipe, generation, events, check_seen, outbox, now)
                    outcome.attempts = attempt
                    return outcome
                except redis.WatchError:
                    log.info("batch read keys another worker changed; again (%d)", attempt)
        raise RuntimeError(f"{MAX_ATTEMPTS} attempts at one batch all conflicted")

    def _apply(self, pipe, generation, events, check_seen, outbox, now) -> Outcome:
        store, g = self.store, generation.number
        outcome = Outcome()

        def key(kind: str, name: str) -> str:
            return store.key(g, kind, name)

        watched: set[str] = set()
        values: dict[str, object] = {}

        def read(keys: Iterable[str]) -> None:
            wanted = [k for k in dict.fromkeys(keys) if k not in watched]
            if wanted:
                pipe.watch(*wanted)
                watched.update(wanted)
                values.update(zip(wanted, map(loads, pipe.mget(wanted)), strict=True))

        # Duplicates: applied before (seen), or twice in this batch.
        unique: dict[str, tuple[Event, datetime]] = {}
        for event, received in events:
            if event.event_id in unique:
                outcome.duplicates += 1
            else:
                unique[event.event_id] = (event, received)
        if check_seen and unique:
            # Applied to this generation, or landed (so in the batch, or replayed into this
            # generation by its bootstrap): nothing to do. Applied to an older generation but
            # never landed (a worker died between the two): apply again, it is in neither.
            ids = list(unique)
            flags = store.client.mget(
                [store.seen_key(i) for i in ids] + [store.landed_key(i) for i in ids]
            )
            for event_id, seen, landed in zip(
                ids, flags[: len(ids)], flags[len(ids) :], strict=True
            ):
                if (seen is not None and int(seen) == g) or landed is not None:
                    del unique[event_id]
                    outcome.duplicates += 1
        numbers_wanted = sorted(
            {e.customer_number for e, _ in unique.values() if e.customer_number}
        )
        numbers = (
            dict(
                zip(
                    numbers_wanted,
                    store.client.hmget(store.key(g, "numbers"), numbers_wanted),
                    strict=True,
                )
            )
            if numbers_wanted
            else {}
        )
        numbers = {n: (c.decode() if c is not None else None) for n, c in numbers.items()}
        earliest = max(
            generation.cut_at - timedelta(seconds=self.timeout), generation.window.long_start_at
        )
        batch: list[tuple[Event, datetime, str | None]] = []
        suppressed = self._suppressed(generation)
        for event, received in unique.values():
            login = numbers.get(event.customer_number) if event.customer_number else None
            if suppressed and not suppressed.isdisjoint(self._fingerprints(event)):
                outcome.skip("suppressed")  # erased: the loader drops its landed line too
            elif event.customer_number and login is None:
                outcome.skip("unknown_customer")  # batch quarantines it too
            elif event.occurred_at < earliest:
                outcome.skip("before_batch_cut")  # the next batch counts it
            elif not event.anonymous_id and not event.customer_number:
                outcome.skip("no_visitor")  # a lone event no customer can ever own
            else:
                batch.append((event, received, login))
        applied_ids = [e.event_id for e, _, _ in batch]
        applied = set(applied_ids)
        seen_ids = applied_ids + [i for i in unique if i not in applied]
        if not batch:
            return self._commit(pipe, outcome, seen_ids, {}, {}, {}, {}, {}, [], generation, outbox)

        # Visitors and devices the events touch. (Each read is two round trips, WATCH and
        # MGET: keys known together are read together.)
        read(
            [
                *(key("vis", e.visitor_key) for e, _, _ in batch),
                *(key("dev", e.anonymous_id) for e, _, _ in batch if e.anonymous_id),
            ]
        )
        visitors = {
            e.visitor_key: values[key("vis", e.visitor_key)]
            or {"sessions": [], "anonymous": bool(e.anonymous_id)}
            for e, _, _ in batch
        }
        devices = {
            e.anonymous_id: values[key("dev", e.anonymous_id)] or {"customers": []}
            for e, _, _ in batch
            if e.anonymous_id
        }
        touched = set(devices)
        before_device = {d: bh.device_customer(r["customers"]) for d, r in devices.items()}
        sessions = {
            v: [bh.Session.from_dict(s) for s in r["sessions"]] for v, r in visitors.items()
        }

        def owners(visitor: str) -> set[str]:
            linked = devices.get(visitor, {}).get("customers", ())
            return {bh.session_owner(s, linked) for s in sessions[visitor]} - {None}

        affected: set[str] = set().union(*(owners(v) for v in visitors))
        affected |= {c for c in before_device.values() if c}
        for event, _, login in batch:
            if (
                event.anonymous_id
                and login
                and login not in devices[event.anonymous_id]["customers"]
            ):
                devices[event.anonymous_id]["customers"].append(login)
            sessions[event.visitor_key] = bh.add_to_sessions(
                sessions[event.visitor_key], bh.session_of(event, login), self.timeout
            )
        affected |= set().union(*(owners(v) for v in visitors))
        affected |= {bh.device_customer(r["customers"]) for r in devices.values()} - {None}
        affected |= {login for _, _, login in batch if login}

        read(key("cust", c) for c in affected)
        customers = {c: values[key("cust", c)] for c in affected}
        allowed = {
            c for c, record in customers.items() if record and profiling_allowed(record.get("base"))
        }
        # No live profiling without consent: sessions owned by such a customer are not kept.
        for visitor in visitors:
            linked = devices.get(visitor, {}).get("customers", ())
            kept = []
            for session in sessions[visitor]:
                owner = bh.session_owner(session, linked)
                if owner is None or owner in allowed:
                    kept.append(session)
            sessions[visitor] = kept
        # Each consenting customer's devices and visitor keys, and everything they hold.
        changed_customers: set[str] = set()
        for device, record in devices.items():
            for customer in record["customers"]:
                if customer in allowed and device not in customers[customer].setdefault(
                    "devices", []
                ):
                    customers[customer]["devices"].append(device)
                    changed_customers.add(customer)
        read(
            [
                *(key("dev", d) for c in allowed for d in customers[c].get("devices", [])),
                *(
                    key("vis", v)
                    for c in allowed
                    for v in [*customers[c].get("devices", []), *customers[c].get("numbers", [])]
                ),
                *(key("state", c) for c in allowed),
            ]
        )
        for c in allowed:
            for d in customers[c].get("devices", []):
                if d not in devices:
                    devices[d] = values[key("dev", d)] or {"customers": []}
            for v in [*customers[c].get("devices", []), *customers[c].get("numbers", [])]:
                if v not in sessions:
                    record = values[key("vis", v)]
                    sessions[v] = [
                        bh.Session.from_dict(s) for s in (record or {}).get("sessions", [])
                    ]

        moment = now or utc_now()
        rows, decays, features_of = [], {}, {}
        window = generation.window
        for c in sorted(allowed):
            cust = customers[c]
            stats = bh.WindowStats.from_dict(cust.get("login"))
            decay = bh.Decayed.from_dict(cust.get("login_decay"))
            live: list[bh.Session] = []
            for d in cust.get("devices", []):
                record = devices[d]
                if bh.device_customer(record["customers"]) == c:
                    stats = stats.add(bh.WindowStats.from_dict(record.get("base")))
                    decay = decay.add(bh.Decayed.from_dict(record.get("decay")), self.half_lives)
            for v in dict.fromkeys([*cust.get("devices", []), *cust.get("numbers", [])]):
                linked = devices.get(v, {}).get("customers", ())
                live += [s for s in sessions.get(v, []) if bh.session_owner(s, linked) == c]
            stats = stats.add(bh.window_stats(live, window, self.zone))
            decay = decay.add(bh.decayed(live, window, self.half_lives), self.half_lives)
            features = bh.web_features(stats, window.as_of(moment))
            features_of[c], decays[c] = features, decay
            rows.append(bh.with_live_web_features(cust["base"], features))

        segments, scores = self._predict(rows, customers, generation)
        states: dict[str, dict] = {}
        for c in sorted(allowed):
            previous = values.get(key("state", c)) or {}
            state = customer_state(
                c,
                customers[c],
                features_of[c],
                decays[c],
                segments.get(c),
                scores.get(c, {}),
                generation,
                moment,
                "live",
                window.as_of(moment),
            )
            states[c] = state
            outcome.segment_events += _segment_changes(
                c, previous.get("segment"), segments.get(c), moment
            )
        outcome.customers = len(states)
        anonymous = {}
        for d in touched:
            record = devices[d]
            linked = bh.device_customer(record["customers"])
            if linked is not None:
                anonymous[d] = {"linked_customer_id": linked}
            elif d in sessions:
                unowned = [s for s in sessions[d] if s.login_customer_id is None]
                stats = bh.WindowStats.from_dict(record.get("base")).add(
                    bh.window_stats(unowned, window, self.zone)
                )
                decay = bh.Decayed.from_dict(record.get("decay")).add(
                    bh.decayed(unowned, window, self.half_lives), self.half_lives
                )
                anonymous[d] = {
                    "anonymous_id": d,
                    "segment": None,
                    "scores": {},
                    "features": bh.web_features(stats, window.as_of(moment)),
                    "decayed": decay.to_dict(),
                    "half_lives_hours": list(self.half_lives),
                    "updated_at": iso(moment),
                    "source": "live",
                    "generation": g,
                }
        touched_visitors = {
            v: {
                **visitors.get(v, {"anonymous": False}),
                "sessions": [s.to_dict() for s in sessions[v]],
            }
            for v in visitors
        }
        outcome.applied = len(batch)
        outcome.received = [received for _, received, _ in batch]
        # Rewritten only when a device was linked (the batch row in it is several KB).
        touched_customers = {c: customers[c] for c in changed_customers}
        touched_devices = {d: devices[d] for d in touched}
        return self._commit(
            pipe,
            outcome,
            seen_ids,
            touched_visitors,
            touched_devices,
            touched_customers,
            states,
            anonymous,
            outcome.segment_events,
            generation,
            outbox,
        )

    def _suppressed(self, generation: Generation) -> frozenset[str]:
        """The generation's erased fingerprints (the privacy key is loaded once, when some)."""
        suppressed = generation.suppressed
        if suppressed and self._privacy_key is None:
            self._privacy_key = fp.load_key(
                "the live worker (erased people are on the suppression list)",
                "No event was applied.",
            )
        return suppressed

    def _fingerprints(self, event: Event) -> set[str | None]:
        return {
            fp.fingerprint(self._privacy_key, "anonymous_id", event.anonymous_id),
            fp.fingerprint(self._privacy_key, "customer_number", event.customer_number),
        } - {None}

    def _predict(self, rows: list[dict], customers: dict, generation: Generation):
        """Segment and scores of each row with the generation's fitted models."""
        models = generation.models
        segments: dict[str, dict] = {}
        scores: dict[str, dict] = {}
        if not rows:
            return segments, scores
        table = frame(rows, generation.meta["dtypes"])
        names = generation.meta.get("segments", {})
        if models.segmentation is not None:
            assigned = models.assign(table)
            for c, segment_id, kind in assigned[
                ["customer_id", "segment_id", "segment_kind"]
            ].itertuples(index=False):
                segments[c] = {
                    "segment_id": segment_id,
                    "segment_kind": kind,
                    "name_en": names.get(segment_id, {}).get("name_en"),
                    "name_fr": names.get(segment_id, {}).get("name_fr"),
                    "model_version": models.segmentation_version,
                }
        ids = list(table["customer_id"])
        for target, (version, _, _) in models.scorers.items():
            scored = [
                i for i, c in enumerate(ids) if target in customers[c].get("scored_targets", [])
            ]
            if not scored:
                continue
            # Every row, most often: no copy (a take on each text column, per target).
            rows_scored = table if len(scored) == len(ids) else table.iloc[scored]
            values = models.score(rows_scored, target)
            for i, value in zip(scored, values, strict=True):
                scores.setdefault(ids[i], {})[target] = {
                    "score": float(value),
                    "model_version": version,
                }
        return segments, scores

    def _commit(
        self,
        pipe,
        outcome,
        seen_ids,
        visitors,
        devices,
        customers,
        states,
        anonymous,
        segment_events,
        generation,
        outbox,
    ) -> Outcome:
        store, g = self.store, generation.number
        pipe.multi()
        ttl = store.anonymous_ttl
        for visitor, record in visitors.items():
            if not record["sessions"]:
                pipe.delete(store.key(g, "vis", visitor))
                continue
            pipe.set(
                store.key(g, "vis", visitor),
                dumps(record),
                ex=ttl if record.get("anonymous") else None,
            )
        for device, record in devices.items():
            pipe.set(store.key(g, "dev", device), dumps(record), ex=ttl)
        for customer, record in customers.items():
            pipe.set(store.key(g, "cust", customer), dumps(record))
        for customer, state in states.items():
            pipe.set(store.key(g, "state", customer), dumps(state))
        for device, state in anonymous.items():
            pipe.set(store.key(g, "vstate", device), dumps(state), ex=ttl)
        for event_id in seen_ids:
            pipe.set(store.seen_key(event_id), g, ex=store.dedup_ttl)
        if outbox and segment_events:
            pipe.rpush(store.outbox_key(outbox), *[dumps(e) for e in segment_events])
        pipe.execute()
        # Receipt to state, segment and scores written: after the transaction, not when the
        # batch began (which left out the models' and the write's time, about half a batch).
        written = utc_now()
        outcome.latencies = [(written - received).total_seconds() for received in outcome.received]
        return outcome


def _segment_changes(
    customer: str, before: dict | None, after: dict | None, at: datetime
) -> list[dict]:
    old = (before or {}).get("segment_id")
    new = (after or {}).get("segment_id")
    if old == new:
        return []
    out = []
    if old is not None:
        out.append(
            {
                "event": "segment_exited",
                "segment_id": old,
                "customer_id": customer,
                "next_segment_id": new,
                "at": iso(at),
            }
        )
    if new is not None:
        out.append(
            {
                "event": "segment_entered",
                "segment_id": new,
                "customer_id": customer,
                "previous_segment_id": old,
                "at": iso(at),
                "model_version": after.get("model_version"),
            }
        )
    return out
