"""The live path end to end on a real broker, Redis and HTTP: two weeks of demo events held
back from the batch go through the collector and a worker; the live features equal what dbt
computes for the same window, every event reaches the landing folder exactly once, and a
consent withdrawal published by the next batch stops live profiling."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta

import httpx
import numpy as np
import pandas as pd
import pytest
from live_support import (
    environment,
    post_events,
    states,
    tracker_items,
    wait_until_landed,
)
from pipeline_support import dbt_command

from cible.live import behaviour as bh
from cible.live.bootstrap import bootstrap
from cible.live.config import load_live_config
from cible.live.keys import add_key
from cible.live.services import live_environment, live_process
from cible.live.store import Store

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("live_published"), pytest.mark.timeout(1500)]

HELD_FROM = datetime(2026, 10, 18)  # conftest.HELD_FROM
BATCH_B = datetime(2026, 11, 1)


@pytest.fixture(scope="module")
def live(published, rabbit, redis_server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("live")
    config_path = folder / "live.yml"
    config_path.write_text(
        f"collector: {{api_keys_file: {folder / 'keys.json'}}}\nbroker: {{queues: 2}}\n"
    )
    config = load_live_config(config_path)
    collect = add_key(config.collector.api_keys_path(), "tests", ("collect",))
    look = add_key(config.collector.api_keys_path(), "reader", ("lookup",))
    env = live_environment(
        rabbit.url, redis_server.url, **published.env(), CIBLE_LIVE_CONFIG=str(config_path)
    )
    store = Store.connect(redis_server.url, config)
    with environment(**published.env()):
        bootstrap(store, config)
    processes = [
        live_process("collector", env, folder),
        live_process("lookup", env, folder),
        live_process("worker", env, folder, "--id", "w0"),
    ]
    for process in processes:
        process.start()
    yield {
        "config": config,
        "store": store,
        "collector": processes[0],
        "lookup": processes[1],
        "worker": processes[2],
        "collect_key": collect,
        "lookup_key": look,
        "folder": folder,
    }
    for process in processes:
        process.stop()


@pytest.fixture(scope="module")
def replayed(published, live):
    """The held-back events (those before the next batch's as-of date) sent to the collector."""
    held = published.held_out
    occurred = pd.to_datetime(held["occurred_at"], utc=True)
    items = tracker_items(held[occurred < pd.Timestamp(BATCH_B, tz="UTC")])
    answers = post_events(live["collector"].url, live["collect_key"], items)
    rejected = [error for answer in answers for error in answer.json()["errors"]]
    assert {answer.status_code for answer in answers} <= {200, 207}
    refused_ids = {error["event_id"] for error in rejected}
    accepted = [item["event_id"] for item in items if item.get("event_id") not in refused_ids]
    wait_until_landed(live["store"], accepted)
    return {"items": items, "accepted": accepted, "rejected": rejected}


@pytest.fixture(scope="module")
def batch_b(published, live, replayed, tmp_path_factory):
    """The next batch: the landing folder (with the live files) loaded into a copy of the
    warehouse, built as of two weeks later with windows starting where the live ones do, and
    one customer's profiling consent withdrawn."""
    import shutil

    from cible.loader import load_landing

    customer = next(
        c
        for c, s in states(live["store"]).items()
        if s["source"] == "live" and s["customer_numbers"]
    )
    number = states(live["store"])[customer]["customer_numbers"][0]
    with open(published.landing / "consents.csv", "a", encoding="utf-8") as handle:
        handle.write(f"CNS-live-test,{number},profiling,withdrawn,2026-10-31T10:00:00+00:00,test\n")
    folder = tmp_path_factory.mktemp("batch_b")
    warehouse = folder / "warehouse.duckdb"
    shutil.copy(published.warehouse, warehouse)
    extra = (BATCH_B - HELD_FROM).days
    variables = {
        "as_of_date": BATCH_B.strftime("%Y-%m-%d"),
        "recent_window_days": 90 + extra,
        "long_window_days": 365 + extra,
    }
    with environment(**published.env()):
        load_landing(landing_dir=published.landing, warehouse=warehouse)
        dbt_command(
            ["build", "--exclude", "tag:segmentation tag:scoring", "--vars", json.dumps(variables)],
            warehouse,
        )
    return {"warehouse": warehouse, "withdrawn": (customer, number), "query": _query(warehouse)}


def _query(warehouse):
    import duckdb

    def query(sql: str) -> pd.DataFrame:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return con.execute(sql).df()

    return query


def test_live_web_features_equal_the_batch_for_the_same_window(live, replayed, batch_b):
    batch = batch_b["query"]("select * from marts.fct_customer_features").set_index("customer_id")
    live_states = states(live["store"])
    withdrawn = batch_b["withdrawn"][0]
    touched = [c for c, s in live_states.items() if s["source"] == "live"]
    assert len(touched) > 100
    compared, mismatches = 0, []
    for customer, state in live_states.items():
        if customer == withdrawn or customer not in batch.index:
            continue
        # days_since_last_visit is counted to the as-of date the live row was computed at.
        shift = (datetime.fromisoformat(state["features_as_of_at"]) - BATCH_B).days
        for name in bh.WEB_FEATURES:
            expected = batch.at[customer, name]
            expected = None if pd.isna(expected) else float(expected)
            if name == "days_since_last_visit" and expected is not None:
                expected += shift
            got = state["features"][name]
            compared += 1
            if (got is None) != (expected is None) or (
                got is not None and abs(got - expected) > 1e-9 * max(1.0, abs(expected))
            ):
                mismatches.append((customer, name, got, expected, state["source"], shift))
    assert compared > 1_000 * len(bh.WEB_FEATURES) / 2
    assert mismatches == [], (len(mismatches), sorted({m[1] for m in mismatches}), mismatches[:5])


def test_the_decayed_vector_equals_an_independent_computation_on_the_batch_sessions(live, batch_b):
    # A session is the customer's who logged in during it, else the one its device links to.
    sessions = batch_b["query"](
        "select coalesce(s.login_customer_id, d.customer_id) as customer_id, session_ended_at, "
        "events_count, page_views, add_to_carts, video_watch_seconds "
        "from intermediate.int_sessions_aggregated s "
        "left join intermediate.int_devices_resolved d on s.anonymous_id = d.anonymous_id "
        "where coalesce(s.login_customer_id, d.customer_id) is not null "
        "and session_started_at >= timestamp '2025-10-18'"
    )
    half_lives = live["config"].worker.half_lives_hours
    checked = 0
    for customer, state in states(live["store"]).items():
        if customer == batch_b["withdrawn"][0]:
            continue
        reference = state["decayed"]["reference_at"]
        mine = sessions[sessions["customer_id"] == customer]
        if reference is None:
            assert mine.empty
            continue
        age = (pd.Timestamp(reference) - mine["session_ended_at"]).dt.total_seconds() / 3600
        for i, h in enumerate(half_lives):
            weight = np.power(2.0, -age / h)
            for name, column in (
                ("sessions", None),
                ("page_views", "page_views"),
                ("add_to_carts", "add_to_carts"),
                ("video_watch_seconds", "video_watch_seconds"),
            ):
                values = 1.0 if column is None else mine[column].fillna(0).astype(float)
                expected = float((values * weight).sum())
                got = state["decayed"]["values"][name][i]
                assert abs(got - expected) <= 1e-9 * max(1.0, abs(expected)), (customer, name, h)
        checked += 1
    assert checked > 1_000


def test_the_live_segment_and_scores_are_the_batch_models_on_the_same_vector(
    published, live, batch_b
):
    from cible.live.models import load_models

    store = live["store"]
    meta = store.meta(store.generation())
    models = load_models(meta["models"], published.warehouse)
    batch_a = _query(published.warehouse)("select * from marts.fct_customer_features").set_index(
        "customer_id"
    )
    batch = batch_b["query"]("select * from marts.fct_customer_features").set_index("customer_id")
    touched = {c: s for c, s in states(store).items() if s["source"] == "live" and c in batch.index}
    ids = sorted(touched)
    # The vector: the batch's row as of the first date, with the web columns dbt computes for
    # the window the live path covered (the days since the last visit at the live row's date).
    vector = batch_a.loc[ids].copy()
    for name in bh.WEB_FEATURES:
        vector[name] = batch.loc[ids, name].to_numpy()
    shifts = [(datetime.fromisoformat(touched[c]["features_as_of_at"]) - BATCH_B).days for c in ids]
    vector["days_since_last_visit"] = vector["days_since_last_visit"] + pd.array(
        shifts, dtype="Int32"
    )
    # Completeness counts 11 signals; one is "a session in the long window".
    had = (batch_a.loc[ids, "sessions_long_window"] > 0).astype(int).to_numpy()
    has = (batch.loc[ids, "sessions_long_window"] > 0).astype(int).to_numpy()
    signals = np.round(batch_a.loc[ids, "profile_completeness"].to_numpy() * 11) - had + has
    vector["profile_completeness"] = signals / 11
    vector = vector.reset_index()
    assigned = models.assign(vector).set_index("customer_id")["segment_id"]
    assert len(ids) > 100
    assert {c: touched[c]["segment"]["segment_id"] for c in ids} == assigned.to_dict()
    for target in models.scorers:
        scored = [i for i, c in enumerate(ids) if target in touched[c]["scores"]]
        expected = models.score(vector.iloc[scored], target)
        got = [touched[ids[i]]["scores"][target]["score"] for i in scored]
        assert np.allclose(got, expected, rtol=0, atol=1e-12), target


def test_every_event_reaches_the_batch_once_and_refused_ones_are_quarantined(replayed, batch_b):
    query = batch_b["query"]
    loaded = query(
        "select count(*) as lines, count(distinct event_id) as ids from raw.events "
        "where _source_file like 'events/live-%'"
    ).iloc[0]
    assert loaded["lines"] == loaded["ids"] == len(set(replayed["accepted"]))
    rejects = query(
        "select count(*) as n from raw._load_rejects where source = 'events' "
        "and source_file like 'events/quarantine-%'"
    ).iloc[0]["n"]
    flagged = query(
        "select count(*) as n from staging.stg_web__events where not is_valid "
        "and source_file like 'events/quarantine-%'"
    ).iloc[0]["n"]
    assert rejects + flagged == len(replayed["rejected"]) > 0
    quarantined = query(
        "select count(*) as n from quality.fct_quarantined_rows "
        "where source_file like 'events/quarantine-%'"
    ).iloc[0]["n"]
    assert quarantined >= len(replayed["rejected"])
    reconciliation = query(
        "select * from quality.rpt_source_reconciliation where source_name = 'events'"
    ).iloc[0]
    assert reconciliation["unaccounted_rows"] == 0


def test_lookup_serves_segment_scores_and_state_and_404_for_unknown(live, replayed):
    store = live["store"]
    customer, state = next((c, s) for c, s in states(store).items() if s["source"] == "live")
    headers = {"X-API-Key": live["lookup_key"]}
    with httpx.Client(base_url=live["lookup"].url, timeout=10) as client:
        found = client.get(f"/v1/customers/{state['customer_numbers'][0]}", headers=headers)
        assert found.status_code == 200
        body = found.json()
        assert body["customer_id"] == customer
        assert body["segment"]["name_en"] and body["segment"]["name_fr"]
        assert all(s["model_version"] for s in body["scores"].values())
        assert body["state_vector"]["sessions"]["24h"] >= 0
        assert body["updated_at"]
        assert client.get("/v1/customers/C-does-not-exist", headers=headers).status_code == 404
        assert client.get("/v1/visitors/a-nobody", headers=headers).status_code == 404
        assert client.get(f"/v1/customers/{'x' * 5000}", headers=headers).status_code == 404
        # A collect key cannot read.
        denied = client.get(
            f"/v1/customers/{state['customer_numbers'][0]}",
            headers={"X-API-Key": live["collect_key"]},
        )
        assert denied.status_code == 401
        metrics = client.get("/metrics").text
        assert "cible_events_processed_total" in metrics
        assert "cible_event_to_state_seconds_bucket" in metrics


def test_a_consent_withdrawal_published_by_the_batch_stops_live_profiling(
    live, replayed, batch_b, published
):
    store = live["store"]
    customer, number = batch_b["withdrawn"]
    headers = {"X-API-Key": live["lookup_key"]}
    someone_else = next(
        s["customer_numbers"][0]
        for c, s in states(store).items()
        if c != customer and s["customer_numbers"]
    )
    answers: list[int] = []
    stop = threading.Event()

    def keep_looking() -> None:
        with httpx.Client(base_url=live["lookup"].url, timeout=10) as client:
            while not stop.is_set():
                answers.append(
                    client.get(f"/v1/customers/{someone_else}", headers=headers).status_code
                )

    with httpx.Client(base_url=live["lookup"].url, timeout=10) as client:
        assert client.get(f"/v1/customers/{number}", headers=headers).status_code == 200
    watcher = threading.Thread(target=keep_looking)
    watcher.start()
    try:
        with environment(**published.env()):
            report = bootstrap(store, live["config"], warehouse_path=batch_b["warehouse"])
    finally:
        stop.set()
        watcher.join()
    # The swap left no gap: every look-up of another customer during it found them.
    assert answers and set(answers) == {200}
    assert report.previous is not None and report.generation == report.previous + 1
    event = {
        "event_id": "after-withdrawal-1",
        "customer_number": number,
        "anonymous_id": "a-after-withdrawal",
        "event_type": "add_to_cart",
        "occurred_at": (BATCH_B + timedelta(hours=10)).isoformat() + "+00:00",
    }
    post_events(live["collector"].url, live["collect_key"], [event])
    wait_until_landed(store, ["after-withdrawal-1"])
    with httpx.Client(base_url=live["lookup"].url, timeout=10) as client:
        assert client.get(f"/v1/customers/{number}", headers=headers).status_code == 404
        assert client.get("/v1/visitors/a-after-withdrawal", headers=headers).status_code == 404
    generation = store.generation()
    for kind, name in (("state", customer), ("cust", customer), ("vis", "a-after-withdrawal")):
        assert store.client.get(store.key(generation, kind, name)) is None
    vis = json.loads(store.client.get(store.key(generation, "vis", number)) or b'{"sessions": []}')
    assert vis["sessions"] == []


def test_an_erased_visitor_coming_back_is_not_profiled_live(live, batch_b, published):
    """An erased person's device on the suppression list: the worker applies nothing of its
    new events (the loader drops their landed lines too), while a stranger's are applied."""
    import duckdb

    from cible.privacy import fingerprints as fp
    from cible.privacy import suppression

    store, erased, stranger = live["store"], "a-erased-visitor", "a-stranger-visitor"
    digest = fp.fingerprint(fp.load_key(), "anonymous_id", erased)
    with duckdb.connect(str(batch_b["warehouse"])) as con:
        entry = suppression.Entry(digest, "anonymous_id", suppression.ERASED, "test-erasure")
        assert suppression.add(con, [entry], datetime(2026, 11, 1)) == 1
    with environment(**published.env()):
        bootstrap(store, live["config"], warehouse_path=batch_b["warehouse"])
    occurred = (BATCH_B + timedelta(hours=11)).isoformat() + "+00:00"
    events = [
        {
            "event_id": f"{who}-1",
            "anonymous_id": who,
            "event_type": "page_view",
            "occurred_at": occurred,
        }
        for who in (erased, stranger)
    ]
    post_events(live["collector"].url, live["collect_key"], events)
    wait_until_landed(store, [event["event_id"] for event in events])
    generation = store.generation()
    assert store.client.get(store.key(generation, "vis", stranger)) is not None
    assert store.client.get(store.key(generation, "vis", erased)) is None
    headers = {"X-API-Key": live["lookup_key"]}
    with httpx.Client(base_url=live["lookup"].url, timeout=10) as client:
        assert client.get(f"/v1/visitors/{erased}", headers=headers).status_code == 404


def test_a_worker_warms_its_models_on_stored_customers_writing_nothing(live, published, caplog):
    """Loading a generation's models runs them once on a few stored customers (the first
    micro-batches do not pay the pipelines' first calls), writes nothing to the store, and a
    warm-up that fails is logged without stopping the worker."""
    from dataclasses import replace

    from cible.live.state import Engine

    store = live["store"]
    engine = Engine(store, live["config"])
    predicted = []
    real_predict = engine._predict

    def spy(rows, customers, generation):
        answer = real_predict(rows, customers, generation)
        predicted.append((rows, answer))
        return answer

    engine._predict = spy
    # The generation's keys (customers, states, visitors); seen marks expire on their own.
    pattern = store.base(store.generation()) + "*"
    keys_before = sorted(store.client.keys(pattern))
    with environment(**published.env()):  # where the published models are
        generation = engine.generation()
    assert len(predicted) == 1
    rows, (segments, scores) = predicted[0]
    assert 1 <= len(rows) <= 8
    assert segments and scores  # the real models ran on the real rows
    assert set(segments) <= {row["customer_id"] for row in rows}
    assert sorted(store.client.keys(pattern)) == keys_before
    # A new generation of the store with the same models (its meta copied under an unused
    # number): loaded without a second warm-up.
    other = generation.number + 1000
    meta = store.client.get(store.key(generation.number, "meta"))
    store.client.set(store.key(other, "meta"), meta)
    try:
        assert engine.generation(other).number == other
    finally:
        store.client.delete(store.key(other, "meta"))
    assert len(predicted) == 1
    # A warm-up that fails (here: no models at all) is a warning, not an error.
    with caplog.at_level("WARNING", logger="cible.live.state"):
        engine._warm_up(replace(generation, models=None))
    assert "warm-up of generation" in caplog.text


def test_a_worker_is_started_once_its_models_are_loaded_and_its_queues_consumed(live):
    """`start()` of a worker returns at its first heartbeat, written after it loaded and
    warmed the current generation's models and consumes its queues; a load sent from then on
    does not wait for its imports and models (before, it returned at once and a benchmark's
    first seconds measured the start-up as latency)."""
    store = live["store"]
    env = {**live["worker"].env}
    worker = live_process("worker", env, live["folder"], "--id", "ready-check")
    key = store.worker_key("ready-check")
    assert store.client.get(key) is None
    worker.start()
    try:
        record = json.loads(store.client.get(key))
        assert record["pid"] == worker.process.pid
        assert record["generation"] == store.generation()
        assert worker.ready_after > 0.5  # imports and models take time: it did wait
    finally:
        worker.stop()
    assert store.client.get(key) is None  # a stopped worker removes its heartbeat


def _bootstrapped(published, redis_server, tmp_path, key_prefix: str) -> Store:
    """The published warehouse bootstrapped into the module's Redis under its own key prefix
    (`key_prefix` may carry more store settings), apart from the live fixture's keys."""
    config_path = tmp_path / "live.yml"
    config_path.write_text(f"store: {{key_prefix: {key_prefix}}}\n")
    store = Store.connect(redis_server.url, load_live_config(config_path))
    with environment(**published.env()):
        bootstrap(store, store.config)
    return store


def test_anonymous_devices_expire_after_their_last_session_whatever_the_bootstraps(
    published, redis_server, tmp_path
):
    """A bootstrap writes an anonymous device's keys until `anonymous_ttl_days` after its last
    session in the warehouse, not for that long from the bootstrap (which renewed them at each
    run while the device stayed in the feature window); a device one customer logged in on
    lives with that customer's data, renewed by each bootstrap."""
    import time
    from datetime import UTC

    import duckdb

    store = _bootstrapped(published, redis_server, tmp_path, "expiry, anonymous_ttl_days: 200")
    generation = store.generation()
    long_start = datetime.fromisoformat(store.meta(generation)["long_start_at"]).replace(
        tzinfo=None
    )
    with duckdb.connect(str(published.warehouse), read_only=True) as con:
        devices = con.execute(
            """
            select
                anonymous_id,
                max(case when session_started_at >= ? then session_ended_at end) as last_end,
                count(distinct coalesce(login_customer_id, min_login_customer_id)) as logins
            from marts.fct_web_sessions
            where anonymous_id is not null
            group by anonymous_id
            order by anonymous_id
            """,
            [long_start],
        ).fetchall()

    def epoch(moment: datetime) -> int:
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return int(moment.timestamp())

    ttl = 200 * 86400
    written = passed = linked = 0
    # The bootstrap also applies the live files in the landing folder (the held-back events
    # other tests replay), written for `ttl` from now like any live event: not those devices.
    replayed = set(published.held_out["anonymous_id"].dropna())
    for anonymous_id, last_end, logins in devices:
        if anonymous_id in replayed:
            continue
        key = store.key(generation, "dev", anonymous_id)
        if logins == 0 and last_end is not None and written + passed < 400:
            expected = epoch(last_end) + ttl
            if expected <= time.time():
                assert store.client.expiretime(key) == -2  # its time has passed: not written
                passed += 1
            else:
                assert abs(store.client.expiretime(key) - expected) <= 1, anonymous_id
                written += 1
        elif logins == 1 and linked < 20:
            assert ttl - 300 <= store.client.ttl(key) <= ttl, anonymous_id
            linked += 1
    # Each case met on the demo's year of sessions (as of 50 days ago, 200 days to live).
    assert written >= 20 and passed >= 1 and linked == 20


def test_an_events_latency_runs_until_its_customers_state_is_written(
    published, redis_server, tmp_path
):
    """The receipt-to-state latency of an event (the worker's metric, the samples of `cible
    live demo` and of the benchmark) ends once the transaction holding its customer's state,
    segment and scores is written: the models' time counts. Until 2026-12-07 it ended before
    the models ran, about half a micro-batch early."""
    from cible.live.events import Event
    from cible.live.state import Engine, utc_now

    store = _bootstrapped(published, redis_server, tmp_path, "latency")
    engine = Engine(store, store.config)
    with environment(**published.env()):  # where the published models are
        generation = engine.generation()
    finished = []
    real_predict = engine._predict

    def timed(rows, customers, generation):
        answer = real_predict(rows, customers, generation)
        finished.append((len(rows), utc_now()))
        return answer

    engine._predict = timed
    numbers = store.client.hrandfield(store.key(generation.number, "numbers"), 20)
    received = utc_now()
    events = [
        (
            Event(
                event_id=f"latency-{i}",
                event_type="page_view",
                occurred_at=received,
                anonymous_id=f"a-latency-{i}",
                customer_number=number.decode(),
                duration_ms=1000,
            ),
            received,
        )
        for i, number in enumerate(numbers)
    ]
    outcome = engine.apply(events)
    assert outcome.applied == len(events) == len(outcome.latencies)
    ((rows, models_done),) = finished
    assert rows >= 1  # customers who may be profiled were segmented and scored
    assert min(outcome.latencies) >= (models_done - received).total_seconds()
    assert max(outcome.latencies) <= (utc_now() - received).total_seconds()
