"""Web and app micro-events of the last year: devices, sessions, funnels and tracker defects.

Each person has 1-3 devices; browsing sessions are spread over the year following the
persona's season and hours; every web or app order of the year leaves a purchase session
ending with add_to_cart, checkout and purchase at the order's time. Sessions on one device are
at least an hour apart (overlapping ones are dropped, as a tracker would merge or lose them).
Visitors outside the CRM browse anonymously. About 1% of devices are shared by two persons.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .context import BROWSE_EVENTS, DEVICE_TYPES, TRAFFIC_SOURCES, Context, sample_rows
from .identity import digits, hex64, prefixed
from .personas import ANONYMOUS_VISITOR, distribution
from .shop import FUTURE_YEARS, unknown_numbers
from .timeline import DAY, YEAR_DAYS, hour_of_day
from .writers import Coded

WINDOW_DAYS = 365
ANONYMOUS_SESSIONS_PER_DEVICE = 2.0
SESSION_GAP_SECONDS = 3600  # sessions of one device are at least this far apart
PURCHASE_BROWSE_EVENTS = 1.5  # mean browsing events before the cart in a purchase session
SHARED_DEVICE_SHARE = 0.02  # of devices with sessions; about half stay shared in the end
CHECKOUT_ABANDON_SHARE = 0.3
UNKNOWN_EVENT_TYPES = ("pageview", "banner_click", "heartbeat", "debug_test")
REQUIRED_EVENT_TYPES = (*BROWSE_EVENTS, "checkout", "purchase", "login")
CATEGORY_PAGE_SHARE = {"page_view": 0.6, "scroll": 0.5, "video_play": 0.4}
PRODUCT_EVENTS = ("product_view", "wishlist_add", "add_to_cart")
RECEIVED_DELAY_SECONDS = 5
RESENT_DELAY_SECONDS = (1, 3600)
LATE_DAYS = (1.5, 10.0)


@dataclass
class WebChunk:
    columns: dict
    devices: pd.DataFrame  # truth
    defects: Counter
    has_app_device: np.ndarray  # per person
    n_devices: int
    n_sessions: int
    n_event_ids: int


@dataclass
class _Devices:
    person: np.ndarray  # owner of each person device
    device_type: np.ndarray  # every device: persons' first, then anonymous visitors'
    first: np.ndarray  # per person: index of their first device
    count: np.ndarray  # per person
    n_app: np.ndarray  # per person (app devices come last among a person's devices)
    n_person_devices: int


@dataclass
class _Sessions:
    kind: np.ndarray  # 0 browsing, 1 purchase, 2 anonymous
    person: np.ndarray  # -1 for anonymous visitors
    profile: np.ndarray  # persona index, or the anonymous visitor's
    device: np.ndarray
    login: np.ndarray
    events: np.ndarray  # number of events
    start: np.ndarray  # seconds (set for purchase sessions once their length is known)
    traffic: np.ndarray
    order: np.ndarray  # row of web_orders for purchase sessions, -1 otherwise


def _positions(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Owner index and position within the owner of each element of ragged groups."""
    owner = np.repeat(np.arange(len(lengths)), lengths)
    return owner, np.arange(owner.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def _persona_values(ctx: Context, attribute: str) -> np.ndarray:
    """A persona attribute per profile index (personas, then the anonymous visitor)."""
    return np.array([getattr(p, attribute) for p in (*ctx.personas, ANONYMOUS_VISITOR)])


def _devices(
    ctx: Context, people: pd.DataFrame, web_orders: pd.DataFrame, rng: np.random.Generator
) -> _Devices:
    """1-3 devices per person, app devices last; whoever orders in the app has one."""
    n = len(people)
    persona = people["persona"].to_numpy()
    app = DEVICE_TYPES.index("app")
    count = 1 + sample_rows(rng, ctx.matrices.devices, persona)
    person, _ = _positions(count)
    device_type = sample_rows(rng, ctx.matrices.device_types, persona[person])
    first = np.cumsum(count) - count
    needs_app = np.zeros(n, dtype=bool)
    needs_app[web_orders["person"].to_numpy()[web_orders["is_app"].to_numpy()]] = True
    has_app = np.bincount(person, device_type == app, minlength=n) > 0
    device_type[first[needs_app & ~has_app]] = app
    device_type = device_type[np.lexsort((device_type == app, person))]
    n_app = np.bincount(person, device_type == app, minlength=n)
    return _Devices(person, device_type, first, count, n_app, len(person))


def _plan_sessions(
    ctx: Context,
    people: pd.DataFrame,
    web_orders: pd.DataFrame,
    devices: _Devices,
    rng: np.random.Generator,
    events_per_customer: float,
) -> _Sessions:
    """Browsing, purchase and anonymous sessions (purchase sessions not yet timed)."""
    timeline, m = ctx.timeline, ctx.matrices
    visitor = len(ctx.personas)
    n = len(people)
    persona = people["persona"].to_numpy()
    created = people["created_sec"].to_numpy()
    app = DEVICE_TYPES.index("app")

    # purchase sessions: one per tracked web/app order of the year, on an app device for app
    # orders (web_orders holds the tracked ones)
    wo_person = web_orders["person"].to_numpy()
    n_other = devices.count - devices.n_app
    u = rng.random(len(wo_person))
    use_app = np.where(
        web_orders["is_app"].to_numpy(), devices.n_app[wo_person] > 0, n_other[wo_person] == 0
    )
    purchase_device = devices.first[wo_person] + np.where(
        use_app,
        n_other[wo_person] + np.floor(u * devices.n_app[wo_person]),
        np.floor(u * n_other[wo_person]),
    ).astype(np.int64)
    # landing page, login, some browsing, then add_to_cart, checkout, purchase
    purchase_events = 5 + rng.poisson(PURCHASE_BROWSE_EVENTS, len(wo_person))

    # browsing sessions, scaled to the events budget
    known_budget = (1 - ctx.profile.coverage.anonymous_event_share) * events_per_customer * n
    browse_budget = max(known_budget - purchase_events.sum(), 0.0)
    weight = _persona_values(ctx, "web_weight")[persona] * rng.gamma(2.0, 0.5, n)
    per_session = _persona_values(ctx, "events_per_session")[persona]
    sessions = rng.poisson(browse_budget * weight / max(weight.sum(), 1e-9) / per_session)
    browse_person, _ = _positions(sessions)
    browse_device = devices.first[browse_person] + np.floor(
        rng.random(len(browse_person)) * devices.count[browse_person]
    ).astype(np.int64)
    browse_events = 1 + rng.poisson(per_session[browse_person] - 1)
    history = timeline.history_days
    days = np.arange(history - WINDOW_DAYS, history)
    day_weights = np.sqrt(ctx.seasonality.profiles[:, days])  # a softened season
    browse_day = days[sample_rows(rng, day_weights, persona[browse_person])]
    browse_start = timeline.day_start(browse_day) + hour_of_day(
        rng, persona[browse_person], m.hours
    )
    login_share = _persona_values(ctx, "login_share")[persona]
    browse_login = (browse_start >= created[browse_person]) & (
        rng.random(len(browse_person)) < login_share[browse_person]
    )

    # shared devices: a household tablet where a second person (the guest) logs in too
    device_type = devices.device_type
    used = np.bincount(browse_device, minlength=devices.n_person_devices) > 0
    candidates = np.flatnonzero((device_type != app) & used)
    n_shared = int(rng.binomial(len(candidates), SHARED_DEVICE_SHARE))
    shared = rng.choice(candidates, n_shared, replace=False)
    guest = rng.choice(np.flatnonzero(sessions > 0), n_shared)
    valid = guest != devices.person[shared]
    shared, guest = shared[valid], guest[valid]
    _, first_guest = np.unique(guest, return_index=True)
    shared, guest = shared[first_guest], guest[first_guest]
    device_type[shared] = DEVICE_TYPES.index("tablet")
    guest_device = np.full(n, -1, dtype=np.int64)
    guest_device[guest] = shared
    first_session = np.zeros(len(browse_person), dtype=bool)
    first_session[np.cumsum(sessions)[sessions > 0] - sessions[sessions > 0]] = True
    moved = (guest_device[browse_person] >= 0) & (
        first_session | (rng.random(len(browse_person)) < 0.5)
    )
    browse_device[moved] = guest_device[browse_person[moved]]
    is_shared = np.zeros(devices.n_person_devices, dtype=bool)
    is_shared[shared] = True
    on_shared = is_shared[browse_device]
    browse_start[on_shared] = np.maximum(
        browse_start[on_shared], created[browse_person[on_shared]] + 3600
    )
    browse_login |= on_shared

    # anonymous visitors (cookies outside the CRM), about 15% of the events
    anonymous_budget = ctx.profile.coverage.anonymous_event_share * events_per_customer * n
    visitor_events = ANONYMOUS_VISITOR.events_per_session * ANONYMOUS_SESSIONS_PER_DEVICE
    n_anonymous = int(rng.poisson(anonymous_budget / visitor_events))
    anonymous_type = sample_rows(rng, m.device_types, np.full(n_anonymous, visitor))
    anonymous_sessions = 1 + rng.poisson(ANONYMOUS_SESSIONS_PER_DEVICE - 1, n_anonymous)
    anonymous_device, _ = _positions(anonymous_sessions)
    k = len(anonymous_device)
    window_start = timeline.cutoff_sec - WINDOW_DAYS * DAY
    anonymous_day = window_start + (rng.random(k) * (WINDOW_DAYS - 1) * DAY).astype(np.int64)
    anonymous_start = (
        anonymous_day - anonymous_day % DAY + hour_of_day(rng, np.full(k, visitor), m.hours)
    )
    anonymous_events = 1 + rng.poisson(ANONYMOUS_VISITOR.events_per_session - 1, k)
    devices.device_type = np.concatenate([device_type, anonymous_type])

    kind = np.concatenate(
        [
            np.zeros(len(browse_person), dtype=np.int8),
            np.ones(len(wo_person), dtype=np.int8),
            np.full(k, 2, dtype=np.int8),
        ]
    )
    person = np.concatenate([browse_person, wo_person, np.full(k, -1)])
    profile = np.where(person >= 0, persona[np.maximum(person, 0)], visitor)
    login = np.concatenate(
        [browse_login, np.ones(len(wo_person), dtype=bool), np.zeros(k, dtype=bool)]
    )
    events = np.concatenate([browse_events, purchase_events, anonymous_events])
    return _Sessions(
        kind=kind,
        person=person,
        profile=profile,
        device=np.concatenate(
            [browse_device, purchase_device, devices.n_person_devices + anonymous_device]
        ),
        login=login,
        events=np.where(login, np.maximum(events, 2), events),
        start=np.concatenate(
            [browse_start, np.zeros(len(wo_person), dtype=np.int64), anonymous_start]
        ),
        traffic=sample_rows(rng, m.traffic, profile),
        order=np.concatenate(
            [np.full(len(browse_person), -1), np.arange(len(wo_person)), np.full(k, -1)]
        ),
    )


def _time_events(
    ctx: Context, s: _Sessions, web_orders: pd.DataFrame, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Time every event and keep sessions an hour apart on each device.

    Browsing that overlaps a purchase session is dropped, then any session starting less
    than an hour after an earlier one of the same device ends (a tracker would have merged
    them), and sessions ending after the cut-off.

    Returns:
        keep (per session), and per kept event: its session and its seconds since the session
        start.
    """
    session, position = _positions(s.events)
    bounds = _persona_values(ctx, "event_gap_seconds")
    profile = s.profile[session]
    gap = np.where(position > 0, rng.uniform(bounds[profile, 0], bounds[profile, 1]), 0).astype(
        np.int64
    )
    del profile
    first = np.cumsum(s.events) - s.events
    elapsed = np.cumsum(gap)
    elapsed -= np.repeat(elapsed[first], s.events)
    duration = elapsed[first + s.events - 1]
    purchase = s.kind == 1
    s.start[purchase] = web_orders["ordered_sec"].to_numpy()[s.order[purchase]] - duration[purchase]
    end = s.start + duration

    keep = end < ctx.timeline.cutoff_sec
    big = np.int64(1) << 33
    p_index = np.flatnonzero(purchase)
    p_key = s.device[p_index] * big + (s.start[p_index] - SESSION_GAP_SECONDS)
    p_sort = np.argsort(p_key)
    p_key, p_index = p_key[p_sort], p_index[p_sort]
    b_index = np.flatnonzero(s.kind == 0)
    if len(p_index) and len(b_index):
        j = np.searchsorted(p_key, s.device[b_index] * big + end[b_index], side="left") - 1
        hit = p_index[np.maximum(j, 0)]
        overlap = (
            (j >= 0)
            & (s.device[hit] == s.device[b_index])
            & (end[hit] + SESSION_GAP_SECONDS > s.start[b_index])
        )
        keep[b_index[overlap]] = False
    candidates = np.flatnonzero(keep)
    by_device = candidates[np.lexsort((s.start[candidates], s.device[candidates]))]
    groups = s.device[by_device]
    latest_end = pd.Series(end[by_device]).groupby(groups).cummax().groupby(groups).shift(1)
    too_close = s.start[by_device] < latest_end.to_numpy() + SESSION_GAP_SECONDS  # NaN: False
    keep[by_device[too_close]] = False
    kept_events = keep[session]
    return keep, session[kept_events], elapsed[kept_events]


def _event_fields(
    ctx: Context,
    s: _Sessions,
    session: np.ndarray,
    elapsed: np.ndarray,
    web_orders: pd.DataFrame,
    rng: np.random.Generator,
) -> dict:
    """Event type, page, product, dwell, video and scroll of each (kept) event."""
    m = ctx.matrices
    type_index = {t: i for i, t in enumerate(ctx.reference.event_types)}
    e = len(session)
    position = np.arange(e) - np.searchsorted(session, session, side="left")
    tail = s.events[session] - position  # 1 for the last event of its session
    profile = s.profile[session]
    is_purchase = s.kind[session] == 1

    # event types: landing page, login, persona funnel, then cart-checkout-purchase
    browse_codes = np.array([type_index[t] for t in BROWSE_EVENTS])
    event_type = browse_codes[sample_rows(rng, m.event_mix, profile)]
    event_type[position == 0] = type_index["page_view"]
    event_type[s.login[session] & (position == 1)] = type_index["login"]
    for offset, name in ((3, "add_to_cart"), (2, "checkout"), (1, "purchase")):
        event_type[is_purchase & (tail == offset)] = type_index[name]
    in_cart = (event_type == type_index["add_to_cart"]) & ~is_purchase & (tail > 1)
    has_cart = np.bincount(session[in_cart], minlength=len(s.kind)) > 0
    abandon = (
        (tail == 1) & (position >= 2) & has_cart[session] & (rng.random(e) < CHECKOUT_ABANDON_SHARE)
    )
    event_type[abandon] = type_index["checkout"]
    del in_cart, has_cart, abandon

    # pages and products (the cart of a purchase session holds the order's first product)
    categories = ctx.reference.categories
    category_p = np.vstack(
        [m.categories, distribution([ANONYMOUS_VISITOR], "categories", categories, 0.01)]
    )
    category = sample_rows(rng, category_p, profile)
    product = np.isin(event_type, [type_index[t] for t in PRODUCT_EVENTS])
    with_category = product.copy()
    for name, share in CATEGORY_PAGE_SHARE.items():
        with_category |= (event_type == type_index[name]) & (rng.random(e) < share)
    sku = np.full(e, -1, dtype=np.int64)
    sku[product] = ctx.catalogue.sample_codes(rng, category[product])
    cart = is_purchase & (tail == 3)
    cart_order = s.order[session[cart]]
    sku[cart] = web_orders["sku_code"].to_numpy()[cart_order]
    category[cart] = web_orders["category"].to_numpy()[cart_order]
    page_category = np.where(with_category, category, -1)
    del category, product, with_category, cart

    # dwell on a page: most of the time until the next event, or a short stay at the end;
    # video: how long it played; scroll: how deep
    duration = np.full(e, np.nan)
    viewing = np.flatnonzero(
        np.isin(event_type, [type_index["page_view"], type_index["product_view"]])
    )
    next_gap = np.append(np.diff(elapsed), 0)[viewing]
    dwell = np.where(
        tail[viewing] > 1,
        next_gap * rng.uniform(0.5, 0.95, len(viewing)),
        rng.uniform(5, 60, len(viewing)),
    )
    duration[viewing] = np.round(dwell * 1000)
    playing = np.flatnonzero(event_type == type_index["video_play"])
    bounds = _persona_values(ctx, "video_seconds")
    duration[playing] = np.round(
        rng.uniform(bounds[profile[playing], 0], bounds[profile[playing], 1]) * 1000
    )
    depth = np.full(e, np.nan)
    scrolling = np.flatnonzero(event_type == type_index["scroll"])
    bounds = _persona_values(ctx, "scroll_depth")
    depth[scrolling] = rng.integers(
        bounds[profile[scrolling], 0], bounds[profile[scrolling], 1] + 1
    )
    return {
        "event_type": event_type,
        "page_category": Coded(page_category, tuple(categories)),
        "product_sku": Coded(sku, ctx.catalogue.vocabulary),
        "duration_ms": duration,
        "scroll_depth_pct": depth,
        "logged": s.login[session] & (position >= 1),
    }


def build_events(
    ctx: Context,
    people: pd.DataFrame,
    web_orders: pd.DataFrame,
    rng: np.random.Generator,
    counters: dict[str, int],
    events_per_customer: float,
    rates: dict[str, float],
) -> WebChunk:
    """Events of a chunk's persons (and of as many anonymous visitors), with defects."""
    missing = [t for t in REQUIRED_EVENT_TYPES if t not in ctx.reference.event_types]
    if missing:
        raise ValueError(f"tracking_plan.csv lacks the event types {missing}")
    if events_per_customer <= 0:  # no tracking at all, not even of purchases
        web_orders = web_orders.iloc[0:0]
    devices = _devices(ctx, people, web_orders, rng)
    s = _plan_sessions(ctx, people, web_orders, devices, rng, events_per_customer)
    keep, session, elapsed = _time_events(ctx, s, web_orders, rng)
    fields = _event_fields(ctx, s, session, elapsed, web_orders, rng)
    occurred = s.start[session] + elapsed
    del elapsed

    # session ids, chronological within the chunk
    kept = np.flatnonzero(keep)
    kept = kept[np.argsort(s.start[kept], kind="stable")]
    session_number = np.full(len(keep), -1, dtype=np.int64)
    session_number[kept] = counters["sessions"] + np.arange(len(kept))
    device = s.device[session]
    logged = fields.pop("logged")
    customer_number = np.full(len(session), None, dtype=object)
    customer_number[logged] = people["primary_number"].to_numpy(dtype=object)[
        s.person[session[logged]]
    ]
    device_ids = prefixed(
        "a-",
        hex64(
            counters["devices"] + np.arange(len(devices.device_type)),
            ctx.hex_multiplier ^ 0x5DEECE66D,
            ctx.hex_offset,
        ),
    )

    # truth: devices seen in the events, their owner and whether two persons logged in
    seen = np.unique(device)
    logins = pd.DataFrame({"device": device[logged], "person": s.person[session[logged]]})
    persons_per_device = logins.drop_duplicates().groupby("device").size()
    owner = np.full(len(seen), None, dtype=object)
    own = seen < devices.n_person_devices
    owner[own] = people["person_id"].to_numpy(dtype=object)[devices.person[seen[own]]]
    truth = pd.DataFrame(
        {
            "anonymous_id": device_ids[seen].astype(str),
            "person_id": owner,
            "is_shared": persons_per_device.reindex(seen, fill_value=0).to_numpy() >= 2,
        }
    )
    del logins

    columns, defects, n_ids = _with_defects(
        ctx,
        rng,
        rates,
        counters["event_ids"],
        fields,
        logged,
        occurred,
        customer_number,
        session_id=prefixed("s-", digits(session_number, 10))[session],
        anonymous_id=device_ids[device],
        device_type=Coded(devices.device_type[device], DEVICE_TYPES),
        traffic_source=Coded(s.traffic[session], TRAFFIC_SOURCES),
    )
    return WebChunk(
        columns=columns,
        devices=truth,
        defects=defects,
        has_app_device=devices.n_app > 0,
        n_devices=len(devices.device_type),
        n_sessions=len(kept),
        n_event_ids=n_ids,
    )


def _with_defects(
    ctx: Context,
    rng: np.random.Generator,
    rates: dict[str, float],
    first_id: int,
    fields: dict,
    logged: np.ndarray,
    occurred: np.ndarray,
    customer_number: np.ndarray,
    **context_columns: np.ndarray,
) -> tuple[dict, Counter, int]:
    """Add the tracker defects (disjoint) and return the landing columns.

    Re-sent copies (same id and payload, received later), late arrivals, a device clock in the
    future, unknown customers on logged-in events, and extra events of types the tracking
    plan does not know.
    """
    e = len(occurred)
    received = occurred + rng.integers(0, RECEIVED_DELAY_SECONDS + 1, e)
    u = rng.random(e)
    resent_rate, late_rate = rates["duplicate_event"], rates["late_event"]
    resent = u < resent_rate
    late = (u >= resent_rate) & (u < resent_rate + late_rate)
    future = (u >= resent_rate + late_rate) & (
        u < resent_rate + late_rate + rates["future_timestamp"]
    )
    clean = ~(resent | late | future)
    unknown = clean & logged & (rng.random(e) < rates["unknown_customer"])
    clean &= ~unknown
    received[late] = occurred[late] + (rng.uniform(*LATE_DAYS, late.sum()) * DAY).astype(np.int64)
    written = occurred.copy()
    written[future] += (rng.uniform(*FUTURE_YEARS, future.sum()) * YEAR_DAYS * DAY).astype(np.int64)
    customer_number[unknown] = unknown_numbers(rng, unknown.sum())
    n_extra = int(rng.binomial(e, rates["unknown_event_type"]))
    base = rng.choice(np.flatnonzero(clean), n_extra, replace=False)
    copies = np.flatnonzero(resent)
    defects = Counter(
        {
            "duplicate_event": len(copies),
            "late_event": int(late.sum()),
            "unknown_event_type": n_extra,
            "future_timestamp": int(future.sum()),
            "unknown_customer": int(unknown.sum()),
        }
    )
    rows = np.concatenate([np.arange(e), copies, base])
    extra = np.zeros(len(rows), dtype=bool)
    extra[e + len(copies) :] = True
    types = (*ctx.reference.event_types, *UNKNOWN_EVENT_TYPES)
    event_type = np.concatenate(
        [
            fields.pop("event_type")[rows[~extra]],
            len(ctx.reference.event_types) + rng.integers(0, len(UNKNOWN_EVENT_TYPES), n_extra),
        ]
    )
    extra_at = occurred[base] + 1
    occurred_at = np.concatenate([written, written[copies], extra_at])
    received_at = np.concatenate(
        [
            received,
            received[copies] + rng.integers(*RESENT_DELAY_SECONDS, len(copies)),
            extra_at + rng.integers(0, RECEIVED_DELAY_SECONDS + 1, n_extra),
        ]
    )
    ids = np.concatenate(
        [first_id + np.arange(e), first_id + copies, first_id + e + np.arange(n_extra)]
    )
    order = np.argsort(received_at, kind="stable")
    rows, extra = rows[order], extra[order]

    def payload(values):
        """The rows' values; extra events carry none."""
        if isinstance(values, Coded):
            codes = values.codes[rows]
            codes[extra] = -1
            return Coded(codes, values.vocabulary)
        out = values[rows]
        out[extra] = np.nan
        return out

    columns = {
        "event_id": prefixed("e-", hex64(ids[order], ctx.hex_multiplier, ctx.hex_offset)),
        "anonymous_id": context_columns["anonymous_id"][rows],
        "customer_number": customer_number[rows],
        "session_id": context_columns["session_id"][rows],
        "event_type": Coded(event_type[order], types),
        "occurred_at": occurred_at[order],
        "received_at": received_at[order],
        "page_category": payload(fields.pop("page_category")),
        "product_sku": payload(fields.pop("product_sku")),
        "duration_ms": payload(fields.pop("duration_ms")),
        "scroll_depth_pct": payload(fields.pop("scroll_depth_pct")),
        "device_type": context_columns["device_type"][rows],
        "traffic_source": context_columns["traffic_source"][rows],
    }
    return columns, defects, e + n_extra
