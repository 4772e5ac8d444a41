"""Every call to the message broker (RabbitMQ through aio-pika) lives here.

Topology (declared idempotently by :meth:`Broker.declare`; names in :data:`NAMES`):

- ``cible.events``: a consistent-hash exchange (plugin ``rabbitmq_consistent_hash_exchange``)
  over the durable queues ``cible.events.0`` .. ``cible.events.<N-1>``. The routing key is the
  visitor key, so a visitor's events always reach the same queue; each queue has a single
  active consumer, so they are processed in order whatever the number of workers.
- ``cible.quarantine`` (direct) -> queue ``cible.quarantine``: events the collector refused,
  on their way to the landing folder.
- ``cible.dead`` (fanout) -> queue ``cible.dead``: messages a worker cannot process, with the
  reason in the ``x-cible-reason`` header.
- ``cible.segments`` (topic): ``segment_entered.<segment_id>`` / ``segment_exited.<segment_id>``
  for other services to bind queues to.

Publishing waits for the broker's confirms (persistent messages, mandatory routing): a
publish that returns has been written by the broker. A Kafka adapter would provide the same
methods (see docs/live.md).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import aio_pika
from aio_pika import DeliveryMode, ExchangeType, Message
from aio_pika.abc import AbstractIncomingMessage

EVENTS_EXCHANGE = "cible.events"
QUARANTINE = "cible.quarantine"
DEAD = "cible.dead"
SEGMENTS_EXCHANGE = "cible.segments"
REASON_HEADER = "x-cible-reason"
# Any failure to reach or use the broker: the caller answers 503 or reconnects.
BrokerUnavailable = (aio_pika.exceptions.AMQPError, ConnectionError, OSError, asyncio.TimeoutError)


class BrokerError(RuntimeError):
    """The broker refused something (a publish not confirmed, a topology it cannot hold)."""


def events_queue(index: int) -> str:
    return f"{EVENTS_EXCHANGE}.{index}"


class Acknowledger:
    """Acknowledges the messages of one consuming channel, many with one frame when safe.

    An acknowledgement with ``multiple`` covers every unacknowledged message of the channel up
    to its delivery tag, so it is sent only when every lower tag has been delivered here and
    none of them still waits to be processed; otherwise each message is acknowledged alone.
    (Delivery tags of a channel count 1, 2, 3... in delivery order.)
    """

    def __init__(self) -> None:
        self.contiguous = 0  # every tag up to this one has been delivered
        self.ahead: set[int] = set()  # delivered above a gap
        self.open: set[int] = set()  # delivered, not acknowledged

    def delivered(self, tag: int) -> None:
        self.open.add(tag)
        self.ahead.add(tag)
        while self.contiguous + 1 in self.ahead:
            self.contiguous += 1
            self.ahead.discard(self.contiguous)

    async def ack(self, deliveries: list[Delivery]) -> None:
        by_tag = {d.tag: d for d in deliveries}
        self.open.difference_update(by_tag)
        top = max(by_tag, default=0)
        if len(by_tag) > 1 and top <= self.contiguous and min(self.open, default=top + 1) > top:
            await by_tag[top].message.ack(multiple=True)
            return
        for delivery in deliveries:
            await delivery.message.ack()


@dataclass
class Delivery:
    """A consumed message; `ack` once its effects are durable."""

    queue: str
    body: bytes
    headers: dict
    redelivered: bool
    message: AbstractIncomingMessage
    acknowledger: Acknowledger

    @property
    def tag(self) -> int:
        return self.message.delivery_tag

    async def ack(self) -> None:
        await self.acknowledger.ack([self])


async def ack_all(deliveries: list[Delivery]) -> None:
    """Acknowledge processed messages, with as few frames as is safe (see Acknowledger).

    One frame per landed micro-batch instead of one per message: 1,000 acknowledgements a
    second each awaited their own write, time the event loop did not spend reading.
    """
    channels: dict[int, list[Delivery]] = {}
    for delivery in deliveries:
        channels.setdefault(id(delivery.acknowledger), []).append(delivery)
    for group in channels.values():
        await group[0].acknowledger.ack(group)


class Broker:
    """One connection and one confirming channel to RabbitMQ."""

    def __init__(self, connection: aio_pika.abc.AbstractConnection, channel, queues: int):
        self.connection = connection
        self.channel = channel
        self.queues = queues
        self._exchanges: dict[str, aio_pika.abc.AbstractExchange] = {}

    @classmethod
    async def connect(cls, url: str, queues: int, timeout: float = 10.0) -> Broker:
        """Connect, open a channel with publisher confirms and declare the topology.

        Raises:
            BrokerError: the broker is unreachable or lacks the consistent-hash exchange.
        """
        try:
            connection = await aio_pika.connect(url, timeout=timeout)
        except BrokerUnavailable as error:
            raise BrokerError(
                f"cannot reach the broker at {_safe(url)} (CIBLE_BROKER_URL): {error}"
            ) from error
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        broker = cls(connection, channel, queues)
        await broker.declare()
        return broker

    async def declare(self) -> None:
        """Declare exchanges, queues and bindings (no-ops when they exist alike)."""
        channel = self.channel
        try:
            events = await channel.declare_exchange(
                EVENTS_EXCHANGE, ExchangeType.X_CONSISTENT_HASH, durable=True
            )
        except aio_pika.exceptions.ChannelClosed as error:
            raise BrokerError(
                "the broker has no consistent-hash exchange: run "
                "`rabbitmq-plugins enable rabbitmq_consistent_hash_exchange` on it "
                f"({error})"
            ) from error
        dead = await channel.declare_exchange(DEAD, ExchangeType.FANOUT, durable=True)
        dead_queue = await channel.declare_queue(DEAD, durable=True)
        await dead_queue.bind(dead)
        arguments = {"x-single-active-consumer": True, "x-dead-letter-exchange": DEAD}
        for index in range(self.queues):
            queue = await channel.declare_queue(
                events_queue(index), durable=True, arguments=arguments
            )
            # The binding key of a consistent-hash exchange is the queue's weight.
            await queue.bind(events, routing_key="1")
        quarantine = await channel.declare_exchange(QUARANTINE, ExchangeType.DIRECT, durable=True)
        quarantine_queue = await channel.declare_queue(
            QUARANTINE, durable=True, arguments=arguments
        )
        await quarantine_queue.bind(quarantine, routing_key=QUARANTINE)
        segments = await channel.declare_exchange(
            SEGMENTS_EXCHANGE, ExchangeType.TOPIC, durable=True
        )
        self._exchanges = {
            EVENTS_EXCHANGE: events,
            QUARANTINE: quarantine,
            DEAD: dead,
            SEGMENTS_EXCHANGE: segments,
        }

    async def _publish(
        self, exchange: str, items: Iterable[tuple[str, bytes, dict | None]], mandatory: bool
    ) -> int:
        target = self._exchanges[exchange]
        publishes = [
            target.publish(
                Message(
                    body,
                    delivery_mode=DeliveryMode.PERSISTENT,
                    content_type="application/json",
                    headers=headers or {},
                ),
                routing_key=key,
                mandatory=mandatory,
            )
            for key, body, headers in items
        ]
        # Sent together, confirmed together: one round trip for a batch, not one per event.
        results = await asyncio.gather(*publishes, return_exceptions=True)
        failures = [result for result in results if isinstance(result, BaseException)]
        if failures:
            raise BrokerError(
                f"{len(failures)} of {len(results)} publishes not confirmed: {failures[0]}"
            )
        return len(results)

    async def publish_events(self, items: Iterable[tuple[str, bytes]]) -> int:
        """Valid events, routed by visitor key; returns once the broker confirmed all."""
        return await self._publish(EVENTS_EXCHANGE, ((k, b, None) for k, b in items), True)

    async def publish_quarantine(self, bodies: Iterable[bytes]) -> int:
        """Refused events with their reasons; returns once confirmed."""
        return await self._publish(QUARANTINE, ((QUARANTINE, b, None) for b in bodies), True)

    async def publish_dead(self, body: bytes, reason: str, queue: str) -> None:
        """A message that cannot be processed, kept with its reason."""
        headers = {REASON_HEADER: reason[:1000], "x-cible-queue": queue}
        await self._publish(DEAD, [("", body, headers)], True)

    async def publish_segment_events(self, events: Iterable[dict]) -> int:
        """`segment_entered` / `segment_exited`, routed as ``<event>.<segment_id>``. Not
        mandatory: nobody may be bound yet."""
        items = [
            (f"{event['event']}.{event['segment_id']}", json.dumps(event).encode(), None)
            for event in events
        ]
        return await self._publish(SEGMENTS_EXCHANGE, items, False) if items else 0

    async def consume(
        self,
        queues: Iterable[str],
        handler: Callable[[Delivery], Awaitable[None]],
        prefetch: int,
    ) -> None:
        """Deliver the messages of `queues` to `handler` (manual acknowledgement)."""
        consumer = await self.connection.channel(publisher_confirms=False)
        await consumer.set_qos(prefetch_count=prefetch)
        acknowledger = Acknowledger()
        for name in queues:
            queue = await consumer.get_queue(name, ensure=True)

            async def deliver(message: AbstractIncomingMessage, name: str = name) -> None:
                acknowledger.delivered(message.delivery_tag)
                await handler(
                    Delivery(
                        queue=name,
                        body=message.body,
                        headers=dict(message.headers or {}),
                        redelivered=bool(message.redelivered),
                        message=message,
                        acknowledger=acknowledger,
                    )
                )

            await queue.consume(deliver, no_ack=False)

    async def depths(self, queues: Iterable[str]) -> dict[str, int]:
        """Messages ready in each queue (not counting those delivered and unacknowledged)."""
        channel = await self.connection.channel(publisher_confirms=False)
        try:
            out = {}
            for name in queues:
                declared = await channel.declare_queue(name, passive=True)
                out[name] = declared.declaration_result.message_count or 0
            return out
        finally:
            await channel.close()

    async def get_one(self, queue: str) -> tuple[bytes, dict] | None:
        """Take one message off a queue (acknowledged), or None: for tests and tools."""
        channel = await self.connection.channel(publisher_confirms=False)
        try:
            declared = await channel.get_queue(queue, ensure=True)
            message = await declared.get(no_ack=True, fail=False)
            return None if message is None else (message.body, dict(message.headers or {}))
        finally:
            await channel.close()

    @property
    def is_closed(self) -> bool:
        return self.connection.is_closed or self.channel.is_closed

    async def close(self) -> None:
        if not self.connection.is_closed:
            await self.connection.close()


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
