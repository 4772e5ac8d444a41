"""Bad input against the real collector and worker: keys, fuzzed bodies, limits, poison
messages. Every answer is a 4xx with a message, never a 5xx; nothing is published without a
valid key; a poison message goes to the dead-letter queue with its reason."""

from __future__ import annotations

import asyncio
import json
import random

import httpx
import pytest

from cible.live import broker as br
from cible.live.config import load_live_config
from cible.live.keys import add_key, revoke_key
from cible.live.services import live_environment, live_process

pytestmark = [pytest.mark.xdist_group("live_bad_input"), pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def collector(rabbit, redis_server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("collector")
    config_path = folder / "live.yml"
    config_path.write_text(
        f"collector: {{api_keys_file: {folder / 'keys.json'}, max_events_per_batch: 500, "
        "max_body_bytes: 1048576, requests_per_second_per_key: 1000, burst: 1000}\n"
    )
    config = load_live_config(config_path)
    keys = config.collector.api_keys_path()
    good = add_key(keys, "site", ("collect",))
    revoked = add_key(keys, "old-site", ("collect",))
    revoke_key(keys, "old-site")
    env = live_environment(rabbit.url, redis_server.url, CIBLE_LIVE_CONFIG=str(config_path))
    process = live_process("collector", env, folder).start()
    yield {"url": process.url, "good": good, "revoked": revoked, "rabbit": rabbit}
    process.stop()


def depth(url: str, queue: str) -> int:
    async def read() -> int:
        broker = await br.Broker.connect(url, queues=4)
        try:
            return (await broker.depths([queue]))[queue]
        finally:
            await broker.close()

    return asyncio.run(read())


def event(i: int, **changes) -> dict:
    return {
        "event_id": f"fuzz-{i}",
        "anonymous_id": f"a-{i % 7}",
        "event_type": "page_view",
        "occurred_at": "2026-10-20T10:00:00+02:00",
        **changes,
    }


def test_no_wrong_or_revoked_key_gets_401_and_publishes_nothing(collector):
    before = sum(depth(collector["rabbit"].url, br.events_queue(i)) for i in range(4))
    body = {"events": [event(1)]}
    statuses = []
    with httpx.Client(base_url=collector["url"], timeout=10) as client:
        for attempt in range(300):
            headers = [
                {},
                {"X-API-Key": "ck_wrong" + str(attempt)},
                {"X-API-Key": collector["revoked"]},
                {"Authorization": "Bearer nope"},
                {"X-API-Key": "x" * 10_000},
            ][attempt % 5]
            statuses.append(client.post("/v1/events", json=body, headers=headers).status_code)
        statuses.append(
            client.post(f"/v1/events?key={collector['revoked']}", json=body).status_code
        )
    assert statuses == [401] * 301
    after = sum(depth(collector["rabbit"].url, br.events_queue(i)) for i in range(4))
    assert after == before


def fuzzed_bodies(rng: random.Random) -> list[tuple[str, bytes]]:
    """(what, body) pairs: malformed JSON, wrong shapes and types, huge values, NUL bytes."""
    bodies = [
        ("empty", b""),
        ("not json", b"{events: [1, 2"),
        ("truncated", json.dumps({"events": [event(1)]}).encode()[:-3]),
        ("nested deep", b"[" * 100_000 + b"]" * 100_000),
        ("a number", b"42"),
        ("a string", b'"events"'),
        ("events not a list", json.dumps({"events": {"a": 1}}).encode()),
        ("extra top-level key", json.dumps({"events": [event(1)], "x": 1}).encode()),
        ("list of numbers", json.dumps([1, 2, 3]).encode()),
        ("unknown field", json.dumps({"events": [event(1, colour="red")]}).encode()),
        ("wrong type id", json.dumps({"events": [event(1, event_id={"a": 1})]}).encode()),
        ("wrong type duration", json.dumps({"events": [event(1, duration_ms="long")]}).encode()),
        ("boolean type", json.dumps({"events": [event(1, event_type=True)]}).encode()),
        ("huge string", json.dumps({"events": [event(1, page_category="x" * 900_000)]}).encode()),
        ("NUL in value", json.dumps({"events": [event(1, anonymous_id="a\u0000b")]}).encode()),
        ("raw NUL byte", b'{"events": [{"event_id": "a\x00b"}]}'),
        ("bad utf-8", b'{"events": [{"event_id": "\xff\xfe"}]}'),
        ("missing ids", json.dumps({"events": [{"event_type": "page_view"}]}).encode()),
        ("bad time", json.dumps({"events": [event(1, occurred_at="yesterday")]}).encode()),
        ("future", json.dumps({"events": [event(1, occurred_at="2999-01-01T00:00:00Z")]}).encode()),
        (
            "placeholder date",
            json.dumps({"events": [event(1, occurred_at="1900-01-01T00:00:00Z")]}).encode(),
        ),
        ("unknown type", json.dumps({"events": [event(1, event_type="teleport")]}).encode()),
        ("null event", json.dumps({"events": [None]}).encode()),
        ("10 MB", b'{"events": [' + b" " * 10_000_000 + b"]}"),
        ("100,000 events", json.dumps({"events": [event(i) for i in range(100_000)]}).encode()),
    ]
    alphabet = b'{}[]",:0123456789abcdefnulltrue \\\x00\xff'
    for i in range(60):
        bodies.append(
            (f"random {i}", bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 400))))
        )
    for i in range(40):
        item = event(i)
        key = rng.choice(list(item))
        item[key] = rng.choice([None, 1.5, -1, [], {}, "", "\u0000", "é" * 300, 10**30, True])
        bodies.append((f"mutated {i}", json.dumps({"events": [item]}).encode()))
    return bodies


