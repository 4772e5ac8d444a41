"""Benchmark of the live path on this machine (a script that prints figures, not a test).

Everything runs locally: a private RabbitMQ node and Redis server, the collector, the
look-up API, the workers (one by default) and the load generators (asyncio: httpx for
events, raw HTTP/1.1 for look-ups). The warehouse is a 3,000 customer demo built, segmented
and scored by the real steps (about 90 s), or `--workdir`'s from an earlier run. Figures printed:

- receipt-to-state latency (collector receipt to the customer's state, segment and scores
  written in Redis, from the workers' exact samples) p50/p95/p99 at 1,000 events/s for 60 s;
- the highest rate sustained with p95 under 1 s (steps of 20 s, rising until it fails);
- CPU used by each component during the 1,000 events/s run (a share of one core), and the
  load average before it (other work on the machine competes for the same cores);
- look-up latency p50/p99 at 1,000 requests/s for 20 s, measured by a client of two
  processes on kept-alive connections, and the API's CPU per look-up;
- peak resident memory of the workers and APIs.

    python benchmarks/live.py --workdir /tmp/cible-live-bench
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
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


LOOKUP_PROCESSES = 2
LOOKUP_CONNECTIONS = 16


async def _look_up_share(port: int, key: str, rate: float, seconds: float, numbers, seed: int):
    """One process's share of the look-ups: raw HTTP/1.1 on kept-alive connections.

    httpx spent more CPU than the API it measured (529 requests/s at most on these cores,
    2026-12-05); a request here is one write and two reads. A look-up's time runs from when
    it was due, so waiting for a free connection counts against the API.
    """
    rng = random.Random(seed)
    latencies: list[tuple[float, int]] = []
    pool: asyncio.Queue = asyncio.Queue()
    for _ in range(LOOKUP_CONNECTIONS):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))

    async def one(number: str) -> None:
        started = time.perf_counter()
        reader, writer = await pool.get()
        request = f"GET /v1/customers/{number} HTTP/1.1\r\nHost: bench\r\nX-API-Key: {key}\r\n\r\n"
        writer.write(request.encode())
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        await reader.readexactly(int(length.group(1)) if length else 0)
        latencies.append((time.perf_counter() - started, int(head[9:12])))
        pool.put_nowait((reader, writer))

    tasks, started, count = [], time.monotonic(), 0
    while time.monotonic() - started < seconds:
        tasks.append(asyncio.create_task(one(rng.choice(numbers))))
        count += 1
        await asyncio.sleep(max(0.0, started + count / rate - time.monotonic()))
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - started
    while not pool.empty():
        pool.get_nowait()[1].close()
    return latencies, count / elapsed


def _run_share(args) -> tuple[list[tuple[float, int]], float]:
    return asyncio.run(_look_up_share(*args))


def look_up(url: str, key: str, rate: float, seconds: float, numbers: list[str], rng):
    """Look-ups at `rate` per second for `seconds`, from LOOKUP_PROCESSES processes."""
    from concurrent.futures import ProcessPoolExecutor

    port = int(url.rsplit(":", 1)[1])
    shares = [
        (port, key, rate / LOOKUP_PROCESSES, seconds, numbers, rng.getrandbits(32))
        for _ in range(LOOKUP_PROCESSES)
    ]
    with ProcessPoolExecutor(LOOKUP_PROCESSES) as pool:
        results = list(pool.map(_run_share, shares))
    return [x for latencies, _ in results for x in latencies], sum(r for _, r in results)


def cpu_seconds(session: int) -> float:
    """CPU (user + system) used so far by every process of a session (a service and its
    children: RabbitMQ's Erlang VM, a worker)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


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
        # Each start returns when the process can take work (an API answers, a worker has
        # loaded and warmed its models and consumes its queues): the load starts after that.
        print("Ready after (s): " + ", ".join(f"{p.name} {p.ready_after:.1f}" for p in processes))
        numbers = [n.decode() for n in store.client.hkeys(store.key(store.generation(), "numbers"))]
        rng = random.Random(14)
        people = visitors(numbers, rng)
        prefix = config.store.key_prefix
        total = 0

        print(f"\n1. 1,000 events/s for {args.seconds:g} s ({args.workers} workers, 4 queues)")
        print(f"   load average before: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
        services = {
            **{p.name: p.process.pid for p in processes},
            "rabbitmq": rabbit.process.pid,
            "redis": redis_server.process.pid,
            "load generator": os.getsid(0),
        }
        cpu_before, wall_before = {n: cpu_seconds(s) for n, s in services.items()}, time.time()
        total += asyncio.run(send(collector.url, collect, 1000, args.seconds, people, rng))
        waited = wait_idle(store, prefix, total)
        wall = time.time() - wall_before
        shares = {n: (cpu_seconds(s) - cpu_before[n]) / wall for n, s in services.items()}
        print(
            f"   CPU over the {wall:.0f} s (share of one core): "
            + ", ".join(f"{n} {100 * v:.0f}%" for n, v in shares.items())
            + f"; together {sum(shares.values()):.2f} of the machine's {os.cpu_count()} cores"
        )
        samples = drain_latencies(store, prefix)
        print(
            f"   receipt-to-state latency p50 {1000 * percentile(samples, 0.5):.1f} ms, "
            f"p95 {1000 * percentile(samples, 0.95):.1f} ms, "
            f"p99 {1000 * percentile(samples, 0.99):.1f} ms over {len(samples)} events; "
            f"drained {waited:.1f} s after the last send"
        )
        # Samples come in the order applied, which follows the order sent: sixths of the list
        # are about the run's successive sixths of time (10 s each for 60 s).
        sixth = max(1, len(samples) // 6)
        parts = [samples[i * sixth : (i + 1) * sixth] for i in range(6)]
        print(
            "   p95 by sixth of the run: "
            + " / ".join(f"{1000 * percentile(part, 0.95):.0f}" for part in parts if part)
            + " ms"
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
            cpu_before = cpu_seconds(lookup.process.pid)
            latencies, achieved = look_up(lookup.url, reader, rate, 20, numbers, rng)
            cpu = cpu_seconds(lookup.process.pid) - cpu_before
            seconds = [s for s, _ in latencies]
            statuses = {code for _, code in latencies}
            print(
                f"   asked {rate}/s: {len(latencies)} look-ups at {achieved:.0f}/s "
                f"(statuses {sorted(statuses)}): p50 {1000 * percentile(seconds, 0.5):.2f} ms, "
                f"p99 {1000 * percentile(seconds, 0.99):.2f} ms; "
                f"API CPU {1000 * cpu / max(1, len(latencies)):.2f} ms a look-up"
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
