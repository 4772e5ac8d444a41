"""The live path's one way to the warehouse: micro-batch JSON lines files in
``<landing>/events/``, which the nightly load reads like any other events file.

A file is written whole under a hidden name (the loader skips names starting with a dot),
flushed to disk and renamed, so a load never reads half a file; the messages it holds are
acknowledged only then. Each line's id (the event id, or the refused item's id) is marked
landed in Redis, so a redelivered message is never written twice; a worker starting again
marks the lines of the latest files first, in case it died between the rename and the marks.
A refused item's id is not in its line (the line is what the load quarantines): it is written
beside the file, under a hidden name, until the marks are set.

    live-<worker>-<UTC time>-<n>.jsonl        accepted events (contract columns)
    quarantine-<worker>-<UTC time>-<n>.jsonl  refused events (the next load quarantines them)
    .quarantine-<...>.jsonl.ids               their ids (JSON), until marked landed
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cible.files import replace_durably
from cible.live.store import Store

LIVE_PREFIX = "live-"
QUARANTINE_PREFIX = "quarantine-"
IDS_SUFFIX = ".ids"


@dataclass
class Pending:
    """Lines waiting for the next file, by kind, with their ids."""

    lines: dict[str, list[tuple[str, str]]] = field(
        default_factory=lambda: {LIVE_PREFIX: [], QUARANTINE_PREFIX: []}
    )

    def __len__(self) -> int:
        return sum(len(v) for v in self.lines.values())


def line_id(line: str) -> str:
    """The id an accepted event's landing line is deduplicated by."""
    return json.loads(line)["event_id"]


class Lander:
    """Writes a worker's micro-batches durably and remembers what it wrote."""

    def __init__(self, landing: Path, worker: str, store: Store):
        self.folder = Path(landing) / "events"
        self.worker = worker
        self.store = store
        self.pending = Pending()
        self.sequence = 0
        self.opened_at: float | None = None

    def add(self, prefix: str, item_id: str, line: str) -> None:
        self.pending.lines[prefix].append((item_id, line))

    def landed(self, ids: list[str]) -> set[str]:
        """Which of `ids` were written already."""
        if not ids:
            return set()
        flags = self.store.client.mget([self.store.landed_key(i) for i in ids])
        return {i for i, flag in zip(ids, flags, strict=True) if flag is not None}

    def _write(self, prefix: str, lines: list[str], ids: list[str] | None = None) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.sequence += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        name = f"{prefix}{self.worker}-{stamp}-{self.sequence:06d}.jsonl"
        temporary = self.folder / f".{name}.tmp"
        temporary.write_text("\n".join(lines) + "\n", encoding="utf-8")
        if ids is not None:
            # Before the file appears: a crash before the marks leaves them to `recover`.
            self._ids_file(name).write_text(json.dumps(ids), encoding="utf-8")
        final = self.folder / name
        replace_durably(temporary, final)
        return final

    def _ids_file(self, name: str) -> Path:
        return self.folder / f".{name}{IDS_SUFFIX}"

    def flush(self) -> list[Path]:
        """Write what is pending (one file per kind, ids not written before); returns the
        files written. The caller acknowledges the messages afterwards."""
        written = []
        marks: list[str] = []
        for prefix, items in self.pending.lines.items():
            unique: dict[str, str] = {}
            for item_id, line in items:
                unique.setdefault(item_id, line)
            done = self.landed(list(unique))
            fresh = [(i, line) for i, line in unique.items() if i not in done]
            if fresh:
                ids = [i for i, _ in fresh]
                refused = prefix == QUARANTINE_PREFIX
                lines = [line for _, line in fresh]
                written.append(self._write(prefix, lines, ids if refused else None))
                marks += ids
        self._mark(marks)
        for path in written:
            self._ids_file(path.name).unlink(missing_ok=True)
        self.pending = Pending()
        return written

    def _mark(self, ids: list[str]) -> None:
        if not ids:
            return
        with self.store.client.pipeline(transaction=False) as pipe:
            for item_id in ids:
                pipe.set(self.store.landed_key(item_id), 1, ex=self.store.dedup_ttl)
            pipe.execute()

    def recover(self, latest: int = 8) -> int:
        """Mark landed the lines of the latest accepted-events files and this worker's refused
        items whose file was written (a crash may have come between a file's rename and its
        marks); returns how many ids."""
        if not self.folder.is_dir():
            return 0
        files = sorted(self.folder.glob(f"{LIVE_PREFIX}*.jsonl"), key=lambda p: p.stat().st_mtime)[
            -latest:
        ]
        ids = [
            line_id(line)
            for path in files
            for line in path.read_text(encoding="utf-8").splitlines()
            if line
        ]
        # This worker's own: another's may be between its ids file and its rename right now.
        own = re.compile(
            rf"\.({QUARANTINE_PREFIX}{re.escape(self.worker)}-\d{{8}}T\d+-\d+\.jsonl)"
            + re.escape(IDS_SUFFIX)
        )
        found = [(path, own.fullmatch(path.name)) for path in self.folder.glob(f".*{IDS_SUFFIX}")]
        sidecars = [(path, match.group(1)) for path, match in found if match]
        for path, name in sidecars:
            if (self.folder / name).exists():  # else never written: redelivered, written again
                ids += json.loads(path.read_text(encoding="utf-8"))
        self._mark(ids)
        for path, _ in sidecars:
            path.unlink(missing_ok=True)
        return len(ids)
