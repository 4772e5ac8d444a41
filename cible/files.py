"""Files written whole, then put in place in one step (the landing micro-batches, the BI copy)."""

from __future__ import annotations

import os
from pathlib import Path


def replace_durably(staging: Path, target: Path) -> None:
    """Make ``staging`` the ``target`` in one rename, durable before and after it: a reader sees
    the old file or the new one, and a crash leaves one of them, never a torn file."""
    with open(staging, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(staging, target)
    folder = os.open(Path(target).parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
