"""API keys of the collector and look-up APIs, stored hashed in one JSON file.

A key is shown once, when it is made (``cible live keys add NAME``); the file keeps its
SHA-256, its name, its scope (``collect`` for trackers and servers sending events, ``lookup``
for services reading segments) and, once revoked, when. The APIs re-read the file when it
changes, so a revocation takes effect within a second, without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

SCOPES = ("collect", "lookup")
PREFIX = "ck_"


class KeysFileError(ValueError):
    """The keys file cannot be used or changed as asked."""


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        keys = data["keys"]
        assert isinstance(keys, list)
    except (ValueError, KeyError, TypeError, AssertionError) as error:
        raise KeysFileError(
            f"{path} is not a Cible keys file ({error}); remove it or fix it"
        ) from error
    return keys


def _write(path: Path, keys: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps({"keys": keys}, indent=2), encoding="utf-8")
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def add_key(path: Path, name: str, scopes: tuple[str, ...] = ("collect",)) -> str:
    """Make a key, store its hash, return the key itself (shown once)."""
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown or not scopes:
        raise KeysFileError(f"scopes must be among {SCOPES}, not {list(scopes)}")
    keys = _read(path)
    if any(entry["name"] == name and not entry.get("revoked_at") for entry in keys):
        raise KeysFileError(f"a key named {name!r} is active already in {path}: revoke it first")
    key = PREFIX + secrets.token_urlsafe(24)
    keys.append(
        {
            "name": name,
            "sha256": digest(key),
            "scopes": list(scopes),
            "created_at": datetime.now(UTC).isoformat(),
            "revoked_at": None,
        }
    )
    _write(path, keys)
    return key


def revoke_key(path: Path, name: str) -> int:
    """Revoke every active key of that name; returns how many."""
    keys = _read(path)
    count = 0
    for entry in keys:
        if entry["name"] == name and not entry.get("revoked_at"):
            entry["revoked_at"] = datetime.now(UTC).isoformat()
            count += 1
    if not count:
        raise KeysFileError(f"no active key named {name!r} in {path}")
    _write(path, keys)
    return count


def list_keys(path: Path) -> list[dict]:
    """The keys' names, scopes and dates (never the hashes' keys, which are not stored)."""
    return [{k: v for k, v in entry.items() if k != "sha256"} for entry in _read(path)]


@dataclass(frozen=True)
class Principal:
    """Who called: the key's name and what it may do."""

    name: str
    scopes: tuple[str, ...]


class KeyRing:
    """The active keys of a file, re-read at most once a second when the file changed."""

    def __init__(self, path: Path, recheck_seconds: float = 1.0):
        self.path = Path(path)
        self.recheck_seconds = recheck_seconds
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self._active: dict[str, Principal] = {}

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < self.recheck_seconds:
            return
        with self._lock:
            self._checked = now
            try:
                stat = self.path.stat()
                stamp = (stat.st_mtime_ns, stat.st_size)
            except FileNotFoundError:
                stamp = None
            if stamp == self._stamp:
                return
            self._active = {
                entry["sha256"]: Principal(entry["name"], tuple(entry.get("scopes", ())))
                for entry in _read(self.path)
                if not entry.get("revoked_at")
            }
            self._stamp = stamp

    def check(self, key: str | None, scope: str) -> Principal | None:
        """The caller if `key` is active and allowed `scope`, else None."""
        if not key or len(key) > 200:
            return None
        self._refresh()
        wanted = digest(key)
        for stored, principal in self._active.items():
            if hmac.compare_digest(stored, wanted):
                return principal if scope in principal.scopes else None
        return None
