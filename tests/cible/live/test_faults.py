"""At least once, effectively once: a 20,000-event stream through the collector survives five
kill -9 of its worker and a broker restart with unacknowledged messages, and ends in the
state of every event applied exactly once (computed in-process, without faults); two workers
end in the same state as one. Duplicated event ids change nothing."""

from __future__ import annotations

import random
import threading
import time
from datetime import timedelta

import pytest
from live_support import environment, post_events, states, wait_until_landed

from cible.live.bootstrap import read_snapshot, write_generation
from cible.live.config import load_live_config
from cible.live.events import parse_timestamp, validate
from cible.live.keys import add_key
from cible.live.services import live_environment, live_process
from cible.live.state import Engine, utc_now
from cible.live.store import Store

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("live_published"), pytest.mark.timeout(1500)]

EVENTS = 20_000
KILLS = 5
COMPARED = ("segment", "scores", "features", "decayed", "customer_numbers")
TYPES = (
    ["page_view"] * 6
    + ["product_view"] * 4
    + ["scroll", "search", "video_play"]
    + [
        "add_to_cart",
        "wishlist_add",
        "checkout",
    ]
)


def synthetic_stream(snapshot, rng: random.Random, count: int) -> list[dict]:
    """Events after the batch for consenting customers' devices, logins included, and for
    anonymous visitors; 2 % are re-sent (same event id)."""
    # Sorted: the features come in DuckDB's row order, which changes between runs.
    consenting = sorted(
        snapshot.features[snapshot.features["has_profiling_consent"]]["customer_id"]
    )
    numbers = snapshot.numbers.set_index("customer_id")["customer_numbers"]
    customers = [numbers[c].split(",")[0].strip() for c in consenting[:300]]
    visitors = [
        (f"a-live-{i}", customers[i % len(customers)] if i < 400 else None) for i in range(600)
    ]
    start = snapshot.as_of_at + timedelta(hours=1)
    clock = {v: start + timedelta(minutes=rng.randint(0, 600)) for v, _ in visitors}
    events = []
    for i in range(count):
        anonymous, number = rng.choice(visitors)
        clock[anonymous] += timedelta(seconds=rng.choice([5, 30, 120, 600, 2400, 7200]))
        event = {
            "event_id": f"live-{i}",
            "anonymous_id": anonymous,
            "event_type": rng.choice(TYPES),
            "occurred_at": clock[anonymous].isoformat() + "+00:00",
            "device_type": rng.choice(["mobile", "desktop", "tablet"]),
            "traffic_source": rng.choice(["direct", "seo", "email"]),
            "duration_ms": rng.randint(0, 90_000),
            "scroll_depth_pct": rng.randint(0, 100),
        }
        if number and rng.random() < 0.3:
            event["customer_number"] = number
        events.append(event)
        if rng.random() < 0.02:
            events.append(dict(event))
    return events


@pytest.fixture(scope="module")
def stream(published):
    with environment(**published.env()):
        snapshot = read_snapshot()
    return snapshot, synthetic_stream(snapshot, random.Random(14), EVENTS)


def reference_states(published, snapshot, events, config_path, redis_url) -> dict:
    """Every event applied exactly once, in order, in-process, under the key prefix of the
    live run's plus `-reference`: each test's own, since the tests share one Redis and a
    reference left by another would hold these event ids as seen already."""
    config = load_live_config(config_path)
    prefix = f"{config.store.key_prefix}-reference"
    config = config.model_copy(
        update={"store": config.store.model_copy(update={"key_prefix": prefix})}
    )
    store = Store.connect(redis_url, config)
    write_generation(store, config, snapshot, 1)
    store.switch(1)
    engine = Engine(store, config)
    received = utc_now()
    pairs = []
    for item in events:
        _, event, _ = validate(dict(item), received)
        pairs.append((event, received))
    with environment(**published.env()):
        for start in range(0, len(pairs), 500):
            engine.apply(pairs[start : start + 500])
    return comparable(store)


def comparable(store) -> dict:
    out = {}
    for kind in ("state", "vstate"):
        for name, record in states(store, kind).items():
            out[(kind, name)] = {k: record.get(k) for k in COMPARED if k in record}
    return out


def assert_same(live: dict, reference: dict) -> None:
    assert set(live) == set(reference)
    different = []
    for key, expected in reference.items():
        got = live[key]
        if _rounded(got) != _rounded(expected):
            different.append(key)
    assert different == [], (
        f"{len(different)} records differ, e.g. {different[:3]}; the first: "
        f"{_difference(_rounded(live[different[0]]), _rounded(reference[different[0]]))}"
    )


