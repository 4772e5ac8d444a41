"""`cible live demo` (`make live`): the whole live path on the demo warehouse.

Starts a private RabbitMQ node and Redis server under ``data/live/run``, bootstraps the online
store from the warehouse, starts the collector, the look-up API and the workers, then
replays the demo's events at a chosen rate as if they happened now (new event ids, times of
sending), printing one line per second: events sent and applied per second, lag, and the p95
latency from receipt to the state written. Everything stops at the end, or on Ctrl-C.
"""

from __future__ import annotations

import shutil
import signal
import time
from collections import deque
from pathlib import Path

import pandas as pd
import yaml

from cible import settings
from cible.live.config import LiveConfig
from cible.live.keys import add_key

LATENCY_KEY = "latency"


def demo_events(landing: Path, limit: int = 200_000) -> list[dict]:
    """The demo's events (Parquet parts of `<landing>/events`), oldest first."""
    parts = sorted((landing / "events").glob("*.parquet"))
    if not parts:
        raise FileNotFoundError(f"no demo events in {landing / 'events'}: run `make demo` first")
    events = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    events = events.sort_values("occurred_at").tail(limit)
    keep = [
        "anonymous_id",
        "customer_number",
        "event_type",
        "page_category",
        "product_sku",
        "duration_ms",
        "scroll_depth_pct",
        "device_type",
        "traffic_source",
    ]
    out = []
    for row in events[keep].to_dict("records"):
        item = {}
        for name, value in row.items():
            if value is None or (isinstance(value, float) and value != value):
                continue
            item[name] = int(value) if isinstance(value, float) else value
        out.append(item)
    return out


def drain_latencies(store, prefix: str) -> list[float]:
    """Latency samples the workers pushed since the last call (seconds)."""
    key = f"{prefix}:{LATENCY_KEY}"
    with store.client.pipeline() as pipe:
        pipe.lrange(key, 0, -1)
        pipe.delete(key)
        values, _ = pipe.execute()
    return [float(v) for v in values]


def percentile(values, share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run_demo(config: LiveConfig, rate: float, seconds: float, workers: int) -> int:
    import httpx

    from cible.live.bootstrap import bootstrap
    from cible.live.events import iso
    from cible.live.services import live_environment, live_process, start_rabbitmq, start_redis
    from cible.live.state import utc_now
    from cible.live.store import Store

    warehouse = settings.warehouse_path()
    if not warehouse.exists():
        print(f"cible live demo: no warehouse at {warehouse}; run `make demo` first")
        return 2
    events = demo_events(settings.landing_dir())
    folder = settings.home() / "data" / "live" / "run"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    keys_file = folder / "api_keys.json"
    settings_file = folder / "live.yml"
    data = config.model_dump(mode="json")
    data["collector"]["api_keys_file"] = str(keys_file)
    settings_file.write_text(yaml.safe_dump(data))
    config = config.model_copy(
        update={"collector": config.collector.model_copy(update={"api_keys_file": str(keys_file)})}
    )
    collect = add_key(keys_file, "demo", ("collect",))
    look = add_key(keys_file, "demo-reader", ("lookup",))
    print(f"Starting RabbitMQ and Redis under {folder} ...")
    rabbit = start_rabbitmq(folder / "rabbitmq")
    redis_server = start_redis(folder / "redis")
    processes = []
    interrupted = []
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))
    try:
        store = Store.connect(redis_server.url, config)
        report = bootstrap(store, config)
        print(
            f"Online store bootstrapped: {report.customers} customers "
            f"(generation {report.generation})."
        )
        env = live_environment(rabbit.url, redis_server.url, CIBLE_LIVE_CONFIG=str(settings_file))
        processes = [live_process("collector", env, folder), live_process("lookup", env, folder)]
        processes += [
            live_process("worker", env, folder, "--id", f"w{i}", "--queues", f"{i}/{workers}")
            for i in range(workers)
        ]
        for process in processes:
            process.start()
        collector, lookup = processes[0], processes[1]
        print(
            f"Collector {collector.url}/docs  look-up {lookup.url}/docs  (collect key {collect}, "
            f"look-up key {look})"
        )
        print(f"Replaying demo events at {rate:g}/s for {seconds:g} s; logs in {folder}")
        print(f"{'t':>4} {'sent/s':>7} {'applied/s':>9} {'lag':>6} {'p95 ms':>7}")
        run = utc_now().strftime("%H%M%S")
        sent = applied_before = 0
        latencies: deque[float] = deque(maxlen=100_000)
        started = time.monotonic()
        batch = max(1, int(rate / 20))
        with httpx.Client(
            base_url=collector.url, timeout=30, headers={"X-API-Key": collect}
        ) as http:
            second = 0
            while time.monotonic() - started < seconds and not interrupted:
                tick = time.monotonic()
                sent_this_second = 0
                while sent_this_second < rate and time.monotonic() - tick < 1.0:
                    items = []
                    for _ in range(min(batch, int(rate) - sent_this_second)):
                        item = dict(events[sent % len(events)])
                        item["event_id"] = f"demo-{run}-{sent}"
                        item["occurred_at"] = iso(utc_now())
                        items.append(item)
                        sent += 1
                    sent_this_second += len(items)
                    http.post("/v1/events", json={"events": items})
                    pause = (sent_this_second / rate) - (time.monotonic() - tick)
                    if pause > 0:
                        time.sleep(pause)
                time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
                second += 1
                counters = store.client.hgetall(store.metrics_key)
                done = sum(
                    float(v)
                    for k, v in counters.items()
                    if k.decode().startswith(
                        (
                            "cible_events_processed_total",
                            "cible_events_duplicate",
                            "cible_events_skipped",
                        )
                    )
                )
                fresh = drain_latencies(store, config.store.key_prefix)
                latencies.extend(fresh)
                print(
                    f"{second:>4} {sent_this_second:>7} {done - applied_before:>9.0f} "
                    f"{sent - done:>6.0f} {1000 * percentile(fresh, 0.95):>7.1f}",
                    flush=True,
                )
                applied_before = done
        print(
            f"Sent {sent} events; p50/p95/p99 receipt-to-state "
            f"{1000 * percentile(latencies, 0.5):.1f}/{1000 * percentile(latencies, 0.95):.1f}/"
            f"{1000 * percentile(latencies, 0.99):.1f} ms."
        )
    finally:
        signal.signal(signal.SIGINT, previous)
        for process in reversed(processes):
            process.stop()
        redis_server.stop()
        rabbit.stop()
    return 0
