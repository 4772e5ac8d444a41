"""The stream worker: consumes its event queues (and the quarantine queue), applies events to
the online store, lands every message in the landing folder, then acknowledges.

At least once, effectively once: a message is acknowledged only after its state is written
and its line is on disk; a redelivered message finds its event id seen and its line landed,
and changes nothing. A message that cannot be read goes to the dead-letter queue with its
reason, and the worker goes on. SIGTERM (or SIGINT) finishes the batch in hand, lands and
acknowledges it, and exits; what was received but not processed is redelivered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from pathlib import Path

from cible.live import broker as br
from cible.live.config import LiveConfig
from cible.live.events import event_from_row, parse_timestamp
from cible.live.landing import LIVE_PREFIX, QUARANTINE_PREFIX, Lander
from cible.live.metrics import Metrics
from cible.live.state import Engine, Outcome, utc_now
from cible.live.store import Store, dumps, loads

log = logging.getLogger("cible.live.worker")


class Poison(ValueError):
    """A message no worker can process (its reason goes with it to the dead-letter queue)."""


def decode_event(body: bytes):
    try:
        row = loads(body)
        return row, event_from_row(row), parse_timestamp(row["received_at"])
    except (ValueError, KeyError, TypeError) as error:
        raise Poison(
            f"not an event of the collector: {type(error).__name__}: {error}"[:500]
        ) from error


class Worker:
    """One worker process: a set of event queues (by index) and its share of the rest."""

    def __init__(
        self,
        worker_id: str,
        queues: list[int],
        config: LiveConfig,
        broker_url: str,
        redis_url: str,
        landing: Path,
    ):
        self.worker_id = worker_id
        self.queue_names = [br.events_queue(i) for i in queues]
        self.config = config
        self.broker_url = broker_url
        self.store = Store.connect(redis_url, config)
        self.engine = Engine(self.store, config)
        self.lander = Lander(landing, worker_id, self.store)
        self.metrics = Metrics()
        self.stopping = asyncio.Event()
        self.inbox: asyncio.Queue[br.Delivery] = asyncio.Queue()
        self.unacked: list[br.Delivery] = []
        self.flushed_at = time.monotonic()
        self.pushed_at = 0.0
        self.broker: br.Broker | None = None

    # ------------------------------------------------------------------ loop

    async def run(self) -> None:
        recovered = self.lander.recover()
        log.info(
            "worker %s: %d landed lines re-marked; queues %s",
            self.worker_id,
            recovered,
            self.queue_names,
        )
        # The models loaded (and warmed) before the first message, not with it. Whatever stops
        # it here (the store not bootstrapped or not up yet) is met again, and raised, by the
        # first batch, as before.
        try:
            self.engine.generation()
        except Exception as error:
            log.info("worker %s: %s; the models load with the first batch", self.worker_id, error)
        while not self.stopping.is_set():
            try:
                await self._session()
            except (br.BrokerError, *br.BrokerUnavailable) as error:
                log.warning("broker lost (%s); reconnecting", error)
                # Unacknowledged messages of a lost connection come again; they are landed or
                # will be, and their state is written: forget them here.
                self.unacked = []
                self.inbox = asyncio.Queue()
                await asyncio.sleep(1.0)
        self._heartbeat(stopped=True)

    async def _session(self) -> None:
        self.broker = await br.Broker.connect(self.broker_url, self.config.broker.queues)
        await self._publish_outbox()
        await self.broker.consume(
            [*self.queue_names, br.QUARANTINE], self.inbox.put, self.config.broker.prefetch
        )
        try:
            while not self.stopping.is_set():
                if self.broker.is_closed:
                    raise br.BrokerError("connection closed")
                await self._pause_if_asked()
                batch = await self._next_batch()
                if batch:
                    await self._process(batch)
                if self.unacked and self._flush_due():
                    await self._flush()
                self._housekeeping()
            await self._flush()
        finally:
            await self.broker.close()

    async def _next_batch(self) -> list[br.Delivery]:
        size = self.config.worker.max_batch_events
        try:
            first = await asyncio.wait_for(self.inbox.get(), timeout=0.05)
        except TimeoutError:
            return []
        batch = [first]
        while len(batch) < size and not self.inbox.empty():
            batch.append(self.inbox.get_nowait())
        return batch

    def _flush_due(self) -> bool:
        worker = self.config.worker
        return (
            len(self.unacked) >= worker.landing_flush_events
            or time.monotonic() - self.flushed_at >= worker.landing_flush_seconds
        )

    # ------------------------------------------------------------------ work

    async def _process(self, batch: list[br.Delivery]) -> None:
        events, received = [], []
        for delivery in batch:
            if delivery.queue == br.QUARANTINE:
                await self._quarantine(delivery)
                continue
            try:
                row, event, received_at = decode_event(delivery.body)
            except Poison as error:
                await self._dead(delivery, str(error))
                continue
            events.append((event, received_at))
            received.append((delivery, row))
        if events:
            started = time.perf_counter()
            # In a thread, so that the event loop goes on reading the broker's socket while a
            # batch is applied. On the loop, each batch (50-65 ms of CPU) stopped the reading,
            # the next batch held only the few messages read in between, and events waited
            # 200-900 ms before the consumer saw them (a bare aio-pika consumer with the same
            # work: p95 736 ms on the loop, 121 ms in a thread at 250/s; 2026-12-05). Batches
            # still run one at a time, in the order received.
            outcome = await asyncio.to_thread(self._apply, events)
            for latency in outcome.latencies:
                self.metrics.observe("cible_event_to_state_seconds", latency)
            self.metrics.inc("cible_events_processed_total", outcome.applied)
            self.metrics.inc("cible_events_duplicate_total", outcome.duplicates)
            for reason, count in outcome.skipped.items():
                self.metrics.inc("cible_events_skipped_total", count, reason=reason)
            if outcome.latencies:
                self.metrics.set("cible_lag_seconds", max(outcome.latencies), worker=self.worker_id)
            log.debug("batch of %d in %.1f ms", len(events), 1000 * (time.perf_counter() - started))
            if outcome.segment_events:
                await self._publish_outbox()
            for delivery, row in received:
                self.lander.add(LIVE_PREFIX, row["event_id"], delivery.body.decode())
                self.unacked.append(delivery)

    def _apply(self, events: list) -> Outcome:
        outcome = self.engine.apply(events, outbox=self.worker_id)
        if outcome.latencies:
            # Exact samples for `cible live demo` and the benchmark (the last 100,000).
            key = f"{self.config.store.key_prefix}:latency"
            with self.store.client.pipeline(transaction=False) as pipe:
                pipe.rpush(key, *[f"{v:.6f}" for v in outcome.latencies])
                pipe.ltrim(key, -100_000, -1)
                pipe.execute()
        return outcome

    async def _quarantine(self, delivery: br.Delivery) -> None:
        try:
            item = json.loads(delivery.body)
            self.lander.add(QUARANTINE_PREFIX, "q:" + item["id"], item["line"])
            self.unacked.append(delivery)
        except (ValueError, KeyError, TypeError) as error:
            await self._dead(delivery, f"not a quarantine message: {error}")

    async def _dead(self, delivery: br.Delivery, reason: str) -> None:
        await self.broker.publish_dead(delivery.body, reason, delivery.queue)
        await delivery.ack()
        self.metrics.inc("cible_dead_letters_total")
        log.warning("dead letter from %s: %s", delivery.queue, reason)

    async def _flush(self) -> None:
        """Land what is pending, then acknowledge its messages."""
        if self.unacked:
            # A file write and a Redis pipeline of up to landing_flush_events marks: in a
            # thread for the reason batches are (the loop keeps reading meanwhile).
            written = await asyncio.to_thread(self.lander.flush)
            await br.ack_all(self.unacked)
            self.metrics.inc("cible_events_landed_total", len(self.unacked))
            log.debug("landed %d messages in %s", len(self.unacked), [p.name for p in written])
        self.unacked = []
        self.flushed_at = time.monotonic()

    async def _publish_outbox(self) -> None:
        key = self.store.outbox_key(self.worker_id)
        pending = self.store.client.lrange(key, 0, -1)
        if pending and self.broker is not None:
            events = [json.loads(item) for item in pending]
            await self.broker.publish_segment_events(events)
            self.store.client.ltrim(key, len(pending), -1)
            self.metrics.inc("cible_segment_changes_total", len(events))

    # ------------------------------------------------------------------ coordination

    async def _pause_if_asked(self) -> None:
        token = self.store.client.get(self.store.pause_key)
        if token is None:
            return
        await self._flush()
        while token is not None and not self.stopping.is_set():
            self._heartbeat(paused=token.decode())
            await asyncio.sleep(0.05)
            token = self.store.client.get(self.store.pause_key)
        self._heartbeat()

    def _heartbeat(self, paused: str | None = None, stopped: bool = False) -> None:
        key = self.store.worker_key(self.worker_id)
        if stopped:
            self.store.client.delete(key)
            return
        loaded = self.engine.loaded
        record = {
            "paused": paused,
            "queues": self.queue_names,
            "pid": os.getpid(),
            # The generation whose models are loaded (none until the store is bootstrapped).
            "generation": None if loaded is None else loaded.number,
            "at": utc_now().isoformat(),
        }
        self.store.client.set(key, dumps(record), ex=5)

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self.pushed_at < 1.0:
            return
        self.pushed_at = now
        self._heartbeat()
        increments = self.metrics.drain()
        if increments:
            with self.store.client.pipeline(transaction=False) as pipe:
                for name, value in increments.items():
                    if name.startswith("cible_lag_seconds"):
                        pipe.hset(self.store.metrics_key, name, value)
                    else:
                        pipe.hincrbyfloat(self.store.metrics_key, name, value)
                pipe.execute()

    def stop(self) -> None:
        self.stopping.set()


def run_worker(
    worker_id: str,
    queues: list[int],
    config: LiveConfig,
    broker_url: str,
    redis_url: str,
    landing: Path,
) -> int:
    """Run a worker until SIGTERM or SIGINT; returns the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    worker = Worker(worker_id, queues, config, broker_url, redis_url, landing)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, worker.stop)
        await worker.run()

    asyncio.run(main())
    return 0


def parse_queues(text: str, total: int) -> list[int]:
    """``all``, ``0,2`` or ``1/2`` (share 1 of 2, counted from 0: queues 1, 3, 5...).

    Raises:
        ValueError: with a message for the user (no queue would be consumed otherwise, or a
            share would be left to nobody)."""
    if text == "all":
        return list(range(total))
    try:
        if "/" in text:
            share, shares = (int(part) for part in text.split("/"))
            if not 0 <= share < shares:
                raise ValueError
            queues = [i for i in range(total) if i % shares == share]
        else:
            queues = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(
            f"--queues {text!r}: give all, queue numbers (0,2) or a share S/N with S from 0 to "
            "N-1 (N workers take 0/N ... (N-1)/N)"
        ) from None
    if any(not 0 <= q < total for q in queues):
        raise ValueError(f"queues must be between 0 and {total - 1} (broker.queues), not {text!r}")
    if not queues:
        raise ValueError(f"--queues {text!r} names no queue of the {total} (broker.queues)")
    return queues