def _difference(got, expected, path: str = "") -> list[str]:
    """Where two records differ, as `path: live != reference` lines."""
    if isinstance(got, dict) and isinstance(expected, dict):
        return [
            line
            for k in sorted(set(got) | set(expected), key=str)
            for line in _difference(got.get(k), expected.get(k), f"{path}.{k}")
        ]
    return [] if got == expected else [f"{path}: {got!r} != {expected!r}"]


def _rounded(value):
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def start_live(published, rabbit, redis_server, folder, prefix: str):
    config_path = folder / "live.yml"
    config_path.write_text(
        f"collector: {{api_keys_file: {folder / 'keys.json'}, requests_per_second_per_key: 10000, "
        f"burst: 10000}}\nbroker: {{queues: 4}}\nstore: {{key_prefix: {prefix}}}\n"
    )
    config = load_live_config(config_path)
    key = add_key(config.collector.api_keys_path(), "faults", ("collect",))
    landing = folder / "landing"
    env = live_environment(
        rabbit.url,
        redis_server.url,
        **{**published.env(), "CIBLE_LANDING_DIR": str(landing)},
        CIBLE_LIVE_CONFIG=str(config_path),
    )
    store = Store.connect(redis_server.url, config)
    with environment(**published.env()):
        snapshot = read_snapshot()
    write_generation(store, config, snapshot, 1)
    store.switch(1)
    return config_path, key, env, store, landing


def landed_lines(landing) -> list[str]:
    import json

    ids = []
    for path in sorted((landing / "events").glob("live-*.jsonl")):
        ids += [json.loads(line)["event_id"] for line in path.read_text().splitlines() if line]
    return ids


def test_kill_9_five_times_and_a_broker_restart_lose_and_double_nothing(
    published, stream, rabbit, redis_server, tmp_path
):
    snapshot, events = stream
    config_path, key, env, store, landing = start_live(
        published, rabbit, redis_server, tmp_path, "faults"
    )
    collector = live_process("collector", env, tmp_path)
    worker = live_process("worker", env, tmp_path, "--id", "w0")
    rng = random.Random(5)
    posted = threading.Thread(target=post_events, args=(collector.url, key, events, 100))
    kills = 0
    try:
        collector.start()
        worker.start()
        posted.start()
        for round_ in range(KILLS):
            time.sleep(rng.uniform(1.0, 3.0))
            worker.kill()
            kills += 1
            if round_ == 2:
                # Messages delivered to the dead worker and not acknowledged: the broker keeps
                # them through its restart and delivers them again.
                rabbit.restart()
            worker.start()
        posted.join()
        distinct = sorted({e["event_id"] for e in events})
        wait_until_landed(store, distinct, timeout=600)
    finally:
        worker.stop()
        collector.stop()
    assert kills == KILLS
    lines = landed_lines(landing)
    assert len(lines) == len(set(lines)) == len(distinct)  # 0 lost, 0 written twice
    reference = reference_states(published, snapshot, events, config_path, redis_server.url)
    assert_same(comparable(store), reference)


def test_two_workers_end_in_the_same_state_as_one(
    published, stream, rabbit, redis_server, tmp_path
):
    snapshot, events = stream
    config_path, key, env, store, landing = start_live(
        published, rabbit, redis_server, tmp_path, "two"
    )
    collector = live_process("collector", env, tmp_path)
    workers = [
        live_process("worker", env, tmp_path, "--id", f"w{i}", "--queues", f"{i}/2")
        for i in range(2)
    ]
    try:
        for process in (collector, *workers):
            process.start()
        post_events(collector.url, key, events, 100)
        wait_until_landed(store, [e["event_id"] for e in events], timeout=600)
    finally:
        for process in (*workers, collector):
            process.stop()
    lines = landed_lines(landing)
    assert len(lines) == len(set(lines)) == len({e["event_id"] for e in events})
    reference = reference_states(published, snapshot, events, config_path, redis_server.url)
    assert_same(comparable(store), reference)


def test_duplicate_event_ids_change_nothing(published, stream, redis_server, tmp_path):
    snapshot, events = stream
    config_path = tmp_path / "live.yml"
    config_path.write_text("store: {key_prefix: dups}\n")
    config = load_live_config(config_path)
    store = Store.connect(redis_server.url, config)
    write_generation(store, config, snapshot, 1)
    store.switch(1)
    engine = Engine(store, config)
    received = parse_timestamp("2026-12-01T00:00:00")
    pairs = [(validate(dict(e), received)[1], received) for e in events[:3000]]
    with environment(**published.env()):
        engine.apply(pairs)
        once = comparable(store)
        outcome = engine.apply(pairs[::-1])
    assert outcome.applied == 0 and outcome.duplicates == len(pairs)
    assert comparable(store) == once
