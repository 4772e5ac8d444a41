"""Erasure in the live path's online store (Redis; key layout in ``cible/live/store.py`` and
docs/live.md), by fingerprint like everywhere else: a key or a ``numbers`` entry whose
identifier's fingerprint belongs to a request is removed."""

from __future__ import annotations

from collections.abc import Mapping

from cible.privacy import fingerprints as fp

# Per-generation keys named by an identifier, and the identifier's kind.
KEYED = {"cust": "customer_id", "state": "customer_id", "dev": "anonymous_id",
         "vis": "anonymous_id", "vstate": "anonymous_id"}  # fmt: skip


class OnlineStore:
    """One Redis holding Cible's live state under ``prefix``."""

    kind = "online_store"

    def __init__(self, client, prefix: str, url: str = "redis"):
        self.client = client
        self.prefix = prefix
        self.place = f"online_store:{url}"

    def purge(self, owner: Mapping[str, str], key: bytes, dry_run: bool = False) -> dict[str, int]:
        """Remove (or with ``dry_run`` count) the requests' keys and ``numbers`` entries.

        Returns:
            Request id -> keys and hash entries removed (or found).
        """
        counts: dict[str, int] = {}
        doomed: list[str] = []
        for raw in self.client.scan_iter(match=f"{self.prefix}:g*", count=2000):
            name = raw.decode() if isinstance(raw, bytes) else raw
            parts = name[len(self.prefix) + 1 :].split(":", 2)
            if len(parts) == 2 and parts[1] == "numbers":
                for field in self.client.hkeys(name):
                    number = field.decode() if isinstance(field, bytes) else field
                    digest = fp.fingerprint(key, "customer_number", number)
                    if digest in owner:
                        counts[owner[digest]] = counts.get(owner[digest], 0) + 1
                        if not dry_run:
                            self.client.hdel(name, number)
                continue
            if len(parts) != 3 or parts[1] not in KEYED:
                continue
            digest = fp.fingerprint(key, KEYED[parts[1]], parts[2])
            if digest in owner:
                counts[owner[digest]] = counts.get(owner[digest], 0) + 1
                doomed.append(name)
        if doomed and not dry_run:
            self.client.unlink(*doomed)
        return counts


def configured_store() -> OnlineStore | None:
    """The online store when the live path is set up (``CIBLE_REDIS_URL`` set), else None."""
    import os

    from cible import settings

    if not os.environ.get(settings.REDIS_URL_ENV):
        return None
    import redis

    from cible.live.config import load_live_config

    url = settings.redis_url()
    client = redis.Redis.from_url(url)
    prefix = load_live_config().store.key_prefix
    return OnlineStore(client, prefix, url.split("@")[-1])
