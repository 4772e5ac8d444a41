"""The broker adapter against a real RabbitMQ node: confirms, per-visitor queues, dead letters."""

from __future__ import annotations

import asyncio
import json

from cible.live import broker as b


def run(coroutine):
    return asyncio.run(coroutine)


def test_a_visitors_events_reach_one_queue_in_order(rabbit):
    async def scenario():
        broker = await b.Broker.connect(rabbit.url, queues=3)
        visitors = [f"anon-{i}" for i in range(40)]
        items = [(v, json.dumps({"v": v, "n": n}).encode()) for n in range(5) for v in visitors]
        assert await broker.publish_events(items) == 200
        seen: dict[str, list[tuple[str, int]]] = {}

        async def handler(delivery: b.Delivery) -> None:
            data = json.loads(delivery.body)
            seen.setdefault(delivery.queue, []).append((data["v"], data["n"]))
            await delivery.ack()

        await broker.consume([b.events_queue(i) for i in range(3)], handler, prefetch=50)
        for _ in range(100):
            if sum(map(len, seen.values())) == 200:
                break
            await asyncio.sleep(0.05)
        await broker.close()
        return seen

    seen = run(scenario())
    assert sum(map(len, seen.values())) == 200
    # Spread over the queues, each visitor in exactly one, in publication order.
    assert len(seen) == 3
    queues_of = {}
    for queue, messages in seen.items():
        for visitor, _ in messages:
            queues_of.setdefault(visitor, set()).add(queue)
        for visitor in {v for v, _ in messages}:
            assert [n for v, n in messages if v == visitor] == list(range(5))
    assert all(len(queues) == 1 for queues in queues_of.values())


def test_dead_letters_keep_their_reason(rabbit):
    async def scenario():
        broker = await b.Broker.connect(rabbit.url, queues=3)
        await broker.publish_dead(b"not json", "poison: not JSON", b.events_queue(0))
        got = await broker.get_one(b.DEAD)
        depth = await broker.depths([b.DEAD])
        await broker.close()
        return got, depth

    (body, headers), depth = run(scenario())
    assert body == b"not json"
    assert headers[b.REASON_HEADER] == "poison: not JSON"
    assert depth == {b.DEAD: 0}


def test_an_unreachable_broker_is_named_in_the_error():
    import pytest

    with pytest.raises(b.BrokerError, match="CIBLE_BROKER_URL"):
        run(b.Broker.connect("amqp://guest:secret@127.0.0.1:1/", queues=1, timeout=2))


def test_acknowledging_a_batch_never_covers_a_message_still_in_hand(rabbit):
    queues = [b.events_queue(i) for i in range(3)]

    async def consume_all(broker, expected: int) -> list[b.Delivery]:
        got: list[b.Delivery] = []

        async def handler(delivery: b.Delivery) -> None:
            got.append(delivery)

        await broker.consume(queues, handler, prefetch=50)
        for _ in range(100):
            if len(got) >= expected:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # anything more than expected would arrive now
        return got

    async def scenario():
        broker = await b.Broker.connect(rabbit.url, queues=3)
        await broker.publish_events([("ack-v", json.dumps({"n": n}).encode()) for n in range(10)])
        first = await consume_all(broker, 10)
        # The third message is still being processed when the others are acknowledged: the
        # first two in one frame, the later ones (above it) one by one.
        await b.ack_all(first[:2])
        await b.ack_all(first[3:])
        await broker.close()
        broker = await b.Broker.connect(rabbit.url, queues=3)
        second = await consume_all(broker, 1)
        # Acknowledged in one go now that nothing lower is in hand.
        await b.ack_all(second)
        await broker.close()
        broker = await b.Broker.connect(rabbit.url, queues=3)
        third = await consume_all(broker, 0)
        await broker.close()
        return [[json.loads(d.body)["n"] for d in got] for got in (first, second, third)]

    first, second, third = run(scenario())
    assert first == list(range(10))
    assert second == [2]  # redelivered: it was never acknowledged
    assert third == []
