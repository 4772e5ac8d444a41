"""The webhook destination against a real HTTP server on loopback that fails 30% of calls."""

import pandas as pd

from cible.activation.webhook import idempotency_key, post_batches
from tests.cible.activation.receiver import Receiver


def members(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in range(n)],
            "phone": [f"+3361{i:07d}" for i in range(n)],
        }
    )


def test_thirty_percent_failures_every_batch_applied_exactly_once(receiver_url):
    receiver = Receiver(failure_rate=0.3)
    rows = members(2_050)
    outcomes = post_batches(
        receiver_url(receiver), rows, {"audience": "loyal_sms"}, "export-1", batch_size=50,
        max_attempts=8, backoff_seconds=0.001, timeout_seconds=5,
    )  # fmt: skip
    assert len(outcomes) == 41
    assert all(outcome.outcome == "sent" for outcome in outcomes)
    assert receiver.failures >= 0.2 * receiver.calls, "the server must really fail calls"
    assert any(outcome.attempts > 1 for outcome in outcomes)
    # Exactly once: one application per batch, keyed as documented, every member once.
    assert set(receiver.applied) == {idempotency_key("export-1", n) for n in range(1, 42)}
    applied = [m["customer_id"] for batch in receiver.applied.values() for m in batch]
    assert sorted(applied) == list(rows["customer_id"])
    assert sum(outcome.attempts for outcome in outcomes) == receiver.calls


def test_a_batch_that_keeps_failing_is_recorded_failed_after_its_attempts(receiver_url):
    receiver = Receiver(failure_rate=1.0)
    slept = []
    outcomes = post_batches(
        receiver_url(receiver), members(30), {}, "export-2", batch_size=20, max_attempts=4,
        backoff_seconds=0.5, timeout_seconds=5, sleep=slept.append,
    )  # fmt: skip
    assert [o.outcome for o in outcomes] == ["failed", "failed"]
    assert [o.attempts for o in outcomes] == [4, 4]
    assert all(o.status_code in (500, 503) and o.error for o in outcomes)
    # Exponential backoff: 0.5, 1, 2 seconds between the four attempts of each batch.
    assert slept == [0.5, 1.0, 2.0] * 2


def test_an_unreachable_endpoint_fails_without_hanging():
    outcomes = post_batches(
        "http://127.0.0.1:9/nothing", members(3), {}, "export-3", batch_size=10,
        max_attempts=2, backoff_seconds=0, timeout_seconds=2,
    )  # fmt: skip
    assert outcomes[0].outcome == "failed" and outcomes[0].status_code is None
    assert "Connect" in outcomes[0].error
