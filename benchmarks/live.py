"""Benchmark of the live path on this machine (a script that prints figures, not a test).

Everything runs locally: a private RabbitMQ node and Redis server, the collector, the
look-up API, two workers and the load generator (asyncio, httpx). The warehouse is a 3,000
customer demo built, segmented and scored by the real steps (about 90 s), or `--workdir`'s
from an earlier run. Figures printed:

- receipt-to-state latency (collector receipt to the customer's state, segment and scores
  written in Redis, from the workers' exact samples) p50/p95/p99 at 1,000 events/s for 60 s;
- the highest rate sustained with p95 under 1 s (steps of 20 s, rising until it fails);
- look-up latency p50/p99 at 1,000 requests/s for 20 s, measured by the client;
- peak resident memory of the workers and APIs.

    python benchmarks/live.py --workdir /tmp/cible-live-bench
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [
    str(PROJECT_ROOT),
    str(PROJECT_ROOT / "tests"),
    str(PROJECT_ROOT / "tests/cible/live"),
]

BATCHES_PER_SECOND = 50


def percentile(values, share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def visitors(numbers: list[str], rng: random.Random) -> list[tuple[str, str | None]]:
    return [(f"a-bench-{i}", rng.choice(numbers) if i % 3 else None) for i in range(3_000)]


async def send(url: str, key: str, rate: float, seconds: float, people, rng) -> int:
    """Events at `rate` per second for `seconds`, in 50 batches a second; returns how many."""
    import httpx

    per_batch = max(1, round(rate / BATCHES_PER_SECOND))
    sent, tasks = 0, []
    async with httpx.AsyncClient(base_url=url, timeout=30, headers={"X-API-Key": key}) as client:
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            now = datetime.now(UTC).isoformat()
            items = []
            for _ in range(per_batch):
                anonymous, number = rng.choice(people)
                item = {
                    "event_id": f"bench-{rng.getrandbits(64):016x}",
                    "anonymous_id": anonymous,
                    "event_type": rng.choice(
                        ["page_view", "product_view", "add_to_cart", "scroll"]
                    ),
                    "occurred_at": now,
                    "duration_ms": rng.randint(0, 60_000),
                }
                if number and rng.random() < 0.5:
                    item["customer_number"] = number
                items.append(item)
            tasks.append(asyncio.create_task(client.post("/v1/events", json={"events": items})))
            sent += len(items)
            await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic()))
        answers = await asyncio.gather(*tasks)
    bad = [a.status_code for a in answers if a.status_code != 200]
    if bad:
        print(f"  {len(bad)} requests not accepted: {sorted(set(bad))}")
    return sent


async def look_up(url: str, key: str, rate: float, seconds: float, numbers: list[str], rng):
    import httpx

    latencies = []

    async def one(client, number):
        started = time.perf_counter()
        response = await client.get(f"/v1/customers/{number}")
        latencies.append((time.perf_counter() - started, response.status_code))

    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=url, timeout=10, headers={"X-API-Key": key}, limits=limits
    ) as client:
        tasks, started, count = [], time.monotonic(), 0
        while time.monotonic() - started < seconds:
            tasks.append(asyncio.create_task(one(client, rng.choice(numbers))))
            count += 1
            await asyncio.sleep(max(0.0, started + count / rate - time.monotonic()))
        await asyncio.gather(*tasks)
    return latencies, count / (time.monotonic() - started)


def drain_latencies(store, prefix: str) -> list[float]:
    from cible.live.demo import drain_latencies as drain

    return drain(store, prefix)


def wait_idle(store, prefix: str, sent_total: int, timeout: float = 120) -> float:
    """Until the workers applied everything sent; returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        counters = store.client.hgetall(f"{prefix}:metrics")
        done = sum(
            float(v)
            for k, v in counters.items()
            if k.decode().startswith(
                ("cible_events_processed_total", "cible_events_duplicate", "cible_events_skipped")
            )
        )
        if done >= sent_total:
            return time.monotonic() - started
        time.sleep(0.2)
    return float("inf")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/cible-live-bench"))
    parser.add_argument("--seconds", type=float, default=60)
    # One worker by default: on 2 cores shared with the broker, Redis, the APIs and the load
    # generator, a second worker process competes for the same CPU.
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    from live_support import build_published, environment

    from cible.live.bootstrap import bootstrap
    from cible.live.config import load_live_config
    from cible.live.keys import add_key
    from cible.live.services import live_environment, live_process, start_rabbitmq, start_redis
    from cible.live.store import Store

    work = args.workdir
    published_root = work / "published"
    if not (published_root / "warehouse.duckdb").exists():
        print("Building a published demo warehouse (3,000 customers) ...", flush=True)
        published_root.mkdir(parents=True, exist_ok=True)
        published = build_published(published_root)
    else:
        from live_support import Published

        published = Published(
            published_root,
            published_root / "landing",
            published_root / "warehouse.duckdb",
            published_root / "models",
            None,
            None,
        )
    run = work / f"run-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    run.mkdir(parents=True)
    config_path = run / "live.yml"
    config_path.write_text(
        f"collector: {{api_keys_file: {run / 'keys.json'}, requests_per_second_per_key: 100000, "
        "burst: 100000}\nbroker: {queues: 4}\n"
    )
    config = load_live_config(config_path)
    collect = add_key(config.collector.api_keys_path(), "bench", ("collect",))
    reader = add_key(config.collector.api_keys_path(), "bench-reader", ("lookup",))
    rabbit = start_rabbitmq(run / "rabbitmq")
    redis_server = start_redis(run / "redis")
    processes = []
    try:
        store = Store.connect(redis_server.url, config)
        with environment(**published.env()):
            bootstrap(store, config, landing=run / "landing")
        env = live_environment(
            rabbit.url,
            redis_server.url,
            **{**published.env(), "CIBLE_LANDING_DIR": str(run / "landing")},
            CIBLE_LIVE_CONFIG=str(config_path),
        )
        collector = live_process("collector", env, run).start()
        lookup = live_process("lookup", env, run).start()
        workers = [
            live_process(
                "worker", env, run, "--id", f"w{i}", "--queues", f"{i}/{args.workers}"
            ).start()
            for i in range(args.workers)
        ]
        processes = [collector, lookup, *workers]
        numbers = [n.decode() for n in store.client.hkeys(store.key(store.generation(), "numbers"))]
        rng = random.Random(14)
        people = visitors(numbers, rng)
        prefix = config.store.key_prefix
        total = 0

        print(f"\n1. 1,000 events/s for {args.seconds:g} s ({args.workers} workers, 4 queues)")
        total += asyncio.run(send(collector.url, collect, 1000, args.seconds, people, rng))
        waited = wait_idle(store, prefix, total)
        samples = drain_latencies(store, prefix)
        print(
            f"   receipt-to-state latency p50 {1000 * percentile(samples, 0.5):.1f} ms, "
            f"p95 {1000 * percentile(samples, 0.95):.1f} ms, "
            f"p99 {1000 * percentile(samples, 0.99):.1f} ms over {len(samples)} events; "
            f"drained {waited:.1f} s after the last send"
        )

        print("\n2. Highest sustained rate with p95 under 1 s (20 s per step, rising)")
        best = None
        for rate in (100, 250, 500, 750, 1000, 1500, 2000, 3000, 5000):
            total += asyncio.run(send(collector.url, collect, rate, 20, people, rng))
            waited = wait_idle(store, prefix, total)
            samples = drain_latencies(store, prefix)
            p95 = percentile(samples, 0.95)
            ok = p95 < 1.0 and waited < 2.0
            print(
                f"   {rate}/s: p95 {1000 * p95:.0f} ms, drained {waited:.1f} s after: "
                f"{'sustained' if ok else 'not sustained'}"
            )
            if not ok:
                break
            best = rate
        print(f"   highest sustained: {best or 'below 100'} events/s")

        print("\n3. Look-ups for 20 s at 200 and 1,000 requests/s (client in the same machine)")
        for rate in (200, 1000):
            latencies, achieved = asyncio.run(look_up(lookup.url, reader, rate, 20, numbers, rng))
            seconds = [s for s, _ in latencies]
            statuses = {code for _, code in latencies}
            print(
                f"   asked {rate}/s: {len(latencies)} look-ups at {achieved:.0f}/s "
                f"(statuses {sorted(statuses)}): p50 {1000 * percentile(seconds, 0.5):.2f} ms, "
                f"p99 {1000 * percentile(seconds, 0.99):.2f} ms"
            )

        print("\n4. Peak resident memory")
        for process in processes:
            print(f"   {process.name}: {peak_memory_mb(process.process.pid):.0f} MB")
    finally:
        for process in processes:
            process.stop()
        redis_server.stop()
        rabbit.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