def test_fuzzed_bodies_get_a_4xx_with_a_message_never_a_5xx(collector):
    rng = random.Random(14)
    answers = {}
    with httpx.Client(base_url=collector["url"], timeout=60) as client:
        for what, body in fuzzed_bodies(rng):
            response = client.post(
                "/v1/events",
                content=body,
                headers={"X-API-Key": collector["good"], "Content-Type": "application/json"},
            )
            answers[what] = response
    server_errors = {w: r.status_code for w, r in answers.items() if r.status_code >= 500}
    assert server_errors == {}
    for what, response in answers.items():
        assert 400 <= response.status_code < 500 or response.status_code in (200, 207), what
        if response.status_code >= 400:
            body = response.json()
            message = body.get("error") or json.dumps(body.get("errors"))
            assert message and len(message) > 10, what
    assert answers["10 MB"].status_code == 413
    assert answers["100,000 events"].status_code == 413
    assert answers["not json"].status_code == 400
    assert answers["unknown field"].status_code == 422
    assert answers["unknown field"].json()["errors"][0]["reason"] == "unknown_field"
    assert answers["huge string"].json()["errors"][0]["reason"] == "value_too_long"
    assert answers["NUL in value"].json()["errors"][0]["reason"] == "nul_byte"
    assert answers["future"].json()["errors"][0]["reason"] == "future_timestamp"
    assert answers["placeholder date"].json()["errors"][0]["reason"] == "before_earliest_date"
    assert answers["bad time"].json()["errors"][0]["reason"] == "unparseable_timestamp"


def test_over_the_rate_gets_429_with_a_message(rabbit, redis_server, tmp_path):
    config_path = tmp_path / "live.yml"
    config_path.write_text(
        f"collector: {{api_keys_file: {tmp_path / 'keys.json'}, "
        "requests_per_second_per_key: 5, burst: 10}\n"
    )
    key = add_key(load_live_config(config_path).collector.api_keys_path(), "busy", ("collect",))
    env = live_environment(rabbit.url, redis_server.url, CIBLE_LIVE_CONFIG=str(config_path))
    process = live_process("collector", env, tmp_path).start()
    try:
        with httpx.Client(base_url=process.url, timeout=10) as client:
            answers = [
                client.post("/v1/events", json={"events": []}, headers={"X-API-Key": key})
                for _ in range(60)
            ]
    finally:
        process.stop()
    statuses = [answer.status_code for answer in answers]
    assert 10 <= statuses.count(200) < 30
    assert set(statuses) == {200, 429}
    assert "requests per second" in next(a for a in answers if a.status_code == 429).json()["error"]


def test_a_poison_message_goes_to_the_dead_letter_queue_and_the_worker_goes_on(
    rabbit, redis_server, tmp_path
):
    from cible.live.store import Store

    config_path = tmp_path / "live.yml"
    config_path.write_text(f"collector: {{api_keys_file: {tmp_path / 'keys.json'}}}\n")
    config = load_live_config(config_path)
    env = live_environment(
        rabbit.url,
        redis_server.url,
        CIBLE_LIVE_CONFIG=str(config_path),
        CIBLE_LANDING_DIR=str(tmp_path / "landing"),
    )
    store = Store.connect(redis_server.url, config)
    store.client.set(store.gen_key, 999)  # an empty generation: events are skipped, not lost
    store.client.set(store.key(999, "meta"), json.dumps(_empty_meta()))
    worker = live_process("worker", env, tmp_path, "--id", "poison").start()
    try:

        async def scenario():
            broker = await br.Broker.connect(rabbit.url, queues=4)
            await broker.publish_events(
                [("v1", b"\xff not json"), ("v1", json.dumps(_valid()).encode())]
            )
            for _ in range(200):
                got = await broker.get_one(br.DEAD)
                if got:
                    await broker.close()
                    return got
                await asyncio.sleep(0.05)
            await broker.close()
            return None

        got = asyncio.run(scenario())
        assert got is not None
        body, headers = got
        assert body == b"\xff not json"
        assert "not an event" in headers[br.REASON_HEADER]
        # The valid message after it was landed: the worker went on.
        for _ in range(200):
            if store.client.get(store.landed_key("after-poison")):
                break
            import time

            time.sleep(0.05)
        assert store.client.get(store.landed_key("after-poison")) is not None
        assert worker.running
    finally:
        worker.stop()
        store.client.delete(store.gen_key)


def _valid() -> dict:
    return {
        "event_id": "after-poison",
        "anonymous_id": "v1",
        "customer_number": None,
        "event_type": "page_view",
        "occurred_at": "2026-10-20T10:00:00+00:00",
        "received_at": "2026-10-20T10:00:01+00:00",
    }


def _empty_meta() -> dict:
    return {
        "as_of_at": "2026-10-18T00:00:00",
        "recent_start_at": "2026-07-20T00:00:00",
        "long_start_at": "2025-10-18T00:00:00",
        "cut_at": "2026-10-17T00:00:00",
        "half_lives_hours": [1, 24, 168],
        "dtypes": {},
        "models": {},
        "segments": {},
    }
