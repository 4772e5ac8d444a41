"""A campaign tool's webhook endpoint, run on loopback by the webhook tests."""

import random
import threading


class Receiver:
    """A campaign tool's endpoint: applies each batch once per idempotency key, and fails
    a seeded 30% of calls, half of them after applying (the answer is lost, the retry must
    not apply it twice)."""

    def __init__(self, failure_rate: float, seed: int = 5):
        self.random = random.Random(seed)
        self.failure_rate = failure_rate
        self.applied: dict[str, list[dict]] = {}
        self.calls = 0
        self.failures = 0
        self.lock = threading.Lock()

    def handle(self, key: str, body: dict) -> int:
        with self.lock:
            self.calls += 1
            roll = self.random.random()
            if roll < self.failure_rate / 2:
                self.failures += 1
                return 503
            if key not in self.applied:
                self.applied[key] = body["members"]
            if roll < self.failure_rate:
                self.failures += 1
                return 500
            return 200
