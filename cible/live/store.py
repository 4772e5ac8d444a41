"""The online store's key layout in Redis (documented in docs/live.md) and small helpers.

Everything the look-up API serves lives in one *generation*, ``<p>:g<N>:*``; ``<p>:gen`` names
the current one. A bootstrap writes generation N+1 beside N, then switches ``<p>:gen`` in one
command, so a reader sees either the old or the new generation, never a mix and never a gap.

    <p>:gen                     current generation number
    <p>:g<N>:meta               JSON: feature windows, cut, models and versions, segment names
    <p>:g<N>:numbers            hash: customer number -> customer id
    <p>:g<N>:cust:<customer>    JSON: batch features, login sessions' sums, consent, devices
    <p>:g<N>:dev:<anonymous>    JSON: the device's anonymous sessions' sums, who logged in on it
    <p>:g<N>:vis:<visitor>      JSON: the visitor's sessions since the batch (open ones too)
    <p>:g<N>:state:<customer>   JSON: what the look-up API answers (segment, scores, features,
                                decayed vector, updated at)
    <p>:g<N>:vstate:<anonymous> JSON: the same for an anonymous visitor no customer is linked to
    <p>:seen:<event id>         an event applied (kept `dedup_days`)
    <p>:landed:<item id>        an event or refused item written to the landing folder
    <p>:outbox:<worker>         segment events written with the state, not yet published
    <p>:metrics                 hash: the workers' counters and histograms
    <p>:latency                 list: the last 100,000 receipt-to-state latencies (seconds)
    <p>:pause                   the bootstrap's pause request
    <p>:worker:<id>             JSON, expires after 5 s: a worker's heartbeat (pid, queues,
                                generation of its loaded models, paused); its first one
                                says it is ready (models warmed, queues consumed)

Keys of anonymous visitors (``dev``, ``vis``, ``vstate``) expire `anonymous_ttl_days` after
their last event.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cached_property

import orjson
import redis

from cible.live.config import LiveConfig

# One round trip for a look-up: the generation, the customer id, the state.
LOOKUP_SCRIPT = """
local gen = redis.call('GET', KEYS[1])
if not gen then return {false, false} end
local base = ARGV[1] .. ':g' .. gen .. ':'
local key = ARGV[3]
if ARGV[2] == 'customer' then
    key = redis.call('HGET', base .. 'numbers', ARGV[3])
    if not key then return {gen, false} end
    return {gen, redis.call('GET', base .. 'state:' .. key)}
end
local state = redis.call('GET', base .. 'vstate:' .. key)
if not state then return {gen, false} end
local linked = cjson.decode(state)['linked_customer_id']
if linked then return {gen, redis.call('GET', base .. 'state:' .. linked)} end
return {gen, state}
"""


# orjson for every record of the store: the worker spent 12% of its time in the standard
# library's JSON (records of several KB, read and written for each customer of a micro-batch;
# py-spy at 1,000 events/s, 2026-12-07). Numbers, text and times come out as `json` gave them
# (times through `default=str`); a NaN, which `json` wrote as a bare `NaN` no JSON reader
# takes, is written null.
_ORJSON_OPTIONS = (
    orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS
)


def dumps(value) -> bytes:
    try:
        return orjson.dumps(value, default=str, option=_ORJSON_OPTIONS)
    except TypeError:  # what orjson cannot write (an integer beyond 64 bits): as before
        return json.dumps(value, separators=(",", ":"), default=str).encode()


def loads(value):
    if value is None:
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:  # written by `json` before (a bare NaN)
        return json.loads(value)


class Store:
    """Key names and generation handling over one Redis connection."""

    def __init__(self, client: redis.Redis, config: LiveConfig):
        self.client = client
        self.config = config
        self.prefix = config.store.key_prefix
        self.anonymous_ttl = int(config.store.anonymous_ttl_days * 86400)
        self.dedup_ttl = int(config.worker.dedup_days * 86400)

    @classmethod
    def connect(cls, url: str, config: LiveConfig) -> Store:
        return cls(redis.Redis.from_url(url, socket_timeout=10), config)

    # ---------------------------------------------------------------- names

    @property
    def gen_key(self) -> str:
        return f"{self.prefix}:gen"

    def base(self, generation: int) -> str:
        return f"{self.prefix}:g{generation}:"

    def key(self, generation: int, kind: str, name: str = "") -> str:
        return f"{self.prefix}:g{generation}:{kind}" + (f":{name}" if name else "")

    def seen_key(self, event_id: str) -> str:
        return f"{self.prefix}:seen:{event_id}"

    def landed_key(self, item_id: str) -> str:
        return f"{self.prefix}:landed:{item_id}"

    def outbox_key(self, worker: str) -> str:
        return f"{self.prefix}:outbox:{worker}"

    @property
    def metrics_key(self) -> str:
        return f"{self.prefix}:metrics"

    @property
    def pause_key(self) -> str:
        return f"{self.prefix}:pause"

    def worker_key(self, worker: str) -> str:
        return f"{self.prefix}:worker:{worker}"

    # ---------------------------------------------------------------- generations

    def generation(self) -> int | None:
        value = self.client.get(self.gen_key)
        return None if value is None else int(value)

    def meta(self, generation: int) -> dict | None:
        return loads(self.client.get(self.key(generation, "meta")))

    def next_generation(self) -> int:
        current = self.generation()
        return 1 if current is None else current + 1

    def switch(self, generation: int) -> int | None:
        """Make `generation` current; returns the previous one."""
        previous = self.client.getset(self.gen_key, generation)
        return None if previous is None else int(previous)

    def drop_generation(self, generation: int, batch: int = 2000) -> int:
        """Delete a generation's keys (in the background on the server); returns how many."""
        removed = 0
        keys: list = []
        for key in self.client.scan_iter(match=self.base(generation) + "*", count=batch):
            keys.append(key)
            if len(keys) >= batch:
                removed += self.client.unlink(*keys)
                keys = []
        if keys:
            removed += self.client.unlink(*keys)
        return removed

    # ---------------------------------------------------------------- reads

    def get_many(self, keys: Iterable[str]) -> dict[str, object]:
        keys = list(dict.fromkeys(keys))
        if not keys:
            return {}
        return {key: loads(value) for key, value in zip(keys, self.client.mget(keys), strict=True)}

    @cached_property
    def _lookup(self):
        return self.client.register_script(LOOKUP_SCRIPT)

    def lookup(self, kind: str, identifier: str) -> tuple[int | None, dict | None]:
        """(generation, record) for a customer number (`kind` ``customer``) or an anonymous id
        (``visitor``): the customer's state, or the anonymous visitor's."""
        generation, value = self._lookup(keys=[self.gen_key], args=[self.prefix, kind, identifier])
        return (int(generation) if generation else None, loads(value) if value else None)
