"""Prometheus text metrics: counters and latency histograms, kept in the process (APIs) or
added up in Redis by every worker (so one endpoint shows the whole stream)."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

# Seconds; p95 targets are 0.25 s (event to segment) and 0.005 s (look-up).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HELP = {
    "cible_events_received_total": "Events received by the collector.",
    "cible_events_accepted_total": "Events accepted and confirmed by the broker.",
    "cible_events_rejected_total": "Events refused by the collector (quarantined), by reason.",
    "cible_requests_total": "Collector requests, by HTTP status.",
    "cible_events_processed_total": "Events applied to the live state by the workers.",
    "cible_events_duplicate_total": "Events already applied (redelivered or re-sent).",
    "cible_events_skipped_total": "Events landed but not applied, by reason.",
    "cible_events_landed_total": "Events written to the landing folder.",
    "cible_dead_letters_total": "Messages sent to the dead-letter queue.",
    "cible_segment_changes_total": "segment_entered and segment_exited events published.",
    "cible_event_to_state_seconds": "From receipt by the collector to the state written.",
    "cible_publish_seconds": "Collector: publishing a request's events until confirmed.",
    "cible_lookup_seconds": "Look-up API: time to answer.",
    "cible_lookups_total": "Look-ups, by whether the customer or visitor was found.",
    "cible_lag_messages": "Messages waiting in the event queues.",
    "cible_lag_seconds": "Age of the oldest event applied in the last batch.",
}


def _key(name: str, labels: dict[str, str] | None) -> str:
    if not labels:
        return name
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


class Metrics:
    """Counters, gauges and histograms of one process."""

    def __init__(self):
        self._lock = threading.Lock()
        self.values: dict[str, float] = defaultdict(float)

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        with self._lock:
            self.values[_key(name, labels)] += amount

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self.values[_key(name, labels)] = value

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        with self._lock:
            index = bisect.bisect_left(BUCKETS, seconds)
            for bound in BUCKETS[index:]:
                self.values[_key(name + "_bucket", {**labels, "le": str(bound)})] += 1
            self.values[_key(name + "_bucket", {**labels, "le": "+Inf"})] += 1
            self.values[_key(name + "_sum", labels)] += seconds
            self.values[_key(name + "_count", labels)] += 1

    def drain(self) -> dict[str, float]:
        """The increments since the last drain (what a worker adds to Redis)."""
        with self._lock:
            out, self.values = dict(self.values), defaultdict(float)
        return out

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return dict(self.values)


def render(values: dict[str, float]) -> str:
    """Prometheus text exposition of `values` (``name{labels}`` -> value)."""
    families: dict[str, list[str]] = defaultdict(list)
    for key in sorted(values):
        name = key.split("{", 1)[0]
        family = name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count")
        families[family if family in HELP else name].append(f"{key} {values[key]:g}")
    lines = []
    for family, samples in families.items():
        if family in HELP:
            kind = "histogram" if family.endswith("_seconds") and "lag" not in family else None
            kind = kind or ("gauge" if "lag" in family else "counter")
            lines += [f"# HELP {family} {HELP[family]}", f"# TYPE {family} {kind}"]
        lines += samples
    return "\n".join(lines) + "\n"
